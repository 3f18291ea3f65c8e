/*
 * page.c
 *	  Page access shared by build, insert, scan and vacuum: new pages, the
 *	  metapage, group entries, LNG edges, raw array pages, and the cache of
 *	  the buffers blocks were last found in.
 */
#include "postgres.h"

#include "compat.h"
#include "lira.h"
#include "quant.h"
#include "storage/buf_internals.h"
#include "storage/lmgr.h"

/* A new page at the end of the relation, returned exclusively locked */
Buffer
FannNewBuffer(Relation index, ForkNumber fork)
{
	bool		needLock = !RELATION_IS_LOCAL(index);
	Buffer		buf;

	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

void
FannInitPage(Page page, uint16 type)
{
	FannPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(FannPageOpaqueData));
	opaque = FannPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->type = type;
	opaque->page_id = FANN_PAGE_ID;
	opaque->nb_base = 0;
	opaque->unused = 0;
}

/* The block layout of partition pages for dim dimensions (fann.h) */
void
FannBlockLayoutFor(int dim, FannBlockLayout *l)
{
	Size		head = MAXALIGN(offsetof(FannBlockData, codes));

	StaticAssertStmt(FANN_PAGE_USABLE / FANN_BLOCK_PAIR_BYTES * FANN_BLOCK_MAX_MORE +
					 (FANN_PAGE_USABLE - MAXALIGN(offsetof(FannBlockData, codes))) /
					 FANN_BLOCK_PAIR_BYTES >= (FANN_MAX_DIMENSIONS + 1) / 2,
					 "a block's continuation pages must hold every dimension");
	l->pairs = (dim + 1) / 2;
	if (head + (Size) l->pairs * FANN_BLOCK_PAIR_BYTES <= FANN_PAGE_USABLE)
	{
		l->head_pairs = l->pairs;
		l->npages = 1;
		l->size = MAXALIGN(head + (Size) l->pairs * FANN_BLOCK_PAIR_BYTES);
		l->per_page = FANN_PAGE_USABLE / l->size;
	}
	else
	{
		l->head_pairs = (FANN_PAGE_USABLE - head) / FANN_BLOCK_PAIR_BYTES;
		l->npages = 1 + (l->pairs - l->head_pairs + FANN_BLOCK_MORE_PAIRS - 1) /
			FANN_BLOCK_MORE_PAIRS;
		l->size = head + (Size) l->head_pairs * FANN_BLOCK_PAIR_BYTES;
		l->per_page = 1;
	}
}

/* An empty partition page */
void
FannBlockInitPage(Page page)
{
	FannInitPage(page, FANN_PAGE_PARTITION);
	((PageHeader) page)->pd_lower = PageGetContents(page) - (char *) page;
}

/*
 * A block's continuation page k (from 1), its pairs' bytes up to pd_lower:
 * generic WAL records and full-page images keep only what lies below
 * pd_lower and above pd_upper
 */
void
FannBlockInitCodesPage(Page page, const FannBlockLayout *l, int k)
{
	FannInitPage(page, FANN_PAGE_BLOCK_CODES);
	((PageHeader) page)->pd_lower +=
		MAXALIGN((Size) FannBlockSegmentPairs(l, k) * FANN_BLOCK_PAIR_BYTES);
}

/*
 * Lock a block's continuation pages into more[] (mode: share or exclusive),
 * each checked to be one; the block's own page is locked already (fann.h's
 * lock order)
 */
void
FannBlockLockMore(Relation index, const FannBlockData *b, const FannBlockLayout *l,
				  int mode, Buffer *more)
{
	for (int m = 0; m < l->npages - 1; m++)
	{
		more[m] = FannReadBuffer(index, b->more[m]);
		LockBuffer(more[m], mode);
		FannCheckPage(BufferGetPage(more[m]), FANN_PAGE_BLOCK_CODES, index, b->more[m]);
	}
}

/* Begin a block on a partition page with room for one; returns it */
FannBlock
FannBlockBegin(Page page, const FannBlockLayout *l)
{
	FannBlock	b = FannPageGetBlock(page, l, FannBlockCount(page, l));

	Assert(FannBlockCount(page, l) < l->per_page);
	memset(b, 0, l->size);
	for (int k = 0; k < FANN_BLOCK_MAX_MORE; k++)
		b->more[k] = InvalidBlockNumber;
	((PageHeader) page)->pd_lower += l->size;
	return b;
}

