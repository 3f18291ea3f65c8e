/*
 * validate.c
 *	  amvalidate for fann operator classes.
 *
 * Vector opclasses hold one ordering operator whose strategy names the
 * metric: on real[] nothing else, on another type (fann_vector's, for
 * pgvector's vector and halfvec) support function 1, which says how that
 * type stores a vector (fann.h).  Filter opclasses hold search operators
 * (=, @>, &&, <@, ?, ?|, ?&: filters.c) and no support function; which
 * types fann takes is filters.c's to check, at CREATE INDEX.
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
	 * Support functions: only 1, in a vector opclass of a type other than
	 * real[]; an opclass is a vector one if its type is real[] or it has one
	 */
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	vector = opcintype == FLOAT4ARRAYOID || proclist->n_members > 0;
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc proc = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (opcintype == FLOAT4ARRAYOID || proclist->n_members != 1 ||
			proc->amprocnum != FANN_VECTOR_TYPE_PROC ||
			!check_amproc_signature(proc->amproc, INT4OID, true, 1, 1, INTERNALOID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("fann operator class \"%s\" contains invalid support function %s with number %d",
							opclassname, format_procedure(proc->amproc), proc->amprocnum)));
			result = false;
		}
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
				op->amopstrategy <= FANN_MAX_STRATEGY &&
				op->amoppurpose == AMOP_SEARCH &&
				check_amop_signature(op->amopopr, BOOLOID,
									 op->amoplefttype, op->amoprighttype);
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
