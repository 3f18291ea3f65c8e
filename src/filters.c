/*
 * filters.c
 *	  What a fann index's filter columns mean as labels: the label set of a
 *	  row, and for each scan key the labels its groups must have.
 *
 * The vector column comes first, then any number of filter columns, each of
 * a type in filter_types.  Two label layouts:
 *
 *	one array column	the seeds' layout: a row's labels are its array's
 *						elements, integers as they are, other elements hashed
 *						(bigint as hashint8, text and uuid by their bytes); a
 *						NULL array puts the row in the NULL group.  integer[]
 *						labels answer exactly; the others are rechecked.
 *	any other			each column's values become labels in one label
 *						space, namespaced by column: a hash of (column, what,
 *						value).  A scalar gives its value's label; an array its
 *						elements', its cardinality's and a presence label; a
 *						jsonb value a presence label, its top-level keys' and
 *						top-level strings' (what ?, ?| and ?& test) and its
 *						(path, scalar) pairs' (what @> tests: a path is the
 *						object keys from the root, arrays transparent, as in
 *						jsonb_path_ops).  A NULL gives none.  Every predicate
 *						is rechecked on the heap row, so a hash collision costs
 *						a row read, never a wrong row.
 *
 * A conjunction is then one set of label groups: each key selects the groups
 * holding all (=, @>, ?, ?&) or any (IN, &&, ?|) of its labels, or whose
 * column labels lie within its labels (<@: as many of them as the column's
 * cardinality label says), and labels.c intersects the keys' selections.
 */
#include "postgres.h"

#include "access/hash.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fann.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

/* How a filter column holds its values */
typedef enum FilterKind
{
	FILTER_SCALAR,
	FILTER_ARRAY,
	FILTER_JSONB
} FilterKind;

typedef struct FilterType
{
	Oid			type;			/* the opclass's input type */
	FilterKind	kind;
	Oid			elem;			/* the scalar's or the elements' type */
} FilterType;

static const FilterType filter_types[] = {
	{INT2OID, FILTER_SCALAR, INT2OID},
	{INT4OID, FILTER_SCALAR, INT4OID},
	{INT8OID, FILTER_SCALAR, INT8OID},
	{TEXTOID, FILTER_SCALAR, TEXTOID},
	{UUIDOID, FILTER_SCALAR, UUIDOID},
	{BOOLOID, FILTER_SCALAR, BOOLOID},
	{DATEOID, FILTER_SCALAR, DATEOID},
	{INT4ARRAYOID, FILTER_ARRAY, INT4OID},
	{INT8ARRAYOID, FILTER_ARRAY, INT8OID},
	{TEXTARRAYOID, FILTER_ARRAY, TEXTOID},
	{UUIDARRAYOID, FILTER_ARRAY, UUIDOID},
	{JSONBOID, FILTER_JSONB, JSONBOID},
};

#define FANN_FILTER_TYPE_NAMES \
	"smallint, integer, bigint, text, varchar, uuid, boolean, date, integer[], bigint[], text[], uuid[] or jsonb"

/* What a label of the namespaced layout stands for */
typedef enum LabelWhat
{
	LABEL_VALUE,				/* a scalar, or an array's element */
	LABEL_PRESENT,				/* an array or jsonb value, not NULL */
	LABEL_CARDINALITY,			/* an array's distinct element labels */
	LABEL_KEY,					/* a jsonb top-level key or string */
	LABEL_PAIR					/* a jsonb (path, scalar) pair */
} LabelWhat;

/* A growing list of labels */
typedef struct LabelList
{
	int32	   *v;
	int			n;
	int			cap;
} LabelList;

static void
list_init(LabelList *l)
{
	l->cap = 16;
	l->n = 0;
	l->v = palloc(sizeof(int32) * l->cap);
}

static void
list_add(LabelList *l, int32 label)
{
	if (l->n == l->cap)
	{
		l->cap *= 2;
		l->v = repalloc_huge(l->v, sizeof(int32) * l->cap);
	}
	l->v[l->n++] = label;
}

/* Sort and remove duplicates of v[from..n) in place */
static void
list_normalise(LabelList *l, int from)
{
	int			k = from;

	if (l->n - from < 2)
		return;
	qsort(l->v + from, l->n - from, sizeof(int32), FannCompareLabels);
	for (int i = from + 1; i < l->n; i++)
		if (l->v[i] != l->v[k])
			l->v[++k] = l->v[i];
	l->n = k + 1;
}

