/*
 * ivfcal.c
 *	  CREATE INDEX's calibration of the ivf path: which probe threshold
 *	  reaches each recall target, unfiltered and under filters of
 *	  selectivity 1/2 ... 1/64, on sample rows of the table used as queries,
 *	  and the share of the rows each threshold probes (auto's cost of the
 *	  path, cost.c).  The graph path's counterpart is graphcal.c.
 *	  fann_calibrate() measures them again on queries an application gives:
 *	  rows are not always like the queries (held-out images, text against
 *	  image embeddings), and the thresholds hold for what they measured.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "access/table.h"
#include "access/tableam.h"
#include "candidates.h"
#include "catalog/index.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "fmgr.h"
#include "ivf.h"
#include "miscadmin.h"
#include "parallel.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* Sample rows the probe thresholds are measured on, or queries at most */
#define FANN_CALIBRATION_QUERIES	500
/* Queries fann_calibrate needs at least */
#define FANN_CALIBRATE_MIN_QUERIES	10

/* The nearest rows a calibration query needs, for filters down to 1/64 */
#define FANN_CALIBRATION_NEAR	(FANN_LIRA_TARGET_K << (FANN_SELECTIVITY_LEVELS - 1))

/* A true neighbour of a calibration query: its partitions' largest logit */
typedef struct CalibrationKey
{
	float		key;
	int			query;
} CalibrationKey;

/*
 * A calibration under way: nq queries' keys at each selectivity level and
 * their shares probed at each threshold of the ladder, over partitions
 * listing sizes[c] of nrows rows
 */
typedef struct Calibration
{
	const FannProber *p;
	int			nq;
	int			q;				/* queries added */
	const int64 *sizes;
	int64		nrows;
	CalibrationKey *keys;		/* level l's from keys + l * nq * k */
	int			nkeys[FANN_SELECTIVITY_LEVELS];
	double		share[FANN_PROBE_LADDER];
	void	   *scratch;
	float	   *dists;
	float	   *logits;
	FannCandidate *order;
} Calibration;

static int
cmp_key_desc(const void *a, const void *b)
{
	float		x = ((const CalibrationKey *) a)->key;
	float		y = ((const CalibrationKey *) b)->key;

	return (x < y) - (x > y);
}

/*
 * Add a query's share of the rows probed at each threshold of the ladder
 * (fann.h) to share's: the rows listed in the partitions whose logits pass
 * the threshold's cut, the first always, none beyond fann.max_probes, as a
 * search probes them (auto's cost of the ivf path, cost.c); order is
 * scratch for P partitions
 */
static void
probed_shares(double *share, const float *logits, const int64 *sizes, int P,
			  int64 nrows, FannCandidate *order)
{
	int64		rows = 0;
	int			n = 0;

	for (int c = 0; c < P; c++)
	{
		order[c].distance = -logits[c];
		order[c].id = c;
	}
	FannCandidateSort(order, P);
	for (int l = 0; l < FANN_PROBE_LADDER; l++)
	{
		double		t = pow(10, -l / 4.0);
		float		cut = t >= 1 ? INFINITY : (float) log(t / (1 - t));

		while (n < Min(P, fann_max_probes) && (n == 0 || -order[n].distance > cut))
			rows += sizes[order[n++].id];
		share[l] += (double) rows / nrows;
	}
}

/* The probe threshold whose cut keeps a key: just below its probability */
static float4
threshold_below(float key)
{
	return key == INFINITY ? FANN_MAX_PROBE_THRESHOLD :
		key == -INFINITY ? FANN_MIN_PROBE_THRESHOLD :
		1 / (1 + exp(-(key - 1e-3)));
}

/*
 * The probe threshold of each recall target (fann.h) from the keys of nq
 * queries' true neighbours (nkeys of them, in any order; sorted here): cuts
 * are tried from the highest key down, each query's recall being the share
 * of its own keys above the cut, and point i gets the first cut whose mean
 * recall reaches the target i stands for, clear of the sample's error
 * (FannCalibrationReaches), so that new queries reach the target rather
 * than straddle it
 */
