/*
 * validate.c
 *	  amvalidate for fann operator classes.
 *
 * Vector opclasses (on real[]) hold one ordering operator whose strategy
 * names the metric; fann_label_ops (on integer[]) holds the search operators
 * =, @> and &&.  fann has no support functions.
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "fann.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

bool
fannvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	CatCList   *oprlist;
	CatCList   *proclist;
	bool		vector;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);
	vector = opcintype == FLOAT4ARRAYOID;

	if (!vector && opcintype != INT4ARRAYOID)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("fann operator class \"%s\" must be for type real[] or integer[]",
						opclassname)));
		result = false;
	}

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	if (proclist->n_members > 0)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("fann operator class \"%s\" has support functions, fann uses none",
						opclassname)));
		result = false;
	}
	ReleaseCatCacheList(proclist);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);
		bool		ok;

		if (vector)
			ok = op->amopstrategy >= FANN_L2_STRATEGY &&
				op->amopstrategy <= FANN_COSINE_STRATEGY &&
				op->amoppurpose == AMOP_ORDER &&
				OidIsValid(op->amopsortfamily) &&
				check_amop_signature(op->amopopr, FLOAT8OID,
									 FLOAT4ARRAYOID, FLOAT4ARRAYOID);
		else
			ok = op->amopstrategy >= FANN_LABEL_EQUAL_STRATEGY &&
				op->amopstrategy <= FANN_LABEL_OVERLAP_STRATEGY &&
				op->amoppurpose == AMOP_SEARCH &&
				check_amop_signature(op->amopopr, BOOLOID,
									 ANYARRAYOID, ANYARRAYOID);
		if (!ok)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("fann operator class \"%s\" contains invalid operator %s with strategy %d",
							opclassname, format_operator(op->amopopr),
							op->amopstrategy)));
			result = false;
		}
	}
	if (vector && oprlist->n_members != 1)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("fann operator class \"%s\" must contain exactly one ordering operator",
						opclassname)));
		result = false;
	}
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return result;
}
