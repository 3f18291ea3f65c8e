/*
 * build.c
 *	  CREATE INDEX for fann: two passes over the table.
 *
 * Pass 1 finds the distinct label sets (groups) and counts their rows; with
 * the label navigating graph between the groups this fixes the whole layout:
 * element pages with one contiguous id range per group, then the group
 * pages, the sorted (label, group) pairs and the LNG edges.  Pass 2 keeps
 * each row's vector and TID at its group's next position; the UNG graph is
 * then built in memory with OpenMP (ung.c, vamana.c), and the elements are
 * written once, in the graph's breadth-first order, with their adjacency
 * lists.  Pages are written through shared buffers and WAL-logged in bulk
 * at the end (log_newpage_range).
 *
 * When the vectors and the graph do not fit in maintenance_work_mem, the
 * build streams instead (buildstream.c).
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "build.h"
#include "compat.h"
#include "ivf.h"
#include "parallel.h"
#include "quant.h"

static FannBuildGroup **
find_slot(FannBuildState *bs, uint32 hash, const int32 *labels, int n)
{
	int			i = hash & (bs->nslots - 1);

	for (;;)
	{
		FannBuildGroup *g = bs->slots[i];

		if (g == NULL ||
			(g->hash == hash && g->nlabels == n &&
			 (n <= 0 || memcmp(g->labels, labels, sizeof(int32) * n) == 0)))
			return &bs->slots[i];
		i = (i + 1) & (bs->nslots - 1);
	}
}

static void
grow_slots(FannBuildState *bs)
{
	bs->nslots *= 2;
	bs->slots = repalloc_huge(bs->slots, sizeof(FannBuildGroup *) * bs->nslots);
	memset(bs->slots, 0, sizeof(FannBuildGroup *) * bs->nslots);
	for (int i = 0; i < bs->ngroups; i++)
	{
		FannBuildGroup *g = bs->groups[i];

		*find_slot(bs, g->hash, g->labels, g->nlabels) = g;
	}
}

/* The group of a label set (n == -1: NULL labels), created if asked */
static FannBuildGroup *
lookup_group(FannBuildState *bs, const int32 *labels, int n, bool create)
{
	uint32		hash = n <= 0 ? (uint32) n : hash_bytes((const unsigned char *) labels,
														 sizeof(int32) * n);
	FannBuildGroup **slot = find_slot(bs, hash, labels, n);
	FannBuildGroup *g;

	if (*slot || !create)
		return *slot;

	/* the groups are all the build keeps in memory: bound them */
	bs->memory += sizeof(FannBuildGroup) + sizeof(int32) * Max(n, 0) + 3 * sizeof(FannBuildGroup *);
	if (bs->memory > (Size) maintenance_work_mem * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fann index build needs more than maintenance_work_mem for %d distinct label sets",
						bs->ngroups),
				 errhint("Increase maintenance_work_mem.")));
	g = palloc(sizeof(FannBuildGroup));
	g->hash = hash;
	g->nlabels = n;
	g->labels = n > 0 ? palloc(sizeof(int32) * n) : NULL;
	if (n > 0)
		memcpy(g->labels, labels, sizeof(int32) * n);
	g->count = g->filled = 0;
	*slot = g;
	if (bs->ngroups == bs->maxgroups)
	{
		bs->maxgroups *= 2;
		bs->groups = repalloc_huge(bs->groups, sizeof(FannBuildGroup *) * bs->maxgroups);
	}
	bs->groups[bs->ngroups++] = g;
	if (bs->ngroups * 2 > bs->nslots)
		grow_slots(bs);
	return g;
}

/* Pass 1: count the row in its group */
static void
count_row(FannBuildState *bs, const int32 *labels, int n)
{
	MemoryContext oldctx = MemoryContextSwitchTo(bs->ctx);

	lookup_group(bs, labels, n, true)->count++;
	bs->nrows++;
	MemoryContextSwitchTo(oldctx);
}

/*
 * Pass 2: keep the row's vector and TID at its group's next position; the
 * elements are written once the graph has fixed their order (build_graph),
 * or, streamed, at once.
 */
