/*
 * soak.c
 *	  fannbench soak: the clients of bench/run soak.  --clients threads, each
 *	  with a connection of its own, insert, delete and query the table
 *	  soak (id bigserial, embedding real[], labels int4[], tenant uuid) until
 *	  --seconds have passed, reconnecting whenever the server goes away (the
 *	  driver shuts it down mid-run), and check every query they make:
 *
 *	  - in one REPEATABLE READ snapshot, the index's answer (fann.strategy
 *		auto, graph, ivf or exact, at random) and a sequential scan's: the
 *		index's is never shorter ("short"), its distances never decrease
 *		("misordered"), the j-th nearest of its rows is never nearer than
 *		the scan's j-th ("wrong": a row that does not match or is not
 *		visible), and on the exact path the distances are the scan's
 *		("wrong");
 *	  - recall@10 against the scan, per path.
 *
 *	  What the server acknowledged goes to --log PREFIX.THREAD, a line per
 *	  row, written before the next request: "i ID" an inserted row, "x ID" a
 *	  row about to be deleted, "d ID" a deleted one.  The driver checks that
 *	  every row inserted and never named for deletion is in the table and
 *	  every deleted one is not.  Client 0 also runs VACUUM every 30 seconds.
 *
 *	  With --load N, one client inserts N rows and stops: the table's first
 *	  rows.  The last line of output counts what was done: name=value pairs.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "bench.h"

#define SOAK_K				10
#define SOAK_CLUSTERS		16
#define SOAK_TENANTS		8
#define SOAK_LABELS			12
#define SOAK_VACUUM_EVERY	30.0	/* seconds */
#define SOAK_MAX_BATCH		8		/* rows an insert or delete takes */

static const char *const paths[] = {"auto", "graph", "ivf", "exact"};
#define NPATHS 4

/* The filter shapes; $2 and $3 their values */
static const char *const shapes[] = {
	"true",
	"tenant = $2::uuid",
	"labels @> $2::int4[]",
	"labels && $2::int4[]",
	"tenant = $2::uuid AND labels @> $3::int4[]",
};
#define NSHAPES 5

typedef struct SoakCounts
{
	int64_t		inserted;
	int64_t		deleted;
	int64_t		queries[NPATHS];
	double		recall[NPATHS];		/* sums */
	int64_t		vacuums;
	int64_t		interrupted;	/* requests cut off by the server going away */
	int64_t		reconnects;
	int64_t		retried;		/* deadlocks and serialization failures */
	int64_t		short_answers;
	int64_t		misordered;
	int64_t		wrong;
	int64_t		errors;			/* any other error */
} SoakCounts;

typedef struct SoakClient
{
	int			id;
	const char *conninfo;
	const char *log;
	int			dim;
	double		deadline;
	int64_t		load;			/* > 0: insert this many rows, nothing else */
	uint64_t	rng;
	PGconn	   *conn;
	FILE	   *acked;
	SoakCounts	n;
} SoakClient;

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	stopping = 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
running(SoakClient *c)
{
	return !stopping && now() < c->deadline;
}

/*
 * A row's vector: one of SOAK_CLUSTERS fixed centres in [-1, 1]^dim, plus
 * noise, so that the partitions and the graph see clustered data
 */
static void
draw_vector(SoakClient *c, char *out)
{
	float		v[1024];
	uint64_t	centre = 1 + (rng_next(&c->rng) % SOAK_CLUSTERS) * 7919;

	for (int j = 0; j < c->dim; j++)
	{
		uint64_t	s = centre * 104729 + j;

		v[j] = (float) (2.0 * rng_uniform(&s) - 1.0 + 0.35 * (rng_uniform(&c->rng) - 0.5));
	}
	format_vector(out, v, c->dim);
}

/* A tenant, skewed: tenant 1 has about a third of the rows */
static void
draw_tenant(SoakClient *c, char *out)
{
	double		u = rng_uniform(&c->rng);

	sprintf(out, "00000000-0000-0000-0000-%012d", 1 + (int) (SOAK_TENANTS * u * u));
}

/* n distinct labels, skewed towards the small ones, as an int4[] literal */
static void
draw_labels(SoakClient *c, int n, char *out)
{
	int			got[SOAK_LABELS];
	int			len = 0;

	out += sprintf(out, "{");
	while (len < n)
	{
		double		u = rng_uniform(&c->rng);
		int			l = (int) (SOAK_LABELS * u * u);
		int			dup = 0;

		for (int i = 0; i < len; i++)
			dup |= got[i] == l;
		if (dup)
			continue;
		out += sprintf(out, "%s%d", len ? "," : "", l);
		got[len++] = l;
	}
	sprintf(out, "}");
}

