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
int			fann_ef_search = 64;
int			fann_exact_threshold = 20000;
int			fann_build_threads = 1;
int			fann_probing = FANN_PROBING_LEARNED;
double		fann_probe_threshold = 0.1;
int			fann_max_probes = 64;
double		fann_ivf_fraction = 0.05;
FannScanStats fann_last_stats;

static relopt_kind fann_relopt_kind;

static const struct config_enum_entry fann_strategy_options[] = {
	{"auto", FANN_STRATEGY_AUTO, false},
	{"exact", FANN_STRATEGY_EXACT, false},
	{"graph", FANN_STRATEGY_GRAPH, false},
	{"ivf", FANN_STRATEGY_IVF, false},
	{NULL, 0, false}
};

static const struct config_enum_entry fann_probing_options[] = {
	{"learned", FANN_PROBING_LEARNED, false},
	{"nearest", FANN_PROBING_NEAREST, false},
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
	add_int_reloption(fann_relopt_kind, "partitions",
					  "IVF partitions (LIRA); 0 chooses the square root of the row count",
					  0, 0, FANN_MAX_PARTITIONS, AccessExclusiveLock);
	add_bool_reloption(fann_relopt_kind, "redundancy",
					   "List rows the probing model also places in another partition there too (LIRA)",
					   true, AccessExclusiveLock);

	DefineCustomEnumVariable("fann.strategy",
							 "Search path of fann index scans.",
							 "auto chooses per query; exact scans every matching row; graph searches the label navigating graph; ivf probes the learned partitions.",
							 &fann_strategy, FANN_STRATEGY_AUTO, fann_strategy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.ef_search",
							"Size of the candidate list of graph searches.",
							"Larger is slower and finds more of the true nearest neighbours.",
							&fann_ef_search, 64, 1, 10000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.exact_threshold",
							"Filters matching at most this many rows are answered by the exact path.",
							NULL, &fann_exact_threshold, 20000, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.build_threads",
							"Threads of CREATE INDEX: graph, k-means and model training.",
							"Defaults to the number of CPU cores.",
							&fann_build_threads, cores, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("fann.probing",
							 "How the ivf path chooses partitions.",
							 "learned: by the probing model's probabilities (LIRA); nearest: the fann.max_probes nearest centroids.",
							 &fann_probing, FANN_PROBING_LEARNED, fann_probing_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("fann.probe_threshold",
							 "The ivf path probes the partitions whose predicted probability exceeds this.",
							 "Lower is slower and finds more of the true nearest neighbours.",
							 &fann_probe_threshold, 0.1, 0.0, 1.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.max_probes",
							"Most partitions the ivf path probes at first (with fann.probing = nearest: how many).",
							NULL, &fann_max_probes, 64, 1, FANN_MAX_PARTITIONS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("fann.ivf_fraction",
							 "Filters matching at least this fraction of the rows are answered by the ivf path.",
							 NULL, &fann_ivf_fraction, 0.05, 0.0, 1.0,
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
		{"partitions", RELOPT_TYPE_INT, offsetof(FannOptions, partitions)},
		{"redundancy", RELOPT_TYPE_BOOL, offsetof(FannOptions, redundancy)},
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
	Datum		values[9];
	bool		nulls[9] = {false};
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
	nulls[3] = s->rows_matching < 0;	/* every row, by the ivf path: not counted */
	values[4] = Int64GetDatum(s->elements_visited);
	values[5] = Int64GetDatum(s->distance_computations);
	values[6] = Int64GetDatum(s->rows_returned);
	values[7] = Int32GetDatum(s->passes);
	values[8] = Int32GetDatum(s->partitions_probed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