/*
 * The pairs of dimensions of segment k of a block: 0 on its own page
 * (codes), k > 0 on continuation page k - 1 (from its contents)
 */
int
FannBlockSegmentPairs(const FannBlockLayout *l, int k)
{
	if (k == 0)
		return l->head_pairs;
	return Min(FANN_BLOCK_MORE_PAIRS,
			   l->pairs - l->head_pairs - (k - 1) * FANN_BLOCK_MORE_PAIRS);
}

/* The byte of row r in pair p, segs[k] the block's segment k */
static inline uint8 *
block_byte(uint8 *const *segs, const FannBlockLayout *l, int p, int r)
{
	int			k = 0;

	if (p >= l->head_pairs)
	{
		k = 1 + (p - l->head_pairs) / FANN_BLOCK_MORE_PAIRS;
		p = (p - l->head_pairs) % FANN_BLOCK_MORE_PAIRS;
	}
	return segs[k] ? segs[k] + (Size) p * FANN_BLOCK_PAIR_BYTES + r : NULL;
}

/*
 * Write row r of a block: with b, its element id, group, TID and factors
 * (the caller counts it in nrows once every segment is written), and its
 * 4-bit code c4 (quant.h) into the segments segs[] that are not NULL
 */
void
FannBlockSetRow(FannBlock b, uint8 *const *segs, const FannBlockLayout *l, int r,
				uint32 id, uint32 gid, ItemPointer tid, const FannCodeData *c4, int dim)
{
	if (b)
	{
		b->ids[r] = id;
		b->groups[r] = gid;
		b->tids[r] = *tid;
		b->lo[r] = c4->lo;
		b->step[r] = c4->step;
		b->eps[r] = c4->eps;
		b->norm[r] = c4->norm;
		b->sum[r] = c4->sum;
		b->sumsq[r] = c4->sumsq;
	}
	for (int j = 0; j < dim; j++)
	{
		uint8	   *byte = block_byte(segs, l, j / 2, r);
		int			shift = j % 2 ? 4 : 0;

		if (byte)
			*byte = (*byte & ~(15 << shift)) | c4->code[j] << shift;
	}
}

/* Row r's 4-bit code (quant.h) from a block and its segments */
void
FannBlockGetRow(const FannBlockData *b, uint8 *const *segs, const FannBlockLayout *l,
				int r, int dim, FannCode c4)
{
	c4->lo = b->lo[r];
	c4->step = b->step[r];
	c4->eps = b->eps[r];
	c4->norm = b->norm[r];
	c4->sum = b->sum[r];
	c4->sumsq = b->sumsq[r];
	for (int j = 0; j < dim; j++)
		c4->code[j] = (*block_byte(segs, l, j / 2, r) >> (j % 2 ? 4 : 0)) & 15;
}

/*
 * Fix the dimensions, and with them the element size, of an index.  An
 * element page's adjacency lists must fit one neighbour page.
 */
void
FannSetDimensions(FannMetaPage meta, int dimensions)
{
	int			nneighbors = meta->graph_degree + meta->cross_edges;

	meta->dimensions = dimensions;
	meta->lists_per_page = FANN_PAGE_USABLE / (sizeof(uint32) * nneighbors);
	meta->elements_per_page = dimensions == 0 ? 0 :
		Min(meta->lists_per_page,
			FANN_PAGE_USABLE / (FANN_ELEMENT_SIZE(dimensions) + sizeof(ItemIdData)));
}

/* Where the adjacency list of the element at off of an element page is */
void
FannNeighborSlot(Page elempage, OffsetNumber off, BlockNumber *blkno, int *slot)
{
	FannPageOpaque opaque = FannPageGetOpaque(elempage);

	*blkno = opaque->next;
	*slot = opaque->nb_base + off - FirstOffsetNumber;
}

