/*
 * vecio.c
 *	  Reading and writing the benchmark file formats: texmex fvecs, bvecs and
 *	  ivecs (gzip'd or not), UNG's .bin (uint32 N, uint32 D, N*D float32), and
 *	  label text files (one line per row, comma-separated integers).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bench.h"

void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fputs("fannbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		die("out of memory allocating %zu bytes", size);
	return p;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The format from the name, ignoring a trailing .gz */
static const char *
format_of(const char *path)
{
	static const char *formats[] = {"fvecs", "bvecs", "ivecs", "bin"};
	char		name[4096];

	snprintf(name, sizeof(name), "%s", path);
	if (ends_with(name, ".gz"))
		name[strlen(name) - 3] = '\0';
	for (int i = 0; i < 4; i++)
	{
		char		ext[16];

		snprintf(ext, sizeof(ext), ".%s", formats[i]);
		if (ends_with(name, ext))
			return formats[i];
	}
	die("%s: unknown vector format (expected .fvecs, .bvecs, .ivecs or .bin, optionally .gz)", path);
}

static int
read_exact(gzFile f, void *buf, size_t len)
{
	size_t		got = 0;

	while (got < len)
	{
		int			r = gzread(f, (char *) buf + got, (unsigned) (len - got));

		if (r <= 0)
			return got == 0 ? 0 : -1;
		got += r;
	}
	return 1;
}

/*
 * A reader of at most limit vectors (limit <= 0: all), one at a time, so
 * that a file larger than memory can be streamed; gzread handles plain
 * files too
 */
VecReader *
vec_open(const char *path, int64_t limit)
{
	VecReader  *r = xmalloc(sizeof(VecReader));

	r->path = path;
	r->fmt = format_of(path);
	r->esize = strcmp(r->fmt, "bvecs") == 0 ? 1 : 4;
	r->limit = limit;
	r->n = 0;
	r->f = gzopen(path, "rb");
	if (r->f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	gzbuffer(r->f, 1 << 20);
	if (strcmp(r->fmt, "bin") == 0)
	{
		uint32_t	hdr[2];

		if (read_exact(r->f, hdr, sizeof(hdr)) != 1)
			die("%s: truncated header", path);
		r->d = hdr[1];
		if (r->limit <= 0 || r->limit > hdr[0])
			r->limit = hdr[0];
	}
	else
	{
		/* every record repeats the dimension: read the first one's now */
		int32_t		d;

		if (read_exact(r->f, &d, sizeof(d)) != 1 || d <= 0)
			die("%s: no vectors", path);
		r->d = d;
	}
	r->row = xmalloc(r->esize * r->d);
	return r;
}

/* The next vector into out (d floats); 0 at the end */
int
vec_next(VecReader *r, float *out)
{
	if (r->limit > 0 && r->n >= r->limit)
		return 0;
	if (strcmp(r->fmt, "bin") != 0 && r->n > 0)
	{
		int32_t		d;
		int			got = read_exact(r->f, &d, sizeof(d));

		if (got == 0)
			return 0;
		if (got < 0 || d != r->d)
			die("%s: bad record %lld", r->path, (long long) r->n);
	}
	if (read_exact(r->f, r->row, r->esize * r->d) != 1)
		die("%s: truncated record %lld", r->path, (long long) r->n);
	for (int j = 0; j < r->d; j++)
	{
		if (r->esize == 1)
			out[j] = r->row[j];
		else if (strcmp(r->fmt, "ivecs") == 0)
			out[j] = (float) ((int32_t *) r->row)[j];
		else
			out[j] = ((float *) r->row)[j];
	}
	r->n++;
	return 1;
}

void
vec_close(VecReader *r)
{
	gzclose(r->f);
	free(r->row);
	free(r);
}

/* Read at most limit vectors (limit <= 0: all) into memory */
Vectors
read_vectors(const char *path, int64_t limit)
{
	VecReader  *r = vec_open(path, limit);
	Vectors		v = {0, r->d, NULL};
	int64_t		cap = 0;

	for (;;)
	{
		if (v.n == cap)
		{
			cap = cap ? cap * 2 : 65536;
			if (limit > 0 && cap > limit)
				cap = limit;
			v.data = realloc(v.data, sizeof(float) * cap * v.d);
			if (v.data == NULL)
				die("out of memory reading %s", path);
		}
		if (!vec_next(r, &v.data[v.n * v.d]))
			break;
		v.n++;
	}
	vec_close(r);
	if (v.n == 0)
		die("%s: no vectors", path);
	return v;
}

/* Vectors to an .fvecs file, appended row by row (vec_write_open / _row) */
FILE *
vec_write_open(const char *path)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	return f;
}

