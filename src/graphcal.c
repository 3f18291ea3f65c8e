/*
 * graphcal.c
 *	  CREATE INDEX's calibration of the graph path: which fann.ef_search
 *	  reaches each recall target on the index's own rows, so that a query
 *	  with fann.ef_search = 0 searches with what fann.target_recall needs.
 *
 * The ef a recall needs depends on the data and the filter (SIFT: ef 20 for
 * 0.95 under equality, 384 under containment), so a fixed default holds on
 * the data it was chosen on only; the ivf path measures its probe thresholds for the
 * same reason (ivfcal.c).  Sample rows are the queries, each three times,
 * under filters drawn from other random rows as UNG's workloads draw them (a
 * query's vector says nothing of its filter): an equality with that row's
 * label set (one group, intra-group edges) and containments of one and of
 * two of its labels (groups reached over cross edges: the many-group shape
 * of containment and overlap), each redrawn until it selects what auto
 * sends to the graph, more than fann.exact_threshold rows (smaller filters
 * are searched whole at any ef and would only flatter the mean; on a table
 * with few such filters, FANN_GRAPH_CALIBRATION_MIN_FRACTION of it).  Each
 * is searched on the finished index by the graph path itself at a ladder of
 * ef values, and its recall@10 counted as a scan would return rows:
 * candidates come out by the lower bounds of their distances, a row found
 * late (before the last one handed out) waits past the first k, and a row is
 * returned once no later candidate can come before it (the executor's
 * reordering, scan.c), exactly ranked from the build's vectors.  Point i of
 * each curve gets the smallest ef whose mean recall reaches the target i
 * stands for, clear of the sample's error (FannCalibrationReaches), as the
 * probe thresholds do; the curve
 * of predicates other than equality the larger of the two containments'
 * (one label's filter is broad, two labels' often a few small groups).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "build.h"
#include "parallel.h"
#include "search.h"

#define FANN_GRAPH_CALIBRATION_QUERIES	200
#define FANN_GRAPH_CALIBRATION_K		10
/* Candidates a calibration search reads at most for its k rows */
#define FANN_GRAPH_CALIBRATION_PULL		4096
/* Rows drawn for a filter of a calibration query at most */
#define FANN_GRAPH_CALIBRATION_DRAWS	32
/* Filters select at least this fraction of a table of few large ones */
#define FANN_GRAPH_CALIBRATION_MIN_FRACTION	0.05
/* Rows between interrupt checks of the exact answers */
#define FANN_GRAPH_CALIBRATION_CHUNK	65536

/* The ef values measured, each about 1.25 times the last */
static const int ef_ladder[] = {8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96,
	128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048};

#define FANN_EF_LADDER	lengthof(ef_ladder)

/* What the calibration reads: the build's rows (build.h) */
typedef struct Calibration
{
	Relation	index;
	FannMetaPageData meta;
	BlockNumber nblocks;
	FannDistanceFunction distance;
	const float *vectors;
	int			dim;
	int64		nrows;
	uint32	   *by_id;			/* rows in element id order */
	const uint32 *ids;
	FannBuildGroup **groups;
	int			ngroups;
	int			words;			/* of a set of indexes into groups[] */
	int		   *rowgroup;		/* each row's index in groups[] */
} Calibration;

/* The filters each sample row is searched under (draw_filter) */
#define FANN_KIND_EQUAL			0
#define FANN_KIND_CONTAINS1		1
#define FANN_KIND_CONTAINS2		2
#define FANN_KINDS				3

/* Query i's filter of kind among the queries' filters */
static inline uint64 *
filter_of(uint64 *filters, const Calibration *cal, int i, int kind)
{
	return filters + ((Size) i * FANN_KINDS + kind) * cal->words;
}

static int
cmp_rows_by_id(const void *a, const void *b, void *arg)
{
	const uint32 *ids = arg;
	uint32		x = ids[*(const uint32 *) a];
	uint32		y = ids[*(const uint32 *) b];

	return (x > y) - (x < y);
}