/* A new metapage for index, with its reloptions and opclass's metric */
void
FannInitMetaPage(Page page, Relation index, int dimensions)
{
	FannMetaPage meta;
	FannOptions *opts = (FannOptions *) index->rd_options;

	FannInitPage(page, FANN_PAGE_META);
	meta = FannPageGetMeta(page);
	MemSet(meta, 0, sizeof(FannMetaPageData));
	meta->magic = FANN_MAGIC;
	meta->version = FANN_VERSION;
	meta->metric = FannIndexMetric(index);
	meta->graph_degree = opts ? opts->graph_degree : FANN_DEFAULT_GRAPH_DEGREE;
	meta->build_list = opts ? opts->build_list : FANN_DEFAULT_BUILD_LIST;
	/* RobustPrune's slack needs non-negative distances */
	meta->alpha = meta->metric == FANN_METRIC_IP ? 1.0 :
		opts ? opts->alpha : FANN_DEFAULT_ALPHA;
	meta->cross_edges = opts ? opts->cross_edges : FANN_DEFAULT_CROSS_EDGES;
	FannSetDimensions(meta, dimensions);
	meta->null_group = InvalidFannId;
	meta->empty_group = InvalidFannId;
	meta->free_head = InvalidFannId;
	meta->insert_page = InvalidBlockNumber;
	meta->group_first = InvalidBlockNumber;
	meta->group_last = InvalidBlockNumber;
	meta->pair_start = InvalidBlockNumber;
	meta->pair_npages = 0;
	meta->delta_first = InvalidBlockNumber;
	meta->delta_last = InvalidBlockNumber;
	meta->lng_start = InvalidBlockNumber;
	meta->nb_insert_page = InvalidBlockNumber;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(FannMetaPageData)) - (char *) page;
}

/*
 * What a backend keeps of an index across its scans, in the relcache entry
 * (rd_amcache: one allocation, which relcache invalidation frees, as it does
 * after REINDEX, TRUNCATE and VACUUM's statistics).
 *
 * The buffers that blocks were last found in: graph searches read thousands
 * of scattered blocks per query; starting from the buffer a block was last
 * seen in lets ReadRecentBuffer pin it without the buffer mapping table's
 * hash lookup, which cost a sixth of a search.
 *
 * The probing model, read once instead of by every ivf scan (1.2 MB for 638
 * partitions of 128-d: a tenth of an unfiltered ivf query), and the prober
 * made from it, which searches run.  Neither changes after the build.
 */
typedef struct FannRelCache
{
	BlockNumber nblocks;		/* buffers of the blocks below this */
	Size		model_bytes;	/* the model's and prober's, 0 until read */
	char	   *model;			/* in this allocation, after the buffers:
								 * the model, then its prober */
	Buffer		buffers[FLEXIBLE_ARRAY_MEMBER];
} FannRelCache;

/*
 * Replace the cache by one with room for the buffers of nblocks blocks and
 * a model of model_bytes, keeping what the old one held
 */
