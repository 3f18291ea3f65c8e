/*
 * scan.c
 *	  Index scans: the AM scan callbacks and the exact search path.
 *
 * The exact path visits every element of the groups the label predicate
 * selects and returns them in (distance, element id) order.  Candidates are
 * kept in a buffer: when it fills, the better half is kept and everything
 * worse is dropped for this pass, so most elements cost one distance and one
 * comparison.  The first pass keeps FANN_FIRST_PASS_ROWS rows (LIMITs are
 * usually small); each later pass keeps four times more, up to work_mem.  Rows are then handed
 * out from a binary heap; if the executor wants more than a pass kept (other
 * WHERE clauses, LIMIT beyond the buffer), the next pass collects the rows
 * strictly after the last one returned.  The order is total, so no row is
 * returned twice or skipped, and a query never gets fewer rows than match.
 *
 * The graph path (ungscan.c) and the ivf path (ivfscan.c) hand out rows in
 * distance order too; what they returned is marked in a bitmap.  When the
 * search has nothing more to give, exact passes continue strictly after the
 * last row returned, skipping those marked, and a last pass returns whatever
 * the search missed before that row (only reached when the executor has
 * consumed every other matching row).
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "ivf.h"
#include "ung.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"

#define FANN_FIRST_PASS_ROWS	1024

typedef enum FannScanPhase
{
	FANN_SCAN_APPROX,			/* rows come from the graph or ivf search */
	FANN_SCAN_EXACT,			/* exact passes after the last row returned */
	FANN_SCAN_LEFTOVER			/* exact passes over what was not returned */
} FannScanPhase;

typedef struct FannScanOpaqueData
{
	bool		started;
	FannScanPhase phase;
	FannGraphScan *graph;		/* the approximate search, if any */
	FannIvfScan *ivf;
	uint64	   *returned;		/* with the graph: ids already returned */
	uint32		nreturned_ids;	/* bits in returned */
	MemoryContext ctx;			/* per-scan memory, reset on rescan */
	FannMetaPageData meta;
	FannGroupSet groups;

	/* ORDER BY: distance to query, or NULL for an unordered scan */
	FannDistanceFunction distance;
	const float *query;

	FannCandidate *cands;
	int64		ncands;
	int			capacity;		/* buffer size of this pass */
	int			max_capacity;	/* work_mem's worth */
	bool		pruned;			/* this pass dropped candidates ... */
	FannCandidate bound;		/* ... after this one */
	bool		has_last;
	FannCandidate last;			/* last row returned */
	IndexTuple	empty_itup;		/* for index-only scans, built once */
} FannScanOpaqueData;

typedef FannScanOpaqueData *FannScanOpaque;

static inline void
cand_swap(FannCandidate *a, FannCandidate *b)
{
	FannCandidate t = *a;

	*a = *b;
	*b = t;
}

/* Move the k smallest of c[0..n) to c[0..k), the k-th smallest to c[k-1] */
static void
select_smallest(FannCandidate *c, int n, int k)
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
				cand_swap(&c[i++], &c[j--]);
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

static void
sift_down(FannCandidate *c, int64 n, int64 i)
{
	for (;;)
	{
		int64		l = 2 * i + 1;
		int64		m = i;

		if (l < n && FannCandidateCompare(&c[l], &c[m]) < 0)
			m = l;
		if (l + 1 < n && FannCandidateCompare(&c[l + 1], &c[m]) < 0)
			m = l + 1;
		if (m == i)
			return;
		cand_swap(&c[i], &c[m]);
		i = m;
	}
}

/* Make c[0..n) a min-heap in (distance, id) order */
void
FannCandidateHeapify(FannCandidate *c, int64 n)
{
	for (int64 i = n / 2 - 1; i >= 0; i--)
		sift_down(c, n, i);
}

/* Remove and return the smallest of the min-heap c[0..*n) */
FannCandidate
FannCandidatePop(FannCandidate *c, int64 *n)
{
	FannCandidate top = c[0];

	c[0] = c[--(*n)];
	sift_down(c, *n, 0);
	return top;
}