static void
thresholds_from_keys(CalibrationKey *keys, int nkeys, int nq, float4 *thresholds)
{
	int		   *total = palloc0(sizeof(int) * nq);
	int		   *found = palloc0(sizeof(int) * nq);
	int			nqueries = 0,
				i = 0;
	double		sum = 0,
				sumsq = 0;

	qsort(keys, nkeys, sizeof(CalibrationKey), cmp_key_desc);
	for (int j = 0; j < nkeys; j++)
		nqueries += total[keys[j].query]++ == 0;
	while (i < FANN_CALIBRATION_POINTS &&
		   FannCalibrationReaches(0, 0, nqueries, FannCalibrationTarget(i)))
		thresholds[i++] = FANN_MAX_PROBE_THRESHOLD;
	for (int j = 0; j < nkeys && i < FANN_CALIBRATION_POINTS; j++)
	{
		int			q = keys[j].query;
		double		n = total[q];

		/* the query's recall rises from found / n to (found + 1) / n */
		sum += 1 / n;
		sumsq += (2 * found[q]++ + 1) / (n * n);
		if (j + 1 < nkeys && keys[j + 1].key == keys[j].key)
			continue;			/* a cut keeps ties together */
		while (i < FANN_CALIBRATION_POINTS &&
			   FannCalibrationReaches(sum, sumsq, nqueries, FannCalibrationTarget(i)))
			thresholds[i++] = threshold_below(keys[j].key);
	}
	while (i < FANN_CALIBRATION_POINTS)
		thresholds[i++] = FANN_MIN_PROBE_THRESHOLD;
	pfree(total);
	pfree(found);
}

static void
calibration_start(Calibration *cal, const FannProber *p, int nq, const int64 *sizes,
				  int64 nrows)
{
	int			P = p->partitions;

	MemSet(cal, 0, sizeof(Calibration));
	cal->p = p;
	cal->nq = nq;
	cal->sizes = sizes;
	cal->nrows = nrows;
	cal->keys = palloc(sizeof(CalibrationKey) * nq * FANN_LIRA_TARGET_K * FANN_SELECTIVITY_LEVELS);
	cal->scratch = palloc(FannProberScratchBytes(p));
	cal->dists = palloc(sizeof(float) * P);
	cal->logits = palloc(sizeof(float) * P);
	cal->order = palloc(sizeof(FannCandidate) * P);
}

/*
 * Add a query: its logits, as searches compute them, and the key of each of
 * its n nearest rows (nearest first), which parts[i] lists (-1: no second
 * partition, neither: not listed) and whose hash is hashes[i].  A row's key
 * is the largest logit among its partitions ranked within fann.max_probes,
 * infinite in the partition the model rates first (always probed).  Level
 * l's filter keeps a row whose hash has l low zero bits, its 10 nearest
 * such rows.
 */
static void
calibration_add(Calibration *cal, const float *query, int n, const int32 (*parts)[2],
				const uint32 *hashes)
{
	int			P = cal->p->partitions,
				q = cal->q++,
				top = 0,
				kept[FANN_SELECTIVITY_LEVELS] = {0};
	const float *logits = cal->logits;

	FannProberLogits(cal->p, query, cal->scratch, cal->dists, cal->logits);
	for (int c = 1; c < P; c++)
		if (logits[c] > logits[top])
			top = c;
	probed_shares(cal->share, logits, cal->sizes, P, cal->nrows, cal->order);
	for (int i = 0; i < n; i++)
	{
		float		key = -INFINITY;

		for (int j = 0; j < 2; j++)
		{
			int			c = parts[i][j],
						rank = 0;

			if (c < 0)
				continue;
			if (c == top)
				key = INFINITY;
			for (int o = 0; o < P; o++)
				rank += logits[o] > logits[c];
			if (rank < fann_max_probes)
				key = Max(key, logits[c]);
		}
		for (int l = 0; l < FANN_SELECTIVITY_LEVELS; l++)
			if ((hashes[i] & ((1u << l) - 1)) == 0 && kept[l] < FANN_LIRA_TARGET_K)
			{
				cal->keys[(Size) l * cal->nq * FANN_LIRA_TARGET_K + cal->nkeys[l]++] =
					(CalibrationKey) {key, q};
				kept[l]++;
			}
	}
}

