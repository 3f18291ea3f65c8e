/*
 * scan.c
 *	  Index scans: the AM scan callbacks, the per-query choice of search
 *	  path, and the phases that make every path exact in the end.
 *
 * A scan runs one search (search.h) per phase:
 *
 *	approx		the graph or the ivf search, if the path choice took one;
 *				what it returns is marked in a bitmap.  A row it finds late,
 *				before the last row returned, waits for the leftover phase.
 *	exact		exact searches strictly after the last row returned, skipping
 *				the marked rows (after an approximate search: what it could
 *				not vouch for; on the exact path: everything)
 *	leftover	after an approximate search, one more exact search, from the
 *				start, over what was never returned: what the approximate
 *				search missed before its last row (only reached when the
 *				executor has consumed every other matching row)
 *
 * So no row is returned twice or skipped, and a query is never short.
 * "After" is in the order the searches hand rows out: by the lower bound of
 * the distance the codes give (quant.h), then element id.  The executor
 * computes each row's exact distance from the table and reorders (see
 * fanngettuple), so the answer is in exact distance order.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "compat.h"
#include "search.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

typedef enum FannScanPhase
{
	FANN_SCAN_APPROX,
	FANN_SCAN_EXACT,
	FANN_SCAN_LEFTOVER
} FannScanPhase;

typedef struct FannScanOpaqueData
{
	bool		started;
	MemoryContext ctx;			/* per-scan memory, reset on rescan */
	FannMetaPageData meta;
	BlockNumber nblocks;		/* the index's size as the scan began */
	FannGroupSet groups;

	/* ORDER BY: distance to query, or NULL for an unordered scan */
	FannDistanceFunction distance;
	const float *query;

	FannScanPhase phase;
	FannSearch *search;			/* of the current phase */
	FannIdHash	returned;		/* after an approximate search: ids returned */
	bool		has_last;
	FannCandidate last;			/* last row returned */
	IndexTuple	empty_itup;		/* for index-only scans, built once */
	FannScanStats stats;
	uint64		number;			/* of this scan among the backend's */
} FannScanOpaqueData;

typedef FannScanOpaqueData *FannScanOpaque;

/*
 * What the most recently started scan of this backend did, published when
 * it ends (runs out of rows, is rescanned or closed).  A scan that ends
 * after a later one started (the outer side of a join) does not overwrite
 * the later one's.
 */
static FannScanStats last_scan_stats;
static uint64 scans_started;
static uint64 last_scan_number;

