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
 * when it was built (ivfcal.c); with nearest, the
 * fann.max_probes partitions with the nearest centroids (plain IVF, for
 * comparison).  The lists hold 4-bit codes (quant.h) in blocks of 32 rows
 * laid out for fast scans (faiss's 4-bit fast scan, fann.h): a byte-shuffle
 * table lookup bounds a block's rows at once, each row's distance known as
 * an interval, wide.  The first batch of partitions keeps only the rows
 * whose interval begins within the 32nd lowest upper end seen so far (the
 * cut), probing more partitions, doubling, while fewer rows than that
 * match; the rows beyond it are taken by probing those partitions again,
 * only if the search gets that far.  The rows whose interval begins lowest
 * (in buckets by it, each sorted when the search reaches it) are bounded again from
 * their elements' 8-bit codes, a few at a time, until the lowest bound is a
 * narrow one.  Rows are handed out by that lower end and the executor ranks
 * them from the table (scan.c), so the rows of the probed partitions come
 * out in exact distance order, few of them read in full.
 * When the executor wants rows beyond the cut (a filter above the scan,
 * dead rows, a large LIMIT), every other partition is probed with them, so
 * that only a row the first batch missed within its cut (the approximation
 * the probe threshold buys) can come before the last one returned: those
 * are left to scan.c's final exact search.  A row listed twice
 * (learned redundancy) has the same entry twice, so its copies come out of
 * the coarse order one after the other, and the second is dropped there (or
 * by scan.c, as a row not after the last one returned): no set of the rows
 * seen, which would cost more than the few copies do.  When every partition
 * has been probed, or the rest's rows would exceed work_mem, scan.c's exact
 * searches return the rest.
 */
#include "postgres.h"

#include "lira.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "quant.h"
#include "search.h"

typedef struct IvfSearch
{
	FannSearch	base;			/* base.cxt holds the heaps */
	Relation	index;
	const FannMetaPageData *meta;
	FannGroupSet *groups;
	FannScanStats *stats;
	BlockNumber nblocks;		/* the index's size as the scan began */

	FannCandidate *order;		/* partitions (id) by probing key (distance) */
	int			nordered;		/* order[0, nordered) is sorted, the rest after */
	int			nprobed;
	int			next_batch;		/* partitions the first probe takes */
	int64		matched;		/* rows matching in the partitions probed */

	FannCodeQuery cq;			/* the query's bounds on codes */
	FannCodeLut lut;			/* its fast-scan table */
	FannBlockLayout layout;

	/*
	 * The first probe defers the rows whose lower bound is beyond the cut,
	 * the IVF_CUT_ROWS-th lowest upper bound seen (uppers: a max-heap of
	 * them); they are probed again (probe_rest) before a row beyond the cut
	 * would be handed out.  Infinite once no rows are deferred.
	 */
	double		cut;
	FannCandidateHeap uppers;
	int			ndeferred;		/* partitions order[0, ndeferred) */

	/*
	 * Rows bounded by their 4-bit codes, an array in buckets by that bound
	 * (FannCandidateBuckets): [0, next) handed on, [next, sorted) the rest
	 * of the buckets before bucket, each sorted, then the others' rows.
	 */
	FannCandidateHeap coarse;
	int64		next;
	int64		sorted;
	int			bucket;
	int64		bucket_start[FANN_MAX_BUCKETS + 1];
	FannCandidateHeap spare;	/* the array the buckets are made in */
	uint32		last_id;		/* of the coarse row handed on last */
	FannCandidateHeap fine;		/* rows bounded again, by the higher bound */
	int64		max_candidates; /* work_mem's worth */
} IvfSearch;

/* Coarse rows bounded again at a time */
#define IVF_FINE_BATCH		8
#define IVF_CUT_ROWS	32	/* a LIMIT 10 and rows listed twice */
#define IVF_PREFETCH_STEPS	3	/* prefetches spread over a block's work */

/* Keeps the heaps' arrays for the backend's next search (keep.c) */
static FannStateKeeper keeper = {"ivf", sizeof(IvfSearch), NULL};

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
 * Which rows of a partition a probe takes: the first batch's not beyond the
 * cut, lowering it; later batches' all; the first batch's again, beyond it
 */
typedef enum ProbeRows
{
	PROBE_FIRST = FANN_TAKE_WITHIN,
	PROBE_ALL = FANN_TAKE_ALL,
	PROBE_DEFERRED = FANN_TAKE_BEYOND
} ProbeRows;

/* Is distance d beyond the cut (NaN beyond every number)? */
static inline bool
beyond_cut(double cut, double d)
{
	return FannDistanceLess(cut, d);
}

/* Lower the cut by an upper bound, once IVF_CUT_ROWS are known */
static void
lower_cut(IvfSearch *is, double upper, uint32 id)
{
	FannCandidate c = {.distance = upper,.id = id};

	if (isnan(upper))
		return;
	if (is->uppers.n < IVF_CUT_ROWS)
		FannHeapPush(&is->uppers, &c);
	else if (FannCandidateCompare(&c, &is->uppers.items[0]) < 0)
	{
		is->uppers.items[0] = c;
		FannHeapSiftDown(&is->uppers, 0);
	}
	if (is->uppers.n == IVF_CUT_ROWS)
		is->cut = is->uppers.items[0].distance;
}

/*
 * Bound the rows of a block that match the predicate (fast scan, quant.h)
 * and collect those the probe takes (ProbeRows).  The block's continuation
 * pages, if it has rows to bound, are read under its page's lock, as
 * appends write them.
 */
static void
probe_block(IvfSearch *is, const FannBlockData *b, ProbeRows take, FannPrefetch *pf)
{
	Buffer		more[FANN_BLOCK_MAX_MORE];
	const FannBlockLayout *l = &is->layout;
	uint32		sums[FANN_BLOCK_ROWS];
	double		lower[FANN_BLOCK_ROWS],
				upper[FANN_BLOCK_ROWS];
	uint32		match = 0,
				taken;
	int			nrows = Min(b->nrows, FANN_BLOCK_ROWS),
				pair = 0;

	StaticAssertStmt(FANN_BLOCK_ROWS == 32, "a block's rows are a uint32's bits");
	/* the live rows, then (with a label predicate) those in its groups */
	for (int r = 0; r < nrows; r++)
		match |= (uint32) (b->ids[r] != InvalidFannId) << r;
	if (is->groups->selection != FANN_SELECT_ALL)
		for (uint32 bits = match; bits != 0; bits &= bits - 1)
		{
			int			r = pg_rightmost_one_pos32(bits);

			if (!FannGroupSetContains(is->groups, is->meta, b->groups[r]))
				match &= ~((uint32) 1 << r);
		}
	is->stats->elements_visited += nrows;
	FannPrefetchStep(pf);
	if (take != PROBE_DEFERRED)
		is->matched += pg_popcount32(match);
	if (match == 0)
		return;
	FannBlockLockMore(is->index, b, l, BUFFER_LOCK_SHARE, more);
	for (int k = 0; k < l->npages; k++)
	{
		int			npairs = FannBlockSegmentPairs(l, k);

		FannFastScanSums(is->lut.lo + pair * FANN_BLOCK_PAIR_BYTES,
						 is->lut.hi + pair * FANN_BLOCK_PAIR_BYTES,
						 k == 0 ? b->codes : (const uint8 *) PageGetContents(BufferGetPage(more[k - 1])),
						 npairs, sums, k > 0);
		pair += npairs;
	}
	for (int m = 0; m < l->npages - 1; m++)
		UnlockReleaseBuffer(more[m]);
	FannPrefetchStep(pf);
	taken = FannBlockTake(&is->cq, &is->lut, b, sums, match, (FannTake) take, is->cut,
						  lower, upper);
	FannPrefetchStep(pf);
	is->stats->distance_computations += pg_popcount32(match);
	for (; taken != 0; taken &= taken - 1)
	{
		int			r = pg_rightmost_one_pos32(taken);
		FannCandidate cand;

		if (take == PROBE_FIRST)
			lower_cut(is, upper[r], b->ids[r]);
		cand.distance = lower[r];
		cand.id = b->ids[r];
		cand.tid = b->tids[r];
		FannHeapAppend(&is->coarse, &cand);
	}
}

/*
 * Collect the matching rows of partition c, a page at a time, while the CPU
 * fetches the next page of the partition (pinned, not yet locked)
 */
static void
probe(IvfSearch *is, int c, ProbeRows take)
{
	const FannBlockLayout *l = &is->layout;
	BlockNumber blkno = FannPartitionFirstBlock(is->index, is->meta, c);
	Buffer		buf;

	if (take != PROBE_DEFERRED)
		is->stats->partitions_probed++;
	buf = blkno != InvalidBlockNumber ? FannReadBuffer(is->index, blkno) : InvalidBuffer;
	while (BufferIsValid(buf))
	{
		Page		page;
		Buffer		next = InvalidBuffer;
		FannPrefetch pf;
		int			nblocks;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_PARTITION, is->index, blkno);
		nblocks = FannBlockCount(page, l);
		blkno = FannPageGetOpaque(page)->next;
		if (blkno != InvalidBlockNumber)
			next = FannReadBuffer(is->index, blkno);
		/* the next page's blocks, a share at a few steps of each block */
		FannPrefetchStart(&pf, BufferIsValid(next) ? BufferGetPage(next) : NULL,
						  MAXALIGN(SizeOfPageHeaderData) + l->per_page * l->size,
						  IVF_PREFETCH_STEPS * nblocks);
		for (int i = 0; i < nblocks; i++)
			probe_block(is, FannPageGetBlock(page, l, i), take, &pf);
		FannPrefetchRest(&pf);
		UnlockReleaseBuffer(buf);
		buf = next;
	}
}

