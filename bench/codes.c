/*
 * codes.c
 *	  fannbench codes: how tight the distance bounds of candidate compact
 *	  codes are on a dataset, to choose the quantizer of the exact path's
 *	  codes (L2).
 *
 * Every quantizer decodes a row x to x^ and stores eps = |x - x^|, so that
 * |q - x| lies within |q - x^| +- eps for every query (triangle inequality):
 * a scan over codes knows a lower and an upper bound of each row's distance
 * and reranks with the full vector only the rows whose lower bound does not
 * exceed the k-th smallest upper bound.  Measured per quantizer: bytes per
 * row, the mean eps relative to the k-th nearest distance, and the rows a
 * scan must rerank: those whose lower bound is within the k-th upper bound
 * (what a one-pass scan reranks) and within the true k-th distance (the
 * least any scan must).
 *
 * Quantizers:
 *	sqB 	per-dimension scalar quantization, B bits, each dimension's range
 *			over the data (uniform grid)
 *	svB 	scalar quantization, B bits, on each row's own range (two floats
 *			per row instead of a table per dimension)
 *	rqB 	a random rotation of x minus the data's mean, then B bits per
 *			coordinate on a symmetric grid with a per-row scale chosen to
 *			minimise the error (RaBitQ, SIGMOD 2024, for B = 1; its extended
 *			multi-bit form, SIGMOD 2025, otherwise)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct Coded
{
	float	   *decoded;		/* n x d: x^ (rotated space for rq) */
	float	   *eps;			/* n: |x - x^| */
	int			bytes;			/* per row, stored */
} Coded;

static void
encode_sq(const Vectors *v, int bits, Coded *c)
{
	int			d = v->d;
	float	   *lo = xmalloc(sizeof(float) * d);
	float	   *hi = xmalloc(sizeof(float) * d);
	int			levels = (1 << bits) - 1;

	for (int j = 0; j < d; j++)
		lo[j] = hi[j] = v->data[j];
	for (int64_t i = 0; i < v->n; i++)
		for (int j = 0; j < d; j++)
		{
			float		x = v->data[i * d + j];

			lo[j] = x < lo[j] ? x : lo[j];
			hi[j] = x > hi[j] ? x : hi[j];
		}
#pragma omp parallel for schedule(static)
	for (int64_t i = 0; i < v->n; i++)
	{
		double		err = 0;

		for (int j = 0; j < d; j++)
		{
			float		step = (hi[j] - lo[j]) / levels;
			float		x = v->data[i * d + j];
			float		q = step > 0 ? lo[j] + step * rintf((x - lo[j]) / step) : lo[j];

			c->decoded[i * d + j] = q;
			err += (double) (x - q) * (x - q);
		}
		c->eps[i] = sqrt(err);
	}
	c->bytes = (d * bits + 7) / 8 + 4;
	free(lo);
	free(hi);
}

static void
encode_sv(const Vectors *v, int bits, Coded *c)
{
	int			d = v->d;
	int			levels = (1 << bits) - 1;

#pragma omp parallel for schedule(static)
	for (int64_t i = 0; i < v->n; i++)
	{
		const float *x = &v->data[i * d];
		float		lo = x[0],
					hi = x[0],
					step;
		double		err = 0;

		for (int j = 1; j < d; j++)
		{
			lo = x[j] < lo ? x[j] : lo;
			hi = x[j] > hi ? x[j] : hi;
		}
		step = (hi - lo) / levels;
		for (int j = 0; j < d; j++)
		{
			float		q = step > 0 ? lo + step * rintf((x[j] - lo) / step) : lo;

			c->decoded[i * d + j] = q;
			err += (double) (x[j] - q) * (x[j] - q);
		}
		c->eps[i] = sqrt(err);
	}
	c->bytes = (d * bits + 7) / 8 + 12;
}