/* The thresholds and shares the queries added measured, into meta */
static void
calibration_finish(Calibration *cal, FannMetaPage meta)
{
	int			nq = cal->q;

	thresholds_from_keys(cal->keys, cal->nkeys[0], nq, meta->probe_thresholds);
	for (int l = 1; l < FANN_SELECTIVITY_LEVELS; l++)
		thresholds_from_keys(cal->keys + (Size) l * cal->nq * FANN_LIRA_TARGET_K, cal->nkeys[l],
							 nq, meta->filtered_thresholds[l - 1]);
	for (int l = 0; l < FANN_PROBE_LADDER; l++)
		meta->ivf_share[l] = cal->share[l] / nq;
	meta->calibration_queries = nq;
	pfree(cal->keys);
	pfree(cal->scratch);
	pfree(cal->dists);
	pfree(cal->logits);
	pfree(cal->order);
}

/*
 * Offer rows [first, first + n) of rows (dim floats each) to the nq
 * queries' lists of their K nearest, by distance; with self, query q skips
 * its own row self[q].  Pure computation, in parallel over queries.
 */
static void
nearest_rows(const float *queries, int nq, const int64 *self, const float *rows, int64 first,
			 int64 n, int dim, FannDistanceFunction distance, int nthreads, FannNear *near,
			 int *nnear)
{
#pragma omp parallel for schedule(static) num_threads(nthreads)
	for (int q = 0; q < nq; q++)
	{
		const float *qv = queries + (Size) q * dim;

		for (int64 r = 0; r < n; r++)
			if (self == NULL || first + r != self[q])
				FannNearInsert(near + (Size) q * FANN_CALIBRATION_NEAR, &nnear[q],
							   FANN_CALIBRATION_NEAR, distance(qv, rows + (Size) r * dim, dim),
							   (uint32) (first + r));
	}
}

/*
 * Measure which probe threshold reaches each recall target (fann.h), on
 * sample rows that did not train the model (trained), used as queries: the
 * nearest other rows of each, by a full scan, and for each of those the
 * largest logit among its partitions, which the query's cut must stay below
 * to probe one of them, the logits computed by the prober (lira.h), as
 * searches compute them.  The ivf path ranks the rows it probes exactly, so
 * its recall is the fraction of the FANN_LIRA_TARGET_K nearest rows' logits
 * above its cut (thresholds_from_keys).  The same for filters of
 * selectivity 2^-l, l < FANN_SELECTIVITY_LEVELS: the nearest rows a fixed
 * pseudo-random subset of that share of the rows keeps, as a filter that
 * says nothing of the query keeps them (filtered_thresholds).  As at query
 * time, the partition the model rates first is always probed, none ranked
 * beyond fann.max_probes.
 */