/* The row of element id, or -1 */
static int64
row_of(const Calibration *cal, uint32 id)
{
	int64		lo = 0,
				hi = cal->nrows;

	while (lo < hi)
	{
		int64		mid = (lo + hi) / 2;

		if (cal->ids[cal->by_id[mid]] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < cal->nrows && cal->ids[cal->by_id[lo]] == id ? cal->by_id[lo] : -1;
}

/*
 * Recall@k of a graph search at ef for the query row q over the groups of
 * set, against truth[0..ntruth) (rows), the query row itself left out
 */
static double
search_recall(Calibration *cal, FannGroupSet *set, int64 q, int ef,
			  const FannNear *truth, int ntruth, double *work)
{
	FannSearchInput in;
	FannScanStats stats;
	FannSearch *search;
	FannCandidate c;
	FannCandidate last = {0};
	bool		has_last = false;
	FannIdHash	self;
	float		held[FANN_GRAPH_CALIBRATION_PULL];
	int			nheld = 0;
	int			returned = 0;
	int			hits = 0;
	int			k = Min(FANN_GRAPH_CALIBRATION_K, ntruth);
	const float *qv = cal->vectors + (Size) q * cal->dim;

	MemSet(&in, 0, sizeof(in));
	MemSet(&stats, 0, sizeof(stats));
	in.index = cal->index;
	in.meta = &cal->meta;
	in.nblocks = cal->nblocks;
	in.groups = set;
	in.distance = cal->distance;
	in.query = qv;
	in.stats = &stats;
	in.ef = ef;
	/* a query that is not in the graph, as the table's queries are not */
	FannIdHashInit(&self, 1);
	FannIdHashAdd(&self, cal->ids[q]);
	in.skip = &self;
	search = FannGraphSearch.begin(&in);

	/*
	 * As scan.c takes them: a row found late, before the last one handed
	 * out, waits for the leftover phase, past these k.  Held rows are
	 * returned once a candidate's lower bound reaches their distance; when
	 * the search ends, the exact searches return the rest in order: those
	 * count as found.
	 */
	while (returned < k)
	{
		bool		more = nheld < lengthof(held) && FannSearchNext(search, &c);
		int64		r = more ? row_of(cal, c.id) : -1;

		if (more && (r < 0 || (has_last && FannCandidateCompare(&c, &last) <= 0)))
			continue;
		if (more)
		{
			last = c;
			has_last = true;
			held[nheld++] = cal->distance(qv, cal->vectors + (Size) r * cal->dim, cal->dim);
		}
		while (returned < k && nheld > 0)
		{
			int			best = 0;

			for (int i = 1; i < nheld; i++)
				if (held[i] < held[best])
					best = i;
			if (more && held[best] > c.distance)
				break;
			/* a true neighbour, unless the k-th true one is nearer */
			hits += held[best] <= truth[k - 1].dist;
			returned++;
			held[best] = held[--nheld];
		}
		if (!more)
		{
			hits += k - returned;
			break;
		}
	}
	FannSearchEnd(search);
	FannIdHashFree(&self);
	*work = stats.distance_computations;
	return (double) Min(hits, k) / k;
}

/*
 * A filter of kind drawn from row r as UNG's workloads draw them: r's label
 * set (=), one of its labels or two of them (@>), as a set of indexes into
 * groups[];
 * the rows it selects, or -1 if r has no labels ('= {}' and '@> {}' are no
 * graph searches)
 */
static int64
draw_filter(const Calibration *cal, int kind, int64 r, uint64 *seed, uint64 *match)
{
	const FannBuildGroup *own = cal->groups[cal->rowgroup[r]];
	int			a,
				b;
	int32		sub[2];
	int			nsub = 0;
	int64		rows = 0;

	memset(match, 0, sizeof(uint64) * cal->words);
	if (own->nlabels < 1)
		return -1;
	a = (int) (FannRandom(seed) % own->nlabels);
	b = a;
	for (int tries = 0; kind == FANN_KIND_CONTAINS2 && a == b && own->nlabels > 1 &&
		 tries < 8; tries++)
		b = (int) (FannRandom(seed) % own->nlabels);
	sub[nsub++] = own->labels[Min(a, b)];
	if (a != b)
		sub[nsub++] = own->labels[Max(a, b)];
	for (int g = 0; g < cal->ngroups; g++)
	{
		if (kind == FANN_KIND_EQUAL ? g == cal->rowgroup[r] :
			FannLabelsSubset(sub, nsub, cal->groups[g]->labels,
							 Max(cal->groups[g]->nlabels, 0)))
		{
			FannIdSetAdd(match, cal->ngroups, g);
			rows += cal->groups[g]->count;
		}
	}
	return rows;
}

/*
 * A filter of kind for a query: drawn from other rows (a query's vector says
 * nothing of its filter) until one selects at least min_rows rows, else the
 * largest drawn
 */
static void
choose_filter(const Calibration *cal, int kind, int64 min_rows, uint64 *seed,
			  uint64 *match, uint64 *scratch)
{
	int64		best = -1;

	memset(match, 0, sizeof(uint64) * cal->words);
	for (int tries = 0; tries < FANN_GRAPH_CALIBRATION_DRAWS && best < min_rows; tries++)
	{
		int64		rows = draw_filter(cal, kind, (int64) (FannRandom(seed) % cal->nrows),
									   seed, scratch);

		if (rows > best)
		{
			best = rows;
			memcpy(match, scratch, sizeof(uint64) * cal->words);
		}
	}
}

/*
 * Fill meta's graph_ef from searches of the finished index (its metapage as
 * now written) with sample rows of vectors[0..nrows) (row-major; ids and
 * gids their elements and groups) as queries; groups[0..ngroups) are the
 * build's groups in ascending group id order.
 */
void
FannGraphCalibrate(Relation index, FannMetaPage meta, const float *vectors,
				   int64 nrows, const uint32 *ids, const uint32 *gids,
				   FannBuildGroup **groups, int ngroups)
{
	Calibration cal;
	int			nq = (int) Min(FANN_GRAPH_CALIBRATION_QUERIES, nrows / 4);
	int			K = FANN_GRAPH_CALIBRATION_K;
	int			ng = Max(ngroups, 1);
	uint64		seed = UINT64CONST(0x6772617068);	/* "graph" */
	uint32	   *gidlist = palloc(sizeof(uint32) * ng);
	int64	   *queries;
	uint64	   *filters;		/* [query][kind]: sets of indexes into groups[] */
	FannNear   *truth;			/* [query][kind][K] */
	int		   *ntruth;
	uint32	   *sel;
	uint64	   *scratch;
	MemoryContext setcxt;
	int64		min_rows;
	double		sum[FANN_KINDS][FANN_EF_LADDER] = {{0}};
	double		sumsq[FANN_KINDS][FANN_EF_LADDER] = {{0}};
	double		work_sum[FANN_KINDS][FANN_EF_LADDER] = {{0}};
	int			nmeasured[FANN_KINDS] = {0};

	meta->graph_calibration_queries = 0;
	cal.words = ngroups / 64 + 1;
	/* the queries' filters within a quarter of maintenance_work_mem */
	nq = (int) Min(nq, (Size) maintenance_work_mem * 1024 / 4 /
				   (sizeof(uint64) * FANN_KINDS * cal.words));
	if (nq < 10 || meta->dimensions == 0)
		return;

	cal.index = index;
	FannGetMetaSnapshot(index, &cal.meta);
	cal.nblocks = RelationGetNumberOfBlocks(index);
	cal.distance = FannGetDistance((FannMetric) meta->metric);
	cal.vectors = vectors;
	cal.dim = meta->dimensions;
	cal.nrows = nrows;
	cal.ids = ids;
	cal.groups = groups;
	cal.ngroups = ngroups;
	cal.by_id = palloc_extended(sizeof(uint32) * nrows, MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < nrows; r++)
		cal.by_id[r] = (uint32) r;
	qsort_arg(cal.by_id, nrows, sizeof(uint32), cmp_rows_by_id, (void *) ids);
	/* each row's group, by its index in groups[] */
	for (int g = 0; g < ngroups; g++)
		gidlist[g] = groups[g]->gid;
	cal.rowgroup = palloc_extended(sizeof(int) * nrows, MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < nrows; r++)
		cal.rowgroup[r] = FannIdLowerBound(gidlist, ngroups, gids[r]);

	/*
	 * The queries, and the groups each kind of filter selects for them:
	 * filters auto would send to the graph, of more than fann.exact_threshold
	 * rows (a smaller one is searched whole, at any ef), or on a table with
	 * few such, of FANN_GRAPH_CALIBRATION_MIN_FRACTION of it
	 */
	queries = palloc(sizeof(int64) * nq);
	filters = palloc_extended(sizeof(uint64) * nq * FANN_KINDS * cal.words, MCXT_ALLOC_HUGE);
	scratch = palloc(sizeof(uint64) * cal.words);
	min_rows = (int64) Min((double) fann_exact_threshold,
						   FANN_GRAPH_CALIBRATION_MIN_FRACTION * nrows);
	for (int i = 0; i < nq; i++)
	{
		queries[i] = (int64) (FannRandom(&seed) % nrows);
		for (int kind = 0; kind < FANN_KINDS; kind++)
			choose_filter(&cal, kind, min_rows, &seed, filter_of(filters, &cal, i, kind),
						  scratch);
	}

	/* their k nearest matching rows: every row, a chunk at a time */
	truth = palloc(sizeof(FannNear) * nq * FANN_KINDS * K);
	ntruth = palloc0(sizeof(int) * nq * FANN_KINDS);
	for (int64 chunk = 0; chunk < nrows; chunk += FANN_GRAPH_CALIBRATION_CHUNK)
	{
		CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(dynamic) num_threads(fann_build_threads)
		for (int i = 0; i < nq; i++)
		{
			const float *qv = vectors + (Size) queries[i] * cal.dim;

			for (int64 r = chunk; r < Min(nrows, chunk + FANN_GRAPH_CALIBRATION_CHUNK); r++)
			{
				float		d = 0;
				bool		have = false;

				if (r == queries[i])
					continue;
				for (int kind = 0; kind < FANN_KINDS; kind++)
				{
					if (!FannIdSetContains(filter_of(filters, &cal, i, kind), ngroups,
											cal.rowgroup[r]))
						continue;
					if (!have)
						d = cal.distance(qv, vectors + (Size) r * cal.dim, cal.dim);
					have = true;
					FannNearInsert(truth + ((Size) i * FANN_KINDS + kind) * K,
								   &ntruth[i * FANN_KINDS + kind], K, d, (uint32) r);
				}
			}
		}
	}

	/* each searched at the ladder's ef values, its set's memory freed after */
	sel = palloc(sizeof(uint32) * ng);
	setcxt = AllocSetContextCreate(CurrentMemoryContext, "fann graph calibration",
								   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < nq; i++)
		for (int kind = 0; kind < FANN_KINDS; kind++)
		{
			FannGroupSet set;
			int			nsel = 0;
			double		recall = 0;
			double		work = 0;
			MemoryContext oldcxt;

			if (ntruth[i * FANN_KINDS + kind] == 0)
				continue;
			for (int g = 0; g < ngroups; g++)
				if (FannIdSetContains(filter_of(filters, &cal, i, kind), ngroups, g))
					sel[nsel++] = gidlist[g];
			oldcxt = MemoryContextSwitchTo(setcxt);
			FannGroupSetFromList(index, &cal.meta, sel, nsel, kind == FANN_KIND_EQUAL, &set);
			/*
			 * recall only grows with ef: once every neighbour is found,
			 * stop, and take the work as growing with ef from there
			 */
			for (int e = 0, last = 0; e < (int) FANN_EF_LADDER; e++)
			{
				CHECK_FOR_INTERRUPTS();
				if (recall < 1)
				{
					recall = search_recall(&cal, &set, queries[i], ef_ladder[e],
										   truth + ((Size) i * FANN_KINDS + kind) * K,
										   ntruth[i * FANN_KINDS + kind], &work);
					last = e;
				}
				sum[kind][e] += recall;
				sumsq[kind][e] += recall * recall;
				work_sum[kind][e] += work * ef_ladder[e] / ef_ladder[last];
			}
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(setcxt);
			nmeasured[kind]++;
		}
	MemoryContextDelete(setcxt);

	/*
	 * Point i: the smallest ef whose mean recall reaches the target, with
	 * the sample's error, and the distances its searches computed on
	 * average (auto's cost, cost.c); other predicates take the larger of
	 * the two containment shapes' (either may be the workload)
	 */
	for (int kind = 0; kind < FANN_KINDS; kind++)
		for (int i = 0; i < FANN_CALIBRATION_POINTS; i++)
		{
			double		target = FannCalibrationTarget(i);
			int			e = 0;
			int			curve = kind == FANN_KIND_EQUAL ? 0 : 1;

			while (e < (int) FANN_EF_LADDER - 1 &&
				   !FannCalibrationReaches(sum[kind][e], sumsq[kind][e], nmeasured[kind], target))
				e++;
			if (kind != FANN_KIND_CONTAINS2 || ef_ladder[e] > meta->graph_ef[curve][i])
			{
				meta->graph_ef[curve][i] = ef_ladder[e];
				meta->graph_work[curve][i] = work_sum[kind][e] / Max(nmeasured[kind], 1);
			}
		}
	meta->graph_calibration_queries = nmeasured[FANN_KIND_EQUAL];
	pfree(cal.by_id);
	pfree(cal.rowgroup);
	pfree(gidlist);
	pfree(queries);
	pfree(filters);
	pfree(truth);
	pfree(ntruth);
	pfree(sel);
	pfree(scratch);
}
