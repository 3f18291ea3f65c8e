/*
 * vamana.c
 *	  In-memory Vamana graph construction (DiskANN, NeurIPS 2019, section
 *	  2.3: greedy search, RobustPrune, insertion with reverse edges), built in
 *	  batches so that the points of a batch are inserted in parallel against
 *	  the graph as it was before the batch (the prefix-doubling schedule of
 *	  ParlayANN).  Deterministic for a given seed, whatever the thread count.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "parallel.h"
#include "vamana.h"

#define VEC(sp, id)		((sp)->vectors + (size_t) (id) * (sp)->dim)
#define ADJ(sp, id)		((sp)->adj + (size_t) (id) * (sp)->stride)

/* A search records at most this many expanded nodes per unit of list size */
#define EXPANDED_PER_LIST	2

Size
VamanaScratchBytes(int max_points, int list_size, int pool_size)
{
	return sizeof(uint8) * max_points +
		sizeof(FannNear) * (list_size * (1 + EXPANDED_PER_LIST) + pool_size);
}

void
VamanaScratchInit(VamanaScratch *s, int max_points, int list_size, int pool_size)
{
	s->stamp = palloc_extended(sizeof(uint8) * Max(max_points, 1),
							   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	s->max_points = max_points;
	s->marked = 0;
	s->epoch = 0;
	/* the list has room for the expanded nodes after it, for the prune */
	s->list = palloc(sizeof(FannNear) * list_size * (1 + EXPANDED_PER_LIST));
	s->list_size = list_size;
	s->pool = palloc(sizeof(FannNear) * pool_size);
	s->pool_size = pool_size;
	s->expanded_size = list_size * EXPANDED_PER_LIST;
	s->expanded = palloc(sizeof(FannNear) * s->expanded_size);
	s->nexpanded = 0;
}

Size
VamanaBuildBytes(int max_points, int max_batch, int degree)
{
	return sizeof(uint32) * ((Size) max_points + (Size) max_batch * degree * 4 + 1) +
		sizeof(bool) * max_points;
}

void
VamanaBuildInit(VamanaBuild *b, int max_points, int max_batch, int degree)
{
	b->perm = palloc_extended(sizeof(uint32) * Max(max_points, 1), MCXT_ALLOC_HUGE);
	b->reached = palloc_extended(sizeof(bool) * Max(max_points, 1), MCXT_ALLOC_HUGE);
	b->batch_adj = palloc(sizeof(uint32) * max_batch * degree);
	b->pairs = palloc(sizeof(uint32) * (max_batch * degree * 3 + 1));
	b->max_batch = max_batch;
}

/*
 * Greedy search (DiskANN Algorithm 1) over the intra-group edges of the
 * group whose points are [first, first + max_points of the scratch): the
 * list_size nearest points found, sorted, in s->list; returns how many.  The
 * nodes it expanded are kept in s->expanded: they are RobustPrune's input
 * when a point is inserted, and the far ones on the way are what gives the
 * graph its long-range edges.
 */
int
VamanaSearch(const VamanaSpace *sp, const float *query, uint32 first,
			 const uint32 *seeds, int nseeds, int list_size, VamanaScratch *s)
{
	FannNear *list = s->list;
	uint32		fresh[FANN_MAX_GRAPH_DEGREE];
	int			n = 0;
	int			i = 0;

	s->nexpanded = 0;
	Assert(list_size <= s->list_size && sp->degree <= FANN_MAX_GRAPH_DEGREE);
	if (++s->epoch == 0)
	{
		/* wrapped: clear the marks, only as far as searches set them */
		memset(s->stamp, 0, sizeof(uint8) * s->marked);
		s->marked = 0;
		s->epoch = 1;
	}
	for (int k = 0; k < nseeds; k++)
	{
		uint32		idx = seeds[k] - first;

		if (s->stamp[idx] == s->epoch)
			continue;
		s->stamp[idx] = s->epoch;
		s->marked = Max(s->marked, idx + 1);
		FannNearInsert(list, &n, list_size, sp->distance(query, VEC(sp, seeds[k]), sp->dim), seeds[k]);
	}

	while (i < n)
	{
		const uint32 *nb;
		int			lowest = n;
		int			nfresh = 0;

		if (list[i].expanded)
		{
			i++;
			continue;
		}
		list[i].expanded = true;
		if (s->nexpanded < s->expanded_size)
			s->expanded[s->nexpanded++] = list[i];
		nb = ADJ(sp, list[i].id);
		for (int k = 0; k < sp->degree && nb[k] != InvalidFannId; k++)
		{
			uint32		idx = nb[k] - first;

			if (s->stamp[idx] == s->epoch)
				continue;
			s->stamp[idx] = s->epoch;
			s->marked = Max(s->marked, idx + 1);
			fresh[nfresh++] = nb[k];

			/*
			 * the points lie all over the group, each a cache miss: asked
			 * for together, the neighbours' misses overlap
			 */
			FannPrefetchRange(VEC(sp, nb[k]), sizeof(float) * sp->dim);
		}
		for (int k = 0; k < nfresh; k++)
		{
			int			pos = FannNearInsert(list, &n, list_size,
											 sp->distance(query, VEC(sp, fresh[k]), sp->dim),
											 fresh[k]);

			/* in the list, it may be expanded: its edges are then read */
			if (pos < list_size)
				FannPrefetchRange(ADJ(sp, fresh[k]), sizeof(uint32) * sp->degree);
			lowest = Min(lowest, pos);
		}
		i = Min(i, lowest);
	}
	return n;
}

/*
 * RobustPrune (DiskANN Algorithm 2): from candidates (distances to p),
 * nearest first, keep c unless an already kept r is alpha-closer to c than p
 * is.  Writes at most max_degree ids to out, padding with InvalidFannId.
 */
int
VamanaPrune(const VamanaSpace *sp, uint32 p, FannNear *cands, int n,
			int max_degree, uint32 *out)
{
	int			m = 0;

	FannNearSort(cands, n);
	for (int i = 0; i < n && m < max_degree; i++)
	{
		bool		keep = cands[i].id != p && (i == 0 || cands[i].id != cands[i - 1].id);

		for (int j = 0; j < m && keep; j++)
			if (sp->alpha * sp->distance(VEC(sp, cands[i].id), VEC(sp, out[j]), sp->dim) <=
				cands[i].dist)
				keep = false;
		if (keep)
			out[m++] = cands[i].id;
	}
	for (int j = m; j < max_degree; j++)
		out[j] = InvalidFannId;
	return m;
}

/* The point nearest the centroid of [first, first + count) */
uint32
VamanaMedoid(const VamanaSpace *sp, uint32 first, uint32 count, float *centroid)
{
	uint32		best = first;
	double		bestd = INFINITY;

	memset(centroid, 0, sizeof(float) * sp->dim);
	for (uint32 p = first; p < first + count; p++)
		for (int j = 0; j < sp->dim; j++)
			centroid[j] += VEC(sp, p)[j] / count;
	for (uint32 p = first; p < first + count; p++)
	{
		double		d = sp->distance(centroid, VEC(sp, p), sp->dim);

		if (d < bestd)
		{
			bestd = d;
			best = p;
		}
	}
	return best;
}

static int
cmp_pair(const void *a, const void *b)
{
	const uint32 *x = a;
	const uint32 *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Add the reverse edges source -> t of one batch, pruning t if it overflows */
static void
add_reverse_edges(const VamanaSpace *sp, uint32 t, const uint32 *pairs, int npairs,
				  VamanaScratch *s)
{
	uint32	   *nb = ADJ(sp, t);
	int			deg = 0;
	int			m = 0;

	while (deg < sp->degree && nb[deg] != InvalidFannId)
		deg++;
	if (deg + npairs <= sp->degree)
	{
		for (int k = 0; k < npairs; k++)
			nb[deg++] = pairs[2 * k + 1];
		return;
	}
	for (int k = 0; k < deg; k++)
		s->pool[m++] = (FannNear) {sp->distance(VEC(sp, t), VEC(sp, nb[k]), sp->dim), nb[k], false};
	for (int k = 0; k < npairs && m < s->pool_size; k++)
		s->pool[m++] = (FannNear) {sp->distance(VEC(sp, t), VEC(sp, pairs[2 * k + 1]), sp->dim),
			pairs[2 * k + 1], false};
	VamanaPrune(sp, t, s->pool, m, sp->degree, nb);
}

/* Mark what the intra-group edges reach from the medoid; returns how many */
static uint32
reach(const VamanaSpace *sp, uint32 first, uint32 count, uint32 medoid,
	  VamanaBuild *b)
{
	uint32		head = 0,
				tail = 0;

	memset(b->reached, 0, sizeof(bool) * count);
	b->reached[medoid - first] = true;
	b->perm[tail++] = medoid;
	while (head < tail)
	{
		const uint32 *nb = ADJ(sp, b->perm[head++]);

		for (int k = 0; k < sp->degree && nb[k] != InvalidFannId; k++)
			if (!b->reached[nb[k] - first])
			{
				b->reached[nb[k] - first] = true;
				b->perm[tail++] = nb[k];
			}
	}
	return tail;
}

/*
 * Make every point reachable from the medoid: pruning can leave a point with
 * no in-edge, and then no search finds it.  Each unreached point gets an edge
 * from the nearest point a search from the medoid finds (reachable by
 * construction), in a free slot or instead of that point's farthest
 * neighbour; a few rounds settle what such replacements cut off.
 */
static void
connect_group(const VamanaSpace *sp, uint32 first, uint32 count, uint32 medoid,
			  int list_size, VamanaBuild *b, VamanaScratch *s)
{
	for (int round = 0; round < 4 && reach(sp, first, count, medoid, b) < count; round++)
	{
		for (uint32 p = first; p < first + count; p++)
		{
			uint32	   *nb;
			int			k;

			if (b->reached[p - first] ||
				VamanaSearch(sp, VEC(sp, p), first, &medoid, 1, list_size, s) == 0)
				continue;
			nb = ADJ(sp, s->list[0].id);
			for (k = 0; k < sp->degree - 1 && nb[k] != InvalidFannId; k++)
				;
			nb[k] = p;
			b->reached[p - first] = true;
		}
	}
}

/*
 * Build the intra-group graph of the points [first, first + count): insert
 * them in a seeded random order, the medoid first, in batches that double up
 * to b->max_batch.  With parallel, each batch runs on the OpenMP threads
 * (scratch[thread]) and interrupts are checked between batches; without, the
 * caller may itself be inside a parallel region and scratch[0] is used.
 */
void
VamanaBuildGroup(const VamanaSpace *sp, uint32 first, uint32 count,
				 uint32 medoid, int list_size, uint64 seed, bool parallel,
				 VamanaBuild *b, VamanaScratch *scratch, int nscratch)
{
	int			R = sp->degree;
	uint32		done = 1;
	int			batch = 1;

	for (uint32 p = first; p < first + count; p++)
		for (int k = 0; k < R; k++)
			ADJ(sp, p)[k] = InvalidFannId;

	/* small groups: the complete graph (UNG section 4.2) */
	if (count <= (uint32) R + 1)
	{
		for (uint32 p = first; p < first + count; p++)
		{
			int			k = 0;

			for (uint32 q = first; q < first + count; q++)
				if (q != p)
					ADJ(sp, p)[k++] = q;
		}
		return;
	}

	for (uint32 i = 0; i < count; i++)
		b->perm[i] = i;
	for (uint32 i = count - 1; i > 0; i--)
	{
		uint32		j = FannRandom(&seed) % (i + 1),
					t = b->perm[i];

		b->perm[i] = b->perm[j];
		b->perm[j] = t;
	}
	for (uint32 i = 0; i < count; i++)
		if (b->perm[i] == medoid - first)
		{
			b->perm[i] = b->perm[0];
			b->perm[0] = medoid - first;
			break;
		}

	while (done < count)
	{
		uint32		end = Min(count, done + batch);
		int			npairs = 0,
					nranges = 0;
		uint32	   *starts;

#pragma omp parallel for schedule(dynamic, 4) if (parallel)
		for (uint32 j = done; j < end; j++)
		{
			VamanaScratch *s = &scratch[parallel ? FannThreadNum() % nscratch : 0];
			uint32		p = first + b->perm[j];
			int			n = VamanaSearch(sp, VEC(sp, p), first, &medoid, 1, list_size, s);

			/* RobustPrune over everything visited (DiskANN Algorithm 1, V) */
			memcpy(s->list + n, s->expanded, sizeof(FannNear) * s->nexpanded);
			VamanaPrune(sp, p, s->list, n + s->nexpanded, R, &b->batch_adj[(j - done) * R]);
		}

		/* the batch's edges, then the reverse edges grouped by target */
		for (uint32 j = done; j < end; j++)
		{
			uint32		p = first + b->perm[j];

			memcpy(ADJ(sp, p), &b->batch_adj[(j - done) * R], sizeof(uint32) * R);
			for (int k = 0; k < R && ADJ(sp, p)[k] != InvalidFannId; k++)
			{
				b->pairs[2 * npairs] = ADJ(sp, p)[k];
				b->pairs[2 * npairs + 1] = p;
				npairs++;
			}
		}
		qsort(b->pairs, npairs, 2 * sizeof(uint32), cmp_pair);
		starts = &b->pairs[2 * npairs];
		for (int k = 0; k < npairs; k++)
			if (k == 0 || b->pairs[2 * k] != b->pairs[2 * (k - 1)])
				starts[nranges++] = k;
		starts[nranges] = npairs;

#pragma omp parallel for schedule(dynamic, 16) if (parallel)
		for (int r = 0; r < nranges; r++)
		{
			VamanaScratch *s = &scratch[parallel ? FannThreadNum() % nscratch : 0];
			add_reverse_edges(sp, b->pairs[2 * starts[r]], &b->pairs[2 * starts[r]],
							  starts[r + 1] - starts[r], s);
		}

		done = end;
		batch = Min(batch * 2, b->max_batch);
		if (parallel)
			CHECK_FOR_INTERRUPTS();
	}
	connect_group(sp, first, count, medoid, list_size, b, &scratch[0]);
}
