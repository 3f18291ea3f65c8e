/*
 * graph.c
 *	  Keeping the graph in the index pages current after the build: linking
 *	  a row inserted later (FreshDiskANN insert: search its group, RobustPrune,
 *	  reverse edges; UNG cross edges to its group's LNG children) and
 *	  repairing the neighbourhoods of rows VACUUM removes (FreshDiskANN delete
 *	  consolidation: a dead neighbour is replaced by its own neighbours).
 *
 * Callers hold the metapage exclusively, which serialises every adjacency
 * change; scans read adjacency lists under page share locks only.
 */
#include "postgres.h"

#include <math.h>

#include "quant.h"
#include "search.h"
#include "ung.h"
#include "utils/memutils.h"

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

	/* the caller may hold the metapage: never wait for it here */
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

static void
read_element(Relation index, FannMetaPage meta, uint32 id, ElementCopy *c)
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

	buf = ReadBuffer(index, nblkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_NEIGHBOR, index, nblkno);
	memcpy(c->nb, FannPageGetList(BufferGetPage(buf), slot, nneighbors),
		   sizeof(uint32) * nneighbors);
	UnlockReleaseBuffer(buf);
}

/* Overwrite n adjacency slots of element id from slot first on */
static void
write_neighbors(Relation index, FannMetaPage meta, uint32 id, int first,
				const uint32 *nb, int n)
{
	Buffer		buf = element_page(index, meta, id);
	GenericXLogState *state;
	BlockNumber nblkno;
	int			slot;
	Page		page;

	FannNeighborSlot(BufferGetPage(buf), FannIdOffset(id, meta->elements_per_page),
					 &nblkno, &slot);
	UnlockReleaseBuffer(buf);

	buf = ReadBuffer(index, nblkno);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_NEIGHBOR, index, nblkno);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	memcpy(FannPageGetList(page, slot, meta->graph_degree + meta->cross_edges) + first,
		   nb, sizeof(uint32) * n);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * RobustPrune over ids[0..n) as neighbours of the row with vector pvec:
 * reads each candidate's vector once, for its distance to pvec and for the
 * prune's pairwise distances, and keeps at most max_degree ids in out,
 * InvalidFannId-padded.
 */
