/*
 * ivfscan.c
 *	  The ivf search path: probe the partitions the model rates likeliest to
 *	  hold the query's nearest rows (LIRA, WWW 2025, section 3.2), checking
 *	  the label predicate per row.
 *
 * With fann.probing = learned, the partitions whose predicted probability
 * exceeds the probe threshold (times the filter's selectivity) are probed,
 * at least one and at most fann.max_probes: fann.probe_threshold if set,
 * else the threshold that reached fann.target_recall on the index's own rows
 * when it was built (ivf.c, calibrate); with nearest, the
 * fann.max_probes partitions with the nearest centroids (plain IVF, for
 * comparison).  The lists hold 4-bit codes (quant.h): each row's distance
 * is known as an interval, wide; the rows whose interval begins lowest
 * (found by FannCandidateLowest, a batch at a time) are bounded again from
 * their elements' 8-bit codes, a few at a time, until the lowest bound is a
 * narrow one.  Rows are handed out by that lower end and the executor ranks
 * them from the table (scan.c), so the rows of the probed partitions come
 * out in exact distance order, few of them read in full.
 * When the executor wants more, the next partitions in the same order are
 * probed, as many again as so far; rows they hold that come before the last
 * one returned are left to scan.c's final exact search.  A row listed twice
 * (learned redundancy) has the same entry twice, so its copies come out of
 * the coarse order one after the other, and the second is dropped there (or
 * by scan.c, as a row not after the last one returned): no set of the rows
 * seen, which would cost more than the few copies do.  When every partition
 * has been probed, or the candidates would exceed work_mem, scan.c's exact
 * searches return the rest.
 */
#include "postgres.h"

#include "lira.h"
#include "miscadmin.h"
#include "quant.h"
#include "search.h"

typedef struct IvfSearch
{
	FannSearch	base;
	Relation	index;
	const FannMetaPageData *meta;
	FannGroupSet *groups;
	FannScanStats *stats;

	FannCandidate *order;		/* partitions (id) by probing key (distance) */
	int			nordered;		/* order[0, nordered) is sorted, the rest after */
	int			nprobed;
	int			next_batch;		/* partitions the next probe takes */

	FannCodeQuery cq;			/* the query's bounds on codes */
	FannCodeEntry rows[MaxIndexTuplesPerPage];	/* a page's rows to bound, */
	const FannCodeData *codes[MaxIndexTuplesPerPage];	/* their codes */
	double		lower[MaxIndexTuplesPerPage];	/* and their bounds */

	/*
	 * Rows bounded by their 4-bit codes, an array: [0, next) handed on,
	 * [next, sorted) the lowest of the rest in order, then the others.
	 */
	FannCandidateHeap coarse;
	int64		next;
	int64		sorted;
	int			batch;			/* rows the next sort takes */
	uint32		last_id;		/* of the coarse row handed on last */
	FannCandidateHeap fine;		/* rows bounded again, by the higher bound */
	int64		max_candidates; /* work_mem's worth */
} IvfSearch;

/*
 * Coarse rows put in order at a time, doubling each time, so that a query
 * needing many pays a few selections over the rest; rows bounded again at
 * a time
 */
#define IVF_SORT_BATCH		128
#define IVF_FINE_BATCH		8
#define IVF_CHUNK			16	/* rows bounded between prefetches */

/*
 * Put the first n partitions of the probing order in place: a query
 * probes a few of its hundreds of partitions, so the first batch is
 * selected and sorted alone, the rest only if the executor wants more.
 */
static void
order_partitions(IvfSearch *is, int n)
{
	int			P = is->meta->partitions;

	if (n <= is->nordered)
		return;
	if (is->nordered == 0 && n < P)
	{
		FannCandidateSelect(is->order, P, n);
		FannCandidateSort(is->order, n);
		is->nordered = n;
		return;
	}
	FannCandidateSort(is->order + is->nordered, P - is->nordered);
	is->nordered = P;
}

/*
 * Collect the matching rows of partition c: a page's keys first, then the
 * codes of the rows taken, a chunk at a time, while the CPU fetches the
 * next page of the partition (pinned, not yet locked): its keys first
 */
