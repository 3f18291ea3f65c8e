/*
 * lira.c
 *	  The probing model of the learned IVF (LIRA, WWW 2025, section 3.2): a
 *	  small MLP from a query to the probability that each partition holds
 *	  one of its nearest rows, trained inside CREATE INDEX.
 *
 * Training is plain minibatch gradient descent on binary cross-entropy with
 * Adam.  Every parallel loop gives each output (a sample's activations, a
 * weight row) to one thread and adds in a fixed order, so the trained model
 * depends on the seed only, not on the thread count.  No palloc, elog or
 * buffer access inside the parallel loops; interrupts are checked between
 * batches.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "lira.h"
#include "miscadmin.h"
#include "portability/instr_time.h"

#define FANN_LIRA_BATCH		256
#define FANN_LIRA_RATE		1e-3
#define FANN_ADAM_BETA1		0.9
#define FANN_ADAM_BETA2		0.999
#define FANN_ADAM_EPSILON	1e-8

/* Layer shapes: (inputs, outputs) */
static void
layer_shape(int partitions, int dim, FannLayer l, int *nin, int *nout)
{
	static const int shapes[FANN_NUM_LAYERS][2] = {
		{-1, FANN_LIRA_HIDDEN1},	/* distances -> 128 */
		{FANN_LIRA_HIDDEN1, FANN_LIRA_HIDDEN2},
		{-2, FANN_LIRA_HIDDEN1},	/* vector -> 128 */
		{FANN_LIRA_HIDDEN1, FANN_LIRA_HIDDEN2},
		{2 * FANN_LIRA_HIDDEN2, FANN_LIRA_HIDDEN3},
		{FANN_LIRA_HIDDEN3, -1},	/* -> one logit per partition */
	};

	*nin = shapes[l][0] == -1 ? partitions : shapes[l][0] == -2 ? dim : shapes[l][0];
	*nout = shapes[l][1] == -1 ? partitions : shapes[l][1];
}

static Size
model_floats(int partitions, int dim, Size *nweights)
{
	Size		n = 0;

	for (int l = 0; l < FANN_NUM_LAYERS; l++)
	{
		int			nin,
					nout;

		layer_shape(partitions, dim, l, &nin, &nout);
		n += (Size) nin * nout + nout;
	}
	n += partitions;			/* the distance skip weights */
	if (nweights)
		*nweights = n;
	return (Size) partitions * dim + 2 * partitions + 2 * dim + n;
}

/* Bytes of a model as stored: header and floats */
Size
FannModelBytes(int partitions, int dim)
{
	return sizeof(FannModelHeader) + sizeof(float) * model_floats(partitions, dim, NULL);
}

/*
 * Point m's arrays into bytes (FannModelBytes of them, header first); the
 * header is filled in, the floats are the caller's.
 */
void
FannModelBind(FannModel *m, char *bytes, int partitions, int dim)
{
	FannModelHeader *h = (FannModelHeader *) bytes;
	float	   *f = (float *) (bytes + sizeof(FannModelHeader));

	h->magic = FANN_MODEL_MAGIC;
	h->partitions = partitions;
	h->dimensions = dim;
	h->nfloats = model_floats(partitions, dim, &m->nweights);
	m->partitions = partitions;
	m->dim = dim;
	m->floats = f;
	m->nfloats = h->nfloats;
	m->centroids = f;
	f += (Size) partitions * dim;
	m->dist_mean = f;
	f += partitions;
	m->dist_std = f;
	f += partitions;
	m->vec_mean = f;
	f += dim;
	m->vec_std = f;
	f += dim;
	m->weights = f;
	for (int l = 0; l < FANN_NUM_LAYERS; l++)
	{
		FannDense  *d = &m->layers[l];

		layer_shape(partitions, dim, l, &d->nin, &d->nout);
		d->w = f;
		f += (Size) d->nin * d->nout;
		d->b = f;
		f += d->nout;
	}
	m->skip = f;
	m->table.t = NULL;
}

/*
 * Bind m's centroid table to bytes (FannCentroidTableBytes), and with fill,
 * compute it from m's centroids
 */
void
FannModelBindTable(FannModel *m, char *bytes, FannMetric metric, bool fill)
{
	FannCentroidTableBind(&m->table, bytes, m->partitions, m->dim, metric);
	if (fill)
		FannCentroidTableFill(&m->table, m->centroids);
}

/*
 * He-uniform weights, zero biases, except the output biases, which start at
 * the logit of the average target so that training begins calibrated.
 */
