/*
 * exact.c
 *	  The exact search path: every element of the groups the label predicate
 *	  selects, in (distance, element id) order.
 *
 * The rows of the build's element region are read from their codes (code
 * pages, quant.h), which give each row's distance as an interval; the rows
 * inserted since from their elements, exactly.  Candidates, by the lower
 * end of their interval, are kept in a buffer: when it fills, the better
 * half is kept and everything worse is dropped for this pass, so most rows
 * cost one code bound and one comparison.  The first pass keeps
 * FANN_FIRST_PASS_ROWS rows (LIMITs are usually small); each later pass
 * keeps four times more, up to work_mem.  Rows are handed out as ivfscan.c
 * does: a candidate is ranked from its element's vector when its lower
 * bound reaches the nearest distance ranked so far, which is returned once
 * no bound can beat it, so only the few rows near the answers are read in
 * full.  A row ranked beyond the worst row the pass kept may be beaten by
 * one it dropped: if the executor wants more than a pass can vouch for
 * (other WHERE clauses, LIMIT beyond the buffer), the next pass collects the
 * rows strictly after the last one returned, which needs the vectors of the
 * rows whose bounds reach it.  The order is total, so no row is returned
 * twice or skipped.
 *
 * After an approximate search, scan.c starts exact searches after the last
 * row it returned and skipping the rows it returned (FannSearchInput).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "quant.h"
#include "search.h"
#include "utils/memutils.h"

#define FANN_FIRST_PASS_ROWS	1024

typedef struct ExactSearch
{
	FannSearch	base;
	Relation	index;
	const FannMetaPageData *meta;
	FannGroupSet *groups;
	FannDistanceFunction distance;
	const float *query;
	FannScanStats *stats;
	const uint64 *skip;			/* rows not to return, if any */
	uint32		nskip;			/* ids skip covers */
	bool		codes;			/* the element region is read from codes */
	FannCodebook cb;
	FannCodeQuery cq;

	FannCandidateHeap cands;	/* this pass's buffer (its size: cap) by
								 * lower bound, a heap once done */
	FannCandidateHeap ranked;	/* candidates by their distance */
	FannCodeEntry *rows;		/* a code page's rows to bound, */
	double	   *lower;			/* their lower bounds, */
	FannCandidate *pending;		/* and those to rank at once */
	int			npending;
	int			max_capacity;	/* work_mem's worth */
	bool		rank_all;		/* this pass ranks every row at once */
	bool		pruned;			/* this pass dropped candidates ... */
	FannCandidate bound;		/* ... after this one */
	bool		has_last;
	FannCandidate last;			/* last row returned */
} ExactSearch;

/*
 * Offer a row to the current pass; c->distance is the row's distance or a
 * lower bound of it, c->tid its TID.
 */
static void
offer(ExactSearch *es, const FannCandidate *c)
{
	if (es->skip && FannIdSetContains(es->skip, es->nskip, c->id))
		return;
	if (es->pruned && FannCandidateCompare(c, &es->bound) > 0)
		return;
	es->cands.items[es->cands.n++] = *c;
	if (es->cands.n == es->cands.cap)
	{
		/* keep the better half; the worst kept bounds what may enter */
		int			keep = es->cands.cap / 2;

		FannCandidateSelect(es->cands.items, es->cands.n, keep);
		es->cands.n = keep;
		es->bound = es->cands.items[0];
		for (int i = 1; i < keep; i++)
			if (FannCandidateCompare(&es->cands.items[i], &es->bound) > 0)
				es->bound = es->cands.items[i];
		es->pruned = true;
	}
}

/* c's distance from its element; false if the element no longer holds it */
static bool
rank(ExactSearch *es, FannCandidate *c)
{
	if (es->query == NULL)
		return true;
	es->stats->distance_computations++;
	return FannElementDistance(es->index, es->meta, es->distance, es->query,
							   c->id, &c->tid, &c->distance);
}

/* Offer a row whose exact distance c holds, if it comes after the last */
static void
offer_exact(ExactSearch *es, const FannCandidate *c)
{
	if (!es->has_last || FannCandidateCompare(c, &es->last) > 0)
		offer(es, c);
}

