/*
 * graph.c
 *	  Keeping the graph in the index pages current after the build: linking
 *	  a row inserted later (FreshDiskANN insert: search its group, RobustPrune,
 *	  reverse edges; UNG cross edges to its group's LNG children) and
 *	  repairing the neighbourhoods of rows VACUUM removes (FreshDiskANN delete
 *	  consolidation: a dead neighbour is replaced by its own neighbours).
 *
 * Inserts and VACUUM change adjacency lists concurrently, each list by
 * compare-and-write: a list is read, its new contents computed with no lock
 * held, and written under its neighbour page's exclusive lock only if it is
 * still what was read; otherwise the change is computed again from the list
 * as it now is, so no writer's edge is lost.  No edge is ever written to a
 * DEAD or FREE element (the prune drops them; searches return live rows
 * only), and VACUUM waits out the inserts that could have seen a row live
 * before it marked it DEAD (fann.h, FANN_UPDATE_LOCK) before repairing, so
 * once the repair has passed no edge leads to a slot that may be reused.
 * Scans read adjacency lists under page share locks only.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "quant.h"
#include "search.h"
#include "storage/lmgr.h"
#include "ung.h"
#include "utils/memutils.h"

/* Rows of each parent that take a cross edge to a row of a new group */
#define FANN_PARENT_LINKS	3

/* A copy of an element: vector, neighbours, group, flags */
typedef struct ElementCopy
{
	float	   *vec;
	uint32		nb[FANN_MAX_NEIGHBORS];
	uint32		group;
	uint16		flags;
} ElementCopy;

/* Pin the element page of id, checked; share-locked */
static Buffer
element_page(Relation index, FannMetaPage meta, uint32 id)
{
	BlockNumber blkno = FannIdBlock(id, meta->elements_per_page);
	Buffer		buf;

	/* no element lives on the metapage: a corrupt edge */
	if (blkno == FANN_METAPAGE_BLKNO)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" has an edge to element %u, which does not exist",
						RelationGetRelationName(index), id),
				 errhint("Please REINDEX it.")));
	buf = ReadBuffer(index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_ELEMENT, index, blkno);
	return buf;
}

/* Copy element id's vector, group and flags, and with neighbors its list */
static void
read_element(Relation index, FannMetaPage meta, uint32 id, ElementCopy *c,
			 bool neighbors)
{
	int			nneighbors = meta->graph_degree + meta->cross_edges;
	Buffer		buf = element_page(index, meta, id);
	Page		page = BufferGetPage(buf);
	OffsetNumber off = FannIdOffset(id, meta->elements_per_page);
	FannElement e = FannPageGetElement(page, off);
	BlockNumber nblkno;
	int			slot;

	FannDecode(&e->c, meta->dimensions, c->vec);
	c->group = e->group;
	c->flags = e->flags;
	FannNeighborSlot(page, off, &nblkno, &slot);
	UnlockReleaseBuffer(buf);
	if (!neighbors)
		return;

	buf = ReadBuffer(index, nblkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_NEIGHBOR, index, nblkno);
	memcpy(c->nb, FannPageGetList(BufferGetPage(buf), slot, nneighbors),
		   sizeof(uint32) * nneighbors);
	UnlockReleaseBuffer(buf);
}

/*
 * Overwrite n adjacency slots of element id from slot first on, if they
 * still hold expect (NULL: whatever they hold); returns whether it wrote.
 */
static bool
write_neighbors(Relation index, FannMetaPage meta, uint32 id, int first,
				const uint32 *expect, const uint32 *nb, int n)
{
	Buffer		buf = element_page(index, meta, id);
	GenericXLogState *state;
	BlockNumber nblkno;
	int			slot;
	uint32	   *list;

	FannNeighborSlot(BufferGetPage(buf), FannIdOffset(id, meta->elements_per_page),
					 &nblkno, &slot);
	UnlockReleaseBuffer(buf);

	buf = ReadBuffer(index, nblkno);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_NEIGHBOR, index, nblkno);
	list = FannPageGetList(BufferGetPage(buf), slot, meta->graph_degree + meta->cross_edges) + first;
	if (expect != NULL && memcmp(list, expect, sizeof(uint32) * n) != 0)
	{
		UnlockReleaseBuffer(buf);
		return false;
	}
	state = GenericXLogStart(index);
	list = FannPageGetList(GenericXLogRegisterBuffer(state, buf, 0), slot,
						   meta->graph_degree + meta->cross_edges) + first;
	memcpy(list, nb, sizeof(uint32) * n);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return true;
}