/* Offer one live element to the current pass */
static inline void
consider(FannScanOpaque so, FannElement e, uint32 id)
{
	FannCandidate c;

	c.id = id;
	c.distance = 0;
	if (so->query)
	{
		c.distance = so->distance(so->query, e->vec, so->meta.dimensions);
		fann_last_stats.distance_computations++;
	}
	if (so->has_last && FannCandidateCompare(&c, &so->last) <= 0)
		return;
	if (so->returned && FannIdSetContains(so->returned, so->nreturned_ids, id))
		return;
	if (so->pruned && FannCandidateCompare(&c, &so->bound) > 0)
		return;
	c.tid = e->heaptid;
	so->cands[so->ncands++] = c;
	if (so->ncands == so->capacity)
	{
		/* keep the better half; the worst kept bounds what may enter */
		int			keep = so->capacity / 2;

		select_smallest(so->cands, so->ncands, keep);
		so->ncands = keep;
		so->bound = so->cands[0];
		for (int i = 1; i < keep; i++)
			if (FannCandidateCompare(&so->cands[i], &so->bound) > 0)
				so->bound = so->cands[i];
		so->pruned = true;
	}
}

/*
 * Offer the live elements of a locked element page whose ids lie in
 * [start, end) and that belong to group gid (any group if gid is
 * InvalidFannId, except skip_group).
 */
static void
scan_page(FannScanOpaque so, Page page, BlockNumber blkno, uint32 start,
		  uint32 end, uint32 gid, uint32 skip_group)
{
	int			per_page = so->meta.elements_per_page;

	/*
	 * Items are laid out from the end of the page backwards: walking the
	 * offsets downwards reads memory upwards, which the prefetcher follows.
	 */
	for (OffsetNumber off = PageGetMaxOffsetNumber(page); off >= FirstOffsetNumber; off--)
	{
		uint32		id = FannMakeId(blkno, off, per_page);
		FannElement e = (FannElement) PageGetItem(page, PageGetItemId(page, off));

		if (id < start || id >= end)
			continue;
		fann_last_stats.elements_visited++;
		if ((e->flags & FANN_ELEMENT_DEAD) ||
			(gid != InvalidFannId ? e->group != gid : e->group == skip_group))
			continue;
		fann_last_stats.rows_matching++;
		consider(so, e, id);
	}
}

/*
 * Start the CPU fetching where the scan of a page begins (its lowest item:
 * items are fixed-size and laid out from the end of the page); the hardware
 * prefetcher follows the sequential stream from there.  Prefetching the
 * whole page instead stalls on the CPU's fill buffers.
 */
static void
prefetch_vectors(FannScanOpaque so, Page page)
{
	char	   *item = (char *) page + BLCKSZ - MAXALIGN(sizeof(FannPageOpaqueData)) -
		(Size) so->meta.elements_per_page * FANN_ELEMENT_SIZE(so->meta.dimensions);

	for (int off = 0; off < 256; off += 64)
		__builtin_prefetch(item + off);
}

/*
 * Offer the elements of the pages in [first, last] that scan_page accepts;
 * neighbour pages among them are skipped, pages of other kinds too if
 * skip_others, otherwise they are an error.
 */
static void
scan_blocks(IndexScanDesc scan, BlockNumber first, BlockNumber last,
			uint32 start, uint32 end, uint32 gid, uint32 skip_group,
			bool skip_others)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	BlockNumber blkno = first;
	Buffer		buf = FannReadBuffer(scan->indexRelation, first);

	while (BufferIsValid(buf))
	{
		Page		page;
		FannPageOpaque opaque;
		BlockNumber nextblk = blkno + 1;
		Buffer		next = InvalidBuffer;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = FannPageGetOpaque(page);
		if (!skip_others && opaque->type != FANN_PAGE_NEIGHBOR)
			FannCheckPage(page, FANN_PAGE_ELEMENT, scan->indexRelation, blkno);

		/*
		 * Pin the next element page (the neighbour page of a unit follows
		 * its last element page: skip it unread) and have the CPU fetch it
		 * while this one is scanned: the scan is bound by memory latency at
		 * page switches.
		 */
		if (opaque->type == FANN_PAGE_ELEMENT && opaque->next == nextblk)
			nextblk++;
		if (nextblk <= last)
		{
			next = FannReadBuffer(scan->indexRelation, nextblk);
			prefetch_vectors(so, BufferGetPage(next));
		}

		if (opaque->type == FANN_PAGE_ELEMENT)
			scan_page(so, page, blkno, start, end, gid, skip_group);
		UnlockReleaseBuffer(buf);
		buf = next;
		blkno = nextblk;
	}
}