/* A random orthogonal d x d matrix (Gram-Schmidt on Gaussian rows) */
static float *
random_rotation(int d, uint64_t seed)
{
	double	   *m = xmalloc(sizeof(double) * d * d);
	float	   *out = xmalloc(sizeof(float) * d * d);

	for (int i = 0; i < d * d; i++)
	{
		double		u1 = rng_uniform(&seed) + 1e-12,
					u2 = rng_uniform(&seed);

		m[i] = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
	}
	for (int i = 0; i < d; i++)
	{
		double		norm = 0;

		for (int k = 0; k < i; k++)
		{
			double		dot = 0;

			for (int j = 0; j < d; j++)
				dot += m[i * d + j] * m[k * d + j];
			for (int j = 0; j < d; j++)
				m[i * d + j] -= dot * m[k * d + j];
		}
		for (int j = 0; j < d; j++)
			norm += m[i * d + j] * m[i * d + j];
		norm = sqrt(norm);
		for (int j = 0; j < d; j++)
			m[i * d + j] /= norm;
	}
	for (int i = 0; i < d * d; i++)
		out[i] = m[i];
	free(m);
	return out;
}

/* out = P (x - mean) */
static void
rotate(const float *p, const float *mean, const float *x, int d, float *out)
{
	for (int i = 0; i < d; i++)
	{
		double		s = 0;

		for (int j = 0; j < d; j++)
			s += (double) p[i * d + j] * (x[j] - mean[j]);
		out[i] = s;
	}
}

/*
 * B bits per rotated coordinate: the odd grid g in [-(2^B - 1), 2^B - 1],
 * x^ = s g; for each candidate grid scale the best s is <r, g> / <g, g>; the
 * scale with the least error wins
 */