/*
 * The first batch: the partitions the probing order puts first, and more,
 * doubling, while they hold fewer than IVF_CUT_ROWS matching rows (no cut
 * yet).  The rows beyond the cut go (the first probe took those it met
 * while the cut was higher) and wait for probe_rest.
 */
static void
probe_first(IvfSearch *is)
{
	int			P = is->meta->partitions;
	int			end = Min(P, is->next_batch);

	for (;;)
	{
		order_partitions(is, end);
		while (is->nprobed < end)
			probe(is, is->order[is->nprobed++].id, PROBE_FIRST);
		if (!isinf(is->cut) || end == P)
			break;
		end = Min(P, 2 * end);
	}
	if (!isinf(is->cut))
	{
		int64		kept = 0;

		for (int64 i = 0; i < is->coarse.n; i++)
			if (!beyond_cut(is->cut, is->coarse.items[i].distance))
				is->coarse.items[kept++] = is->coarse.items[i];
		is->coarse.n = kept;
		is->ndeferred = is->nprobed;
	}
}

/*
 * Past the first batch's cut: its partitions again for the rows beyond it,
 * and every other partition, at once, so that no row of a partition not
 * yet probed can come before the rows handed out from here on (probing "as
 * many again" handed out a batch's farthest rows before the next batch's
 * nearer ones, and those came last, out of order).  False, probing
 * nothing, when the rows they hold (guessed from the first batch's) would
 * not fit in work_mem: scan.c's exact searches go on from the last row.
 */
