/*
 * main.c
 *	  fannbench: the C half of bench/run.  Subcommands:
 *
 *	synth	--rows N --dim D [--seed S] [--model-seed M] --out F.fvecs
 *	load	--base F [--labels F] --table T [--limit N] [--conninfo C]
 *	labels	--dist zipf|uniform|poisson|multinomial|one --nlabels L
 *			(--rows N | --rows-of BASE [--limit N]) [--seed S] --out F
 *	queries --base-labels F --type T --nqueries Q --k K [--seed S] --out F
 *	gt		--base F [--base-labels F] --queries F [--query-labels F] --type T
 *			--k K --metric M [--limit N] [--nqueries Q] --out PREFIX
 *	gt-sql	--base F --queries F [--params F] --sql STATEMENT [--set S] --k K
 *			--metric M [--limit N] [--nqueries Q] [--conninfo C] --out PREFIX
 *	sweep	--base F --queries F [--query-labels F] --gt PREFIX --type T
 *			--table T --k K --metric M --config NAME --dataset NAME --csv F
 *			[--clients N] [--warmup W] [--limit N] [--nqueries Q]
 *			[--build-seconds S] [--index-mb M] [--conninfo C]
 *			[--vector-type vector] [--label-type text]
 *			[--sql STATEMENT [--params F] --shape NAME] [--plans F] --set S ...
 *	codes	--base F --queries F [--limit N] [--nqueries Q] --k K
 *			--codes sq8,rq4,...
 *	soak	--conninfo C --log PREFIX [--clients N] [--dim D] [--seconds S]
 *			[--load N] [--seed S]  (soak.c)
 *
 * A STATEMENT takes the query vector as $1 (text of a real[]) and a
 * --params file's values as $2, $3, ... (one line per query, tab-separated,
 * each in its type's text form); gt-sql's returns the ids of the nearest
 * rows and, as a second column, the rows its filter matches.
 *
 * Connections use libpq's defaults (PG* environment) unless --conninfo.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int	g_argc;
static char **g_argv;

static const char *
opt(const char *name, const char *dflt)
{
	for (int i = 2; i + 1 < g_argc; i++)
		if (strcmp(g_argv[i], name) == 0)
			return g_argv[i + 1];
	if (dflt == NULL)
		die("%s needs %s", g_argv[1], name);
	return *dflt ? dflt : NULL;
}

static long long
num(const char *name, const char *dflt)
{
	return atoll(opt(name, dflt));
}

/* A standard normal draw (Box-Muller) */
static double
rng_normal(uint64_t *rng)
{
	double		u = rng_uniform(rng),
				v = rng_uniform(rng);

	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/*
 * Clustered synthetic vectors with the low intrinsic dimension of real
 * embeddings: 64 Gaussian clusters in a 16-dimensional latent space, mapped
 * into --dim dimensions by a fixed random linear map, plus a little
 * isotropic noise.  --model-seed fixes the clusters and the map, --seed the
 * draws: base rows and queries share the model and differ in their draws.
 * Rows are written as they are drawn: any number fits in constant memory.
 */
static void
cmd_synth(void)
{
	uint64_t	model = num("--model-seed", "1");
	uint64_t	rng = num("--seed", "1") * 0x9E3779B97F4A7C15ULL + 1;
	int			nc = 64;
	int64_t		n = num("--rows", NULL);
	int			d = num("--dim", NULL);
	int			latent = d < 16 ? d : 16;
	const char *out = opt("--out", NULL);
	FILE	   *f = vec_write_open(out);
	float	   *row = xmalloc(sizeof(float) * d);
	float	   *centers;
	float	   *map;
	double	   *z;

	centers = xmalloc(sizeof(float) * nc * latent);
	map = xmalloc(sizeof(float) * latent * d);
	z = xmalloc(sizeof(double) * latent);
	for (int i = 0; i < nc * latent; i++)
		centers[i] = 2.0 * rng_uniform(&model) - 1.0;
	for (int i = 0; i < latent * d; i++)
		map[i] = rng_normal(&model) / sqrt(latent);
	for (int64_t i = 0; i < n; i++)
	{
		int			c = rng_next(&rng) % nc;

		for (int k = 0; k < latent; k++)
			z[k] = centers[c * latent + k] + 0.25 * rng_normal(&rng);
		for (int j = 0; j < d; j++)
		{
			double		x = 0.02 * rng_normal(&rng);

			for (int k = 0; k < latent; k++)
				x += z[k] * map[k * d + j];
			row[j] = (float) x;
		}
		vec_write_row(f, row, d);
	}
	vec_write_close(f, out);
	free(row);
	free(centers);
	free(map);
	free(z);
}

static void
cmd_load(void)
{
	int64_t		limit = num("--limit", "0");
	VecReader  *r = vec_open(opt("--base", NULL), limit);
	const char *lpath = opt("--labels", "");
	LabelSets	ls;
	int64_t		n;

	if (lpath)
		ls = read_labels(lpath, limit);
	n = load_table(opt("--conninfo", ""), opt("--table", NULL), r, lpath ? &ls : NULL);
	printf("loaded %lld vectors of %d dimensions into %s\n", (long long) n, r->d,
		   opt("--table", NULL));
	vec_close(r);
}

static void
cmd_labels(void)
{
	const char *base = opt("--rows-of", "");
	int64_t		rows;
	LabelSets	ls;

	if (base)
	{
		Vectors		v = read_vectors(base, num("--limit", "0"));

		rows = v.n;
		free(v.data);
	}
	else
		rows = num("--rows", NULL);
	ls = generate_base_labels(opt("--dist", NULL), num("--nlabels", NULL), rows,
							  num("--seed", "1"));
	write_labels(opt("--out", NULL), &ls);
	printf("labels: %s over %lld labels for %lld rows -> %s\n", opt("--dist", NULL),
		   num("--nlabels", NULL), (long long) rows, opt("--out", NULL));
}

static void
cmd_queries(void)
{
	LabelSets	base = read_labels(opt("--base-labels", NULL), 0);
	LabelSets	q = generate_query_labels(&base, parse_query_type(opt("--type", NULL)),
										  num("--nqueries", NULL), num("--k", NULL),
										  num("--seed", "1"));

	write_labels(opt("--out", NULL), &q);
}

/*
 * The query side: vectors and label sets or parameters, as many as
 * --nqueries says
 */
static void
read_queries(Vectors *q, LabelSets *ql, int *has_labels, QueryParams *qp, int *has_params)
{
	const char *path = opt("--query-labels", "");
	const char *ppath = opt("--params", "");

	*q = read_vectors(opt("--queries", NULL), num("--nqueries", "0"));
	*has_labels = path != NULL;
	if (path)
	{
		*ql = read_labels(path, q->n);
		if (ql->n < q->n)
			q->n = ql->n;
	}
	*has_params = ppath != NULL;
	if (ppath)
	{
		*qp = read_params(ppath, q->n);
		if (qp->n < q->n)
			q->n = qp->n;
	}
}

static void
cmd_gt(void)
{
	Vectors		base = read_vectors(opt("--base", NULL), num("--limit", "0"));
	const char *blpath = opt("--base-labels", "");
	LabelSets	bl,
				ql;
	Vectors		q;
	QueryParams qp;
	int			has_ql,
				has_qp;
	GroundTruth gt;

	if (blpath)
		bl = read_labels(blpath, base.n);
	read_queries(&q, &ql, &has_ql, &qp, &has_qp);
	gt = compute_gt(&base, blpath ? &bl : NULL, &q, has_ql ? &ql : NULL,
					parse_query_type(opt("--type", NULL)),
					parse_metric(opt("--metric", NULL)), num("--k", NULL));
	write_gt(opt("--out", NULL), &gt);
}

/* Ground truth from the server's answers (gt.c: compute_gt_sql) */
static void
cmd_gt_sql(void)
{
	Vectors		base = read_vectors(opt("--base", NULL), num("--limit", "0"));
	LabelSets	ql;
	Vectors		q;
	QueryParams qp;
	int			has_ql,
				has_qp;
	GroundTruth gt;

	read_queries(&q, &ql, &has_ql, &qp, &has_qp);
	gt = compute_gt_sql(opt("--conninfo", ""), opt("--sql", NULL), opt("--set", ""), &base,
						&q, has_qp ? &qp : NULL, parse_metric(opt("--metric", NULL)),
						num("--k", NULL));
	write_gt(opt("--out", NULL), &gt);
}

static int
cmd_sweep(void)
{
	SweepOptions o;
	Vectors		base = read_vectors(opt("--base", NULL), num("--limit", "0"));
	Vectors		q;
	LabelSets	ql;
	QueryParams qp;
	int			has_ql,
				has_qp;
	GroundTruth gt = read_gt(opt("--gt", NULL));
	int			status = 0;

	read_queries(&q, &ql, &has_ql, &qp, &has_qp);
	o.conninfo = opt("--conninfo", "");
	o.table = opt("--table", NULL);
	o.vector_type = opt("--vector-type", "");	/* NULL: real[] */
	o.label_type = opt("--label-type", "");	/* NULL: int4[] */
	o.sql = opt("--sql", "");	/* NULL: made from --type */
	o.params = has_qp ? &qp : NULL;
	o.shape = opt("--shape", "");
	o.plans = opt("--plans", "");
	o.dataset = opt("--dataset", NULL);
	o.config = opt("--config", NULL);
	o.csv = opt("--csv", NULL);
	o.build_seconds = opt("--build-seconds", "0");
	o.index_bytes = opt("--index-mb", "0");
	o.k = num("--k", NULL);
	o.clients = num("--clients", "1");
	o.warmup = num("--warmup", "50");
	o.metric = parse_metric(opt("--metric", NULL));
	o.type = parse_query_type(opt("--type", o.sql ? "none" : NULL));
	if (o.type != QUERY_NONE && !has_ql)
		die("a filtered sweep needs --query-labels");
	if (gt.nq > q.n)
		gt.nq = q.n;
	for (int i = 2; i + 1 < g_argc; i++)
		if (strcmp(g_argv[i], "--set") == 0)
			status |= run_sweep(&o, &base, &q, has_ql ? &ql : NULL, &gt, g_argv[i + 1]);
	return status;
}

static int
cmd_codes(void)
{
	Vectors		base = read_vectors(opt("--base", NULL), num("--limit", "0"));
	Vectors		q = read_vectors(opt("--queries", NULL), num("--nqueries", "100"));

	return codes_report(&base, &q, num("--k", NULL), opt("--codes", NULL));
}

static int
cmd_soak(void)
{
	return run_soak(opt("--conninfo", NULL), opt("--log", NULL), num("--clients", "8"),
					num("--dim", "24"), num("--seconds", "60"), num("--load", "0"), num("--seed", "1"));
}

int
main(int argc, char **argv)
{
	g_argc = argc;
	g_argv = argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: fannbench synth|load|labels|queries|gt|gt-sql|sweep|codes|soak [--option value ...]");
	if (strcmp(argv[1], "synth") == 0)
		cmd_synth();
	else if (strcmp(argv[1], "load") == 0)
		cmd_load();
	else if (strcmp(argv[1], "labels") == 0)
		cmd_labels();
	else if (strcmp(argv[1], "queries") == 0)
		cmd_queries();
	else if (strcmp(argv[1], "gt") == 0)
		cmd_gt();
	else if (strcmp(argv[1], "gt-sql") == 0)
		cmd_gt_sql();
	else if (strcmp(argv[1], "sweep") == 0)
		return cmd_sweep();
	else if (strcmp(argv[1], "codes") == 0)
		return cmd_codes();
	else if (strcmp(argv[1], "soak") == 0)
		return cmd_soak();
	else
		die("unknown subcommand \"%s\"", argv[1]);
	return 0;
}
