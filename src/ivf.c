/*
 * ivf.c
 *	  The learned IVF (LIRA, WWW 2025) in the index: built in CREATE INDEX,
 *	  kept up by inserts and VACUUM.
 *
 * The build (LIRA section 3): k-means partitions; the probing model, trained
 * on sampled rows used as queries, whose targets are the partitions holding
 * their k nearest rows; then every row goes to its nearest partition and,
 * with redundancy on, is also listed in the partition other than its own
 * that the model rates most likely, if that is above one half (LIRA section
 * 3.3: rows near a boundary are found from either side).  The lists hold
 * each row's 8-bit code (quant.h), the same as its element's, so a
 * redundant copy costs a quarter of a vector.
 *
 * The targets come from the rows of the FANN_LIRA_TARGET_PROBES partitions
 * nearest each sample, not from all rows: a sample's nearest rows lie
 * nearly always in those, and the model is never asked to probe further.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "candidates.h"
#include "ivf.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "parallel.h"

/* Sampled rows that train the model */
#define FANN_LIRA_SAMPLES		16384
/* Partitions searched for their nearest rows (FANN_LIRA_TARGET_K each) */
#define FANN_LIRA_TARGET_PROBES 16
#define FANN_LIRA_EPOCHS		12
#define FANN_IVF_SEED			UINT64CONST(0x4C495241)

/*
 * Partitions for nrows rows: the partitions reloption, or when that is 0,
 * the square root of the row count
 */
static int
partitions_for(Relation index, int64 nrows)
{
	FannOptions *opts = (FannOptions *) index->rd_options;
	int			p = opts && opts->partitions > 0 ? opts->partitions :
		(int) Min(Max(1, sqrt((double) nrows)), 4096);

	return (int) Min(p, nrows);
}

/*
 * Memory the IVF build over nrows of an index of table_rows rows needs
 * beyond their vectors (see FannIvfBuild)
 */
Size
FannIvfBuildBytes(Relation index, int64 nrows, int64 table_rows, int dim)
{
	int64		nsamples = Min(nrows, FANN_LIRA_SAMPLES);
	int			partitions = partitions_for(index, table_rows);

	return (Size) nrows * (2 * sizeof(int32) + 2 * sizeof(int64)) +
		(Size) nsamples * (sizeof(float) * (partitions + dim) + partitions) +
		FannModelBytes(partitions, dim) * 4 + FannCentroidTableBytes(partitions, dim) +
		(Size) fann_build_threads * (sizeof(float) * (partitions * 4 + dim + 1024) +
									 FannCentroidWorkBytes(FANN_LIRA_BLOCK, partitions, dim));
}

/*
 * The fewest rows the IVF can be built from: some for each partition's
 * centroid and, as training queries, for its probability
 */
int
FannIvfMinRows(Relation index, int64 table_rows)
{
	return (int) Min(table_rows, (int64) partitions_for(index, table_rows) * 8);
}

/*
 * Training data: standardisation from the samples, their standardised
 * inputs, and their targets: the partitions of their nearest rows among
 * those of the partitions nearest them (members: rows by partition, from
 * offsets).
 */