/* Is id among list[0..n)? */
static bool
list_has(const uint32 *list, int n, uint32 id)
{
	for (int i = 0; i < n; i++)
		if (list[i] == id)
			return true;
	return false;
}

/* A candidate of a prune: its id and its position in the candidate list */
typedef struct Candidate
{
	uint32		id;
	int			pos;
} Candidate;

static int
cmp_candidate(const void *a, const void *b)
{
	uint32		x = ((const Candidate *) a)->id;
	uint32		y = ((const Candidate *) b)->id;

	return (x > y) - (x < y);
}

/*
 * The vectors of elements ids[0..n) into vectors (row i for ids[i]), each
 * element page read once (a group's rows share pages: the build lays them
 * out by locality); the live ones' distances to pvec and positions into
 * live.  Returns how many are live.
 */
static int
read_candidates(Relation index, FannMetaPage meta, const float *pvec,
				const uint32 *ids, int n, float *vectors, FannNear *live)
{
	FannDistanceFunction distance = FannGetDistance((FannMetric) meta->metric);
	int			per_page = meta->elements_per_page;
	Candidate  *order = palloc(sizeof(Candidate) * Max(n, 1));
	Buffer		buf = InvalidBuffer;
	int			m = 0;

	for (int i = 0; i < n; i++)
		order[i] = (Candidate) {ids[i], i};
	qsort(order, n, sizeof(Candidate), cmp_candidate);
	for (int i = 0; i < n; i++)
	{
		uint32		id = order[i].id;
		float	   *v = vectors + (size_t) order[i].pos * meta->dimensions;
		FannElement e;

		if (i == 0 || FannIdBlock(id, per_page) != FannIdBlock(order[i - 1].id, per_page))
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = element_page(index, meta, id);
		}
		e = FannPageGetElement(BufferGetPage(buf), FannIdOffset(id, per_page));
		if (e->flags & (FANN_ELEMENT_DEAD | FANN_ELEMENT_FREE))
			continue;
		FannDecode(&e->c, meta->dimensions, v);
		live[m++] = (FannNear) {(float) distance(pvec, v, meta->dimensions), order[i].pos, false};
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	return m;
}

/*
 * RobustPrune over ids[0..n) as neighbours of the row with vector pvec:
 * reads each candidate's vector once, for its distance to pvec and for the
 * prune's pairwise distances, and keeps at most max_degree ids in out,
 * InvalidFannId-padded.  DEAD and FREE candidates are dropped.
 */
static void
prune(Relation index, FannMetaPage meta, const float *pvec, const uint32 *ids,
	  int n, int max_degree, uint32 *out)
{
	VamanaSpace sp;
	FannNear   *cands = palloc(sizeof(FannNear) * Max(n, 1));
	uint32	   *local = palloc(sizeof(uint32) * max_degree);
	float	   *vectors = palloc(sizeof(float) * meta->dimensions * Max(n, 1));
	int			m = read_candidates(index, meta, pvec, ids, n, vectors, cands);

	sp.vectors = vectors;
	sp.dim = meta->dimensions;
	sp.distance = FannGetDistance((FannMetric) meta->metric);
	sp.alpha = meta->alpha;
	/* p itself is not among the candidates: give it an index none has */
	VamanaPrune(&sp, n, cands, m, max_degree, local);
	for (int i = 0; i < max_degree; i++)
		out[i] = local[i] == InvalidFannId ? InvalidFannId : ids[local[i]];
}

/*
 * Up to want nearest live rows of one group to vec, nearest first: a graph
 * search, ef wide, that also takes the rows it reached but cannot vouch for.
 */
