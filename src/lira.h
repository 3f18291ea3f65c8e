/*
 * lira.h
 *	  The computation of the learned IVF (LIRA, WWW 2025): k-means partitions
 *	  and a probing model that predicts which partitions hold a query's
 *	  nearest rows.
 *
 * The model (LIRA section 3.2): the query's distances to the centroids and
 * the query vector, each standardised and passed through two ReLU layers
 * (-> 128 -> 64), concatenated, one more ReLU layer (-> 128) and one sigmoid
 * output per partition: the probability that the partition holds one of the
 * query's k nearest rows.  About 2 * 128 * partitions + 128 * dim + 41K
 * parameters.  One addition to the paper's network: each output also gets
 * its own partition's distance input through a learned weight (a skip
 * connection), which starts the model as nearest-centroid probing; without
 * it, a build's few hundred training steps left the model behind plain
 * nearest-centroid probing on SIFT.
 *
 * On disk (model pages, one byte array over a block range): FannModelHeader
 * (fann.h), then floats: centroids, distance mean and deviation, vector mean
 * and deviation, then each layer's weights (input-major) and biases, then
 * the skip weights.
 *
 * kmeans.c and lira.c are pure computation; ivf.c (ivf.h) builds the IVF
 * in CREATE INDEX and keeps it current; ivfscan.c searches it (search.h).
 */
#ifndef FANN_LIRA_H
#define FANN_LIRA_H

#include "fann.h"
#include "quant.h"

#define FANN_LIRA_HIDDEN1	128
#define FANN_LIRA_HIDDEN2	64
#define FANN_LIRA_HIDDEN3	128
/* Samples a forward pass takes at once: a weight row serves them all */
#define FANN_LIRA_BLOCK		16

/* Layers: distance branch, vector branch, joint layer, output */
typedef enum FannLayer
{
	FANN_LAYER_DIST1,
	FANN_LAYER_DIST2,
	FANN_LAYER_VEC1,
	FANN_LAYER_VEC2,
	FANN_LAYER_JOINT,
	FANN_LAYER_OUT,
	FANN_NUM_LAYERS
} FannLayer;

typedef struct FannDense
{
	int			nin;
	int			nout;
	float	   *w;				/* nin x nout: row i holds input i's weights */
	float	   *b;				/* nout */
} FannDense;

/*
 * A layer as the prober holds it: int8 weights, each output's column scaled
 * by its own factor (its largest weight over 127), packed for the integer
 * kernel (FannInt8Dots): inputs in groups of four, outputs padded to 16,
 * the padding's weights 0
 */
typedef struct FannDense8
{
	int			nin;
	int			nout;
	int			ngroups;		/* nin / 4, rounded up */
	int			nout16;			/* nout rounded up to 16 */
	int8	   *w;				/* ngroups x nout16 x 4 */
	int32	   *colsum;			/* nout: each column's sum of weights */
	float	   *scale;			/* nout */
	float	   *b;				/* nout */
} FannDense8;

/*
 * Centroids as the dense kernel takes them (FannCentroidDistances):
 * transposed, so that one pass gives a block of rows' dot products with
 * every centroid, and their squared norms.  Under L2 the rows and the
 * centroids are centred on the centroids' mean first: ||x||^2 + ||c||^2 -
 * 2 x.c then loses no precision to an offset that all the data shares.
 * Memory of FannCentroidTableBytes, bound by FannCentroidTableBind.
 */
typedef struct FannCentroidTable
{
	int			k;
	int			dim;
	FannMetric	metric;
	float	   *t;				/* dim x k: row d holds coordinate d of each */
	float	   *norms;			/* k: squared norms, centred */
	float	   *mean;			/* dim: zero unless L2 */
} FannCentroidTable;

