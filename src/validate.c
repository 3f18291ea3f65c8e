/*
 * validate.c
 *	  amvalidate for fann operator classes.
 *
 * Vector opclasses hold one ordering operator whose strategy names the
 * metric: on real[] nothing else, on another type (fann_vector's, for
 * pgvector's vector and halfvec) support function 1, which says how that
 * type stores a vector (fann.h).  Label opclasses hold the search operators
 * =, @>, && and <@: on integer[] nothing else, on bigint[] and text[] support
 * function 2, which names the label type.
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "fann.h"
#include "utils/builtins.h"
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
	/*
	 * Support functions: at most one, 1 in a vector opclass of a type other
	 * than real[], 2 in a label opclass of a type other than integer[]
	 */
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	vector = opcintype != INT4ARRAYOID;
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (proc->amprocnum == FANN_LABEL_TYPE_PROC)
			vector = false;
		if (opcintype == FLOAT4ARRAYOID || opcintype == INT4ARRAYOID ||
			proclist->n_members != 1 ||
			(proc->amprocnum != FANN_VECTOR_TYPE_PROC &&
			 proc->amprocnum != FANN_LABEL_TYPE_PROC) ||
			!check_amproc_signature(proc->amproc, INT4OID, true, 1, 1, INTERNALOID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("fann operator class \"%s\" contains invalid support function %s with number %d",
							opclassname, format_procedure(proc->amproc), proc->amprocnum)));
			result = false;
		}
	}
	if (opcintype != FLOAT4ARRAYOID && opcintype != INT4ARRAYOID &&
		proclist->n_members == 0)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("fann operator class \"%s\" must say how type %s holds vectors (support function 1) or labels (support function 2)",
						opclassname, format_type_be(opcintype))));
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
				check_amop_signature(op->amopopr, FLOAT8OID, opcintype, opcintype);
		else
			ok = op->amopstrategy >= FANN_LABEL_EQUAL_STRATEGY &&
				op->amopstrategy <= FANN_LABEL_CONTAINED_STRATEGY &&
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
