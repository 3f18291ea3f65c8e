/*
 * quant.c
 *	  8-bit codes of vectors with a guaranteed distance bound.
 *
 * Each coordinate is stored in 256 steps of its dimension's range over the
 * build's rows (README, "Compact codes": of the codes measured, the
 * smallest whose bound leaves about k + 4 rows to rerank).  A row keeps its
 * code, eps = |x - x^| (x^ the decoded vector, eps rounded up) and |x|.  By
 * the triangle inequality |q - x| lies within |q - x^| +- eps, and <q, x>
 * within <q, x^> +- |q| eps, so a scan over codes knows an interval for
 * each row's distance and reads the full vector only for the rows whose
 * interval it cannot rank otherwise.  The intervals are widened by a slack
 * for the float rounding of both this computation and the exact kernel's.
 * Rows outside the build's range (inserted later) are clipped: their eps
 * grows, their bound stays true.
 *
 * Pure computation: no palloc, elog or buffer access; the kernels are
 * distance.c's, with the other SIMD kernels.
 */
#include "postgres.h"

#include <math.h>

#include "quant.h"

#define FANN_CODE_LEVELS	255

/* Each dimension's range over n row-major vectors: cb->lo, cb->step */
void
FannCodebookTrain(FannCodebook *cb, const float *vectors, int64 n)
{
	for (int j = 0; j < cb->dim; j++)
	{
		float		lo = n > 0 ? vectors[j] : 0,
					hi = lo;

		for (int64 i = 1; i < n; i++)
		{
			float		x = vectors[i * cb->dim + j];

			lo = Min(lo, x);
			hi = Max(hi, x);
		}
		cb->lo[j] = lo;
		cb->step[j] = (hi - lo) / FANN_CODE_LEVELS;
	}
}

/* x's code, its eps (rounded up) and norm */
void
FannEncode(const FannCodebook *cb, const float *x, uint8 *code, float *eps,
		   float *norm)
{
	double		err = 0,
				nn = 0;

	for (int j = 0; j < cb->dim; j++)
	{
		double		c = cb->step[j] > 0 ? rint((x[j] - cb->lo[j]) / cb->step[j]) : 0;
		float		decoded;

		c = Min(Max(c, 0), FANN_CODE_LEVELS);
		code[j] = (uint8) c;
		decoded = cb->lo[j] + cb->step[j] * code[j];
		err += ((double) x[j] - decoded) * ((double) x[j] - decoded);
		nn += (double) x[j] * x[j];
	}
	err = sqrt(err);
	*eps = (float) err;
	if (*eps < err)
		*eps = nextafterf(*eps, INFINITY);
	*norm = (float) sqrt(nn);
}

/* A live row's code entry: its TID, element id, group and x's code */
void
FannCodeEntryFill(FannCodeEntry entry, const FannCodebook *cb, ItemPointer tid,
				  uint32 id, uint32 gid, const float *x)
{
	entry->heaptid = *tid;
	entry->flags = 0;
	entry->id = id;
	entry->group = gid;
	FannEncode(cb, x, entry->code, &entry->eps, &entry->norm);
}

/* Prepare the bounds of query q under a metric */
void
FannCodeQueryInit(FannCodeQuery *cq, const FannCodebook *cb, FannMetric metric,
				  const float *q, float *scratch)
{
	double		base = 0,
				qq = 0;

	cq->cb = cb;
	cq->metric = metric;
	cq->qa = scratch;
	for (int j = 0; j < cb->dim; j++)
	{
		/* L2: (q - lo) - step c;  inner products: <q, lo> + <q * step, c> */
		cq->qa[j] = metric == FANN_METRIC_L2 ? q[j] - cb->lo[j] : q[j] * cb->step[j];
		base += (double) q[j] * cb->lo[j];
		qq += (double) q[j] * q[j];
	}
	cq->base = base;
	cq->qnorm = sqrt(qq);
	/* float sums over n terms err by about n units in the last place */
	cq->slack = 1.2e-7 * (cb->dim + 64);
}

/*
 * Lower bounds of the metric's distance (as the exact kernel computes it)
 * between the query and each of n rows by their code entries; NaN where
 * that distance is NaN (cosine with a zero vector).  The upper ends of the
 * intervals are the same expressions with the width added; no search needs
 * them.  In two loops, so that the rows' kernel sums overlap instead of
 * each waiting on the previous one's square root.
 */
void
FannCodeLowerBounds(const FannCodeQuery *cq, FannCodeEntry const *rows, int n,
					double *lower)
{
	int			dim = cq->cb->dim;

	if (cq->metric == FANN_METRIC_L2)
	{
		for (int i = 0; i < n; i++)
			lower[i] = FannCodeL2sq(cq->qa, cq->cb->step, rows[i]->code, dim);
		for (int i = 0; i < n; i++)
		{
			double		est = sqrt(lower[i]);
			double		eps = rows[i]->eps;

			lower[i] = est - eps - cq->slack * (est + eps + rows[i]->norm + cq->qnorm);
		}
		return;
	}
	for (int i = 0; i < n; i++)
		lower[i] = cq->base + FannCodeDot(cq->qa, rows[i]->code, dim);
	for (int i = 0; i < n; i++)
	{
		double		est = lower[i];
		double		norm = rows[i]->norm;
		double		eps = rows[i]->eps;
		double		width = cq->qnorm * eps + cq->slack * 2 * cq->qnorm * (norm + eps);

		if (cq->metric == FANN_METRIC_IP)
			lower[i] = -est - width;
		else if (norm == 0 || cq->qnorm == 0)
			lower[i] = NAN;
		else
		{
			/* cosine: 1 - similarity, clamped to [0, 2] as the kernel does */
			lower[i] = 1 - est / (cq->qnorm * norm) - width / (cq->qnorm * norm) -
				2 * cq->slack;
			lower[i] = Min(Max(lower[i], 0), 2);
		}
	}
}
