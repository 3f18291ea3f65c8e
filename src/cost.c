/*
 * cost.c
 *	  What each search path would cost a query, which auto's choice (scan.c)
 *	  weighs, and the planner's cost of a fann index scan, which costs the
 *	  path auto would take.
 *
 * A path's cost is its work to reach fann.target_recall times what a unit
 * of that work costs (FannPathCosts).  The exact path reads the code of
 * every row of the matching groups (sequentially: the build lays each group
 * out contiguously) and computes one SIMD bound each before it returns the
 * first row; later rows cost a heap pop and, for the few whose bounds
 * overlap, a vector's distance.  So the whole work is startup cost, and a
 * LIMIT hardly lowers it -- which lets a plain index on another column win
 * when its condition is selective.  The graph path computes the distances
 * its calibration counted at the ef it takes (graphcal.c), each a random
 * element read.  The ivf path runs the prober (lira.h) and bounds every row
 * of the partitions it probes, the share of the rows that its calibration
 * counted at the query's threshold (ivfcal.c): a threshold lowered for a
 * filter's selectivity probes more.
 *
 * An index that fits in effective_cache_size (the planner's idea of what
 * stays cached) has its pages costed as a tuple's CPU each instead of a
 * page read: in memory a scan's cost is its rows' bounds, counted per row.
 * Costed as reads, the exact path over 10,000 matching rows of a 50,000-row
 * table lost to a pgvector HNSW index on the same column (by 162 to 156),
 * which took 1.1 ms a query and returned fewer rows than LIMIT for three
 * queries in four, where fann took 0.74 ms and was never short.
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "fann.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"

/* A SIMD distance over this many dimensions costs about one operator */
#define FANN_DIMS_PER_OPERATOR	128
/* Distances a graph search computes per unit of ef_search (uncalibrated) */
#define FANN_VISITS_PER_EF		12
/*
 * Partitions learned probing takes, which depends on the query: 4-16 at the
 * default threshold on SIFT (uncalibrated)
 */
#define FANN_TYPICAL_PROBES		16
/* A visit's buffer lookup, pin and lock, in operators */
#define FANN_VISIT_OPERATORS	4

/*
 * Auto's costs (FannPathCosts), ns a unit of work at 128 dimensions, fitted
 * by least squares to the in-server times of 1,300 SIFT queries against
 * their work as fann_last_scan() counts it (docs/performance.md, "Auto by
 * cost"); half of each grows with the dimensions (the distance), the rest
 * is memory and bookkeeping.  The ivf path's start (the prober, the query's
 * table, the first batch's pages) is what it costs beyond the others'.
 */
#define FANN_COST_REFERENCE_DIMS	128.0
#define FANN_COST_DIM_SHARE			0.5
#define FANN_COST_EXACT_ROW			40.0	/* a matching row's bound */
#define FANN_COST_GRAPH_VISIT		350.0	/* a distance: a random element */
#define FANN_COST_GRAPH_GROUP		400.0	/* a matching label set's entry */
#define FANN_COST_IVF_START			150000.0
#define FANN_COST_IVF_ROW			12.5	/* a probed row's 4-bit bound */
#define FANN_COST_IVF_MATCH			47.0	/* a probed row that matches */

/*
 * The share of the rows that probe threshold t probes, from the index's
 * calibration (ivf_share: thresholds 10^(-i/4)), interpolated in log t
 */
double
FannIvfShare(const FannMetaPageData *meta, double t)
{
	double		x = -4 * log10(Max(t, 1e-12));
	int			i = (int) floor(x);

	if (meta->calibration_queries == 0 || meta->ivf_share[FANN_PROBE_LADDER - 1] <= 0)
		return Min(1.0, (double) FANN_TYPICAL_PROBES / Max(meta->partitions, 1) *
				   (meta->redundancy ? 2 : 1));
	if (i < 0)
		return meta->ivf_share[0];
	if (i >= FANN_PROBE_LADDER - 1)
		return meta->ivf_share[FANN_PROBE_LADDER - 1];
	return meta->ivf_share[i] + (x - i) * (meta->ivf_share[i + 1] - meta->ivf_share[i]);
}

/*
 * The probe threshold of the ivf path under a filter matching a share
 * selectivity of the rows: fann.probe_threshold scaled by it, or (0) the
 * calibrated one for fann.target_recall (fann.h)
 */
double
FannIvfThreshold(const FannMetaPageData *meta, double selectivity)
{
	if (fann_probe_threshold > 0)
		return fann_probe_threshold * selectivity;
	return FannProbeThresholdFor(meta, fann_target_recall, selectivity);
}

/* A unit of work at the index's dimensions, from its cost at 128 */
static double
at_dimensions(const FannMetaPageData *meta, double ns)
{
	return ns * (1 - FANN_COST_DIM_SHARE +
				 FANN_COST_DIM_SHARE * meta->dimensions / FANN_COST_REFERENCE_DIMS);
}

/*
 * What each search path would cost a query (ns) to reach fann.target_recall
 * over matching of table_rows rows in groups label sets (an equality with
 * equality; with label_filter false, no label predicate): its work as the
 * index's calibration measured it, times a unit's cost.  exact covers every
 * row; graph is infinite where the graph is no choice (no label predicate,
 * or label sets of fewer than FANN_GRAPH_MIN_GROUP_ROWS rows on average,
 * where a graph per set has nothing to navigate); ivf infinite without
 * partitions.  Auto takes the cheapest (scan.c); the planner costs it.
 */