/* The filter type of index column attno (1-based), or NULL */
static const FilterType *
filter_type(Relation index, AttrNumber attno)
{
	Oid			type = index->rd_opcintype[attno - 1];

	for (int i = 0; i < lengthof(filter_types); i++)
		if (filter_types[i].type == type)
			return &filter_types[i];
	return NULL;
}

/* Does the index keep the seeds' layout: one array filter column? */
static bool
one_array_layout(Relation index)
{
	return IndexRelationGetNumberOfKeyAttributes(index) == 2 &&
		filter_type(index, 2)->kind == FILTER_ARRAY;
}

/*
 * An error unless every column after the vector is a filter column fann
 * takes, with the opclass fann gives its type; text ones under a
 * deterministic collation, since labels hash text by its bytes
 */
void
FannCheckFilterColumns(Relation index)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);

	for (AttrNumber attno = 2; attno <= natts; attno++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(index), attno - 1);
		Oid			coll = index->rd_indcollation[attno - 1];

		if (filter_type(index, attno) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of type %s cannot be a filter column of fann index \"%s\"",
							NameStr(att->attname), format_type_be(att->atttypid),
							RelationGetRelationName(index)),
					 errdetail("A fann index is on a vector column followed by filter columns of type " FANN_FILTER_TYPE_NAMES "."),
					 errhint("Index an expression of one of those types instead, such as a cast.")));
		if (OidIsValid(coll) && !get_collation_isdeterministic(coll))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of fann index \"%s\" has a nondeterministic collation",
							NameStr(att->attname), RelationGetRelationName(index)),
					 errdetail("fann compares text by its bytes.")));
	}
}

/* A value's hash in the namespaced layout, whatever integer type holds it */
static uint64
value_hash(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return FannMix64((uint64) (int64) DatumGetInt16(d));
		case INT4OID:
			return FannMix64((uint64) (int64) DatumGetInt32(d));
		case INT8OID:
			return FannMix64((uint64) DatumGetInt64(d));
		case DATEOID:
			return FannMix64((uint64) (int64) DatumGetDateADT(d));
		case BOOLOID:
			return FannMix64(DatumGetBool(d) ? 1 : 0);
		case UUIDOID:
			return hash_bytes_extended(DatumGetUUIDP(d)->data, UUID_LEN, 0);
		case TEXTOID:
			{
				text	   *t = DatumGetTextPP(d);

				return hash_bytes_extended((unsigned char *) VARDATA_ANY(t),
										   VARSIZE_ANY_EXHDR(t), 0);
			}
	}
	elog(ERROR, "fann: unexpected filter value type %u", type);
	return 0;					/* keep compiler quiet */
}

/* A label of the namespaced layout: filter column col (0-based) */
static int32
label_of(int col, LabelWhat what, uint64 hash)
{
	return (int32) FannMix64(hash ^ ((uint64) (col * 8 + what + 1) * UINT64CONST(0x9E3779B97F4A7C15)));
}

/* The label every non-NULL array or jsonb value of a column has */
static int32
presence_label(int col)
{
	return label_of(col, LABEL_PRESENT, 0);
}

/* The label of an array of n distinct element labels */
static int32
cardinality_label(int col, int n)
{
	return label_of(col, LABEL_CARDINALITY, n);
}

/* An array element's label in the seeds' layout */
static int32
one_array_label(Datum d, Oid elem)
{
	switch (elem)
	{
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt32(DirectFunctionCall1(hashint8, d));
		case UUIDOID:
			return DatumGetInt32(hash_any(DatumGetUUIDP(d)->data, UUID_LEN));
		case TEXTOID:
			return DatumGetInt32(hash_any((const unsigned char *) VARDATA_ANY(DatumGetPointer(d)),
										  VARSIZE_ANY_EXHDR(DatumGetPointer(d))));
	}
	elog(ERROR, "fann: unexpected label element type %u", elem);
	return 0;					/* keep compiler quiet */
}