static void
probe(IvfSearch *is, int c)
{
	Size		esize = FANN_CODE_ENTRY_SIZE(is->meta->dimensions);
	BlockNumber blkno = FannPartitionFirstBlock(is->index, is->meta, c);
	Buffer		buf;

	is->stats->partitions_probed++;
	buf = blkno != InvalidBlockNumber ? FannReadBuffer(is->index, blkno) : InvalidBuffer;
	while (BufferIsValid(buf))
	{
		Page		page;
		const FannListKey *keys;
		int			n;
		int			nrows = 0;
		Buffer		next = InvalidBuffer;
		FannPrefetch pf;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_PARTITION, is->index, blkno);
		keys = FannListKeys(page);
		n = FannListCount(page, esize);
		is->stats->elements_visited += n;
		blkno = FannPageGetOpaque(page)->next;
		if (blkno != InvalidBlockNumber)
			next = FannReadBuffer(is->index, blkno);
		for (int i = 0; i < n; i++)
		{
			if (!FannGroupSetContains(is->groups, is->meta, keys[i].group))
				continue;
			is->rows[nrows] = FannListEntry(page, i, esize);
			is->codes[nrows] = &is->rows[nrows]->c;
			nrows++;
		}
		FannPrefetchStart(&pf, BufferIsValid(next) ? BufferGetPage(next) : NULL, BLCKSZ,
						  (nrows + IVF_CHUNK - 1) / IVF_CHUNK);
		for (int from = 0; from < nrows; from += IVF_CHUNK)
		{
			int			m = Min(IVF_CHUNK, nrows - from);

			FannPrefetchStep(&pf);
			FannCodeBounds(&is->cq, is->codes + from, m, 4, NULL, is->lower + from);
		}
		FannPrefetchRest(&pf);
		for (int i = 0; i < nrows; i++)
		{
			FannCandidate cand;

			cand.distance = is->lower[i];
			cand.id = is->rows[i]->id;
			cand.tid = is->rows[i]->heaptid;
			FannHeapAppend(&is->coarse, &cand);
		}
		is->stats->distance_computations += nrows;
		UnlockReleaseBuffer(buf);
		buf = next;
	}
}

/*
 * Probe the next batch of partitions; false if none is left or memory is.
 * The coarse rows not handed on move to the front, out of order again.
 */
static bool
probe_more(IvfSearch *is)
{
	int			end = Min(is->meta->partitions, is->nprobed + is->next_batch);

	if (is->nprobed == end || is->coarse.n - is->next + is->fine.n >= is->max_candidates)
		return false;
	order_partitions(is, end);
	if (is->next > 0)
	{
		memmove(is->coarse.items, is->coarse.items + is->next,
				sizeof(FannCandidate) * (is->coarse.n - is->next));
		is->coarse.n -= is->next;
	}
	is->next = is->sorted = 0;
	is->batch = IVF_SORT_BATCH;
	while (is->nprobed < end)
		probe(is, is->order[is->nprobed++].id);
	is->next_batch = is->nprobed;
	return true;
}

/* The coarse row with the lowest bound not handed on yet, or NULL */
static const FannCandidate *
coarse_first(IvfSearch *is)
{
	FannCandidate *rest = is->coarse.items + is->next;
	int64		left = is->coarse.n - is->next;
	int			take = Min(left, is->batch);

	if (left == 0)
		return NULL;
	if (is->next == is->sorted)
	{
		FannCandidateLowest(rest, left, take);
		is->sorted = is->next + take;
		is->batch *= 2;
	}
	return rest;
}

/*
 * Bound the next few coarse rows again from their elements' 8-bit codes
 * (quant.h), their bound the higher of the two.  A row whose element has
 * been freed or taken by another row since keeps its coarse bound.  The
 * elements lie on as many pages: all are asked for first, so that the
 * misses overlap (FannPrefetchElement), then read one at a time.
 */
static void
refine(IvfSearch *is)
{
	int			per_page = is->meta->elements_per_page;
	Size		esize = FANN_ELEMENT_SIZE(is->meta->dimensions);
	FannCandidate c[IVF_FINE_BATCH];
	BlockNumber blks[IVF_FINE_BATCH];
	OffsetNumber offs[IVF_FINE_BATCH];
	const FannCandidate *first;
	int			n = 0;

	while (n < IVF_FINE_BATCH && (first = coarse_first(is)) != NULL)
	{
		c[n] = *first;
		is->next++;
		if (c[n].id == is->last_id)
			continue;			/* the second copy of a row listed twice */
		is->last_id = c[n].id;
		blks[n] = FannIdBlock(c[n].id, per_page);
		offs[n] = FannIdOffset(c[n].id, per_page);
		FannPrefetchElement(is->index, blks[n], offs[n], esize);
		n++;
	}
	for (int i = 0; i < n; i++)
	{
		Buffer		buf = FannReadBuffer(is->index, blks[i]);
		OffsetNumber off = offs[i];
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (FannPageType(page) == FANN_PAGE_ELEMENT &&
			off <= PageGetMaxOffsetNumber(page))
		{
			FannElement e = FannPageGetElement(page, off);
			const FannCodeData *code = &e->c;
			double		lower;

			if (!(e->flags & FANN_ELEMENT_FREE) && ItemPointerEquals(&e->heaptid, &c[i].tid))
			{
				FannCodeBounds(&is->cq, &code, 1, 8, NULL, &lower);
				if (FannDistanceLess(c[i].distance, lower))
					c[i].distance = lower;
				is->stats->distance_computations++;
			}
		}
		UnlockReleaseBuffer(buf);
		FannHeapPush(&is->fine, &c[i]);
	}
}

