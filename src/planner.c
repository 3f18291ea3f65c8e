/*
 * planner.c
 *	  A planner hook that hands IN lists on filter columns to ordered fann
 *	  scans, as PostgreSQL 17 does itself.
 *
 * Before PostgreSQL 17, build_index_paths (indxpath.c) leaves any
 * ScalarArrayOpExpr on an index column after the first out of the paths it
 * orders: a btree scan of an array on a later column returns the rows of
 * each element in order, but not all of them.  A fann scan returns rows in
 * distance order whatever its keys, but the planner asks no AM, and fann's
 * filter columns always follow the vector: so "tenant_id IN (...)" or
 * "tenant_id = ANY ($1)" would stay a Filter above an ordered scan that
 * streams every tenant's rows.  The core still builds the ordered path with
 * the other clauses (and an unordered one with the arrays, which then needs
 * a Sort); after it has, this hook adds a copy of each ordered fann path
 * that also takes the rel's array clauses match_saopclause_to_indexcol
 * accepts, and add_path keeps the cheaper.
 */
#include "postgres.h"

#include "fann.h"

#if PG_VERSION_NUM < 170000

#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "utils/lsyscache.h"

/* As indxpath.c: an index column without a collation takes any clause */
#define IndexCollMatchesExprColl(idxcoll, exprcoll) \
	((idxcoll) == InvalidOid || (idxcoll) == (exprcoll))

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

/* Clause rinfo, exactly as qual on index column col */
static IndexClause *
index_clause(RestrictInfo *rinfo, RestrictInfo *qual, int col)
{
	IndexClause *iclause = makeNode(IndexClause);

	iclause->rinfo = rinfo;
	iclause->indexquals = list_make1(qual);
	iclause->lossy = false;
	iclause->indexcol = col;
	iclause->indexcols = NIL;
	return iclause;
}

/*
 * The index clause of a boolean column's own condition ("flag", "NOT flag",
 * which the planner makes of "flag = true"), as "flag = true" or "= false":
 * before PostgreSQL 16 the core takes those for btree and hash only
 */
static IndexClause *
match_boolean_clause(PlannerInfo *root, IndexOptInfo *index, RestrictInfo *rinfo)
{
	Node	   *operand = (Node *) rinfo->clause;
	bool		value = !is_notclause(operand);

	if (!value)
		operand = (Node *) get_notclausearg((Expr *) operand);
	for (int col = 0; col < index->nkeycolumns; col++)
	{
		Expr	   *op;

		if (!match_index_to_operand(operand, col, index) ||
			!op_in_opfamily(BooleanEqualOperator, index->opfamily[col]))
			continue;
		op = make_opclause(BooleanEqualOperator, BOOLOID, false, (Expr *) operand,
						   (Expr *) makeBoolConst(value, false), InvalidOid, InvalidOid);
		return index_clause(rinfo, make_simple_restrictinfo(root, op), col);
	}
	return NULL;
}

/*
 * The index clause of "column op ANY (array)" the index can take, else
 * NULL: match_clause_to_index's tests for a ScalarArrayOpExpr, which gives
 * a clause to the first column that takes it
 */
static IndexClause *
match_saop_clause(PlannerInfo *root, IndexOptInfo *index, RestrictInfo *rinfo)
{
	ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) rinfo->clause;
	Node	   *leftop;
	Node	   *rightop;

	/* ALL is no scan key: an SK_SEARCHARRAY key means ANY */
	if (!saop->useOr)
		return NULL;
	leftop = (Node *) linitial(saop->args);
	rightop = (Node *) lsecond(saop->args);
	/* the array must be known when the scan starts */
	if (bms_is_member(index->rel->relid, pull_varnos(root, rightop)) ||
		contain_volatile_functions(rightop))
		return NULL;

	for (int col = 0; col < index->nkeycolumns; col++)
	{
		/*
		 * Any search operator of the column's family, as PostgreSQL 17
		 * passes: the scan answers ANY as the union of its elements' groups
		 * (the ordering operators are not search members, so the vector
		 * column never matches)
		 */
		if (!match_index_to_operand(leftop, col, index) ||
			!IndexCollMatchesExprColl(index->indexcollations[col],
									  saop->inputcollid) ||
			get_op_opfamily_strategy(saop->opno, index->opfamily[col]) == 0)
			continue;
		return index_clause(rinfo, rinfo, col);
	}
	return NULL;
}

