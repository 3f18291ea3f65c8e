/*
 * verify.c
 *	  fann_verify(regclass): check a fann index's structural invariants and
 *	  report each problem found as a row (none: the index is sound); and
 *	  fann_calibration(regclass): what CREATE INDEX measured for
 *	  fann.target_recall; and fann_label_sets(regclass): how many label sets
 *	  the index holds and how its rows fall into them.
 *
 * Checked: every block's page type (an all-zero page, which a crash while
 * the index was being extended leaves behind, is unused space); each
 * element's group; adjacency lists lead to elements in use, intra-group
 * edges within the group, cross edges only to groups whose label set is a
 * superset (UNG's invariant, section 3.2), and the parents a group created
 * after the build names are proper subsets of it; the codes of the element
 * region name their rows and encode their vectors; partition entries name
 * elements of the index; every element of a live heap row is listed in one
 * or two partitions; and every live heap row with a vector is indexed
 * exactly once.  A page too damaged to read raises the usual "index
 * corrupted" error instead.  Takes AccessShareLock: concurrent
 * inserts may make it report rows they have not finished indexing.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "quant.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

typedef struct VerifyState
{
	Relation	index;
	FannMetaPageData meta;
	uint32		nids;
	Tuplestorestate *out;
	TupleDesc	desc;
	int64		nproblems;

	/* per element id: its heap TID and group, when in use */
	ItemPointerData *tids;
	uint32	   *groups;
	uint8	   *state;			/* 0 none, 1 live, 2 dead, 3 free */
	uint8	   *listed;			/* partition entries naming it */
	uint64	   *codehash;		/* a hash of its 4-bit code */
	FannCode	nibbles;		/* scratch: an element's 4-bit code */
	BlockNumber *listpages;		/* the partition pages pass 1 found */
	BlockNumber nlistpages;
	FannPair   *pairs;			/* (label, group) sorted by group, label */
	int64		npairs;
	uint32	   *live;			/* live elements, in heap TID order */
	int64		nlive;
	uint8	   *heaplive;		/* per element id: its heap row is live */
} VerifyState;

#define MAX_PROBLEMS	100

static void
put_row(VerifyState *vs, const char *check, const char *detail)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(check);
	values[1] = CStringGetTextDatum(detail);
	tuplestore_putvalues(vs->out, vs->desc, values, nulls);
}

static void problem(VerifyState *vs, const char *check, const char *fmt,...) pg_attribute_printf(3, 4);

static void
problem(VerifyState *vs, const char *check, const char *fmt,...)
{
	va_list		args;
	char		detail[256];

	if (vs->nproblems++ >= MAX_PROBLEMS)
		return;
	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	put_row(vs, check, detail);
}

static int
cmp_pair_by_group(const void *a, const void *b)
{
	const FannPair *x = a;
	const FannPair *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return (x->label > y->label) - (x->label < y->label);
}

