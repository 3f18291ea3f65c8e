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
	double		rerr;			/* |<r, code>| at most */
	double		slack;			/* rounding, relative */
	double		tiny;			/* rounding of subnormal products, absolute */
	FannIntQuery iq;			/* u */
} FannCodeQuery;

/* A query's table for fast scans of 4-bit codes (quant.c) */
typedef struct FannCodeLut
{
	double		step;			/* <q, code> = step sum + offset, */
	double		offset;
	double		err;			/* within err */
	uint8	   *lo;				/* pairs' first dimensions: 32 bytes a pair */
	uint8	   *hi;				/* their second ones */
} FannCodeLut;

/* Which rows of a block a probe takes, by their lower bounds (FannBlockTake) */
typedef enum FannTake
{
	FANN_TAKE_ALL,
	FANN_TAKE_WITHIN,			/* not beyond the cut */
	FANN_TAKE_BEYOND
} FannTake;

extern void FannEncode(const float *x, int dim, FannCode c);
extern void FannDecode(const FannCodeData *c, int dim, float *x);
extern void FannCodeNibbles(const FannCodeData *c8, int dim, FannCode c4);
extern void FannCodeQueryInit(FannCodeQuery *cq, FannMetric metric, const float *q,
							  int dim);
extern void FannCodeBounds(const FannCodeQuery *cq, const FannCodeData *const *rows,
						   int n, double *estimate, double *lower);
extern uint32 FannCodeTake(const FannCodeQuery *cq, const FannCodeData *const *rows,
						   int n, double cut, double *lower);
extern Size FannCodeLutBytes(int dim);
extern void FannCodeLutInit(FannCodeLut *lut, const float *q, int dim, uint8 *mem);
extern uint32 FannBlockTake(const FannCodeQuery *cq, const FannCodeLut *lut,
							const FannBlockData *b, const uint32 *sums, uint32 match,
							FannTake take, double cut, double *lower, double *upper);

#endif							/* FANN_QUANT_H */
