/*
 * candidates.h
 *	  Rows ranked by distance: the order in which every search path hands
 *	  rows out, a binary heap of such rows, and the short sorted lists of the
 *	  in-memory graph build.
 *
 * Pure computation.  FannNearInsert and FannNearSort touch only the caller's
 * memory and may run inside OpenMP regions; the heap grows with palloc.
 */
#ifndef FANN_CANDIDATES_H
#define FANN_CANDIDATES_H

#include "postgres.h"

#include <math.h>

#include "storage/itemptr.h"

/* A row a search may return, ordered by (distance, element id) */
typedef struct FannCandidate
{
	double		distance;
	uint32		id;				/* element id */
	ItemPointerData tid;		/* heap TID */
	uint16		list_slot;		/* the graph search: where the row's */
	BlockNumber list_block;		/* adjacency list is */
} FannCandidate;

/* Distance order: NaN after every number, as float8 sorts */
static inline bool
FannDistanceLess(double a, double b)
{
	return a < b || (!isnan(a) && isnan(b));
}

/* (distance, id) order: total, since ids are unique */
static inline int
FannCandidateCompare(const FannCandidate *a, const FannCandidate *b)
{
	if (FannDistanceLess(a->distance, b->distance))
		return -1;
	if (FannDistanceLess(b->distance, a->distance))
		return 1;
	return (a->id > b->id) - (a->id < b->id);
}

/* A binary heap of candidates, nearest first or (max) farthest first */
typedef struct FannCandidateHeap
{
	FannCandidate *items;
	int64		n;
	int64		cap;
	bool		max;
} FannCandidateHeap;

extern void FannHeapGrow(FannCandidateHeap *h);
extern void FannHeapFree(FannCandidateHeap *h);
extern void FannCandidateSort(FannCandidate *c, int64 n);
extern void FannCandidateSelect(FannCandidate *c, int n, int k);
extern FannCandidate FannCandidateKeep(FannCandidate *c, int n, int keep);

/* Rows a bucket of FannCandidateBuckets holds on average; most buckets */
#define FANN_BUCKET_ROWS	4
#define FANN_MAX_BUCKETS	256
extern void FannCandidateBuckets(const FannCandidate *c, int64 n, FannCandidate *out,
								 int64 *start);

/* Does a come before b in heap h? */
static inline bool
FannHeapBefore(const FannCandidateHeap *h, const FannCandidate *a, const FannCandidate *b)
{
	int			cmp = FannCandidateCompare(a, b);

	return h->max ? cmp > 0 : cmp < 0;
}

static inline void
FannHeapSiftDown(FannCandidateHeap *h, int64 i)
{
	FannCandidate *c = h->items;

	for (;;)
	{
		int64		l = 2 * i + 1;
		int64		m = i;
		FannCandidate t;

		if (l < h->n && FannHeapBefore(h, &c[l], &c[m]))
			m = l;
		if (l + 1 < h->n && FannHeapBefore(h, &c[l + 1], &c[m]))
			m = l + 1;
		if (m == i)
			return;
		t = c[i];
		c[i] = c[m];
		c[m] = t;
		i = m;
	}
}

/* Add c at the end, out of heap order until FannHeapify */
static inline void
FannHeapAppend(FannCandidateHeap *h, const FannCandidate *c)
{
	if (h->n == h->cap)
		FannHeapGrow(h);
	h->items[h->n++] = *c;
}

/* Restore heap order over all items */
static inline void
FannHeapify(FannCandidateHeap *h)
{
	for (int64 i = h->n / 2 - 1; i >= 0; i--)
		FannHeapSiftDown(h, i);
}

static inline void
FannHeapPush(FannCandidateHeap *h, const FannCandidate *c)
{
	int64		i;

	FannHeapAppend(h, c);
	for (i = h->n - 1; i > 0 && FannHeapBefore(h, c, &h->items[(i - 1) / 2]); i = (i - 1) / 2)
		h->items[i] = h->items[(i - 1) / 2];
	h->items[i] = *c;
}

/* Remove and return the first item */
static inline FannCandidate
FannHeapPop(FannCandidateHeap *h)
{
	FannCandidate top = h->items[0];

	h->items[0] = h->items[--h->n];
	FannHeapSiftDown(h, 0);
	return top;
}

/*
 * A set of element ids a search meets (rows visited, rows returned), as an
 * open-addressing hash table that grows: its size follows what a query
 * touches, where a bitmap would be sized (and cleared, and faulted in) by
 * the whole index for every query.
 */
#define FANN_ID_HASH_EMPTY	((uint32) 0xFFFFFFFF)	/* InvalidFannId */

typedef struct FannIdHash
{
	uint32	   *slots;
	uint32		mask;			/* slots - 1, a power of two minus one */
	uint32		n;
} FannIdHash;

extern void FannIdHashInit(FannIdHash *h, uint32 expected);
extern void FannIdHashGrow(FannIdHash *h);
extern void FannIdHashFree(FannIdHash *h);

/* Fibonacci hashing: ids of one page land apart */
static inline uint32
FannIdHashSlot(const FannIdHash *h, uint32 id)
{
	return (uint32) ((id * UINT64CONST(0x9E3779B97F4A7C15)) >> 32) & h->mask;
}

static inline bool
FannIdHashContains(const FannIdHash *h, uint32 id)
{
	for (uint32 i = FannIdHashSlot(h, id);; i = (i + 1) & h->mask)
	{
		if (h->slots[i] == id)
			return true;
		if (h->slots[i] == FANN_ID_HASH_EMPTY)
			return false;
	}
}

/* Add id; false if it was there already */
static inline bool
FannIdHashAdd(FannIdHash *h, uint32 id)
{
	uint32		i;

	if (2 * (h->n + 1) > h->mask + 1)
		FannIdHashGrow(h);
	for (i = FannIdHashSlot(h, id); h->slots[i] != FANN_ID_HASH_EMPTY; i = (i + 1) & h->mask)
		if (h->slots[i] == id)
			return false;
	h->slots[i] = id;
	h->n++;
	return true;
}

/* A point in a short list sorted by distance (Vamana's search list) */
typedef struct FannNear
{
	float		dist;
	uint32		id;
	bool		expanded;		/* the graph search expanded it */
} FannNear;

extern void FannNearSort(FannNear *c, int n);

/*
 * Insert (dist, id) into list, sorted by distance, of *n <= cap points:
 * after the points as near, the farthest dropped when full.  Returns its
 * position, or cap if it is not nearer than all of a full list.  Inline: a
 * build search calls it for every point it visits.
 */
static inline int
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

#endif							/* FANN_CANDIDATES_H */