void
FannModelInitWeights(FannModel *m, double positive_rate, uint64 seed)
{
	for (int l = 0; l < FANN_NUM_LAYERS; l++)
	{
		FannDense  *d = &m->layers[l];
		double		scale = sqrt(6.0 / d->nin);

		for (Size i = 0; i < (Size) d->nin * d->nout; i++)
			d->w[i] = (2.0 * (FannRandom(&seed) >> 11) / (double) (UINT64CONST(1) << 53) - 1.0) * scale;
		for (int o = 0; o < d->nout; o++)
			d->b[o] = 0;
	}
	positive_rate = Min(Max(positive_rate, 1e-6), 1 - 1e-6);
	for (int o = 0; o < m->partitions; o++)
	{
		m->layers[FANN_LAYER_OUT].b[o] = log(positive_rate / (1 - positive_rate));
		/* start as nearest-centroid probing: nearer is likelier */
		m->skip[o] = -1;
	}
}

/*
 * Activations of one forward pass, in this order: distance branch layer 1,
 * vector branch layer 1, the joint input (distance branch layer 2, then
 * vector branch layer 2: their concatenation), joint layer, logits.
 */
#define ACT_DIST1	0
#define ACT_VEC1	(ACT_DIST1 + FANN_LIRA_HIDDEN1)
#define ACT_CONCAT	(ACT_VEC1 + FANN_LIRA_HIDDEN1)
#define ACT_JOINT	(ACT_CONCAT + 2 * FANN_LIRA_HIDDEN2)
#define ACT_LOGITS	(ACT_JOINT + FANN_LIRA_HIDDEN3)

int
FannModelActivations(const FannModel *m)
{
	return ACT_LOGITS + m->partitions;
}

const float *
FannModelLogits(const FannModel *m, const float *act)
{
	return act + ACT_LOGITS;
}

/* The standardised inputs of a vector and its centroid distances */
static void
standardise(int partitions, int dim, const float *dist_mean, const float *dist_std,
			const float *vec_mean, const float *vec_std, const float *vec,
			const float *dists, float *in_d, float *in_v)
{
	for (int c = 0; c < partitions; c++)
		in_d[c] = (dists[c] - dist_mean[c]) / dist_std[c];
	for (int d = 0; d < dim; d++)
		in_v[d] = (vec[d] - vec_mean[d]) / vec_std[d];
}

void
FannModelInputs(const FannModel *m, const float *vec, const float *dists,
				float *in_d, float *in_v)
{
	standardise(m->partitions, m->dim, m->dist_mean, m->dist_std, m->vec_mean,
				m->vec_std, vec, dists, in_d, in_v);
}

/*
 * The model's float layers (training) and the distances to the centroids
 * (k-means, each row's partition, inserts, the graph path's seeds), compiled
 * for SSE2 otherwise: clones for wider vectors, chosen when the library
 * loads.  The prober's int8 layers (per ivf query) too, for their inputs'
 * bytes and their outputs; their sums run on distance.c's integer kernel.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define FANN_WIDE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FANN_WIDE_CLONES
#endif

/* Sixteen lanes: a zmm, two ymm or four xmm registers, by the clone */
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4)));

/*
 * Outputs [o, o + 16 nv) of ns samples (ns * nv <= 4) of x W, from init
 * (or zero), summed over the inputs in order.  The sums stay in registers
 * through all the inputs and each weight vector serves the ns samples: the
 * loop this replaced loaded and stored every output at every input, a
 * multiply-add a cycle at best.
 */
static inline __attribute__((always_inline)) void
dense_tile(const float *w, const float *init, int nin, int nout, int o, int ns, int nv,
		   const float *x, int xstride, float *y, int ystride)
{
	v16f		acc[4];

	for (int s = 0; s < ns; s++)
		for (int j = 0; j < nv; j++)
			acc[s * nv + j] = init ? *(const v16f_u *) (init + o + 16 * j) : (v16f) {0};
	for (int i = 0; i < nin; i++)
	{
		const float *wi = w + (Size) i * nout + o;

		for (int s = 0; s < ns; s++)
		{
			float		xs = x[(Size) s * xstride + i];

			for (int j = 0; j < nv; j++)
				acc[s * nv + j] += xs * *(const v16f_u *) (wi + 16 * j);
		}
	}
	for (int s = 0; s < ns; s++)
		for (int j = 0; j < nv; j++)
			*(v16f_u *) (y + (Size) s * ystride + o + 16 * j) = acc[s * nv + j];
}

