/*
 * fann.c
 *	  Entry points of the fann index access method: the library's
 *	  initialisation and the handler that names the AM callbacks.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "fann.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	FannDefineOptions();
	FannDefineSimdGuc();
	FannInstallPlannerHook();
	MarkGUCPrefixReserved("fann");
}

PG_FUNCTION_INFO_V1(fann_handler);
Datum
fann_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;	/* ordering and label strategies differ per opclass */
	amroutine->amsupport = FANN_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = true;	/* = ANY on scalar filter columns */
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = fannbuild;
	amroutine->ambuildempty = fannbuildempty;
	amroutine->aminsert = fanninsert;
	amroutine->ambulkdelete = fannbulkdelete;
	amroutine->amvacuumcleanup = fannvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = fanncostestimate;
	amroutine->amoptions = fannoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = fannbuildphasename;
	amroutine->amvalidate = fannvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = fannbeginscan;
	amroutine->amrescan = fannrescan;
	amroutine->amgettuple = fanngettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = fannendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
