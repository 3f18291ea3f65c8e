/*
 * labelgen.c
 *	  Label sets for benchmarks: the base distributions UNG's experiments use
 *	  (zipf, uniform, poisson, multinomial, one label per row), query label
 *	  sets for each filter type that match at least k rows, and the predicate
 *	  itself.  Every row gets at least one label; labels are 1..nlabels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* splitmix64: small, fast, and the same stream everywhere for a seed */
uint64_t
rng_next(uint64_t *state)
{
	uint64_t	z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

double
rng_uniform(uint64_t *state)
{
	return (rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Draw from a discrete distribution given by cumulative weights */
static int
draw(const double *cdf, int n, uint64_t *rng)
{
	double		u = rng_uniform(rng) * cdf[n - 1];
	int			lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
poisson(double lambda, uint64_t *rng)
{
	double		l = exp(-lambda),
				p = 1.0;
	int			k = 0;

	do
	{
		k++;
		p *= rng_uniform(rng);
	} while (p > l);
	return k - 1;
}


/*
 * Base label sets.
 *	zipf		label l is present with probability 0.7 / l (independently),
 *				so label frequencies follow Zipf's law
 *	uniform 	1..3 labels, each uniform over 1..nlabels
 *	poisson 	1 + Poisson(1) labels, label l weighted by the Poisson(nlabels/2)
 *				probability of l (common labels in the middle of the range)
 *	multinomial 1..3 labels from fixed random weights per label
 *	one 		exactly one label, weighted 1/l
 * A row left without labels gets one drawn with weight 1/l.
 */
LabelSets
generate_base_labels(const char *dist, int nlabels, int64_t rows, uint64_t seed)
{
	LabelSets	ls;
	uint64_t	rng = seed;
	double	   *weights = xmalloc(sizeof(double) * nlabels);
	double	   *zipf = xmalloc(sizeof(double) * nlabels);
	int32_t    *row = xmalloc(sizeof(int32_t) * (nlabels + 8));
	int64_t		nl = 0,
				cap = rows * 2 + 16;
	double		sw = 0,
				sz = 0;

	if (nlabels < 1)
		die("need at least one label");
	for (int l = 1; l <= nlabels; l++)
	{
		double		w = 1.0;

		if (strcmp(dist, "poisson") == 0)
			w = exp(l * log(nlabels / 2.0) - nlabels / 2.0 - lgamma(l + 1.0));
		else if (strcmp(dist, "multinomial") == 0)
			w = rng_uniform(&rng) + 1e-3;
		else if (strcmp(dist, "uniform") != 0 && strcmp(dist, "zipf") != 0 &&
				 strcmp(dist, "one") != 0)
			die("unknown label distribution \"%s\" (zipf, uniform, poisson, multinomial, one)", dist);
		weights[l - 1] = (sw += w);
		zipf[l - 1] = (sz += 1.0 / l);
	}

	ls.n = rows;
	ls.start = xmalloc(sizeof(int64_t) * (rows + 1));
	ls.labels = xmalloc(sizeof(int32_t) * cap);
	ls.start[0] = 0;
	for (int64_t i = 0; i < rows; i++)
	{
		int			m = 0;

		if (strcmp(dist, "zipf") == 0)
		{
			for (int l = 1; l <= nlabels; l++)
				if (rng_uniform(&rng) < 0.7 / l)
					row[m++] = l;
		}
		else if (strcmp(dist, "one") == 0)
			row[m++] = 1 + draw(zipf, nlabels, &rng);
		else
		{
			int			want = strcmp(dist, "poisson") == 0 ?
				1 + poisson(1.0, &rng) : 1 + (int) (rng_next(&rng) % 3);

			want = want > nlabels ? nlabels : want;
			while (m < want)
			{
				int32_t		l = 1 + draw(weights, nlabels, &rng);
				int			dup = 0;

				for (int j = 0; j < m; j++)
					dup |= row[j] == l;
				if (!dup)
					row[m++] = l;
			}
		}
		if (m == 0)
			row[m++] = 1 + draw(zipf, nlabels, &rng);
		qsort(row, m, sizeof(int32_t), cmp_int32);
		if (nl + m > cap)
		{
			cap = cap * 2 + m;
			ls.labels = realloc(ls.labels, sizeof(int32_t) * cap);
			if (ls.labels == NULL)
				die("out of memory");
		}
		memcpy(ls.labels + nl, row, sizeof(int32_t) * m);
		nl += m;
		ls.start[i + 1] = nl;
	}
	free(weights);
	free(zipf);
	free(row);
	return ls;
}

static int
contains(const int32_t *set, int64_t n, int32_t x)
{
	return bsearch(&x, set, n, sizeof(int32_t), cmp_int32) != NULL;
}

/* Does base row `row` satisfy query qi's filter of the given type? */
int
labels_match(const LabelSets *base, int64_t row, const LabelSets *q, int64_t qi,
			 QueryType type)
{
	const int32_t *b = base->labels + base->start[row];
	int64_t		nb = base->start[row + 1] - base->start[row];
	const int32_t *s = q->labels + q->start[qi];
	int64_t		ns = q->start[qi + 1] - q->start[qi];

	switch (type)
	{
		case QUERY_NONE:
			return 1;
		case QUERY_EQUALITY:
			return nb == ns && memcmp(b, s, sizeof(int32_t) * ns) == 0;
		case QUERY_CONTAINMENT:
			for (int64_t i = 0; i < ns; i++)
				if (!contains(b, nb, s[i]))
					return 0;
			return 1;
		case QUERY_OVERLAP:
			for (int64_t i = 0; i < ns; i++)
				if (contains(b, nb, s[i]))
					return 1;
			return 0;
	}
	return 0;
}

static int64_t
count_matches(const LabelSets *base, const LabelSets *q, int64_t qi, QueryType type)
{
	int64_t		c = 0;

	for (int64_t r = 0; r < base->n; r++)
		c += labels_match(base, r, q, qi, type);
	return c;
}

/*
 * Query label sets that match at least k base rows, built from random base
 * rows as UNG does: equality takes a row's whole set, containment 1-2 of its
 * labels, overlap one of its labels plus one random label.
 */
LabelSets
generate_query_labels(const LabelSets *base, QueryType type, int64_t nq, int k,
					  uint64_t seed)
{
	LabelSets	q;
	uint64_t	rng = seed;
	int32_t		maxlabel = 1;
	int64_t		cap = nq * 4 + 16;

	for (int64_t i = 0; i < base->start[base->n]; i++)
		maxlabel = base->labels[i] > maxlabel ? base->labels[i] : maxlabel;
	q.n = 0;
	q.start = xmalloc(sizeof(int64_t) * (nq + 1));
	q.labels = xmalloc(sizeof(int32_t) * cap);
	q.start[0] = 0;

	for (int64_t tries = 0; q.n < nq; tries++)
	{
		int64_t		r = rng_next(&rng) % base->n;
		const int32_t *b = base->labels + base->start[r];
		int64_t		nb = base->start[r + 1] - base->start[r];
		int64_t		at = q.start[q.n];
		int			m = 0;

		if (tries > nq * 1000)
			die("cannot find %lld %s label sets matching %d rows", (long long) nq,
				query_type_name(type), k);
		if (at + nb + 2 > cap)
		{
			cap = cap * 2 + nb + 2;
			q.labels = realloc(q.labels, sizeof(int32_t) * cap);
			if (q.labels == NULL)
				die("out of memory");
		}
		if (type == QUERY_EQUALITY)
		{
			memcpy(q.labels + at, b, sizeof(int32_t) * nb);
			m = nb;
		}
		else if (type == QUERY_CONTAINMENT && nb > 0)
		{
			int			want = 1 + (int) (rng_next(&rng) % 2);

			q.labels[at + m++] = b[rng_next(&rng) % nb];
			if (want == 2 && nb > 1)
			{
				int32_t		l = b[rng_next(&rng) % nb];

				if (l != q.labels[at])
					q.labels[at + m++] = l;
			}
		}
		else if (type == QUERY_OVERLAP && nb > 0)
		{
			int32_t		l = 1 + (int32_t) (rng_next(&rng) % maxlabel);

			q.labels[at + m++] = b[rng_next(&rng) % nb];
			if (l != q.labels[at])
				q.labels[at + m++] = l;
		}
		qsort(q.labels + at, m, sizeof(int32_t), cmp_int32);
		q.start[q.n + 1] = at + m;
		q.n++;
		if (type != QUERY_NONE && count_matches(base, &q, q.n - 1, type) < k)
			q.n--;				/* too selective: draw again */
	}
	return q;
}

QueryType
parse_query_type(const char *s)
{
	if (strcmp(s, "none") == 0)
		return QUERY_NONE;
	if (strcmp(s, "equality") == 0)
		return QUERY_EQUALITY;
	if (strcmp(s, "containment") == 0)
		return QUERY_CONTAINMENT;
	if (strcmp(s, "overlap") == 0)
		return QUERY_OVERLAP;
	die("unknown query type \"%s\" (none, equality, containment, overlap)", s);
}

const char *
query_type_name(QueryType t)
{
	static const char *names[] = {"none", "equality", "containment", "overlap"};

	return names[t];
}