static int
search_group(Relation index, FannMetaPage meta, uint32 gid, FannGroupData *g,
			 const float *vec, int ef, int want, uint32 exclude, FannNear *near)
{
	FannGroupSet set;
	FannScanStats stats;
	FannSearchInput in;
	FannSearch *search;
	FannCandidate c;
	int			n = 0;

	MemSet(&set, 0, sizeof(set));
	set.selection = FANN_SELECT_LIST;
	set.groups = &gid;
	set.ngroups = 1;
	set.equality = true;		/* intra-group edges only */
	set.data = g;
	MemSet(&stats, 0, sizeof(stats));
	MemSet(&in, 0, sizeof(in));
	in.index = index;
	in.meta = meta;
	in.nblocks = RelationGetNumberOfBlocks(index);
	in.groups = &set;
	in.distance = FannGetDistance((FannMetric) meta->metric);
	in.query = vec;
	in.stats = &stats;
	in.ef = ef;
	in.reached = true;
	search = FannGraphSearch.begin(&in);
	while (n < want && FannSearchNext(search, &c))
		if (c.id != exclude)
			near[n++] = (FannNear) {(float) c.distance, c.id, false};
	FannSearchEnd(search);
	return n;
}


/*
 * Add the candidates ids[0..n) to the intra-group neighbours of element p of
 * group gid (pvec: p's vector, NULL for its code's): a list with room takes
 * them as they are (FreshDiskANN), an empty or overfull one is pruned.  The
 * list is compared and written (above) until no other writer came between;
 * a p that died or whose slot changed hands is left to VACUUM.  The list p
 * has then goes to out (R slots).
 */
static void
merge_neighbors(Relation index, FannMetaPage meta, uint32 p, uint32 gid,
				const float *pvec, const uint32 *cands, int n, uint32 *out)
{
	int			R = meta->graph_degree;
	uint32	   *ids = palloc(sizeof(uint32) * (R + n));
	ElementCopy pc;

	pc.vec = palloc(sizeof(float) * meta->dimensions);
	for (;;)
	{
		int			m = 0;
		int			have;

		read_element(index, meta, p, &pc, true);
		if ((pc.flags & (FANN_ELEMENT_DEAD | FANN_ELEMENT_FREE)) || pc.group != gid)
		{
			for (int k = 0; k < R; k++)
				out[k] = InvalidFannId;
			return;
		}
		while (m < R && pc.nb[m] != InvalidFannId)
		{
			ids[m] = pc.nb[m];
			m++;
		}
		have = m;
		for (int i = 0; i < n; i++)
			if (cands[i] != p && !list_has(ids, m, cands[i]))
				ids[m++] = cands[i];
		if (m == have)
		{
			memcpy(out, pc.nb, sizeof(uint32) * R);
			return;
		}
		if (have > 0 && m <= R)
		{
			memcpy(out, ids, sizeof(uint32) * m);
			for (int k = m; k < R; k++)
				out[k] = InvalidFannId;
		}
		else
			prune(index, meta, pvec ? pvec : pc.vec, ids, m, R, out);
		/* a full list often prunes the newcomer away: nothing to write */
		if (memcmp(out, pc.nb, sizeof(uint32) * R) == 0 ||
			write_neighbors(index, meta, p, 0, pc.nb, out, R))
			return;
	}
}

/*
 * Make element id an entry point of group gid if the group has a free slot
 * (a group created after the build takes its first rows)
 */
static void
claim_entry_point(Relation index, uint32 gid, uint32 id)
{
	Buffer		buf = ReadBuffer(index, FannIdBlock(gid, FANN_GROUPS_PER_PAGE));
	OffsetNumber off = FannIdOffset(gid, FANN_GROUPS_PER_PAGE);
	FannGroup	g;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_GROUP, index, BufferGetBlockNumber(buf));
	g = FannPageGetGroup(BufferGetPage(buf), off);
	for (int k = 0; k < FANN_ENTRY_POINTS; k++)
	{
		GenericXLogState *state;

		if (g->entry_points[k] == id)
			break;
		if (g->entry_points[k] != InvalidFannId)
			continue;
		state = GenericXLogStart(index);
		FannPageGetGroup(GenericXLogRegisterBuffer(state, buf, 0), off)->entry_points[k] = id;
		GenericXLogFinish(state);
		break;
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Give element x a cross edge to id, a row with vector vec of one of the
 * groups x's group is a parent of: into a free cross slot, else in place of
 * x's farthest cross edge if id is nearer (UNG 4.3: a row's cross edges are
 * the nearest rows of its children) or if force.  Compare-and-write.
 */
