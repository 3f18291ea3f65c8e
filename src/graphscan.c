/*
 * graphscan.c
 *	  The graph search path: a beam search over the index pages, seeded from
 *	  the entry points of the minimal groups that satisfy the label
 *	  predicate (UNG, SIGMOD 2025, section 5).
 *
 * Containment and overlap predicates are closed under supersets, and edges
 * only lead to the same group or to supersets, so searches seeded from the
 * minimal matching groups reach matching rows only (each reached row's group
 * is still checked against the matching set, which also guards edges left
 * stale by VACUUM).  Equality follows intra-group edges only.
 *
 * Each entry group gets a beam of its own, sharing one visited set (UNG
 * section 5.2): one beam seeded from all of them converges on whichever
 * side's entry points happen to lie nearer the query and never expands the
 * others, which on overlap queries lost a third of the nearest rows.
 *
 * Distances are estimated from the elements' codes (quant.h), close enough
 * to navigate by; rows are handed out by the lower bounds of their distances
 * and the executor ranks them from the table (scan.c).
 *
 * The search is resumable: rows are handed out in order once the beam of
 * size ef has converged; when the executor wants more, ef doubles and
 * the search continues from the candidates it kept, never returning a row
 * twice.  When the search has reached everything it can (a beam as large as
 * the matching rows does), scan.c's exact searches return the rest, so a
 * large enough ef gives exactly the sequential scan's answer.  Linking an
 * inserted row (graph.c) takes the rows reached but not vouched for too.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "lira.h"
#include "quant.h"
#include "search.h"

/* Beams beyond this many share one (entry groups are assigned round robin) */
#define FANN_MAX_BEAMS		32
/* Rows of the nearest partition a beam starts from besides entry points */
#define FANN_PARTITION_SEEDS	16
/*
 * work_mem a visited row takes: its copies in a frontier, a best heap, the
 * pending heap and a found list, with room to grow
 */
#define FANN_VISIT_BYTES	128
typedef struct GraphSearch
{
	FannSearch	base;			/* base.cxt holds all the search allocates */
	Relation	index;
	const FannMetaPageData *meta;
	FannCodeQuery cq;			/* the query's distances to codes */
	FannGroupSet *groups;		/* matching groups, a list */
	FannScanStats *stats;
	FannLngReader lng;			/* the groups' parents */
	int			follow;			/* adjacency slots followed */
	bool		reached;		/* hand out unvouched rows too */

	FannIdHash	visited;
	uint32		nids;
	int64		nvisited;
	int64		max_visited;	/* work_mem's worth */

	int			nbeams;
	FannCandidateHeap frontier[FANN_MAX_BEAMS]; /* discovered, not expanded */
	FannCandidateHeap best[FANN_MAX_BEAMS]; /* the ef nearest live rows (max) */
	FannCandidateHeap found[FANN_MAX_BEAMS];	/* every live row discovered
												 * (a list) */
	/* frontier, best and found order rows by estimate, pending by bound */
	FannCandidateHeap pending;	/* discovered live rows not handed out */
	int			ef;
} GraphSearch;

/* The visited set is sized for each search's ef: not kept */
static void
clear_state(FannSearch *state)
{
	FannIdHashFree(&((GraphSearch *) state)->visited);
}

static FannStateKeeper keeper = {"graph", sizeof(GraphSearch), clear_state};

/* A zeroed search state, its heaps' arrays kept from the last search (keep.c) */
static GraphSearch *
take_state(void)
{
	GraphSearch last;
	GraphSearch *gs = (GraphSearch *) FannStateTake(&keeper, &last.base);

	for (int beam = 0; beam < FANN_MAX_BEAMS; beam++)
	{
		gs->frontier[beam] = FannHeapReuse(&last.frontier[beam], false);
		gs->best[beam] = FannHeapReuse(&last.best[beam], true);
		gs->found[beam] = FannHeapReuse(&last.found[beam], false);
	}
	gs->pending = FannHeapReuse(&last.pending, false);
	return gs;
}

/* Keep c among the ef nearest live rows of its beam */
static void
note_best(GraphSearch *gs, const FannCandidate *c, int beam)
{
	FannCandidateHeap *best = &gs->best[beam];

	if (best->n < gs->ef)
		FannHeapPush(best, c);
	else if (FannDistanceLess(c->distance, best->items[0].distance))
	{
		FannHeapPop(best);
		FannHeapPush(best, c);
	}
}