static void
publish_stats(FannScanOpaque so)
{
	if (so->started && so->number >= last_scan_number)
	{
		last_scan_stats = so->stats;
		last_scan_number = so->number;
	}
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

	publish_stats(so);
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
 * The per-query choice.  Without a query vector, or with fann.strategy
 * naming a path, that path (exact where there is no IVF).  Auto: the exact
 * path on a table of at most FANN_EXACT_TABLE_ROWS rows (the planner's
 * statistics) or when the predicate matches at most fann.exact_threshold
 * rows, else the path that FannPathCosts (cost.c) rates cheapest for
 * reaching fann.target_recall, from the rows and label sets that match, the
 * table's row count and the index's calibration.
 */
static const FannSearchMethods *
choose_path(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	FannGroupSet *set = &so->groups;
	double		rows = table_rows(scan);
	bool		has_ivf = so->meta.partitions > 0;
	bool		label_filter = set->selection == FANN_SELECT_LIST;
	FannPathCost cost;

	if (fann_strategy == FANN_STRATEGY_EXACT ||
		(fann_strategy == FANN_STRATEGY_IVF && !has_ivf))
		return &FannExactSearch;
	if (fann_strategy == FANN_STRATEGY_AUTO && rows <= FANN_EXACT_TABLE_ROWS)
		return &FannExactSearch;
	if (!label_filter && fann_strategy != FANN_STRATEGY_GRAPH)
	{
		if (fann_strategy == FANN_STRATEGY_IVF)
			return &FannIvfSearch;
		if (!has_ivf)
			return &FannExactSearch;
		FannPathCosts(&so->meta, rows, rows, 0, false, false, &cost);
		return cost.ivf < cost.exact ? &FannIvfSearch : &FannExactSearch;
	}

	/* the matching groups' rows decide (the paths load what they need) */
	if (set->nlive < 0)
	{
		FannGroupSetCount(scan->indexRelation, &so->meta, set);
		so->stats.groups_matched = set->ngroups;
	}
	if (fann_strategy == FANN_STRATEGY_GRAPH)
		return &FannGraphSearch;
	if (fann_strategy == FANN_STRATEGY_IVF)
		return &FannIvfSearch;
	if (set->nlive <= fann_exact_threshold)
		return &FannExactSearch;
	FannPathCosts(&so->meta, Max(rows, set->nlive), set->nlive, set->ngroups, true,
				  set->equality, &cost);
	if (cost.ivf < cost.exact && cost.ivf <= cost.graph)
		return &FannIvfSearch;
	return cost.graph < cost.exact ? &FannGraphSearch : &FannExactSearch;
}

/* A search of the scan's rows, for the current phase */
static FannSearch *
begin_search(IndexScanDesc scan, const FannSearchMethods *path)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	FannSearchInput in;
	double		rows = table_rows(scan);

	MemSet(&in, 0, sizeof(in));
	in.index = scan->indexRelation;
	in.meta = &so->meta;
	in.nblocks = so->nblocks;
	in.groups = &so->groups;
	in.distance = so->distance;
	in.query = so->query;
	in.stats = &so->stats;
	in.after = so->phase == FANN_SCAN_EXACT && so->has_last ? &so->last : NULL;
	in.skip = so->returned.slots ? &so->returned : NULL;
	in.ef = fann_ef_search > 0 ? fann_ef_search :
		FannGraphEfFor(&so->meta, fann_target_recall, so->groups.equality);
	in.selectivity = so->groups.selection != FANN_SELECT_LIST ||
		so->groups.nlive < 0 || rows <= 0 ? 1.0 :
		Min(1.0, so->groups.nlive / rows);
	return path->begin(&in);
}