/* Offer the live elements of a group's insert chain */
static void
scan_chain(IndexScanDesc scan, uint32 id, uint32 gid)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	int			per_page = so->meta.elements_per_page;
	Buffer		buf = InvalidBuffer;

	while (id != InvalidFannId)
	{
		BlockNumber blkno = FannIdBlock(id, per_page);
		Page		page;
		FannElement e;

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != blkno)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			CHECK_FOR_INTERRUPTS();
			buf = ReadBuffer(scan->indexRelation, blkno);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			FannCheckPage(BufferGetPage(buf), FANN_PAGE_ELEMENT, scan->indexRelation, blkno);
		}
		page = BufferGetPage(buf);
		if (FannIdOffset(id, per_page) > PageGetMaxOffsetNumber(page))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("fann index \"%s\" has a chain link to missing element %u",
							RelationGetRelationName(scan->indexRelation), id)));
		e = (FannElement) PageGetItem(page, PageGetItemId(page, FannIdOffset(id, per_page)));
		fann_last_stats.elements_visited++;
		if (!(e->flags & FANN_ELEMENT_DEAD) && e->group == gid)
		{
			fann_last_stats.rows_matching++;
			consider(so, e, id);
		}
		id = e->next;
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/* One pass over the selected groups, then heapify what it kept */
static void
exact_pass(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	FannGroupSet *set = &so->groups;
	bool		first = fann_last_stats.passes++ == 0;
	int64		matching = fann_last_stats.rows_matching;

	/* a bigger buffer for each pass, up to work_mem */
	if (so->capacity < so->max_capacity)
	{
		so->capacity = so->capacity == 0 ? 2 * FANN_FIRST_PASS_ROWS :
			Min(so->max_capacity, so->capacity * 4);
		if (so->cands)
			pfree(so->cands);
		so->cands = MemoryContextAlloc(so->ctx, sizeof(FannCandidate) * so->capacity);
	}
	so->ncands = 0;
	so->pruned = false;

	if (so->meta.elements_per_page == 0)
		 /* no vector indexed yet */ ;
	else if (set->all || set->all_but_null)
	{
		/* every element page, in block order, around the build's IVF pages */
		BlockNumber nblocks = RelationGetNumberOfBlocks(scan->indexRelation);
		BlockNumber skip_start = nblocks,
					skip_end = nblocks;
		uint32		skip_group = set->all ? InvalidFannId : so->meta.null_group;

		if (so->meta.partitions > 0)
		{
			skip_start = so->meta.model_start;
			skip_end = so->meta.ivf_end;
		}
		if (skip_start > 1)
			scan_blocks(scan, 1, skip_start - 1, 0, InvalidFannId, InvalidFannId,
						skip_group, true);
		if (skip_end < nblocks)
			scan_blocks(scan, skip_end, nblocks - 1, 0, InvalidFannId, InvalidFannId,
						skip_group, true);
	}
	else
	{
		if (set->data == NULL)
			FannGroupSetLoad(scan->indexRelation, &so->meta, set);
		for (int i = 0; i < set->ngroups; i++)
		{
			FannGroupData *group = &set->data[i];

			if (group->range_start < group->range_end)
				scan_blocks(scan, FannIdBlock(group->range_start, so->meta.elements_per_page),
							FannIdBlock(group->range_end - 1, so->meta.elements_per_page),
							group->range_start, group->range_end,
							set->groups[i], InvalidFannId, false);
			scan_chain(scan, group->chain_head, set->groups[i]);
		}
	}

	/* later passes revisit the same rows: count them once */
	if (!first)
		fann_last_stats.rows_matching = matching;

	FannCandidateHeapify(so->cands, so->ncands);
}

IndexScanDesc
fannbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	FannScanOpaque so = palloc0(sizeof(FannScanOpaqueData));

	if (norderbys > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("fann index scans order by one distance only")));
	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "fann scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	return scan;
}

void
fannrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		   int norderbys)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
	MemoryContextReset(so->ctx);
	so->started = false;
}

