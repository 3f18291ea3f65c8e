/*
 * ungscan.c
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
 * The search is resumable: rows are handed out in distance order once the
 * beam of size ef has converged; when the executor wants more, ef doubles and
 * the search continues from the candidates it kept, never returning a row
 * twice.  When the search has reached everything it can (a beam as large as
 * the matching rows does), the caller's exact path returns the rest, so a
 * large enough ef gives exactly the sequential scan's answer.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "ung.h"

/* Beams beyond this many share one (entry groups are assigned round robin) */
#define FANN_MAX_BEAMS		32

typedef struct GraphCand
{
	double		dist;
	uint32		id;
	ItemPointerData tid;
	uint16		beam;
	uint16		slot;			/* where its adjacency list is */
	BlockNumber nblkno;
} GraphCand;

typedef struct CandHeap
{
	GraphCand  *items;
	int			n;
	int			cap;
	bool		max;			/* max-heap, else min-heap */
} CandHeap;

struct FannGraphScan
{
	Relation	index;
	FannMetaPageData meta;
	FannDistanceFunction distance;
	const float *query;
	uint32	   *groups;			/* matching groups, sorted */
	int			ngroups;
	int			follow;			/* adjacency slots followed */

	uint64	   *visited;		/* bitmap over the element ids */
	uint32		nids;
	int64		nvisited;
	int64		max_visited;	/* work_mem's worth */

	int			nbeams;
	CandHeap	frontier[FANN_MAX_BEAMS];	/* discovered, not expanded (min) */
	CandHeap	best[FANN_MAX_BEAMS];	/* the ef nearest live rows (max) */
	CandHeap	pending;		/* discovered live rows not handed out (min) */
	GraphCand  *found;			/* every live row discovered */
	int64		nfound;
	int64		capfound;
	int			ef;
};

/* Distance order with NaN after every number, as float8 sorts */
static inline bool
dist_lt(double a, double b)
{
	return a < b || (!isnan(a) && isnan(b));
}

static inline bool
heap_before(const CandHeap *h, const GraphCand *a, const GraphCand *b)
{
	if (a->dist != b->dist && !(isnan(a->dist) && isnan(b->dist)))
		return h->max ? dist_lt(b->dist, a->dist) : dist_lt(a->dist, b->dist);
	return h->max ? a->id > b->id : a->id < b->id;
}

static void
heap_push(CandHeap *h, const GraphCand *c)
{
	int			i;

	if (h->n == h->cap)
	{
		h->cap = Max(64, h->cap * 2);
		h->items = h->items ? repalloc_huge(h->items, sizeof(GraphCand) * h->cap) :
			palloc(sizeof(GraphCand) * h->cap);
	}
	for (i = h->n++; i > 0 && heap_before(h, c, &h->items[(i - 1) / 2]); i = (i - 1) / 2)
		h->items[i] = h->items[(i - 1) / 2];
	h->items[i] = *c;
}