void
FannPathCosts(const FannMetaPageData *meta, double table_rows, double matching,
			  double groups, bool label_filter, bool equality, FannPathCost *cost)
{
	double		selectivity = table_rows > 0 ? Min(1.0, matching / table_rows) : 1.0;

	cost->exact = matching * at_dimensions(meta, FANN_COST_EXACT_ROW);

	cost->graph = cost->ivf = INFINITY;
	cost->graph_visits = cost->ivf_rows = 0;
	if (label_filter && groups > 0 && matching >= FANN_GRAPH_MIN_GROUP_ROWS * groups)
	{
		double		work = 0;

		if (fann_ef_search == 0 && meta->graph_calibration_queries > 0)
			work = meta->graph_work[equality ? 0 : 1][FannCalibrationPoint(fann_target_recall)];
		if (work <= 0)
			work = (double) FANN_VISITS_PER_EF *
				(fann_ef_search > 0 ? fann_ef_search :
				 FannGraphEfFor(meta, fann_target_recall, equality));
		cost->graph_visits = Min(work, matching);
		cost->graph = cost->graph_visits * at_dimensions(meta, FANN_COST_GRAPH_VISIT) +
			groups * FANN_COST_GRAPH_GROUP;
	}

	if (meta->partitions > 0)
	{
		double		t = fann_probing == FANN_PROBING_NEAREST ? 0 :
			FannIvfThreshold(meta, selectivity);
		cost->ivf_rows = t > 0 ? FannIvfShare(meta, t) * table_rows :
			table_rows * Min(1.0, (double) fann_max_probes / meta->partitions);
		cost->ivf = FANN_COST_IVF_START + cost->ivf_rows *
			(at_dimensions(meta, FANN_COST_IVF_ROW) +
			 selectivity * at_dimensions(meta, FANN_COST_IVF_MATCH));
	}
}

void
fanncostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	GenericCosts costs;
	Relation	index;
	FannMetaPageData meta;
	double		rows;
	double		pages;
	double		per_row;
	FannPathCost cost;
	bool		ivf = false;
	bool		graph = false;

	MemSet(&costs, 0, sizeof(costs));
	/* selectivity of the label predicate from the column's statistics */
	genericcostestimate(root, path, loop_count, &costs);

	/* the index orders by one distance only */
	if (list_length(path->indexorderbys) > 1)
	{
		*indexStartupCost = *indexTotalCost = disable_cost;
		*indexSelectivity = costs.indexSelectivity;
		*indexCorrelation = 0;
		*indexPages = costs.numIndexPages;
		return;
	}

	index = index_open(path->indexinfo->indexoid, NoLock);
	FannGetMetaSnapshot(index, &meta);
	index_close(index, NoLock);

	/*
	 * genericcostestimate counts one scan per element of an IN list, as a
	 * btree makes them; fann takes the whole list in one scan
	 */
	rows = Min(costs.numIndexTuples * costs.num_sa_scans, path->indexinfo->rel->tuples);
	pages = Min(costs.numIndexPages * costs.num_sa_scans, path->indexinfo->pages);
	per_row = cpu_index_tuple_cost;
	if (path->indexorderbys != NIL)
		per_row += cpu_operator_cost *
			Max(1.0, (double) meta.dimensions / FANN_DIMS_PER_OPERATOR);

	/* the path a scan would take: auto's choice (scan.c) by the same costs */
	if (path->indexorderbys != NIL)
	{
		bool		filter = path->indexclauses != NIL;
		bool		choice;

		FannPathCosts(&meta, path->indexinfo->rel->tuples, rows, 1, filter, false, &cost);
		choice = fann_strategy == FANN_STRATEGY_AUTO &&
			rows > fann_exact_threshold &&
			path->indexinfo->rel->tuples > FANN_EXACT_TABLE_ROWS;

		ivf = meta.partitions > 0 &&
			(fann_strategy == FANN_STRATEGY_IVF ||
			 (choice && cost.ivf < cost.exact && cost.ivf <= cost.graph));
		graph = !ivf && filter &&
			(fann_strategy == FANN_STRATEGY_GRAPH || (choice && cost.graph < cost.exact));
	}
	if (ivf)
	{
		double		entries = Min(cost.ivf_rows, path->indexinfo->rel->tuples *
								  (meta.redundancy ? 2 : 1));
		FannBlockLayout l;

		FannBlockLayoutFor(meta.dimensions, &l);
		pages = Min(pages, entries / (l.per_page * FANN_BLOCK_ROWS) * l.npages);
		rows = entries;
	}
	else if (graph)
	{
		double		visits = Min(rows, cost.graph_visits > 0 ? cost.graph_visits :
								 (double) FANN_VISITS_PER_EF * fann_ef_search);

		pages = Min(pages, visits);
		per_row += FANN_VISIT_OPERATORS * cpu_operator_cost;
		rows = visits;
	}
	else if (meta.elements_per_page > 0)
	{
		/* the exact path reads the matching elements */
		pages = Min(pages, ceil(rows * FANN_ELEMENT_SIZE(meta.dimensions) / FANN_PAGE_USABLE));
	}
	*indexStartupCost = rows * per_row + pages *
		(path->indexinfo->pages <= (BlockNumber) effective_cache_size ? cpu_tuple_cost : seq_page_cost);
	/* handing out the rows: a heap pop each */
	*indexTotalCost = *indexStartupCost + rows * cpu_operator_cost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = pages;
}