/* The same for outputs [o, nout) one at a time: the last, fewer than 16 */
static inline __attribute__((always_inline)) void
dense_rest(const float *w, const float *init, int nin, int nout, int o, int ns,
		   const float *x, int xstride, float *y, int ystride)
{
	for (int s = 0; s < ns; s++)
		for (int t = o; t < nout; t++)
		{
			float		sum = init ? init[t] : 0;

			for (int i = 0; i < nin; i++)
				sum += x[(Size) s * xstride + i] * w[(Size) i * nout + t];
			y[(Size) s * ystride + t] = sum;
		}
}

/*
 * y = init + x W for nb samples (sample s at s * xstride and s * ystride):
 * samples four at a time, each 16 outputs' weights read from the cache once
 * for the four; a last sample or two alone, 64 outputs at a time so that
 * four sums are in flight
 */
static inline __attribute__((always_inline)) void
dense_sums(const float *w, const float *init, int nin, int nout, int nb,
		   const float *x, int xstride, float *y, int ystride)
{
	int			s4 = nb - nb % 4;
	int			o;

	for (o = 0; o + 16 <= nout; o += 16)
		for (int s = 0; s < s4; s += 4)
			dense_tile(w, init, nin, nout, o, 4, 1, x + (Size) s * xstride, xstride,
					   y + (Size) s * ystride, ystride);
	dense_rest(w, init, nin, nout, o, s4, x, xstride, y, ystride);
	for (int s = s4; s < nb; s++)
	{
		const float *xs = x + (Size) s * xstride;
		float	   *ys = y + (Size) s * ystride;

		for (o = 0; o + 64 <= nout; o += 64)
			dense_tile(w, init, nin, nout, o, 1, 4, xs, xstride, ys, ystride);
		for (; o + 16 <= nout; o += 16)
			dense_tile(w, init, nin, nout, o, 1, 1, xs, xstride, ys, ystride);
		dense_rest(w, init, nin, nout, o, 1, xs, xstride, ys, ystride);
	}
}

/*
 * y = x W + b for nb samples (sample s at s * xstride and s * ystride),
 * through a ReLU unless it is the output layer
 */
FANN_WIDE_CLONES
static void
dense_forward(const void *layer, int nb, const float *x, int xstride, float *y,
			  int ystride, bool relu, void *work)
{
	const FannDense *l = layer;

	dense_sums(l->w, l->b, l->nin, l->nout, nb, x, xstride, y, ystride);
	if (relu)
		for (int s = 0; s < nb; s++)
			for (int o = 0; o < l->nout; o++)
				y[(Size) s * ystride + o] = Max(y[(Size) s * ystride + o], 0.0f);
}

/*
 * The same with the prober's int8 weights, in integers: a sample's inputs
 * as bytes of one step (from 0 when none is negative, else about 128), so
 * that x W = step (x8 W - offset colsum) within the inputs' rounding, the
 * sums by a kernel of distance.c (FannInt8Dots).  work: room for the
 * widest layer's sums and input bytes (FannProberScratchBytes).
 */
FANN_WIDE_CLONES
static void
dense8_forward(const void *layer, int nb, const float *x, int xstride, float *y,
			   int ystride, bool relu, void *work)
{
	const FannDense8 *l = layer;
	const float *b = l->b,
			   *scale = l->scale;
	const int32 *colsum = l->colsum;
	int32	   *dots = work;
	uint8	   *x8 = (uint8 *) (dots + l->nout16);

	for (int s = 0; s < nb; s++)
	{
		const float *xs = x + (Size) s * xstride;
		float	   *ys = y + (Size) s * ystride;
		float		lo = 0,
					hi = 0,
					step,
					inv;
		int			offset;

#pragma omp simd reduction(min:lo) reduction(max:hi)
		for (int i = 0; i < l->nin; i++)
		{
			lo = Min(lo, xs[i]);
			hi = Max(hi, xs[i]);
		}
		offset = lo < 0 ? 128 : 0;
		step = lo < 0 ? Max(-lo, hi) / 127 : hi / 255;
		if (!(step >= FLT_MIN))
			step = 0;			/* all 0, a subnormal step or NaN inputs */
		inv = step > 0 ? 1 / step : 0;
		/* clamped before the cast (a NaN input becomes 0); rounds half up */
#pragma omp simd
		for (int i = 0; i < l->nin; i++)
			x8[i] = (uint8) Min(Max(xs[i] * inv + offset + 0.5f, 0.0f), 255.0f);
		memset(x8 + l->nin, 0, 4 * l->ngroups - l->nin);
		FannInt8Dots(l->w, l->ngroups, l->nout16, x8, dots);
#pragma omp simd
		for (int o = 0; o < l->nout; o++)
		{
			float		v = b[o] + scale[o] * step * (float) (dots[o] - offset * colsum[o]);

			ys[o] = relu ? Max(v, 0.0f) : v;
		}
	}
}