/* Offer a live element, ranked from its vector */
static void
offer_element(ExactSearch *es, FannElement e, uint32 id)
{
	FannCandidate c;

	c.id = id;
	c.tid = e->heaptid;
	c.distance = 0;
	if (es->query)
	{
		c.distance = es->distance(es->query, e->vec, es->meta->dimensions);
		es->stats->distance_computations++;
	}
	offer_exact(es, &c);
}

/*
 * The rows a scan of element or code pages takes: ids in [start, end) and, with
 * a run of groups, only those in the build range of one of its groups and
 * belonging to it (a slot of a range freed and reused by another group's
 * insert is that group's, reached through its chain); without, any group's
 * but skip_group's.
 */
typedef struct ScanRange
{
	uint32		start;
	uint32		end;
	const FannGroupData *run;	/* groups with adjacent build ranges, or NULL */
	const uint32 *run_gids;
	int			nrun;
	uint32		skip_group;
} ScanRange;

/* The last group of r's run whose range starts at or before id */
static int
run_owner(const ScanRange *r, uint32 id)
{
	int			lo = 0,
				hi = r->nrun;

	while (hi - lo > 1)
	{
		int			mid = (lo + hi) / 2;

		if (r->run[mid].range_start <= id)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Does r take the row id of this group with these element flags?  Counts
 * it as visited if it lies in r's ids.  *owner follows the run's group
 * owning id, stepping back or forth as the caller's ids fall or rise.
 */
static inline bool
range_takes(ExactSearch *es, const ScanRange *r, uint32 id, uint16 flags,
			uint32 group, int *owner)
{
	if (id < r->start || id >= r->end)
		return false;
	es->stats->elements_visited++;
	if (flags & FANN_ELEMENT_DEAD)
		return false;
	if (r->run == NULL)
		return group != r->skip_group;
	while (*owner > 0 && id < r->run[*owner].range_start)
		(*owner)--;
	while (*owner + 1 < r->nrun && id >= r->run[*owner + 1].range_start)
		(*owner)++;
	return id < r->run[*owner].range_end && group == r->run_gids[*owner];
}

/* Offer the live elements of a locked element page that r takes */
static void
scan_page(ExactSearch *es, Page page, BlockNumber blkno, const ScanRange *r)
{
	int			per_page = es->meta->elements_per_page;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int			owner = 0;

	if (r->run != NULL && maxoff >= FirstOffsetNumber)
		owner = run_owner(r, Min(FannMakeId(blkno, maxoff, per_page), r->end - 1));

	/*
	 * Items are laid out from the end of the page backwards: walking the
	 * offsets downwards reads memory upwards, which the prefetcher follows.
	 * Ids fall as we go: the owner starts at the page's top and steps back.
	 */
	for (OffsetNumber off = maxoff; off >= FirstOffsetNumber; off--)
	{
		uint32		id = FannMakeId(blkno, off, per_page);
		FannElement e = FannPageGetElement(page, off);

		if (!range_takes(es, r, id, e->flags, e->group, &owner))
			continue;
		es->stats->rows_matching++;
		offer_element(es, e, id);
	}
}

/*
 * Start the CPU fetching where the scan of a page begins (its lowest item:
 * items are fixed-size and laid out from the end of the page); the hardware
 * prefetcher follows the sequential stream from there.  Prefetching the
 * whole page instead stalls on the CPU's fill buffers.
 */
static void
prefetch_vectors(ExactSearch *es, Page page)
{
	char	   *item = (char *) page + BLCKSZ - MAXALIGN(sizeof(FannPageOpaqueData)) -
		(Size) es->meta->elements_per_page * FANN_ELEMENT_SIZE(es->meta->dimensions);

	for (int off = 0; off < 256; off += 64)
		__builtin_prefetch(item + off);
}

/*
 * Offer the elements of the pages in [first, last] that r takes; neighbour
 * pages among them are skipped, pages of other kinds too if skip_others,
 * otherwise they are an error.
 */
static void
scan_blocks(ExactSearch *es, BlockNumber first, BlockNumber last,
			const ScanRange *r, bool skip_others)
{
	BlockNumber blkno = first;
	Buffer		buf = FannReadBuffer(es->index, first);

	while (BufferIsValid(buf))
	{
		Page		page;
		FannPageOpaque opaque;
		BlockNumber nextblk = blkno + 1;
		Buffer		next = InvalidBuffer;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = FannPageGetOpaque(page);
		if (!skip_others && opaque->type != FANN_PAGE_NEIGHBOR &&
			opaque->type != FANN_PAGE_CODE)
			FannCheckPage(page, FANN_PAGE_ELEMENT, es->index, blkno);

		/*
		 * Pin the next element page (the neighbour page of a unit follows
		 * its last element page, in the element region its code page too:
		 * skip them unread) and have the CPU fetch it while this one is
		 * scanned: the scan is bound by memory latency at page switches.
		 */
		if (opaque->type == FANN_PAGE_ELEMENT && opaque->next == nextblk)
			nextblk += blkno < es->meta->region_end ? 2 : 1;
		if (nextblk <= last)
		{
			next = FannReadBuffer(es->index, nextblk);
			prefetch_vectors(es, BufferGetPage(next));
		}

		if (opaque->type == FANN_PAGE_ELEMENT)
			scan_page(es, page, blkno, r);
		UnlockReleaseBuffer(buf);
		buf = next;
		blkno = nextblk;
	}
}

/*
 * Offer the rows r takes of the element region's pages in [first, last]
 * from their units' code pages.  A row whose lower bound does not clear the
 * last row returned (or every row, in a pass that ranks all) is ranked from
 * its element, after the code page is released: element pages are locked
 * before code pages.
 */
static void
scan_codes(ExactSearch *es, BlockNumber first, BlockNumber last, const ScanRange *r)
{
	const FannMetaPageData *meta = es->meta;
	Size		csize = FANN_CODE_ENTRY_SIZE(meta->dimensions);
	BlockNumber blkno;
	BlockNumber lastblk;
	int			slot;
	int			owner = 0;
	int			nrows;
	char	   *nextcodes;
	Buffer		buf;

	if (!FannCodeLocation(meta, first, FirstOffsetNumber, &blkno, &slot) ||
		!FannCodeLocation(meta, last, FirstOffsetNumber, &lastblk, &slot))
		elog(ERROR, "fann: blocks %u to %u are not in the element region", first, last);
	buf = FannReadBuffer(es->index, blkno);
	while (BufferIsValid(buf))
	{
		Page		page;
		int			n;
		Buffer		next = InvalidBuffer;
		BlockNumber nextblk = Min(blkno + meta->unit + 2, meta->region_end - 1);

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_CODE, es->index, blkno);
		/*
		 * The scan is bound by memory latency: while this page's codes are
		 * read, fetch the next page's, the same entry of it with each entry
		 * of this one (all at once stalls on the CPU's fill buffers)
		 */
		nextcodes = NULL;
		if (blkno < lastblk)
		{
			next = FannReadBuffer(es->index, nextblk);
			nextcodes = PageGetContents(BufferGetPage(next));
		}
		n = Min((((PageHeader) page)->pd_lower - (PageGetContents(page) - (char *) page)) / csize,
				FANN_PAGE_USABLE / csize);
		nrows = 0;
		for (int i = 0; i < n; i++)
		{
			FannCodeEntry e = FannPageGetCode(page, i, csize);

			if (nextcodes)
				for (Size off = 0; off < csize; off += 64)
					__builtin_prefetch(nextcodes + i * csize + off);
			/* ids rise along the page: the owner steps forward */
			if (range_takes(es, r, e->id, e->flags, e->group, &owner))
				es->rows[nrows++] = e;
		}
		es->stats->rows_matching += nrows;
		es->stats->distance_computations += nrows;
		FannCodeLowerBounds(&es->cq, es->rows, nrows, es->lower);
		for (int i = 0; i < nrows; i++)
		{
			FannCandidate c;

			c.distance = es->lower[i];
			c.id = es->rows[i]->id;
			c.tid = es->rows[i]->heaptid;
			if (es->rank_all || (es->has_last && !FannDistanceLess(es->last.distance, c.distance)))
				es->pending[es->npending++] = c;
			else
				offer(es, &c);
		}
		UnlockReleaseBuffer(buf);

		for (int i = 0; i < es->npending; i++)
			if (rank(es, &es->pending[i]))
				offer_exact(es, &es->pending[i]);
		es->npending = 0;
		buf = next;
		blkno = nextblk;
	}
}

/* Offer the live elements of a group's insert chain */
static void
scan_chain(ExactSearch *es, uint32 id, uint32 gid)
{
	int			per_page = es->meta->elements_per_page;
	Buffer		buf = InvalidBuffer;

	while (id != InvalidFannId)
	{
		BlockNumber blkno = FannIdBlock(id, per_page);
		Page		page;
		FannElement e;

		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != blkno)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			CHECK_FOR_INTERRUPTS();
			buf = ReadBuffer(es->index, blkno);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			FannCheckPage(BufferGetPage(buf), FANN_PAGE_ELEMENT, es->index, blkno);
		}
		page = BufferGetPage(buf);
		if (FannIdOffset(id, per_page) > PageGetMaxOffsetNumber(page))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("fann index \"%s\" has a chain link to missing element %u",
							RelationGetRelationName(es->index), id)));
		e = FannPageGetElement(page, FannIdOffset(id, per_page));
		es->stats->elements_visited++;
		if (!(e->flags & FANN_ELEMENT_DEAD) && e->group == gid)
		{
			es->stats->rows_matching++;
			offer_element(es, e, id);
		}
		id = e->next;
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

