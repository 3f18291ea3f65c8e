/*
 * ung.c
 *	  Building the Unified Navigating Graph (UNG, SIGMOD 2025, section 4) in
 *	  memory during CREATE INDEX: the label navigating graph (LNG) between
 *	  groups, each group's entry points and Vamana graph, and the cross-group
 *	  edges from each row to the nearest rows of its group's LNG children.
 *
 * Edges only lead to the same group or to supersets, so everything reachable
 * from a group that satisfies a containment or overlap predicate satisfies it
 * too: the search never checks a filter per node (UNG section 3.2).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "parallel.h"
#include "ung.h"

/* Groups larger than this are built with parallel batches, smaller ones in parallel */
#define FANN_PARALLEL_GROUP		2048
/* Every LNG edge gets cross edges from at least this many rows (UNG 4.3) */
#define FANN_MIN_COVERAGE		3
/* Rows per chunk between interrupt checks of the cross-edge pass */
#define FANN_CROSS_CHUNK		4096
/* One row in this many finds its cross edges from the children's entry points */
#define FANN_CROSS_SEED_STRIDE	8

/*
 * A label's posting carries its group's signature (a bit per label, hashed
 * into 64), so that the LNG build rejects most candidate supersets reading
 * the postings in order, without visiting each group
 */
typedef struct LabelPosting
{
	int32		label;
	int			group;
	uint64		sig;
} LabelPosting;

static uint64
label_signature(const int32 *labels, int n)
{
	uint64		sig = 0;

	for (int i = 0; i < n; i++)
		sig |= UINT64CONST(1) << (FannMix64((uint32) labels[i]) & 63);
	return sig;
}

static int
cmp_posting(const void *a, const void *b)
{
	const LabelPosting *x = a;
	const LabelPosting *y = b;

	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return (x->group > y->group) - (x->group < y->group);
}

/* Group indexes by label set size (qsort_arg: arg is the groups) */
static int
cmp_by_size(const void *a, const void *b, void *arg)
{
	FannBuildGroup **groups = arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	if (groups[x]->nlabels != groups[y]->nlabels)
		return groups[x]->nlabels - groups[y]->nlabels;
	return x - y;
}

/* Is the sorted set a a subset of the sorted set b? */
bool
FannLabelsSubset(const int32 *a, int na, const int32 *b, int nb)
{
	int			j = 0;

	for (int i = 0; i < na; i++)
	{
		while (j < nb && b[j] < a[i])
			j++;
		if (j == nb || b[j] != a[i])
			return false;
		j++;
	}
	return true;
}