/*
 * Distances to the centroids (lira.h): the IVF's build computes N times P of
 * them (k-means, each row's partition, the model's inputs), a third of its
 * time when each was a call of the metric's kernel
 */
Size
FannCentroidTableBytes(int k, int dim)
{
	return sizeof(float) * ((Size) k * dim + k + dim);
}

void
FannCentroidTableBind(FannCentroidTable *ct, char *bytes, int k, int dim,
					  FannMetric metric)
{
	ct->k = k;
	ct->dim = dim;
	ct->metric = metric;
	ct->t = (float *) bytes;
	ct->norms = ct->t + (Size) k * dim;
	ct->mean = ct->norms + k;
}

/* The table of the k row-major centroids */
void
FannCentroidTableFill(FannCentroidTable *ct, const float *centroids)
{
	int			k = ct->k,
				dim = ct->dim;

	for (int d = 0; d < dim; d++)
	{
		double		sum = 0;

		if (ct->metric == FANN_METRIC_L2)
			for (int c = 0; c < k; c++)
				sum += centroids[(Size) c * dim + d];
		ct->mean[d] = sum / k;
	}
	for (int c = 0; c < k; c++)
	{
		float		norm = 0;

		for (int d = 0; d < dim; d++)
		{
			float		v = centroids[(Size) c * dim + d] - ct->mean[d];

			ct->t[(Size) d * k + c] = v;
			norm += v * v;
		}
		ct->norms[c] = norm;
	}
}

/* Scratch memory of FannCentroidDistances and FannNearestCentroids */
Size
FannCentroidWorkBytes(int nb, int k, int dim)
{
	return sizeof(float) * nb * ((Size) dim + 1 + k);
}

/*
 * Distances under metric, as distance.c's kernels define them, from a row
 * (squared norm xnorm) to k centroids (squared norms cnorms) given its dot
 * products with them, in place: both centred on the centroids' mean under
 * L2
 */
static void
distances_from_dots(FannMetric metric, int k, const float *cnorms, float xnorm, float *o)
{
	switch (metric)
	{
		case FANN_METRIC_L2:
			for (int c = 0; c < k; c++)
				o[c] = sqrtf(Max(xnorm + cnorms[c] - 2 * o[c], 0.0f));
			break;
		case FANN_METRIC_IP:
			for (int c = 0; c < k; c++)
				o[c] = -o[c];
			break;
		case FANN_METRIC_COSINE:
			for (int c = 0; c < k; c++)
			{
				/* NaN for a zero vector, as cosine_distance gives */
				double		sim = o[c] / sqrt((double) xnorm * cnorms[c]);

				o[c] = isnan(sim) ? sim : 1.0 - Max(-1.0, Min(1.0, sim));
			}
			break;
	}
}

/* x = row - mean (the centroids' mean); returns |x|^2 */
static inline float
centred(const float *row, const float *mean, int dim, float *x)
{
	float		norm = 0;

	for (int d = 0; d < dim; d++)
	{
		x[d] = row[d] - mean[d];
		norm += x[d] * x[d];
	}
	return norm;
}

/*
 * Distances under the table's metric, as distance.c's kernels define them,
 * from nb rows to each centroid: out[s * k + c].  work: FannCentroidWorkBytes
 * of nb rows.  No palloc: runs in parallel loops.
 */
FANN_WIDE_CLONES
void
FannCentroidDistances(const FannCentroidTable *ct, int nb, const float *const *rows,
					  float *work, float *out)
{
	int			k = ct->k,
				dim = ct->dim;
	float	   *norms = work + (Size) nb * dim;

	for (int s = 0; s < nb; s++)
		norms[s] = centred(rows[s], ct->mean, dim, work + (Size) s * dim);
	dense_sums(ct->t, NULL, dim, k, nb, work, dim, out, k);
	for (int s = 0; s < nb; s++)
		distances_from_dots(ct->metric, k, ct->norms, norms[s], out + (Size) s * k);
}

/* Each row's nearest centroid, the first of equals (work: as above) */
void
FannNearestCentroids(const FannCentroidTable *ct, int nb, const float *const *rows,
					 float *work, int *nearest)
{
	float	   *dists = work + (Size) nb * (ct->dim + 1);

	FannCentroidDistances(ct, nb, rows, work, dists);
	for (int s = 0; s < nb; s++)
		nearest[s] = FannNearestOf(dists + (Size) s * ct->k, ct->k);
}