/*
 * The build lays the groups out one after the other, so matching groups
 * whose ranges share a page, or lie on the next element page, are scanned as
 * one run: small groups cost no page visit of their own.  Does next's range
 * extend the run that ends with prev's?
 */
static bool
extends_run(const FannGroupData *prev, const FannGroupData *next, int per_page)
{
	return prev->range_start < prev->range_end &&
		next->range_start < next->range_end &&
		next->range_start >= prev->range_end &&
	/* the next blocks may be the neighbour and code pages of a unit */
		FannIdBlock(next->range_start, per_page) <=
		FannIdBlock(prev->range_end - 1, per_page) + 3;
}

/* One pass over the selected groups, then heapify what it kept */
static void
exact_pass(ExactSearch *es)
{
	FannGroupSet *set = es->groups;
	const FannMetaPageData *meta = es->meta;
	bool		first = es->stats->passes++ == 0;
	int64		matching = es->stats->rows_matching;

	/* a bigger buffer for each pass, up to work_mem */
	if (es->cands.cap < es->max_capacity)
	{
		es->cands.cap = es->cands.cap == 0 ? 2 * FANN_FIRST_PASS_ROWS :
			Min(es->max_capacity, es->cands.cap * 4);
		if (es->cands.items)
			pfree(es->cands.items);
		es->cands.items = palloc(sizeof(FannCandidate) * es->cands.cap);
	}
	es->cands.n = 0;
	es->ranked.n = 0;
	es->pruned = false;

	if (meta->elements_per_page == 0)
		 /* no vector indexed yet */ ;
	else if (set->selection != FANN_SELECT_LIST)
	{
		/*
		 * every element page, in block order: the region from its codes, if
		 * used, then the rest around the build's IVF pages
		 */
		BlockNumber nblocks = RelationGetNumberOfBlocks(es->index);
		BlockNumber start = es->codes ? meta->region_end : 1;
		BlockNumber skip_start = nblocks,
					skip_end = nblocks;
		ScanRange	r = {0, InvalidFannId, NULL, NULL, 0, InvalidFannId};

		if (set->selection == FANN_SELECT_NON_NULL)
			r.skip_group = meta->null_group;
		if (es->codes)
			scan_codes(es, 1, meta->region_end - 1, &r);
		if (meta->partitions > 0)
		{
			skip_start = meta->model_start;
			skip_end = meta->ivf_end;
		}
		if (skip_start > start)
			scan_blocks(es, start, skip_start - 1, &r, true);
		if (skip_end < nblocks)
			scan_blocks(es, Max(start, skip_end), nblocks - 1, &r, true);
	}
	else
	{
		int			per_page = meta->elements_per_page;

		if (set->data == NULL)
			FannGroupSetLoad(es->index, meta, set);
		for (int i = 0; i < set->ngroups;)
		{
			const FannGroupData *g = &set->data[i];
			int			n = 1;

			while (i + n < set->ngroups && extends_run(&g[n - 1], &g[n], per_page))
				n++;
			if (g[0].range_start < g[0].range_end)
			{
				ScanRange	r = {g[0].range_start, g[n - 1].range_end, g,
				&set->groups[i], n, InvalidFannId};

				if (es->codes)
					scan_codes(es, FannIdBlock(r.start, per_page),
							   FannIdBlock(r.end - 1, per_page), &r);
				else
					scan_blocks(es, FannIdBlock(r.start, per_page),
								FannIdBlock(r.end - 1, per_page), &r, false);
			}
			for (int k = 0; k < n; k++)
				scan_chain(es, g[k].chain_head, set->groups[i + k]);
			i += n;
		}
	}

	/* later passes revisit the same rows: count them once */
	if (!first)
		es->stats->rows_matching = matching;

	FannHeapify(&es->cands);
}

