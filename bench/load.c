/*
 * load.c
 *	  Loading vectors and labels into a table with binary COPY:
 *	  (id int4 = row number from 0, embedding real[], labels int4[]),
 *	  the vectors streamed from their file a row at a time.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "bench.h"

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
put(Buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		b->cap = (b->len + n) * 2;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
			die("out of memory");
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
put32(Buf *b, uint32_t x)
{
	x = htonl(x);
	put(b, &x, 4);
}

static void
put16(Buf *b, uint16_t x)
{
	x = htons(x);
	put(b, &x, 2);
}

/* A one-dimensional array in PostgreSQL's binary format; n == 0 is '{}' */
static void
put_array(Buf *b, uint32_t elemtype, const void *elems, int n)
{
	Buf			a = {NULL, 0, 0};

	put32(&a, n > 0 ? 1 : 0);	/* ndim */
	put32(&a, 0);				/* no NULLs */
	put32(&a, elemtype);
	if (n > 0)
	{
		put32(&a, n);
		put32(&a, 1);			/* lower bound */
	}
	for (int i = 0; i < n; i++)
	{
		uint32_t	x;

		memcpy(&x, (const char *) elems + 4 * i, 4);
		put32(&a, 4);
		put32(&a, x);
	}
	put32(b, a.len);
	put(b, a.data, a.len);
	free(a.data);
}

static void
exec_ok(PGconn *c, const char *sql, ExecStatusType want)
{
	PGresult   *r = PQexec(c, sql);

	if (PQresultStatus(r) != want)
		die("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Stream the vectors r reads, with their label sets, into a new table */
int64_t
load_table(const char *conninfo, const char *table, VecReader *r,
		   const LabelSets *ls)
{
	PGconn	   *c = PQconnectdb(conninfo ? conninfo : "");
	char	   *ident;
	char		sql[1024];
	Buf			b = {NULL, 0, 0};
	static const char header[] = "PGCOPY\n\377\r\n\0";
	float	   *vec = xmalloc(sizeof(float) * r->d);
	int64_t		i;

	if (PQstatus(c) != CONNECTION_OK)
		die("connection failed: %s", PQerrorMessage(c));
	ident = PQescapeIdentifier(c, table, strlen(table));
	snprintf(sql, sizeof(sql),
			 "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int4, embedding real[], labels int4[])",
			 ident, ident);
	exec_ok(c, sql, PGRES_COMMAND_OK);
	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", ident);
	exec_ok(c, sql, PGRES_COPY_IN);

	put(&b, header, 11);
	put32(&b, 0);				/* flags */
	put32(&b, 0);				/* header extension */
	for (i = 0;; i++)
	{
		int			more = vec_next(r, vec);

		if (more)
		{
			if (ls && i >= ls->n)
				die("%lld label sets for more vectors", (long long) ls->n);
			put16(&b, 3);
			put32(&b, 4);
			put32(&b, (uint32_t) i);
			put_array(&b, 700, vec, r->d);
			if (ls)
				put_array(&b, 23, ls->labels + ls->start[i],
						  (int) (ls->start[i + 1] - ls->start[i]));
			else
				put32(&b, (uint32_t) -1);	/* NULL */
		}
		else
			put16(&b, (uint16_t) -1);	/* trailer */
		if (b.len > (1 << 20) || !more)
		{
			if (PQputCopyData(c, b.data, (int) b.len) != 1)
				die("COPY failed: %s", PQerrorMessage(c));
			b.len = 0;
		}
		if (!more)
			break;
	}
	if (PQputCopyEnd(c, NULL) != 1)
		die("COPY failed: %s", PQerrorMessage(c));
	{
		PGresult   *r = PQgetResult(c);

		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			die("COPY failed: %s", PQerrorMessage(c));
		PQclear(r);
	}
	PQfreemem(ident);
	free(b.data);
	free(vec);
	PQfinish(c);
	return i;
}