/* Read the metapage, resolve the label predicate and the query vector */
static void
start_scan(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	MemoryContext oldctx = MemoryContextSwitchTo(so->ctx);
	const FannSearchMethods *path = &FannExactSearch;

	MemSet(&so->stats, 0, sizeof(so->stats));
	so->number = ++scans_started;
	FannGetMetaSnapshot(scan->indexRelation, &so->meta);
	so->nblocks = RelationGetNumberOfBlocks(scan->indexRelation);
	FannRecentBuffersReserve(scan->indexRelation, so->nblocks);
	FannGroupSetFromKeys(scan->indexRelation, &so->meta, scan->keyData,
						 scan->numberOfKeys, &so->groups);
	so->stats.groups_matched = so->groups.selection != FANN_SELECT_LIST ?
		-1 : so->groups.ngroups;

	so->query = NULL;
	if (scan->numberOfOrderBys > 0 && !(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		int			dim;
		const float *q = FannVectorFromDatum(scan->orderByData[0].sk_argument,
											 FannIndexVectorType(scan->indexRelation),
											 &dim, true);

		/* a copy: the argument's detoasted value may not outlive the rescan */
		so->query = memcpy(palloc(sizeof(float) * dim), q, sizeof(float) * dim);
		if (so->meta.dimensions > 0)
			FannCheckDimensions(dim, so->meta.dimensions);
		so->distance = FannGetDistance((FannMetric) scan->orderByData[0].sk_strategy);
	}

	so->phase = FANN_SCAN_EXACT;
	so->returned.slots = NULL;
	so->has_last = false;
	if (so->query && so->meta.elements_per_page > 0)
		path = choose_path(scan);
	if (path != &FannExactSearch)
	{
		so->phase = FANN_SCAN_APPROX;
		so->stats.rows_matching = so->groups.selection != FANN_SELECT_LIST ||
			so->groups.estimated ? -1 : so->groups.nlive;
		FannIdHashInit(&so->returned, 64);
	}
	so->stats.path = path->name;
	so->search = begin_search(scan, path);
	so->started = true;
	so->empty_itup = NULL;
	MemoryContextSwitchTo(oldctx);
}

/* The next row of the scan into so->last, moving through the phases */
static bool
next_row(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	FannCandidate c;

	while (so->search != NULL)
	{
		if (FannSearchNext(so->search, &c))
		{
			/* one found late, before the last row returned, waits */
			if (so->phase == FANN_SCAN_APPROX && so->has_last &&
				FannCandidateCompare(&c, &so->last) <= 0)
				continue;
			so->last = c;
			so->has_last = true;
			return true;
		}
		FannSearchEnd(so->search);
		so->search = NULL;
		switch (so->phase)
		{
			case FANN_SCAN_APPROX:
				/* the search can vouch for no more: exact for the rest */
				so->stats.exact_rest = true;
				so->phase = FANN_SCAN_EXACT;
				break;
			case FANN_SCAN_EXACT:
				/* what the approximate search missed, in order among itself */
				if (so->returned.slots != NULL)
					so->phase = FANN_SCAN_LEFTOVER;
				else
					return false;
				break;
			case FANN_SCAN_LEFTOVER:
				return false;
		}
		so->search = begin_search(scan, &FannExactSearch);
	}
	return false;
}

bool
fanngettuple(IndexScanDesc scan, ScanDirection dir)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;
	MemoryContext oldctx;

	if (!so->started)
	{
		/* index AM convention: rows come under an MVCC snapshot only */
		if (!IsMVCCSnapshot(scan->xs_snapshot))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("fann index scans need an MVCC snapshot")));
		FannCountIndexSearch(scan);
		start_scan(scan);
	}

	oldctx = MemoryContextSwitchTo(so->ctx);
	if (!next_row(scan))
	{
		MemoryContextSwitchTo(oldctx);
		publish_stats(so);
		return false;
	}
	if (so->returned.slots)
		FannIdHashAdd(&so->returned, so->last.id);

	scan->xs_heaptid = so->last.tid;

	/*
	 * An index-only scan that needs no column (count(*) over the k nearest)
	 * still wants a tuple: an all-NULL one, since fann returns no columns
	 */
	if (scan->xs_want_itup)
	{
		if (so->empty_itup == NULL)
		{
			Datum		values[INDEX_MAX_KEYS] = {0};
			bool		isnull[INDEX_MAX_KEYS];

			memset(isnull, true, sizeof(isnull));
			so->empty_itup = index_form_tuple(RelationGetDescr(scan->indexRelation),
											  values, isnull);
		}
		scan->xs_itup = so->empty_itup;
		scan->xs_itupdesc = RelationGetDescr(scan->indexRelation);
	}
	MemoryContextSwitchTo(oldctx);
	scan->xs_recheck = so->groups.recheck;

	/*
	 * The searches hand rows out by a lower bound of their distance, from
	 * the codes: the executor computes the distance from the table's row and
	 * holds rows back until no later one can come before them (as for GiST's
	 * lossy distances).  An index-only scan cannot recheck; it only happens
	 * when no column is wanted, so the order does not matter.
	 */
	scan->xs_recheckorderby = so->query != NULL && !scan->xs_want_itup;
	if (scan->numberOfOrderBys > 0)
	{
		scan->xs_orderbyvals[0] = Float8GetDatum(so->last.distance);
		scan->xs_orderbynulls[0] = so->query == NULL;
	}
	so->stats.rows_returned++;
	return true;
}

void
fannendscan(IndexScanDesc scan)
{
	FannScanOpaque so = (FannScanOpaque) scan->opaque;

	publish_stats(so);
	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}

PG_FUNCTION_INFO_V1(fann_last_scan);
Datum
fann_last_scan(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {false};
	FannScanStats *s = &last_scan_stats;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (s->path == NULL)
		PG_RETURN_NULL();

	values[0] = CStringGetTextDatum(s->exact_rest ? psprintf("%s+exact", s->path) : s->path);
	values[1] = Int64GetDatum(s->groups_matched);
	nulls[1] = s->groups_matched < 0;	/* every group: not computed */
	values[2] = Int64GetDatum(s->groups_entered);
	values[3] = Int64GetDatum(s->rows_matching);
	nulls[3] = s->rows_matching < 0;	/* every row, by the ivf path: not counted */
	values[4] = Int64GetDatum(s->elements_visited);
	values[5] = Int64GetDatum(s->distance_computations);
	values[6] = Int64GetDatum(s->rows_returned);
	values[7] = Int32GetDatum(s->passes);
	values[8] = Int32GetDatum(s->partitions_probed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