static bool
probe_rest(IvfSearch *is)
{
	int			P = is->meta->partitions;
	double		expect = (double) is->matched / Max(is->nprobed, 1) * (P - is->nprobed);

	Assert(is->next == is->coarse.n);
	if (is->ndeferred == 0 && is->nprobed == P)
		return false;
	if (is->fine.n + is->matched + expect >= is->max_candidates)
		return false;
	for (int i = 0; i < is->ndeferred; i++)
		probe(is, is->order[i].id, PROBE_DEFERRED);
	is->ndeferred = 0;
	is->cut = INFINITY;
	order_partitions(is, P);
	while (is->nprobed < P)
		probe(is, is->order[is->nprobed++].id, PROBE_ALL);
	return true;
}

/*
 * Probe the first batch, or the rest; false if none is left or memory is.
 * The coarse rows not handed on move to the front, and all go in buckets.
 */
static bool
probe_more(IvfSearch *is)
{
	FannCandidateHeap swap;

	if (is->next > 0)
	{
		memmove(is->coarse.items, is->coarse.items + is->next,
				sizeof(FannCandidate) * (is->coarse.n - is->next));
		is->coarse.n -= is->next;
	}
	is->next = is->sorted = 0;
	is->bucket = 0;
	if (is->nprobed == 0)
		probe_first(is);
	else if (!probe_rest(is))
		return false;
	while (is->spare.cap < is->coarse.n)
		FannHeapGrow(&is->spare);
	FannCandidateBuckets(is->coarse.items, is->coarse.n, is->spare.items, is->bucket_start);
	is->spare.n = is->coarse.n;
	swap = is->coarse;
	is->coarse = is->spare;
	is->spare = swap;
	return true;
}