/* The table's rows, from the planner's statistics (0 if never counted) */
static double
table_rows(IndexScanDesc scan)
{
	return Max(scan->heapRelation ? scan->heapRelation->rd_rel->reltuples : -1, 0);
}

/*
 * The per-query choice (DESIGN.md section 2), from measurements on SIFT
 * (README, "Performance").  Exact when the predicate matches at most
 * fann.exact_threshold rows.  The graph when the matching rows form one
 * group (an equality, or a containment only one label set satisfies): the
 * group's own Vamana graph finds them best.  Without a label predicate, or
 * with one that matches at least fann.ivf_fraction of the table over several
 * groups, the ivf path: the graph would start from the LNG roots or from
 * many groups, which serves broad queries poorly (UNG section 7), while
 * probing partitions costs the same under any predicate.  Otherwise the
 * graph.  The table's row count comes from the planner's statistics.
 */
static FannStrategy
choose_path(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	FannGroupSet *set = &so->groups;
	bool		unfiltered = set->all || set->all_but_null;
	double		rows = table_rows(scan);
	bool		has_ivf = so->meta.partitions > 0;
	FannStrategy path;

	if (fann_strategy == FANN_STRATEGY_EXACT ||
		(fann_strategy == FANN_STRATEGY_IVF && !has_ivf))
		return FANN_STRATEGY_EXACT;
	if (unfiltered && fann_strategy != FANN_STRATEGY_GRAPH)
		return has_ivf && (fann_strategy == FANN_STRATEGY_IVF || rows > fann_exact_threshold) ?
			FANN_STRATEGY_IVF : FANN_STRATEGY_EXACT;

	/* the matching groups: their rows decide, and the graph starts there */
	if (set->data == NULL)
	{
		FannGroupSetLoad(scan->indexRelation, &so->meta, set);
		fann_last_stats.groups_matched = set->ngroups;
	}
	if (fann_strategy != FANN_STRATEGY_AUTO)
		path = fann_strategy;
	else if (set->nlive <= fann_exact_threshold)
		path = FANN_STRATEGY_EXACT;
	else if (has_ivf && set->ngroups > 1 && set->nlive >= fann_ivf_fraction * rows)
		path = FANN_STRATEGY_IVF;
	else
		path = FANN_STRATEGY_GRAPH;
	return path;
}

/* The fraction of the table's rows that the label predicate matches */
static double
selectivity(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	double		rows = table_rows(scan);

	if (so->groups.all || so->groups.all_but_null || so->groups.data == NULL || rows <= 0)
		return 1.0;
	return Min(1.0, so->groups.nlive / rows);
}