static void
training_data(FannModel *m, const float *vectors, int64 nrows, const int64 *sample,
			  int64 nsamples, const int64 *offsets, const int64 *members,
			  const int32 *own, FannDistanceFunction distance, int nthreads,
			  float *in_d, float *in_v, uint8 *targets)
{
	int			P = m->partitions,
				dim = m->dim;
	int			probes = Min(P, FANN_LIRA_TARGET_PROBES);
	float	   *dists = palloc_extended(sizeof(float) * nsamples * P, MCXT_ALLOC_HUGE);
	int		   *order = palloc(sizeof(int) * P * nthreads);
	int		   *nearest = palloc_extended(sizeof(int) * nsamples * probes, MCXT_ALLOC_HUGE);
	int64	   *searchers_at = palloc(sizeof(int64) * (P + 1));
	int64	   *searchers = palloc_extended(sizeof(int64) * nsamples * probes, MCXT_ALLOC_HUGE);
	int64	   *fill = palloc(sizeof(int64) * P);
	FannNear   *near = palloc_extended(sizeof(FannNear) * FANN_LIRA_TARGET_K * nsamples,
									   MCXT_ALLOC_HUGE);
	int		   *nnear = palloc_extended(sizeof(int) * nsamples, MCXT_ALLOC_HUGE);
	Size		work_floats = FannCentroidWorkBytes(FANN_LIRA_BLOCK, P, dim) / sizeof(float);
	float	   *work = palloc_extended(sizeof(float) * work_floats * nthreads, MCXT_ALLOC_HUGE);

	/* centroid distances, then their mean and deviation, and per coordinate */
#pragma omp parallel for schedule(static) num_threads(nthreads)
	for (int64 s0 = 0; s0 < nsamples; s0 += FANN_LIRA_BLOCK)
	{
		const float *rows[FANN_LIRA_BLOCK];
		int			nb = (int) Min(FANN_LIRA_BLOCK, nsamples - s0);

		for (int s = 0; s < nb; s++)
			rows[s] = vectors + (Size) sample[s0 + s] * dim;
		FannCentroidDistances(&m->table, nb, rows, work + work_floats * FannThreadNum(),
							  dists + (Size) s0 * P);
	}
	/*
	 * One mean and deviation over all distances, not one per centroid: the
	 * skip connections then start from the nearest-centroid order
	 */
	{
		double		sum = 0,
					sq = 0;
		Size		n = (Size) nsamples * P;

		for (Size i = 0; i < n; i++)
		{
			sum += dists[i];
			sq += (double) dists[i] * dists[i];
		}
		for (int c = 0; c < P; c++)
		{
			m->dist_mean[c] = sum / n;
			m->dist_std[c] = Max(sqrt(Max(sq / n - (sum / n) * (sum / n), 0)), 1e-6);
		}
	}
	for (int d = 0; d < dim; d++)
	{
		double		sum = 0,
					sq = 0;

		for (int64 s = 0; s < nsamples; s++)
		{
			float		x = vectors[(Size) sample[s] * dim + d];

			sum += x;
			sq += (double) x * x;
		}
		m->vec_mean[d] = sum / nsamples;
		m->vec_std[d] = Max(sqrt(Max(sq / nsamples - (sum / nsamples) * (sum / nsamples), 0)), 1e-6);
	}

	/* inputs, and each sample's nearest partitions */
#pragma omp parallel for schedule(static) num_threads(nthreads)
	for (int64 s = 0; s < nsamples; s++)
	{
		const float *sd = dists + (Size) s * P;
		int		   *ord = order + (Size) FannThreadNum() * P;

		FannModelInputs(m, vectors + (Size) sample[s] * dim, sd,
						in_d + (Size) s * P, in_v + (Size) s * dim);
		/* partial selection sort */
		for (int c = 0; c < P; c++)
			ord[c] = c;
		for (int i = 0; i < probes; i++)
		{
			for (int j = i + 1; j < P; j++)
				if (sd[ord[j]] < sd[ord[i]])
				{
					int			x = ord[i];

					ord[i] = ord[j];
					ord[j] = x;
				}
			nearest[(Size) s * probes + i] = ord[i];
		}
	}

	/*
	 * The samples' nearest rows there, one partition at a time: its rows
	 * stay in the CPU's caches while every sample that searches it does (the
	 * other way round, each sample fetching rows from all over memory, took
	 * four times longer)
	 */
	MemSet(searchers_at, 0, sizeof(int64) * (P + 1));
	for (Size i = 0; i < (Size) nsamples * probes; i++)
		searchers_at[nearest[i] + 1]++;
	for (int c = 0; c < P; c++)
		searchers_at[c + 1] += searchers_at[c];
	MemSet(fill, 0, sizeof(int64) * P);
	for (Size i = 0; i < (Size) nsamples * probes; i++)
		searchers[searchers_at[nearest[i]] + fill[nearest[i]]++] = i / probes;
	for (int64 s = 0; s < nsamples; s++)
		nnear[s] = 0;
	for (int c = 0; c < P; c++)
	{
		CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(dynamic, 8) num_threads(nthreads)
		for (int64 i = searchers_at[c]; i < searchers_at[c + 1]; i++)
		{
			int64		s = searchers[i];
			const float *q = vectors + (Size) sample[s] * dim;
			FannNear   *nr = near + (Size) s * FANN_LIRA_TARGET_K;

			/* the k nearest other rows */
			for (int64 k = offsets[c]; k < offsets[c + 1]; k++)
			{
				int64		r = members[k];

				if (r != sample[s])
					FannNearInsert(nr, &nnear[s], FANN_LIRA_TARGET_K,
								   distance(q, vectors + (Size) r * dim, dim), (uint32) r);
			}
		}
	}
	MemSet(targets, 0, (Size) nsamples * P);
	for (int64 s = 0; s < nsamples; s++)
		for (int i = 0; i < nnear[s]; i++)
			targets[(Size) s * P + own[near[(Size) s * FANN_LIRA_TARGET_K + i].id]] = 1;
	pfree(dists);
	pfree(order);
	pfree(nearest);
	pfree(searchers_at);
	pfree(searchers);
	pfree(fill);
	pfree(near);
	pfree(nnear);
	pfree(work);
}