/* One layer of either form of the model */
typedef void (*DenseForward) (const void *layer, int nb, const float *x, int xstride,
							  float *y, int ystride, bool relu, void *work);

/*
 * The network (lira.h) over nb samples (inputs at s * partitions and s *
 * dim) into act (FannModelActivations floats per sample): layer l is
 * layers + l * layer_size, run by dense with work
 */
static void
forward(DenseForward dense, const char *layers, Size layer_size, void *work,
		const float *skip, int P, int dim, int nb, const float *in_d,
		const float *in_v, float *act)
{
	int			n = ACT_LOGITS + P;

#define LAYER(l) (layers + (l) * layer_size)
	dense(LAYER(FANN_LAYER_DIST1), nb, in_d, P, act + ACT_DIST1, n, true, work);
	dense(LAYER(FANN_LAYER_DIST2), nb, act + ACT_DIST1, n, act + ACT_CONCAT, n, true, work);
	dense(LAYER(FANN_LAYER_VEC1), nb, in_v, dim, act + ACT_VEC1, n, true, work);
	dense(LAYER(FANN_LAYER_VEC2), nb, act + ACT_VEC1, n,
		  act + ACT_CONCAT + FANN_LIRA_HIDDEN2, n, true, work);
	dense(LAYER(FANN_LAYER_JOINT), nb, act + ACT_CONCAT, n, act + ACT_JOINT, n, true, work);
	dense(LAYER(FANN_LAYER_OUT), nb, act + ACT_JOINT, n, act + ACT_LOGITS, n, false, work);
#undef LAYER
	for (int s = 0; s < nb; s++)
		for (int c = 0; c < P; c++)
			act[(Size) s * n + ACT_LOGITS + c] += skip[c] * in_d[(Size) s * P + c];
}

/* Forward passes of the stored model, as training runs them */
void
FannModelForward(const FannModel *m, int nb, const float *in_d, const float *in_v,
				 float *act)
{
	forward(dense_forward, (const char *) m->layers, sizeof(FannDense), NULL,
			m->skip, m->partitions, m->dim, nb, in_d, in_v, act);
}

/* Carve n bytes at *at from bytes (NULL: only count them) */
static char *
take(char *bytes, Size *at, Size n)
{
	char	   *p = bytes ? bytes + *at : NULL;

	*at += MAXALIGN(n);
	return p;
}

/* Point an int8 layer of nin inputs and nout outputs into bytes at *at */
static void
layer8_layout(FannDense8 *d, char *bytes, Size *at, int nin, int nout)
{
	d->nin = nin;
	d->nout = nout;
	d->ngroups = (nin + 3) / 4;
	d->nout16 = TYPEALIGN(16, nout);
	d->scale = (float *) take(bytes, at, sizeof(float) * nout);
	d->b = (float *) take(bytes, at, sizeof(float) * nout);
	d->colsum = (int32 *) take(bytes, at, sizeof(int32) * nout);
	d->w = (int8 *) take(bytes, at, (Size) d->ngroups * d->nout16 * 4);
}

/* Point p's arrays into bytes (NULL: only size them); returns the size */
static Size
prober_layout(FannProber *p, char *bytes, int partitions, int dim, FannMetric metric)
{
	Size		at = 0;

	p->partitions = partitions;
	p->dim = dim;
	p->metric = metric;
	layer8_layout(&p->centroids, bytes, &at, dim, partitions);
	p->mean = (float *) take(bytes, &at, sizeof(float) * dim);
	p->norms = (float *) take(bytes, &at, sizeof(float) * partitions);
	p->dist_mean = (float *) take(bytes, &at, sizeof(float) * partitions);
	p->dist_std = (float *) take(bytes, &at, sizeof(float) * partitions);
	p->vec_mean = (float *) take(bytes, &at, sizeof(float) * dim);
	p->vec_std = (float *) take(bytes, &at, sizeof(float) * dim);
	p->skip = (float *) take(bytes, &at, sizeof(float) * partitions);
	for (int l = 0; l < FANN_NUM_LAYERS; l++)
	{
		int			nin,
					nout;

		layer_shape(partitions, dim, l, &nin, &nout);
		layer8_layout(&p->layers[l], bytes, &at, nin, nout);
	}
	return at;
}

Size
FannProberBytes(int partitions, int dim)
{
	FannProber	p;

	return prober_layout(&p, NULL, partitions, dim, FANN_METRIC_L2);
}