/*
 * Look at elements ids[0..n) for the first time: those that belong to a
 * matching group get their distance estimated and join the beam's frontier
 * (and, if live, the rows to hand out, by lower bound).  The search is bound
 * by memory latency: the whole neighbourhood is asked for before any of it
 * is read (FannPrefetchElement), then each element is pinned, read and
 * released in turn.
 */
static void
discover(GraphSearch *gs, const uint32 *ids, int n, int beam)
{
	int			per_page = gs->meta->elements_per_page;
	Size		esize = FANN_ELEMENT_SIZE(gs->meta->dimensions);
	uint32		todo[FANN_MAX_NEIGHBORS + FANN_ENTRY_POINTS];
	BlockNumber blks[FANN_MAX_NEIGHBORS + FANN_ENTRY_POINTS];
	OffsetNumber offs[FANN_MAX_NEIGHBORS + FANN_ENTRY_POINTS];
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		uint32		id = ids[i];

		/* ids of block 0, the metapage, name no element */
		if (id >= gs->nids || id < (uint32) per_page ||
			!FannIdHashAdd(&gs->visited, id))
			continue;
		gs->nvisited++;
		/* one division a row: the block, and the slot in it */
		blks[m] = FannIdBlock(id, per_page);
		offs[m] = FannIdOffset(id, per_page);
		todo[m] = id;
		FannPrefetchElement(gs->index, blks[m], offs[m], esize);
		m++;
	}

	for (int i = 0; i < m; i++)
	{
		Buffer		buf = FannReadBuffer(gs->index, blks[i]);
		Page		page;
		OffsetNumber off = offs[i];
		FannElement e;
		FannCandidate c;
		const FannCodeData *code;
		double		lower;
		int			slot;
		bool		live;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (FannPageType(page) != FANN_PAGE_ELEMENT ||
			off > PageGetMaxOffsetNumber(page))
		{
			UnlockReleaseBuffer(buf);
			continue;			/* a stale link: nothing there any more */
		}
		e = FannPageGetElement(page, off);
		gs->stats->elements_visited++;
		if ((e->flags & FANN_ELEMENT_FREE) ||
			!FannGroupSetContains(gs->groups, gs->meta, e->group))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		code = &e->c;
		FannCodeBounds(&gs->cq, &code, 1, &c.distance, &lower);
		c.id = todo[i];
		c.tid = e->heaptid;
		FannNeighborSlot(page, off, &c.list_block, &slot);
		c.list_slot = slot;
		live = !(e->flags & FANN_ELEMENT_DEAD);
		UnlockReleaseBuffer(buf);
		gs->stats->distance_computations++;

		FannHeapPush(&gs->frontier[beam], &c);
		if (live)
		{
			note_best(gs, &c, beam);
			FannHeapAppend(&gs->found[beam], &c);
			c.distance = lower;
			FannHeapPush(&gs->pending, &c);
		}
	}
}

/* Discover the neighbours of a discovered element for a beam */
static void
expand(GraphSearch *gs, const FannCandidate *c, int beam)
{
	uint32		nb[FANN_MAX_NEIGHBORS];
	Buffer		buf = FannReadBuffer(gs->index, c->list_block);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	FannCheckPage(page, FANN_PAGE_NEIGHBOR, gs->index, c->list_block);
	memcpy(nb, FannPageGetList(page, c->list_slot, gs->meta->graph_degree + gs->meta->cross_edges),
		   sizeof(uint32) * gs->follow);
	UnlockReleaseBuffer(buf);

	discover(gs, nb, gs->follow, beam);
}

/* Is a beam of size ef done: nothing left, or nothing left that is closer? */
static bool
converged(GraphSearch *gs, int beam)
{
	FannCandidateHeap *frontier = &gs->frontier[beam];
	FannCandidateHeap *best = &gs->best[beam];

	return frontier->n == 0 ||
		(best->n == gs->ef &&
		 FannDistanceLess(best->items[0].distance, frontier->items[0].distance));
}

/* Run every beam until it has converged */
static void
search(GraphSearch *gs)
{
	for (int beam = 0; beam < gs->nbeams; beam++)
		while (!converged(gs, beam) && gs->nvisited < gs->max_visited)
		{
			FannCandidate c = FannHeapPop(&gs->frontier[beam]);

			CHECK_FOR_INTERRUPTS();
			expand(gs, &c, beam);
		}
	/* over work_mem: stop searching, hand out what was found */
	if (gs->nvisited >= gs->max_visited)
		for (int beam = 0; beam < gs->nbeams; beam++)
			gs->frontier[beam].n = 0;
}

