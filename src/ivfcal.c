/*
 * ivfcal.c
 *	  CREATE INDEX's calibration of the ivf path: which probe threshold
 *	  reaches each recall target, unfiltered and under filters of
 *	  selectivity 1/2 ... 1/64, on sample rows of the table used as queries,
 *	  and the share of the rows each threshold probes (auto's cost of the
 *	  path, cost.c).  The graph path's counterpart is graphcal.c.
 */
#include "postgres.h"

#include <math.h>

#include "candidates.h"
#include "common/hashfn.h"
#include "ivf.h"
#include "miscadmin.h"
#include "parallel.h"

/* Sample rows the probe thresholds are measured on */
#define FANN_CALIBRATION_QUERIES	500

/* A true neighbour of a calibration query: its partitions' largest logit */
typedef struct CalibrationKey
{
	float		key;
	int			query;
} CalibrationKey;

static int
cmp_key_desc(const void *a, const void *b)
{
	float		x = ((const CalibrationKey *) a)->key;
	float		y = ((const CalibrationKey *) b)->key;

	return (x < y) - (x > y);
}

/*
 * Add a query's share of the rows probed at each threshold of the ladder
 * (fann.h) to meta's: the rows listed in the partitions whose logits pass
 * the threshold's cut, the first always, none beyond fann.max_probes, as a
 * search probes them (auto's cost of the ivf path, cost.c); order is
 * scratch for P partitions
 */
static void
probed_shares(FannMetaPage meta, const float *logits, const int64 *sizes, int P,
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
		meta->ivf_share[l] += (double) rows / nrows;
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
				K = FANN_LIRA_TARGET_K << (FANN_SELECTIVITY_LEVELS - 1);
	float	   *dists;
	float	   *logits;
	void	   *scratch;
	int			nq = (int) Min(FANN_CALIBRATION_QUERIES, nrows / 4);
	int		   *nkeys;
	int64	   *queries;
	FannNear   *near;
	int		   *nnear;
	CalibrationKey *keys;
	int64	   *sizes;			/* rows listed in each partition */
	FannCandidate *order;

	meta->calibration_queries = 0;
	if (nq < 10 || P < 2)
		return;
	queries = palloc(sizeof(int64) * nq);
	for (int q = 0; q < nq; q++)
	{
		int			tries = 0;

		/* held out: not a row that trained the model, where there are others */
		do
			queries[q] = (int64) (FannRandom(&seed) % nrows);
		while (FannIdSetContains(trained, (uint32) nrows, (uint32) queries[q]) && ++tries < 16);
	}

	/* their nearest rows: every row, a chunk at a time for all queries */
	near = palloc(sizeof(FannNear) * nq * K);
	nnear = palloc0(sizeof(int) * nq);
	for (int64 chunk = 0; chunk < nrows; chunk += FANN_IVF_CHUNK)
	{
		CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(static) num_threads(nthreads)
		for (int q = 0; q < nq; q++)
		{
			const float *qv = vectors + (Size) queries[q] * dim;

			for (int64 r = chunk; r < Min(nrows, chunk + FANN_IVF_CHUNK); r++)
				if (r != queries[q])
					FannNearInsert(near + (Size) q * K, &nnear[q], K,
								   distance(qv, vectors + (Size) r * dim, dim), (uint32) r);
		}
	}

	/* the queries' logits, as searches compute them, and each nearest row's key */
	keys = palloc(sizeof(CalibrationKey) * nq * FANN_LIRA_TARGET_K * FANN_SELECTIVITY_LEVELS);
	nkeys = palloc0(sizeof(int) * FANN_SELECTIVITY_LEVELS);
	sizes = palloc0(sizeof(int64) * P);
	order = palloc(sizeof(FannCandidate) * P);
	for (int64 r = 0; r < nrows; r++)
	{
		sizes[own[r]]++;
		if (second[r] >= 0)
			sizes[second[r]]++;
	}
	MemSet(meta->ivf_share, 0, sizeof(meta->ivf_share));
	scratch = palloc(FannProberScratchBytes(p));
	dists = palloc(sizeof(float) * P);
	logits = palloc(sizeof(float) * P);
	for (int q = 0; q < nq; q++)
	{
		const float *qv = vectors + (Size) queries[q] * dim;
		int			top = 0;

		CHECK_FOR_INTERRUPTS();
		FannProberLogits(p, qv, scratch, dists, logits);
		for (int c = 1; c < P; c++)
			if (logits[c] > logits[top])
				top = c;
		probed_shares(meta, logits, sizes, P, nrows, order);
		for (int i = 0, kept[FANN_SELECTIVITY_LEVELS] = {0}; i < nnear[q]; i++)
		{
			uint32		r = near[(Size) q * K + i].id;
			int32		parts[2] = {own[r], second[r]};
			float		key = -INFINITY;
			uint32		h = murmurhash32(r);

			for (int j = 0; j < 2; j++)
			{
				int			rank = 0;

				if (parts[j] < 0)
					continue;
				if (parts[j] == top)
					key = INFINITY;
				for (int c = 0; c < P; c++)
					rank += logits[c] > logits[parts[j]];
				if (rank < fann_max_probes)
					key = Max(key, logits[parts[j]]);
			}
			/* level l's filter keeps a row whose hash has l low zero bits */
			for (int l = 0; l < FANN_SELECTIVITY_LEVELS; l++)
				if ((h & ((1u << l) - 1)) == 0 && kept[l] < FANN_LIRA_TARGET_K)
				{
					keys[(Size) l * nq * FANN_LIRA_TARGET_K + nkeys[l]++] =
						(CalibrationKey) {key, q};
					kept[l]++;
				}
		}
	}

	thresholds_from_keys(keys, nkeys[0], nq, meta->probe_thresholds);
	for (int l = 1; l < FANN_SELECTIVITY_LEVELS; l++)
		thresholds_from_keys(keys + (Size) l * nq * FANN_LIRA_TARGET_K, nkeys[l], nq,
							 meta->filtered_thresholds[l - 1]);
	for (int l = 0; l < FANN_PROBE_LADDER; l++)
		meta->ivf_share[l] /= nq;
	meta->calibration_queries = nq;
	pfree(sizes);
	pfree(order);
	pfree(queries);
	pfree(near);
	pfree(nnear);
	pfree(keys);
	pfree(nkeys);
	pfree(scratch);
	pfree(dists);
	pfree(logits);
}