/*
 * Each row's partition (own) and, with redundancy, its second partition or
 * -1 (second), from the trained model.
 */
static void
assign_rows(const FannModel *m, const float *vectors, int64 nrows, bool redundancy,
			int nthreads, int32 *own, int32 *second)
{
	int			P = m->partitions,
				dim = m->dim;
	int			nact = FannModelActivations(m);
	Size		work_floats = FannCentroidWorkBytes(FANN_LIRA_BLOCK, P, dim) / sizeof(float);
	Size		per_thread = (Size) FANN_LIRA_BLOCK * (P * 2 + dim + nact) + work_floats;
	float	   *scratch = palloc_extended(sizeof(float) * per_thread * nthreads, MCXT_ALLOC_HUGE);

	for (int64 chunk = 0; chunk < nrows; chunk += FANN_IVF_CHUNK)
	{
		CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(static) num_threads(nthreads)
		for (int64 r0 = chunk; r0 < Min(nrows, chunk + FANN_IVF_CHUNK); r0 += FANN_LIRA_BLOCK)
		{
			int			nb = Min(FANN_LIRA_BLOCK, nrows - r0);
			float	   *dists = scratch + per_thread * FannThreadNum();
			float	   *in_d = dists + (Size) FANN_LIRA_BLOCK * P;
			float	   *in_v = in_d + (Size) FANN_LIRA_BLOCK * P;
			float	   *act = in_v + (Size) FANN_LIRA_BLOCK * dim;
			float	   *work = act + (Size) FANN_LIRA_BLOCK * nact;
			const float *rows[FANN_LIRA_BLOCK];

			for (int s = 0; s < nb; s++)
				rows[s] = vectors + (Size) (r0 + s) * dim;
			FannCentroidDistances(&m->table, nb, rows, work, dists);
			for (int s = 0; s < nb; s++)
			{
				const float *ds = dists + (Size) s * P;
				int64		r = r0 + s;

				own[r] = FannNearestOf(ds, P);
				second[r] = -1;
				if (redundancy && P > 1)
					FannModelInputs(m, rows[s], ds, in_d + (Size) s * P,
									in_v + (Size) s * dim);
			}
			if (!redundancy || P < 2)
				continue;
			FannModelForward(m, nb, in_d, in_v, act);
			for (int s = 0; s < nb; s++)
			{
				const float *logits = FannModelLogits(m, act + (Size) s * nact);
				int64		r = r0 + s;
				int			best = -1;

				/* probability above one half: a positive logit */
				for (int c = 0; c < P; c++)
					if (c != own[r] && logits[c] > 0 && (best < 0 || logits[c] > logits[best]))
						best = c;
				second[r] = best;
			}
		}
	}
	pfree(scratch);
}

/* Rows by partition: offsets[P + 1] into members, own rows then copies */
static void
group_by_partition(int P, int64 nrows, const int32 *own, const int32 *second,
				   int64 *offsets, int64 *members)
{
	int64	   *fill = palloc0(sizeof(int64) * P);

	MemSet(offsets, 0, sizeof(int64) * (P + 1));
	for (int64 r = 0; r < nrows; r++)
	{
		offsets[own[r] + 1]++;
		if (second && second[r] >= 0)
			offsets[second[r] + 1]++;
	}
	for (int c = 0; c < P; c++)
		offsets[c + 1] += offsets[c];
	for (int64 r = 0; r < nrows; r++)
		members[offsets[own[r]] + fill[own[r]]++] = r;
	for (int64 r = 0; second && r < nrows; r++)
		if (second[r] >= 0)
			members[offsets[second[r]] + fill[second[r]]++] = r;
	pfree(fill);
}

/*
 * Write the partition lists after the directory (whose pages say where each
 * list is), each list on pages of its own, chained: blocks of 32 rows, a
 * block too large for a page followed by its continuation pages
 */