/* Double ef: each beam's best becomes its 2ef nearest live rows so far */
static void
widen(GraphSearch *gs)
{
	gs->ef *= 2;
	for (int beam = 0; beam < gs->nbeams; beam++)
	{
		gs->best[beam].n = 0;
		for (int64 i = 0; i < gs->found[beam].n; i++)
			note_best(gs, &gs->found[beam].items[i], beam);
	}
}

/*
 * Rows up to this distance are vouched for by every beam that can still
 * search; NaN (after everything) once none can.
 */
static double
vouched(GraphSearch *gs)
{
	double		bound = NAN;

	for (int beam = 0; beam < gs->nbeams; beam++)
		if (gs->frontier[beam].n > 0 && gs->best[beam].n > 0 &&
			FannDistanceLess(gs->best[beam].items[0].distance, bound))
			bound = gs->best[beam].items[0].distance;
	return bound;
}

/*
 * Seed each beam with rows of its group from the query's nearest IVF
 * partition, besides the group's entry points: the medoid and random
 * members are a long walk from a query at the edge of a large group, the
 * partition's rows are already near it (UNG section 5 starts from entry
 * points; DiskANN's filtered search starts from a label's medoid).  The
 * keys say a row's group without reading it; discover() checks each row
 * anew.  entered[0..n) are the groups beams were started for, in ascending
 * order, beams[] their beams.
 */
static void
seed_from_partition(GraphSearch *gs, const FannSearchInput *in,
					const uint32 *entered, const int *beams, int n)
{
	const FannMetaPageData *meta = gs->meta;
	FannBlockLayout l;
	uint32		seeds[FANN_MAX_BEAMS][FANN_PARTITION_SEEDS];
	int			nseeds[FANN_MAX_BEAMS] = {0};
	FannModel	m;
	float	   *work;
	int			nearest;
	BlockNumber blkno;

	if (meta->partitions == 0 || n == 0)
		return;
	FannModelCached(gs->index, meta, &m);
	FannBlockLayoutFor(meta->dimensions, &l);
	work = palloc(FannCentroidWorkBytes(1, m.partitions, m.dim));
	FannNearestCentroids(&m.table, 1, &in->query, work, &nearest);
	pfree(work);
	blkno = FannPartitionFirstBlock(gs->index, meta, nearest);
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf = FannReadBuffer(gs->index, blkno);
		Page		page;
		int			nblocks;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_PARTITION, gs->index, blkno);
		nblocks = FannBlockCount(page, &l);
		for (int i = 0; i < nblocks; i++)
		{
			const FannBlockData *b = FannPageGetBlock(page, &l, i);

			gs->stats->elements_visited += b->nrows;
			for (int r = 0; r < Min(b->nrows, FANN_BLOCK_ROWS); r++)
			{
				int			at = FannIdLowerBound(entered, n, b->groups[r]);

				if (b->ids[r] != InvalidFannId && at < n && entered[at] == b->groups[r] &&
					nseeds[beams[at]] < FANN_PARTITION_SEEDS)
					seeds[beams[at]][nseeds[beams[at]]++] = b->ids[r];
			}
		}
		blkno = FannPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	for (int beam = 0; beam < gs->nbeams; beam++)
		discover(gs, seeds[beam], nseeds[beam], beam);
}

/*
 * Does one of the group's parents match the predicate too, and have rows?
 * Then the search reaches the group from there.  Its LNG parents, or, for a
 * group created after the build, the parents it names.
 */
static bool
has_matching_parent(GraphSearch *gs, const FannGroupData *g)
{
	const FannGroupSet *set = gs->groups;
	uint32	   *parents = palloc(sizeof(uint32) * Max(g->nparents, FANN_NEW_PARENTS));
	int			n = g->nparents;
	bool		found = false;

	if (n > 0)
		FannLngEdges(gs->index, gs->meta, &gs->lng, g, 0, n, parents);
	else
		for (; n < FANN_NEW_PARENTS && g->parents[n] != InvalidFannId; n++)
			parents[n] = g->parents[n];
	for (int k = 0; k < n && !found; k++)
	{
		int			i = FannIdLowerBound(set->groups, set->ngroups, parents[k]);

		found = i < set->ngroups && set->groups[i] == parents[k] && set->data[i].nlive > 0;
	}
	pfree(parents);
	return found;
}