/*
 * The labels of an array's elements, normalised, added to l: col < 0 for the
 * seeds' layout.  For a row's array (hasnulls == NULL) NULL elements and
 * several dimensions are errors; a query's array is flattened, as
 * PostgreSQL's array operators do, its NULL elements skipped and reported
 * through *hasnulls.  Returns how many labels were added.
 */
static int
array_labels(ArrayType *a, Oid elem, int col, LabelList *l, bool *hasnulls)
{
	int16		len;
	bool		byval;
	char		align;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			from = l->n;

	if (ARR_ELEMTYPE(a) != elem)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("labels must be an array of %s", format_type_be(elem))));
	if (hasnulls == NULL && ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("label array must be one-dimensional"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(a))));
	get_typlenbyvalalign(elem, &len, &byval, &align);
	deconstruct_array(a, elem, len, byval, align, &elems, &nulls, &n);
	if (hasnulls)
		*hasnulls = false;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
		{
			if (hasnulls == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("label array must not contain NULL elements")));
			*hasnulls = true;
			continue;
		}
		list_add(l, col < 0 ? one_array_label(elems[i], elem) :
				 label_of(col, LABEL_VALUE, value_hash(elems[i], elem)));
	}
	pfree(elems);
	pfree(nulls);
	list_normalise(l, from);
	return l->n - from;
}

/* A jsonb scalar's hash: by type, then by value (numerics as equal ones) */
static uint64
jsonb_scalar_hash(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return hash_bytes_extended((unsigned char *) v->val.string.val,
									   v->val.string.len, 1);
		case jbvNumeric:
			return DatumGetUInt64(DirectFunctionCall2(hash_numeric_extended,
													  NumericGetDatum(v->val.numeric),
													  Int64GetDatum(2)));
		case jbvBool:
			return FannMix64(v->val.boolean ? 3 : 4);
		default:
			return FannMix64(5);	/* null */
	}
}

/* A top-level key's or string's label (for ?, ?| and ?&) */
static int32
jsonb_key_label(int col, const char *s, int len)
{
	return label_of(col, LABEL_KEY, hash_bytes_extended((const unsigned char *) s, len, 1));
}

/*
 * A jsonb value's labels added to l: presence, top-level keys and strings,
 * (path, scalar) pairs.  A document that contains another has all of the
 * other's labels (jsonb @>'s definition), so they serve as its query too.
 * As a query (query) it leaves out the labels its others imply: a
 * top-level key whose value is a scalar (its pair carries the key), a
 * top-level string element's key label, presence unless nothing else is
 * asked.  Those are on most groups, and a long posting list to intersect
 * costs more than the search it narrows.
 */
static void
jsonb_labels(Jsonb *jb, int col, bool query, LabelList *l)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0,
				cap = 8;
	/* per open container: its path's hash, and the current key's */
	uint64	   *base = palloc(sizeof(uint64) * cap);
	uint64	   *path = palloc(sizeof(uint64) * cap);
	int			from = l->n;
	int32		key = 0;
	bool		key_pending = false;	/* a query's top-level key, until its
										 * value shows whether a pair implies it */

	if (!query)
		list_add(l, presence_label(col));
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (key_pending && tok != WJB_VALUE)
			list_add(l, key);
		key_pending = false;
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (depth == cap)
				{
					cap *= 2;
					base = repalloc(base, sizeof(uint64) * cap);
					path = repalloc(path, sizeof(uint64) * cap);
				}
				/* an array's elements have its path: arrays are transparent */
				base[depth] = path[depth] = depth == 0 ? 0 : path[depth - 1];
				depth++;
				break;
			case WJB_KEY:
				path[depth - 1] = FannMix64(base[depth - 1] ^ jsonb_scalar_hash(&v));
				if (depth == 1)
				{
					key = jsonb_key_label(col, v.val.string.val, v.val.string.len);
					key_pending = query;
					if (!query)
						list_add(l, key);
				}
				break;
			case WJB_ELEM:
				if (depth == 1 && v.type == jbvString && !query)
					list_add(l, jsonb_key_label(col, v.val.string.val, v.val.string.len));
				/* FALLTHROUGH */
			case WJB_VALUE:
				list_add(l, label_of(col, LABEL_PAIR,
									 FannMix64(path[depth - 1] ^ jsonb_scalar_hash(&v))));
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				depth--;
				break;
			default:
				break;
		}
	}
	if (l->n == from)
		list_add(l, presence_label(col));
	pfree(base);
	pfree(path);
	list_normalise(l, from);
}

