/*
 * ivf.h
 *	  The learned IVF in the index (LIRA, WWW 2025): built in CREATE INDEX,
 *	  listing inserted rows, VACUUM of its partition pages (ivf.c), its
 *	  probe thresholds measured (ivfcal.c).  Its computation is in lira.h,
 *	  its search in ivfscan.c (search.h).
 */
#ifndef FANN_IVF_H
#define FANN_IVF_H

#include "lira.h"
#include "quant.h"

/* The nearest rows a sample row's targets and calibration count (LIRA: k) */
#define FANN_LIRA_TARGET_K		10
/* Rows per chunk between interrupt checks */
#define FANN_IVF_CHUNK			4096

/* ivf.c: build, inserts, VACUUM */
extern void FannIvfBuild(Relation index, FannMetaPage meta, const float *vectors,
						 int64 nrows, int64 table_rows,
						 const uint32 *ids, const uint32 *groups,
						 const ItemPointerData *tids);
extern Size FannIvfBuildBytes(Relation index, int64 nrows, int64 table_rows, int dim);
extern int	FannIvfMinRows(Relation index, int64 table_rows);
extern void FannIvfInsert(Relation index, FannMetaPage meta, const FannModel *model,
						  uint32 id, uint32 gid, ItemPointer tid, const float *vec,
						  const FannCodeData *code);
extern void FannIvfVacuumPage(Relation index, Buffer buf, int dim,
							  IndexBulkDeleteCallback callback, void *callback_state);

/* ivfcal.c: the probe thresholds (fann.h) */
extern void FannIvfCalibrate(FannMetaPage meta, const FannProber *p, const float *vectors,
							 int64 nrows, const uint64 *trained, const int32 *own,
							 const int32 *second, FannDistanceFunction distance,
							 int nthreads, uint64 seed);

#endif							/* FANN_IVF_H */
