/*
 * quant.c
 *	  8-bit codes of vectors with a guaranteed distance bound.
 *
 * Each row's coordinates are stored in 256 steps of the row's own range,
 * [min, max] (docs/performance.md, "Compact codes": of the codes measured, one of the
 * smallest whose bound leaves about k + 4 rows to rerank, and one that
 * needs no codebook, so that a row inserted into an index built empty is
 * coded as well as one the build saw).  A row keeps its code, lo and step,
 * eps = |x - x^| (x^ the decoded vector, eps rounded up), |x|, and the sum
 * of its levels and of their squares (so that a bound costs one integer dot
 * product with the query).  By the
 * triangle inequality |q - x| lies within |q - x^| +- eps, and <q, x> within
 * <q, x^> +- |q| eps, so a scan over codes knows an interval for each row's
 * distance: searches hand rows out by the interval's lower end and the
 * executor ranks them from the table (scan.c).  The intervals are widened
 * by the rounding of both this computation and the exact kernel's.
 *
 * Pure computation: no palloc, elog or buffer access; the kernels are
 * distance.c's, with the other SIMD kernels.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "candidates.h"
#include "port/pg_bitutils.h"
#include "quant.h"

#define FANN_CODE_LEVELS	255
#define FANN_CODE_BOUNDS_CHUNK	64	/* rows a kernel call takes */

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
	c->sum = c->sumsq = 0;
	for (int j = 0; j < dim; j++)
	{
		double		l = c->step > 0 ? rint((x[j] - (double) lo) / c->step) : 0;
		double		decoded;

		c->code[j] = (uint8) Min(Max(l, 0), FANN_CODE_LEVELS);
		c->sum += c->code[j];
		c->sumsq += c->code[j] * c->code[j];
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
 * The 4-bit code of a vector from its 8-bit code c8 (a partition row's,
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
	c4->sum = c4->sumsq = 0;
	for (int j = 0; j < dim; j++)
	{
		int			l = c8->code[j] >> 4;
		double		d = (c8->lo + (double) c8->step * c8->code[j]) -
			(c4->lo + (double) c4->step * l);

		c4->code[j] = l;
		c4->sum += l;
		c4->sumsq += l * l;
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

/*
 * Prepare the bounds of query q under a metric: q = scale u + r, u in 16-bit
 * integers small enough that a code's dot product with u fits an int32 (the
 * kernels sum it exactly), and r, the rounding, bounded by |r| |code|
 */
void
FannCodeQueryInit(FannCodeQuery *cq, FannMetric metric, const float *q, int dim)
{
	double		sum = 0,
				qq = 0,
				rr = 0,
				maxabs = 0;
	int			umax = Min(16383, PG_INT32_MAX / (Max(dim, 1) * FANN_CODE_LEVELS));

	cq->metric = metric;
	cq->dim = dim;
	for (int j = 0; j < dim; j++)
	{
		sum += q[j];
		qq += (double) q[j] * q[j];
		maxabs = Max(maxabs, fabs(q[j]));
	}
	cq->qsum = sum;
	cq->qq = qq;
	cq->qnorm = sqrt(qq);
	cq->scale = maxabs / umax;
	/* the kernels read the query to a multiple of 64 dimensions */
	memset(cq->iq.u, 0, sizeof(int16) * TYPEALIGN(64, dim));
	memset(cq->iq.uh, 0, TYPEALIGN(64, dim));
	memset(cq->iq.ul, 0, TYPEALIGN(64, dim));
	for (int j = 0; j < dim; j++)
	{
		double		u = cq->scale > 0 ? rint(q[j] / cq->scale) : 0;
		double		r;
		int16		uj = (int16) Min(Max(u, -umax), umax);

		cq->iq.u[j] = uj;
		cq->iq.uh[j] = (int8) ((uj - (uj & 127)) / 128);
		cq->iq.ul[j] = (int8) (uj & 127);
		r = q[j] - cq->scale * uj;
		rr += r * r;
	}
	/* |r| as computed, and the double rounding of each r */
	rr = sqrt(rr) * (1 + 1e-12) + 1e-15 * cq->qnorm;
	cq->rerr = rr * FANN_CODE_LEVELS * sqrt(dim);
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

/* The codes' fields of m rows as columns: a block's, or gathered from elements */
typedef struct CodeColumns
{
	const float4 *lo;
	const float4 *step;
	const float4 *eps;
	const float4 *norm;
	const uint32 *sum;
	const uint32 *sumsq;
} CodeColumns;

/*
 * The L2 intervals of m rows from <q, code> (qc, each within rerr), before
 * square roots: |q - x^|^2 = |q - lo|^2 - 2 step <q - lo, code> + step^2
 * |code|^2 is d2, within width2 (2 |step| rerr and the double rounding of
 * its terms' magnitudes); |q - x| is then within width of |q - x^| (eps and
 * the exact kernel's rounding).  Over arrays without branches, so that the
 * compiler vectorises it for the widest instruction set the CPU has.
 */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void
l2_squares(const FannCodeQuery *cq, double rerr, int m, const double *restrict qcs,
		   const CodeColumns *cols, double *restrict d2s, double *restrict width2s,
		   double *restrict widths)
{
	const float4 *restrict los = cols->lo,
			   *restrict steps = cols->step,
			   *restrict epss = cols->eps,
			   *restrict norms = cols->norm;
	const uint32 *restrict sums = cols->sum,
			   *restrict sumsqs = cols->sumsq;
	double		dim = cq->dim,
				qq = cq->qq,
				qsum = cq->qsum,
				qmag = fabs(cq->qsum) + sqrt(dim) * cq->qnorm,
				slack = 2 * cq->slack,
				qnorm = cq->qnorm,
				tiny = 2 * sqrt(cq->tiny);

	for (int i = 0; i < m; i++)
	{
		double		qc = qcs[i],
					lo = los[i],
					step = steps[i],
					sum = sums[i],
					sumsq = sumsqs[i],
					eps = epss[i];
		double		mag = qq + 2 * fabs(lo) * qmag + dim * lo * lo +
			2 * fabs(step) * (fabs(qc) + fabs(lo) * sum) + step * step * sumsq;

		d2s[i] = qq - 2 * lo * qsum + dim * lo * lo -
			2 * step * (qc - lo * sum) + step * step * sumsq;
		width2s[i] = 2 * fabs(step) * rerr + 1e-11 * mag;
		widths[i] = eps + slack * (qnorm + norms[i] + eps) + tiny;
	}
}

/*
 * Which of m rows' L2 intervals (l2_squares) may begin within cut, a bit a
 * row: not those where sqrt(d2 - width2) - width > cut by a margin far wider
 * than the rounding of either side, known without a square root.  Branch
 * free, so that the compiler vectorises the compares.
 */
__attribute__((target_clones("avx512f", "avx2", "default")))
static uint32
l2_within(int m, const double *restrict d2s, const double *restrict width2s,
		  const double *restrict widths, double cut)
{
	int32		within[FANN_BLOCK_ROWS];
	uint32		bits = 0;

	Assert(m <= FANN_BLOCK_ROWS);
	for (int i = 0; i < m; i++)
	{
		double		lo2 = d2s[i] - width2s[i],
					c = cut + widths[i];

		/* NaN and infinite squares may lie anywhere; & keeps it branch free */
		within[i] = !((lo2 > c * c * (1 + 1e-9)) & (lo2 < INFINITY));
	}
	for (int i = 0; i < m; i++)
		bits |= (uint32) within[i] << i;
	return bits;
}

/* The ends of a row's L2 interval from l2_squares' terms: one formula for every caller */
static inline double
l2_lower(double d2, double width2, double width)
{
	return true_bound(sqrt(Max(d2 - width2, 0)) - width);
}

static inline double
l2_upper(double d2, double width2, double width)
{
	return sqrt(Max(d2 + width2, 0)) + width;
}

/* The L2 bounds of m (at most FANN_CODE_BOUNDS_CHUNK) rows: see bounds */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void
l2_bounds(const FannCodeQuery *cq, double rerr, int m, const double *qcs,
		  const CodeColumns *cols, double *restrict estimate,
		  double *restrict lower, double *restrict upper)
{
	double		d2[FANN_CODE_BOUNDS_CHUNK],
				width2[FANN_CODE_BOUNDS_CHUNK],
				width[FANN_CODE_BOUNDS_CHUNK];

	Assert(m <= FANN_CODE_BOUNDS_CHUNK);
	l2_squares(cq, rerr, m, qcs, cols, d2, width2, width);
	for (int i = 0; i < m; i++)
	{
		if (estimate)
			estimate[i] = sqrt(Max(d2[i], 0));
		lower[i] = l2_lower(d2[i], width2[i], width[i]);
		if (upper)
			upper[i] = l2_upper(d2[i], width2[i], width[i]);
	}
}

/*
 * The bounds of m rows under the metric from <q, code> (qc, each within
 * rerr) and their codes' fields: estimate (if not NULL), lower and upper (if
 * not NULL) ends of each row's distance interval; NaN where that distance
 * is NaN (cosine with a zero vector)
 */
static void
bounds(const FannCodeQuery *cq, double rerr, int m, const double *qc,
	   const CodeColumns *cols, double *estimate, double *lower, double *upper)
{
	double		sqrtdim = sqrt(cq->dim);

	if (cq->metric == FANN_METRIC_L2)
	{
		l2_bounds(cq, rerr, m, qc, cols, estimate, lower, upper);
		return;
	}
	for (int k = 0; k < m; k++)
	{
		double		lo = cols->lo[k],
					step = cols->step[k],
					eps = cols->eps[k],
					norm = cols->norm[k];
		double		dot = lo * cq->qsum + step * qc[k];
		double		width = cq->qnorm * eps + fabs(step) * rerr +
			1e-11 * (fabs(lo) * (fabs(cq->qsum) + sqrtdim * cq->qnorm) + fabs(step * qc[k])) +
			cq->slack * 2 * cq->qnorm * (norm + eps + fabs(lo) * sqrtdim) + cq->tiny;

		if (cq->metric == FANN_METRIC_IP)
		{
			bool		safe = cq->qnorm * norm <= FANN_FLOAT_SAFE_MAX;

			if (estimate)
				estimate[k] = -dot;
			lower[k] = safe ? true_bound(-dot - width) : -INFINITY;
			if (upper)
				upper[k] = safe && isfinite(-dot + width) ? -dot + width : INFINITY;
		}
		else if (norm == 0 || cq->qnorm == 0)
		{
			if (estimate)
				estimate[k] = NAN;
			lower[k] = NAN;
			if (upper)
				upper[k] = NAN;
		}
		else
		{
			/* cosine: 1 - similarity, clamped to [0, 2] as the kernel does */
			double		qx = cq->qnorm * norm;
			bool		safe = float_safe((double) norm * norm) &&
				float_safe(cq->qnorm * cq->qnorm);
			double		low = 1 - dot / qx - width / qx - 2 * cq->slack;
			double		high = 1 - dot / qx + width / qx + 2 * cq->slack;

			if (estimate)
				estimate[k] = Min(Max(1 - dot / qx, 0), 2);
			lower[k] = isfinite(low) && safe ? Min(Max(low, 0), 2) : 0;
			if (upper)
				upper[k] = isfinite(high) && safe ? Min(Max(high, 0), 2) : 2;
		}
	}
}

/* Room for m rows' code fields as columns */
typedef struct CodeGather
{
	double		qc[FANN_CODE_BOUNDS_CHUNK];
	float4		lo[FANN_CODE_BOUNDS_CHUNK],
				step[FANN_CODE_BOUNDS_CHUNK],
				eps[FANN_CODE_BOUNDS_CHUNK],
				norm[FANN_CODE_BOUNDS_CHUNK];
	uint32		sum[FANN_CODE_BOUNDS_CHUNK],
				sumsq[FANN_CODE_BOUNDS_CHUNK];
} CodeGather;

/*
 * <q, code> of m rows by the integer kernel, and their codes' fields, into
 * g; cols points at g's columns
 */
static void
gather_rows(const FannCodeQuery *cq, const FannCodeData *const *rows, int m,
			CodeGather *g, CodeColumns *cols)
{
	int32		dots[FANN_CODE_BOUNDS_CHUNK];

	Assert(m <= FANN_CODE_BOUNDS_CHUNK);
	FannCodeDotRows(&cq->iq, rows, m, cq->dim, dots);
	for (int k = 0; k < m; k++)
	{
		const FannCodeData *c = rows[k];

		g->qc[k] = cq->scale * dots[k];
		g->lo[k] = c->lo;
		g->step[k] = c->step;
		g->sum[k] = c->sum;
		g->sumsq[k] = c->sumsq;
		g->eps[k] = c->eps;
		g->norm[k] = c->norm;
	}
	*cols = (CodeColumns) {g->lo, g->step, g->eps, g->norm, g->sum, g->sumsq};
}

/*
 * The metric's distance (as the exact kernel computes it) between the query
 * and each of n rows by their 8-bit codes: its
 * estimate from x^ (if estimate is not NULL) and a lower bound; NaN where
 * that distance is NaN (cosine with a zero vector).  The distances come
 * from one integer dot product per row (the kernel, exact) and the code's
 * stored sums: |q - x^|^2 expanded, or <q, x^> = lo sum(q) + step <q, code>,
 * in double.  The width covers eps, the query's rounding r, the double
 * rounding of the terms' magnitudes, and the exact kernel's float rounding
 * (slack) and subnormal products (tiny).  Where the exact kernel may
 * overflow or underflow beyond that (an inner product of vectors whose norms
 * multiply past FANN_FLOAT_SAFE_MAX, a cosine with a vector outside the safe
 * range), the bound is the lowest value: true whatever the kernel computes.
 */
void
FannCodeBounds(const FannCodeQuery *cq, const FannCodeData *const *rows, int n,
			   double *estimate, double *lower)
{
	CodeGather	g;
	CodeColumns cols;

	for (int from = 0; from < n; from += FANN_CODE_BOUNDS_CHUNK)
	{
		int			m = Min(n - from, FANN_CODE_BOUNDS_CHUNK);

		gather_rows(cq, rows + from, m, &g, &cols);
		bounds(cq, cq->rerr, m, g.qc, &cols, estimate ? estimate + from : NULL,
			   lower + from, NULL);
	}
}

/*
 * A query's table for fast scans of 4-bit codes (faiss's fast scan): per
 * dimension j the 16 values q_j c (c a level), as bytes of a common step:
 * t_j[c] = (q_j c - a_j) / step rounded, a_j = min(0, 15 q_j), so that
 * <q, code> = step sum_j t_j[code_j] + sum_j a_j within the rounding summed
 * over the dimensions (err, added to the bounds' width).  Each dimension's
 * 16 bytes twice (both 128-bit lanes of a shuffle), first dimensions of
 * pairs in lo, second ones in hi, 32 bytes a pair each; mem holds
 * FannCodeLutBytes(dim).
 */
Size
FannCodeLutBytes(int dim)
{
	return (Size) (dim + 1) / 2 * FANN_BLOCK_PAIR_BYTES * 2;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void
FannCodeLutInit(FannCodeLut *lut, const float *q, int dim, uint8 *mem)
{
	int			pairs = (dim + 1) / 2;
	double		maxabs = 0,
				step,
				inv,
				err = 0,
				offset = 0;

	for (int j = 0; j < dim; j++)
		maxabs = Max(maxabs, fabs(q[j]));
	step = 15 * maxabs / 255;
	/* any level is exact enough: the error is measured from the one taken */
	inv = step > 0 ? 1 / step : 0;
	lut->lo = mem;
	lut->hi = mem + (Size) pairs * FANN_BLOCK_PAIR_BYTES;
	memset(mem, 0, FannCodeLutBytes(dim));
	for (int j = 0; j < dim; j++)
	{
		double		qj = q[j],
					a = Min(0, 15 * qj);
		uint8	   *t = (j % 2 ? lut->hi : lut->lo) + (Size) (j / 2) * FANN_BLOCK_PAIR_BYTES;
		double		e = 0;

		offset += a;
		/* the 16 levels at once, in vector lanes */
#pragma omp simd reduction(max:e)
		for (int c = 0; c < 16; c++)
		{
			/* v >= 0, a being the least q_j c: truncation rounds it */
			double		v = qj * c - a;
			int			l = Min((int) (v * inv + 0.5), 255);

			t[c] = t[c + 16] = (uint8) l;
			e = Max(e, fabs(v - step * l));
		}
		err += e;
	}
	lut->step = step;
	lut->offset = offset;
	/* and the double rounding of the terms and of the sums */
	lut->err = err * (1 + 1e-12) + 1e-12 * (16 * maxabs * dim + fabs(offset));
}

/*
 * Which of m (at most 32) rows, given their <q, code> (qc, each within
 * rerr) and code fields, a search takes (match, a bit a row): those whose
 * lower bound is not beyond cut (FANN_TAKE_WITHIN), is beyond it
 * (FANN_TAKE_BEYOND), or all (FANN_TAKE_ALL), as bits; lower and upper (if
 * not NULL), indexed by row, the ends of the taken rows' distance intervals
 * (under L2, of no row that l2_within passed over).  Most rows of a search
 * lie beyond its cut: under L2 those are known from the squares, without a
 * square root (l2_within).
 */
static uint32
take_rows(const FannCodeQuery *cq, double rerr, int m, const double *qc,
		  const CodeColumns *cols, uint32 match, FannTake take, double cut,
		  double *lower, double *upper)
{
	double		d2[FANN_BLOCK_ROWS],
				width2[FANN_BLOCK_ROWS],
				width[FANN_BLOCK_ROWS];
	uint32		taken = 0;

	Assert(m <= FANN_BLOCK_ROWS);
	if (cq->metric != FANN_METRIC_L2)
		bounds(cq, rerr, m, qc, cols, NULL, lower, upper);
	else
	{
		l2_squares(cq, rerr, m, qc, cols, d2, width2, width);
		if (take == FANN_TAKE_WITHIN && isfinite(cut) && cut >= 0)
			match &= l2_within(m, d2, width2, width, cut);
	}
	for (uint32 bits = match; bits != 0; bits &= bits - 1)
	{
		int			r = pg_rightmost_one_pos32(bits);

		if (cq->metric == FANN_METRIC_L2)
		{
			lower[r] = l2_lower(d2[r], width2[r], width[r]);
			if (upper)
				upper[r] = l2_upper(d2[r], width2[r], width[r]);
		}
		if (take == FANN_TAKE_ALL ||
			FannDistanceLess(cut, lower[r]) == (take == FANN_TAKE_BEYOND))
			taken |= (uint32) 1 << r;
	}
	return taken;
}

/*
 * The rows of a block that a probe takes, from their table sums (sums, the
 * fast-scan kernel's), as take_rows decides: their bounds are those
 * FannCodeBounds gives for their 4-bit codes, wider by the table's rounding
 */
uint32
FannBlockTake(const FannCodeQuery *cq, const FannCodeLut *lut, const FannBlockData *b,
			  const uint32 *sums, uint32 match, FannTake take, double cut,
			  double *lower, double *upper)
{
	CodeColumns cols = {b->lo, b->step, b->eps, b->norm, b->sum, b->sumsq};
	double		qc[FANN_BLOCK_ROWS];

	for (int r = 0; r < FANN_BLOCK_ROWS; r++)
		qc[r] = lut->step * sums[r] + lut->offset;
	return take_rows(cq, lut->err, FANN_BLOCK_ROWS, qc, &cols, match, take, cut,
					 lower, upper);
}

/*
 * Which of n (at most 32) rows, by their 8-bit codes, may have a lower
 * bound not beyond cut, as bits (all of them when cut is +Infinity or NaN);
 * lower, for those, as FannCodeBounds gives it
 */
uint32
FannCodeTake(const FannCodeQuery *cq, const FannCodeData *const *rows, int n,
			 double cut, double *lower)
{
	CodeGather	g;
	CodeColumns cols;
	uint32		all = n == 32 ? ~(uint32) 0 : ((uint32) 1 << n) - 1;

	gather_rows(cq, rows, n, &g, &cols);
	return take_rows(cq, cq->rerr, n, g.qc, &cols, all,
					 isinf(cut) && cut > 0 ? FANN_TAKE_ALL : FANN_TAKE_WITHIN, cut,
					 lower, NULL);
}