/* Read the metapage, resolve the label predicate and the query vector */
static void
start_scan(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	MemoryContext oldctx = MemoryContextSwitchTo(so->ctx);
	BlockNumber nblocks;

	MemSet(&fann_last_stats, 0, sizeof(fann_last_stats));
	fann_last_stats.path = "exact";

	FannGetMetaSnapshot(scan->indexRelation, &so->meta);
	nblocks = RelationGetNumberOfBlocks(scan->indexRelation);
	FannRecentBuffersReserve(scan->indexRelation, nblocks);
	FannGroupSetFromKeys(scan->indexRelation, &so->meta, scan->keyData,
						 scan->numberOfKeys, &so->groups);
	fann_last_stats.groups_matched = so->groups.all || so->groups.all_but_null ?
		-1 : so->groups.ngroups;

	so->query = NULL;
	if (scan->numberOfOrderBys > 0 && !(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		int			dim;

		so->query = FannVectorFromArray(DatumGetArrayTypePCopy(scan->orderByData[0].sk_argument),
										&dim, true);
		if (so->meta.dimensions > 0)
			FannCheckDimensions(dim, so->meta.dimensions);
		so->distance = FannGetDistance((FannMetric) scan->orderByData[0].sk_strategy);
	}

	so->phase = FANN_SCAN_EXACT;
	so->graph = NULL;
	so->ivf = NULL;
	so->returned = NULL;
	if (so->query && so->meta.elements_per_page > 0)
	{
		FannStrategy path = choose_path(scan);

		if (path != FANN_STRATEGY_EXACT)
		{
			so->phase = FANN_SCAN_APPROX;
			fann_last_stats.rows_matching = so->groups.all || so->groups.all_but_null ?
				-1 : so->groups.nlive;
			so->nreturned_ids = nblocks * so->meta.elements_per_page;
			so->returned = FannIdSetCreate(so->nreturned_ids);
		}
		if (path == FANN_STRATEGY_GRAPH)
		{
			fann_last_stats.path = "graph";
			so->graph = FannGraphBegin(scan->indexRelation, &so->meta, nblocks, &so->groups,
									   so->groups.recheck, so->distance, so->query,
									   fann_ef_search);
		}
		else if (path == FANN_STRATEGY_IVF)
		{
			fann_last_stats.path = "ivf";
			so->ivf = FannIvfBegin(scan->indexRelation, &so->meta, nblocks, &so->groups,
								   selectivity(scan), so->distance, so->query);
		}
	}

	so->max_capacity = Max(2 * FANN_FIRST_PASS_ROWS,
						   (int) Min((Size) work_mem * 1024 / sizeof(FannCandidate),
									 MaxAllocSize / sizeof(FannCandidate)));
	so->capacity = 0;
	so->cands = NULL;
	so->has_last = false;
	so->pruned = true;			/* so that the first pass runs */
	so->ncands = 0;
	so->started = true;
	so->empty_itup = NULL;
	MemoryContextSwitchTo(oldctx);
}

/* The next row of the current phase into so->last; false when done */
static bool
next_row(FannScanOpaque so, IndexScanDesc scan)
{
	while (so->phase == FANN_SCAN_APPROX)
	{
		FannCandidate c;

		if (so->graph ? !FannGraphNext(so->graph, false, &c.distance, &c.tid, &c.id) :
			!FannIvfNext(so->ivf, &c.distance, &c.tid, &c.id))
		{
			/* the search is exhausted: exact passes for the rest */
			so->phase = FANN_SCAN_EXACT;
			fann_last_stats.path = so->graph ? "graph+exact" : "ivf+exact";
			break;
		}
		/* one found late, before the last row returned, waits for the end */
		if (so->has_last && FannCandidateCompare(&c, &so->last) <= 0)
			continue;
		so->last = c;
		so->has_last = true;
		return true;
	}

	for (;;)
	{
		if (so->ncands == 0)
		{
			/* a pass that kept everything left has nothing more to give */
			if (so->pruned)
				exact_pass(scan);
			if (so->ncands == 0)
			{
				if (so->phase != FANN_SCAN_EXACT || so->returned == NULL)
					return false;
				/* what the graph missed, in order among itself */
				so->phase = FANN_SCAN_LEFTOVER;
				so->has_last = false;
				so->pruned = true;
				continue;
			}
		}
		so->last = FannCandidatePop(so->cands, &so->ncands);
		so->has_last = true;
		return true;
	}
}

bool
fanngettuple(IndexScanDesc scan, ScanDirection dir)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;

	if (!so->started)
		start_scan(scan);

	if (!next_row(so, scan))
		return false;
	if (so->returned)
		FannIdSetAdd(so->returned, so->nreturned_ids, so->last.id);

	scan->xs_heaptid = so->last.tid;
	/*
	 * An index-only scan that needs no column (count(*) over the k nearest)
	 * still wants a tuple: an all-NULL one, since fann returns no columns
	 */
	if (scan->xs_want_itup)
	{
		if (so->empty_itup == NULL)
		{
			MemoryContext oldctx = MemoryContextSwitchTo(so->ctx);
			Datum		values[INDEX_MAX_KEYS] = {0};
			bool		isnull[INDEX_MAX_KEYS];

			memset(isnull, true, sizeof(isnull));
			so->empty_itup = index_form_tuple(RelationGetDescr(scan->indexRelation),
											  values, isnull);
			MemoryContextSwitchTo(oldctx);
		}
		scan->xs_itup = so->empty_itup;
		scan->xs_itupdesc = RelationGetDescr(scan->indexRelation);
	}
	scan->xs_recheck = so->groups.recheck;
	scan->xs_recheckorderby = false;
	if (scan->numberOfOrderBys > 0)
	{
		scan->xs_orderbyvals[0] = Float8GetDatum(so->last.distance);
		scan->xs_orderbynulls[0] = so->query == NULL;
	}
	fann_last_stats.rows_returned++;
	return true;
}

void
fannendscan(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
