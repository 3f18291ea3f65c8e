/*
 * sweep.c
 *	  Running a query set through libpq, with N clients, and scoring it
 *	  against the ground truth: recall@k, QPS, latency percentiles and short
 *	  answers, overall and split by filter selectivity.  The statement is one
 *	  of the label filter types, or any given one with per-query parameters;
 *	  optionally each query's plan, condensed, is recorded too.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "bench.h"

typedef struct Worker
{
	const SweepOptions *opt;
	const char *setting;
	const Vectors *queries;
	const LabelSets *ql;
	int			index;			/* this worker takes queries index, index+clients, ... */
	double	   *latency_ms;		/* per query */
	int32_t    *found;			/* per query, k ids */
	int		   *nfound;
	double	   *work;			/* per query: distance computations and */
	double	   *probes;			/* partitions probed, from fann_last_scan() */
	char	  **plan;			/* per query, with --plans: its plan, condensed, */
	double	   *groups;			/* and a fann scan's groups_matched and */
	double	   *matching;		/* rows_matching (-1: none) */
	double		busy_ms;		/* time in timed queries */
	char		error[512];
} Worker;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *
operator_of(Metric m)
{
	return m == METRIC_L2 ? "<->" : m == METRIC_IP ? "<#>" : "<=>";
}

/* The label predicate, the query's labels (int4[]) cast to the column's type */
static const char *
predicate_of(QueryType t, const char *label_type, char *buf, size_t len)
{
	const char *op = t == QUERY_EQUALITY ? "=" : t == QUERY_CONTAINMENT ? "@>" : "&&";

	if (t != QUERY_EQUALITY && t != QUERY_CONTAINMENT && t != QUERY_OVERLAP)
		return "";
	snprintf(buf, len, "WHERE labels %s $2::int4[]%s%s%s ", op,
			 label_type ? "::" : "", label_type ? label_type : "", label_type ? "[]" : "");
	return buf;
}

/* "a=b,c=d" -> SET a = 'b'; SET c = 'd' */
int
apply_setting(PGconn *c, const char *setting, char *error, size_t errlen)
{
	char	   *copy = strdup(setting);
	char	   *save = NULL;

	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
	{
		char	   *eq = strchr(kv, '=');
		const char *params[2];
		PGresult   *r;

		if (eq == NULL)
		{
			snprintf(error, errlen, "setting \"%s\" is not name=value", kv);
			free(copy);
			return 0;
		}
		*eq = '\0';
		params[0] = kv;
		params[1] = eq + 1;
		r = PQexecParams(c, "SELECT set_config($1, $2, false)", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			snprintf(error, errlen, "%s", PQerrorMessage(c));
			PQclear(r);
			free(copy);
			return 0;
		}
		PQclear(r);
	}
	free(copy);
	return 1;
}

void
format_vector(char *out, const float *v, int d)
{
	char	   *p = out;

	*p++ = '{';
	for (int i = 0; i < d; i++)
		p += sprintf(p, i ? ",%.9g" : "%.9g", v[i]);
	*p++ = '}';
	*p = '\0';
}

static void
format_labels(char *out, const LabelSets *ql, int64_t q)
{
	char	   *p = out;

	*p++ = '{';
	for (int64_t j = ql->start[q]; j < ql->start[q + 1]; j++)
		p += sprintf(p, j > ql->start[q] ? ",%d" : "%d", ql->labels[j]);
	*p++ = '}';
	*p = '\0';
}

/* Query q's parameters into out ($2, $3, ...); how many */
int
bind_params(const QueryParams *p, int64_t q, const char **out)
{
	for (int j = 0; j < p->count[q]; j++)
		out[j] = p->value[q * BENCH_MAX_PARAMS + j];
	return p->count[q];
}

/*
 * One query's plan, condensed from EXPLAIN: its nodes top down, Limit and
 * bitmap heap scans left out ("sort > bitmap:t_tenant_id"), an index scan
 * by its index's name, a fann index's (one in fann_list, ",a,b,") with the
 * path fann_last_scan() gave, and "+filter" when a condition is checked on
 * the rows instead of in an index
 */