static void
add_cross_edge(Relation index, FannMetaPage meta, uint32 x, uint32 id,
			   const float *vec, bool force)
{
	FannDistanceFunction distance = FannGetDistance((FannMetric) meta->metric);
	int			R = meta->graph_degree;
	int			C = meta->cross_edges;
	ElementCopy xc;
	float	   *vectors = palloc(sizeof(float) * meta->dimensions * C);

	xc.vec = palloc(sizeof(float) * meta->dimensions);
	for (;;)
	{
		uint32		cross[FANN_MAX_CROSS_EDGES];
		int			at = -1;

		read_element(index, meta, x, &xc, true);
		if (xc.flags & (FANN_ELEMENT_DEAD | FANN_ELEMENT_FREE))
			return;
		memcpy(cross, xc.nb + R, sizeof(uint32) * C);
		if (list_has(cross, C, id))
			return;
		/* a free slot, else a dead target's, else the farthest's */
		for (int k = 0; k < C && at < 0; k++)
			if (cross[k] == InvalidFannId)
				at = k;
		if (at < 0)
		{
			FannNear	live[FANN_MAX_CROSS_EDGES];
			bool		alive[FANN_MAX_CROSS_EDGES] = {false};
			int			m = read_candidates(index, meta, xc.vec, cross, C, vectors, live);
			float		worst = -INFINITY;

			for (int i = 0; i < m; i++)
			{
				alive[live[i].id] = true;
				if (live[i].dist > worst)
				{
					worst = live[i].dist;
					at = live[i].id;
				}
			}
			if (m < C)
				for (int k = 0; k < C; k++)
					if (!alive[k])
					{
						worst = INFINITY;
						at = k;
						break;
					}
			if (!force && distance(xc.vec, vec, meta->dimensions) >= worst)
				return;
		}
		cross[at] = id;
		if (write_neighbors(index, meta, x, R, xc.nb + R, cross, C))
			return;
	}
}

/*
 * A row of a group created after the build is reached from the parents the
 * group names (FannGroupData.parents): the FANN_PARENT_LINKS rows of each
 * parent nearest to it take a cross edge to it, the group's first rows
 * (force) in place of their farthest, so that every parent leads into it.
 * VACUUM keeps them as it keeps every cross edge.
 */
static void
link_from_parents(Relation index, FannMetaPage meta, uint32 id, const FannGroupData *g,
				  const float *vec, bool force)
{
	FannNear	near[FANN_PARENT_LINKS];

	for (int k = 0; k < FANN_NEW_PARENTS && g->parents[k] != InvalidFannId; k++)
	{
		uint32		pgid = g->parents[k];
		FannGroupData pg;
		int			m;

		if (!FannReadGroups(index, &pgid, 1, &pg))
			continue;
		m = search_group(index, meta, pgid, &pg, vec, FannCrossList(meta->cross_edges, false),
						 FANN_PARENT_LINKS, id, near);
		for (int i = 0; i < m; i++)
			add_cross_edge(index, meta, near[i].id, id, vec, force);
	}
}

/*
 * Link element id, just inserted into group gid with vector vec, into the
 * graph: its nearest rows of the group by RobustPrune, the reverse edges,
 * cross edges to the nearest rows of the group's LNG children, cross edges
 * to it from the parents a group created after the build names, and an
 * entry point slot if the group has a free one.  A group with a free entry slot
 * links one row at a time (a heavyweight lock on its group page's number):
 * rows linked side by side into a new group would find no entry point and
 * no neighbour, and one of them could end up unreachable.
 */