/* The label set of group gid: pairs [*lo, *hi) */
static void
group_labels(VerifyState *vs, uint32 gid, int64 *lo, int64 *hi)
{
	int64		a = 0,
				b = vs->npairs;

	while (a < b)
	{
		int64		mid = (a + b) / 2;

		if (vs->pairs[mid].group < gid)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	while (a < vs->npairs && vs->pairs[a].group == gid)
		a++;
	*hi = a;
}

/* Is group a's label set a proper subset of group b's? */
static bool
proper_subset(VerifyState *vs, uint32 a, uint32 b)
{
	int64		alo,
				ahi,
				blo,
				bhi,
				j;

	group_labels(vs, a, &alo, &ahi);
	group_labels(vs, b, &blo, &bhi);
	if (ahi - alo >= bhi - blo)
		return false;
	j = blo;
	for (int64 i = alo; i < ahi; i++)
	{
		while (j < bhi && vs->pairs[j].label < vs->pairs[i].label)
			j++;
		if (j == bhi || vs->pairs[j].label != vs->pairs[i].label)
			return false;
	}
	return true;
}

/* A code that cannot have come from a vector: its bound would be false */
static bool
code_is_sane(const FannCodeData *c, int dim)
{
	double		nn = 0;
	uint64		sum = 0,
				sumsq = 0;

	/* the bounds trust the sums of the levels */
	for (int j = 0; j < dim; j++)
	{
		sum += c->code[j];
		sumsq += c->code[j] * c->code[j];
	}
	if (sum != c->sum || sumsq != c->sumsq)
		return false;
	if (!isfinite(c->lo) || !isfinite(c->step) || isnan(c->eps) || isnan(c->norm) ||
		c->step < 0 || c->eps < 0 || c->norm < 0)
		return false;
	/* magnitudes near FLT_MAX: an infinite bound is a true one */
	if (isinf(c->eps) || isinf(c->norm))
		return true;
	/* |x^| lies within |x| +- eps (with room for rounding) */
	for (int j = 0; j < dim; j++)
	{
		double		x = c->lo + (double) c->step * c->code[j];

		nn += x * x;
	}
	return fabs(sqrt(nn) - c->norm) <= c->eps + 1e-4 * (c->norm + c->eps) + 1e-6;
}

/* A hash of a 4-bit code: a partition entry's, or an element's as derived */
static uint64
code_hash(const FannCodeData *c, int dim)
{
	return hash_bytes_extended((const unsigned char *) c, FANN_CODE_SIZE(dim), 0);
}

/*
 * A partition page's blocks name rows that exist, with their TIDs and codes
 * (the block's continuation pages read under the page's lock, as scans do)
 */
static void
check_list_page(VerifyState *vs, Page page, BlockNumber blkno, BlockNumber nblocks)
{
	int			dim = vs->meta.dimensions;
	FannBlockLayout l;
	int			n;

	FannBlockLayoutFor(dim, &l);
	n = FannBlockCount(page, &l);
	if (((PageHeader) page)->pd_lower != (char *) FannPageGetBlock(page, &l, n) - (char *) page)
		problem(vs, "partition", "block %u ends its row blocks at %u, not at a block's end",
				blkno, ((PageHeader) page)->pd_lower);
	for (int i = 0; i < n; i++)
	{
		FannBlock	b = FannPageGetBlock(page, &l, i);
		Buffer		more[FANN_BLOCK_MAX_MORE];
		uint8	   *segs[1 + FANN_BLOCK_MAX_MORE] = {b->codes};
		int			nmore = 0;

		if (b->nrows > FANN_BLOCK_ROWS)
		{
			problem(vs, "partition", "block %u row block %d holds %u rows", blkno, i, b->nrows);
			continue;
		}
		for (; nmore < l.npages - 1; nmore++)
		{
			if (b->more[nmore] >= nblocks)
				break;
			more[nmore] = ReadBuffer(vs->index, b->more[nmore]);
			LockBuffer(more[nmore], BUFFER_LOCK_SHARE);
			segs[1 + nmore] = (uint8 *) PageGetContents(BufferGetPage(more[nmore]));
			if (FannPageType(BufferGetPage(more[nmore])) != FANN_PAGE_BLOCK_CODES)
			{
				UnlockReleaseBuffer(more[nmore]);
				break;
			}
		}
		if (nmore < l.npages - 1)
			problem(vs, "partition", "block %u row block %d names continuation page %u, not one",
					blkno, i, b->more[nmore]);
		for (int r = 0; r < b->nrows && nmore == l.npages - 1; r++)
		{
			uint32		id = b->ids[r];

			if (id == InvalidFannId)
				continue;		/* removed by VACUUM */
			FannBlockGetRow(b, segs, &l, r, dim, vs->nibbles);
			if (id >= vs->nids)
				problem(vs, "partition", "block %u row %d names element %u beyond the index",
						blkno, i * FANN_BLOCK_ROWS + r, id);
			else if (vs->state[id] == 1 &&
					 (!ItemPointerEquals(&b->tids[r], &vs->tids[id]) ||
					  b->groups[r] != vs->groups[id] ||
					  code_hash(vs->nibbles, dim) != vs->codehash[id]))
				problem(vs, "partition", "block %u row %d differs from element %u's TID, group or code",
						blkno, i * FANN_BLOCK_ROWS + r, id);
			else if (vs->listed[id] < 255)
				vs->listed[id]++;
		}
		for (int m = 0; m < nmore; m++)
			UnlockReleaseBuffer(more[m]);
	}
}

/* Pass 1: element pages, page types */
static void
read_pages(VerifyState *vs, BlockNumber nblocks)
{
	int			per_page = vs->meta.elements_per_page;

	for (BlockNumber blkno = 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(vs->index, blkno);
		Page		page;
		FannPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			/* unused, left by a crash (FannPageType): no special space */
			UnlockReleaseBuffer(buf);
			continue;
		}
		opaque = FannPageGetOpaque(page);
		if (PageGetSpecialSize(page) != MAXALIGN(sizeof(FannPageOpaqueData)) ||
			opaque->page_id != FANN_PAGE_ID || opaque->type < FANN_PAGE_ELEMENT ||
			opaque->type > FANN_PAGE_BLOCK_CODES)
			problem(vs, "page", "block %u is not a fann page", blkno);
		else if (opaque->type == FANN_PAGE_ELEMENT)
		{
			if (opaque->next >= nblocks)
				problem(vs, "page", "element page %u names neighbour page %u", blkno, opaque->next);
			for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page) && off <= per_page; off++)
			{
				FannElement e = FannPageGetElement(page, off);
				uint32		id = FannMakeId(blkno, off, per_page);

				vs->state[id] = (e->flags & FANN_ELEMENT_FREE) ? 3 :
					(e->flags & FANN_ELEMENT_DEAD) ? 2 : 1;
				vs->tids[id] = e->heaptid;
				vs->groups[id] = e->group;
				FannCodeNibbles(&e->c, vs->meta.dimensions, vs->nibbles);
				vs->codehash[id] = code_hash(vs->nibbles, vs->meta.dimensions);
				if (!(e->flags & FANN_ELEMENT_FREE) && !code_is_sane(&e->c, vs->meta.dimensions))
					problem(vs, "code", "element %u's code cannot encode a vector", id);
			}
		}
		else if (opaque->type == FANN_PAGE_PARTITION)
			vs->listpages[vs->nlistpages++] = blkno;
		UnlockReleaseBuffer(buf);
	}
}

