/*
 * ivfscan.c
 *	  The ivf search path: probe the partitions the model rates likeliest to
 *	  hold the query's nearest rows (LIRA, WWW 2025, section 3.2), checking
 *	  the label predicate per row.
 *
 * With fann.probing = learned, the partitions whose predicted probability
 * exceeds fann.probe_threshold (times the filter's selectivity) are probed,
 * at least one and at most fann.max_probes; with nearest, the fann.max_probes partitions with the
 * nearest centroids (plain IVF, for comparison).  Rows are handed out in
 * distance order.  When the executor wants more, the next partitions in the
 * same order are probed, as many again as so far; rows they hold that are
 * nearer than the last one returned are left to the caller's final exact
 * pass.  A row listed twice (learned redundancy) is taken once.  When every
 * partition has been probed, or the candidates would exceed work_mem, the
 * caller's exact passes return the rest.
 */
#include "postgres.h"

#include "ivf.h"
#include "miscadmin.h"

struct FannIvfScan
{
	Relation	index;
	FannMetaPageData meta;
	FannDistanceFunction distance;
	const float *query;
	FannGroupSet *set;

	int		   *order;			/* partitions in probing order */
	int			nprobed;
	int			next_batch;		/* partitions the next probe takes */

	uint64	   *seen;			/* element ids collected */
	uint32		nids;
	FannCandidate *cands;		/* min-heap of rows not handed out */
	int64		ncands;
	int64		capacity;
	int64		max_candidates; /* work_mem's worth */
};

static int	sort_partitions_by;	/* 1: descending key, -1: ascending */
static const float *sort_keys;

static int
cmp_partitions(const void *a, const void *b)
{
	float		x = sort_keys[*(const int *) a];
	float		y = sort_keys[*(const int *) b];

	if (x != y)
		return (x < y ? -1 : 1) * (sort_partitions_by > 0 ? -1 : 1);
	return *(const int *) a - *(const int *) b;
}

static bool
matches(FannIvfScan *is, uint32 gid)
{
	FannGroupSet *set = is->set;

	if (set->all)
		return true;
	if (set->all_but_null)
		return gid != is->meta.null_group;
	return bsearch(&gid, set->groups, set->ngroups, sizeof(uint32), FannCompareIds) != NULL;
}

/* Collect the matching rows of partition c not seen yet */
static void
probe(FannIvfScan *is, int c)
{
	BlockNumber dirblk = is->meta.partdir_start + c / FANN_PARTITIONS_PER_PAGE;
	Buffer		buf = FannReadBuffer(is->index, dirblk);
	BlockNumber blkno;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	FannCheckPage(BufferGetPage(buf), FANN_PAGE_PARTDIR, is->index, dirblk);
	blkno = ((FannPartitionData *) PageGetContents(BufferGetPage(buf)))[c % FANN_PARTITIONS_PER_PAGE].first;
	UnlockReleaseBuffer(buf);
	fann_last_stats.partitions_probed++;

	while (blkno != InvalidBlockNumber)
	{
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = FannReadBuffer(is->index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		FannCheckPage(page, FANN_PAGE_PARTITION, is->index, blkno);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			FannListEntry e = (FannListEntry) PageGetItem(page, PageGetItemId(page, off));
			FannCandidate *cand;

			fann_last_stats.elements_visited++;
			if (FannIdSetContains(is->seen, is->nids, e->id) || !matches(is, e->group))
				continue;
			FannIdSetAdd(is->seen, is->nids, e->id);
			if (is->ncands == is->capacity)
			{
				is->capacity = Max(1024, is->capacity * 2);
				is->cands = is->cands ?
					repalloc_huge(is->cands, sizeof(FannCandidate) * is->capacity) :
					palloc_extended(sizeof(FannCandidate) * is->capacity, MCXT_ALLOC_HUGE);
			}
			cand = &is->cands[is->ncands++];
			cand->distance = is->distance(is->query, e->vec, is->meta.dimensions);
			cand->id = e->id;
			cand->tid = e->heaptid;
			fann_last_stats.distance_computations++;
		}
		blkno = FannPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
}

/* Probe the next batch of partitions; false if none is left or memory is */
static bool
probe_more(FannIvfScan *is)
{
	int			end = Min(is->meta.partitions, is->nprobed + is->next_batch);

	if (is->nprobed == end || is->ncands >= is->max_candidates)
		return false;
	while (is->nprobed < end)
		probe(is, is->order[is->nprobed++]);
	is->next_batch = is->nprobed;
	FannCandidateHeapify(is->cands, is->ncands);
	return true;
}

/*
 * Start an ivf search for query over the rows that set selects (about a
 * fraction selectivity of them), in the index's first nblocks blocks.
 */
FannIvfScan *
FannIvfBegin(Relation index, FannMetaPage meta, BlockNumber nblocks,
			 FannGroupSet *set, double selectivity, FannDistanceFunction distance,
			 const float *query)
{
	FannIvfScan *is = palloc0(sizeof(FannIvfScan));
	int			P = meta->partitions;
	FannModel	m;
	float	   *dists = palloc(sizeof(float) * P);
	const float *keys = dists;

	is->index = index;
	is->meta = *meta;
	is->distance = distance;
	is->query = query;
	is->set = set;
	is->nids = nblocks * meta->elements_per_page;
	is->seen = FannIdSetCreate(is->nids);
	is->max_candidates = Max(1024, (int64) work_mem * 1024 / sizeof(FannCandidate));
	is->order = palloc(sizeof(int) * P);
	for (int c = 0; c < P; c++)
		is->order[c] = c;

	FannModelLoad(index, meta, &m);
	FannCentroidDistances(query, m.centroids, P, m.dim, distance, dists);
	if (fann_probing == FANN_PROBING_LEARNED)
	{
		float	   *in_d = palloc(sizeof(float) * P);
		float	   *in_v = palloc(sizeof(float) * m.dim);
		float	   *act = palloc(sizeof(float) * FannModelActivations(&m));
		/*
		 * sigmoid(logit) > threshold.  The model predicts where the k nearest
		 * rows are; under a filter matching a fraction s of the rows, the k
		 * nearest matching rows are about the k / s nearest rows, spread over
		 * more partitions: the threshold scales with s.
		 */
		double		t = fann_probe_threshold * selectivity;
		float		cut;

		t = Min(Max(t, 1e-9), 1 - 1e-9);
		cut = log(t / (1 - t));

		FannModelInputs(&m, query, dists, in_d, in_v);
		FannModelForward(&m, 1, in_d, in_v, act);
		keys = FannModelLogits(&m, act);
		for (int c = 0; c < P; c++)
			if (keys[c] > cut)
				is->next_batch++;
		is->next_batch = Min(Max(is->next_batch, 1), fann_max_probes);
		sort_partitions_by = 1;
	}
	else
	{
		is->next_batch = fann_max_probes;
		sort_partitions_by = -1;
	}
	sort_keys = keys;
	qsort(is->order, P, sizeof(int), cmp_partitions);

	probe_more(is);
	return is;
}

/*
 * The next row in distance order among the partitions probed so far,
 * probing more when those run out; false once nothing is left to probe.
 */
bool
FannIvfNext(FannIvfScan *is, double *distance, ItemPointer tid, uint32 *id)
{
	while (is->ncands == 0)
		if (!probe_more(is))
			return false;
	{
		FannCandidate c = FannCandidatePop(is->cands, &is->ncands);

		*distance = c.distance;
		*tid = c.tid;
		*id = c.id;
	}
	return true;
}
