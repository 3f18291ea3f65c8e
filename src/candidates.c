/*
 * candidates.c
 *	  Ranking rows by distance: the heap's growth, sorting, quickselect, the
 *	  exact path's pruned buffer, the ivf path's buckets, and the sort of the
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

/* The bucket of distance d: monotone in d, NaN in the last */
static inline int
bucket_of(double d, double lo, double scale, int nbuckets)
{
	double		f = (d - lo) * scale;

	if (isnan(d))
		return nbuckets - 1;
	if (!(f > 0))
		return 0;				/* also the NaN of an infinity times 0 */
	return f >= nbuckets - 1 ? nbuckets - 1 : (int) f;
}

/*
 * Copy c[0..n) to out in buckets by distance (a counting sort): about
 * FANN_BUCKET_ROWS rows a bucket over the range of the finite distances, at
 * most FANN_MAX_BUCKETS; bucket b's rows, in their order in c, are
 * out[start[b], start[b + 1]).  Every row of a bucket comes before every
 * row of the next in (distance, id) order, so that a search taking the rows
 * in order sorts a bucket only when it gets there: an ivf search takes a
 * few hundred of thousands of rows, whose selection, a doubling batch at a
 * time, had cost a quarter of its time in mispredicted comparisons (and
 * the same buckets made in place, a cycle of dependent moves, a tenth).
 */
void
FannCandidateBuckets(const FannCandidate *c, int64 n, FannCandidate *out, int64 *start)
{
	int			nbuckets = (int) Min(FANN_MAX_BUCKETS, Max(1, n / FANN_BUCKET_ROWS));
	int64		fill[FANN_MAX_BUCKETS];
	double		lo = INFINITY,
				hi = -INFINITY,
				scale;

	for (int64 i = 0; i < n; i++)
		if (isfinite(c[i].distance))
		{
			lo = Min(lo, c[i].distance);
			hi = Max(hi, c[i].distance);
		}
	/* 0 for no finite distances, one, or a range past the doubles */
	scale = hi > lo && isfinite(hi - lo) ? nbuckets / (hi - lo) : 0;

	memset(fill, 0, sizeof(int64) * nbuckets);
	for (int64 i = 0; i < n; i++)
		fill[bucket_of(c[i].distance, lo, scale, nbuckets)]++;
	start[0] = 0;
	for (int b = 0; b < nbuckets; b++)
	{
		start[b + 1] = start[b] + fill[b];
		fill[b] = start[b];
	}
	for (int64 i = 0; i < n; i++)
		out[fill[bucket_of(c[i].distance, lo, scale, nbuckets)]++] = c[i];
}