/* Pass 1b: the partition pages pass 1 found, once every element is known */
static void
read_lists(VerifyState *vs, BlockNumber nblocks)
{
	for (BlockNumber i = 0; i < vs->nlistpages; i++)
	{
		Buffer		buf = ReadBuffer(vs->index, vs->listpages[i]);
		Page		page;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		/* a page keeps its type once written; checked all the same */
		if (FannPageType(page) == FANN_PAGE_PARTITION)
			check_list_page(vs, page, vs->listpages[i], nblocks);
		UnlockReleaseBuffer(buf);
	}
}

/* Pass 2: each element's group, adjacency list and partition entries */
static void
check_elements(VerifyState *vs)
{
	int			degree = vs->meta.graph_degree;
	int			nneighbors = degree + vs->meta.cross_edges;
	int			per_page = vs->meta.elements_per_page;
	uint32	   *nb = palloc(sizeof(uint32) * Max(nneighbors, 1));

	for (uint32 id = 0; id < vs->nids; id++)
	{
		FannGroupData g;
		Buffer		buf;
		Page		page;
		BlockNumber nblkno;
		int			slot;

		if (vs->state[id] == 0 || vs->state[id] == 3)
			continue;
		if (id % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		if (!FannReadGroups(vs->index, &vs->groups[id], 1, &g))
		{
			problem(vs, "element", "element %u names group %u, which does not exist",
					id, vs->groups[id]);
			continue;
		}
		/* its adjacency list */
		buf = ReadBuffer(vs->index, FannIdBlock(id, per_page));
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		FannNeighborSlot(BufferGetPage(buf), FannIdOffset(id, per_page), &nblkno, &slot);
		UnlockReleaseBuffer(buf);
		buf = ReadBuffer(vs->index, nblkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_NEIGHBOR, vs->index, nblkno);
		if ((char *) (FannPageGetList(page, slot + 1, nneighbors)) > (char *) page + ((PageHeader) page)->pd_lower)
		{
			UnlockReleaseBuffer(buf);
			problem(vs, "graph", "element %u's adjacency list lies beyond neighbour page %u's end",
					id, nblkno);
			continue;
		}
		memcpy(nb, FannPageGetList(page, slot, nneighbors), sizeof(uint32) * nneighbors);
		UnlockReleaseBuffer(buf);

		for (int k = 0; k < nneighbors; k++)
		{
			uint32		to = nb[k];

			if (to == InvalidFannId || vs->state[id] != 1)
				continue;
			if (to >= vs->nids || vs->state[to] == 0)
				problem(vs, "graph", "element %u has an edge to %u, which is no element", id, to);
			else if (vs->state[to] == 3)
				problem(vs, "graph", "element %u has an edge to free slot %u", id, to);
			else if (k < degree && vs->groups[to] != vs->groups[id])
				problem(vs, "graph", "element %u (group %u) has an intra-group edge to group %u",
						id, vs->groups[id], vs->groups[to]);
			else if (k >= degree && !proper_subset(vs, vs->groups[id], vs->groups[to]))
				problem(vs, "graph", "element %u has a cross edge from group %u to group %u, not a superset",
						id, vs->groups[id], vs->groups[to]);
		}
	}
	pfree(nb);
}

/* The parents a group created after the build names: proper subsets */
static void
check_groups(VerifyState *vs)
{
	for (BlockNumber blkno = vs->meta.group_first; blkno != InvalidBlockNumber;)
	{
		Buffer		buf = ReadBuffer(vs->index, blkno);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_GROUP, vs->index, blkno);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			FannGroup	g = FannPageGetGroup(page, off);
			uint32		gid = FannMakeId(blkno, off, FANN_GROUPS_PER_PAGE);

			for (int k = 0; k < FANN_NEW_PARENTS; k++)
				if (g->parents[k] != InvalidFannId && !proper_subset(vs, g->parents[k], gid))
					problem(vs, "group", "group %u names group %u as its parent, not a proper subset",
							gid, g->parents[k]);
		}
		blkno = FannPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
}

