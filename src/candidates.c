/*
 * candidates.c
 *	  Ranking rows by distance: the heap's growth, quickselect for the exact
 *	  path's buffer, and the bounded sorted lists of the graph build (Vamana's
 *	  search list, the nearest rows of cross edges and of the IVF's training
 *	  targets).  The heap's operations are inline (candidates.h): the graph
 *	  search runs several per row it visits.
 */
#include "postgres.h"

#include "candidates.h"
#include "utils/memutils.h"

/* Double the heap's room */
void
FannHeapGrow(FannCandidateHeap *h)
{
	h->cap = Max(64, h->cap * 2);
	h->items = h->items ?
		repalloc_huge(h->items, sizeof(FannCandidate) * h->cap) :
		palloc_extended(sizeof(FannCandidate) * h->cap, MCXT_ALLOC_HUGE);
}

/* Release the heap's items; it is empty then */
void
FannHeapFree(FannCandidateHeap *h)
{
	if (h->items)
		pfree(h->items);
	h->items = NULL;
	h->n = h->cap = 0;
}

/* Move the k smallest of c[0..n) to c[0..k), the k-th smallest to c[k-1] */
void
FannCandidateSelect(FannCandidate *c, int n, int k)
{
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		FannCandidate pivot = c[(lo + hi) / 2];
		int			i = lo,
					j = hi;

		while (i <= j)
		{
			while (FannCandidateCompare(&c[i], &pivot) < 0)
				i++;
			while (FannCandidateCompare(&c[j], &pivot) > 0)
				j--;
			if (i <= j)
			{
				FannCandidate t = c[i];

				c[i++] = c[j];
				c[j--] = t;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

/*
 * Insert (dist, id) into list, sorted by distance, of *n <= cap points:
 * after the points as near, the farthest dropped when full.  Returns its
 * position, or cap if it is not nearer than all of a full list.
 */
int
FannNearInsert(FannNear *list, int *n, int cap, float dist, uint32 id)
{
	int			lo = 0,
				hi = *n;

	if (*n == cap && !(dist < list[cap - 1].dist))
		return cap;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (list[mid].dist <= dist)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (*n < cap)
		(*n)++;
	memmove(&list[lo + 1], &list[lo], sizeof(FannNear) * (*n - 1 - lo));
	list[lo].dist = dist;
	list[lo].id = id;
	list[lo].expanded = false;
	return lo;
}