static void
write_partitions(Relation index, FannMetaPage meta, const float *vectors, const uint32 *ids, const uint32 *groups,
				 const ItemPointerData *tids, const int64 *offsets, const int64 *members)
{
	int			P = meta->partitions,
				dim = meta->dimensions;
	FannBlockLayout l;
	int			per_page;
	FannPartitionData *dir = palloc0(sizeof(FannPartitionData) * P);
	FannCode	code = palloc(FANN_CODE_SIZE(dim));
	FannCode	c4 = palloc(FANN_CODE_SIZE(dim));
	BlockNumber next;

	FannBlockLayoutFor(dim, &l);
	per_page = l.per_page * FANN_BLOCK_ROWS;
	next = RelationGetNumberOfBlocks(index) + (P + FANN_PARTITIONS_PER_PAGE - 1) / FANN_PARTITIONS_PER_PAGE;
	for (int c = 0; c < P; c++)
	{
		int64		n = offsets[c + 1] - offsets[c];
		BlockNumber nheads = (n + per_page - 1) / per_page;

		dir[c].first = nheads > 0 ? next : InvalidBlockNumber;
		dir[c].last = nheads > 0 ? next + (nheads - 1) * l.npages : InvalidBlockNumber;
		dir[c].nentries = n;
		next += nheads * l.npages;
	}
	meta->partdir_start = RelationGetNumberOfBlocks(index);
	FannWriteArrayPages(index, FANN_PAGE_PARTDIR, dir, P, sizeof(FannPartitionData));

	for (int c = 0; c < P; c++)
		for (int64 k = offsets[c]; k < offsets[c + 1]; k += per_page)
		{
			Buffer		buf = FannNewBuffer(index, MAIN_FORKNUM);
			Buffer		more[FANN_BLOCK_MAX_MORE];
			Page		page = BufferGetPage(buf);
			uint8	   *segs[1 + FANN_BLOCK_MAX_MORE];

			CHECK_FOR_INTERRUPTS();
			Assert(BufferGetBlockNumber(buf) >= dir[c].first &&
				   BufferGetBlockNumber(buf) <= dir[c].last);
			FannBlockInitPage(page);
			if (k + per_page < offsets[c + 1])
				FannPageGetOpaque(page)->next = BufferGetBlockNumber(buf) + l.npages;
			for (int m = 0; m < l.npages - 1; m++)
			{
				more[m] = FannNewBuffer(index, MAIN_FORKNUM);
				FannBlockInitCodesPage(BufferGetPage(more[m]), &l, 1 + m);
				segs[1 + m] = (uint8 *) PageGetContents(BufferGetPage(more[m]));
			}
			for (int64 j = k; j < Min(k + per_page, offsets[c + 1]); j += FANN_BLOCK_ROWS)
			{
				FannBlock	b = FannBlockBegin(page, &l);

				segs[0] = b->codes;
				for (int m = 0; m < l.npages - 1; m++)
					b->more[m] = BufferGetBlockNumber(more[m]);
				for (int64 i = j; i < Min(j + FANN_BLOCK_ROWS, offsets[c + 1]); i++)
				{
					int64		r = members[i];

					FannEncode(vectors + (Size) r * dim, dim, code);
					FannCodeNibbles(code, dim, c4);
					FannBlockSetRow(b, segs, &l, b->nrows++, ids[r], groups[r],
									(ItemPointer) &tids[r], c4, dim);
				}
			}
			for (int m = 0; m < l.npages - 1; m++)
			{
				MarkBufferDirty(more[m]);
				UnlockReleaseBuffer(more[m]);
			}
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
		}
	pfree(dir);
	pfree(code);
	pfree(c4);
}

/*
 * Build the IVF over the rows (vectors row-major; their element ids, groups
 * and heap TIDs): partitions, model, lists.  The rows may be a sample of the
 * index's table_rows rows, which set the partition count; the others are
 * then listed by FannIvfInsert.  Writes its pages after every other
 * structure and records them in meta.
 */
