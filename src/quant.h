/*
 * quant.h
 *	  8- and 4-bit codes of vectors with a guaranteed distance bound (quant.c).
 */
#ifndef FANN_QUANT_H
#define FANN_QUANT_H

#include "fann.h"

/* What a query precomputes for the bounds of its distances to codes */
typedef struct FannCodeQuery
{
	FannMetric	metric;
	int			dim;
	double		qsum;			/* the sum of q's coordinates */
	double		qq;				/* |q|^2 */
	double		qnorm;
	double		scale;			/* q = scale u + r */
	double		rerr[2];		/* |<r, code>| at most, 8- and 4-bit codes */
	double		slack;			/* rounding, relative */
	double		tiny;			/* rounding of subnormal products, absolute */
	FannIntQuery iq;			/* u */
} FannCodeQuery;

extern void FannEncode(const float *x, int dim, FannCode c);
extern void FannDecode(const FannCodeData *c, int dim, float *x);
extern void FannCodeNibbles(const FannCodeData *c8, int dim, FannCode c4);
extern void FannCodeQueryInit(FannCodeQuery *cq, FannMetric metric, const float *q,
							  int dim);
extern void FannCodeBounds(const FannCodeQuery *cq, const FannCodeData *const *rows,
						   int n, int bits, double *estimate, double *lower);

#endif							/* FANN_QUANT_H */
