/*
 * exact.c
 *	  The exact search path: every element of the groups the label predicate
 *	  selects, in (lower bound, element id) order.
 *
 * Each element's code (quant.h) gives its row's distance as an interval;
 * rows are handed out by the interval's lower end, and the executor ranks
 * them from the table (scan.c), so the answer is exactly ordered while
 * only the rows whose bounds reach the answers are read in full.
 * Candidates are kept in a buffer: when it fills, the better half is kept
 * and everything worse is dropped for this pass, so most rows cost one code
 * bound and one compare (vectorised under L2).  The first pass keeps
 * FANN_FIRST_PASS_ROWS rows (LIMITs are usually small, and the executor
 * reads a little past its LIMIT: one pass serves LIMITs up to a couple of
 * hundred); each later pass keeps four times more, up to work_mem.  A pass
 * vouches for the rows up to the worst one it kept: if the executor wants
 * more (other WHERE clauses, LIMIT beyond the buffer), the next pass
 * collects the rows strictly after the last one returned.  The
 * order is total, so no row is returned twice or skipped.
 *
 * After an approximate search, scan.c starts exact searches after the last
 * row it returned and skipping the rows it returned (FannSearchInput).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "quant.h"
#include "search.h"
#include "utils/memutils.h"

#define FANN_FIRST_PASS_ROWS	256
#define FANN_EXACT_CHUNK		32	/* rows bounded between prefetches: a
										 * FannCodeTake's */

typedef struct ExactSearch
{
	FannSearch	base;
	Relation	index;
	const FannMetaPageData *meta;
	FannGroupSet *groups;
	const float *query;
	FannScanStats *stats;
	const FannIdHash *skip;		/* rows not to return, if any */
	FannCodeQuery cq;			/* the query's bounds on codes */

	FannCandidateHeap cands;	/* this pass's buffer (its size: cap) by
								 * lower bound, a heap once done */
	const FannCodeData **rows;	/* a page's rows to bound, */
	FannCandidate *taken;		/* their ids and TIDs, */
	double	   *lower;			/* and their lower bounds */
	int			max_capacity;	/* work_mem's worth */
	bool		pruned;			/* this pass dropped candidates ... */
	FannCandidate bound;		/* ... after this one */
	bool		has_last;
	FannCandidate last;			/* last row returned */
} ExactSearch;

/*
 * Offer a row to the current pass if it comes after the last one returned.
 * Most rows of a large scan come after what the pass keeps: that test first.
 */
static inline void
offer(ExactSearch *es, const FannCandidate *c)
{
	if (es->pruned && FannCandidateCompare(c, &es->bound) > 0)
		return;
	if (es->has_last && FannCandidateCompare(c, &es->last) <= 0)
		return;
	if (es->skip && FannIdHashContains(es->skip, c->id))
		return;
	es->cands.items[es->cands.n++] = *c;
	if (es->cands.n == es->cands.cap)
	{
		/* keep the better half; the worst kept bounds what may enter */
		int			keep = es->cands.cap / 2;

		es->bound = FannCandidateKeep(es->cands.items, es->cands.n, keep);
		es->cands.n = keep;
		es->pruned = true;
	}
}

/*
 * Bound the n rows taken (es->rows: their codes, es->taken: their ids and
 * TIDs) and offer them, a chunk at a time; without a query every row ranks
 * 0.  Once a pass has dropped candidates, the rows whose bounds lie beyond
 * the worst one it kept are known from the chunk's vectorised screen
 * (FannCodeTake) and not offered.  Meanwhile the CPU fetches pf, the next
 * page's items.
 */
static void
offer_taken(ExactSearch *es, int n, FannPrefetch *pf)
{
	es->stats->rows_matching += n;
	for (int i = 0; i < n; i += FANN_EXACT_CHUNK)
	{
		int			m = Min(FANN_EXACT_CHUNK, n - i);
		uint32		taken;

		FannPrefetchStep(pf);
		taken = es->query == NULL ? ~(uint32) 0 :
			FannCodeTake(&es->cq, es->rows + i, m,
						 es->pruned ? es->bound.distance : INFINITY, es->lower + i);
		for (int k = i; k < i + m; k++)
			if (taken & ((uint32) 1 << (k - i)))
			{
				es->taken[k].distance = es->query ? es->lower[k] : 0;
				offer(es, &es->taken[k]);
			}
	}
	FannPrefetchRest(pf);
	if (es->query)
		es->stats->distance_computations += n;
}

/*
 * The rows a scan of element pages takes: ids in [start, end) and, with
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

/*
 * Offer the live elements of a locked element page that r takes.  The scan
 * is bound by memory: while this page's elements are bounded, the CPU
 * fetches the next page's (nextpage, if any; offer_taken).  Items are
 * fixed-size and laid out from the end of the page backwards.
 */
