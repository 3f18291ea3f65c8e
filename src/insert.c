/*
 * insert.c
 *	  Adding one row to a fann index after the build.
 *
 * The row joins the group of its label set (a new label set makes a new
 * group, with its postings appended to the delta pair pages).  Its element
 * takes, in order of preference, a freed slot of its own group's chain, a
 * freed slot from the global free list, or a new slot on the insert page.
 * Every change is WAL-logged with GenericXLog; a record never leaves a row
 * half-reachable: the element and its group's chain head change atomically.
 * All of that happens under the metapage's exclusive lock; the row then joins
 * its IVF partitions (ivf.c) and the graph (graph.c) without it, beside other
 * inserts (fann.h: locking).
 */
#include "postgres.h"

#include "ivf.h"
#include "storage/lmgr.h"
#include "ung.h"
#include "utils/memutils.h"

/* The structures that grow at their end */
typedef enum FannTail
{
	FANN_TAIL_GROUPS,			/* group pages, chained */
	FANN_TAIL_DELTA,			/* delta pair pages, chained */
	FANN_TAIL_ELEMENTS			/* the element page inserts fill */
} FannTail;

/*
 * Give a new element page adjacency lists: on the neighbour page inserts use
 * if it has room for a page's worth, else on a new one.  The neighbour page
 * joins the WAL record state; it stays locked until the record is finished,
 * the caller then releases *nbuf.
 */
static void
attach_lists(Relation index, GenericXLogState *state, FannMetaPage meta,
			 FannMetaPage wmeta, Page elempage, Buffer *nbuf)
{
	int			nneighbors = meta->graph_degree + meta->cross_edges;
	Size		need = sizeof(uint32) * nneighbors * meta->elements_per_page;
	Page		npage;
	uint32	   *lists;

	*nbuf = InvalidBuffer;
	if (meta->nb_insert_page != InvalidBlockNumber)
	{
		*nbuf = ReadBuffer(index, meta->nb_insert_page);
		LockBuffer(*nbuf, BUFFER_LOCK_EXCLUSIVE);
		FannCheckPage(BufferGetPage(*nbuf), FANN_PAGE_NEIGHBOR, index, meta->nb_insert_page);
		if (PageGetExactFreeSpace(BufferGetPage(*nbuf)) < need)
		{
			UnlockReleaseBuffer(*nbuf);
			*nbuf = InvalidBuffer;
		}
	}
	if (BufferIsValid(*nbuf))
		npage = GenericXLogRegisterBuffer(state, *nbuf, 0);
	else
	{
		*nbuf = FannNewBuffer(index, MAIN_FORKNUM);
		npage = GenericXLogRegisterBuffer(state, *nbuf, GENERIC_XLOG_FULL_IMAGE);
		FannInitPage(npage, FANN_PAGE_NEIGHBOR);
		wmeta->nb_insert_page = BufferGetBlockNumber(*nbuf);
	}
	FannPageGetOpaque(elempage)->next = BufferGetBlockNumber(*nbuf);
	FannPageGetOpaque(elempage)->nb_base =
		(((PageHeader) npage)->pd_lower - (PageGetContents(npage) - (char *) npage)) /
		(sizeof(uint32) * nneighbors);
	lists = (uint32 *) ((char *) npage + ((PageHeader) npage)->pd_lower);
	for (Size i = 0; i < need / sizeof(uint32); i++)
		lists[i] = InvalidFannId;
	((PageHeader) npage)->pd_lower += need;
}

/*
 * A tail's page type and its metapage pointers: to its first page (NULL if
 * the pages are not chained) and to its last page.
 */
static uint16
tail_pointers(FannMetaPage meta, FannTail tail, BlockNumber **first,
			  BlockNumber **last)
{
	switch (tail)
	{
		case FANN_TAIL_GROUPS:
			*first = &meta->group_first;
			*last = &meta->group_last;
			return FANN_PAGE_GROUP;
		case FANN_TAIL_DELTA:
			*first = &meta->delta_first;
			*last = &meta->delta_last;
			return FANN_PAGE_PAIR;
		case FANN_TAIL_ELEMENTS:
			*first = NULL;
			*last = &meta->insert_page;
			return FANN_PAGE_ELEMENT;
	}
	elog(ERROR, "unknown fann tail %d", (int) tail);
	return 0;					/* keep compiler quiet */
}

