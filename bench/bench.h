/*
 * bench.h
 *	  fannbench: data loading, label generation, ground truth and query
 *	  sweeps for filtered k-NN benchmarks.  Independent of the extension's
 *	  code: ground truth uses its own double-precision distances.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A dense matrix of n vectors of d floats */
typedef struct Vectors
{
	int64_t		n;
	int			d;
	float	   *data;
} Vectors;

/* Label sets, one per row: sorted, without duplicates */
typedef struct LabelSets
{
	int64_t		n;
	int64_t    *start;			/* row i: labels[start[i] .. start[i+1]) */
	int32_t    *labels;
} LabelSets;

typedef enum QueryType
{
	QUERY_NONE,
	QUERY_EQUALITY,
	QUERY_CONTAINMENT,
	QUERY_OVERLAP
} QueryType;

typedef enum Metric
{
	METRIC_L2,
	METRIC_IP,
	METRIC_COSINE
} Metric;

/* Exact answers: k ids and distances per query, and how many rows match */
typedef struct GroundTruth
{
	int64_t		nq;
	int			k;
	int32_t    *ids;			/* -1 where fewer than k rows match */
	float	   *dist;
	int64_t    *matches;
} GroundTruth;

/*
 * Per-query parameters of a statement ($2, $3, ... after the query vector
 * $1), in PostgreSQL's text form: a file of one line per query, its values
 * separated by tabs (any type: uuid, text, text[], jsonb, ...)
 */
#define BENCH_MAX_PARAMS 8
typedef struct QueryParams
{
	int64_t		n;
	int		   *count;			/* query i: count[i] values */
	char	  **value;			/* value[i * BENCH_MAX_PARAMS + j] */
} QueryParams;

/* A vector file read one row at a time (vecio.c) */
typedef struct VecReader
{
	void	   *f;				/* gzFile */
	const char *path;
	const char *fmt;
	size_t		esize;			/* bytes an element takes in the file */
	int			d;
	int64_t		n;				/* rows read */
	int64_t		limit;			/* <= 0: all */
	unsigned char *row;
} VecReader;

/* vecio.c */
extern VecReader *vec_open(const char *path, int64_t limit);
extern int	vec_next(VecReader *r, float *out);
extern void vec_close(VecReader *r);
extern Vectors read_vectors(const char *path, int64_t limit);
extern FILE *vec_write_open(const char *path);
extern void vec_write_row(FILE *f, const float *row, int d);
extern void vec_write_close(FILE *f, const char *path);
extern void write_vectors(const char *path, const Vectors *v);
extern LabelSets read_labels(const char *path, int64_t limit);
extern void write_labels(const char *path, const LabelSets *ls);
extern QueryParams read_params(const char *path, int64_t limit);
extern void write_gt(const char *prefix, const GroundTruth *gt);
extern GroundTruth read_gt(const char *prefix);
extern void *xmalloc(size_t size);
extern int	cmp_int32(const void *a, const void *b);
extern void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

/* labelgen.c */
extern LabelSets generate_base_labels(const char *dist, int nlabels, int64_t rows,
									  uint64_t seed);
extern LabelSets generate_query_labels(const LabelSets *base, QueryType type,
									   int64_t nq, int k, uint64_t seed);
extern int	labels_match(const LabelSets *base, int64_t row, const LabelSets *q,
						 int64_t qi, QueryType type);
extern QueryType parse_query_type(const char *s);
extern const char *query_type_name(QueryType t);
extern uint64_t rng_next(uint64_t *state);
extern double rng_uniform(uint64_t *state);

/* gt.c */
extern Metric parse_metric(const char *s);
extern double exact_distance(Metric m, const float *a, const float *b, int d);
extern GroundTruth compute_gt(const Vectors *base, const LabelSets *bl,
							  const Vectors *queries, const LabelSets *ql,
							  QueryType type, Metric metric, int k);
extern GroundTruth compute_gt_sql(const char *conninfo, const char *sql,
								  const char *setting, const Vectors *base,
								  const Vectors *queries, const QueryParams *params,
								  Metric metric, int k);

/* codes.c */
extern int	codes_report(const Vectors *base, const Vectors *queries, int k,
						 const char *names);

/* load.c */
extern int64_t load_table(const char *conninfo, const char *table, VecReader *r,
						  const LabelSets *ls);

/* sweep.c */
typedef struct SweepOptions
{
	const char *conninfo;
	const char *table;
	const char *vector_type;	/* the embedding column's type, NULL: real[] */
	const char *label_type;		/* the labels' element type, NULL: int4 */
	const char *sql;			/* the statement ($1 the vector, $2... params), NULL:
								 * one made from type and table */
	const QueryParams *params;	/* per query $2, $3, ...; NULL: the labels */
	const char *shape;			/* the query set's name, NULL: the type's */
	const char *plans;			/* CSV of each query's plan, NULL: none */
	const char *dataset;
	const char *config;
	const char *csv;
	const char *build_seconds;
	const char *index_bytes;
	int			k;
	int			clients;
	int			warmup;
	Metric		metric;
	QueryType	type;
} SweepOptions;

extern int	run_sweep(const SweepOptions *opt, const Vectors *base,
					  const Vectors *queries, const LabelSets *ql,
					  const GroundTruth *gt, const char *setting);
struct pg_conn;					/* libpq's PGconn */
extern int	apply_setting(struct pg_conn *conn, const char *setting, char *error, size_t errlen);
extern void format_vector(char *out, const float *v, int d);
extern int	bind_params(const QueryParams *p, int64_t q, const char **out);

/* soak.c */
extern int	run_soak(const char *conninfo, const char *log, int nclients, int dim,
					 double seconds, int64_t load, uint64_t seed);

#endif
