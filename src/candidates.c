/*
 * candidates.c
 *	  Ranking rows by distance: the heap's growth, sorting, quickselect and
 *	  the pruned buffers of the exact and ivf paths, and the sort of the
 *	  graph build's points (RobustPrune's candidates).  The heap's
 *	  operations, the id sets' lookups and the insertion into the build's
 *	  bounded sorted lists (Vamana's search list, the nearest rows of cross
 *	  edges and of the IVF's training targets) are inline (candidates.h):
 *	  the searches run several per row they visit.
 */
#include "postgres.h"

#include "candidates.h"
#include "utils/memutils.h"

/* A quicksort specialised for candidates: no comparator called through a pointer */
#define ST_SORT sort_candidates
#define ST_ELEMENT_TYPE FannCandidate
#define ST_COMPARE(a, b) FannCandidateCompare(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sort c[0..n) in (distance, id) order */
void
FannCandidateSort(FannCandidate *c, int64 n)
{
	sort_candidates(c, n);
}

/* The same for the graph build's points */
#define ST_SORT sort_near
#define ST_ELEMENT_TYPE FannNear
#define ST_COMPARE(a, b) \
	((a)->dist != (b)->dist ? ((a)->dist < (b)->dist ? -1 : 1) : \
	 ((a)->id > (b)->id) - ((a)->id < (b)->id))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sort c[0..n) in (distance, id) order */
void
FannNearSort(FannNear *c, int n)
{
	sort_near(c, n);
}

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

/* An empty id set with room for about expected ids before it grows */
void
FannIdHashInit(FannIdHash *h, uint32 expected)
{
	uint32		size = 64;

	while (size < 2 * (uint64) expected && size < ((uint32) 1 << 31))
		size *= 2;
	h->slots = palloc_extended(sizeof(uint32) * size, MCXT_ALLOC_HUGE);
	memset(h->slots, 0xFF, sizeof(uint32) * size);	/* FANN_ID_HASH_EMPTY */
	h->mask = size - 1;
	h->n = 0;
}

/* Double the set's room, keeping it at most half full */
void
FannIdHashGrow(FannIdHash *h)
{
	FannIdHash	bigger;

	FannIdHashInit(&bigger, h->mask + 1);
	for (uint32 i = 0; i <= h->mask; i++)
		if (h->slots[i] != FANN_ID_HASH_EMPTY)
			FannIdHashAdd(&bigger, h->slots[i]);
	pfree(h->slots);
	*h = bigger;
}

void
FannIdHashFree(FannIdHash *h)
{
	if (h->slots)
		pfree(h->slots);
	h->slots = NULL;
}

/*
 * Keep the keep smallest of c[0..n) in c[0..keep), in no order; returns the
 * largest kept, which bounds what may still enter a buffer so pruned
 */
FannCandidate
FannCandidateKeep(FannCandidate *c, int n, int keep)
{
	FannCandidate bound;

	FannCandidateSelect(c, n, keep);
	bound = c[0];
	for (int i = 1; i < keep; i++)
		if (FannCandidateCompare(&c[i], &bound) > 0)
			bound = c[i];
	return bound;
}

/*
 * Move the k smallest of c[0..n) to c[0..k), sorted.  One pass with a
 * buffer of 2k at the front: when it fills, the better half stays and the
 * worst of it bounds what may enter, so most rows cost one predictable
 * comparison, where a selection over all n would cost a few mispredicted
 * ones each.
 */
void
FannCandidateLowest(FannCandidate *c, int64 n, int k)
{
	int			m = 0;
	bool		pruned = false;
	FannCandidate bound = {0};

	for (int64 j = 0; j < n; j++)
	{
		FannCandidate t;

		if (pruned && FannCandidateCompare(&c[j], &bound) >= 0)
			continue;
		/* c[m], passed over, takes c[j]'s place */
		t = c[j];
		c[j] = c[m];
		c[m++] = t;
		if (m == 2 * k)
		{
			bound = FannCandidateKeep(c, m, k);
			m = k;
			pruned = true;
		}
	}
	if (m > k)
		FannCandidateSelect(c, m, k);
	FannCandidateSort(c, Min(k, m));
}

