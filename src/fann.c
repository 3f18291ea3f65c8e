/*
 * fann.c
 *	  Entry points of the fann index access method: the handler, the GUCs,
 *	  reloptions and fann_last_scan().
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "commands/vacuum.h"
#include "fann.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int			fann_strategy = FANN_STRATEGY_AUTO;
FannScanStats fann_last_stats;

static relopt_kind fann_relopt_kind;

/* reloptions: none yet beyond the standard header */
typedef struct FannOptions
{
	int32		vl_len_;
} FannOptions;

static const struct config_enum_entry fann_strategy_options[] = {
	{"auto", FANN_STRATEGY_AUTO, false},
	{"exact", FANN_STRATEGY_EXACT, false},
	{NULL, 0, false}
};

void		_PG_init(void);

void
_PG_init(void)
{
	fann_relopt_kind = add_reloption_kind();

	DefineCustomEnumVariable("fann.strategy",
							 "Search path of fann index scans.",
							 "auto chooses per query; exact scans every matching row.",
							 &fann_strategy, FANN_STRATEGY_AUTO, fann_strategy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	FannDefineSimdGuc();
	MarkGUCPrefixReserved("fann");
}

bytea *
fannoptions(Datum reloptions, bool validate)
{
	return (bytea *) build_reloptions(reloptions, validate, fann_relopt_kind,
									  sizeof(FannOptions), NULL, 0);
}

PG_FUNCTION_INFO_V1(fann_handler);
Datum
fann_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;	/* ordering and label strategies differ per opclass */
	amroutine->amsupport = 0;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = true;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
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

PG_FUNCTION_INFO_V1(fann_last_scan);
Datum
fann_last_scan(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	FannScanStats *s = &fann_last_stats;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (s->path == NULL)
		PG_RETURN_NULL();

	values[0] = CStringGetTextDatum(s->path);
	values[1] = Int64GetDatum(s->groups_matched);
	nulls[1] = s->groups_matched < 0;	/* every group: not computed */
	values[2] = Int64GetDatum(s->rows_matching);
	values[3] = Int64GetDatum(s->elements_visited);
	values[4] = Int64GetDatum(s->distance_computations);
	values[5] = Int64GetDatum(s->rows_returned);
	values[6] = Int32GetDatum(s->passes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