/* The index clause rinfo makes of an array or boolean condition, else NULL */
static IndexClause *
match_clause(PlannerInfo *root, IndexOptInfo *index, RestrictInfo *rinfo)
{
	if (rinfo->pseudoconstant ||
		!restriction_is_securely_promotable(rinfo, index->rel))
		return NULL;
	if (IsA(rinfo->clause, ScalarArrayOpExpr))
		return match_saop_clause(root, index, rinfo);
	return match_boolean_clause(root, index, rinfo);
}

/*
 * The path with the array clauses it leaves to a Filter added to its index
 * clauses, or NULL if there are none
 */
static IndexPath *
path_with_saops(PlannerInfo *root, IndexPath *path)
{
	IndexOptInfo *index = path->indexinfo;
	List	   *added = NIL;
	List	   *clauses = NIL;
	ListCell   *lc;

	/* indrestrictinfo: without what a partial index's predicate implies */
	foreach(lc, index->indrestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		IndexClause *iclause = match_clause(root, index, rinfo);
		ListCell   *lc2;

		/* one the core gave the path already (on the first column) stays */
		foreach(lc2, path->indexclauses)
		{
			if (lfirst_node(IndexClause, lc2)->rinfo == rinfo)
				iclause = NULL;
		}
		if (iclause != NULL)
			added = lappend(added, iclause);
	}
	if (added == NIL)
		return NULL;

	/* by column, as build_index_paths lists them */
	for (int col = 0; col < index->nkeycolumns; col++)
	{
		foreach(lc, path->indexclauses)
			if (lfirst_node(IndexClause, lc)->indexcol == col)
				clauses = lappend(clauses, lfirst(lc));
		foreach(lc, added)
			if (lfirst_node(IndexClause, lc)->indexcol == col)
				clauses = lappend(clauses, lfirst(lc));
	}

	/*
	 * Never index-only: fann returns no columns, so it cannot recheck a
	 * clause on the index tuple (and the core makes no index-only path when
	 * a restriction needs a column)
	 */
	return create_index_path(root, index, clauses,
							 path->indexorderbys, path->indexorderbycols,
							 path->path.pathkeys, path->indexscandir,
							 false, NULL, 1.0, false);
}

static void
fann_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					  RangeTblEntry *rte)
{
	List	   *ordered = NIL;
	ListCell   *lc;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (rte->rtekind != RTE_RELATION || rel->indexlist == NIL ||
		rel->baserestrictinfo == NIL)
		return;

	/*
	 * The unparameterised ordered fann paths, collected first: add_path
	 * edits the list.  Only where the AM takes arrays as scan keys: the
	 * executor's other way, expanding the array, is for bitmap scans only.
	 */
	foreach(lc, rel->pathlist)
	{
		IndexPath  *path = (IndexPath *) lfirst(lc);

		if (IsA(path, IndexPath) &&
			path->indexinfo->amcostestimate == fanncostestimate &&
			path->indexinfo->amsearcharray &&
			path->indexorderbys != NIL &&
			PATH_REQ_OUTER(&path->path) == NULL)
			ordered = lappend(ordered, path);
	}
	foreach(lc, ordered)
	{
		IndexPath  *path = path_with_saops(root, (IndexPath *) lfirst(lc));

		if (path != NULL)
			add_path(rel, (Path *) path);
	}
	list_free(ordered);
}

void
FannInstallPlannerHook(void)
{
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = fann_set_rel_pathlist;
}

#else

/* PostgreSQL 17 and later build these paths themselves */
void
FannInstallPlannerHook(void)
{
}

#endif