/* The first posting past those below label (after: or equal to it) */
static int
posting_bound(const LabelPosting *postings, int n, int32 label, bool after)
{
	int			a = 0,
				b = n;

	while (a < b)
	{
		int			mid = (a + b) / 2;

		if (postings[mid].label < label || (after && postings[mid].label == label))
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/*
 * The group indexes carrying label, as [*lo, *hi) of postings: both ends
 * searched, as a column's presence label can be on every group
 */
static void
posting_range(const LabelPosting *postings, int n, int32 label, int *lo, int *hi)
{
	*lo = posting_bound(postings, n, label, false);
	*hi = posting_bound(postings, n, label, true);
}

/*
 * The LNG: for each group its children, the minimal proper supersets among
 * the groups, and its parents, the inverse.  Candidates for children are the
 * groups that carry all of the group's labels (its rarest label's postings,
 * each checked); taken smallest first, one is a child unless a child already
 * taken is a subset of it.  Returns the total number of edge ends stored.
 */
int64
FannBuildLng(FannBuildGroup **groups, int ngroups)
{
	int64		npostings = 0,
				total = 0;
	LabelPosting *postings;
	int		   *cand = palloc(sizeof(int) * Max(ngroups, 1));
	int		   *nparents = palloc0(sizeof(int) * Max(ngroups, 1));
	int		  **children = palloc0(sizeof(int *) * Max(ngroups, 1));
	int		   *nchildren = palloc0(sizeof(int) * Max(ngroups, 1));
	uint64	   *sigs = palloc(sizeof(uint64) * Max(ngroups, 1));
	int			k = 0;

	for (int i = 0; i < ngroups; i++)
	{
		npostings += Max(groups[i]->nlabels, 0);
		sigs[i] = label_signature(groups[i]->labels, Max(groups[i]->nlabels, 0));
	}
	postings = palloc_extended(sizeof(LabelPosting) * Max(npostings, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < ngroups; i++)
		for (int j = 0; j < groups[i]->nlabels; j++)
			postings[k++] = (LabelPosting) {groups[i]->labels[j], i, sigs[i]};
	qsort(postings, npostings, sizeof(LabelPosting), cmp_posting);

	for (int h = 0; h < ngroups; h++)
	{
		FannBuildGroup *gh = groups[h];
		int			ncand = 0,
					nchild = 0;

		CHECK_FOR_INTERRUPTS();
		if (gh->nlabels < 0)
			continue;			/* NULL labels: outside the lattice */
		if (gh->nlabels == 0)
		{
			for (int g = 0; g < ngroups; g++)
				if (groups[g]->nlabels > 0)
					cand[ncand++] = g;
		}
		else
		{
			int			lo = 0,
						hi = INT_MAX;

			/*
			 * groups with its rarest label that hold all the others: with
			 * several filter columns, a label such as a column's presence
			 * can be on every group
			 */
			for (int j = 0; j < gh->nlabels && hi - lo > 1; j++)
			{
				int			a,
							b;

				posting_range(postings, npostings, gh->labels[j], &a, &b);
				if (b - a < hi - lo)
				{
					lo = a;
					hi = b;
				}
			}
			/* label sets are distinct: a superset other than itself is proper */
			for (int p = lo; p < hi; p++)
			{
				FannBuildGroup *gg;

				if (postings[p].group == h || (sigs[h] & ~postings[p].sig) != 0)
					continue;
				gg = groups[postings[p].group];
				if (FannLabelsSubset(gh->labels, gh->nlabels, gg->labels, gg->nlabels))
					cand[ncand++] = postings[p].group;
			}
		}
		qsort_arg(cand, ncand, sizeof(int), cmp_by_size, groups);
		for (int c = 0; c < ncand; c++)
		{
			FannBuildGroup *gc = groups[cand[c]];
			bool		minimal = true;

			for (int j = 0; j < nchild && minimal; j++)
				minimal = !FannLabelsSubset(groups[cand[j]]->labels,
											groups[cand[j]]->nlabels,
											gc->labels, gc->nlabels);
			if (minimal)
				cand[nchild++] = cand[c];
		}
		children[h] = palloc(sizeof(int) * Max(nchild, 1));
		memcpy(children[h], cand, sizeof(int) * nchild);
		nchildren[h] = nchild;
		for (int j = 0; j < nchild; j++)
			nparents[cand[j]]++;
	}

	for (int g = 0; g < ngroups; g++)
	{
		if (nparents[g] > PG_UINT16_MAX || nchildren[g] > PG_UINT16_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a label set has more than %d subsets or supersets in the fann index",
							PG_UINT16_MAX)));
		groups[g]->lng = palloc(sizeof(uint32) * Max(nparents[g] + nchildren[g], 1));
		groups[g]->nparents = 0;
		groups[g]->nchildren = nchildren[g];
		total += nparents[g] + nchildren[g];
	}
	for (int h = 0; h < ngroups; h++)
		for (int j = 0; j < nchildren[h]; j++)
		{
			FannBuildGroup *gc = groups[children[h][j]];

			gc->lng[gc->nparents++] = h;
		}
	for (int g = 0; g < ngroups; g++)
		memcpy(groups[g]->lng + groups[g]->nparents, children[g] ? children[g] : cand,
			   sizeof(uint32) * nchildren[g]);
	pfree(postings);
	pfree(sigs);
	pfree(cand);
	return total;
}

/*
 * Entry points: the medoid, then distinct members picked by a seeded hash.
 * Seeds come from the label set's hash, not from the layout, so that the
 * graph does not change with the page layout.
 */
static void
choose_entry_points(VamanaSpace *sp, FannBuildGroup *g, float *centroid)
{
	int			n = 0;

	for (int i = 0; i < FANN_ENTRY_POINTS; i++)
		g->entry_points[i] = InvalidFannId;
	if (g->count == 0)
		return;
	g->entry_points[n++] = VamanaMedoid(sp, g->first, g->count, centroid);
	for (int tries = 0; n < Min(FANN_ENTRY_POINTS, g->count) && tries < 64; tries++)
	{
		uint32		p = g->first + FannMix64((uint64) g->hash * 64 + tries) % g->count;
		bool		dup = false;

		for (int i = 0; i < n; i++)
			dup |= g->entry_points[i] == p;
		if (!dup)
			g->entry_points[n++] = p;
	}
}

static int
nentry_points(const FannBuildGroup *g)
{
	int			n = 0;

	while (n < FANN_ENTRY_POINTS && g->entry_points[n] != InvalidFannId)
		n++;
	return n;
}


Size
FannGraphBuildBytes(FannBuildGroup **groups, int ngroups, int degree, int build_list)
{
	int64		maxcount = 1;

	for (int i = 0; i < ngroups; i++)
		maxcount = Max(maxcount, groups[i]->count);
	return (Size) fann_build_threads *
		(VamanaScratchBytes(maxcount, build_list + 32, degree + 1024) +
		 VamanaBuildBytes(Min(maxcount, FANN_PARALLEL_GROUP), 1, degree)) +
		VamanaBuildBytes(maxcount, 1024, degree);
}

/* The rows that find their cross edges first, from the entry points */
static inline bool
cross_seed_row(uint32 p)
{
	return p % FANN_CROSS_SEED_STRIDE == 0;
}

/*
 * Where the cross-edge search of row p in child gc starts: with seeded, the
 * cross edges into gc of p's graph neighbours that found theirs first (every
 * FANN_CROSS_SEED_STRIDE-th row), which lie near p's answer as the
 * neighbours lie near p; else, or if they have none there, gc's entry
 * points.  From near its answer a search takes a few steps where one from
 * the entry points walks across the group, longer as the group grows (UNG
 * section 4.3 leaves the start open).
 */
static int
cross_seeds(const VamanaSpace *sp, const FannBuildGroup *gc, uint32 p, int cross_edges,
			bool seeded, uint32 *seeds)
{
	const uint32 *nbrs = sp->adj + (size_t) p * sp->stride;
	int			n = 0;

	for (int i = 0; seeded && i < sp->degree && n < FANN_ENTRY_POINTS; i++)
	{
		const uint32 *x;

		if (nbrs[i] == InvalidFannId)
			break;
		if (!cross_seed_row(nbrs[i]))
			continue;
		x = sp->adj + (size_t) nbrs[i] * sp->stride + sp->degree;
		for (int j = 0; j < cross_edges && n < FANN_ENTRY_POINTS; j++)
			if (x[j] >= gc->first && x[j] < gc->first + gc->count)
				seeds[n++] = x[j];
	}
	if (n > 0)
		return n;
	memcpy(seeds, gc->entry_points, sizeof(uint32) * nentry_points(gc));
	return nentry_points(gc);
}

/* Cross edges of the row at position p of group gh (UNG section 4.3) */
static void
cross_edges_of(VamanaSpace *sp, FannBuildGroup **groups, FannBuildGroup *gh,
			   uint32 p, int cross_edges, int list_size, bool seeded,
			   VamanaScratch *s, FannNear *best)
{
	int			nbest = 0;
	uint32	   *out = sp->adj + (size_t) p * sp->stride + sp->degree;
	uint32		seeds[FANN_ENTRY_POINTS];

	for (int c = 0; c < gh->nchildren; c++)
	{
		FannBuildGroup *gc = groups[gh->lng[gh->nparents + c]];
		int			n;

		if (gc->count == 0)
			continue;
		n = VamanaSearch(sp, sp->vectors + (size_t) p * sp->dim, gc->first, seeds,
						 cross_seeds(sp, gc, p, cross_edges, seeded, seeds),
						 list_size, s);
		/* merge into the best cross_edges found over all children */
		for (int i = 0; i < n && i < cross_edges; i++)
			if (FannNearInsert(best, &nbest, cross_edges, s->list[i].dist,
							   s->list[i].id) == cross_edges)
				break;
	}
	for (int i = 0; i < cross_edges; i++)
		out[i] = i < nbest ? best[i].id : InvalidFannId;
}

/*
 * Every LNG edge h -> g gets cross edges from at least FANN_MIN_COVERAGE
 * rows of h (or all of them): rows chosen from h's entry points and first
 * members link to their nearest row in g, in a free slot or the last one.
 */
static void
cover_lng_edges(VamanaSpace *sp, FannBuildGroup **groups, int ngroups,
				int cross_edges, int list_size, VamanaScratch *s)
{
	for (int h = 0; h < ngroups; h++)
	{
		FannBuildGroup *gh = groups[h];

		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < gh->nchildren && cross_edges > 0; c++)
		{
			FannBuildGroup *gc = groups[gh->lng[gh->nparents + c]];
			int			need = Min(FANN_MIN_COVERAGE, gh->count);
			int			have = 0;

			if (gc->count == 0)
				continue;
			for (uint32 p = gh->first; p < gh->first + gh->count && have < need; p++)
			{
				const uint32 *x = sp->adj + (size_t) p * sp->stride + sp->degree;

				for (int i = 0; i < cross_edges; i++)
					if (x[i] >= gc->first && x[i] < gc->first + gc->count)
					{
						have++;
						break;
					}
			}
			for (uint32 p = gh->first; have < need && p < gh->first + gh->count; p++)
			{
				uint32	   *x = sp->adj + (size_t) p * sp->stride + sp->degree;
				int			slot = cross_edges - 1;
				bool		linked = false;

				for (int i = 0; i < cross_edges; i++)
				{
					linked |= x[i] >= gc->first && x[i] < gc->first + gc->count;
					if (x[i] == InvalidFannId)
					{
						slot = i;
						break;
					}
				}
				if (linked)
					continue;
				if (VamanaSearch(sp, sp->vectors + (size_t) p * sp->dim, gc->first,
								 gc->entry_points, nentry_points(gc), list_size, s) > 0)
				{
					x[slot] = s->list[0].id;
					have++;
				}
			}
		}
	}
}

