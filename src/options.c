/*
 * options.c
 *	  fann's parameters: the reloptions of CREATE INDEX and the GUCs of the
 *	  scans and the build, with their defaults and ranges from fann.h.
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "fann.h"
#include "utils/guc.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int			fann_strategy = FANN_STRATEGY_AUTO;
int			fann_ef_search = FANN_DEFAULT_EF_SEARCH;
int			fann_exact_threshold = FANN_DEFAULT_EXACT_THRESHOLD;
int			fann_build_threads = FANN_MIN_BUILD_THREADS;
int			fann_probing = FANN_PROBING_LEARNED;
double		fann_probe_threshold = FANN_DEFAULT_PROBE_THRESHOLD;
double		fann_target_recall = FANN_DEFAULT_TARGET_RECALL;
int			fann_max_probes = FANN_DEFAULT_MAX_PROBES;

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

/* Register the reloptions and GUCs (from _PG_init) */
void
FannDefineOptions(void)
{
	int			cores = 1;

#ifdef _OPENMP
	cores = Min(omp_get_num_procs(), FANN_MAX_BUILD_THREADS);
#endif
	fann_relopt_kind = add_reloption_kind();
	add_int_reloption(fann_relopt_kind, "graph_degree",
					  "Intra-group neighbours per row in the graph (Vamana R)",
					  FANN_DEFAULT_GRAPH_DEGREE, FANN_MIN_GRAPH_DEGREE,
					  FANN_MAX_GRAPH_DEGREE, AccessExclusiveLock);
	add_int_reloption(fann_relopt_kind, "build_list",
					  "Search list size while building the graph (Vamana L)",
					  FANN_DEFAULT_BUILD_LIST, FANN_MIN_BUILD_LIST,
					  FANN_MAX_BUILD_LIST, AccessExclusiveLock);
	add_real_reloption(fann_relopt_kind, "alpha",
					   "Pruning slack of the graph (Vamana alpha)",
					   FANN_DEFAULT_ALPHA, FANN_MIN_ALPHA, FANN_MAX_ALPHA,
					   AccessExclusiveLock);
	add_int_reloption(fann_relopt_kind, "cross_edges",
					  "Edges per row into the groups of minimal supersets of its label set (UNG)",
					  FANN_DEFAULT_CROSS_EDGES, FANN_MIN_CROSS_EDGES,
					  FANN_MAX_CROSS_EDGES, AccessExclusiveLock);
	add_int_reloption(fann_relopt_kind, "partitions",
					  "IVF partitions (LIRA); 0 chooses the square root of the row count",
					  FANN_DEFAULT_PARTITIONS, FANN_MIN_PARTITIONS,
					  FANN_MAX_PARTITIONS, AccessExclusiveLock);
	add_bool_reloption(fann_relopt_kind, "redundancy",
					   "List rows the probing model also places in another partition there too (LIRA)",
					   FANN_DEFAULT_REDUNDANCY, AccessExclusiveLock);

	DefineCustomEnumVariable("fann.strategy",
							 "Search path of fann index scans.",
							 "auto chooses per query; exact scans every matching row; graph searches the label navigating graph; ivf probes the learned partitions.",
							 &fann_strategy, FANN_STRATEGY_AUTO, fann_strategy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.ef_search",
							"Size of the candidate list of graph searches; 0: what reaches fann.target_recall.",
							"Larger is slower and finds more of the true nearest neighbours.",
							&fann_ef_search, FANN_DEFAULT_EF_SEARCH,
							FANN_MIN_EF_SEARCH, FANN_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.exact_threshold",
							"Filters matching at most this many rows are answered by the exact path, larger ones by the path auto rates cheapest.",
							NULL, &fann_exact_threshold, FANN_DEFAULT_EXACT_THRESHOLD,
							FANN_MIN_EXACT_THRESHOLD, FANN_MAX_EXACT_THRESHOLD,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.build_threads",
							"Threads of CREATE INDEX: graph, k-means and model training.",
							"Defaults to the number of CPU cores.",
							&fann_build_threads, cores,
							FANN_MIN_BUILD_THREADS, FANN_MAX_BUILD_THREADS,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("fann.probing",
							 "How the ivf path chooses partitions.",
							 "learned: by the probing model's probabilities (LIRA); nearest: the fann.max_probes nearest centroids.",
							 &fann_probing, FANN_PROBING_LEARNED, fann_probing_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("fann.target_recall",
							 "The recall@10 the ivf and graph paths aim at, from what the index measured when it was built.",
							 "fann.probe_threshold and fann.ef_search, when set above 0, override it.",
							 &fann_target_recall, FANN_DEFAULT_TARGET_RECALL,
							 FANN_MIN_TARGET_RECALL, FANN_MAX_TARGET_RECALL,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("fann.probe_threshold",
							 "The ivf path probes the partitions whose predicted probability exceeds this; 0: what reaches fann.target_recall.",
							 "Lower is slower and finds more of the true nearest neighbours.",
							 &fann_probe_threshold, FANN_DEFAULT_PROBE_THRESHOLD,
							 FANN_MIN_PROBE_THRESHOLD, FANN_MAX_PROBE_THRESHOLD,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("fann.max_probes",
							"Most partitions the ivf path probes at first (with fann.probing = nearest: how many).",
							NULL, &fann_max_probes, FANN_DEFAULT_MAX_PROBES,
							FANN_MIN_MAX_PROBES, FANN_MAX_MAX_PROBES,
							PGC_USERSET, 0, NULL, NULL, NULL);
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