/* A live heap row with a vector must have a live element */
static void
heap_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	VerifyState *vs = state;
	int			dim;
	int32	   *labels = NULL;
	int			n;
	int64		at;

	if (FannRowValues(index, values, isnull, &dim, &labels, &n) == NULL)
		return;
	if ((at = FannFindIdByTid(vs->live, vs->nlive, vs->tids, tid)) >= 0)
		vs->heaplive[vs->live[at]] = 1;
	else
		problem(vs, "heap", "heap row (%u,%u) is not indexed",
				ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
}

/* Every live heap row with a vector is indexed, and only once */
static void
check_heap(VerifyState *vs, Relation heap)
{
	IndexInfo  *info = BuildIndexInfo(vs->index);
	Snapshot	snapshot;
	TableScanDesc scan;

	vs->live = palloc_extended(sizeof(uint32) * Max(vs->nids, 1), MCXT_ALLOC_HUGE);
	vs->heaplive = palloc_extended(Max(vs->nids, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint32 id = 0; id < vs->nids; id++)
		if (vs->state[id] == 1)
			vs->live[vs->nlive++] = id;
	qsort_arg(vs->live, vs->nlive, sizeof(uint32), FannCompareIdTids, vs->tids);
	for (int64 i = 1; i < vs->nlive; i++)
	{
		ItemPointer tid = &vs->tids[vs->live[i]];

		if (ItemPointerEquals(tid, &vs->tids[vs->live[i - 1]]))
			problem(vs, "heap", "heap row (%u,%u) is indexed twice",
					ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid));
	}

	/* the rows a concurrent index build would index now (as amcheck does) */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = table_beginscan_strat(heap, snapshot, 0, NULL, true, false);
	info->ii_Concurrent = true;
	table_index_build_scan(heap, vs->index, info, true, false, heap_callback, vs, scan);
	UnregisterSnapshot(snapshot);
}

/*
 * Every element of a live heap row is listed in one or two partitions.  An
 * element whose row is not live may be listed nowhere: a crash can cut off
 * an uncommitted insert between its slot's record and its listing's, and
 * VACUUM takes such an element away.
 */
static void
check_listing(VerifyState *vs)
{
	if (vs->meta.partitions == 0)
		return;
	for (uint32 id = 0; id < vs->nids; id++)
		if (vs->state[id] == 1 &&
			((vs->heaplive[id] && vs->listed[id] == 0) || vs->listed[id] > 2))
			problem(vs, "partition", "element %u is listed in %d partitions (1 or 2 expected)",
					id, vs->listed[id]);
}

/* Open a fann index and its table, each with the lock mode given */
Relation
FannOpenIndex(Oid indexoid, LOCKMODE heaplock, LOCKMODE indexlock, Relation *heap)
{
	Relation	index;

	if (get_rel_relkind(indexoid) != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid))));
	*heap = table_open(IndexGetRelation(indexoid, false), heaplock);
	index = index_open(indexoid, indexlock);
	if (index->rd_indam->ambuild != fannbuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a fann index", RelationGetRelationName(index))));
	return index;
}

