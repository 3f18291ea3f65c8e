/*
 * vacuum.c
 *	  VACUUM for fann: dead rows stop being returned, their slots are reused.
 *
 * Pass 1 marks the elements of dead heap rows DEAD, one page at a time, so
 * scans skip them at once, and deletes their IVF partition entries.  Pass 2
 * puts each DEAD element on a free list: its group's own list if it is
 * linked into the group's insert chain (the link must stay, so only a row of
 * the same group may take the slot), the global list otherwise.  Between the
 * two passes the graph is repaired around the dead elements (graph.c), so
 * that no edge leads to a slot once it can be reused.  A crash between the
 * passes leaves DEAD elements that are not yet free; the next VACUUM repairs
 * and frees them.  Inserts run on beside all of it: before the repair,
 * VACUUM waits for the inserts that began before pass 1 had marked every
 * dead row (FANN_UPDATE_LOCK), the only ones that could link to them.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "compat.h"
#include "ivf.h"
#include "storage/lmgr.h"
#include "ung.h"

typedef struct IdList
{
	uint32	   *ids;
	int			n;
	int			cap;
} IdList;

static void
idlist_add(IdList *l, uint32 id)
{
	if (l->n == l->cap)
	{
		l->cap = Max(64, l->cap * 2);
		l->ids = l->ids ? repalloc_huge(l->ids, sizeof(uint32) * l->cap) :
			palloc(sizeof(uint32) * l->cap);
	}
	l->ids[l->n++] = id;
}

/*
 * Visit every element page; with a callback, mark the elements of dead rows
 * DEAD.  Collects DEAD elements not yet freed, counts the live ones.
 */
static void
mark_dead(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
		  IndexBulkDeleteCallback callback, void *callback_state,
		  const FannMetaPageData *meta, IdList *tofree)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int			per_page = meta->elements_per_page;

	for (BlockNumber blkno = 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		GenericXLogState *state = NULL;
		Page		wpage = NULL;

		FannVacuumDelayPoint();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, info->strategy);
		LockBuffer(buf, callback ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (FannPageType(page) == FANN_PAGE_PARTITION && callback)
			FannIvfVacuumPage(index, buf, meta->dimensions, callback, callback_state);
		if (FannPageType(page) != FANN_PAGE_ELEMENT)
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			FannElement e = FannPageGetElement(page, off);

			if (!(e->flags & FANN_ELEMENT_DEAD) && callback &&
				callback(&e->heaptid, callback_state))
			{
				if (state == NULL)
				{
					state = GenericXLogStart(index);
					wpage = GenericXLogRegisterBuffer(state, buf, 0);
				}
				FannPageGetElement(wpage, off)->flags |=
					FANN_ELEMENT_DEAD;
				stats->tuples_removed++;
				idlist_add(tofree, FannMakeId(blkno, off, per_page));
			}
			else if (!(e->flags & FANN_ELEMENT_DEAD))
				stats->num_index_tuples++;
			else if (!(e->flags & FANN_ELEMENT_FREE))
				idlist_add(tofree, FannMakeId(blkno, off, per_page));
		}
		if (state)
			GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	stats->num_pages = nblocks;
}

/* Put one DEAD element on its free list and out of its group's count */
static void
free_element(Relation index, uint32 id, int per_page)
{
	Buffer		metabuf = ReadBuffer(index, FANN_METAPAGE_BLKNO);
	Buffer		ebuf = ReadBuffer(index, FannIdBlock(id, per_page));
	OffsetNumber off = FannIdOffset(id, per_page);
	Buffer		gbuf;
	FannElement e;
	uint32		gid;
	GenericXLogState *state;
	FannMetaPage meta;
	FannGroup	group;

	/* learn the group first: locks go metapage, group page, element page */
	LockBuffer(ebuf, BUFFER_LOCK_SHARE);
	gid = FannPageGetElement(BufferGetPage(ebuf), off)->group;
	LockBuffer(ebuf, BUFFER_LOCK_UNLOCK);
	gbuf = ReadBuffer(index, FannIdBlock(gid, FANN_GROUPS_PER_PAGE));

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(gbuf, BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(ebuf, BUFFER_LOCK_EXCLUSIVE);
	FannCheckPage(BufferGetPage(gbuf), FANN_PAGE_GROUP, index, BufferGetBlockNumber(gbuf));

	state = GenericXLogStart(index);
	meta = FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	group = FannPageGetGroup(GenericXLogRegisterBuffer(state, gbuf, 0),
							 FannIdOffset(gid, FANN_GROUPS_PER_PAGE));
	e = FannPageGetElement(GenericXLogRegisterBuffer(state, ebuf, 0), off);
	if ((e->flags & (FANN_ELEMENT_DEAD | FANN_ELEMENT_FREE)) == FANN_ELEMENT_DEAD &&
		e->group == gid)
	{
		uint32	   *head = (e->flags & FANN_ELEMENT_IN_CHAIN) ?
			&group->free_head : &meta->free_head;

		e->nextfree = *head;
		*head = id;
		e->flags |= FANN_ELEMENT_FREE;
		if (group->nlive > 0)
			group->nlive--;
		GenericXLogFinish(state);
	}
	else
		GenericXLogAbort(state);

	UnlockReleaseBuffer(ebuf);
	UnlockReleaseBuffer(gbuf);
	UnlockReleaseBuffer(metabuf);
}

static IndexBulkDeleteResult *
vacuum_index(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			 IndexBulkDeleteCallback callback, void *callback_state)
{
	FannMetaPageData meta;
	IdList		tofree = {NULL, 0, 0};

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	FannGetMetaSnapshot(info->index, &meta);
	if (meta.elements_per_page == 0)
		return stats;

	/* each pass counts the live rows afresh */
	stats->num_index_tuples = 0;
	mark_dead(info, stats, callback, callback_state, &meta, &tofree);
	if (tofree.n > 0)
	{
		/* take the dead out of the graph before their slots can be reused */
		uint32		nids = RelationGetNumberOfBlocks(info->index) * meta.elements_per_page;
		uint64	   *dead = FannIdSetCreate(nids);

		for (int i = 0; i < tofree.n; i++)
			FannIdSetAdd(dead, nids, tofree.ids[i]);
		LockPage(info->index, FANN_UPDATE_LOCK, ExclusiveLock);
		UnlockPage(info->index, FANN_UPDATE_LOCK, ExclusiveLock);
		FannGetMetaSnapshot(info->index, &meta);
		FannGraphRepair(info->index, &meta, dead, nids);
		pfree(dead);
	}
	for (int i = 0; i < tofree.n; i++)
	{
		FannVacuumDelayPoint();
		free_element(info->index, tofree.ids[i], meta.elements_per_page);
	}
	return stats;
}

IndexBulkDeleteResult *
fannbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	return vacuum_index(info, stats, callback, callback_state);
}

IndexBulkDeleteResult *
fannvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || stats != NULL)
		return stats;
	/* no bulkdelete ran: count the rows, free what a crash left DEAD */
	return vacuum_index(info, NULL, NULL, NULL);
}