/*
 * Start a graph search over the groups of in->groups (a loaded list),
 * seeded from the entry points of its minimal groups: those none of whose
 * parents match (has_matching_parent).  An equality predicate follows
 * intra-group edges only.
 */
static FannSearch *
graph_begin(const FannSearchInput *in)
{
	GraphSearch *gs;
	MemoryContext oldcxt;
	const FannMetaPageData *meta = in->meta;
	bool		equality = in->groups->equality;
	uint32	   *entered;
	int		   *beams;
	int			nentered = 0;

	/* the groups' entries, in the scan's memory */
	if (in->groups->data == NULL)
		FannGroupSetLoad(in->index, meta, in->groups);
	gs = take_state();
	oldcxt = MemoryContextSwitchTo(gs->base.cxt);
	gs->base.methods = &FannGraphSearch;
	gs->index = in->index;
	gs->meta = meta;
	FannCodeQueryInit(&gs->cq, (FannMetric) meta->metric, in->query, meta->dimensions);
	gs->groups = in->groups;
	gs->stats = in->stats;
	gs->lng.blkno = InvalidBlockNumber;
	gs->reached = in->reached;
	gs->follow = equality ? meta->graph_degree : meta->graph_degree + meta->cross_edges;
	gs->nids = in->nblocks * meta->elements_per_page;
	FannRecentBuffersReserve(in->index, in->nblocks);	/* inserts search too */
	gs->max_visited = Max(1024, (int64) work_mem * 1024 / FANN_VISIT_BYTES);
	/* a beam expands about ef rows, each meeting about half its list anew */
	FannIdHashInit(&gs->visited, (uint32) Min((int64) in->ef * gs->follow / 2, gs->max_visited));
	/* rows never to visit: the graph's calibration leaves its query out */
	for (uint32 i = 0; in->skip != NULL && i <= in->skip->mask; i++)
		if (in->skip->slots[i] != FANN_ID_HASH_EMPTY)
			FannIdHashAdd(&gs->visited, in->skip->slots[i]);
	gs->ef = in->ef;

	entered = palloc(sizeof(uint32) * Max(in->groups->ngroups, 1));
	beams = palloc(sizeof(int) * Max(in->groups->ngroups, 1));
	for (int i = 0; i < in->groups->ngroups; i++)
	{
		const FannGroupData *g = &in->groups->data[i];
		int			beam;

		if (!equality && has_matching_parent(gs, g))
			continue;
		beam = gs->stats->groups_entered++ % FANN_MAX_BEAMS;
		gs->nbeams = Max(gs->nbeams, beam + 1);
		discover(gs, g->entry_points, FANN_ENTRY_POINTS, beam);
		entered[nentered] = in->groups->groups[i];
		beams[nentered++] = beam;
	}
	seed_from_partition(gs, in, entered, beams, nentered);
	pfree(entered);
	pfree(beams);
	search(gs);
	MemoryContextSwitchTo(oldcxt);
	return &gs->base;
}

/*
 * The next row, nearest first among those the converged beams vouch for;
 * widens the beams when those run out.  Once the graph has nothing more to
 * reach (or work_mem is used up), the rows it reached but has not handed out
 * follow if in->reached was set (linking a new row wants its nearest
 * reachable rows); else it returns false, and those rows and any the graph
 * could not reach are the exact searches' to return, in order, after the
 * last row returned (an unreachable row may be nearer than they are).
 */
static bool
graph_next(FannSearch *search_state, FannCandidate *row)
{
	GraphSearch *gs = (GraphSearch *) search_state;

	for (;;)
	{
		double		bound = vouched(gs);
		MemoryContext oldcxt;

		if (gs->pending.n > 0 &&
			(isnan(bound) ? gs->reached :
			 !FannDistanceLess(bound, gs->pending.items[0].distance)))
		{
			*row = FannHeapPop(&gs->pending);
			return true;
		}
		if (isnan(bound))
			return false;
		oldcxt = MemoryContextSwitchTo(gs->base.cxt);
		widen(gs);
		search(gs);
		MemoryContextSwitchTo(oldcxt);
	}
}

static void
graph_end(FannSearch *search_state)
{
	FannStateRelease(search_state);
}

const FannSearchMethods FannGraphSearch = {
	.name = "graph",
	.begin = graph_begin,
	.next = graph_next,
	.end = graph_end,
};