static void
write_row(FannBuildState *bs, ItemPointer tid, const float *vec,
		  const int32 *labels, int n)
{
	FannBuildGroup *g = lookup_group(bs, labels, n, false);
	int64		pos;

	/*
	 * A row pass 1 did not see can only come from a concurrent build's newer
	 * snapshot; its validation phase inserts such rows.
	 */
	if (g == NULL || g->filled == g->count)
		return;
	pos = g->first + g->filled++;
	if (bs->streamed)
		FannStreamRow(bs, pos, tid, g->gid, vec);
	else
	{
		memcpy(bs->vectors + pos * bs->dimensions, vec, sizeof(float4) * bs->dimensions);
		bs->tids[pos] = *tid;
	}

	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, ++bs->written);
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	FannBuildState *bs = (FannBuildState *) state;
	MemoryContext oldctx = MemoryContextSwitchTo(bs->tmpctx);
	int			dim;
	int32	   *labels = NULL;
	int			n;
	const float *vec = FannRowValues(index, values, isnull, &dim, &labels, &n);

	if (vec != NULL)
	{
		if (bs->dimensions == 0)
			bs->dimensions = dim;
		FannCheckDimensions(dim, bs->dimensions);
		if (bs->tids == NULL)
			count_row(bs, labels, n);
		else
			write_row(bs, tid, vec, labels, n);
	}
	MemoryContextSwitchTo(oldctx);
	MemoryContextReset(bs->tmpctx);
}

/* Layout order: NULL group first, then label sets lexicographically */
static int
cmp_groups(const void *a, const void *b)
{
	const FannBuildGroup *x = *(FannBuildGroup *const *) a;
	const FannBuildGroup *y = *(FannBuildGroup *const *) b;

	for (int i = 0; i < x->nlabels && i < y->nlabels; i++)
		if (x->labels[i] != y->labels[i])
			return x->labels[i] < y->labels[i] ? -1 : 1;
	return (x->nlabels > y->nlabels) - (x->nlabels < y->nlabels);
}

static int
cmp_pairs(const void *a, const void *b)
{
	const FannPair *x = a;
	const FannPair *y = b;

	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return (x->group > y->group) - (x->group < y->group);
}

/* blocks of the element region, neighbour pages included */
static BlockNumber
element_region_blocks(FannBuildState *bs)
{
	return bs->nelempages + (bs->nelempages + bs->unit - 1) / bs->unit;
}

/*
 * The element region: element pages with a placeholder (free) item in every
 * slot pass 2 fills, and after every unit of them the neighbour page with
 * their adjacency lists, all empty (InvalidFannId).
 */
static void
write_element_pages(FannBuildState *bs)
{
	Size		esize = FANN_ELEMENT_SIZE(bs->dimensions);
	FannElement e = palloc0(esize);
	int64		left = bs->nrows;

	e->flags = FANN_ELEMENT_DEAD | FANN_ELEMENT_FREE;
	ItemPointerSetInvalid(&e->heaptid);
	e->next = e->nextfree = InvalidFannId;
	for (int64 p = 0; p < bs->nelempages; p++)
	{
		Buffer		buf = FannNewBuffer(bs->index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		int64		pos = p * bs->per_page;

		Assert(BufferGetBlockNumber(buf) == element_block(bs, pos));
		FannInitPage(page, FANN_PAGE_ELEMENT);
		FannPageGetOpaque(page)->next = neighbor_block(bs, pos);
		FannPageGetOpaque(page)->nb_base = (p % bs->unit) * bs->per_page;
		for (int i = 0; i < bs->per_page && left > 0; i++, left--)
			if (PageAddItem(page, (Item) e, esize, InvalidOffsetNumber,
							false, false) == InvalidOffsetNumber)
				elog(ERROR, "failed to add fann element to page");
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);

		/* the unit is complete: its neighbour page */
		if (p % bs->unit == bs->unit - 1 || p == bs->nelempages - 1)
		{
			Size		lists = (p % bs->unit + 1) * bs->per_page;
			uint32	   *nb;

			buf = FannNewBuffer(bs->index, MAIN_FORKNUM);
			page = BufferGetPage(buf);
			Assert(BufferGetBlockNumber(buf) == neighbor_block(bs, pos));
			FannInitPage(page, FANN_PAGE_NEIGHBOR);
			nb = (uint32 *) PageGetContents(page);
			for (Size i = 0; i < lists * bs->nneighbors; i++)
				nb[i] = InvalidFannId;
			((PageHeader) page)->pd_lower += sizeof(uint32) * lists * bs->nneighbors;
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
		}
	}
	pfree(e);
}