/* The coarse row with the lowest bound not handed on yet, or NULL */
static const FannCandidate *
coarse_first(IvfSearch *is)
{
	if (is->next == is->coarse.n)
		return NULL;
	/* the next non-empty bucket, sorted, once the last is handed on */
	while (is->next == is->sorted)
	{
		int64		from = is->bucket_start[is->bucket];

		is->sorted = is->bucket_start[++is->bucket];
		FannCandidateSort(is->coarse.items + from, is->sorted - from);
	}
	return is->coarse.items + is->next;
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
		if (blks[n] >= is->nblocks)
		{
			/* no element of a row the scan can see: a damaged id */
			FannHeapPush(&is->fine, &c[n]);
			continue;
		}
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
				FannCodeBounds(&is->cq, &code, 1, NULL, &lower);
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
	IvfSearch	last;
	IvfSearch  *is = (IvfSearch *) FannStateTake(&keeper, &last.base);
	const FannMetaPageData *meta = in->meta;
	MemoryContext oldcxt;
	int			P = meta->partitions;
	FannProber	p;
	float	   *dists = palloc(sizeof(float) * P);
	float	   *logits = palloc(sizeof(float) * P);
	const float *keys = dists;
	bool		descending = false;

	is->base.methods = &FannIvfSearch;
	is->last_id = InvalidFannId;
	is->index = in->index;
	is->meta = meta;
	is->groups = in->groups;
	is->stats = in->stats;
	is->nblocks = in->nblocks;
	/* the coarse rows and the copy their buckets are made in */
	is->max_candidates = Max(1024, (int64) work_mem * 1024 / (2 * sizeof(FannCandidate)));
	FannCodeQueryInit(&is->cq, (FannMetric) meta->metric, in->query, meta->dimensions);
	FannCodeLutInit(&is->lut, in->query, meta->dimensions,
					palloc(FannCodeLutBytes(meta->dimensions)));
	FannBlockLayoutFor(meta->dimensions, &is->layout);
	is->cut = INFINITY;
	is->coarse = FannHeapReuse(&last.coarse, false);
	is->spare = FannHeapReuse(&last.spare, false);
	is->fine = FannHeapReuse(&last.fine, false);
	is->uppers = FannHeapReuse(&last.uppers, true);
	/* refine reads elements through the cache; before the prober is read from it */
	FannRecentBuffersReserve(in->index, in->nblocks);

	FannProberCached(in->index, meta, &p);
	FannProberLogits(&p, in->query, palloc(FannProberScratchBytes(&p)), dists,
					 fann_probing == FANN_PROBING_LEARNED ? logits : NULL);
	if (fann_probing == FANN_PROBING_LEARNED)
	{
		/*
		 * sigmoid(logit) > threshold, the threshold for the filter's
		 * selectivity: under a filter matching a fraction s of the rows, the
		 * k nearest matching rows are about the k / s nearest rows, spread
		 * over more partitions (cost.c)
		 */
		double		t = FannIvfThreshold(meta, in->selectivity);
		float		cut;

		t = Min(Max(t, 1e-9), 1 - 1e-9);
		cut = log(t / (1 - t));

		keys = logits;
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

	oldcxt = MemoryContextSwitchTo(is->base.cxt);
	probe_more(is);
	MemoryContextSwitchTo(oldcxt);
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
	MemoryContext oldcxt = MemoryContextSwitchTo(is->base.cxt);
	bool		found = true;

	for (;;)
	{
		const FannCandidate *first = coarse_first(is);

		if (first == NULL && is->fine.n == 0)
		{
			if (!probe_more(is))
			{
				found = false;
				break;
			}
		}
		else if (first != NULL &&
				 (is->fine.n == 0 || FannCandidateCompare(first, &is->fine.items[0]) < 0))
			refine(is);
		else if (is->ndeferred > 0 && beyond_cut(is->cut, is->fine.items[0].distance))
		{
			/* no coarse row is left: each was within the cut */
			if (!probe_more(is))
			{
				found = false;
				break;
			}
		}
		else
		{
			*row = FannHeapPop(&is->fine);
			break;
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return found;
}

static void
ivf_end(FannSearch *search)
{
	IvfSearch  *is = (IvfSearch *) search;

	pfree(is->lut.lo);
	pfree(is->order);
	FannStateRelease(search);
}

const FannSearchMethods FannIvfSearch = {
	.name = "ivf",
	.begin = ivf_begin,
	.next = ivf_next,
	.end = ivf_end,
};
