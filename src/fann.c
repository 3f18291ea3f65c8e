/*
 * fann.c
 *	  Entry points of the fann index access method: the handler, the GUCs,
 *	  reloptions and fann_last_scan().
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "commands/vacuum.h"
#include "fann.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#ifdef _OPENMP
#include <omp.h>
#endif

PG_MODULE_MAGIC;

int			fann_strategy = FANN_STRATEGY_AUTO;
int			fann_ef_search = 256;
int			fann_exact_threshold = 50000;
int			fann_build_threads = 1;
FannScanStats fann_last_stats;

static relopt_kind fann_relopt_kind;

static const struct config_enum_entry fann_strategy_options[] = {
	{"auto", FANN_STRATEGY_AUTO, false},
	{"exact", FANN_STRATEGY_EXACT, false},
	{"graph", FANN_STRATEGY_GRAPH, false},
	{NULL, 0, false}
};

void		_PG_init(void);

void
_PG_init(void)
{
	int			cores = 1;

#ifdef _OPENMP
	cores = Min(omp_get_num_procs(), 64);
#endif
	fann_relopt_kind = add_reloption_kind();
	add_int_reloption(fann_relopt_kind, "graph_degree",
					  "Intra-group neighbours per row in the graph (Vamana R)",
					  FANN_DEFAULT_GRAPH_DEGREE, 4, 128, AccessExclusiveLock);
	add_int_reloption(fann_relopt_kind, "build_list",
					  "Search list size while building the graph (Vamana L)",
					  FANN_DEFAULT_BUILD_LIST, 10, 1000, AccessExclusiveLock);
	add_real_reloption(fann_relopt_kind, "alpha",
					   "Pruning slack of the graph (Vamana alpha)",
					   FANN_DEFAULT_ALPHA, 1.0, 2.0, AccessExclusiveLock);
	add_int_reloption(fann_relopt_kind, "cross_edges",
					  "Edges per row into the groups of minimal supersets of its label set (UNG)",
					  FANN_DEFAULT_CROSS_EDGES, 0, 32, AccessExclusiveLock);

	DefineCustomEnumVariable("fann.strategy",
							 "Search path of fann index scans.",
							 "auto chooses per query; exact scans every matching row; graph searches the label navigating graph.",
							 &fann_strategy, FANN_STRATEGY_AUTO, fann_strategy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.ef_search",
							"Size of the candidate list of graph searches.",
							"Larger is slower and finds more of the true nearest neighbours.",
							&fann_ef_search, 256, 1, 10000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.exact_threshold",
							"Filters matching at most this many rows are answered by the exact path.",
							NULL, &fann_exact_threshold, 50000, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.build_threads",
							"Threads that build the graph in CREATE INDEX.",
							"Defaults to the number of CPU cores.",
							&fann_build_threads, cores, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	FannDefineSimdGuc();
	MarkGUCPrefixReserved("fann");
}

bytea *
fannoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"graph_degree", RELOPT_TYPE_INT, offsetof(FannOptions, graph_degree)},
		{"build_list", RELOPT_TYPE_INT, offsetof(FannOptions, build_list)},
		{"alpha", RELOPT_TYPE_REAL, offsetof(FannOptions, alpha)},
		{"cross_edges", RELOPT_TYPE_INT, offsetof(FannOptions, cross_edges)},
	};

	return (bytea *) build_reloptions(reloptions, validate, fann_relopt_kind,
									  sizeof(FannOptions), tab, lengthof(tab));
}

PG_FUNCTION_INFO_V1(fann_handler);
Datum
fann_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;	/* ordering and label strategies differ per opclass */
	amroutine->amsupport = 0;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = fannbuild;
	amroutine->ambuildempty = fannbuildempty;
	amroutine->aminsert = fanninsert;
	amroutine->ambulkdelete = fannbulkdelete;
	amroutine->amvacuumcleanup = fannvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = fanncostestimate;
	amroutine->amoptions = fannoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = fannbuildphasename;
	amroutine->amvalidate = fannvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = fannbeginscan;
	amroutine->amrescan = fannrescan;
	amroutine->amgettuple = fanngettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = fannendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}

PG_FUNCTION_INFO_V1(fann_last_scan);
Datum
fann_last_scan(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	FannScanStats *s = &fann_last_stats;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (s->path == NULL)
		PG_RETURN_NULL();

	values[0] = CStringGetTextDatum(s->path);
	values[1] = Int64GetDatum(s->groups_matched);
	nulls[1] = s->groups_matched < 0;	/* every group: not computed */
	values[2] = Int64GetDatum(s->groups_entered);
	values[3] = Int64GetDatum(s->rows_matching);
	values[4] = Int64GetDatum(s->elements_visited);
	values[5] = Int64GetDatum(s->distance_computations);
	values[6] = Int64GetDatum(s->rows_returned);
	values[7] = Int32GetDatum(s->passes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