static FannSearch *
exact_begin(const FannSearchInput *in)
{
	ExactSearch *es = palloc0(sizeof(ExactSearch));
	const FannMetaPageData *meta = in->meta;

	es->base.methods = &FannExactSearch;
	es->index = in->index;
	es->meta = meta;
	es->groups = in->groups;
	es->distance = in->distance;
	es->query = in->query;
	es->stats = in->stats;
	es->skip = in->skip;
	es->nskip = in->nblocks * meta->elements_per_page;
	es->has_last = in->after != NULL;
	if (in->after)
		es->last = *in->after;
	es->max_capacity = Max(2 * FANN_FIRST_PASS_ROWS,
						   (int) Min((Size) work_mem * 1024 / sizeof(FannCandidate),
									 MaxAllocSize / sizeof(FannCandidate)));
	es->pruned = true;			/* so that the first pass runs */

	/* without an order there is nothing to bound: elements are read */
	es->codes = in->query != NULL && meta->region_end > 1;
	if (es->codes)
	{
		int			per_page = FANN_PAGE_USABLE / FANN_CODE_ENTRY_SIZE(meta->dimensions);

		FannCodebookLoad(in->index, meta, &es->cb);
		FannCodeQueryInit(&es->cq, &es->cb, (FannMetric) meta->metric, in->query,
						  palloc(sizeof(float) * meta->dimensions));

		es->rows = palloc(sizeof(FannCodeEntry) * per_page);
		es->lower = palloc(sizeof(double) * per_page);
		es->pending = palloc(sizeof(FannCandidate) * per_page);
	}
	return &es->base;
}