void
FannIvfCalibrate(FannMetaPage meta, const FannProber *p, const float *vectors, int64 nrows,
				 const uint64 *trained, const int32 *own, const int32 *second,
				 FannDistanceFunction distance, int nthreads, uint64 seed)
{
	int			P = p->partitions,
				dim = p->dim,
				K = FANN_CALIBRATION_NEAR;
	int			nq = (int) Min(FANN_CALIBRATION_QUERIES, nrows / 4);
	int64	   *queries;
	float	   *qvecs;
	FannNear   *near;
	int		   *nnear;
	int32		(*parts)[2] = palloc(sizeof(int32) * 2 * K);
	uint32	   *hashes = palloc(sizeof(uint32) * K);
	int64	   *sizes;			/* rows listed in each partition */
	Calibration cal;

	meta->calibration_queries = 0;
	if (nq < 10 || P < 2)
		return;
	queries = palloc(sizeof(int64) * nq);
	qvecs = palloc(sizeof(float) * nq * dim);
	for (int q = 0; q < nq; q++)
	{
		int			tries = 0;

		/* held out: not a row that trained the model, where there are others */
		do
			queries[q] = (int64) (FannRandom(&seed) % nrows);
		while (FannIdSetContains(trained, (uint32) nrows, (uint32) queries[q]) && ++tries < 16);
		memcpy(qvecs + (Size) q * dim, vectors + (Size) queries[q] * dim, sizeof(float) * dim);
	}

	/* their nearest rows: every row, a chunk at a time for all queries */
	near = palloc(sizeof(FannNear) * nq * K);
	nnear = palloc0(sizeof(int) * nq);
	for (int64 chunk = 0; chunk < nrows; chunk += FANN_IVF_CHUNK)
	{
		CHECK_FOR_INTERRUPTS();
		nearest_rows(qvecs, nq, queries, vectors + (Size) chunk * dim, chunk,
					 Min(FANN_IVF_CHUNK, nrows - chunk), dim, distance, nthreads, near, nnear);
	}

	sizes = palloc0(sizeof(int64) * P);
	for (int64 r = 0; r < nrows; r++)
	{
		sizes[own[r]]++;
		if (second[r] >= 0)
			sizes[second[r]]++;
	}
	calibration_start(&cal, p, nq, sizes, nrows);
	for (int q = 0; q < nq; q++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nnear[q]; i++)
		{
			uint32		r = near[(Size) q * K + i].id;

			parts[i][0] = own[r];
			parts[i][1] = second[r];
			hashes[i] = murmurhash32(r);
		}
		calibration_add(&cal, qvecs + (Size) q * dim, nnear[q], parts, hashes);
	}
	calibration_finish(&cal, meta);
	pfree(sizes);
	pfree(queries);
	pfree(qvecs);
	pfree(near);
	pfree(nnear);
	pfree(parts);
	pfree(hashes);
}

/* fann_calibrate's scan of the table: its rows' vectors, a chunk at a time */
typedef struct CalibrateScan
{
	int			dim;
	int			nq;
	const float *queries;
	FannDistanceFunction distance;
	int			nthreads;
	MemoryContext rowcxt;		/* a row's values, reset after each */
	float	   *chunk;			/* FANN_IVF_CHUNK rows' vectors */
	int			nchunk;
	ItemPointerData *tids;		/* each row's, by row number */
	int64		nrows;
	int64		maxrows;
	FannNear   *near;
	int		   *nnear;
} CalibrateScan;

static void
scan_flush(CalibrateScan *cs)
{
	CHECK_FOR_INTERRUPTS();
	nearest_rows(cs->queries, cs->nq, NULL, cs->chunk, cs->nrows - cs->nchunk,
				 cs->nchunk, cs->dim, cs->distance, cs->nthreads, cs->near, cs->nnear);
	cs->nchunk = 0;
}

/* A live row with a vector: the TID the index lists it by, its vector */
static void
scan_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	CalibrateScan *cs = state;
	MemoryContext old = MemoryContextSwitchTo(cs->rowcxt);
	int			dim,
				nlabels;
	int32	   *labels = NULL;
	const float *v = FannRowValues(index, values, isnull, &dim, &labels, &nlabels);

	if (v != NULL)
	{
		FannCheckDimensions(dim, cs->dim);
		if (cs->nrows == cs->maxrows)
		{
			cs->maxrows *= 2;
			if (sizeof(ItemPointerData) * cs->maxrows > (Size) maintenance_work_mem * 1024)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("fann_calibrate needs more than maintenance_work_mem (%d MB) for the TIDs of %lld rows",
								maintenance_work_mem / 1024, (long long) cs->nrows),
						 errhint("Increase maintenance_work_mem.")));
			cs->tids = repalloc_huge(cs->tids, sizeof(ItemPointerData) * cs->maxrows);
		}
		cs->tids[cs->nrows++] = *tid;
		memcpy(cs->chunk + (Size) cs->nchunk++ * cs->dim, v, sizeof(float) * cs->dim);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(cs->rowcxt);
	if (cs->nchunk == FANN_IVF_CHUNK)
		scan_flush(cs);
}

/*
 * The partitions listing each of rows[0..n) (row numbers in the order of
 * their TIDs, tids[] by row number): parts[i] gets up to two, -1 for none;
 * sizes[c] the rows listed in partition c
 */