/*
 * Start an ivf search over the rows of in->groups, about a fraction
 * in->selectivity of the table: order the partitions, probe the first batch.
 */
static FannSearch *
ivf_begin(const FannSearchInput *in)
{
	IvfSearch  *is = palloc0(sizeof(IvfSearch));
	const FannMetaPageData *meta = in->meta;
	int			P = meta->partitions;
	FannModel	m;
	float	   *dists = palloc(sizeof(float) * P);
	const float *keys = dists;
	bool		descending = false;

	is->base.methods = &FannIvfSearch;
	is->last_id = InvalidFannId;
	is->index = in->index;
	is->meta = meta;
	is->groups = in->groups;
	is->stats = in->stats;
	is->max_candidates = Max(1024, (int64) work_mem * 1024 / sizeof(FannCandidate));
	FannCodeQueryInit(&is->cq, (FannMetric) meta->metric, in->query, meta->dimensions);
	/* refine reads elements through the cache; before the model is read from it */
	FannRecentBuffersReserve(in->index, in->nblocks);

	FannModelCached(in->index, meta, &m);
	FannCentroidDistances(in->query, m.centroids, P, m.dim, in->distance, dists);
	if (fann_probing == FANN_PROBING_LEARNED)
	{
		float	   *in_d = palloc(sizeof(float) * P);
		float	   *in_v = palloc(sizeof(float) * m.dim);
		float	   *act = palloc(sizeof(float) * FannModelActivations(&m));

		/*
		 * sigmoid(logit) > threshold.  The model predicts where the k nearest
		 * rows are; under a filter matching a fraction s of the rows, the k
		 * nearest matching rows are about the k / s nearest rows, spread over
		 * more partitions: the threshold scales with s.
		 */
		double		t = (fann_probe_threshold > 0 ? fann_probe_threshold :
						 FannProbeThresholdFor(meta, fann_target_recall)) * in->selectivity;
		float		cut;

		t = Min(Max(t, 1e-9), 1 - 1e-9);
		cut = log(t / (1 - t));

		FannModelInputs(&m, in->query, dists, in_d, in_v);
		FannModelForward(&m, 1, in_d, in_v, act);
		keys = FannModelLogits(&m, act);
		descending = true;
		for (int c = 0; c < P; c++)
			if (keys[c] > cut)
				is->next_batch++;
		is->next_batch = Min(Max(is->next_batch, 1), fann_max_probes);
	}
	else
		is->next_batch = fann_max_probes;
	/* descending logits, or ascending centroid distances */
	is->order = palloc(sizeof(FannCandidate) * P);
	for (int c = 0; c < P; c++)
	{
		is->order[c].distance = descending ? -keys[c] : keys[c];
		is->order[c].id = c;
	}

	probe_more(is);
	return &is->base;
}

/*
 * The next row by lower bound among the partitions probed so far, probing
 * more when those run out; false once nothing is left to probe.  A row
 * bounded again goes first once no coarse bound is lower than its bound.
 */
static bool
ivf_next(FannSearch *search, FannCandidate *row)
{
	IvfSearch  *is = (IvfSearch *) search;

	for (;;)
	{
		const FannCandidate *first = coarse_first(is);

		if (first == NULL && is->fine.n == 0)
		{
			if (!probe_more(is))
				return false;
		}
		else if (first != NULL &&
				 (is->fine.n == 0 || FannCandidateCompare(first, &is->fine.items[0]) < 0))
			refine(is);
		else
		{
			*row = FannHeapPop(&is->fine);
			return true;
		}
	}
}

static void
ivf_end(FannSearch *search)
{
	IvfSearch  *is = (IvfSearch *) search;

	FannHeapFree(&is->coarse);
	FannHeapFree(&is->fine);
	pfree(is->order);
	pfree(is);
}

const FannSearchMethods FannIvfSearch = {
	.name = "ivf",
	.begin = ivf_begin,
	.next = ivf_next,
	.end = ivf_end,
};
