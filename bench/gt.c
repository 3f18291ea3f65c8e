/*
 * gt.c
 *	  Exact filtered k-NN by brute force, in double precision, OpenMP over
 *	  queries.  Deliberately shares no code with the extension's kernels.
 *	  For filters on columns of other types, the server's own answers with
 *	  index scans disabled (compute_gt_sql).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "bench.h"

Metric
parse_metric(const char *s)
{
	if (strcmp(s, "l2") == 0)
		return METRIC_L2;
	if (strcmp(s, "ip") == 0)
		return METRIC_IP;
	if (strcmp(s, "cosine") == 0)
		return METRIC_COSINE;
	die("unknown metric \"%s\" (l2, ip, cosine)", s);
}

double
exact_distance(Metric m, const float *a, const float *b, int d)
{
	double		s = 0,
				na = 0,
				nb = 0;

	for (int i = 0; i < d; i++)
	{
		if (m == METRIC_L2)
			s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
		else
		{
			s += (double) a[i] * b[i];
			na += (double) a[i] * a[i];
			nb += (double) b[i] * b[i];
		}
	}
	if (m == METRIC_L2)
		return sqrt(s);
	if (m == METRIC_IP)
		return -s;
	return 1.0 - s / sqrt(na * nb);
}

typedef struct Hit
{
	double		dist;
	int32_t		id;
} Hit;

/* worse = larger distance, then larger id */
static int
worse(const Hit *a, const Hit *b)
{
	return a->dist > b->dist || (a->dist == b->dist && a->id > b->id);
}

static int
cmp_hit(const void *a, const void *b)
{
	return worse(a, b) ? 1 : (worse(b, a) ? -1 : 0);
}

/* Keep the k best in a max-heap whose root is the worst kept */
static void
heap_offer(Hit *h, int *n, int k, Hit x)
{
	int			i;

	if (*n < k)
	{
		for (i = (*n)++; i > 0 && worse(&x, &h[(i - 1) / 2]); i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = x;
		return;
	}
	if (!worse(&h[0], &x))
		return;
	h[0] = x;
	for (i = 0;;)
	{
		int			l = 2 * i + 1,
					m = i;
		Hit			t;

		if (l < k && worse(&h[l], &h[m]))
			m = l;
		if (l + 1 < k && worse(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			break;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

GroundTruth
compute_gt(const Vectors *base, const LabelSets *bl, const Vectors *queries,
		   const LabelSets *ql, QueryType type, Metric metric, int k)
{
	GroundTruth gt;

	if (base->d != queries->d)
		die("base has %d dimensions, queries %d", base->d, queries->d);
	if (type != QUERY_NONE && (bl == NULL || ql == NULL))
		die("a filtered ground truth needs base and query labels");
	gt.nq = queries->n;
	gt.k = k;
	gt.ids = xmalloc(sizeof(int32_t) * gt.nq * k);
	gt.dist = xmalloc(sizeof(float) * gt.nq * k);
	gt.matches = xmalloc(sizeof(int64_t) * gt.nq);

#pragma omp parallel for schedule(dynamic, 4)
	for (int64_t q = 0; q < gt.nq; q++)
	{
		Hit		   *h = malloc(sizeof(Hit) * k);
		int			n = 0;
		int64_t		m = 0;

		for (int64_t r = 0; r < base->n; r++)
		{
			Hit			x;

			if (type != QUERY_NONE && !labels_match(bl, r, ql, q, type))
				continue;
			m++;
			x.dist = exact_distance(metric, &queries->data[q * queries->d],
									&base->data[r * base->d], base->d);
			if (isnan(x.dist))
				x.dist = INFINITY;	/* sorts last, as NaN does in PostgreSQL */
			x.id = (int32_t) r;
			heap_offer(h, &n, k, x);
		}
		qsort(h, n, sizeof(Hit), cmp_hit);
		for (int i = 0; i < k; i++)
		{
			gt.ids[q * k + i] = i < n ? h[i].id : -1;
			gt.dist[q * k + i] = i < n ? (float) h[i].dist : INFINITY;
		}
		gt.matches[q] = m;
		free(h);
	}
	return gt;
}

/*
 * Exact answers from the server, for filters this file cannot evaluate:
 * sql ($1 the query vector as real[], then the query's parameters) returns
 * the ids of a query's k nearest matching rows and, as its second column,
 * how many rows its filter matches; run under setting (index scans off: a
 * sequential scan and a sort).  The ids' distances are computed here, in
 * double precision, and the ids ordered by them, so that the answers score
 * as compute_gt's do.
 */
GroundTruth
compute_gt_sql(const char *conninfo, const char *sql, const char *setting,
			   const Vectors *base, const Vectors *queries, const QueryParams *params,
			   Metric metric, int k)
{
	PGconn	   *c = PQconnectdb(conninfo ? conninfo : "");
	char		error[512];
	char	   *vec = xmalloc((size_t) queries->d * 20 + 16);
	Hit		   *h = xmalloc(sizeof(Hit) * k);
	GroundTruth gt;

	if (PQstatus(c) != CONNECTION_OK)
		die("connection failed: %s", PQerrorMessage(c));
	if (setting && !apply_setting(c, setting, error, sizeof(error)))
		die("%s", error);
	if (params && params->n < queries->n)
		die("%lld queries but parameters for %lld", (long long) queries->n,
			(long long) params->n);
	gt.nq = queries->n;
	gt.k = k;
	gt.ids = xmalloc(sizeof(int32_t) * gt.nq * k);
	gt.dist = xmalloc(sizeof(float) * gt.nq * k);
	gt.matches = xmalloc(sizeof(int64_t) * gt.nq);
	for (int64_t q = 0; q < gt.nq; q++)
	{
		const char *values[1 + BENCH_MAX_PARAMS];
		int			nvalues = 1;
		int			n;
		PGresult   *r;

		format_vector(vec, &queries->data[q * queries->d], queries->d);
		values[0] = vec;
		if (params)
			nvalues += bind_params(params, q, values + 1);
		r = PQexecParams(c, sql, nvalues, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) < 2)
			die("query %lld: %s", (long long) q, PQresultStatus(r) == PGRES_TUPLES_OK ?
				"the statement must return the id and the rows matching" : PQerrorMessage(c));
		n = PQntuples(r) < k ? PQntuples(r) : k;
		for (int i = 0; i < n; i++)
		{
			int64_t		id = atoll(PQgetvalue(r, i, 0));

			if (id < 0 || id >= base->n)
				die("query %lld: row %lld is not among the %lld base vectors (the table has rows --limit leaves out?)",
					(long long) q, (long long) id, (long long) base->n);
			h[i].id = (int32_t) id;
			h[i].dist = exact_distance(metric, &queries->data[q * queries->d],
									   &base->data[id * base->d], base->d);
			if (isnan(h[i].dist))
				h[i].dist = INFINITY;
		}
		qsort(h, n, sizeof(Hit), cmp_hit);
		for (int i = 0; i < k; i++)
		{
			gt.ids[q * k + i] = i < n ? h[i].id : -1;
			gt.dist[q * k + i] = i < n ? (float) h[i].dist : INFINITY;
		}
		gt.matches[q] = n > 0 ? atoll(PQgetvalue(r, 0, 1)) : 0;
		PQclear(r);
	}
	free(vec);
	free(h);
	PQfinish(c);
	return gt;
}