void
FannIvfBuild(Relation index, FannMetaPage meta, const float *vectors, int64 nrows, int64 table_rows, const uint32 *ids,
			 const uint32 *groups, const ItemPointerData *tids)
{
	int			P = (int) Min(partitions_for(index, table_rows), nrows);
	int			dim = meta->dimensions;
	int			nthreads = fann_build_threads;
	FannOptions *opts = (FannOptions *) index->rd_options;
	bool		redundancy = opts ? opts->redundancy : true;
	FannDistanceFunction distance = FannGetDistance((FannMetric) meta->metric);
	int64		nsamples = Min(nrows, FANN_LIRA_SAMPLES);
	uint64		seed = FANN_IVF_SEED;
	char	   *bytes;
	char	   *pbytes;
	char	   *table_bytes;
	FannModel	m;
	FannProber	prober;
	int64	   *offsets;
	int64	   *members;
	int64	   *sample;
	int32	   *own;
	int32	   *second;
	float	   *in_d;
	float	   *in_v;
	uint8	   *targets;
	uint64	   *in_training;
	double		positives = 0;
	instr_time	start,
				clustered,
				trained,
				assigned,
				calibrated;

	if (P <= 0 || dim == 0)
		return;
	INSTR_TIME_SET_CURRENT(start);
	bytes = palloc0(FannModelBytes(P, dim));
	FannModelBind(&m, bytes, P, dim);
	FannKmeans(vectors, nrows, dim, (FannMetric) meta->metric, P, seed, nthreads,
			   m.centroids);
	table_bytes = palloc(FannCentroidTableBytes(P, dim));
	FannModelBindTable(&m, table_bytes, (FannMetric) meta->metric, true);
	INSTR_TIME_SET_CURRENT(clustered);

	/* nearest-centroid partitions first: the training targets refer to them */
	own = palloc_extended(sizeof(int32) * nrows, MCXT_ALLOC_HUGE);
	second = palloc_extended(sizeof(int32) * nrows, MCXT_ALLOC_HUGE);
	offsets = palloc(sizeof(int64) * (P + 1));
	members = palloc_extended(sizeof(int64) * nrows * 2, MCXT_ALLOC_HUGE);
	assign_rows(&m, vectors, nrows, false, nthreads, own, second);
	group_by_partition(P, nrows, own, NULL, offsets, members);

	/* a seeded sample of rows as training queries */
	sample = palloc_extended(sizeof(int64) * nsamples, MCXT_ALLOC_HUGE);
	in_training = FannIdSetCreate((uint32) nrows);
	for (int64 s = 0; s < nsamples; s++)
	{
		sample[s] = nsamples == nrows ? s : (int64) (FannRandom(&seed) % nrows);
		FannIdSetAdd(in_training, (uint32) nrows, (uint32) sample[s]);
	}
	in_d = palloc_extended(sizeof(float) * nsamples * P, MCXT_ALLOC_HUGE);
	in_v = palloc_extended(sizeof(float) * nsamples * dim, MCXT_ALLOC_HUGE);
	targets = palloc_extended(nsamples * P, MCXT_ALLOC_HUGE);
	training_data(&m, vectors, nrows, sample, nsamples, offsets, members, own,
				  distance, nthreads, in_d, in_v, targets);
	for (Size i = 0; i < (Size) nsamples * P; i++)
		positives += targets[i];
	FannModelInitWeights(&m, positives / ((double) nsamples * P), seed);
	FannModelTrain(&m, in_d, in_v, targets, nsamples, FANN_LIRA_EPOCHS, nthreads, seed);
	pfree(in_d);
	pfree(in_v);
	pfree(targets);
	pfree(sample);
	INSTR_TIME_SET_CURRENT(trained);

	if (redundancy)
		assign_rows(&m, vectors, nrows, true, nthreads, own, second);
	pbytes = palloc(FannProberBytes(P, dim));
	FannProberBind(&prober, pbytes, P, dim, (FannMetric) meta->metric);
	FannProberFrom(&prober, &m);
	INSTR_TIME_SET_CURRENT(assigned);
	FannIvfCalibrate(meta, &prober, vectors, nrows, in_training, own, second, distance, nthreads,
					 seed);
	INSTR_TIME_SET_CURRENT(calibrated);
	/* each phase's seconds: from the time before it */
	INSTR_TIME_SUBTRACT(calibrated, assigned);
	INSTR_TIME_SUBTRACT(assigned, trained);
	INSTR_TIME_SUBTRACT(trained, clustered);
	INSTR_TIME_SUBTRACT(clustered, start);
	pfree(in_training);
	pfree(pbytes);
	group_by_partition(P, nrows, own, redundancy ? second : NULL, offsets, members);

	meta->partitions = P;
	meta->redundancy = redundancy;
	meta->model_start = RelationGetNumberOfBlocks(index);
	meta->model_npages = FannWriteArrayPages(index, FANN_PAGE_MODEL, bytes,
											 FannModelBytes(P, dim), 1);
	write_partitions(index, meta, vectors, ids, groups, tids, offsets, members);
	meta->ivf_end = RelationGetNumberOfBlocks(index);
	ereport(DEBUG1,
			(errmsg("fann: %d partitions, %lld rows listed (%lld copies), k-means %.1f s, model training %.1f s, assignment %.1f s, calibration %.1f s, probe threshold %g for recall %g",
					P, (long long) offsets[P], (long long) (offsets[P] - nrows),
					INSTR_TIME_GET_DOUBLE(clustered), INSTR_TIME_GET_DOUBLE(trained),
					INSTR_TIME_GET_DOUBLE(assigned), INSTR_TIME_GET_DOUBLE(calibrated),
					FannProbeThresholdFor(meta, FANN_DEFAULT_TARGET_RECALL, 1.0),
					FANN_DEFAULT_TARGET_RECALL)));
	pfree(bytes);
	pfree(table_bytes);
	pfree(own);
	pfree(second);
	pfree(offsets);
	pfree(members);
}

