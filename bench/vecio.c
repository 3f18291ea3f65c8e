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

/* Read at most limit vectors (limit <= 0: all); gzread handles plain files too */
Vectors
read_vectors(const char *path, int64_t limit)
{
	const char *fmt = format_of(path);
	gzFile		f = gzopen(path, "rb");
	Vectors		v = {0, 0, NULL};
	int64_t		cap = 0;
	size_t		esize = strcmp(fmt, "bvecs") == 0 ? 1 : 4;
	unsigned char *row = NULL;

	if (f == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	gzbuffer(f, 1 << 20);

	if (strcmp(fmt, "bin") == 0)
	{
		uint32_t	hdr[2];

		if (read_exact(f, hdr, sizeof(hdr)) != 1)
			die("%s: truncated header", path);
		v.d = hdr[1];
		cap = limit > 0 && limit < hdr[0] ? limit : hdr[0];
		v.data = xmalloc(sizeof(float) * cap * v.d);
		if (read_exact(f, v.data, sizeof(float) * cap * v.d) != 1)
			die("%s: truncated data", path);
		v.n = cap;
		gzclose(f);
		return v;
	}

	for (;;)
	{
		int32_t		d;
		int			r;

		if (limit > 0 && v.n >= limit)
			break;
		r = read_exact(f, &d, sizeof(d));
		if (r == 0)
			break;
		if (r < 0 || d <= 0 || (v.d && d != v.d))
			die("%s: bad record %lld", path, (long long) v.n);
		if (v.d == 0)
		{
			v.d = d;
			row = xmalloc(esize * d);
		}
		if (v.n == cap)
		{
			cap = cap ? cap * 2 : 65536;
			v.data = realloc(v.data, sizeof(float) * cap * v.d);
			if (v.data == NULL)
				die("out of memory reading %s", path);
		}
		if (read_exact(f, row, esize * d) != 1)
			die("%s: truncated record %lld", path, (long long) v.n);
		for (int j = 0; j < d; j++)
		{
			float	   *out = &v.data[v.n * d + j];

			if (esize == 1)
				*out = row[j];
			else if (strcmp(fmt, "ivecs") == 0)
				*out = (float) ((int32_t *) row)[j];
			else
				*out = ((float *) row)[j];
		}
		v.n++;
	}
	free(row);
	gzclose(f);
	if (v.n == 0)
		die("%s: no vectors", path);
	return v;
}

void
write_vectors(const char *path, const Vectors *v)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	for (int64_t i = 0; i < v->n; i++)
	{
		int32_t		d = v->d;

		fwrite(&d, sizeof(d), 1, f);
		fwrite(&v->data[i * v->d], sizeof(float), v->d, f);
	}
	if (fclose(f) != 0)
		die("cannot write %s", path);
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