void
FannProberBind(FannProber *p, char *bytes, int partitions, int dim, FannMetric metric)
{
	prober_layout(p, bytes, partitions, dim, metric);
}

/*
 * Fill the int8 layer q from the float weights w (input-major, as q's
 * shape) and biases b (NULL: zero): each output's column over its largest
 * weight's 127th.  Read a row of w at a time: the centroid layer's columns
 * lie partitions floats apart.
 */
static void
layer8_from(FannDense8 *q, const float *w, const float *b)
{
	float	   *top = palloc0(sizeof(float) * q->nout);

	for (int i = 0; i < q->nin; i++)
		for (int o = 0; o < q->nout; o++)
			top[o] = Max(top[o], fabsf(w[(Size) i * q->nout + o]));
	memset(q->w, 0, (Size) q->ngroups * q->nout16 * 4);
	for (int o = 0; o < q->nout; o++)
	{
		q->scale[o] = top[o] / 127;
		q->b[o] = b ? b[o] : 0;
		q->colsum[o] = 0;
	}
	for (int i = 0; i < q->nin; i++)
		for (int o = 0; o < q->nout; o++)
		{
			int8		v = top[o] > 0 ? (int8) rint(w[(Size) i * q->nout + o] / q->scale[o]) : 0;

			q->w[((Size) (i / 4) * q->nout16 + o) * 4 + i % 4] = v;
			q->colsum[o] += v;
		}
	pfree(top);
}

/* Fill the bound prober p from the model m of its shape, its table filled */
void
FannProberFrom(FannProber *p, const FannModel *m)
{
	layer8_from(&p->centroids, m->table.t, NULL);
	memcpy(p->mean, m->table.mean, sizeof(float) * m->dim);
	memcpy(p->norms, m->table.norms, sizeof(float) * m->partitions);
	memcpy(p->dist_mean, m->dist_mean, sizeof(float) * m->partitions);
	memcpy(p->dist_std, m->dist_std, sizeof(float) * m->partitions);
	memcpy(p->vec_mean, m->vec_mean, sizeof(float) * m->dim);
	memcpy(p->vec_std, m->vec_std, sizeof(float) * m->dim);
	memcpy(p->skip, m->skip, sizeof(float) * m->partitions);
	for (int l = 0; l < FANN_NUM_LAYERS; l++)
		layer8_from(&p->layers[l], m->layers[l].w, m->layers[l].b);
}

/* Bytes of scratch memory that FannProberLogits needs */
Size
FannProberScratchBytes(const FannProber *p)
{
	int			widest = Max(Max(p->partitions, p->dim),
							 Max(Max(FANN_LIRA_HIDDEN1, FANN_LIRA_HIDDEN3), 2 * FANN_LIRA_HIDDEN2));

	return sizeof(float) * (2 * p->dim + ACT_LOGITS + 2 * p->partitions) +
		(sizeof(int32) + 1) * TYPEALIGN(16, widest);
}

/*
 * A query's distances to the centroids, from the int8 centroids (dists,
 * partitions floats), and its logits per partition (logits, unless NULL),
 * through the prober
 */
void
FannProberLogits(const FannProber *p, const float *vec, void *scratch, float *dists,
				 float *logits)
{
	int			P = p->partitions;
	float	   *x = scratch;
	float	   *in_d = x + p->dim;
	float	   *in_v = in_d + P;
	float	   *act = in_v + p->dim;
	void	   *work = act + ACT_LOGITS + P;
	float		norm = centred(vec, p->mean, p->dim, x);

	dense8_forward(&p->centroids, 1, x, p->dim, dists, P, false, work);
	distances_from_dots(p->metric, P, p->norms, norm, dists);
	if (logits == NULL)
		return;
	standardise(P, p->dim, p->dist_mean, p->dist_std, p->vec_mean, p->vec_std, vec,
				dists, in_d, in_v);
	forward(dense8_forward, (const char *) p->layers, sizeof(FannDense8), work,
			p->skip, P, p->dim, 1, in_d, in_v, act);
	memcpy(logits, act + ACT_LOGITS, sizeof(float) * P);
}

/*
 * Backward through layer l for a batch of nb samples: x (the layer's input)
 * and gy (the loss gradient at its output) of sample s at s * stride.
 * Accumulates the weight gradient into g; with gx, also the gradient at the
 * input, through the ReLU that produced x.
 */
