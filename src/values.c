/*
 * values.c
 *	  What the datums of a row and of a query mean to fann: the metric of the
 *	  index's opclass, vectors from real[] arrays or pgvector's vector and
 *	  halfvec values, each checked, with a clear error for what fann cannot
 *	  index; the filter columns' labels come from filters.c.
 */
#include "postgres.h"

#include "access/genam.h"
#include "catalog/pg_type.h"
#include "fann.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The metric of the vector column's opclass: which ordering operator it has */
FannMetric
FannIndexMetric(Relation index)
{
	Oid			opfamily = index->rd_opfamily[0];
	Oid			type = index->rd_opcintype[0];

	for (int s = FANN_L2_STRATEGY; s <= FANN_COSINE_STRATEGY; s++)
		if (OidIsValid(get_opfamily_member(opfamily, type, type, s)))
			return (FannMetric) s;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("first column of fann index \"%s\" must use a vector operator class",
					RelationGetRelationName(index)),
			 errhint("Use fann_l2_ops, fann_ip_ops or fann_cosine_ops.")));
	return FANN_METRIC_L2;		/* keep compiler quiet */
}

/*
 * What column attno's opclass says in support function procnum (0 without
 * one): how it stores vectors or labels
 */
static int32
opclass_says(Relation index, AttrNumber attno, uint16 procnum, int32 max)
{
	int32		type;

	if (IndexRelationGetNumberOfKeyAttributes(index) < attno ||
		!OidIsValid(index_getprocid(index, attno, procnum)))
		return 0;
	type = DatumGetInt32(FunctionCall1(index_getprocinfo(index, attno, procnum),
									   PointerGetDatum(NULL)));
	if (type < 0 || type > max)
		elog(ERROR, "fann index \"%s\": support function %d says %d",
			 RelationGetRelationName(index), procnum, type);
	return type;
}

/* How the index's vector column stores a vector: real[] unless its opclass says */
FannVectorType
FannIndexVectorType(Relation index)
{
	return (FannVectorType) opclass_says(index, 1, FANN_VECTOR_TYPE_PROC, FANN_VECTOR_HALFVEC);
}

/* Support function 1 of fann_vector's opclasses: their columns' layout */
PG_FUNCTION_INFO_V1(fann_vector_type_pgvector);
Datum
fann_vector_type_pgvector(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(FANN_VECTOR_PGVECTOR);
}

PG_FUNCTION_INFO_V1(fann_vector_type_halfvec);
Datum
fann_vector_type_halfvec(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(FANN_VECTOR_HALFVEC);
}

/*
 * An error unless the index is on a vector column (real[], or a type whose
 * opclass names how to read it) followed by filter columns fann takes
 */
void
FannCheckIndexDefinition(Relation index)
{
	if (index->rd_opcintype[0] != FLOAT4ARRAYOID &&
		!OidIsValid(index_getprocid(index, 1, FANN_VECTOR_TYPE_PROC)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("fann index must be on a vector column (real[], or vector or halfvec with fann_vector), optionally followed by filter columns")));
	(void) FannIndexMetric(index);
	FannCheckFilterColumns(index);
}

/*
 * The row's vector and label set, checked.  Returns NULL for a row without a
 * vector, which is not indexed.  *nlabels is -1 for the NULL group
 * (FannRowLabels).
 */
const float *
FannRowValues(Relation index, Datum *values, bool *isnull, int *dim,
			  int32 **labels, int *nlabels)
{
	const float *vec;

	if (isnull[0])
		return NULL;
	vec = FannVectorFromDatum(values[0], FannIndexVectorType(index), dim, true);
	if (*dim > FANN_MAX_DIMENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector has %d dimensions, fann indexes at most %d",
						*dim, FANN_MAX_DIMENSIONS)));
	*nlabels = FannRowLabels(index, values, isnull, labels);
	return vec;
}

/* An error for a NaN or infinite element of a vector */
void
FannCheckFinite(const float *v, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (isnan(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in vector")));
		if (isinf(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in vector")));
	}
}

/*
 * The float4 elements of a real[] used as a vector, after checking that it is
 * one-dimensional, non-empty and free of NULLs (and, if asked, of NaN/Inf).
 */
const float *
FannVectorFromArray(ArrayType *a, int *dim, bool finite)
{
	if (ARR_NDIM(a) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(a))));
	if (ARR_ELEMTYPE(a) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("vector must be an array of real")));
	if (array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("vector must not contain NULL elements")));
	*dim = ARR_DIMS(a)[0];
	if (finite)
		FannCheckFinite((const float *) ARR_DATA_PTR(a), *dim);
	return (const float *) ARR_DATA_PTR(a);
}

/*
 * pgvector's vector and halfvec values (its documented layout): a varlena
 * header, the dimensions, two unused bytes, then the elements
 */
typedef struct PgvectorHeader
{
	int32		vl_len_;
	int16		dim;
	int16		unused;
} PgvectorHeader;

/* An IEEE half as a float (exact) */
static float
half_to_float(uint16 h)
{
	uint32		sign = (uint32) (h & 0x8000) << 16;
	uint32		exp = (h >> 10) & 0x1F;
	uint32		mant = h & 0x3FF;
	union
	{
		uint32		u;
		float		f;
	}			v;

	if (exp == 0x1F)			/* Inf, NaN */
		v.u = sign | 0x7F800000 | (mant << 13);
	else if (exp != 0)			/* normal: rebias 15 -> 127 */
		v.u = sign | ((exp + 112) << 23) | (mant << 13);
	else if (mant == 0)
		v.u = sign;
	else
	{
		/* subnormal: mant * 2^-24 */
		v.f = (float) mant * (1.0f / 16777216.0f);
		v.u |= sign;
	}
	return v.f;
}

/*
 * The float4 elements of a vector datum of the given type, checked like
 * FannVectorFromArray's; halfvec elements converted (exactly) into palloc'd
 * memory
 */
const float *
FannVectorFromDatum(Datum d, FannVectorType type, int *dim, bool finite)
{
	struct varlena *v;
	const PgvectorHeader *h;
	Size		elsize;
	float	   *x;

	if (type == FANN_VECTOR_REAL_ARRAY)
		return FannVectorFromArray(DatumGetArrayTypeP(d), dim, finite);

	v = PG_DETOAST_DATUM(d);
	h = (const PgvectorHeader *) v;
	elsize = type == FANN_VECTOR_HALFVEC ? sizeof(uint16) : sizeof(float4);
	if (h->dim < 1 || VARSIZE(v) != sizeof(PgvectorHeader) + h->dim * elsize)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s value of %d dimensions has %zu bytes, not what pgvector's layout gives",
						type == FANN_VECTOR_HALFVEC ? "halfvec" : "vector", h->dim,
						(Size) VARSIZE(v))));
	*dim = h->dim;
	if (type == FANN_VECTOR_PGVECTOR)
		x = (float *) ((char *) v + sizeof(PgvectorHeader));
	else
	{
		const uint16 *hx = (const uint16 *) ((const char *) v + sizeof(PgvectorHeader));

		x = palloc(sizeof(float) * h->dim);
		for (int i = 0; i < h->dim; i++)
			x[i] = half_to_float(hx[i]);
	}
	if (finite)
		FannCheckFinite(x, *dim);
	return x;
}

void
FannCheckDimensions(int got, int expected)
{
	if (got != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", got, expected)));
}

/* qsort / bsearch order of labels */
int
FannCompareLabels(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}
