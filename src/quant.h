/*
 * quant.h
 *	  8-bit codes of vectors with a guaranteed distance bound (quant.c).
 */
#ifndef FANN_QUANT_H
#define FANN_QUANT_H

#include "fann.h"

/* Per dimension: the lowest value and the step of the 256 levels */
typedef struct FannCodebook
{
	int			dim;
	float	   *lo;
	float	   *step;
} FannCodebook;

/* What a query precomputes for the bounds of its distances to codes */
typedef struct FannCodeQuery
{
	const FannCodebook *cb;
	FannMetric	metric;
	float	   *qa;				/* L2: q - lo; inner products: q * step */
	double		base;			/* <q, lo> */
	double		qnorm;
	double		slack;			/* rounding, relative */
} FannCodeQuery;

extern void FannCodebookTrain(FannCodebook *cb, const float *vectors, int64 n);
extern void FannEncode(const FannCodebook *cb, const float *x, uint8 *code, float *eps,
					   float *norm);
extern void FannCodeEntryFill(FannCodeEntry entry, const FannCodebook *cb,
							  ItemPointer tid, uint32 id, uint32 gid, const float *x);
extern void FannCodeQueryInit(FannCodeQuery *cq, const FannCodebook *cb,
							  FannMetric metric, const float *q, float *scratch);
extern void FannCodeLowerBounds(const FannCodeQuery *cq, FannCodeEntry const *rows,
								int n, double *lower);

/* page.c: the stored codebook */
extern void FannCodebookLoad(Relation index, const FannMetaPageData *meta,
							 FannCodebook *cb);

#endif							/* FANN_QUANT_H */