PG_FUNCTION_INFO_V1(fann_verify);
Datum
fann_verify(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState vs;
	Relation	heap;
	BlockNumber nblocks;

	InitMaterializedSRF(fcinfo, 0);
	MemSet(&vs, 0, sizeof(vs));
	vs.out = rsinfo->setResult;
	vs.desc = rsinfo->setDesc;

	vs.index = FannOpenIndex(indexoid, AccessShareLock, AccessShareLock, &heap);
	FannGetMetaSnapshot(vs.index, &vs.meta);
	nblocks = RelationGetNumberOfBlocks(vs.index);
	if (vs.meta.elements_per_page > 0)
	{
		vs.nids = nblocks * vs.meta.elements_per_page;
		vs.tids = palloc_extended(sizeof(ItemPointerData) * vs.nids, MCXT_ALLOC_HUGE);
		vs.groups = palloc_extended(sizeof(uint32) * vs.nids, MCXT_ALLOC_HUGE);
		vs.state = palloc_extended(vs.nids, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		vs.listed = palloc_extended(vs.nids, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		vs.codehash = palloc_extended(sizeof(uint64) * vs.nids, MCXT_ALLOC_HUGE);
		vs.nibbles = palloc(FANN_CODE_SIZE(vs.meta.dimensions));
		vs.listpages = palloc_extended(sizeof(BlockNumber) * nblocks, MCXT_ALLOC_HUGE);
		vs.nlistpages = 0;
		vs.pairs = FannReadAllPairs(vs.index, &vs.meta, &vs.npairs);
		qsort(vs.pairs, vs.npairs, sizeof(FannPair), cmp_pair_by_group);
		read_pages(&vs, nblocks);
		read_lists(&vs, nblocks);
		check_elements(&vs);
		check_groups(&vs);
		check_heap(&vs, heap);
		check_listing(&vs);
	}
	if (vs.nproblems > MAX_PROBLEMS)
		put_row(&vs, "more", psprintf("%lld more problems not shown",
									  (long long) (vs.nproblems - MAX_PROBLEMS)));

	index_close(vs.index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return (Datum) 0;
}

/*
 * fann_calibration(regclass): the probe threshold the ivf path uses for
 * each fann.target_recall, as CREATE INDEX measured it (ivfcal.c), with the
 * share of the rows it probes unfiltered, and the ef_search of the graph
 * path for equality and for other predicates (graphcal.c) with the
 * distances it computed, each with the number of sample rows measured
 * (NULL where the index has no calibration); no rows if it has neither
 */
PG_FUNCTION_INFO_V1(fann_calibration);
Datum
fann_calibration(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	heap;
	Relation	index;
	FannMetaPageData meta;

	InitMaterializedSRF(fcinfo, 0);
	index = FannOpenIndex(PG_GETARG_OID(0), AccessShareLock, AccessShareLock, &heap);
	FannGetMetaSnapshot(index, &meta);
	for (int i = 0; i < FANN_CALIBRATION_POINTS &&
		 (meta.calibration_queries > 0 || meta.graph_calibration_queries > 0); i++)
	{
		Datum		values[9];
		bool		nulls[9] = {false};
		bool		ivf = meta.calibration_queries > 0;
		bool		graph = meta.graph_calibration_queries > 0;

		values[0] = Float8GetDatum(FannCalibrationTarget(i));
		values[1] = Float8GetDatum(meta.probe_thresholds[i]);
		values[2] = Float8GetDatum(FannIvfShare(&meta, meta.probe_thresholds[i]));
		values[3] = Int32GetDatum(meta.calibration_queries);
		nulls[1] = nulls[2] = nulls[3] = !ivf;
		values[4] = Int32GetDatum(meta.graph_ef[0][i]);
		values[5] = Int32GetDatum(meta.graph_ef[1][i]);
		values[6] = Float8GetDatum(meta.graph_work[0][i]);
		values[7] = Float8GetDatum(meta.graph_work[1][i]);
		values[8] = Int32GetDatum(meta.graph_calibration_queries);
		nulls[4] = nulls[5] = nulls[6] = nulls[7] = nulls[8] = !graph;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return (Datum) 0;
}

/*
 * fann_label_sets(regclass): the index's label sets (groups: the distinct
 * sets of labels its rows' filter values give, the NULL one included) and
 * how its live rows fall into them, from the group pages.  Many small sets
 * (several filter columns) leave the graph little to navigate: auto then
 * takes the exact and ivf paths (docs/performance.md, "Filter columns").
 */
PG_FUNCTION_INFO_V1(fann_label_sets);
Datum
fann_label_sets(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Relation	heap;
	Relation	index;
	FannMetaPageData meta;
	int64		sets = 0,
				with_rows = 0,
				rows = 0,
				largest = 0;
	Datum		values[5];
	bool		nulls[5] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	index = FannOpenIndex(PG_GETARG_OID(0), AccessShareLock, AccessShareLock, &heap);
	FannGetMetaSnapshot(index, &meta);
	for (BlockNumber blkno = meta.group_first; blkno != InvalidBlockNumber;)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_GROUP, index, blkno);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			uint32		nlive = FannPageGetGroup(page, off)->nlive;

			sets++;
			with_rows += nlive > 0;
			rows += nlive;
			largest = Max(largest, nlive);
		}
		blkno = FannPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	values[0] = Int64GetDatum(sets);
	values[1] = Int64GetDatum(with_rows);
	values[2] = Int64GetDatum(rows);
	values[3] = Int64GetDatum(largest);
	values[4] = Float8GetDatum(with_rows > 0 ? (double) rows / with_rows : 0);
	nulls[4] = with_rows == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