static void
scan_page(ExactSearch *es, Page page, BlockNumber blkno, const ScanRange *r,
		  Page nextpage)
{
	int			per_page = es->meta->elements_per_page;
	Size		esize = FANN_ELEMENT_SIZE(es->meta->dimensions);
	char	   *nextend = nextpage ? (char *) nextpage + BLCKSZ -
		MAXALIGN(sizeof(FannPageOpaqueData)) : NULL;
	OffsetNumber maxoff = Min(PageGetMaxOffsetNumber(page), per_page);
	int			owner = 0;
	int			n = 0;
	FannPrefetch pf;

	if (r->run != NULL && maxoff >= FirstOffsetNumber)
		owner = run_owner(r, Min(FannMakeId(blkno, maxoff, per_page), r->end - 1));

	/*
	 * Walking the offsets downwards reads memory upwards, which the
	 * prefetcher follows.  Ids fall as we go: the owner steps back.
	 */
	for (OffsetNumber off = maxoff; off >= FirstOffsetNumber; off--)
	{
		uint32		id = FannMakeId(blkno, off, per_page);
		FannElement e = FannPageGetElement(page, off);

		if (!range_takes(es, r, id, e->flags, e->group, &owner))
			continue;
		es->rows[n] = &e->c;
		es->taken[n].id = id;
		es->taken[n].tid = e->heaptid;
		n++;
	}
	if (nextend)
	{
		/* the next page's header and line pointers now, its items later */
		FannPrefetchStart(&pf, nextpage, SizeOfPageHeaderData + maxoff * sizeof(ItemIdData), 0);
		FannPrefetchRest(&pf);
	}
	FannPrefetchStart(&pf, nextend ? nextend - maxoff * esize : NULL, maxoff * esize,
					  (n + FANN_EXACT_CHUNK - 1) / FANN_EXACT_CHUNK);
	offer_taken(es, n, &pf);
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
		uint16		type;
		BlockNumber nextblk = blkno + 1;
		Buffer		next = InvalidBuffer;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		type = FannPageType(page);
		if (!skip_others && type != FANN_PAGE_NEIGHBOR)
			FannCheckPage(page, FANN_PAGE_ELEMENT, es->index, blkno);

		/*
		 * Pin the next element page (the neighbour page of a unit follows
		 * its last element page: skip it unread) for the CPU to fetch while
		 * this one is scanned.
		 */
		if (type == FANN_PAGE_ELEMENT && FannPageGetOpaque(page)->next == nextblk)
			nextblk++;
		if (nextblk <= last)
			next = FannReadBuffer(es->index, nextblk);

		if (type == FANN_PAGE_ELEMENT)
			scan_page(es, page, blkno, r, BufferIsValid(next) ? BufferGetPage(next) : NULL);
		UnlockReleaseBuffer(buf);
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
	FannPrefetch pf;

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
			es->rows[0] = &e->c;
			es->taken[0].id = id;
			es->taken[0].tid = e->heaptid;
			FannPrefetchStart(&pf, NULL, 0, 0);
			offer_taken(es, 1, &pf);
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
	/* the next block may be the neighbour page of a unit */
		FannIdBlock(next->range_start, per_page) <=
		FannIdBlock(prev->range_end - 1, per_page) + 2;
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
	es->pruned = false;

	if (meta->elements_per_page == 0)
		 /* no vector indexed yet */ ;
	else if (set->selection != FANN_SELECT_LIST)
	{
		/* every element page, in block order, around the build's IVF pages */
		BlockNumber nblocks = RelationGetNumberOfBlocks(es->index);
		BlockNumber skip_start = nblocks,
					skip_end = nblocks;
		ScanRange	r = {0, InvalidFannId, NULL, NULL, 0, InvalidFannId};

		if (set->selection == FANN_SELECT_NON_NULL)
			r.skip_group = meta->null_group;
		if (meta->partitions > 0)
		{
			skip_start = meta->model_start;
			skip_end = meta->ivf_end;
		}
		if (skip_start > 1)
			scan_blocks(es, 1, skip_start - 1, &r, true);
		if (skip_end < nblocks)
			scan_blocks(es, Max(1, skip_end), nblocks - 1, &r, true);
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
	es->query = in->query;
	es->stats = in->stats;
	es->skip = in->skip;
	es->has_last = in->after != NULL;
	if (in->after)
		es->last = *in->after;
	es->max_capacity = Max(2 * FANN_FIRST_PASS_ROWS,
						   (int) Min((Size) work_mem * 1024 / sizeof(FannCandidate),
									 MaxAllocSize / sizeof(FannCandidate)));
	es->pruned = true;			/* so that the first pass runs */

	if (in->query)
		FannCodeQueryInit(&es->cq, (FannMetric) meta->metric, in->query, meta->dimensions);
	es->rows = palloc(sizeof(FannCodeData *) * MaxIndexTuplesPerPage);
	es->taken = palloc(sizeof(FannCandidate) * MaxIndexTuplesPerPage);
	es->lower = palloc(sizeof(double) * MaxIndexTuplesPerPage);
	return &es->base;
}

/*
 * The next row after the last one returned; false when none is left.  The
 * best candidate is next if the pass vouches for it: it comes before every
 * row the pass dropped, whose bounds were all after the bound.
 */
static bool
exact_next(FannSearch *search, FannCandidate *row)
{
	ExactSearch *es = (ExactSearch *) search;

	for (;;)
	{
		if (es->cands.n > 0 &&
			(!es->pruned || FannCandidateCompare(&es->cands.items[0], &es->bound) <= 0))
		{
			es->last = FannHeapPop(&es->cands);
			es->has_last = true;
			*row = es->last;
			return true;
		}
		/* a pass that kept everything left has nothing more to give */
		if (!es->pruned)
			return false;
		/* the next pass starts after the last row returned */
		exact_pass(es);
	}
}

static void
exact_end(FannSearch *search)
{
	ExactSearch *es = (ExactSearch *) search;

	FannHeapFree(&es->cands);
	pfree(es->rows);
	pfree(es->taken);
	pfree(es->lower);
	pfree(es);
}

const FannSearchMethods FannExactSearch = {
	.name = "exact",
	.begin = exact_begin,
	.next = exact_next,
	.end = exact_end,
};