/*
 * Write row r's codes on a block's continuation pages more[] (init: new
 * pages, initialised here), a record per MAX_GENERIC_XLOG_PAGES pages
 */
static void
write_more_codes(Relation index, const Buffer *more, const FannBlockLayout *l, bool init,
				 int r, const FannCodeData *c4, int dim)
{
	for (int from = 0; from < l->npages - 1; from += MAX_GENERIC_XLOG_PAGES)
	{
		GenericXLogState *state = GenericXLogStart(index);
		uint8	   *segs[1 + FANN_BLOCK_MAX_MORE] = {NULL};

		for (int m = from; m < Min(l->npages - 1, from + MAX_GENERIC_XLOG_PAGES); m++)
		{
			Page		page = GenericXLogRegisterBuffer(state, more[m],
														 init ? GENERIC_XLOG_FULL_IMAGE : 0);

			if (init)
				FannBlockInitCodesPage(page, l, 1 + m);
			segs[1 + m] = (uint8 *) PageGetContents(page);
		}
		FannBlockSetRow(NULL, segs, l, r, InvalidFannId, InvalidFannId, NULL, c4, dim);
		GenericXLogFinish(state);
	}
}

/*
 * Append a row to partition c's list: into its last block, a new block on
 * its last page, or a new page (the directory page, the last page, then
 * continuation pages locked).  The codes on continuation pages are written
 * first, in records of their own; the row counts once the block's page
 * records it, so a crash between them leaves only an unused slot written.
 */