/*
 * Lay each group out in breadth-first order of its graph from the medoid:
 * a row's neighbours then mostly share its page or the next ones, so a graph
 * search touches fewer pages (each page is a buffer lookup and cache misses).
 * Sets newpos[old position]; groups with unfilled slots keep their order.
 */
static void
locality_order(const VamanaSpace *sp, FannBuildGroup **groups, int ngroups,
			   int64 nrows, uint32 *newpos)
{
	uint32	   *queue = palloc_extended(sizeof(uint32) * Max(nrows, 1), MCXT_ALLOC_HUGE);

	for (int64 p = 0; p < nrows; p++)
		newpos[p] = InvalidFannId;
	for (int i = 0; i < ngroups; i++)
	{
		FannBuildGroup *g = groups[i];
		uint32		head = 0,
					tail = 0;

		if (g->count == 0)
			continue;
		if (g->filled < g->count)
		{
			for (int64 p = g->first; p < g->first + g->count; p++)
				newpos[p] = p;
			continue;
		}
		queue[tail++] = g->entry_points[0];
		newpos[g->entry_points[0]] = g->first;
		for (int64 next = g->first;;)
		{
			/* a new BFS root for rows the graph does not reach */
			if (head == tail)
			{
				while (next < g->first + g->count && newpos[next] != InvalidFannId)
					next++;
				if (next == g->first + g->count)
					break;
				newpos[next] = g->first + tail;
				queue[tail++] = next;
			}
			for (; head < tail; head++)
			{
				const uint32 *nb = sp->adj + (size_t) queue[head] * sp->stride;

				for (int k = 0; k < sp->degree && nb[k] != InvalidFannId; k++)
					if (newpos[nb[k]] == InvalidFannId)
					{
						newpos[nb[k]] = g->first + tail;
						queue[tail++] = nb[k];
					}
			}
		}
	}
	pfree(queue);
}

