/*
 * compat.h
 *	  The differences between the PostgreSQL versions fann builds against
 *	  (15 to 18), each behind one name, so that no other file tests a
 *	  version.  Written to the documented API of each release.
 */
#ifndef FANN_COMPAT_H
#define FANN_COMPAT_H

#include "access/genam.h"
#include "access/relscan.h"
#include "pgstat.h"
#include "storage/smgr.h"
#include "utils/rel.h"

/* 16 renamed a relation's physical identifier (RelFileNode -> Locator) */
#if PG_VERSION_NUM >= 160000
#define FannRelationLocator(rel)	((rel)->rd_locator)
#define FannSmgrLocator(smgr)		((smgr)->smgr_rlocator.locator)
#else
#define FannRelationLocator(rel)	((rel)->rd_node)
#define FannSmgrLocator(smgr)		((smgr)->smgr_rnode.node)
#endif

/* 18 tells VACUUM's delay point whether ANALYZE is calling */
#if PG_VERSION_NUM >= 180000
#define FannVacuumDelayPoint()		vacuum_delay_point(false)
#else
#define FannVacuumDelayPoint()		vacuum_delay_point()
#endif

/*
 * One search of the index by a scan: counted in pg_stat_user_indexes and,
 * from 18, in EXPLAIN ANALYZE's "Index Searches"
 */
static inline void
FannCountIndexSearch(IndexScanDesc scan)
{
	pgstat_count_index_scan(scan->indexRelation);
#if PG_VERSION_NUM >= 180000
	if (scan->instrument)
		scan->instrument->nsearches++;
#endif
}

#endif							/* FANN_COMPAT_H */