/*
 * What a failed request means.  The server going away (or not yet back)
 * drops the connection; deadlocks and serialization failures are retried;
 * anything else is an error of the test.
 */
static void
failed(SoakClient *c, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(c->conn) != CONNECTION_OK || state == NULL ||
		strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
	{
		c->n.interrupted++;
		PQfinish(c->conn);
		c->conn = NULL;
	}
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		c->n.retried++;
	else
	{
		if (c->n.errors++ < 10)
			fprintf(stderr, "soak client %d: %s: %s", c->id, what, PQerrorMessage(c->conn));
	}
	if (c->conn)
		PQclear(PQexec(c->conn, "ROLLBACK"));
}

/* Run a statement; the result when it returned what was expected, else NULL */
static PGresult *
run(SoakClient *c, const char *sql, int nparams, const char *const *params,
	ExecStatusType expect)
{
	PGresult   *r = PQexecParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) == expect)
		return r;
	failed(c, r, sql);
	PQclear(r);
	return NULL;
}

static int
command(SoakClient *c, const char *sql)
{
	PGresult   *r = run(c, sql, 0, NULL, PGRES_COMMAND_OK);

	PQclear(r);
	return r != NULL;
}

/* Log the ids in column 0 of r as "tag id" lines, on disk before we go on */
static void
log_ids(SoakClient *c, PGresult *r, char tag)
{
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(c->acked, "%c %s\n", tag, PQgetvalue(r, i, 0));
	fflush(c->acked);
}

static void
insert_rows(SoakClient *c, int n)
{
	size_t		cap = n * (c->dim * 16 + 128) + 128;
	char	   *sql = xmalloc(cap);
	char	   *p = sql;
	char		vec[1024 * 16],
				labels[64],
				tenant[40];
	PGresult   *r;

	p += sprintf(p, "INSERT INTO soak (embedding, labels, tenant) VALUES ");
	for (int i = 0; i < n; i++)
	{
		draw_vector(c, vec);
		draw_labels(c, 1 + rng_next(&c->rng) % 3, labels);
		draw_tenant(c, tenant);
		p += sprintf(p, "%s('%s', '%s', '%s')", i ? ", " : "", vec, labels, tenant);
	}
	sprintf(p, " RETURNING id");
	r = run(c, sql, 0, NULL, PGRES_TUPLES_OK);
	if (r)
	{
		log_ids(c, r, 'i');
		c->n.inserted += PQntuples(r);
		PQclear(r);
	}
	free(sql);
}

/*
 * Delete a run of up to SOAK_MAX_BATCH rows from a random point of the id
 * range; their ids are logged before the DELETE is sent, so that a row whose
 * delete committed unacknowledged is not taken for a lost one
 */