/*
 * The last page of a structure that grows at its end, returned exclusively
 * locked, with room for an item of need bytes and fewer than maxitems items
 * (0: no limit).  When the page is full a new one is appended.
 */
static Buffer
tail_buffer(Relation index, Buffer metabuf, FannTail tail, Size need, int maxitems)
{
	FannMetaPage meta = FannPageGetMeta(BufferGetPage(metabuf));
	BlockNumber *first;
	BlockNumber *last;
	uint16		type = tail_pointers(meta, tail, &first, &last);
	Buffer		buf;
	Buffer		prevbuf = InvalidBuffer;
	Buffer		nbuf = InvalidBuffer;
	GenericXLogState *state;
	FannMetaPage wmeta;
	Page		page;

	if (*last != InvalidBlockNumber)
	{
		buf = ReadBuffer(index, *last);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		FannCheckPage(page, type, index, *last);
		if (PageGetExactFreeSpace(page) >= need &&
			(maxitems == 0 || PageGetMaxOffsetNumber(page) < maxitems))
			return buf;
		if (first != NULL)
			prevbuf = buf;
		else
			UnlockReleaseBuffer(buf);
	}

	buf = FannNewBuffer(index, MAIN_FORKNUM);
	state = GenericXLogStart(index);
	wmeta = FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	FannInitPage(page, type);
	if (type == FANN_PAGE_ELEMENT)
		attach_lists(index, state, meta, wmeta, page, &nbuf);
	if (BufferIsValid(prevbuf))
		FannPageGetOpaque(GenericXLogRegisterBuffer(state, prevbuf, 0))->next =
			BufferGetBlockNumber(buf);
	/* the same pointers in the record's copy of the metapage */
	tail_pointers(wmeta, tail, &first, &last);
	if (first != NULL && *first == InvalidBlockNumber)
		*first = BufferGetBlockNumber(buf);
	*last = BufferGetBlockNumber(buf);
	GenericXLogFinish(state);
	if (BufferIsValid(prevbuf))
		UnlockReleaseBuffer(prevbuf);
	if (BufferIsValid(nbuf))
		UnlockReleaseBuffer(nbuf);
	return buf;
}

/* A new group for a label set (n == -1: NULL labels); returns its id */
static uint32
create_group(Relation index, Buffer metabuf, const int32 *labels, int n)
{
	Buffer		buf;
	GenericXLogState *state;
	FannMetaPage wmeta;
	Page		page;
	FannGroupData entry;
	OffsetNumber off;
	uint32		gid;

	MemSet(&entry, 0, sizeof(entry));

	/*
	 * No LNG edges: the search enters such a group unless one of the parents
	 * it names matches, whose rows lead into it (graph.c).  Found before any
	 * group page is locked for writing: they are read.
	 */
	if (n < 0)
		for (int k = 0; k < FANN_NEW_PARENTS; k++)
			entry.parents[k] = InvalidFannId;
	else
		FannNewGroupParents(index, FannPageGetMeta(BufferGetPage(metabuf)),
							labels, n, entry.parents);

	buf = tail_buffer(index, metabuf, FANN_TAIL_GROUPS,
					  MAXALIGN(sizeof(FannGroupData)) + sizeof(ItemIdData),
					  FANN_GROUPS_PER_PAGE);
	state = GenericXLogStart(index);
	wmeta = FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	page = GenericXLogRegisterBuffer(state, buf, 0);
	entry.nlabels = n < 0 ? FANN_NULL_LABELS : n;
	entry.nlive = 0;
	entry.range_start = entry.range_end = InvalidFannId;
	entry.chain_head = entry.free_head = InvalidFannId;
	for (int k = 0; k < FANN_ENTRY_POINTS; k++)
		entry.entry_points[k] = InvalidFannId;
	if ((uint64) (BufferGetBlockNumber(buf) + 1) * FANN_GROUPS_PER_PAGE >= InvalidFannId)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fann index \"%s\" has no room for another label set",
						RelationGetRelationName(index)),
				 errhint("REINDEX it.")));
	off = PageAddItem(page, (Item) &entry, sizeof(entry), InvalidOffsetNumber, false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "failed to add fann group to page");
	gid = FannMakeId(BufferGetBlockNumber(buf), off, FANN_GROUPS_PER_PAGE);
	if (n < 0)
		wmeta->null_group = gid;
	else if (n == 0)
		wmeta->empty_group = gid;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);

	/*
	 * Postings last: until they are all in, lookups miss the group, which has
	 * no rows yet.  A crash in between leaves an empty, harmless group.
	 */
	for (int i = 0; i < n; i++)
	{
		FannPair	pair = {labels[i], gid};

		buf = tail_buffer(index, metabuf, FANN_TAIL_DELTA, sizeof(FannPair), 0);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		memcpy((char *) page + ((PageHeader) page)->pd_lower, &pair, sizeof(pair));
		((PageHeader) page)->pd_lower += sizeof(FannPair);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	return gid;
}

