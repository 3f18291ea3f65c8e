/*
 * candidates.c
 *	  Ranking rows by distance: the candidate heap every search path hands
 *	  rows out from, quickselect for the exact path's buffer, and the bounded
 *	  sorted lists of the graph build (Vamana's search list, the nearest rows
 *	  of cross edges and of the IVF's training targets).
 */
#include "postgres.h"

#include "candidates.h"
#include "utils/memutils.h"

static inline bool
before(const FannCandidateHeap *h, const FannCandidate *a, const FannCandidate *b)
{
	int			cmp = FannCandidateCompare(a, b);

	return h->max ? cmp > 0 : cmp < 0;
}

static inline void
swap(FannCandidate *a, FannCandidate *b)
{
	FannCandidate t = *a;

	*a = *b;
	*b = t;
}

static void
sift_down(FannCandidateHeap *h, int64 i)
{
	FannCandidate *c = h->items;

	for (;;)
	{
		int64		l = 2 * i + 1;
		int64		m = i;

		if (l < h->n && before(h, &c[l], &c[m]))
			m = l;
		if (l + 1 < h->n && before(h, &c[l + 1], &c[m]))
			m = l + 1;
		if (m == i)
			return;
		swap(&c[i], &c[m]);
		i = m;
	}
}

/* Add c at the end, out of heap order until FannHeapify */
void
FannHeapAppend(FannCandidateHeap *h, const FannCandidate *c)
{
	if (h->n == h->cap)
	{
		h->cap = Max(64, h->cap * 2);
		h->items = h->items ?
			repalloc_huge(h->items, sizeof(FannCandidate) * h->cap) :
			palloc_extended(sizeof(FannCandidate) * h->cap, MCXT_ALLOC_HUGE);
	}
	h->items[h->n++] = *c;
}

/* Restore heap order over all items */
void
FannHeapify(FannCandidateHeap *h)
{
	for (int64 i = h->n / 2 - 1; i >= 0; i--)
		sift_down(h, i);
}

void
FannHeapPush(FannCandidateHeap *h, const FannCandidate *c)
{
	int64		i;

	FannHeapAppend(h, c);
	for (i = h->n - 1; i > 0 && before(h, c, &h->items[(i - 1) / 2]); i = (i - 1) / 2)
		h->items[i] = h->items[(i - 1) / 2];
	h->items[i] = *c;
}

/* Remove and return the first item */
FannCandidate
FannHeapPop(FannCandidateHeap *h)
{
	FannCandidate top = h->items[0];

	h->items[0] = h->items[--h->n];
	sift_down(h, 0);
	return top;
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
				swap(&c[i++], &c[j--]);
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