static FannRelCache *
cache_resize(Relation index, BlockNumber nblocks, Size model_bytes)
{
	FannRelCache *old = index->rd_amcache;
	Size		head = MAXALIGN(offsetof(FannRelCache, buffers) + sizeof(Buffer) * (Size) nblocks);
	FannRelCache *cache = MemoryContextAllocExtended(index->rd_indexcxt, head + model_bytes,
													 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	cache->nblocks = nblocks;
	cache->model = (char *) cache + head;
	if (old != NULL)
	{
		memcpy(cache->buffers, old->buffers, sizeof(Buffer) * Min(old->nblocks, nblocks));
		if (old->model_bytes > 0 && old->model_bytes == model_bytes)
		{
			memcpy(cache->model, old->model, model_bytes);
			cache->model_bytes = model_bytes;
		}
		pfree(old);
	}
	index->rd_amcache = cache;
	return cache;
}

/* Make room in the cache for blocks below nblocks */
void
FannRecentBuffersReserve(Relation index, BlockNumber nblocks)
{
	FannRelCache *cache = index->rd_amcache;

	if (cache != NULL && cache->nblocks >= nblocks)
		return;
	/* room to grow, so that inserts do not reallocate it every time */
	cache_resize(index, nblocks + nblocks / 8 + 16, cache ? cache->model_bytes : 0);
}

/*
 * Start fetching element off of element page blkno (elements of esize
 * bytes), where the buffer blkno was last seen in holds it: the buffer's
 * descriptor, which pinning reads, and what reading the element reads (the
 * page header, its line pointer, its item, the special space).  Nothing is
 * pinned: a search asks for a whole neighbourhood first, so that the misses
 * overlap, then pins one page at a time (a backend pinning more than a few
 * buffers at once looks each pin up in a hash table).  Prefetching only:
 * unpinned, the buffer may hold another page by now.  Items are fixed-size,
 * laid out from the page end, so where one is is known without reading its
 * line pointer.
 */
void
FannPrefetchElement(Relation index, BlockNumber blkno, OffsetNumber off, Size esize)
{
	FannRelCache *cache = index->rd_amcache;
	Buffer		buf;
	char	   *page;
	char	   *special;

	if (cache == NULL || blkno >= cache->nblocks || cache->buffers[blkno] <= 0)
		return;
	buf = cache->buffers[blkno];
	page = BufferGetBlock(buf);
	special = page + BLCKSZ - MAXALIGN(sizeof(FannPageOpaqueData));
	__builtin_prefetch(GetBufferDescriptor(buf - 1));
	__builtin_prefetch(page);
	__builtin_prefetch(PageGetItemId((Page) page, off));
	__builtin_prefetch(special);
	FannPrefetchRange(special - off * esize, esize);
}

/* ReadBuffer for the scans, through the cache of recent buffers */
Buffer
FannReadBuffer(Relation index, BlockNumber blkno)
{
	FannRelCache *cache = index->rd_amcache;
	Buffer		buf;

	if (cache == NULL || blkno >= cache->nblocks)
		return ReadBuffer(index, blkno);
	buf = cache->buffers[blkno];
	if (BufferIsValid(buf) &&
		ReadRecentBuffer(FannRelationLocator(index), MAIN_FORKNUM, blkno, buf))
		return buf;
	buf = ReadBuffer(index, blkno);
	/* the cache as it is now: never a copy a relcache flush has freed */
	cache = index->rd_amcache;
	if (cache != NULL && blkno < cache->nblocks)
		cache->buffers[blkno] = buf;
	return buf;
}

/* Raise a clear error instead of misreading a page that is not what we expect */
void
FannCheckPage(Page page, uint16 type, Relation index, BlockNumber blkno)
{
	FannPageOpaque opaque = FannPageGetOpaque(page);

	if (PageIsNew(page) || opaque->page_id != FANN_PAGE_ID || opaque->type != type)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" has an unexpected page at block %u",
						RelationGetRelationName(index), blkno),
				 errhint("Please REINDEX it.")));
}

/* The first page of IVF partition c's list, from the partition directory */
BlockNumber
FannPartitionFirstBlock(Relation index, const FannMetaPageData *meta, int c)
{
	BlockNumber dirblk = meta->partdir_start + c / FANN_PARTITIONS_PER_PAGE;
	Buffer		buf = FannReadBuffer(index, dirblk);
	BlockNumber first;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_PARTDIR, index, dirblk);
	first = ((FannPartitionData *) PageGetContents(BufferGetPage(buf)))[c % FANN_PARTITIONS_PER_PAGE].first;
	UnlockReleaseBuffer(buf);
	return first;
}

/* A copy of the metapage, read under a share lock */
void
FannGetMetaSnapshot(Relation index, FannMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, FANN_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	FannCheckPage(page, FANN_PAGE_META, index, FANN_METAPAGE_BLKNO);
	memcpy(meta, FannPageGetMeta(page), sizeof(FannMetaPageData));
	UnlockReleaseBuffer(buf);

	if (meta->magic != FANN_MAGIC || meta->version != FANN_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" has version %u, this build reads version %d",
						RelationGetRelationName(index), meta->version, FANN_VERSION),
				 errhint("Please REINDEX it.")));
}

/*
 * Copy the entries of groups gids[0..n) (sorted: each group page is read
 * once); false if an id names no group.
 */