/*
 * The next row after the last one returned; false when none is left.  A
 * candidate is ranked while its lower bound does not exceed the nearest
 * distance ranked; that one is next if the pass vouches for it: it comes
 * before every row the pass dropped, whose bounds were all after the bound.
 */
static bool
exact_next(FannSearch *search, FannCandidate *row)
{
	ExactSearch *es = (ExactSearch *) search;

	for (;;)
	{
		while (es->cands.n > 0 &&
			   (es->ranked.n == 0 ||
				!FannDistanceLess(es->ranked.items[0].distance, es->cands.items[0].distance)))
		{
			FannCandidate c = FannHeapPop(&es->cands);

			if (rank(es, &c))
				FannHeapPush(&es->ranked, &c);
		}
		if (es->ranked.n > 0 &&
			(!es->pruned || FannCandidateCompare(&es->ranked.items[0], &es->bound) <= 0))
		{
			es->last = FannHeapPop(&es->ranked);
			es->has_last = true;
			*row = es->last;
			return true;
		}
		/* a pass that kept everything left has nothing more to give */
		if (!es->pruned)
			return false;

		/*
		 * The next pass starts after the last row returned.  If this one
		 * could vouch for none of the rows it ranked and the buffer cannot
		 * grow, bounds alone cannot make progress (many rows with equal
		 * bounds): the next pass ranks every row at once.
		 */
		if (es->ranked.n > 0 && es->cands.cap == es->max_capacity)
			es->rank_all = true;
		exact_pass(es);
	}
}

static void
exact_end(FannSearch *search)
{
	ExactSearch *es = (ExactSearch *) search;

	FannHeapFree(&es->cands);
	FannHeapFree(&es->ranked);
	if (es->codes)
	{
		pfree(es->cb.lo);
		pfree(es->cq.qa);
		pfree(es->rows);
		pfree(es->lower);
		pfree(es->pending);
	}
	pfree(es);
}

const FannSearchMethods FannExactSearch = {
	.name = "exact",
	.begin = exact_begin,
	.next = exact_next,
	.end = exact_end,
};