void
FannGraphLink(Relation index, FannMetaPage meta, uint32 id, uint32 gid, const float *vec)
{
	int			R = meta->graph_degree;
	int			C = meta->cross_edges;
	int			L = meta->build_list;
	BlockNumber gblkno = FannIdBlock(gid, FANN_GROUPS_PER_PAGE);
	FannGroupData g;
	FannNear   *near = palloc(sizeof(FannNear) * L);
	uint32	   *ids = palloc(sizeof(uint32) * L);
	uint32		nb[FANN_MAX_NEIGHBORS];
	bool		bootstrap = false;
	int			n;

	for (;;)
	{
		if (!FannReadGroups(index, &gid, 1, &g))
			elog(ERROR, "fann group %u vanished", gid);
		if (bootstrap)
			break;
		for (int k = 0; k < FANN_ENTRY_POINTS && !bootstrap; k++)
			bootstrap = g.entry_points[k] == InvalidFannId;
		if (!bootstrap)
			break;
		LockPage(index, gblkno, ExclusiveLock);
	}

	n = search_group(index, meta, gid, &g, vec, L, L, id, near);
	for (int i = 0; i < n; i++)
		ids[i] = near[i].id;
	merge_neighbors(index, meta, id, gid, vec, ids, n, nb);
	for (int k = 0; k < R && nb[k] != InvalidFannId; k++)
		merge_neighbors(index, meta, nb[k], gid, NULL, &id, 1, ids);

	/* cross edges: the C nearest over all children (UNG section 4.3) */
	if (C > 0 && g.nchildren > 0)
	{
		int			nbest = 0;
		FannNear	best[FANN_MAX_CROSS_EDGES];
		uint32		cross[FANN_MAX_CROSS_EDGES];
		ElementCopy self;
		uint32	   *children = palloc(sizeof(uint32) * g.nchildren);
		FannLngReader *lng = palloc(sizeof(FannLngReader));

		lng->blkno = InvalidBlockNumber;
		FannLngEdges(index, meta, lng, &g, g.nparents, g.nchildren, children);
		for (int k = 0; k < g.nchildren; k++)
		{
			uint32		cgid = children[k];
			FannGroupData cg;
			int			m;

			if (!FannReadGroups(index, &cgid, 1, &cg))
				continue;
			m = search_group(index, meta, cgid, &cg, vec, FannCrossList(C, false), C, id, near);
			for (int i = 0; i < m; i++)
				if (FannNearInsert(best, &nbest, C, near[i].dist, near[i].id) == C)
					break;
		}
		/*
		 * Rows of child groups created since (add_cross_edge) and VACUUM's
		 * repair write them too: theirs stay where room is left
		 */
		self.vec = palloc(sizeof(float) * meta->dimensions);
		do
		{
			int			m = 0;

			read_element(index, meta, id, &self, true);
			for (int k = 0; k < nbest; k++)
				cross[m++] = best[k].id;
			for (int k = R; k < R + C && m < C; k++)
				if (self.nb[k] != InvalidFannId && !list_has(cross, m, self.nb[k]))
					cross[m++] = self.nb[k];
			while (m < C)
				cross[m++] = InvalidFannId;
		} while (!write_neighbors(index, meta, id, R, self.nb + R, cross, C));
	}
	if (C > 0)
		link_from_parents(index, meta, id, &g, vec, bootstrap);

	if (bootstrap)
	{
		claim_entry_point(index, gid, id);
		UnlockPage(index, gblkno, ExclusiveLock);
	}
}

/*
 * Replace the edges of live element id that lead to dead elements: intra
 * edges by RobustPrune over its live neighbours and the dead ones' live
 * neighbours; a cross edge by the nearest live neighbour of its dead target.
 * e is the element as read; returns false, writing nothing, if its list has
 * changed since.
 */