/*
 * A row's label set (sorted, without duplicates) into *labels; returns its
 * size, or -1 for the NULL group (the seeds' layout, a NULL array)
 */
int
FannRowLabels(Relation index, Datum *values, bool *isnull, int32 **labels)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);
	LabelList	l;

	list_init(&l);
	*labels = l.v;
	if (natts < 2)
		return -1;
	if (one_array_layout(index))
	{
		if (isnull[1])
			return -1;
		array_labels(DatumGetArrayTypeP(values[1]), filter_type(index, 2)->elem, -1, &l, NULL);
		*labels = l.v;
		return l.n;
	}
	for (AttrNumber attno = 2; attno <= natts; attno++)
	{
		const FilterType *ft = filter_type(index, attno);
		int			col = attno - 2;

		if (isnull[attno - 1])
			continue;
		if (ft->kind == FILTER_SCALAR)
			list_add(&l, label_of(col, LABEL_VALUE, value_hash(values[attno - 1], ft->elem)));
		else if (ft->kind == FILTER_JSONB)
			jsonb_labels(DatumGetJsonbP(values[attno - 1]), col, false, &l);
		else
		{
			int			n = array_labels(DatumGetArrayTypeP(values[attno - 1]), ft->elem, col, &l, NULL);

			list_add(&l, presence_label(col));
			list_add(&l, cardinality_label(col, n));
		}
	}
	list_normalise(&l, 0);
	*labels = l.v;
	return l.n;
}

/* The column's cardinality labels for 0..n elements (a <@ query's) */
static int32 *
cardinality_labels(int col, int n)
{
	int32	   *cards = palloc(sizeof(int32) * (n + 1));

	for (int m = 0; m <= n; m++)
		cards[m] = cardinality_label(col, m);
	return cards;
}

/* The label of a scalar key's value, of whichever integer type it is */
static int32
scalar_label(ScanKey key, const FilterType *ft, Datum arg)
{
	Oid			argtype = OidIsValid(key->sk_subtype) ? key->sk_subtype : ft->elem;

	return label_of(key->sk_attno - 2, LABEL_VALUE, value_hash(arg, argtype));
}

/*
 * The query of a key on column attno with argument arg (one element of a
 * ScalarArrayOp's array, or the key's own argument): what its groups'
 * labels must be.
 */
