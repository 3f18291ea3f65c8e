/*
 * buildstream.c
 *	  CREATE INDEX within a maintenance_work_mem too small for the vectors and
 *	  the graph (build.c decides).
 *
 * Pass 2 writes each row straight into its element slot and keeps a
 * reservoir sample, on which the IVF's partitions and model are built.
 * After the bulk WAL-logging of the pages, every row is linked into the graph
 * as an insert would be (GenericXLog), the groups of larger label sets first
 * so that the cross edges of a group's rows find the rows of its LNG
 * children, supersets of it (UNG section 4.3); then the rows outside the
 * sample are listed in their partitions.
 * Slower than the in-memory build, as pgvector's HNSW build is when its graph
 * outgrows maintenance_work_mem, and without its locality order.
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "build.h"
#include "ivf.h"

/* Largest sample a streamed build keeps for the IVF, and its seed */
#define FANN_STREAM_SAMPLE	65536
#define FANN_STREAM_SEED	UINT64CONST(0x46414E4E)

/* A streamed build's memory: the sample, its positions, their set, the groups */
static Size
streamed_bytes(FannBuildState *bs, int64 nsample, Size row)
{
	return bs->memory + bs->nrows / 8 + (Size) nsample * (row + sizeof(int64)) +
		FannIvfBuildBytes(bs->index, nsample, bs->nrows, bs->dimensions);
}

/*
 * Choose the streamed build's sample (bs->nsample): the largest that fits,
 * halving from FANN_STREAM_SAMPLE rows; fail when not even the fewest rows the
 * IVF can be built from fit.  row: bytes per sampled row; inmemory: what the
 * in-memory build would have needed.
 */
void
FannStreamPlan(FannBuildState *bs, Size row, Size inmemory)
{
	Size		budget = (Size) maintenance_work_mem * 1024;
	int64		least = FannIvfMinRows(bs->index, bs->nrows);

	bs->streamed = true;
	bs->seed = FANN_STREAM_SEED;
	for (bs->nsample = Min(bs->nrows, FANN_STREAM_SAMPLE);
		 streamed_bytes(bs, bs->nsample, row) > budget; bs->nsample /= 2)
		if (bs->nsample / 2 < least)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("fann index build needs at least %zu MB of memory for %lld rows, maintenance_work_mem is %d MB",
							streamed_bytes(bs, least, row) / (1024 * 1024) + 1,
							(long long) bs->nrows, maintenance_work_mem / 1024),
					 errhint("Increase maintenance_work_mem.")));
	ereport(NOTICE,
			(errmsg("fann graph does not fit into maintenance_work_mem, building it row by row"),
			 errdetail("The in-memory build needs %zu MB; this one takes significantly more time.",
					   inmemory / (1024 * 1024) + 1),
			 errhint("Increase maintenance_work_mem to speed up builds.")));
}

/*
 * A streamed pass 2 writes the row at its position and keeps it in the
 * reservoir sample with probability nsample / rows seen (Algorithm R).
 */
void
FannStreamRow(FannBuildState *bs, int64 pos, ItemPointer tid, uint32 gid,
			  const float *vec)
{
	Buffer		buf = ReadBuffer(bs->index, element_block(bs, pos));
	Page		page;
	FannElement e;
	int64		slot = bs->written;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	e = FannPageGetElement(page, FirstOffsetNumber + pos % bs->per_page);
	FannFillElement(e, tid, gid, vec, bs->dimensions);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	if (slot >= bs->nsample)
		slot = FannRandom(&bs->seed) % (bs->written + 1);
	if (slot >= bs->nsample)
		return;
	memcpy(bs->vectors + slot * bs->dimensions, vec, sizeof(float4) * bs->dimensions);
	bs->tids[slot] = *tid;
	bs->ids[slot] = position_id(bs, pos);
	bs->gids[slot] = gid;
	bs->positions[slot] = pos;
}

/* Superset groups first: a group's LNG children are linked before it */
static int
cmp_link_order(const void *a, const void *b)
{
	const FannBuildGroup *x = *(FannBuildGroup *const *) a;
	const FannBuildGroup *y = *(FannBuildGroup *const *) b;

	if (x->nlabels != y->nlabels)
		return x->nlabels < y->nlabels ? 1 : -1;
	return (x->first > y->first) - (x->first < y->first);
}

/*
 * A streamed build's last step: every row joins the graph, and its IVF
 * partitions unless it was in the sample, as an insert would (GenericXLog).
 */
void
FannStreamLink(FannBuildState *bs, FannMetaPage meta)
{
	FannBuildGroup **order = palloc(sizeof(FannBuildGroup *) * Max(bs->ngroups, 1));
	uint64	   *sampled = FannIdSetCreate((uint32) bs->nrows);
	float	   *vec = palloc(sizeof(float) * bs->dimensions);
	FannCode	code = palloc(FANN_CODE_SIZE(bs->dimensions));
	FannModel	model;
	int64		done = 0;

	for (int64 s = 0; s < Min(bs->nsample, bs->written); s++)
		FannIdSetAdd(sampled, (uint32) bs->nrows, (uint32) bs->positions[s]);
	if (meta->partitions > 0)
		FannModelLoad(bs->index, meta, &model);
	memcpy(order, bs->groups, sizeof(FannBuildGroup *) * bs->ngroups);
	qsort(order, bs->ngroups, sizeof(FannBuildGroup *), cmp_link_order);

	/*
	 * The graph first, then the partition lists: linking extends no page, so
	 * the list pages the second step appends follow the IVF's, and the exact
	 * path skips them all as one block range (meta->ivf_end).
	 */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, FANN_PHASE_LINK);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, 2 * bs->written);
	for (int step = 0; step < (meta->partitions > 0 ? 2 : 1); step++)
		for (int i = 0; i < bs->ngroups; i++)
			for (int64 pos = order[i]->first; pos < order[i]->first + order[i]->filled; pos++)
			{
				Buffer		buf;
				Page		page;
				FannElement e;
				ItemPointerData tid;
				MemoryContext oldctx;

				CHECK_FOR_INTERRUPTS();
				pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, ++done);
				if (step == 1 && FannIdSetContains(sampled, (uint32) bs->nrows, (uint32) pos))
					continue;
				buf = ReadBuffer(bs->index, element_block(bs, pos));
				LockBuffer(buf, BUFFER_LOCK_SHARE);
				page = BufferGetPage(buf);
				e = FannPageGetElement(page, FirstOffsetNumber + pos % bs->per_page);
				tid = e->heaptid;
				memcpy(code, &e->c, FANN_CODE_SIZE(bs->dimensions));
				UnlockReleaseBuffer(buf);
				FannDecode(code, bs->dimensions, vec);

				oldctx = MemoryContextSwitchTo(bs->tmpctx);
				if (step == 0)
					FannGraphLink(bs->index, meta, position_id(bs, pos), order[i]->gid, vec);
				else
					FannIvfInsert(bs->index, meta, &model, position_id(bs, pos),
								  order[i]->gid, &tid, vec, code);
				MemoryContextSwitchTo(oldctx);
				MemoryContextReset(bs->tmpctx);
			}
	if (meta->partitions > 0)
	{
		Buffer		metabuf = ReadBuffer(bs->index, FANN_METAPAGE_BLKNO);
		GenericXLogState *state;

		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(bs->index);
		FannPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0))->ivf_end =
			RelationGetNumberOfBlocks(bs->index);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(metabuf);
	}
	pfree(order);
	pfree(sampled);
	pfree(vec);
	pfree(code);
}