static bool
repair_element(Relation index, FannMetaPage meta, uint32 id, ElementCopy *e,
			   const uint64 *dead, uint32 nids)
{
	FannDistanceFunction distance = FannGetDistance((FannMetric) meta->metric);
	int			R = meta->graph_degree;
	int			C = meta->cross_edges;
	uint32	   *ids = palloc(sizeof(uint32) * (R + R * R));
	int			n = 0;
	uint32		read[FANN_MAX_NEIGHBORS];
	ElementCopy d;
	ElementCopy t;

	memcpy(read, e->nb, sizeof(uint32) * (R + C));
	d.vec = palloc(sizeof(float) * meta->dimensions);
	t.vec = palloc(sizeof(float) * meta->dimensions);

	/* candidate set of the intra edges; duplicates are dropped by the prune */
	for (int k = 0; k < R && e->nb[k] != InvalidFannId; k++)
	{
		if (!FannIdSetContains(dead, nids, e->nb[k]))
		{
			ids[n++] = e->nb[k];
			continue;
		}
		read_element(index, meta, e->nb[k], &d, true);
		for (int j = 0; j < R && d.nb[j] != InvalidFannId; j++)
			if (d.nb[j] != id && !FannIdSetContains(dead, nids, d.nb[j]))
				ids[n++] = d.nb[j];
	}
	prune(index, meta, e->vec, ids, n, R, e->nb);

	for (int k = R; k < R + C; k++)
	{
		double		bestd = INFINITY;
		uint32		best = InvalidFannId;

		if (e->nb[k] == InvalidFannId || !FannIdSetContains(dead, nids, e->nb[k]))
			continue;
		read_element(index, meta, e->nb[k], &d, true);
		for (int j = 0; j < R && d.nb[j] != InvalidFannId; j++)
		{
			double		dd;

			if (FannIdSetContains(dead, nids, d.nb[j]))
				continue;
			read_element(index, meta, d.nb[j], &t, false);
			dd = distance(e->vec, t.vec, meta->dimensions);
			if (dd < bestd)
			{
				bestd = dd;
				best = d.nb[j];
			}
		}
		e->nb[k] = best;
	}
	return write_neighbors(index, meta, id, 0, read, e->nb, R + C);
}

/* Entry points that died give way to one of their live neighbours */
static void
repair_entry_points(Relation index, FannMetaPage meta, const uint64 *dead, uint32 nids)
{
	ElementCopy d;

	d.vec = palloc(sizeof(float) * meta->dimensions);
	for (BlockNumber blkno = meta->group_first; blkno != InvalidBlockNumber;)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		GenericXLogState *state;
		Page		page;
		bool		changed = false;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			FannGroup	g = FannPageGetGroup(page, off);

			for (int k = 0; k < FANN_ENTRY_POINTS; k++)
			{
				if (g->entry_points[k] == InvalidFannId ||
					!FannIdSetContains(dead, nids, g->entry_points[k]))
					continue;
				read_element(index, meta, g->entry_points[k], &d, true);
				g->entry_points[k] = InvalidFannId;
				for (int j = 0; j < meta->graph_degree && d.nb[j] != InvalidFannId; j++)
					if (!FannIdSetContains(dead, nids, d.nb[j]))
					{
						g->entry_points[k] = d.nb[j];
						break;
					}
				changed = true;
			}
		}
		blkno = FannPageGetOpaque(page)->next;
		if (changed)
			GenericXLogFinish(state);
		else
			GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Before VACUUM frees the slots of dead elements (the set dead, a bitmap over
 * nids ids), take them out of the graph, element by element, beside inserts
 * (compare-and-write, above).
 */
void
FannGraphRepair(Relation index, FannMetaPage meta, const uint64 *dead, uint32 nids)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int			per_page = meta->elements_per_page;
	int			nslots = meta->graph_degree + meta->cross_edges;
	ElementCopy e;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "fann repair",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldctx;

	/* outside ctx, which each repair's allocations are reset from */
	e.vec = palloc(sizeof(float) * meta->dimensions);
	oldctx = MemoryContextSwitchTo(ctx);
	for (BlockNumber blkno = 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		OffsetNumber maxoff;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = FannPageType(page) == FANN_PAGE_ELEMENT ?
			PageGetMaxOffsetNumber(page) : InvalidOffsetNumber;
		UnlockReleaseBuffer(buf);

		CHECK_FOR_INTERRUPTS();
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			uint32		id = FannMakeId(blkno, off, per_page);
			bool		done = false;

			while (!done)
			{
				bool		touched = false;

				read_element(index, meta, id, &e, true);
				for (int k = 0; k < nslots && !touched; k++)
					touched = e.nb[k] != InvalidFannId && FannIdSetContains(dead, nids, e.nb[k]);
				done = !touched || (e.flags & FANN_ELEMENT_DEAD);
				if (!done)
				{
					done = repair_element(index, meta, id, &e, dead, nids);
					MemoryContextReset(ctx);
				}
			}
		}
	}
	repair_entry_points(index, meta, dead, nids);
	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(ctx);
	pfree(e.vec);
}