static void
delete_rows(SoakClient *c)
{
	char		u[32],
				n[16],
				ids[SOAK_MAX_BATCH * 24 + 4];
	const char *params[2] = {u, n};
	const char *del[1] = {ids};
	PGresult   *r;
	char	   *p = ids;

	snprintf(u, sizeof(u), "%.6f", rng_uniform(&c->rng));
	snprintf(n, sizeof(n), "%d", (int) (1 + rng_next(&c->rng) % SOAK_MAX_BATCH));
	r = run(c, "SELECT id FROM soak WHERE id >= (SELECT $1::float8 * max(id) FROM soak) "
			"ORDER BY id LIMIT $2::int", 2, params, PGRES_TUPLES_OK);
	if (r == NULL)
		return;
	log_ids(c, r, 'x');
	p += sprintf(p, "{");
	for (int i = 0; i < PQntuples(r); i++)
		p += sprintf(p, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
	sprintf(p, "}");
	PQclear(r);
	r = run(c, "DELETE FROM soak WHERE id = ANY ($1::int8[]) RETURNING id", 1, del, PGRES_TUPLES_OK);
	if (r)
	{
		log_ids(c, r, 'd');
		c->n.deleted += PQntuples(r);
		PQclear(r);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * A wrong or misordered answer: both answers, and the index's rows as the snapshot sees
 * them (the query's transaction is still open)
 */
static void
report_wrong(SoakClient *c, const char *path, const char *shape, PGresult *idx,
			 PGresult *seq, int nparams, const char **params)
{
	char		sql[512],
				ids[SOAK_K * 24 + 4],
			   *p = ids;
	PGresult   *r;

	fprintf(stderr, "soak client %d: a wrong or misordered answer on the %s path, WHERE %s ($2 %s, $3 %s)\n",
			c->id, path, shape, nparams > 1 ? params[1] : "-", nparams > 2 ? params[2] : "-");
	p += sprintf(p, "{");
	for (int j = 0; j < PQntuples(idx) || j < PQntuples(seq); j++)
	{
		fprintf(stderr, "  %2d  index %s %s  scan %s %s\n", j,
				j < PQntuples(idx) ? PQgetvalue(idx, j, 0) : "-", j < PQntuples(idx) ? PQgetvalue(idx, j, 1) : "",
				j < PQntuples(seq) ? PQgetvalue(seq, j, 0) : "-", j < PQntuples(seq) ? PQgetvalue(seq, j, 1) : "");
		if (j < PQntuples(idx))
			p += sprintf(p, "%s%s", j ? "," : "", PQgetvalue(idx, j, 0));
	}
	sprintf(p, "}");
	r = run(c, "SELECT f::text FROM fann_last_scan() f", 0, NULL, PGRES_TUPLES_OK);
	if (r)
		fprintf(stderr, "  the index scan: %s\n", PQgetvalue(r, 0, 0));
	PQclear(r);
	params[nparams] = ids;
	snprintf(sql, sizeof(sql), "SELECT id, ctid, xmin, xmax, tenant, labels, %s FROM soak "
			 "WHERE id = ANY ($%d::int8[]) AND $1::real[] IS NOT NULL", shape, nparams + 1);
	r = run(c, sql, nparams + 1, params, PGRES_TUPLES_OK);
	for (int i = 0; r && i < PQntuples(r); i++)
		fprintf(stderr, "  row %s at %s xmin %s xmax %s tenant %s labels %s matches %s\n",
				PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
				PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6));
	PQclear(r);
}

/*
 * One query on one path, checked against a sequential scan in the same
 * snapshot
 */
static void
query(SoakClient *c)
{
	int			path = rng_next(&c->rng) % NPATHS;
	int			shape = rng_next(&c->rng) % NSHAPES;
	char		vec[1024 * 16],
				a[64],
				b[64],
				sql[512],
				set[128];
	const char *params[4] = {vec, a, b, NULL};
	int			nparams = 1;
	PGresult   *idx = NULL,
			   *seq = NULL;
	int			ni,
				ns,
				hits = 0;
	bool		wrong,
				misordered = false;
	double		d[SOAK_K];

	draw_vector(c, vec);
	if (shape == 1 || shape == 4)
		draw_tenant(c, a);
	else if (shape == 2 || shape == 3)
		draw_labels(c, 1 + rng_next(&c->rng) % 2, a);
	if (shape == 4)
		draw_labels(c, 1, b);
	nparams += shape == 0 ? 0 : shape == 4 ? 2 : 1;
	snprintf(sql, sizeof(sql), "SELECT id, embedding <-> $1::real[] FROM soak WHERE %s "
			 "ORDER BY embedding <-> $1::real[] LIMIT %d", shapes[shape], SOAK_K);
	snprintf(set, sizeof(set), "SET LOCAL fann.strategy = %s", paths[path]);
	if (!command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ") ||
		!command(c, "SET LOCAL enable_seqscan = off") || !command(c, set) ||
		(idx = run(c, sql, nparams, params, PGRES_TUPLES_OK)) == NULL ||
		!command(c, "SET LOCAL enable_seqscan = on") ||
		!command(c, "SET LOCAL enable_indexscan = off") ||
		(seq = run(c, sql, nparams, params, PGRES_TUPLES_OK)) == NULL)
	{
		PQclear(idx);
		PQclear(seq);
		return;
	}
	ni = PQntuples(idx);
	ns = PQntuples(seq);
	c->n.short_answers += ni < ns;
	wrong = ni > ns;
	for (int j = 0; j < ni; j++)
	{
		d[j] = atof(PQgetvalue(idx, j, 1));
		misordered |= j > 0 && d[j] < d[j - 1];
		/* the exact path's distances are the scan's, tie for tie */
		wrong |= strcmp(paths[path], "exact") == 0 && j < ns &&
			strcmp(PQgetvalue(idx, j, 1), PQgetvalue(seq, j, 1)) != 0;
		for (int s = 0; s < ns; s++)
			hits += strcmp(PQgetvalue(idx, j, 0), PQgetvalue(seq, s, 0)) == 0;
	}

	/*
	 * Any path: the j-th nearest of the rows returned is no nearer than the
	 * j-th nearest matching row, or a row returned does not match or is not
	 * visible
	 */
	qsort(d, ni, sizeof(double), cmp_double);
	for (int j = 0; j < ni && j < ns; j++)
		wrong |= d[j] < atof(PQgetvalue(seq, j, 1));
	c->n.misordered += misordered;
	c->n.wrong += wrong;
	if ((wrong || misordered) && c->n.wrong + c->n.misordered <= 10)
		report_wrong(c, paths[path], shapes[shape], idx, seq, nparams, params);
	if (command(c, "COMMIT"))
	{
		c->n.queries[path]++;
		c->n.recall[path] += ns ? (double) hits / ns : 1.0;
	}
	PQclear(idx);
	PQclear(seq);
}

static void *
client_main(void *arg)
{
	SoakClient *c = arg;
	double		next_vacuum = now() + SOAK_VACUUM_EVERY;

	while (running(c))
	{
		double		u;

		if (c->conn == NULL)
		{
			c->conn = PQconnectdb(c->conninfo);
			if (PQstatus(c->conn) != CONNECTION_OK)
			{
				PQfinish(c->conn);
				c->conn = NULL;
				usleep(200 * 1000);
				continue;
			}
			c->n.reconnects++;
		}
		if (c->load > 0)
		{
			if (c->n.inserted >= c->load)
				break;
			insert_rows(c, c->load - c->n.inserted < 500 ? c->load - c->n.inserted : 500);
			continue;
		}
		u = rng_uniform(&c->rng);
		if (c->id == 0 && now() >= next_vacuum)
		{
			next_vacuum = now() + SOAK_VACUUM_EVERY;
			c->n.vacuums += command(c, "VACUUM soak");
		}
		else if (u < 0.25)
			insert_rows(c, 1 + rng_next(&c->rng) % SOAK_MAX_BATCH);
		else if (u < 0.5)
			delete_rows(c);
		else
			query(c);
	}
	PQfinish(c->conn);
	return NULL;
}

int
run_soak(const char *conninfo, const char *log, int nclients, int dim, double seconds,
		 int64_t load, uint64_t seed)
{
	SoakClient *cs = calloc(nclients, sizeof(SoakClient));
	pthread_t  *th = calloc(nclients, sizeof(pthread_t));
	SoakCounts	t = {0};
	char		path[1024];

	if (dim < 1 || dim > 1024)
		die("soak: --dim must be 1 to 1024");
	if (load > 0)
		nclients = 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = 0; i < nclients; i++)
	{
		SoakClient *c = &cs[i];

		c->id = i;
		c->conninfo = conninfo;
		c->dim = dim;
		c->deadline = now() + seconds;
		c->load = load;
		c->rng = seed * 1000003 + i + 1;
		snprintf(path, sizeof(path), "%s.%d", log, i);
		if ((c->acked = fopen(path, "a")) == NULL)
			die("soak: cannot write %s", path);
		if (pthread_create(&th[i], NULL, client_main, c) != 0)
			die("soak: cannot start a client thread");
	}
	for (int i = 0; i < nclients; i++)
	{
		SoakCounts *n = &cs[i].n;

		pthread_join(th[i], NULL);
		fclose(cs[i].acked);
		t.inserted += n->inserted;
		t.deleted += n->deleted;
		for (int p = 0; p < NPATHS; p++)
		{
			t.queries[p] += n->queries[p];
			t.recall[p] += n->recall[p];
		}
		t.vacuums += n->vacuums;
		t.interrupted += n->interrupted;
		t.reconnects += n->reconnects;
		t.retried += n->retried;
		t.short_answers += n->short_answers;
		t.misordered += n->misordered;
		t.wrong += n->wrong;
		t.errors += n->errors;
	}
	printf("inserted=%lld deleted=%lld", (long long) t.inserted, (long long) t.deleted);
	for (int p = 0; p < NPATHS; p++)
		printf(" queries_%s=%lld recall_%s=%.4f", paths[p], (long long) t.queries[p], paths[p],
			   t.queries[p] ? t.recall[p] / t.queries[p] : 0.0);
	printf(" vacuums=%lld interrupted=%lld reconnects=%lld retried=%lld short=%lld "
		   "misordered=%lld wrong=%lld errors=%lld\n",
		   (long long) t.vacuums, (long long) t.interrupted, (long long) t.reconnects,
		   (long long) t.retried, (long long) t.short_answers, (long long) t.misordered,
		   (long long) t.wrong, (long long) t.errors);
	free(cs);
	free(th);
	return t.short_answers || t.misordered || t.wrong || t.errors;
}