typedef struct FannModel
{
	int			partitions;
	int			dim;
	float	   *centroids;		/* partitions x dim */
	float	   *dist_mean;		/* standardisation of centroid distances */
	float	   *dist_std;
	float	   *vec_mean;		/* ... and of vector coordinates */
	float	   *vec_std;
	FannDense	layers[FANN_NUM_LAYERS];
	float	   *skip;			/* per partition: weight of its distance input */
	FannCentroidTable table;	/* the centroids' distances: t NULL until
								 * FannModelBindTable */
	float	   *floats;			/* all of the above, contiguous */
	Size		nfloats;
	float	   *weights;		/* where the trained part starts */
	Size		nweights;
} FannModel;

/*
 * The model as searches run it (FannProberFrom): the centroids (centred as
 * the centroid table centres them) and the layers as int8 layers, a quarter
 * of the stored floats' bytes, each pass one integer kernel (FannInt8Dots)
 * so that a query's model stays a small part of its search (LIRA's model is
 * most of an ivf query's fixed cost).  Calibration uses it too, so that the
 * probe thresholds hold for the logits searches compute.  Laid out in one
 * allocation (FannProberBytes), bound like the model.
 */
typedef struct FannProber
{
	int			partitions;
	int			dim;
	FannMetric	metric;
	FannDense8	centroids;		/* dim inputs, one output per centroid */
	float	   *mean;			/* the centroids' mean (0 but under L2) */
	float	   *norms;			/* each centred centroid's squared norm */
	float	   *dist_mean;
	float	   *dist_std;
	float	   *vec_mean;
	float	   *vec_std;
	float	   *skip;
	FannDense8	layers[FANN_NUM_LAYERS];
} FannProber;

/* The nearest of k distances, the first of equals */
static inline int
FannNearestOf(const float *dists, int k)
{
	int			best = 0;

	for (int c = 1; c < k; c++)
		if (dists[c] < dists[best])
			best = c;
	return best;
}

/* kmeans.c */
extern void FannKmeans(const float *vectors, int64 n, int dim, FannMetric metric,
					   int k, uint64 seed, int nthreads, float *centroids);

/* lira.c: distances to the centroids */
extern Size FannCentroidTableBytes(int k, int dim);
extern void FannCentroidTableBind(FannCentroidTable *ct, char *bytes, int k, int dim,
								  FannMetric metric);
extern void FannCentroidTableFill(FannCentroidTable *ct, const float *centroids);
extern Size FannCentroidWorkBytes(int nb, int k, int dim);
extern void FannCentroidDistances(const FannCentroidTable *ct, int nb,
								  const float *const *rows, float *work, float *out);
extern void FannNearestCentroids(const FannCentroidTable *ct, int nb,
								 const float *const *rows, float *work, int *nearest);

/* lira.c: the probing model */
extern Size FannModelBytes(int partitions, int dim);
extern void FannModelBind(FannModel *m, char *bytes, int partitions, int dim);
extern void FannModelBindTable(FannModel *m, char *bytes, FannMetric metric, bool fill);
extern void FannModelInitWeights(FannModel *m, double positive_rate, uint64 seed);
extern int	FannModelActivations(const FannModel *m);
extern void FannModelInputs(const FannModel *m, const float *vec, const float *dists,
							float *in_d, float *in_v);
extern void FannModelForward(const FannModel *m, int nb, const float *in_d,
							 const float *in_v, float *act);
extern const float *FannModelLogits(const FannModel *m, const float *act);
extern void FannModelTrain(FannModel *m, const float *in_d, const float *in_v,
						   const uint8 *targets, int64 nsamples, int epochs,
						   int nthreads, uint64 seed);

extern Size FannProberBytes(int partitions, int dim);
extern void FannProberBind(FannProber *p, char *bytes, int partitions, int dim,
						   FannMetric metric);
extern void FannProberFrom(FannProber *p, const FannModel *m);
extern Size FannProberScratchBytes(const FannProber *p);
extern void FannProberLogits(const FannProber *p, const float *vec, void *scratch,
							 float *dists, float *logits);

/* page.c: the stored model */
extern void FannModelLoad(Relation index, const FannMetaPageData *meta, FannModel *m);
extern void FannModelCached(Relation index, const FannMetaPageData *meta, FannModel *m);
extern void FannProberCached(Relation index, const FannMetaPageData *meta, FannProber *p);

#endif							/* FANN_LIRA_H */