bool
FannReadGroups(Relation index, const uint32 *gids, int n, FannGroupData *groups)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	Buffer		buf = InvalidBuffer;
	bool		found = true;

	for (int i = 0; i < n && found; i++)
	{
		BlockNumber blkno = FannIdBlock(gids[i], FANN_GROUPS_PER_PAGE);
		OffsetNumber off = FannIdOffset(gids[i], FANN_GROUPS_PER_PAGE);
		Page		page;

		found = gids[i] != InvalidFannId && blkno < nblocks;
		if (!found)
			break;
		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != blkno)
		{
			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = FannReadBuffer(index, blkno);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			FannCheckPage(BufferGetPage(buf), FANN_PAGE_GROUP, index, blkno);
		}
		page = BufferGetPage(buf);
		found = off <= PageGetMaxOffsetNumber(page);
		if (found)
			memcpy(&groups[i], FannPageGetGroup(page, off), sizeof(FannGroupData));
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	return found;
}

/*
 * LNG edges [first, first + n) of group g into out: its parents come first
 * (k < nparents), then its children.  The LNG pages never change after the
 * build, so the reader keeps a copy of the last page read: groups are laid
 * out in id order, so a search checking its groups' parents in that order
 * reads each LNG page once.
 */
void
FannLngEdges(Relation index, const FannMetaPageData *meta, FannLngReader *r,
			 const FannGroupData *g, int first, int n, uint32 *out)
{
	for (int k = 0; k < n; k++)
	{
		uint32		at = g->lng_offset + first + k;
		BlockNumber blkno = meta->lng_start + at / FANN_LNG_PER_PAGE;

		if (r->blkno != blkno)
		{
			Buffer		buf = ReadBuffer(index, blkno);

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			FannCheckPage(BufferGetPage(buf), FANN_PAGE_LNG, index, blkno);
			memcpy(r->edges, PageGetContents(BufferGetPage(buf)), sizeof(r->edges));
			UnlockReleaseBuffer(buf);
			r->blkno = blkno;
		}
		out[k] = r->edges[at % FANN_LNG_PER_PAGE];
	}
}

/*
 * n items of size bytes as raw arrays on new pages of a type, during the
 * build (WAL-logged in bulk later); returns the number of pages
 */