/* Pop the head of a free list whose head is *head; returns its element */
static FannElement
pop_free(Relation index, Page page, uint32 id, int per_page, uint32 *head)
{
	FannElement e = FannPageGetElement(page, FannIdOffset(id, per_page));

	if (!(e->flags & FANN_ELEMENT_FREE))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" has a free list entry %u that is in use",
						RelationGetRelationName(index), id)));
	*head = e->nextfree;
	return e;
}

static uint32
add_element(Relation index, Buffer metabuf, uint32 gid, ItemPointer tid,
			const FannCodeData *code, int dim)
{
	FannMetaPage meta = FannPageGetMeta(BufferGetPage(metabuf));
	int			per_page = meta->elements_per_page;
	int			nneighbors = meta->graph_degree + meta->cross_edges;
	Size		esize = FANN_ELEMENT_SIZE(dim);
	BlockNumber gblkno = FannIdBlock(gid, FANN_GROUPS_PER_PAGE);
	Buffer		gbuf = ReadBuffer(index, gblkno);
	Buffer		ebuf;
	Buffer		nbuf;
	BlockNumber nblkno;
	int			slot;
	GenericXLogState *state;
	FannMetaPage wmeta;
	FannGroup	group;
	Page		page;
	FannElement e;
	uint32		id;
	bool		local;
	bool		reused;

	LockBuffer(gbuf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(gbuf), FANN_PAGE_GROUP, index, gblkno);
	group = FannPageGetGroup(BufferGetPage(gbuf), FannIdOffset(gid, FANN_GROUPS_PER_PAGE));

	/* Which slot: the group's free list, the global one, or a new one */
	local = group->free_head != InvalidFannId;
	id = local ? group->free_head : meta->free_head;
	if (id != InvalidFannId)
	{
		ebuf = ReadBuffer(index, FannIdBlock(id, per_page));
		LockBuffer(ebuf, BUFFER_LOCK_EXCLUSIVE);
	}
	else
	{
		ebuf = tail_buffer(index, metabuf, FANN_TAIL_ELEMENTS,
						   esize + sizeof(ItemIdData), per_page);
		if ((uint64) (BufferGetBlockNumber(ebuf) + 1) * per_page >= InvalidFannId)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("fann index \"%s\" is full", RelationGetRelationName(index))));
	}
	FannCheckPage(BufferGetPage(ebuf), FANN_PAGE_ELEMENT, index, BufferGetBlockNumber(ebuf));
	reused = id != InvalidFannId;
	if (!reused)
		id = FannMakeId(BufferGetBlockNumber(ebuf),
						PageGetMaxOffsetNumber(BufferGetPage(ebuf)) + 1, per_page);
	/* the slot's adjacency list, locked after the element */
	FannNeighborSlot(BufferGetPage(ebuf), FannIdOffset(id, per_page), &nblkno, &slot);
	nbuf = ReadBuffer(index, nblkno);
	LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(nbuf), FANN_PAGE_NEIGHBOR, index, nblkno);

	state = GenericXLogStart(index);
	wmeta = FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	group = FannPageGetGroup(GenericXLogRegisterBuffer(state, gbuf, 0),
							 FannIdOffset(gid, FANN_GROUPS_PER_PAGE));
	page = GenericXLogRegisterBuffer(state, ebuf, 0);
	if (reused)
		e = pop_free(index, page, id, per_page, local ? &group->free_head : &wmeta->free_head);
	else
	{
		OffsetNumber off = FannIdOffset(id, per_page);

		if (PageAddItem(page, (Item) palloc0(esize), esize, off, false, false) != off)
			elog(ERROR, "failed to add fann element to page");
		e = FannPageGetElement(page, off);
		e->flags = 0;
		e->next = InvalidFannId;
	}
	/* no edges until the row joins the graph, also if a crash comes first */
	{
		uint32	   *nb = FannPageGetList(GenericXLogRegisterBuffer(state, nbuf, 0),
										 slot, nneighbors);

		for (int k = 0; k < nneighbors; k++)
			nb[k] = InvalidFannId;
	}

	/* A slot of its own group's chain or build range is already reachable */
	if (!local && !(id >= group->range_start && id < group->range_end))
	{
		e->next = group->chain_head;
		e->flags = FANN_ELEMENT_IN_CHAIN;
		group->chain_head = id;
	}
	e->flags &= FANN_ELEMENT_IN_CHAIN;
	e->heaptid = *tid;
	e->group = gid;
	e->nextfree = InvalidFannId;
	memcpy(&e->c, code, FANN_CODE_SIZE(dim));
	group->nlive++;
	GenericXLogFinish(state);

	UnlockReleaseBuffer(nbuf);
	UnlockReleaseBuffer(ebuf);
	UnlockReleaseBuffer(gbuf);
	return id;
}

