/*
 * candidates.h
 *	  Rows ranked by distance: the order in which every search path hands
 *	  rows out, a binary heap of such rows, and the short sorted lists of the
 *	  in-memory graph build.
 *
 * Pure computation.  FannNearInsert touches only the caller's memory and may
 * run inside OpenMP regions; the heap grows with palloc.
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

extern void FannHeapAppend(FannCandidateHeap *h, const FannCandidate *c);
extern void FannHeapify(FannCandidateHeap *h);
extern void FannHeapPush(FannCandidateHeap *h, const FannCandidate *c);
extern FannCandidate FannHeapPop(FannCandidateHeap *h);
extern void FannCandidateSelect(FannCandidate *c, int n, int k);

/* A point in a short list sorted by distance (Vamana's search list) */
typedef struct FannNear
{
	float		dist;
	uint32		id;
	bool		expanded;		/* the graph search expanded it */
} FannNear;

extern int	FannNearInsert(FannNear *list, int *n, int cap, float dist, uint32 id);

#endif							/* FANN_CANDIDATES_H */