static GraphCand
heap_pop(CandHeap *h)
{
	GraphCand	top = h->items[0];
	GraphCand	last = h->items[--h->n];
	int			i = 0;

	for (;;)
	{
		int			l = 2 * i + 1,
					m = l;

		if (l >= h->n)
			break;
		if (l + 1 < h->n && heap_before(h, &h->items[l + 1], &h->items[l]))
			m = l + 1;
		if (!heap_before(h, &h->items[m], &last))
			break;
		h->items[i] = h->items[m];
		i = m;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

static bool
is_member(FannGraphScan *gs, uint32 gid)
{
	return bsearch(&gid, gs->groups, gs->ngroups, sizeof(uint32), FannCompareIds) != NULL;
}

/* Keep c among the ef nearest live rows of its beam */
static void
note_best(FannGraphScan *gs, const GraphCand *c)
{
	CandHeap   *best = &gs->best[c->beam];

	if (best->n < gs->ef)
		heap_push(best, c);
	else if (dist_lt(c->dist, best->items[0].dist))
	{
		heap_pop(best);
		heap_push(best, c);
	}
}

/*
 * Look at elements ids[0..n) for the first time: those that belong to a
 * matching group get their distance computed and join the beam's frontier
 * (and, if live, the rows to hand out).  The search is bound by memory
 * latency, so all pages are pinned and their elements prefetched before any
 * is read: the misses of the whole neighbourhood overlap.
 */
static void
discover(FannGraphScan *gs, const uint32 *ids, int n, int beam)
{
	int			per_page = gs->meta.elements_per_page;
	Size		esize = FANN_ELEMENT_SIZE(gs->meta.dimensions);
	uint32		todo[FANN_MAX_NEIGHBORS + FANN_GROUP_ENTRIES];
	Buffer		bufs[FANN_MAX_NEIGHBORS + FANN_GROUP_ENTRIES];
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		uint32		id = ids[i];

		/* ids of block 0, the metapage, name no element */
		if (id >= gs->nids || id < (uint32) per_page ||
			FannIdSetContains(gs->visited, gs->nids, id))
			continue;
		FannIdSetAdd(gs->visited, gs->nids, id);
		gs->nvisited++;
		todo[m++] = id;
		FannPrefetchBuffer(gs->index, FannIdBlock(id, per_page));
	}
	for (int i = 0; i < m; i++)
		bufs[i] = FannReadBuffer(gs->index, FannIdBlock(todo[i], per_page));
	/*
	 * Items are fixed-size, laid out from the page end: no need to read line
	 * pointers to find them.  The page header and special space are read to
	 * check the item, so they are fetched too.
	 */
	for (int i = 0; i < m; i++)
	{
		char	   *page = (char *) BufferGetPage(bufs[i]);
		char	   *special = page + BLCKSZ - MAXALIGN(sizeof(FannPageOpaqueData));
		char	   *item = special - FannIdOffset(todo[i], per_page) * esize;

		__builtin_prefetch(page);
		__builtin_prefetch(special);
		for (Size off = 0; off < esize; off += 64)
			__builtin_prefetch(item + off);
	}

	for (int i = 0; i < m; i++)
	{
		Page		page;
		OffsetNumber off = FannIdOffset(todo[i], per_page);
		FannElement e;
		GraphCand	c;
		bool		live;

		LockBuffer(bufs[i], BUFFER_LOCK_SHARE);
		page = BufferGetPage(bufs[i]);
		if (FannPageGetOpaque(page)->type != FANN_PAGE_ELEMENT ||
			off > PageGetMaxOffsetNumber(page))
		{
			UnlockReleaseBuffer(bufs[i]);
			continue;			/* a stale link: nothing there any more */
		}
		e = (FannElement) PageGetItem(page, PageGetItemId(page, off));
		fann_last_stats.elements_visited++;
		if ((e->flags & FANN_ELEMENT_FREE) || !is_member(gs, e->group))
		{
			UnlockReleaseBuffer(bufs[i]);
			continue;
		}
		c.dist = gs->distance(gs->query, e->vec, gs->meta.dimensions);
		c.id = todo[i];
		c.tid = e->heaptid;
		c.beam = beam;
		{
			int			slot;

			FannNeighborSlot(page, off, &c.nblkno, &slot);
			c.slot = slot;
		}
		live = !(e->flags & FANN_ELEMENT_DEAD);
		UnlockReleaseBuffer(bufs[i]);
		fann_last_stats.distance_computations++;

		heap_push(&gs->frontier[beam], &c);
		if (live)
		{
			heap_push(&gs->pending, &c);
			note_best(gs, &c);
			if (gs->nfound == gs->capfound)
			{
				gs->capfound = Max(256, gs->capfound * 2);
				gs->found = gs->found ? repalloc_huge(gs->found, sizeof(GraphCand) * gs->capfound) :
					palloc(sizeof(GraphCand) * gs->capfound);
			}
			gs->found[gs->nfound++] = c;
		}
	}
}

/* Discover the neighbours of a discovered element for a beam */
static void
expand(FannGraphScan *gs, const GraphCand *c, int beam)
{
	uint32		nb[FANN_MAX_NEIGHBORS];
	Buffer		buf = FannReadBuffer(gs->index, c->nblkno);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	FannCheckPage(page, FANN_PAGE_NEIGHBOR, gs->index, c->nblkno);
	memcpy(nb, FannPageGetList(page, c->slot, gs->meta.graph_degree + gs->meta.cross_edges),
		   sizeof(uint32) * gs->follow);
	UnlockReleaseBuffer(buf);

	discover(gs, nb, gs->follow, beam);
}

/* Is a beam of size ef done: nothing left, or nothing left that is closer? */
static bool
converged(FannGraphScan *gs, int beam)
{
	CandHeap   *frontier = &gs->frontier[beam];
	CandHeap   *best = &gs->best[beam];

	return frontier->n == 0 ||
		(best->n == gs->ef && dist_lt(best->items[0].dist, frontier->items[0].dist));
}

/* Run every beam until it has converged */
static void
search(FannGraphScan *gs)
{
	for (int beam = 0; beam < gs->nbeams; beam++)
		while (!converged(gs, beam) && gs->nvisited < gs->max_visited)
		{
			GraphCand	c = heap_pop(&gs->frontier[beam]);

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
widen(FannGraphScan *gs)
{
	gs->ef *= 2;
	for (int beam = 0; beam < gs->nbeams; beam++)
		gs->best[beam].n = 0;
	for (int64 i = 0; i < gs->nfound; i++)
		note_best(gs, &gs->found[i]);
}

/*
 * Rows up to this distance are vouched for by every beam that can still
 * search; NaN (after everything) once none can.
 */
static double
vouched(FannGraphScan *gs)
{
	double		bound = NAN;

	for (int beam = 0; beam < gs->nbeams; beam++)
		if (gs->frontier[beam].n > 0 && gs->best[beam].n > 0 &&
			dist_lt(gs->best[beam].items[0].dist, bound))
			bound = gs->best[beam].items[0].dist;
	return bound;
}

/* Does one of the group's LNG parents match the predicate too? */
static bool
has_matching_parent(FannGraphScan *gs, const FannGroupData *g)
{
	for (int k = 0; k < g->nparents; k++)
		if (is_member(gs, FannLngEdge(gs->index, &gs->meta, g, k)))
			return true;
	return false;
}

/*
 * Start a graph search for query over the groups of set (a list) in the
 * index's first nblocks blocks, seeded from the entry points of its minimal
 * groups: those none of whose LNG parents match.  Groups created after the
 * build have no LNG edges and are always entered.
 */
FannGraphScan *
FannGraphBegin(Relation index, FannMetaPage meta, BlockNumber nblocks,
			   FannGroupSet *set,
			   bool equality, FannDistanceFunction distance, const float *query,
			   int ef)
{
	FannGraphScan *gs = palloc0(sizeof(FannGraphScan));

	gs->index = index;
	gs->meta = *meta;
	gs->distance = distance;
	gs->query = query;
	gs->groups = set->groups;
	gs->ngroups = set->ngroups;
	gs->follow = equality ? meta->graph_degree : meta->graph_degree + meta->cross_edges;
	gs->nids = nblocks * meta->elements_per_page;
	gs->visited = FannIdSetCreate(gs->nids);
	FannRecentBuffersReserve(index, nblocks);	/* inserts search too */
	gs->max_visited = Max(1024, (int64) work_mem * 1024 / (4 * sizeof(GraphCand)));
	gs->pending.max = false;
	for (int beam = 0; beam < FANN_MAX_BEAMS; beam++)
	{
		gs->frontier[beam].max = false;
		gs->best[beam].max = true;
	}
	gs->ef = ef;

	for (int i = 0; i < set->ngroups; i++)
	{
		const FannGroupData *g = &set->data[i];

		int			beam;

		if (!equality && has_matching_parent(gs, g))
			continue;
		beam = fann_last_stats.groups_entered++ % FANN_MAX_BEAMS;
		gs->nbeams = Max(gs->nbeams, beam + 1);
		discover(gs, g->entries, FANN_GROUP_ENTRIES, beam);
	}
	search(gs);
	return gs;
}

/*
 * The next row, nearest first among those the converged beam vouches for;
 * widens the beam when those run out.  Once the graph has nothing more to
 * reach (or work_mem is used up), the rows it reached but has not handed out
 * follow if reached is true (linking a new row wants its nearest reachable
 * rows); else it returns false, and those rows and any the graph could not
 * reach are the caller's exact passes' to return, in order, after the last
 * row returned (an unreachable row may be nearer than they are).
 */
bool
FannGraphNext(FannGraphScan *gs, bool reached, double *distance, ItemPointer tid,
			  uint32 *id)
{
	for (;;)
	{
		double		bound = vouched(gs);

		if (gs->pending.n > 0 &&
			(isnan(bound) ? reached : !dist_lt(bound, gs->pending.items[0].dist)))
		{
			GraphCand	c = heap_pop(&gs->pending);

			*distance = c.dist;
			*tid = c.tid;
			*id = c.id;
			return true;
		}
		if (isnan(bound))
			return false;
		widen(gs);
		search(gs);
	}
}