static void
encode_rq(const Vectors *v, int bits, const float *p, const float *mean, Coded *c)
{
	int			d = v->d;
	int			top = (1 << bits) - 1;

#pragma omp parallel
	{
		float	   *r = xmalloc(sizeof(float) * d);
		float	   *g = xmalloc(sizeof(float) * d);

#pragma omp for schedule(static)
		for (int64_t i = 0; i < v->n; i++)
		{
			double		rr = 0,
						maxabs = 0,
						best_err = INFINITY,
						best_s = 0;
			int			best_t = 0;
			int			tries = bits == 1 ? 1 : 32;

			rotate(p, mean, &v->data[i * d], d, r);
			for (int j = 0; j < d; j++)
			{
				rr += (double) r[j] * r[j];
				maxabs = fabs(r[j]) > maxabs ? fabs(r[j]) : maxabs;
			}
			for (int t = 0; t < tries; t++)
			{
				double		step = maxabs / top * (0.3 + 0.7 * (t + 1) / tries);
				double		rg = 0,
							gg = 0,
							err;

				for (int j = 0; j < d; j++)
				{
					double		u = bits == 1 ? (r[j] >= 0) : rint((r[j] / step + top) / 2);

					u = u < 0 ? 0 : u > top ? top : u;
					g[j] = 2 * u - top;
					rg += r[j] * g[j];
					gg += g[j] * g[j];
				}
				err = rr - (gg > 0 ? rg * rg / gg : 0);
				if (err < best_err)
				{
					best_err = err;
					best_s = gg > 0 ? rg / gg : 0;
					best_t = t;
				}
			}
			/* decode the best grid again */
			{
				double		step = maxabs / top * (0.3 + 0.7 * (best_t + 1) / tries);
				double		err = 0;

				for (int j = 0; j < d; j++)
				{
					double		u = bits == 1 ? (r[j] >= 0) : rint((r[j] / step + top) / 2);

					u = u < 0 ? 0 : u > top ? top : u;
					c->decoded[i * d + j] = best_s * (2 * u - top);
					err += (r[j] - c->decoded[i * d + j]) * (r[j] - c->decoded[i * d + j]);
				}
				c->eps[i] = sqrt(err);
			}
		}
		free(r);
		free(g);
	}
	c->bytes = (d * bits + 7) / 8 + 8;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

int
codes_report(const Vectors *base, const Vectors *queries, int k, const char *names)
{
	int			d = base->d;
	int64_t		n = base->n;
	double	   *kth = xmalloc(sizeof(double) * queries->n);
	float	   *mean = calloc(d, sizeof(float));
	float	   *p = random_rotation(d, 42);
	float	   *rq = xmalloc(sizeof(float) * d * queries->n);
	Coded		c;
	char	   *list = strdup(names);
	char	   *save = NULL;

	c.decoded = xmalloc(sizeof(float) * n * d);
	c.eps = xmalloc(sizeof(float) * n);
	for (int64_t i = 0; i < n; i++)
		for (int j = 0; j < d; j++)
			mean[j] += base->data[i * d + j] / n;
	for (int64_t q = 0; q < queries->n; q++)
		rotate(p, mean, &queries->data[q * d], d, &rq[q * d]);

	/* each query's true k-th distance */
#pragma omp parallel for schedule(dynamic, 1)
	for (int64_t q = 0; q < queries->n; q++)
	{
		double	   *sorted = xmalloc(sizeof(double) * n);

		for (int64_t i = 0; i < n; i++)
			sorted[i] = exact_distance(METRIC_L2, &queries->data[q * d], &base->data[i * d], d);
		qsort(sorted, n, sizeof(double), cmp_double);
		kth[q] = sorted[k - 1];
		free(sorted);
	}

	printf("| code | bytes/row | vs float | mean eps / k-th distance | rerank, one pass (rows, %%) | rerank, least (rows, %%) |\n");
	printf("|---|---|---|---|---|---|\n");
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save))
	{
		int			bits = atoi(name + 2);
		int			rotated = strncmp(name, "rq", 2) == 0;
		double		rerank_pass = 0,
					rerank_least = 0,
					eps_ratio = 0;

		if (bits < 1 || bits > 8 ||
			(!rotated && strncmp(name, "sq", 2) != 0 && strncmp(name, "sv", 2) != 0))
			die("unknown code \"%s\" (sqB, svB, rqB with B = 1..8)", name);
		if (rotated)
			encode_rq(base, bits, p, mean, &c);
		else if (name[1] == 'v')
			encode_sv(base, bits, &c);
		else
			encode_sq(base, bits, &c);

#pragma omp parallel for schedule(dynamic, 1) reduction(+:rerank_pass, rerank_least, eps_ratio)
		for (int64_t q = 0; q < queries->n; q++)
		{
			const float *qv = rotated ? &rq[q * d] : &queries->data[q * d];
			double	   *lower = xmalloc(sizeof(double) * n);
			double	   *upper = xmalloc(sizeof(double) * n);
			double		ku;
			int64_t		pass = 0,
						least = 0;
			double		eps_sum = 0;

			for (int64_t i = 0; i < n; i++)
			{
				double		s = 0;

				for (int j = 0; j < d; j++)
				{
					double		x = qv[j] - c.decoded[i * d + j];

					s += x * x;
				}
				s = sqrt(s);
				lower[i] = s - c.eps[i];
				upper[i] = s + c.eps[i];
				eps_sum += c.eps[i];
			}
			/* the k-th smallest upper bound */
			{
				double	   *u = xmalloc(sizeof(double) * n);

				memcpy(u, upper, sizeof(double) * n);
				qsort(u, n, sizeof(double), cmp_double);
				ku = u[k - 1];
				free(u);
			}
			for (int64_t i = 0; i < n; i++)
			{
				pass += lower[i] <= ku;
				least += lower[i] <= kth[q];
			}
			rerank_pass += pass;
			rerank_least += least;
			eps_ratio += eps_sum / n / (kth[q] > 0 ? kth[q] : 1);
			free(lower);
			free(upper);
		}
		printf("| %s | %d | %.2f | %.3f | %.0f (%.3f %%) | %.0f (%.3f %%) |\n", name, c.bytes,
			   (double) c.bytes / (4 * d), eps_ratio / queries->n,
			   rerank_pass / queries->n, 100 * rerank_pass / queries->n / n,
			   rerank_least / queries->n, 100 * rerank_least / queries->n / n);
		fflush(stdout);
	}
	free(kth);
	free(mean);
	free(p);
	free(rq);
	free(c.decoded);
	free(c.eps);
	free(list);
	return 0;
}