static void
write_group_pages(FannBuildState *bs, BlockNumber first, BlockNumber npages)
{
	int			i = 0;
	uint32		lng_offset = 0;

	for (BlockNumber p = 0; p < npages; p++)
	{
		Buffer		buf = FannNewBuffer(bs->index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);

		Assert(BufferGetBlockNumber(buf) == first + p);
		FannInitPage(page, FANN_PAGE_GROUP);
		if (p + 1 < npages)
			FannPageGetOpaque(page)->next = first + p + 1;
		for (int j = 0; j < (int) FANN_GROUPS_PER_PAGE && i < bs->ngroups; j++, i++)
		{
			FannBuildGroup *g = bs->groups[i];
			FannGroupData entry;

			entry.nlabels = g->nlabels < 0 ? FANN_NULL_LABELS : g->nlabels;
			entry.nlive = g->count;
			entry.range_start = position_id(bs, g->first);
			entry.range_end = position_id(bs, g->first + g->count);
			entry.chain_head = InvalidFannId;
			entry.free_head = InvalidFannId;
			entry.lng_offset = lng_offset;
			entry.nparents = g->nparents;
			entry.nchildren = g->nchildren;
			lng_offset += g->nparents + g->nchildren;
			for (int k = 0; k < FANN_ENTRY_POINTS; k++)
				entry.entry_points[k] = InvalidFannId;
			for (int k = 0; k < FANN_NEW_PARENTS; k++)
				entry.parents[k] = InvalidFannId;
			if (PageAddItem(page, (Item) &entry, sizeof(entry), InvalidOffsetNumber,
							false, false) == InvalidOffsetNumber)
				elog(ERROR, "failed to add fann group to page");
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
}

static BlockNumber
write_pair_pages(FannBuildState *bs, int64 npairs)
{
	FannPair   *pairs = palloc_extended(sizeof(FannPair) * Max(npairs, 1),
										MCXT_ALLOC_HUGE);
	int64		k = 0;
	BlockNumber npages;

	for (int i = 0; i < bs->ngroups; i++)
		for (int j = 0; j < bs->groups[i]->nlabels; j++)
		{
			pairs[k].label = bs->groups[i]->labels[j];
			pairs[k++].group = bs->groups[i]->gid;
		}
	qsort(pairs, npairs, sizeof(FannPair), cmp_pairs);
	npages = FannWriteArrayPages(bs->index, FANN_PAGE_PAIR, pairs, npairs, sizeof(FannPair));
	pfree(pairs);
	return npages;
}

/*
 * Slots pass 2 left empty (rows that vanished between the passes of a
 * concurrent build) go to the free list and out of their group's count.
 */
static uint32
free_unfilled_slots(FannBuildState *bs, BlockNumber group_start)
{
	uint32		free_head = InvalidFannId;

	for (int i = 0; i < bs->ngroups; i++)
	{
		FannBuildGroup *g = bs->groups[i];

		for (int64 pos = g->first + g->filled; pos < g->first + g->count; pos++)
		{
			Buffer		buf = ReadBuffer(bs->index, element_block(bs, pos));
			Page		page;
			FannElement e;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			e = FannPageGetElement(page, FirstOffsetNumber + pos % bs->per_page);
			e->nextfree = free_head;
			free_head = position_id(bs, pos);
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
		}
		if (g->filled < g->count)
		{
			Buffer		buf = ReadBuffer(bs->index, group_start + i / FANN_GROUPS_PER_PAGE);
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			FannPageGetGroup(page, FirstOffsetNumber + i % FANN_GROUPS_PER_PAGE)->nlive = g->filled;
			MarkBufferDirty(buf);
			UnlockReleaseBuffer(buf);
		}
	}
	return free_head;
}

static BlockNumber
write_lng_pages(FannBuildState *bs, int64 nlng)
{
	uint32	   *lng = palloc_extended(sizeof(uint32) * Max(nlng, 1), MCXT_ALLOC_HUGE);
	int64		k = 0;
	BlockNumber npages;

	/* group indexes become group ids */
	for (int i = 0; i < bs->ngroups; i++)
		for (int j = 0; j < bs->groups[i]->nparents + bs->groups[i]->nchildren; j++)
			lng[k++] = bs->groups[bs->groups[i]->lng[j]]->gid;
	npages = FannWriteArrayPages(bs->index, FANN_PAGE_LNG, lng, nlng, sizeof(uint32));
	pfree(lng);
	return npages;
}

/* Build the graph in memory, then write adjacency lists and entry points */
static void
build_graph(FannBuildState *bs, FannMetaPage meta, BlockNumber group_start)
{
	VamanaSpace sp;
	uint32	   *newpos;
	uint32	   *oldpos;

	sp.vectors = bs->vectors;
	sp.dim = bs->dimensions;
	sp.distance = FannGetDistance((FannMetric) meta->metric);
	sp.alpha = meta->alpha;
	sp.stride = bs->nneighbors;
	sp.degree = meta->graph_degree;
	sp.adj = palloc_extended(sizeof(uint32) * sp.stride * Max(bs->nrows, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < (int64) sp.stride * bs->nrows; i++)
		sp.adj[i] = InvalidFannId;

	newpos = palloc_extended(sizeof(uint32) * Max(bs->nrows, 1), MCXT_ALLOC_HUGE);
	oldpos = palloc_extended(sizeof(uint32) * Max(bs->nrows, 1), MCXT_ALLOC_HUGE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_GRAPH);
	FannBuildGraph(&sp, bs->groups, bs->ngroups, bs->nrows, meta->build_list,
				   meta->cross_edges, newpos, oldpos);

	/* rewrite every element at its place in locality order, with its edges */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_WRITE);
	for (int64 first = 0, gi = 0; first < bs->nrows; first += bs->per_page)
	{
		int64		end = Min(bs->nrows, first + bs->per_page);
		Buffer		buf = ReadBuffer(bs->index, element_block(bs, first));
		Buffer		nbuf = ReadBuffer(bs->index, neighbor_block(bs, first));
		Page		page;
		Page		npage;
		int			base;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		npage = BufferGetPage(nbuf);
		base = FannPageGetOpaque(page)->nb_base;
		/* all the elements of this page, and their lists */
		for (int64 pos = first; pos < end; pos++)
		{
			FannElement e = FannPageGetElement(page, FirstOffsetNumber + pos % bs->per_page);
			uint32		old = oldpos[pos];
			uint32	   *nb = FannPageGetList(npage, base + pos % bs->per_page, bs->nneighbors);

			/* a slot a concurrent build's pass 2 left empty stays free */
			if (!ItemPointerIsValid(&bs->tids[old]))
				continue;
			while (pos >= bs->groups[gi]->first + bs->groups[gi]->count)
				gi++;
			bs->ids[old] = position_id(bs, pos);
			bs->gids[old] = bs->groups[gi]->gid;
			FannFillElement(e, &bs->tids[old], bs->groups[gi]->gid,
							bs->vectors + (size_t) old * bs->dimensions, bs->dimensions);
			for (int k = 0; k < sp.stride; k++)
			{
				uint32		q = sp.adj[(size_t) old * sp.stride + k];

				nb[k] = q == InvalidFannId ? InvalidFannId : position_id(bs, newpos[q]);
			}
		}
		MarkBufferDirty(buf);
		MarkBufferDirty(nbuf);
		UnlockReleaseBuffer(nbuf);
		UnlockReleaseBuffer(buf);
	}
	for (int i = 0; i < bs->ngroups; i++)
	{
		Buffer		buf = ReadBuffer(bs->index, group_start + i / FANN_GROUPS_PER_PAGE);
		Page		page;
		FannGroup	g;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		g = FannPageGetGroup(page, FirstOffsetNumber + i % FANN_GROUPS_PER_PAGE);
		for (int k = 0; k < FANN_ENTRY_POINTS; k++)
			g->entry_points[k] = bs->groups[i]->entry_points[k] == InvalidFannId ?
				InvalidFannId : position_id(bs, newpos[bs->groups[i]->entry_points[k]]);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(sp.adj);
	pfree(newpos);
	pfree(oldpos);
}

/*
 * The IVF, over the rows pass 2 saw (a concurrent build may have seen fewer
 * than pass 1 counted): their vectors, moved together, and their ids; or,
 * streamed, over the sample of them.
 */
static int64
build_ivf(FannBuildState *bs, FannMetaPage meta)
{
	int64		n = 0;

	for (int64 r = 0; r < Min(bs->nsample, bs->written); r++)
	{
		if (!ItemPointerIsValid(&bs->tids[r]))
			continue;
		if (n != r)
		{
			memmove(bs->vectors + (Size) n * bs->dimensions,
					bs->vectors + (Size) r * bs->dimensions, sizeof(float) * bs->dimensions);
			bs->tids[n] = bs->tids[r];
			bs->ids[n] = bs->ids[r];
			bs->gids[n] = bs->gids[r];
		}
		n++;
	}

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_IVF);
	FannIvfBuild(bs->index, meta, bs->vectors, n, bs->written, bs->ids, bs->gids,
				 bs->tids);
	return n;
}

/*
 * The graph needs every vector and adjacency list in memory, the IVF every
 * vector and its training data, one after the other.  If they do not fit,
 * the build streams, with the largest sample for the IVF that fits; if not
 * even the smallest does, it fails.
 */
static void
plan_memory(FannBuildState *bs, FannMetaPage meta)
{
	Size		budget = (Size) maintenance_work_mem * 1024;
	Size		row = sizeof(float) * bs->dimensions + sizeof(ItemPointerData) + 2 * sizeof(uint32);
	/* per row: its list; its group, its place in locality order and back, a BFS queue slot */
	Size		graph = (Size) bs->nrows * (sizeof(uint32) * bs->nneighbors + 4 * sizeof(uint32)) +
		FannGraphBuildBytes(bs->groups, bs->ngroups, bs->nneighbors, meta->build_list);
	Size		need = (Size) bs->nrows * row +
		Max(graph, FannIvfBuildBytes(bs->index, bs->nrows, bs->nrows, bs->dimensions));

	bs->nsample = bs->nrows;
	if (need <= budget)
		return;
	FannStreamPlan(bs, row, need);
}

IndexBuildResult *
fannbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	FannBuildState bs;
	IndexBuildResult *result;
	Buffer		metabuf;
	Page		metapage;
	FannMetaPage meta;
	BlockNumber nelempages,
				ngrouppages;
	int64		npairs = 0;
	int64		nlng;
	int64		pos = 0;
	int64		nbuilt = 0;		/* rows in bs.vectors after the IVF build */
	FannMetaPageData ivfmeta;	/* what the IVF build records */
	instr_time	clock;
	double		seconds[5] = {0};	/* the phases' (DEBUG1) */
	FannMetaPageData linkmeta;	/* the finished metapage, for linking */

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	FannCheckIndexDefinition(index);

	MemSet(&bs, 0, sizeof(bs));
	bs.index = index;
	bs.nslots = 1024;
	bs.slots = palloc0(sizeof(FannBuildGroup *) * bs.nslots);
	bs.maxgroups = 256;
	bs.groups = palloc(sizeof(FannBuildGroup *) * bs.maxgroups);
	bs.ctx = CurrentMemoryContext;
	bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "fann build row",
									  ALLOCSET_DEFAULT_SIZES);

	INSTR_TIME_SET_CURRENT(clock);
	/* Metapage first, so that it is block 0; filled in at the end */
	metabuf = FannNewBuffer(index, MAIN_FORKNUM);
	Assert(BufferGetBlockNumber(metabuf) == FANN_METAPAGE_BLKNO);
	metapage = BufferGetPage(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_LABELS);
	table_index_build_scan(heap, index, indexInfo, true, true,
						   build_callback, &bs, NULL);
	FannInitMetaPage(metapage, index, bs.dimensions);
	meta = FannPageGetMeta(metapage);

	/* Layout: element pages, group pages, pair pages, LNG pages */
	qsort(bs.groups, bs.ngroups, sizeof(FannBuildGroup *), cmp_groups);
	nlng = FannBuildLng(bs.groups, bs.ngroups);
	bs.nneighbors = meta->graph_degree + meta->cross_edges;
	bs.per_page = bs.dimensions > 0 ? meta->elements_per_page : 1;
	/* a unit's adjacency lists fill at most one page */
	bs.unit = Max(1, meta->lists_per_page / bs.per_page);
	bs.nelempages = (bs.nrows + bs.per_page - 1) / bs.per_page;
	nelempages = element_region_blocks(&bs);
	ngrouppages = (bs.ngroups + FANN_GROUPS_PER_PAGE - 1) / FANN_GROUPS_PER_PAGE;
	if ((uint64) (1 + nelempages) * bs.per_page >= InvalidFannId ||
		(uint64) (1 + nelempages + ngrouppages) * FANN_GROUPS_PER_PAGE >= InvalidFannId)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("table is too large for a fann index")));
	for (int i = 0; i < bs.ngroups; i++)
	{
		FannBuildGroup *g = bs.groups[i];

		g->first = pos;
		pos += g->count;
		g->gid = FannMakeId(1 + nelempages + i / FANN_GROUPS_PER_PAGE,
							FirstOffsetNumber + i % FANN_GROUPS_PER_PAGE,
							FANN_GROUPS_PER_PAGE);
		npairs += Max(g->nlabels, 0);
	}
	plan_memory(&bs, meta);

	write_element_pages(&bs);
	write_group_pages(&bs, 1 + nelempages, ngrouppages);
	meta->pair_npages = write_pair_pages(&bs, npairs);
	if (meta->pair_npages > 0)
		meta->pair_start = 1 + nelempages + ngrouppages;
	meta->lng_npages = write_lng_pages(&bs, nlng);
	if (meta->lng_npages > 0)
		meta->lng_start = 1 + nelempages + ngrouppages + meta->pair_npages;
	if (ngrouppages > 0)
	{
		meta->group_first = 1 + nelempages;
		meta->group_last = nelempages + ngrouppages;
	}
	if (bs.nelempages > 0)
	{
		meta->insert_page = element_block(&bs, bs.nrows - 1);
		meta->nb_insert_page = neighbor_block(&bs, bs.nrows - 1);
	}
	for (int i = 0; i < bs.ngroups; i++)
	{
		if (bs.groups[i]->nlabels < 0)
			meta->null_group = bs.groups[i]->gid;
		else if (bs.groups[i]->nlabels == 0)
			meta->empty_group = bs.groups[i]->gid;
	}
	MarkBufferDirty(metabuf);
	ivfmeta = *meta;
	/* Pass 2 and the graph build lock other pages: release the metapage */
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_ELEMENTS);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, bs.nrows);
	if (bs.nrows > 0)
	{
		bs.vectors = palloc_extended(sizeof(float) * bs.dimensions * bs.nsample,
									 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		bs.tids = palloc_extended(sizeof(ItemPointerData) * bs.nsample,
								  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		bs.ids = palloc_extended(sizeof(uint32) * bs.nsample, MCXT_ALLOC_HUGE);
		bs.gids = palloc_extended(sizeof(uint32) * bs.nsample, MCXT_ALLOC_HUGE);
		if (bs.streamed)
			bs.positions = palloc_extended(sizeof(int64) * bs.nsample, MCXT_ALLOC_HUGE);
		table_index_build_scan(heap, index, indexInfo, true, true,
							   build_callback, &bs, NULL);
		seconds[0] = FannLap(&clock);
		/* the graph, k-means and the model's training run on these threads */
		FannStartThreads();
		if (!bs.streamed)
			build_graph(&bs, meta, 1 + nelempages);
		seconds[1] = FannLap(&clock);
		nbuilt = build_ivf(&bs, &ivfmeta);
		seconds[2] = FannLap(&clock);
	}

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta->free_head = free_unfilled_slots(&bs, 1 + nelempages);
	meta->partitions = ivfmeta.partitions;
	meta->redundancy = ivfmeta.redundancy;
	meta->model_start = ivfmeta.model_start;
	meta->model_npages = ivfmeta.model_npages;
	meta->partdir_start = ivfmeta.partdir_start;
	meta->ivf_end = ivfmeta.ivf_end;
	meta->calibration_queries = ivfmeta.calibration_queries;
	memcpy(meta->probe_thresholds, ivfmeta.probe_thresholds, sizeof(meta->probe_thresholds));
	memcpy(meta->ivf_share, ivfmeta.ivf_share, sizeof(meta->ivf_share));
	memcpy(meta->filtered_thresholds, ivfmeta.filtered_thresholds,
		   sizeof(meta->filtered_thresholds));
	MarkBufferDirty(metabuf);
	if (!bs.streamed && nbuilt > 0)
	{
		/* searches of the finished index: the metapage unlocked meanwhile */
		FannMetaPageData graphmeta = *meta;

		LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_CALIBRATE);
		FannGraphCalibrate(index, &graphmeta, bs.vectors, nbuilt, bs.ids, bs.gids,
						   bs.groups, bs.ngroups);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		meta->graph_calibration_queries = graphmeta.graph_calibration_queries;
		memcpy(meta->graph_ef, graphmeta.graph_ef, sizeof(meta->graph_ef));
		memcpy(meta->graph_work, graphmeta.graph_work, sizeof(meta->graph_work));
		MarkBufferDirty(metabuf);
		seconds[3] = FannLap(&clock);
	}
	if (bs.nrows > 0)
	{
		pfree(bs.vectors);
		pfree(bs.tids);
		pfree(bs.ids);
		pfree(bs.gids);
	}
	linkmeta = *meta;
	UnlockReleaseBuffer(metabuf);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);
	/* after the bulk WAL-logging: linking logs its own changes */
	if (bs.streamed)
		FannStreamLink(&bs, &linkmeta);
	seconds[4] = FannLap(&clock);
	ereport(DEBUG1,
			(errmsg("fann: %lld rows%s: both passes %.1f s, graph %.1f s, IVF %.1f s, graph calibration %.1f s, WAL%s %.1f s",
					(long long) bs.nrows, bs.streamed ? " (streamed)" : "", seconds[0], seconds[1],
					seconds[2], seconds[3], bs.streamed ? " and linking" : "", seconds[4])));

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.nrows;
	result->index_tuples = bs.written;
	MemoryContextDelete(bs.tmpctx);
	return result;
}

/* The init fork of an UNLOGGED index: an empty metapage */
void
fannbuildempty(Relation index)
{
	Page		page = (Page) palloc(BLCKSZ);

	FannCheckIndexDefinition(index);
	FannInitMetaPage(page, index, 0);
	PageSetChecksumInplace(page, FANN_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, FANN_METAPAGE_BLKNO,
			  (char *) page, true);
	log_newpage(&FannSmgrLocator(RelationGetSmgr(index)), INIT_FORKNUM,
				FANN_METAPAGE_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
	pfree(page);
}

char *
fannbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case FANN_PHASE_LABELS:
			return "collecting label sets";
		case FANN_PHASE_ELEMENTS:
			return "writing elements";
		case FANN_PHASE_GRAPH:
			return "building graph";
		case FANN_PHASE_WRITE:
			return "writing graph";
		case FANN_PHASE_IVF:
			return "building partitions";
		case FANN_PHASE_LINK:
			return "linking rows";
		case FANN_PHASE_CALIBRATE:
			return "calibrating graph";
		default:
			return NULL;
	}
}
