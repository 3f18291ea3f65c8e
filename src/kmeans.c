/*
 * kmeans.c
 *	  k-means for the IVF partitions (LIRA, WWW 2025, section 3): Lloyd's
 *	  iterations on a sample of the rows, under the index's metric.
 *
 * The parallel loops give each point to one thread and never reduce across
 * threads (centroid sums are added up serially), so the result depends on
 * the seed only, not on the thread count.  No palloc, elog or buffer access
 * happens inside them; interrupts are checked between iterations.
 */
#include "postgres.h"

#include "lira.h"
#include "miscadmin.h"
#include "parallel.h"

/* Lloyd iterations on the sample: the assignment changes little after these */
#define FANN_KMEANS_ITERATIONS	12
/* sample rows per centroid */
#define FANN_KMEANS_SAMPLE		48

/*
 * k centroids (k * dim floats, caller's memory) of the n row-major vectors,
 * trained on a seeded sample of them.  A centroid left empty restarts at a
 * random sample point.
 */
void
FannKmeans(const float *vectors, int64 n, int dim, FannMetric metric,
		   int k, uint64 seed, int nthreads, float *centroids)
{
	int64		nsample = Min(n, (int64) k * FANN_KMEANS_SAMPLE);
	FannCentroidTable table;
	char	   *table_bytes = palloc_extended(FannCentroidTableBytes(k, dim), MCXT_ALLOC_HUGE);
	Size		work_floats = FannCentroidWorkBytes(FANN_LIRA_BLOCK, k, dim) / sizeof(float);
	float	   *work = palloc_extended(sizeof(float) * work_floats * nthreads, MCXT_ALLOC_HUGE);
	int64	   *sample = palloc_extended(sizeof(int64) * Max(nsample, 1), MCXT_ALLOC_HUGE);
	int		   *assign = palloc_extended(sizeof(int) * Max(nsample, 1), MCXT_ALLOC_HUGE);
	double	   *sums = palloc_extended(sizeof(double) * k * dim, MCXT_ALLOC_HUGE);
	int64	   *counts = palloc(sizeof(int64) * k);

	Assert(n >= k && k > 0);

	/* a seeded sample without repeats: a partial Fisher-Yates over row numbers */
	if (nsample == n)
		for (int64 i = 0; i < n; i++)
			sample[i] = i;
	else
	{
		int64	   *perm = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);

		for (int64 i = 0; i < n; i++)
			perm[i] = i;
		for (int64 i = 0; i < nsample; i++)
		{
			int64		j = i + FannRandom(&seed) % (n - i),
						t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
			sample[i] = perm[i];
		}
		pfree(perm);
	}
	FannCentroidTableBind(&table, table_bytes, k, dim, metric);
	/* start from k distinct sample points */
	for (int c = 0; c < k; c++)
		memcpy(centroids + (Size) c * dim, vectors + (Size) sample[c] * dim,
			   sizeof(float) * dim);

	for (int iter = 0; iter < FANN_KMEANS_ITERATIONS; iter++)
	{
		CHECK_FOR_INTERRUPTS();
		FannCentroidTableFill(&table, centroids);
#pragma omp parallel for schedule(static) num_threads(nthreads)
		for (int64 i0 = 0; i0 < nsample; i0 += FANN_LIRA_BLOCK)
		{
			const float *rows[FANN_LIRA_BLOCK];
			int			nb = (int) Min(FANN_LIRA_BLOCK, nsample - i0);

			for (int s = 0; s < nb; s++)
				rows[s] = vectors + (Size) sample[i0 + s] * dim;
			FannNearestCentroids(&table, nb, rows, work + work_floats * FannThreadNum(),
								 assign + i0);
		}

		MemSet(sums, 0, sizeof(double) * k * dim);
		MemSet(counts, 0, sizeof(int64) * k);
		for (int64 i = 0; i < nsample; i++)
		{
			const float *v = vectors + (Size) sample[i] * dim;
			double	   *s = sums + (Size) assign[i] * dim;

			counts[assign[i]]++;
			for (int d = 0; d < dim; d++)
				s[d] += v[d];
		}
		for (int c = 0; c < k; c++)
		{
			float	   *centroid = centroids + (Size) c * dim;

			if (counts[c] == 0)
				memcpy(centroid, vectors + (Size) sample[FannRandom(&seed) % nsample] * dim,
					   sizeof(float) * dim);
			else
				for (int d = 0; d < dim; d++)
					centroid[d] = sums[(Size) c * dim + d] / counts[c];
		}
	}
	pfree(table_bytes);
	pfree(work);
	pfree(sample);
	pfree(assign);
	pfree(sums);
	pfree(counts);
}