static void
dense_backward(const FannDense *l, const FannDense *g, int nb, int nthreads,
			   const float *x, int xstride, const float *gy, int gystride,
			   float *gx, int gxstride)
{
#pragma omp parallel for schedule(static) num_threads(nthreads)
	for (int i = 0; i < l->nin; i++)
	{
		float	   *gw = g->w + (Size) i * l->nout;

		for (int s = 0; s < nb; s++)
		{
			const float *gys = gy + (Size) s * gystride;
			float		xi = x[(Size) s * xstride + i];

			if (xi == 0)
				continue;
#pragma omp simd
			for (int o = 0; o < l->nout; o++)
				gw[o] += xi * gys[o];
		}
	}
	for (int s = 0; s < nb; s++)
		for (int o = 0; o < l->nout; o++)
			g->b[o] += gy[(Size) s * gystride + o];
	if (gx == NULL)
		return;
#pragma omp parallel for schedule(static) num_threads(nthreads)
	for (int s = 0; s < nb; s++)
	{
		const float *gys = gy + (Size) s * gystride;

		for (int i = 0; i < l->nin; i++)
		{
			const float *w = l->w + (Size) i * l->nout;
			float		sum = 0;

			if (x[(Size) s * xstride + i] <= 0)
			{
				gx[(Size) s * gxstride + i] = 0;
				continue;
			}
#pragma omp simd reduction(+:sum)
			for (int o = 0; o < l->nout; o++)
				sum += gys[o] * w[o];
			gx[(Size) s * gxstride + i] = sum;
		}
	}
}

/*
 * Train m's weights on nsamples inputs (in_d: partitions floats each, in_v:
 * dim floats each) and 0/1 targets (partitions bytes each), epochs passes
 * over them in a seeded random order.
 */
