/*
 * quant.c
 *	  8-bit codes of vectors with a guaranteed distance bound.
 *
 * Each row's coordinates are stored in 256 steps of the row's own range,
 * [min, max] (README, "Compact codes": of the codes measured, one of the
 * smallest whose bound leaves about k + 4 rows to rerank, and one that
 * needs no codebook, so that a row inserted into an index built empty is
 * coded as well as one the build saw).  A row keeps its code, lo and step,
 * eps = |x - x^| (x^ the decoded vector, eps rounded up) and |x|.  By the
 * triangle inequality |q - x| lies within |q - x^| +- eps, and <q, x> within
 * <q, x^> +- |q| eps, so a scan over codes knows an interval for each row's
 * distance: searches hand rows out by the interval's lower end and the
 * executor ranks them from the table (scan.c).  The intervals are widened
 * by a slack for the float rounding of both this computation and the exact
 * kernel's.
 *
 * Pure computation: no palloc, elog or buffer access; the kernels are
 * distance.c's, with the other SIMD kernels.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "quant.h"

#define FANN_CODE_LEVELS	255

/*
 * The float kernels are exact to the relative slack only between these
 * squared magnitudes: below, products underflow (to subnormals, losing up
 * to FLT_TRUE_MIN each, and a cosine's norm to 0); above, sums overflow.
 */
#define FANN_FLOAT_SAFE_MIN		1e-30
#define FANN_FLOAT_SAFE_MAX		1e37

/* x's code into c: its range, levels, eps (rounded up) and norm */
void
FannEncode(const float *x, int dim, FannCode c)
{
	float		lo = dim > 0 ? x[0] : 0,
				hi = lo;
	double		err = 0,
				nn = 0;

	for (int j = 1; j < dim; j++)
	{
		lo = Min(lo, x[j]);
		hi = Max(hi, x[j]);
	}
	c->lo = lo;
	/* in double: the range of coordinates near FLT_MAX overflows a float */
	c->step = ((double) hi - lo) / FANN_CODE_LEVELS;
	for (int j = 0; j < dim; j++)
	{
		double		l = c->step > 0 ? rint((x[j] - (double) lo) / c->step) : 0;
		double		decoded;

		c->code[j] = (uint8) Min(Max(l, 0), FANN_CODE_LEVELS);
		decoded = lo + (double) c->step * c->code[j];
		err += ((double) x[j] - decoded) * ((double) x[j] - decoded);
		nn += (double) x[j] * x[j];
	}
	err = sqrt(err);
	c->eps = (float) err;		/* infinite beyond FLT_MAX: still true */
	if (c->eps < err)
		c->eps = nextafterf(c->eps, INFINITY);
	c->norm = (float) sqrt(nn);
}

/*
 * The 4-bit code of a vector from its 8-bit code c8 (a partition entry's,
 * fann.h): each level's top four bits, decoded to the middle of the 16
 * levels they span, and eps grown by |x^8 - x^4|, so the bound holds for
 * the same x.  A function of c8 alone, so that fann_verify can check it.
 */
void
FannCodeNibbles(const FannCodeData *c8, int dim, FannCode c4)
{
	double		err = 0,
				eps;

	c4->lo = c8->lo + 7.5 * (double) c8->step;
	c4->step = 16 * c8->step;
	memset(c4->code, 0, FANN_NIBBLE_BYTES(dim));
	for (int j = 0; j < dim; j++)
	{
		int			l = c8->code[j] >> 4;
		double		d = (c8->lo + (double) c8->step * c8->code[j]) -
			(c4->lo + (double) c4->step * l);

		c4->code[(j / 32) * 16 + j % 16] |= l << (j % 32 >= 16 ? 4 : 0);
		err += d * d;
	}
	eps = c8->eps + sqrt(err);
	c4->eps = (float) eps;
	if (c4->eps < eps)
		c4->eps = nextafterf(c4->eps, INFINITY);
	c4->norm = c8->norm;
}

/*
 * A bound that overflowed (magnitudes near FLT_MAX, where the float kernels
 * reach infinity and infinity minus infinity) bounds nothing: the lowest
 * value, which is always true
 */
static inline double
true_bound(double lower)
{
	return isfinite(lower) ? lower : -INFINITY;
}