static void
prune(Relation index, FannMetaPage meta, const float *pvec, const uint32 *ids,
	  int n, int max_degree, uint32 *out)
{
	VamanaSpace sp;
	FannNear *cands = palloc(sizeof(FannNear) * Max(n, 1));
	uint32	   *local = palloc(sizeof(uint32) * max_degree);
	float	   *vectors = palloc(sizeof(float) * meta->dimensions * Max(n, 1));
	ElementCopy c;

	sp.vectors = vectors;
	sp.dim = meta->dimensions;
	sp.distance = FannGetDistance((FannMetric) meta->metric);
	sp.alpha = meta->alpha;
	for (int i = 0; i < n; i++)
	{
		c.vec = vectors + (size_t) i * meta->dimensions;
		read_element(index, meta, ids[i], &c);
		cands[i] = (FannNear) {(float) sp.distance(pvec, c.vec, sp.dim), i, false};
	}
	/* p itself is not among the candidates: give it an index none has */
	VamanaPrune(&sp, n, cands, n, max_degree, local);
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


/* Add id to p's intra-group neighbours, pruning p's list if it is full */
static void
add_reverse_edge(Relation index, FannMetaPage meta, uint32 p, uint32 id)
{
	int			R = meta->graph_degree;
	ElementCopy pc;
	uint32		ids[FANN_MAX_NEIGHBORS + 1];

	pc.vec = palloc(sizeof(float) * meta->dimensions);
	read_element(index, meta, p, &pc);
	for (int k = 0; k < R; k++)
	{
		if (pc.nb[k] == id)
			return;
		if (pc.nb[k] == InvalidFannId)
		{
			write_neighbors(index, meta, p, k, &id, 1);
			return;
		}
	}
	memcpy(ids, pc.nb, sizeof(uint32) * R);
	ids[R] = id;
	prune(index, meta, pc.vec, ids, R + 1, R, pc.nb);
	write_neighbors(index, meta, p, 0, pc.nb, R);
}

/*
 * Link element id, just inserted into group gid with vector vec, into the
 * graph: its nearest rows of the group by RobustPrune, the reverse edges,
 * cross edges to the nearest rows of the group's LNG children, and an entry
 * point slot if the group has a free one (a group created after the build).
 */
void
FannGraphLink(Relation index, FannMetaPage meta, uint32 id, uint32 gid, const float *vec)
{
	int			R = meta->graph_degree;
	int			C = meta->cross_edges;
	int			L = meta->build_list;
	FannGroupData g;
	FannNear   *near = palloc(sizeof(FannNear) * L);
	uint32	   *ids = palloc(sizeof(uint32) * L);
	uint32		nb[FANN_MAX_NEIGHBORS];
	int			n;

	if (!FannReadGroups(index, &gid, 1, &g))
		elog(ERROR, "fann group %u vanished", gid);
	n = search_group(index, meta, gid, &g, vec, L, L, id, near);
	for (int i = 0; i < n; i++)
		ids[i] = near[i].id;
	prune(index, meta, vec, ids, n, R, nb);
	write_neighbors(index, meta, id, 0, nb, R);
	for (int k = 0; k < R && nb[k] != InvalidFannId; k++)
		add_reverse_edge(index, meta, nb[k], id);

	/* cross edges: the C nearest over all children (UNG section 4.3) */
	if (C > 0 && g.nchildren > 0)
	{
		int			nbest = 0;
		FannNear	best[FANN_MAX_CROSS_EDGES];
		uint32		cross[FANN_MAX_CROSS_EDGES];

		for (int k = 0; k < g.nchildren; k++)
		{
			uint32		cgid = FannLngEdge(index, meta, &g, g.nparents + k);
			FannGroupData cg;
			int			m;

			if (!FannReadGroups(index, &cgid, 1, &cg))
				continue;
			m = search_group(index, meta, cgid, &cg, vec, FannCrossList(C), C, id, near);
			for (int i = 0; i < m; i++)
				if (FannNearInsert(best, &nbest, C, near[i].dist, near[i].id) == C)
					break;
		}
		for (int k = 0; k < C; k++)
			cross[k] = k < nbest ? best[k].id : InvalidFannId;
		write_neighbors(index, meta, id, R, cross, C);
	}

	/* a group created after the build takes its first rows as entry points */
	for (int k = 0; k < FANN_ENTRY_POINTS; k++)
		if (g.entry_points[k] == InvalidFannId)
		{
			Buffer		buf = ReadBuffer(index, FannIdBlock(gid, FANN_GROUPS_PER_PAGE));
			GenericXLogState *state;
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			FannPageGetGroup(page, FannIdOffset(gid, FANN_GROUPS_PER_PAGE))->entry_points[k] = id;
			GenericXLogFinish(state);
			UnlockReleaseBuffer(buf);
			break;
		}
}

/*
 * Replace the edges of live element id that lead to dead elements: intra
 * edges by RobustPrune over its live neighbours and the dead ones' live
 * neighbours; a cross edge by the nearest live neighbour of its dead target.
 */
static void
repair_element(Relation index, FannMetaPage meta, uint32 id, ElementCopy *e,
			   const uint64 *dead, uint32 nids)
{
	FannDistanceFunction distance = FannGetDistance((FannMetric) meta->metric);
	int			R = meta->graph_degree;
	int			C = meta->cross_edges;
	uint32	   *ids = palloc(sizeof(uint32) * (R + R * R));
	int			n = 0;
	ElementCopy d;
	ElementCopy t;

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
		read_element(index, meta, e->nb[k], &d);
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
		read_element(index, meta, e->nb[k], &d);
		for (int j = 0; j < R && d.nb[j] != InvalidFannId; j++)
		{
			double		dd;

			if (FannIdSetContains(dead, nids, d.nb[j]))
				continue;
			read_element(index, meta, d.nb[j], &t);
			dd = distance(e->vec, t.vec, meta->dimensions);
			if (dd < bestd)
			{
				bestd = dd;
				best = d.nb[j];
			}
		}
		e->nb[k] = best;
	}
	write_neighbors(index, meta, id, 0, e->nb, R + C);
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
				read_element(index, meta, g->entry_points[k], &d);
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
 * nids ids), take them out of the graph.  Each repair holds the metapage
 * exclusively, as inserts do, so that adjacency lists change one at a time.
 */
void
FannGraphRepair(Relation index, Buffer metabuf, const uint64 *dead, uint32 nids)
{
	FannMetaPage meta = FannPageGetMeta(BufferGetPage(metabuf));
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int			per_page = meta->elements_per_page;
	int			nslots = meta->graph_degree + meta->cross_edges;
	ElementCopy e;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "fann repair",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldctx = MemoryContextSwitchTo(ctx);

	e.vec = palloc(sizeof(float) * meta->dimensions);
	for (BlockNumber blkno = 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		OffsetNumber maxoff;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = FannPageGetOpaque(page)->type == FANN_PAGE_ELEMENT ?
			PageGetMaxOffsetNumber(page) : InvalidOffsetNumber;
		UnlockReleaseBuffer(buf);

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			uint32		id = FannMakeId(blkno, off, per_page);
			bool		touched = false;

			LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
			read_element(index, meta, id, &e);
			for (int k = 0; k < nslots && !touched; k++)
				touched = e.nb[k] != InvalidFannId && FannIdSetContains(dead, nids, e.nb[k]);
			if (touched && !(e.flags & FANN_ELEMENT_DEAD))
			{
				repair_element(index, meta, id, &e, dead, nids);
				MemoryContextReset(ctx);
				e.vec = palloc(sizeof(float) * meta->dimensions);
			}
			LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		}
	}
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	repair_entry_points(index, meta, dead, nids);
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(ctx);
}