bool
fanninsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
		   IndexInfo *indexInfo)
{
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "fann insert", ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldctx = MemoryContextSwitchTo(ctx);
	int			dim;
	int32	   *labels = NULL;
	int			n;
	const float *vec = FannRowValues(index, values, isnull, &dim, &labels, &n);

	if (vec != NULL)
	{
		Buffer		metabuf = ReadBuffer(index, FANN_METAPAGE_BLKNO);
		FannMetaPage meta;
		FannMetaPageData snapshot;
		FannCode	code = palloc(FANN_CODE_SIZE(dim));
		uint32		gid;
		uint32		id;

		LockPage(index, FANN_UPDATE_LOCK, ShareLock);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		FannCheckPage(BufferGetPage(metabuf), FANN_PAGE_META, index, FANN_METAPAGE_BLKNO);
		meta = FannPageGetMeta(BufferGetPage(metabuf));
		if (meta->dimensions == 0)
		{
			/* the first vector of an index built empty fixes the dimensions */
			GenericXLogState *state = GenericXLogStart(index);
			FannMetaPage wmeta = FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));

			FannSetDimensions(wmeta, dim);
			GenericXLogFinish(state);
		}
		FannCheckDimensions(dim, meta->dimensions);

		gid = n < 0 ? meta->null_group : FannFindGroup(index, meta, labels, n);
		if (gid == InvalidFannId)
			gid = create_group(index, metabuf, labels, n);
		FannEncode(vec, dim, code);
		id = add_element(index, metabuf, gid, heap_tid, code, dim);
		snapshot = *meta;
		UnlockReleaseBuffer(metabuf);

		/*
		 * Partitions first: their one or two records follow the slot's at
		 * once, so that a crash cutting off an uncommitted insert rarely
		 * leaves its element listed nowhere (the graph's records take ~100
		 * times longer and no edge is owed to a row that never committed)
		 */
		FannIvfInsert(index, &snapshot, NULL, id, gid, heap_tid, vec, code);
		FannGraphLink(index, &snapshot, id, gid, vec);
		UnlockPage(index, FANN_UPDATE_LOCK, ShareLock);
	}

	MemoryContextSwitchTo(oldctx);
	MemoryContextDelete(ctx);
	return false;
}