/* The decoded vector x^ of an 8-bit code c */
void
FannDecode(const FannCodeData *c, int dim, float *x)
{
	for (int j = 0; j < dim; j++)
		x[j] = c->lo + c->step * c->code[j];
}

/* Prepare the bounds of query q under a metric */
void
FannCodeQueryInit(FannCodeQuery *cq, FannMetric metric, const float *q, int dim)
{
	double		sum = 0,
				qq = 0;

	cq->metric = metric;
	cq->dim = dim;
	cq->q = q;
	for (int j = 0; j < dim; j++)
	{
		sum += q[j];
		qq += (double) q[j] * q[j];
	}
	cq->qsum = sum;
	cq->qnorm = sqrt(qq);
	/* float sums over n terms err by about n units in the last place */
	cq->slack = 1.2e-7 * (dim + 64);
	/* and by one subnormal step per product, when they underflow */
	cq->tiny = 2.0 * dim * FLT_TRUE_MIN;
}

static inline bool
float_safe(double square)
{
	return square >= FANN_FLOAT_SAFE_MIN && square <= FANN_FLOAT_SAFE_MAX;
}

/*
 * The metric's distance (as the exact kernel computes it) between the query
 * and each of n rows by their codes of bits (8 or 4) per dimension: its
 * estimate from x^ (if estimate is not NULL) and a lower bound; NaN where
 * that distance is NaN (cosine with a zero vector).  The upper ends of the
 * intervals are the same expressions with the width added; no search needs
 * them.  The kernel runs over all rows first (distance.c), then the bounds,
 * so that the rows' kernel sums overlap instead of each waiting on the
 * previous one's square root.  The rounding slack covers the magnitudes the kernels sum:
 * the vectors' norms and, for a row's lo, |lo| sqrt(dim), and subnormal
 * products.  Where the exact kernel may overflow or underflow beyond that
 * (an inner product of vectors whose norms multiply past FANN_FLOAT_SAFE_MAX,
 * a cosine with a vector outside the safe range), the bound is the lowest
 * value: true whatever the kernel computes.
 */
void
FannCodeBounds(const FannCodeQuery *cq, const FannCodeData *const *rows, int n,
			   int bits, double *estimate, double *lower)
{
	int			dim = cq->dim;
	double		sqrtdim = sqrt(dim);

	if (cq->metric == FANN_METRIC_L2)
	{
		FannCodeL2sqRows(cq->q, rows, n, dim, bits, lower);
		for (int i = 0; i < n; i++)
		{
			double		est = sqrt(lower[i]);
			double		eps = rows[i]->eps;

			if (estimate)
				estimate[i] = est;
			lower[i] = true_bound(est - eps - cq->slack *
								  (est + eps + rows[i]->norm + cq->qnorm +
								   fabs(rows[i]->lo) * sqrtdim) - 2 * sqrt(cq->tiny));
		}
		return;
	}
	FannCodeDotRows(cq->q, rows, n, dim, bits, lower);
	for (int i = 0; i < n; i++)
		lower[i] = rows[i]->lo * cq->qsum + rows[i]->step * lower[i];
	for (int i = 0; i < n; i++)
	{
		double		dot = lower[i];
		double		norm = rows[i]->norm;
		double		eps = rows[i]->eps;
		double		width = cq->qnorm * eps + cq->slack * 2 * cq->qnorm *
			(norm + eps + fabs(rows[i]->lo) * sqrtdim) + cq->tiny;

		if (cq->metric == FANN_METRIC_IP)
		{
			if (estimate)
				estimate[i] = -dot;
			lower[i] = cq->qnorm * norm <= FANN_FLOAT_SAFE_MAX ?
				true_bound(-dot - width) : -INFINITY;
		}
		else if (norm == 0 || cq->qnorm == 0)
		{
			if (estimate)
				estimate[i] = NAN;
			lower[i] = NAN;
		}
		else
		{
			/* cosine: 1 - similarity, clamped to [0, 2] as the kernel does */
			if (estimate)
				estimate[i] = Min(Max(1 - dot / (cq->qnorm * norm), 0), 2);
			lower[i] = 1 - dot / (cq->qnorm * norm) - width / (cq->qnorm * norm) -
				2 * cq->slack;
			lower[i] = isfinite(lower[i]) && float_safe(norm * norm) &&
				float_safe(cq->qnorm * cq->qnorm) ? Min(Max(lower[i], 0), 2) : 0;
		}
	}
}
