/*
 * cost.c
 *	  The planner's cost of a fann index scan.
 *
 * The exact path reads the code of every row of the matching groups
 * (sequentially: the build lays each group out contiguously) and computes one
 * SIMD bound each before it returns the first row; later rows cost a heap
 * pop and, for the few whose bounds overlap, a vector's distance.  So the
 * whole work is startup cost, and a LIMIT hardly lowers it -- which lets a
 * plain index on another column win when its condition is selective.
 *
 * The graph path, taken when the label predicate matches more rows than
 * fann.exact_threshold, visits about FANN_VISITS_PER_EF * ef_search elements
 * (measured on SIFT), each a random page access and a distance.
 *
 * The ivf path, taken without a label predicate or with one matching at
 * least fann.ivf_fraction of the rows, reads a few partitions (see
 * FANN_TYPICAL_PROBES) sequentially, a distance per matching entry.
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

#include "access/relation.h"
#include "fann.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"

/* A SIMD distance over this many dimensions costs about one operator */
#define FANN_DIMS_PER_OPERATOR	128
/* Elements a graph search visits per unit of ef_search */
#define FANN_VISITS_PER_EF		12
/*
 * Partitions learned probing takes, which depends on the query: 4-16 at the
 * default threshold on SIFT
 */
#define FANN_TYPICAL_PROBES		16
/* A visit's buffer lookup, pin and lock, in operators */
#define FANN_VISIT_OPERATORS	4

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

	if (path->indexorderbys != NIL && meta.partitions > 0 &&
		(fann_strategy == FANN_STRATEGY_IVF ||
		 (fann_strategy == FANN_STRATEGY_AUTO && rows > fann_exact_threshold &&
		  (path->indexclauses == NIL || costs.indexSelectivity >= fann_ivf_fraction))))
	{
		double		listed = path->indexinfo->rel->tuples * (meta.redundancy ? 2 : 1);
		double		probes = fann_probing == FANN_PROBING_NEAREST ? fann_max_probes :
			Min(fann_max_probes, FANN_TYPICAL_PROBES);
		double		entries = Min(listed, listed * probes / meta.partitions);
		FannBlockLayout l;

		FannBlockLayoutFor(meta.dimensions, &l);
		pages = Min(pages, entries / (l.per_page * FANN_BLOCK_ROWS) * l.npages);
		rows = entries;
	}
	else if (path->indexorderbys != NIL && path->indexclauses != NIL &&
			 fann_strategy != FANN_STRATEGY_EXACT && rows > fann_exact_threshold)
	{
		double		visits = Min(rows, (double) FANN_VISITS_PER_EF * fann_ef_search);

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