void
vec_write_row(FILE *f, const float *row, int d)
{
	int32_t		dd = d;

	fwrite(&dd, sizeof(dd), 1, f);
	fwrite(row, sizeof(float), d, f);
}

void
vec_write_close(FILE *f, const char *path)
{
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

void
write_vectors(const char *path, const Vectors *v)
{
	FILE	   *f = vec_write_open(path);

	for (int64_t i = 0; i < v->n; i++)
		vec_write_row(f, &v->data[i * v->d], v->d);
	vec_write_close(f, path);
}


/* qsort/bsearch order of int32 */
int
cmp_int32(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/* One set per line, normalised (sorted, unique); an empty line is {} */
LabelSets
read_labels(const char *path, int64_t limit)
{
	FILE	   *f = fopen(path, "r");
	LabelSets	ls = {0, NULL, NULL};
	int64_t		cap = 1024,
				lcap = 4096,
				nl = 0;
	char	   *line = NULL;
	size_t		linecap = 0;

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	ls.start = xmalloc(sizeof(int64_t) * (cap + 1));
	ls.labels = xmalloc(sizeof(int32_t) * lcap);
	ls.start[0] = 0;
	while ((limit <= 0 || ls.n < limit) && getline(&line, &linecap, f) >= 0)
	{
		char	   *p = line;
		int64_t		first = nl;

		while (*p)
		{
			char	   *end;
			long		x = strtol(p, &end, 10);

			if (end == p)
			{
				if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
				{
					p++;
					continue;
				}
				die("%s:%lld: not a label list", path, (long long) ls.n + 1);
			}
			if (nl == lcap)
			{
				lcap *= 2;
				ls.labels = realloc(ls.labels, sizeof(int32_t) * lcap);
				if (ls.labels == NULL)
					die("out of memory reading %s", path);
			}
			ls.labels[nl++] = (int32_t) x;
			p = end;
		}
		qsort(ls.labels + first, nl - first, sizeof(int32_t), cmp_int32);
		{
			int64_t		k = first;

			for (int64_t i = first; i < nl; i++)
				if (i == first || ls.labels[i] != ls.labels[k - 1])
					ls.labels[k++] = ls.labels[i];
			nl = k;
		}
		if (ls.n + 1 == cap)
		{
			cap *= 2;
			ls.start = realloc(ls.start, sizeof(int64_t) * (cap + 1));
			if (ls.start == NULL)
				die("out of memory reading %s", path);
		}
		ls.start[++ls.n] = nl;
	}
	free(line);
	fclose(f);
	return ls;
}

void
write_labels(const char *path, const LabelSets *ls)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	for (int64_t i = 0; i < ls->n; i++)
	{
		for (int64_t j = ls->start[i]; j < ls->start[i + 1]; j++)
			fprintf(f, j == ls->start[i] ? "%d" : ",%d", ls->labels[j]);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		die("cannot write %s", path);
}

/*
 * Per-query statement parameters: one line per query, its values (text form)
 * separated by tabs (none is empty: tabs in a row count as one); an empty
 * line has none
 */
QueryParams
read_params(const char *path, int64_t limit)
{
	FILE	   *f = fopen(path, "r");
	QueryParams p = {0, NULL, NULL};
	int64_t		cap = 1024;
	char	   *line = NULL;
	size_t		linecap = 0;
	ssize_t		len;

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	p.count = xmalloc(sizeof(int) * cap);
	p.value = xmalloc(sizeof(char *) * cap * BENCH_MAX_PARAMS);
	while ((limit <= 0 || p.n < limit) && (len = getline(&line, &linecap, f)) >= 0)
	{
		char	   *save = NULL;
		int			n = 0;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (p.n == cap)
		{
			cap *= 2;
			p.count = realloc(p.count, sizeof(int) * cap);
			p.value = realloc(p.value, sizeof(char *) * cap * BENCH_MAX_PARAMS);
			if (p.count == NULL || p.value == NULL)
				die("out of memory reading %s", path);
		}
		for (char *v = strtok_r(line, "\t", &save); v; v = strtok_r(NULL, "\t", &save))
		{
			if (n == BENCH_MAX_PARAMS)
				die("%s:%lld: more than %d values", path, (long long) p.n + 1, BENCH_MAX_PARAMS);
			p.value[p.n * BENCH_MAX_PARAMS + n++] = strdup(v);
		}
		p.count[p.n++] = n;
	}
	free(line);
	fclose(f);
	return p;
}

/* PREFIX.ivecs (ids), PREFIX.dist.fvecs, PREFIX.matches.txt */
void
write_gt(const char *prefix, const GroundTruth *gt)
{
	char		path[4096];
	FILE	   *f;
	Vectors		dist = {gt->nq, gt->k, gt->dist};
	Vectors		ids = {gt->nq, gt->k, xmalloc(sizeof(float) * gt->nq * gt->k)};

	snprintf(path, sizeof(path), "%s.dist.fvecs", prefix);
	write_vectors(path, &dist);
	/* ivecs: same layout as fvecs, int32 payload */
	memcpy(ids.data, gt->ids, sizeof(int32_t) * gt->nq * gt->k);
	snprintf(path, sizeof(path), "%s.ivecs", prefix);
	write_vectors(path, &ids);
	free(ids.data);
	snprintf(path, sizeof(path), "%s.matches.txt", prefix);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write %s", path);
	for (int64_t i = 0; i < gt->nq; i++)
		fprintf(f, "%lld\n", (long long) gt->matches[i]);
	fclose(f);
}

GroundTruth
read_gt(const char *prefix)
{
	char		path[4096];
	GroundTruth gt;
	Vectors		v;
	FILE	   *f;
	gzFile		g;

	snprintf(path, sizeof(path), "%s.dist.fvecs", prefix);
	v = read_vectors(path, 0);
	gt.nq = v.n;
	gt.k = v.d;
	gt.dist = v.data;
	/* ids are raw int32: read them without conversion */
	snprintf(path, sizeof(path), "%s.ivecs", prefix);
	gt.ids = xmalloc(sizeof(int32_t) * gt.nq * gt.k);
	if ((g = gzopen(path, "rb")) == NULL)
		die("cannot open %s", path);
	for (int64_t i = 0; i < gt.nq; i++)
	{
		int32_t		d;

		if (read_exact(g, &d, 4) != 1 || d != gt.k ||
			read_exact(g, &gt.ids[i * gt.k], 4 * (size_t) gt.k) != 1)
			die("%s: bad record %lld", path, (long long) i);
	}
	gzclose(g);
	snprintf(path, sizeof(path), "%s.matches.txt", prefix);
	gt.matches = xmalloc(sizeof(int64_t) * gt.nq);
	if ((f = fopen(path, "r")) == NULL)
		die("cannot open %s", path);
	for (int64_t i = 0; i < gt.nq; i++)
	{
		long long	m;

		if (fscanf(f, "%lld", &m) != 1)
			die("%s: line %lld", path, (long long) i + 1);
		gt.matches[i] = m;
	}
	fclose(f);
	return gt;
}