static void
key_query(Relation index, ScanKey key, Datum arg, FannLabelQuery *q)
{
	const FilterType *ft = filter_type(index, key->sk_attno);
	int			col = key->sk_attno - 2;
	bool		one_array = one_array_layout(index);
	LabelList	l;
	bool		hasnulls = false;
	int			n;

	list_init(&l);
	q->test = FANN_TEST_NONE;
	q->cards = NULL;
	/* hashed labels select their hashes' groups: the heap row decides */
	q->recheck = !one_array || ft->elem != INT4OID;
	q->equality = false;

	if (ft->kind == FILTER_SCALAR)
	{
		list_add(&l, scalar_label(key, ft, arg));
		q->test = FANN_TEST_ALL;
	}
	else if (ft->kind == FILTER_JSONB)
	{
		if (key->sk_strategy == FANN_LABEL_CONTAINS_STRATEGY)
			jsonb_labels(DatumGetJsonbP(arg), col, true, &l);
		else if (key->sk_strategy == FANN_JSONB_EXISTS_STRATEGY)
		{
			text	   *t = DatumGetTextPP(arg);

			list_add(&l, jsonb_key_label(col, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
		}
		else
		{
			/* ?| and ?&: text[] keys, NULL elements skipped (as jsonb does) */
			Datum	   *keys;
			bool	   *nulls;
			int			nkeys;

			deconstruct_array(DatumGetArrayTypeP(arg), TEXTOID, -1, false, TYPALIGN_INT,
							  &keys, &nulls, &nkeys);
			for (int i = 0; i < nkeys; i++)
				if (!nulls[i])
					list_add(&l, jsonb_key_label(col, VARDATA_ANY(DatumGetPointer(keys[i])),
												 VARSIZE_ANY_EXHDR(DatumGetPointer(keys[i]))));
			/* '?& {}' holds for every document */
			if (key->sk_strategy == FANN_JSONB_EXISTS_ALL_STRATEGY && l.n == 0)
				list_add(&l, presence_label(col));
		}
		q->test = key->sk_strategy == FANN_JSONB_EXISTS_ANY_STRATEGY ? FANN_TEST_ANY : FANN_TEST_ALL;
	}
	else
	{
		n = array_labels(DatumGetArrayTypeP(arg), ft->elem, one_array ? -1 : col, &l, &hasnulls);
		switch (key->sk_strategy)
		{
			case FANN_LABEL_EQUAL_STRATEGY:
				/* no indexed row has NULL elements, so none can be equal */
				if (hasnulls)
					break;
				q->recheck = true;	/* '=' compares order and duplicates too */
				if (one_array)
				{
					q->test = FANN_TEST_EQUAL;
					q->equality = true;
					break;
				}
				/* its cardinality label implies presence */
				list_add(&l, cardinality_label(col, n));
				q->test = FANN_TEST_ALL;
				break;
			case FANN_LABEL_CONTAINS_STRATEGY:
				/* a NULL element is contained in nothing */
				if (hasnulls)
					break;
				if (one_array)
					q->test = n == 0 ? FANN_TEST_NON_NULL : FANN_TEST_ALL;
				else
				{
					/* elements imply presence: '@> {}' asks only that */
					if (n == 0)
						list_add(&l, presence_label(col));
					q->test = FANN_TEST_ALL;
				}
				break;
			case FANN_LABEL_OVERLAP_STRATEGY:
				/* NULL elements overlap nothing; the others still can */
				q->test = FANN_TEST_ANY;
				break;
			case FANN_LABEL_CONTAINED_STRATEGY:
				/* NULL elements contain nothing; the others still can */
				q->test = FANN_TEST_WITHIN;
				if (!one_array)
					q->cards = cardinality_labels(col, n);
				break;
			default:
				elog(ERROR, "unexpected fann label strategy %d", key->sk_strategy);
		}
	}
	list_normalise(&l, 0);
	q->labels = l.v;
	q->nlabels = l.n;
	/* a test of no labels: only '<@' and '@> {}' match anything */
	if (q->nlabels == 0 && q->test != FANN_TEST_WITHIN && q->test != FANN_TEST_NON_NULL &&
		q->test != FANN_TEST_EQUAL)
		q->test = FANN_TEST_NONE;
}

/*
 * What a scan key asks of the groups, as alternatives any of which a group
 * may satisfy (*queries, returns their count): one, or for a ScalarArrayOp
 * key (= ANY, IN) one per element of its array -- on a scalar column one
 * query for the whole list, any of its values.
 */
int
FannKeyQueries(Relation index, ScanKey key, FannLabelQuery **queries)
{
	const FilterType *ft = filter_type(index, key->sk_attno);
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int16		len;
	bool		byval;
	char		align;
	int			n,
				k = 0;

	/* strict operators: a NULL argument matches nothing */
	if (key->sk_flags & SK_ISNULL)
		return 0;
	if (!(key->sk_flags & SK_SEARCHARRAY))
	{
		*queries = palloc(sizeof(FannLabelQuery));
		key_query(index, key, key->sk_argument, *queries);
		return 1;
	}

	a = DatumGetArrayTypeP(key->sk_argument);
	get_typlenbyvalalign(ARR_ELEMTYPE(a), &len, &byval, &align);
	deconstruct_array(a, ARR_ELEMTYPE(a), len, byval, align, &elems, &nulls, &n);
	*queries = palloc(sizeof(FannLabelQuery) * Max(n, 1));
	if (ft->kind == FILTER_SCALAR)
	{
		FannLabelQuery *q = *queries;
		LabelList	l;

		list_init(&l);
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				list_add(&l, scalar_label(key, ft, elems[i]));
		list_normalise(&l, 0);
		q->test = l.n > 0 ? FANN_TEST_ANY : FANN_TEST_NONE;
		q->labels = l.v;
		q->nlabels = l.n;
		q->cards = NULL;
		q->recheck = true;
		q->equality = false;
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			key_query(index, key, elems[i], &(*queries)[k++]);
	return k;
}
