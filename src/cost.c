/*
 * cost.c
 *	  The planner's cost of a fann index scan.
 *
 * The exact path reads every element of the matching groups (sequentially:
 * the build lays each group out contiguously) and computes one SIMD distance
 * each before it returns the first row; later rows cost a heap pop.  So the
 * whole work is startup cost, and a LIMIT hardly lowers it -- which lets a
 * plain index on another column win when its condition is selective.
 */
#include "postgres.h"

#include "access/relation.h"
#include "fann.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"

/* A SIMD distance over this many dimensions costs about one operator */
#define FANN_DIMS_PER_OPERATOR	128

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

	rows = costs.numIndexTuples;
	pages = costs.numIndexPages;
	per_row = cpu_index_tuple_cost;
	if (path->indexorderbys != NIL)
		per_row += cpu_operator_cost *
			Max(1.0, (double) meta.dimensions / FANN_DIMS_PER_OPERATOR);

	*indexStartupCost = pages * seq_page_cost + rows * per_row;
	/* handing out the rows: a heap pop each */
	*indexTotalCost = *indexStartupCost + rows * cpu_operator_cost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = pages;
}