static void
listing_partitions(Relation index, const FannMetaPageData *meta, const uint32 *rows, int64 n,
				   const ItemPointerData *tids, int32 (*parts)[2], int64 *sizes)
{
	FannBlockLayout l;

	FannBlockLayoutFor(meta->dimensions, &l);
	for (int64 i = 0; i < n; i++)
		parts[i][0] = parts[i][1] = -1;
	for (int c = 0; c < (int) meta->partitions; c++)
	{
		BlockNumber blkno = FannPartitionFirstBlock(index, meta, c);

		while (blkno != InvalidBlockNumber)
		{
			Buffer		buf = FannReadBuffer(index, blkno);
			Page		page;
			int			nblocks;

			CHECK_FOR_INTERRUPTS();
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			FannCheckPage(page, FANN_PAGE_PARTITION, index, blkno);
			nblocks = FannBlockCount(page, &l);
			for (int b = 0; b < nblocks; b++)
			{
				FannBlock	blk = FannPageGetBlock(page, &l, b);

				for (int r = 0; r < Min(blk->nrows, FANN_BLOCK_ROWS); r++)
				{
					int64		i;

					if (blk->ids[r] == InvalidFannId)
						continue;
					sizes[c]++;
					if ((i = FannFindIdByTid(rows, n, tids, &blk->tids[r])) >= 0)
						parts[i][parts[i][0] < 0 ? 0 : 1] = c;
				}
			}
			blkno = FannPageGetOpaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
	}
}

/* The query vectors a SELECT returns, at most FANN_CALIBRATION_QUERIES */
static float *
query_vectors(Relation index, const FannMetaPageData *meta, const char *sql, int *nq)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			want = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;
	FannVectorType type = FannIndexVectorType(index);
	float	   *queries;
	TupleDesc	desc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, true, FANN_CALIBRATION_QUERIES) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fann_calibrate: queries must be a SELECT of the query vectors")));
	desc = SPI_tuptable->tupdesc;
	if (desc->natts != 1 || TupleDescAttr(desc, 0)->atttypid != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("fann_calibrate: queries must return one column of type %s, the index's vectors",
						format_type_be(want))));
	*nq = (int) SPI_processed;
	if (*nq < FANN_CALIBRATE_MIN_QUERIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fann_calibrate: %d queries, it needs at least %d", *nq,
						FANN_CALIBRATE_MIN_QUERIES)));
	queries = MemoryContextAlloc(caller, sizeof(float) * *nq * meta->dimensions);
	for (int q = 0; q < *nq; q++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[q], desc, 1, &isnull);
		int			dim;
		const float *v;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("fann_calibrate: query vector %d is NULL", q + 1)));
		v = FannVectorFromDatum(d, type, &dim, true);
		FannCheckDimensions(dim, meta->dimensions);
		memcpy(queries + (Size) q * meta->dimensions, v, sizeof(float) * dim);
	}
	SPI_finish();
	return queries;
}

/*
 * fann_calibrate(index, queries): measure the ivf path's probe thresholds
 * (fann_calibration()) again, as CREATE INDEX does (FannIvfCalibrate), on
 * the query vectors the SELECT queries returns (at most 500, at least 10)
 * in place of sample rows; returns how many.  Their nearest rows come from
 * a scan of the table (the live rows, each by the TID the index lists it
 * by), the partitions listing those rows from the partition pages.  The
 * metapage is written in one WAL record.  Takes ShareUpdateExclusiveLock on
 * the table (one calibration, VACUUM or CREATE INDEX CONCURRENTLY at a
 * time) and RowExclusiveLock on the index: queries and writes go on.
 */