static void
append_row(Relation index, FannMetaPage meta, int c, uint32 id, uint32 gid,
		   ItemPointer tid, const FannCodeData *c4)
{
	int			dim = meta->dimensions;
	BlockNumber dirblk = meta->partdir_start + c / FANN_PARTITIONS_PER_PAGE;
	Buffer		dirbuf = ReadBuffer(index, dirblk);
	Buffer		buf = InvalidBuffer;
	Buffer		newbuf = InvalidBuffer;
	Buffer		more[FANN_BLOCK_MAX_MORE];
	FannBlockLayout l;
	GenericXLogState *state;
	FannPartitionData *part;
	FannBlock	b = NULL;
	Page		page;
	uint8	   *segs[1 + FANN_BLOCK_MAX_MORE] = {NULL};
	int			nblocks = 0;

	FannBlockLayoutFor(dim, &l);
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(dirbuf), FANN_PAGE_PARTDIR, index, dirblk);
	part = (FannPartitionData *) PageGetContents(BufferGetPage(dirbuf)) + c % FANN_PARTITIONS_PER_PAGE;
	if (part->last != InvalidBlockNumber)
	{
		buf = ReadBuffer(index, part->last);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		FannCheckPage(BufferGetPage(buf), FANN_PAGE_PARTITION, index, part->last);
		nblocks = FannBlockCount(BufferGetPage(buf), &l);
		if (nblocks > 0)
			b = FannPageGetBlock(BufferGetPage(buf), &l, nblocks - 1);
	}

	if (b != NULL && b->nrows < FANN_BLOCK_ROWS)
	{
		/* into the last block: its continuation pages first */
		int			r = b->nrows;

		FannBlockLockMore(index, b, &l, BUFFER_LOCK_EXCLUSIVE, more);
		write_more_codes(index, more, &l, false, r, c4, dim);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		b = FannPageGetBlock(page, &l, nblocks - 1);
	}
	else if (BufferIsValid(buf) && nblocks < l.per_page)
	{
		/* a new block on the last page: no continuation pages */
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		b = FannBlockBegin(page, &l);
	}
	else
	{
		/* a new page, and its continuation pages */
		newbuf = FannNewBuffer(index, MAIN_FORKNUM);
		for (int m = 0; m < l.npages - 1; m++)
			more[m] = FannNewBuffer(index, MAIN_FORKNUM);
		write_more_codes(index, more, &l, true, 0, c4, dim);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
		FannBlockInitPage(page);
		b = FannBlockBegin(page, &l);
		for (int m = 0; m < l.npages - 1; m++)
			b->more[m] = BufferGetBlockNumber(more[m]);
		if (BufferIsValid(buf))
			FannPageGetOpaque(GenericXLogRegisterBuffer(state, buf, 0))->next =
				BufferGetBlockNumber(newbuf);
	}
	part = (FannPartitionData *) PageGetContents(GenericXLogRegisterBuffer(state, dirbuf, 0)) +
		c % FANN_PARTITIONS_PER_PAGE;
	if (BufferIsValid(newbuf))
	{
		if (part->first == InvalidBlockNumber)
			part->first = BufferGetBlockNumber(newbuf);
		part->last = BufferGetBlockNumber(newbuf);
	}
	segs[0] = b->codes;
	FannBlockSetRow(b, segs, &l, b->nrows, id, gid, tid, c4, dim);
	b->nrows++;
	part->nentries++;
	GenericXLogFinish(state);

	/* (a new block on the last page has no continuation pages) */
	for (int m = 0; m < l.npages - 1; m++)
		UnlockReleaseBuffer(more[m]);
	if (BufferIsValid(newbuf))
		UnlockReleaseBuffer(newbuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(dirbuf);
}

/*
 * List a row inserted after the build, its vector vec (or its element's
 * decoded code) and its element's code: in its nearest partition and, with
 * redundancy, in the one the stored model rates most likely above one half.
 * The model is read from its pages unless the caller has it (model).
 */
void
FannIvfInsert(Relation index, FannMetaPage meta, const FannModel *model,
			  uint32 id, uint32 gid, ItemPointer tid, const float *vec,
			  const FannCodeData *code)
{
	FannModel	m;
	int			P = meta->partitions;
	FannCode	c4;
	int32		own,
				second;

	if (P == 0)
		return;
	if (model)
		m = *model;
	else
		FannModelCached(index, meta, &m);
	assign_rows(&m, vec, 1, meta->redundancy, 1, &own, &second);
	c4 = palloc(FANN_CODE_SIZE(meta->dimensions));
	FannCodeNibbles(code, meta->dimensions, c4);
	append_row(index, meta, own, id, gid, tid, c4);
	if (second >= 0)
		append_row(index, meta, second, id, gid, tid, c4);
	pfree(c4);
}

/*
 * VACUUM of one partition page, locked exclusively: the rows of dead heap
 * rows lose their element (InvalidFannId), their slots stay.  Runs in the
 * same pass that marks their elements dead, before any slot is freed, so no
 * row outlives its element.
 */
void
FannIvfVacuumPage(Relation index, Buffer buf, int dim,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	FannBlockLayout l;
	GenericXLogState *state = NULL;
	Page		page = BufferGetPage(buf);
	int			nblocks;

	FannBlockLayoutFor(dim, &l);
	nblocks = FannBlockCount(page, &l);
	for (int i = 0; i < nblocks; i++)
	{
		FannBlock	b = FannPageGetBlock(page, &l, i);

		for (int r = 0; r < Min(b->nrows, FANN_BLOCK_ROWS); r++)
		{
			if (b->ids[r] == InvalidFannId || !callback(&b->tids[r], callback_state))
				continue;
			if (state == NULL)
			{
				state = GenericXLogStart(index);
				page = GenericXLogRegisterBuffer(state, buf, 0);
				b = FannPageGetBlock(page, &l, i);
			}
			b->ids[r] = InvalidFannId;
		}
	}
	if (state)
		GenericXLogFinish(state);
}