BlockNumber
FannWriteArrayPages(Relation index, uint16 type, const void *items, int64 n,
					Size size)
{
	int64		per_page = FANN_PAGE_USABLE / size;
	BlockNumber npages = 0;

	for (int64 k = 0; k < n; k += per_page, npages++)
	{
		Buffer		buf = FannNewBuffer(index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		int64		m = Min(per_page, n - k);

		FannInitPage(page, type);
		memcpy(PageGetContents(page), (const char *) items + k * size, size * m);
		((PageHeader) page)->pd_lower += size * m;
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	return npages;
}

/*
 * The raw array of a page of a type (FannWriteArrayPages, or grown by
 * inserts up to pd_lower), in place: the page pinned and share-locked in
 * *buf, which the caller releases; *bytes gets the array's size, which may
 * exceed a page's room on a damaged page
 */
const void *
FannLockArrayPage(Relation index, BlockNumber blkno, uint16 type, Buffer *buf,
				  Size *bytes)
{
	Page		page;

	*buf = FannReadBuffer(index, blkno);
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	FannCheckPage(page, type, index, blkno);
	*bytes = ((PageHeader) page)->pd_lower - (PageGetContents(page) - (char *) page);
	return PageGetContents(page);
}

/*
 * Copy the raw array of a page of a type (FannLockArrayPage) into dest, at
 * most room bytes; returns the array's size in bytes, which may exceed room
 * on a damaged page.  *next, if given, gets the page's chain link.
 */
Size
FannReadArrayPage(Relation index, BlockNumber blkno, uint16 type, void *dest,
				  Size room, BlockNumber *next)
{
	Buffer		buf;
	Size		n;
	const void *array = FannLockArrayPage(index, blkno, type, &buf, &n);

	memcpy(dest, array, Min(n, room));
	if (next)
		*next = FannPageGetOpaque(BufferGetPage(buf))->next;
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * Read the raw arrays of npages pages of a type from start into dest, which
 * holds nbytes; true if they hold exactly nbytes (a page holding more or
 * less than the structure's size is damage).
 */
static bool
read_array_range(Relation index, BlockNumber start, BlockNumber npages,
				 uint16 type, char *dest, Size nbytes)
{
	Size		at = 0;

	for (BlockNumber i = 0; i < npages; i++)
		at += FannReadArrayPage(index, start + i, type, dest + Min(at, nbytes),
								at < nbytes ? nbytes - at : 0, NULL);
	return at == nbytes;
}

/*
 * Read the probing model into bytes (nbytes of it), checking it is whole and
 * belongs to this index
 */
static void
read_model(Relation index, const FannMetaPageData *meta, char *bytes, Size nbytes)
{
	bool		whole = read_array_range(index, meta->model_start, meta->model_npages,
										 FANN_PAGE_MODEL, bytes, nbytes);
	FannModelHeader h;

	memcpy(&h, bytes, Min(nbytes, sizeof(h)));
	if (!whole || h.magic != FANN_MODEL_MAGIC || h.partitions != meta->partitions ||
		h.dimensions != meta->dimensions)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" has a damaged probing model",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
}

/* The probing model and its centroid table, read into palloc'd memory */
void
FannModelLoad(Relation index, const FannMetaPageData *meta, FannModel *m)
{
	Size		nbytes = FannModelBytes(meta->partitions, meta->dimensions);
	char	   *bytes = palloc_extended(MAXALIGN(nbytes) +
										FannCentroidTableBytes(meta->partitions,
															   meta->dimensions),
										MCXT_ALLOC_HUGE);

	read_model(index, meta, bytes, nbytes);
	FannModelBind(m, bytes, meta->partitions, meta->dimensions);
	FannModelBindTable(m, bytes + MAXALIGN(nbytes), (FannMetric) meta->metric, true);
}

/*
 * The cache's model bytes: the stored model, then its prober (at
 * *prober_at), then its centroid table (at *table_at); returns their size
 */
static Size
model_layout(const FannMetaPageData *meta, Size *prober_at, Size *table_at)
{
	*prober_at = MAXALIGN(FannModelBytes(meta->partitions, meta->dimensions));
	*table_at = *prober_at + MAXALIGN(FannProberBytes(meta->partitions, meta->dimensions));
	return *table_at + FannCentroidTableBytes(meta->partitions, meta->dimensions);
}

/*
 * The relcache entry's cache of the probing model (read on first use), its
 * prober and its centroid table (model_layout)
 */
static FannRelCache *
model_cached(Relation index, const FannMetaPageData *meta)
{
	Size		prober_at,
				table_at;
	Size		nbytes = model_layout(meta, &prober_at, &table_at);
	FannRelCache *cache = index->rd_amcache;

	if (cache == NULL || cache->model_bytes != nbytes)
	{
		FannModel	m;
		FannProber	p;

		cache = cache_resize(index, cache ? cache->nblocks : 0, nbytes);
		read_model(index, meta, cache->model,
				   FannModelBytes(meta->partitions, meta->dimensions));
		FannModelBind(&m, cache->model, meta->partitions, meta->dimensions);
		FannModelBindTable(&m, cache->model + table_at, (FannMetric) meta->metric, true);
		FannProberBind(&p, cache->model + prober_at, meta->partitions, meta->dimensions,
					   (FannMetric) meta->metric);
		FannProberFrom(&p, &m);
		cache->model_bytes = nbytes;
	}
	return cache;
}

/*
 * The probing model with its centroid table, and its prober, from the
 * relcache entry's cache.  Valid until the next FannRecentBuffersReserve or
 * relcache invalidation: not to be held across a search or a lock
 * acquisition.
 */
void
FannModelCached(Relation index, const FannMetaPageData *meta, FannModel *m)
{
	FannRelCache *cache = model_cached(index, meta);
	Size		prober_at,
				table_at;

	model_layout(meta, &prober_at, &table_at);
	FannModelBind(m, cache->model, meta->partitions, meta->dimensions);
	FannModelBindTable(m, cache->model + table_at, (FannMetric) meta->metric, false);
}

void
FannProberCached(Relation index, const FannMetaPageData *meta, FannProber *p)
{
	FannRelCache *cache = model_cached(index, meta);
	Size		prober_at,
				table_at;

	model_layout(meta, &prober_at, &table_at);
	FannProberBind(p, cache->model + prober_at, meta->partitions, meta->dimensions,
				   (FannMetric) meta->metric);
}