/*
 * The whole graph in memory: entry points, every group's Vamana graph, cross
 * edges, LNG coverage.  sp->adj holds positions; the caller turns them into
 * element ids, laid out in locality order: newpos[old position], oldpos its
 * inverse.  OpenMP threads run pure computation only; interrupts are checked
 * between batches and chunks.
 */
void
FannBuildGraph(VamanaSpace *sp, FannBuildGroup **groups, int ngroups,
			   int64 nrows, int build_list, int cross_edges, uint32 *newpos,
			   uint32 *oldpos)
{
	int			nthreads = fann_build_threads;
	int			list_size = Max(build_list, FannCrossList(cross_edges, false));
	int64		maxcount = 1,
				maxsmall = 1;
	VamanaScratch *scratch = palloc(sizeof(VamanaScratch) * nthreads);
	VamanaBuild *small = palloc(sizeof(VamanaBuild) * nthreads);
	VamanaBuild large;
	float	   *centroid = palloc(sizeof(float) * sp->dim);
	uint32	   *owner = palloc_extended(sizeof(uint32) * Max(nrows, 1), MCXT_ALLOC_HUGE);
	FannNear *best = palloc(sizeof(FannNear) * nthreads * Max(cross_edges, 1));
	int		   *smallgroups = palloc(sizeof(int) * Max(ngroups, 1));
	int			nsmall = 0,
				nlarge = 0;
	instr_time	clock;
	double		seconds[5];

	INSTR_TIME_SET_CURRENT(clock);

	for (int i = 0; i < ngroups; i++)
	{
		maxcount = Max(maxcount, groups[i]->count);
		if (groups[i]->count <= FANN_PARALLEL_GROUP)
			maxsmall = Max(maxsmall, groups[i]->count);
		for (int64 p = groups[i]->first; p < groups[i]->first + groups[i]->count; p++)
			owner[p] = i;
		choose_entry_points(sp, groups[i], centroid);
	}
	for (int t = 0; t < nthreads; t++)
	{
		VamanaScratchInit(&scratch[t], maxcount, list_size, sp->degree + 1024);
		VamanaBuildInit(&small[t], maxsmall, 1, sp->degree);
	}
	VamanaBuildInit(&large, maxcount, 1024, sp->degree);
	seconds[0] = FannLap(&clock);

	/* large groups one at a time, each batch in parallel */
	for (int i = 0; i < ngroups; i++)
	{
		if (groups[i]->count <= FANN_PARALLEL_GROUP)
		{
			if (groups[i]->count > 0)
				smallgroups[nsmall++] = i;
			continue;
		}
		VamanaBuildGroup(sp, groups[i]->first, groups[i]->count, groups[i]->entry_points[0],
						 build_list, groups[i]->hash, true, &large, scratch, nthreads);
		nlarge++;
	}

	seconds[1] = FannLap(&clock);

	/* small groups in parallel, a chunk at a time */
	for (int c = 0; c < nsmall; c += 256)
	{
		int			end = Min(nsmall, c + 256);

		CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
		for (int k = c; k < end; k++)
		{
			int			t = FannThreadNum();
			FannBuildGroup *g = groups[smallgroups[k]];

			VamanaBuildGroup(sp, g->first, g->count, g->entry_points[0], build_list,
							 g->hash, false, &small[t], &scratch[t], 1);
		}
	}

	seconds[2] = FannLap(&clock);

	/*
	 * Cross edges, a chunk of rows at a time in locality order, so that the
	 * searches running together read the same parts of the children: first
	 * every FANN_CROSS_SEED_STRIDE-th row from the children's entry points,
	 * then the others from those rows' cross edges (two passes, so that the
	 * result does not depend on the threads), all with the short list
	 */
	locality_order(sp, groups, ngroups, nrows, newpos);
	for (int64 p = 0; p < nrows; p++)
		oldpos[newpos[p]] = p;
	for (int pass = 0; pass < 2 && cross_edges > 0; pass++)
		for (int64 c = 0; c < nrows; c += FANN_CROSS_CHUNK)
		{
			int64		end = Min(nrows, c + FANN_CROSS_CHUNK);

			CHECK_FOR_INTERRUPTS();
#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads)
			for (int64 i = c; i < end; i++)
			{
				int			t = FannThreadNum();
				uint32		p = oldpos[i];

				if (cross_seed_row(p) != (pass == 0))
					continue;
				cross_edges_of(sp, groups, groups[owner[p]], p, cross_edges,
							   FannCrossList(cross_edges, true), pass == 1, &scratch[t],
							   &best[t * cross_edges]);
			}
		}
	seconds[3] = FannLap(&clock);
	cover_lng_edges(sp, groups, ngroups, cross_edges,
					FannCrossList(cross_edges, false), &scratch[0]);
	seconds[4] = FannLap(&clock);
	ereport(DEBUG1,
			(errmsg("fann: graph of %lld rows in %d groups (%d large): entry points %.1f s, large groups %.1f s, small groups %.1f s, cross edges %.1f s, LNG coverage %.1f s",
					(long long) nrows, ngroups, nlarge, seconds[0], seconds[1],
					seconds[2], seconds[3], seconds[4])));
}