void
FannModelTrain(FannModel *m, const float *in_d, const float *in_v,
			   const uint8 *targets, int64 nsamples, int epochs, int nthreads,
			   uint64 seed)
{
	int			nact = FannModelActivations(m);
	int			P = m->partitions;
	int64	   *perm = palloc_extended(sizeof(int64) * Max(nsamples, 1), MCXT_ALLOC_HUGE);
	float	   *act = palloc_extended(sizeof(float) * nact * FANN_LIRA_BATCH, MCXT_ALLOC_HUGE);
	float	   *grad_act = palloc_extended(sizeof(float) * nact * FANN_LIRA_BATCH, MCXT_ALLOC_HUGE);
	float	   *grad = palloc_extended(sizeof(float) * m->nweights, MCXT_ALLOC_HUGE);
	float	   *moment1 = palloc_extended(sizeof(float) * m->nweights, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	float	   *moment2 = palloc_extended(sizeof(float) * m->nweights, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	float	   *batch_d = palloc_extended(sizeof(float) * P * FANN_LIRA_BATCH, MCXT_ALLOC_HUGE);
	float	   *batch_v = palloc_extended(sizeof(float) * m->dim * FANN_LIRA_BATCH, MCXT_ALLOC_HUGE);
	FannModel	g;				/* the gradient, shaped as the model */
	int64		step = 0;
	int			team = nthreads;
	double		seconds[2] = {0, 0};

	/* bind a model-shaped view over grad: its layers start at grad */
	g = *m;
	for (int l = 0; l < FANN_NUM_LAYERS; l++)
	{
		g.layers[l].w = grad + (m->layers[l].w - m->weights);
		g.layers[l].b = grad + (m->layers[l].b - m->weights);
	}
	g.skip = grad + (m->skip - m->weights);
	for (int64 i = 0; i < nsamples; i++)
		perm[i] = i;

	for (int epoch = 0; epoch < epochs; epoch++)
	{
		for (int64 i = nsamples - 1; i > 0; i--)
		{
			int64		j = FannRandom(&seed) % (i + 1),
						t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
		for (int64 start = 0, b = 0; start < nsamples; start += FANN_LIRA_BATCH, b++)
		{
			int			nb = Min(FANN_LIRA_BATCH, nsamples - start);
			double		c1,
						c2;
			instr_time	t0,
						t1;

			/*
			 * A batch has eight parallel loops of a few ms each.  On a busy
			 * machine a thread without a core makes the others spin at each
			 * loop's barrier for a time slice (a build 10x slower, measured),
			 * so each epoch times its first batch with the team and its
			 * second alone and keeps the faster.  The weights do not depend
			 * on the thread count.
			 */
			if (b < 2)
				team = b == 0 ? nthreads : 1;
			else if (b == 2)
				team = seconds[0] <= seconds[1] ? nthreads : 1;
			INSTR_TIME_SET_CURRENT(t0);
			CHECK_FOR_INTERRUPTS();
			for (int s = 0; s < nb; s++)
			{
				memcpy(batch_d + (Size) s * P, in_d + (Size) perm[start + s] * P,
					   sizeof(float) * P);
				memcpy(batch_v + (Size) s * m->dim, in_v + (Size) perm[start + s] * m->dim,
					   sizeof(float) * m->dim);
			}
#pragma omp parallel for schedule(static) num_threads(team)
			for (int s0 = 0; s0 < nb; s0 += FANN_LIRA_BLOCK)
			{
				FannModelForward(m, Min(FANN_LIRA_BLOCK, nb - s0), batch_d + (Size) s0 * P,
								 batch_v + (Size) s0 * m->dim, act + (Size) s0 * nact);
				for (int s = s0; s < Min(nb, s0 + FANN_LIRA_BLOCK); s++)
				{
					const float *logits = act + (Size) s * nact + ACT_LOGITS;
					const uint8 *y = targets + (Size) perm[start + s] * P;
					float	   *gl = grad_act + (Size) s * nact + ACT_LOGITS;

					/* d(mean binary cross-entropy)/d(logit) = (sigmoid - target) / nb */
					for (int o = 0; o < P; o++)
						gl[o] = (1.0f / (1.0f + expf(-logits[o])) - y[o]) / nb;
				}
			}

			MemSet(grad, 0, sizeof(float) * m->nweights);
			dense_backward(&m->layers[FANN_LAYER_OUT], &g.layers[FANN_LAYER_OUT], nb, team,
						   act + ACT_JOINT, nact, grad_act + ACT_LOGITS, nact,
						   grad_act + ACT_JOINT, nact);
			dense_backward(&m->layers[FANN_LAYER_JOINT], &g.layers[FANN_LAYER_JOINT], nb, team,
						   act + ACT_CONCAT, nact, grad_act + ACT_JOINT, nact,
						   grad_act + ACT_CONCAT, nact);
			dense_backward(&m->layers[FANN_LAYER_DIST2], &g.layers[FANN_LAYER_DIST2], nb, team,
						   act + ACT_DIST1, nact, grad_act + ACT_CONCAT, nact,
						   grad_act + ACT_DIST1, nact);
			dense_backward(&m->layers[FANN_LAYER_VEC2], &g.layers[FANN_LAYER_VEC2], nb, team,
						   act + ACT_VEC1, nact, grad_act + ACT_CONCAT + FANN_LIRA_HIDDEN2, nact,
						   grad_act + ACT_VEC1, nact);
			for (int s = 0; s < nb; s++)
				for (int c = 0; c < P; c++)
					g.skip[c] += grad_act[(Size) s * nact + ACT_LOGITS + c] * batch_d[(Size) s * P + c];
			/* the first layers' inputs are the samples: no gradient there */
			dense_backward(&m->layers[FANN_LAYER_DIST1], &g.layers[FANN_LAYER_DIST1], nb, team,
						   batch_d, P, grad_act + ACT_DIST1, nact, NULL, 0);
			dense_backward(&m->layers[FANN_LAYER_VEC1], &g.layers[FANN_LAYER_VEC1], nb, team,
						   batch_v, m->dim, grad_act + ACT_VEC1, nact, NULL, 0);

			/* Adam */
			step++;
			c1 = 1 - pow(FANN_ADAM_BETA1, step);
			c2 = 1 - pow(FANN_ADAM_BETA2, step);
#pragma omp parallel for schedule(static) num_threads(team)
			for (Size i = 0; i < m->nweights; i++)
			{
				moment1[i] = FANN_ADAM_BETA1 * moment1[i] + (1 - FANN_ADAM_BETA1) * grad[i];
				moment2[i] = FANN_ADAM_BETA2 * moment2[i] + (1 - FANN_ADAM_BETA2) * grad[i] * grad[i];
				m->weights[i] -= FANN_LIRA_RATE * (moment1[i] / c1) /
					(sqrtf(moment2[i] / c2) + FANN_ADAM_EPSILON);
			}
			INSTR_TIME_SET_CURRENT(t1);
			INSTR_TIME_SUBTRACT(t1, t0);
			if (b < 2)
				seconds[b] = INSTR_TIME_GET_DOUBLE(t1);
		}
	}
	pfree(perm);
	pfree(batch_d);
	pfree(batch_v);
	pfree(act);
	pfree(grad_act);
	pfree(grad);
	pfree(moment1);
	pfree(moment2);
}