static char *
plan_signature(PGconn *c, const char *sql, int nparams, const char *const *params,
			   const char *fann_list, const char *path)
{
	char	   *explain = xmalloc(strlen(sql) + 32);
	char		out[1024] = "";
	size_t		len = 0;
	int			filter = 0;
	PGresult   *r;

	sprintf(explain, "EXPLAIN (COSTS OFF) %s", sql);
	r = PQexecParams(c, explain, nparams, NULL, params, NULL, NULL, 0);
	free(explain);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		PQclear(r);
		return strdup("explain failed");
	}
	for (int i = 0; i < PQntuples(r); i++)
	{
		const char *line = PQgetvalue(r, i, 0);
		const char *arrow = strstr(line, "->  ");
		char		name[256],
					key[260],
					node[300];

		while (*line == ' ')
			line++;
		if (arrow)
			line = arrow + 4;
		else if (i > 0)
		{
			/* a detail line of the node above */
			filter |= strncmp(line, "Filter:", 7) == 0;
			continue;
		}
		if (strncmp(line, "Limit", 5) == 0 || strncmp(line, "Bitmap Heap Scan", 16) == 0)
			continue;
		if (sscanf(line, "Index Scan using %255s", name) == 1 ||
			sscanf(line, "Index Only Scan using %255s", name) == 1)
		{
			snprintf(key, sizeof(key), ",%s,", name);
			if (strstr(fann_list, key))
				snprintf(node, sizeof(node), "%s[%s]", name, path ? path : "?");
			else
				snprintf(node, sizeof(node), "%s", name);
		}
		else if (sscanf(line, "Bitmap Index Scan on %255s", name) == 1)
			snprintf(node, sizeof(node), "bitmap:%s", name);
		else
		{
			/* the node's name: "Seq Scan on t" -> seq-scan, "Sort" -> sort */
			size_t		n = strcspn(line, "(");
			const char *on = strstr(line, " on ");

			if (on && (size_t) (on - line) < n)
				n = on - line;
			while (n > 0 && line[n - 1] == ' ')
				n--;
			snprintf(node, sizeof(node), "%.*s", (int) n, line);
			for (char *p = node; *p; p++)
				*p = *p == ' ' ? '-' : (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p;
		}
		len += snprintf(out + len, sizeof(out) - len, "%s%s", len ? " > " : "", node);
		if (len >= sizeof(out))
			len = sizeof(out) - 1;
	}
	if (filter)
		snprintf(out + len, sizeof(out) - len, " +filter");
	PQclear(r);
	return strdup(out);
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	const SweepOptions *opt = w->opt;
	PGconn	   *c = PQconnectdb(opt->conninfo ? opt->conninfo : "");
	char	   *ident;
	char		sql[1024];
	const char *stmt = sql;
	char		pred[128];
	char	   *vec = xmalloc((size_t) w->queries->d * 20 + 16);
	char	   *labels = NULL;
	char	   *fann_list = NULL;
	int64_t		warm = 0;

	if (PQstatus(c) != CONNECTION_OK)
	{
		snprintf(w->error, sizeof(w->error), "connection failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	if (!apply_setting(c, w->setting, w->error, sizeof(w->error)))
	{
		PQfinish(c);
		return NULL;
	}
	ident = PQescapeIdentifier(c, opt->table, strlen(opt->table));
	/* the query vector as real[], cast to the column's type (pgvector's) */
	snprintf(sql, sizeof(sql), "SELECT id FROM %s %sORDER BY embedding %s $1::real[]%s%s LIMIT %d",
			 ident, predicate_of(opt->type, opt->label_type, pred, sizeof(pred)), operator_of(opt->metric),
			 opt->vector_type ? "::" : "", opt->vector_type ? opt->vector_type : "", opt->k);
	PQfreemem(ident);
	if (opt->sql)
		stmt = opt->sql;
	if (w->ql && !opt->params)
		labels = xmalloc(16 * (size_t) (w->ql->start[w->ql->n] + 1) + 16);
	if (opt->plans)
	{
		/* the names of fann indexes, to tell their scans in a plan */
		PGresult   *r = PQexec(c, "SELECT ',' || coalesce(string_agg(quote_ident(c.relname), ','), '') || ',' "
							   "FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'fann'");

		fann_list = strdup(PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : ",");
		PQclear(r);
	}

	/* a warm-up pass over some queries first, untimed */
	for (int64_t pass = 0; pass < 2; pass++)
	{
		for (int64_t q = w->index; q < w->queries->n; q += opt->clients)
		{
			const char *params[1 + BENCH_MAX_PARAMS];
			int			nparams = 1;
			PGresult   *r;
			double		t0;

			if (pass == 0 && warm++ >= opt->warmup)
				break;
			format_vector(vec, &w->queries->data[q * w->queries->d], w->queries->d);
			params[0] = vec;
			if (opt->params)
				nparams += bind_params(opt->params, q, params + 1);
			else if (opt->type != QUERY_NONE)
			{
				format_labels(labels, w->ql, q);
				params[nparams++] = labels;
			}
			t0 = now_ms();
			r = PQexecParams(c, stmt, nparams, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK)
			{
				snprintf(w->error, sizeof(w->error), "%s", PQerrorMessage(c));
				PQclear(r);
				break;
			}
			if (pass == 1)
			{
				w->latency_ms[q] = now_ms() - t0;
				w->busy_ms += w->latency_ms[q];
				w->nfound[q] = PQntuples(r) < opt->k ? PQntuples(r) : opt->k;
				for (int i = 0; i < w->nfound[q]; i++)
					w->found[q * opt->k + i] = atoi(PQgetvalue(r, i, 0));
				PQclear(r);
				/* the index's own counters, untimed (none after a sequential scan) */
				r = PQexec(c, "SELECT distance_computations, partitions_probed, path, "
						   "coalesce(groups_matched, -1), coalesce(rows_matching, -1) FROM fann_last_scan()");
				if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
				{
					w->work[q] = atof(PQgetvalue(r, 0, 0));
					w->probes[q] = atof(PQgetvalue(r, 0, 1));
				}
				if (opt->plans)
				{
					int			scanned = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
						!PQgetisnull(r, 0, 2);

					w->plan[q] = plan_signature(c, stmt, nparams, params, fann_list,
												scanned ? PQgetvalue(r, 0, 2) : NULL);
					/* a fann scan's counts, if this query's plan had one */
					if (scanned && strchr(w->plan[q], '['))
					{
						w->groups[q] = atof(PQgetvalue(r, 0, 3));
						w->matching[q] = atof(PQgetvalue(r, 0, 4));
					}
				}
			}
			PQclear(r);
		}
		if (w->error[0])
			break;
	}
	free(vec);
	free(labels);
	free(fann_list);
	PQfinish(c);
	return NULL;
}

/* Nearest-rank percentile of sorted values */
static double
percentile(const double *sorted, int64_t n, double p)
{
	int64_t		rank = (int64_t) ceil(p * n);

	return sorted[rank < 1 ? 0 : rank - 1];
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * Selectivity buckets: fraction of rows the filter matches; the last one
 * spans two others (the design's "filters matching at least 5 %")
 */
static const char *bucket_names[] = {"all", "<0.1%", "0.1-1%", "1-5%", "5-10%", ">=10%", ">=5%"};
#define BUCKET_AT_LEAST_5	6

static int
bucket_of(double s)
{
	return s < 0.001 ? 1 : s < 0.01 ? 2 : s < 0.05 ? 3 : s < 0.1 ? 4 : 5;
}

/* Score query q: recall@k by distance (ties count), and whether it was short */
static double
score(const SweepOptions *opt, const Vectors *base, const Vectors *queries,
	  const GroundTruth *gt, int64_t q, const int32_t *found, int nfound,
	  int *is_short)
{
	int64_t		want = gt->matches[q] < opt->k ? gt->matches[q] : opt->k;
	double		kth;
	int			hits = 0;

	*is_short = nfound < want;
	if (want == 0)
		return 1.0;
	kth = gt->dist[q * gt->k + want - 1];
	for (int i = 0; i < nfound; i++)
	{
		int			dup = 0;
		double		d;

		if (found[i] < 0 || found[i] >= base->n)
			continue;
		for (int j = 0; j < i; j++)
			dup |= found[j] == found[i];
		d = exact_distance(opt->metric, &queries->data[q * queries->d],
						   &base->data[(int64_t) found[i] * base->d], base->d);
		if (!dup && (float) d <= kth + 1e-6 * fmax(1.0, fabs(kth)))
			hits++;
	}
	return (double) (hits < want ? hits : want) / want;
}

/* One query's plan and its score, for write_plans */
typedef struct PlanRow
{
	const char *plan;
	double		recall;
	int			is_short;
	double		groups;
	double		matching;
} PlanRow;

static int
cmp_plan_row(const void *a, const void *b)
{
	return strcmp(((const PlanRow *) a)->plan, ((const PlanRow *) b)->plan);
}

/* Into buf, the mean of the values >= 0 among n, or "" when none is */
static void
mean_of_known(const PlanRow *rows, int64_t n, int matching, char *buf, size_t len)
{
	double		sum = 0;
	int64_t		m = 0;

	for (int64_t i = 0; i < n; i++)
	{
		double		x = matching ? rows[i].matching : rows[i].groups;

		if (x >= 0)
		{
			sum += x;
			m++;
		}
	}
	if (m == 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%.1f", sum / m);
}

/*
 * The queries grouped by plan: per plan the queries, their recall, short
 * answers and a fann scan's mean groups_matched and rows_matching, printed
 * and appended to the --plans CSV
 */
static void
write_plans(const SweepOptions *opt, const char *setting, const char *csv_setting,
			PlanRow *rows, int64_t nq)
{
	int			header = access(opt->plans, F_OK) != 0;
	FILE	   *f = fopen(opt->plans, "a");
	const char *name = opt->shape ? opt->shape : query_type_name(opt->type);

	if (f == NULL)
		die("cannot write %s", opt->plans);
	if (header)
		fprintf(f, "dataset,config,setting,query_type,plan,queries,recall,short,groups_matched,rows_matching\n");
	qsort(rows, nq, sizeof(PlanRow), cmp_plan_row);
	for (int64_t i = 0, j; i < nq; i = j)
	{
		double		recall = 0;
		int64_t		nshort = 0;
		char		g[32],
					m[32];

		for (j = i; j < nq && strcmp(rows[j].plan, rows[i].plan) == 0; j++)
		{
			recall += rows[j].recall;
			nshort += rows[j].is_short;
		}
		mean_of_known(rows + i, j - i, 0, g, sizeof(g));
		mean_of_known(rows + i, j - i, 1, m, sizeof(m));
		printf("%-12s %-28s %-11s plan %s: n=%lld recall=%.4f short=%lld%s%s\n",
			   opt->config, setting, name, rows[i].plan, (long long) (j - i),
			   recall / (j - i), (long long) nshort, g[0] ? " groups_matched=" : "", g);
		fprintf(f, "%s,%s,%s,%s,%s,%lld,%.5f,%lld,%s,%s\n", opt->dataset, opt->config,
				csv_setting, name, rows[i].plan, (long long) (j - i), recall / (j - i),
				(long long) nshort, g, m);
	}
	fclose(f);
}

int
run_sweep(const SweepOptions *opt, const Vectors *base, const Vectors *queries,
		  const LabelSets *ql, const GroundTruth *gt, const char *setting)
{
	int64_t		nq = queries->n;
	Worker	   *workers = calloc(opt->clients, sizeof(Worker));
	pthread_t  *threads = xmalloc(sizeof(pthread_t) * opt->clients);
	double	   *latency = calloc(nq, sizeof(double));
	int32_t    *found = xmalloc(sizeof(int32_t) * nq * opt->k);
	int		   *nfound = calloc(nq, sizeof(int));
	double	   *work = calloc(nq, sizeof(double));
	double	   *probes = calloc(nq, sizeof(double));
	char	  **plan = calloc(nq, sizeof(char *));
	double	   *groups = xmalloc(sizeof(double) * nq);
	double	   *matching = xmalloc(sizeof(double) * nq);
	const char *name = opt->shape ? opt->shape : query_type_name(opt->type);
	double		wall;
	FILE	   *csv;
	char	   *csv_setting;
	int			header;

	if (gt->nq != nq || gt->k < opt->k)
		die("ground truth has %lld queries with k=%d, need %lld with k>=%d",
			(long long) gt->nq, gt->k, (long long) nq, opt->k);
	for (int64_t q = 0; q < nq; q++)
		groups[q] = matching[q] = -1;
	for (int i = 0; i < opt->clients; i++)
	{
		workers[i] = (Worker) {opt, setting, queries, ql, i, latency, found, nfound, work,
		probes, plan, groups, matching, 0, ""};
		pthread_create(&threads[i], NULL, worker_main, &workers[i]);
	}
	for (int i = 0; i < opt->clients; i++)
		pthread_join(threads[i], NULL);
	/* the clients' throughput: the busiest client's time in timed queries */
	wall = 0;
	for (int i = 0; i < opt->clients; i++)
	{
		if (workers[i].error[0])
		{
			fprintf(stderr, "fannbench: %s [%s]: %s", opt->config, setting, workers[i].error);
			return 1;
		}
		wall = workers[i].busy_ms > wall ? workers[i].busy_ms : wall;
	}


	header = access(opt->csv, F_OK) != 0;
	if ((csv = fopen(opt->csv, "a")) == NULL)
		die("cannot write %s", opt->csv);
	/* the CSV separates fields with commas: settings use spaces there */
	csv_setting = strdup(setting);
	for (char *p = csv_setting; *p; p++)
		if (*p == ',')
			*p = ' ';
	if (header)
		fprintf(csv, "dataset,config,setting,query_type,clients,bucket,queries,recall,qps,"
				"mean_ms,p50_ms,p99_ms,short,build_s,index_mb,distance_computations,partitions_probed\n");

	for (int b = 0; b < (int) (sizeof(bucket_names) / sizeof(bucket_names[0])); b++)
	{
		double	   *lat = xmalloc(sizeof(double) * nq);
		double		recall = 0,
					sum = 0,
					sum_work = 0,
					sum_probes = 0;
		int64_t		n = 0,
					nshort = 0;

		for (int64_t q = 0; q < nq; q++)
		{
			int			is_short;
			double		sel = (double) gt->matches[q] / base->n;

			if (b == BUCKET_AT_LEAST_5 ? sel < 0.05 : b > 0 && bucket_of(sel) != b)
				continue;
			recall += score(opt, base, queries, gt, q, &found[q * opt->k], nfound[q], &is_short);
			nshort += is_short;
			sum += latency[q];
			sum_work += work[q];
			sum_probes += probes[q];
			lat[n++] = latency[q];
		}
		if (n > 0)
		{
			/* per bucket, throughput from latencies; overall, from the busiest client */
			double		qps = b == 0 ? nq / (wall / 1e3) : n / (sum / 1e3) * opt->clients;

			qsort(lat, n, sizeof(double), cmp_double);
			printf("%-12s %-28s %-11s %2d clients %-7s n=%-5lld recall=%.4f qps=%9.1f "
				   "mean=%.3fms p50=%.3fms p99=%.3fms short=%lld dists=%.0f probes=%.1f\n",
				   opt->config, setting, name, opt->clients,
				   bucket_names[b], (long long) n, recall / n, qps, sum / n,
				   percentile(lat, n, 0.5), percentile(lat, n, 0.99), (long long) nshort,
				   sum_work / n, sum_probes / n);
			fprintf(csv, "%s,%s,%s,%s,%d,%s,%lld,%.5f,%.2f,%.4f,%.4f,%.4f,%lld,%s,%s,%.1f,%.2f\n",
					opt->dataset, opt->config, csv_setting, name,
					opt->clients, bucket_names[b], (long long) n, recall / n, qps,
					sum / n, percentile(lat, n, 0.5), percentile(lat, n, 0.99),
					(long long) nshort, opt->build_seconds, opt->index_bytes,
					sum_work / n, sum_probes / n);
		}
		free(lat);
	}
	fclose(csv);
	if (opt->plans)
	{
		PlanRow    *rows = xmalloc(sizeof(PlanRow) * nq);

		for (int64_t q = 0; q < nq; q++)
		{
			rows[q].plan = plan[q] ? plan[q] : "not run";
			rows[q].recall = score(opt, base, queries, gt, q, &found[q * opt->k], nfound[q],
								   &rows[q].is_short);
			rows[q].groups = groups[q];
			rows[q].matching = matching[q];
		}
		write_plans(opt, setting, csv_setting, rows, nq);
		free(rows);
	}
	for (int64_t q = 0; q < nq; q++)
		free(plan[q]);
	free(plan);
	free(groups);
	free(matching);
	free(csv_setting);
	free(workers);
	free(threads);
	free(latency);
	free(found);
	free(nfound);
	free(work);
	free(probes);
	return 0;
}
