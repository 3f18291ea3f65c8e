/*
 * search.h
 *	  The one interface of fann's search paths, and what a scan reports.
 *
 * A search hands out the rows of the groups a label predicate selects, in
 * (lower bound of the distance, element id) order as far as it can vouch
 * for it: begin, then next until it returns false, then end; the executor
 * ranks the rows by their exact distances (scan.c).  Three implementations,
 * one file each:
 *
 *	exact.c 	every matching row (a full pass over the matching groups'
 *				elements, more passes if the executor wants more rows than
 *				one kept)
 *	graphscan.c the UNG graph: a beam search from the minimal matching
 *				groups (UNG, SIGMOD 2025, section 5)
 *	ivfscan.c	the learned IVF: the partitions the model rates likeliest
 *				(LIRA, WWW 2025, section 3.2)
 *
 * The approximate paths stop when they cannot vouch for more; scan.c then
 * runs exact searches for the rest (its phase machine), so that no query is
 * short.  A fourth path is one more implementation and one more case in
 * scan.c's choice.
 */
#ifndef FANN_SEARCH_H
#define FANN_SEARCH_H

#include "candidates.h"
#include "fann.h"

/* Counters of a scan, reported by fann_last_scan() */
typedef struct FannScanStats
{
	const char *path;			/* the search path chosen ... */
	bool		exact_rest;		/* ... and exact searches returned the rest */
	int64		groups_matched;
	int64		groups_entered;
	int64		rows_matching;
	int64		elements_visited;
	int64		distance_computations;
	int64		rows_returned;
	int32		passes;
	int32		partitions_probed;
} FannScanStats;

/* What a search starts from */
typedef struct FannSearchInput
{
	Relation	index;
	const FannMetaPageData *meta;	/* the metapage as the scan began */
	BlockNumber nblocks;		/* blocks the scan may read */
	FannGroupSet *groups;		/* the rows to search */
	FannDistanceFunction distance;
	const float *query;			/* NULL: the exact path in any order */
	FannScanStats *stats;		/* counters to add to */

	/*
	 * exact: only rows after this one (if any) and not in skip (if any);
	 * graph: never visits rows in skip
	 */
	const FannCandidate *after;
	const FannIdHash *skip;
	/* graph: beam size; also hand out rows reached but not vouched for */
	int			ef;
	bool		reached;
	/* ivf: the fraction of the table's rows that groups holds */
	double		selectivity;
} FannSearchInput;

typedef struct FannSearch FannSearch;
typedef struct FannStateTicket FannStateTicket;

/*
 * What a kind of search keeps for the backend's next one (keep.c): a
 * finished state, whose heaps' arrays lie in its context.  clear frees
 * what is not to be kept (NULL: nothing).
 */
typedef struct FannStateKeeper
{
	const char *name;			/* its states' contexts' identifier */
	Size		size;			/* of a state, which starts with FannSearch */
	void		(*clear) (FannSearch *state);
	FannSearch *kept;			/* for the next search, or NULL */
} FannStateKeeper;

typedef struct FannSearchMethods
{
	const char *name;			/* as fann_last_scan() reports the path */
	FannSearch *(*begin) (const FannSearchInput *in);
	bool		(*next) (FannSearch *search, FannCandidate *row);
	void		(*end) (FannSearch *search);
} FannSearchMethods;

/* Every search state starts with this */
struct FannSearch
{
	const FannSearchMethods *methods;
	/* a state FannStateTake made; else NULL */
	FannStateKeeper *keeper;
	MemoryContext cxt;			/* holds the state and its heaps */
	FannStateTicket *ticket;	/* in the context the search began in */
};

extern FannSearch *FannStateTake(FannStateKeeper *keeper, FannSearch *last);
extern void FannStateRelease(FannSearch *state);

/* An empty heap over the array of a kept state's heap */
static inline FannCandidateHeap
FannHeapReuse(const FannCandidateHeap *last, bool max)
{
	return (FannCandidateHeap) {last->items, 0, last->cap, max};
}

extern const FannSearchMethods FannExactSearch;
extern const FannSearchMethods FannGraphSearch;
extern const FannSearchMethods FannIvfSearch;

static inline bool
FannSearchNext(FannSearch *search, FannCandidate *row)
{
	return search->methods->next(search, row);
}

static inline void
FannSearchEnd(FannSearch *search)
{
	search->methods->end(search);
}

#endif							/* FANN_SEARCH_H */