PG_FUNCTION_INFO_V1(fann_calibrate);
Datum
fann_calibrate(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	heap;
	Relation	index = FannOpenIndex(PG_GETARG_OID(0), ShareUpdateExclusiveLock,
									  RowExclusiveLock, &heap);
	FannMetaPageData meta;
	FannProber	p;
	CalibrateScan cs;
	IndexInfo  *info;
	TableScanDesc scan;
	Snapshot	snapshot;
	uint32	   *rows;
	int64		nrows = 0;
	int32		(*parts)[2];
	int64	   *sizes;
	int32		(*qparts)[2] = palloc(sizeof(int32) * 2 * FANN_CALIBRATION_NEAR);
	uint32	   *hashes = palloc(sizeof(uint32) * FANN_CALIBRATION_NEAR);
	Calibration cal;
	Buffer		buf;
	GenericXLogState *state;
	int			nq;

	FannGetMetaSnapshot(index, &meta);
	if (meta.partitions < 2)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fann index \"%s\" has no partitions to calibrate",
						RelationGetRelationName(index)),
				 errhint("An index built on an empty table has none: REINDEX it once the table has rows.")));

	MemSet(&cs, 0, sizeof(cs));
	cs.dim = meta.dimensions;
	cs.queries = query_vectors(index, &meta, sql, &cs.nq);
	nq = cs.nq;
	cs.distance = FannGetDistance((FannMetric) meta.metric);
	cs.nthreads = fann_build_threads;
	cs.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "fann calibrate row",
									  ALLOCSET_SMALL_SIZES);
	cs.chunk = palloc(sizeof(float) * FANN_IVF_CHUNK * cs.dim);
	cs.maxrows = 1024;
	cs.tids = palloc(sizeof(ItemPointerData) * cs.maxrows);
	cs.near = palloc(sizeof(FannNear) * nq * FANN_CALIBRATION_NEAR);
	cs.nnear = palloc0(sizeof(int) * nq);
	FannStartThreads();

	/* the queries' nearest live rows, as a concurrent index build sees rows */
	info = BuildIndexInfo(index);
	info->ii_Concurrent = true;
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = table_beginscan_strat(heap, snapshot, 0, NULL, true, false);
	table_index_build_scan(heap, index, info, true, false, scan_callback, &cs, scan);
	UnregisterSnapshot(snapshot);
	if (cs.nchunk > 0)
		scan_flush(&cs);

	/* the partitions listing each of those rows (each once) */
	rows = palloc(sizeof(uint32) * nq * FANN_CALIBRATION_NEAR);
	for (int q = 0; q < nq; q++)
		for (int i = 0; i < cs.nnear[q]; i++)
			rows[nrows++] = cs.near[(Size) q * FANN_CALIBRATION_NEAR + i].id;
	qsort_arg(rows, nrows, sizeof(uint32), FannCompareIdTids, cs.tids);
	nrows = qunique_arg(rows, nrows, sizeof(uint32), FannCompareIdTids, cs.tids);
	parts = palloc(sizeof(int32) * 2 * Max(nrows, 1));
	sizes = palloc0(sizeof(int64) * meta.partitions);
	listing_partitions(index, &meta, rows, nrows, cs.tids, parts, sizes);

	/* each query's keys, the thresholds */
	FannProberCached(index, &meta, &p);
	calibration_start(&cal, &p, nq, sizes, cs.nrows);
	for (int q = 0; q < nq; q++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < cs.nnear[q]; i++)
		{
			uint32		r = cs.near[(Size) q * FANN_CALIBRATION_NEAR + i].id;
			int64		u = FannFindIdByTid(rows, nrows, cs.tids, &cs.tids[r]);

			qparts[i][0] = parts[u][0];
			qparts[i][1] = parts[u][1];
			hashes[i] = murmurhash32(r);
		}
		calibration_add(&cal, cs.queries + (Size) q * cs.dim, cs.nnear[q], qparts, hashes);
	}
	calibration_finish(&cal, &meta);

	/* into the metapage, which inserts may have changed meanwhile */
	buf = ReadBuffer(index, FANN_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	{
		FannMetaPage m = FannPageGetMeta(GenericXLogRegisterBuffer(state, buf, 0));

		m->calibration_queries = meta.calibration_queries;
		memcpy(m->probe_thresholds, meta.probe_thresholds, sizeof(m->probe_thresholds));
		memcpy(m->filtered_thresholds, meta.filtered_thresholds, sizeof(m->filtered_thresholds));
		memcpy(m->ivf_share, meta.ivf_share, sizeof(m->ivf_share));
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);

	index_close(index, RowExclusiveLock);
	table_close(heap, ShareUpdateExclusiveLock);
	PG_RETURN_INT32(nq);
}
