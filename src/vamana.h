/*
 * vamana.h
 *	  In-memory Vamana graphs (DiskANN, NeurIPS 2019), used by CREATE INDEX
 *	  for each group's graph and for the cross-edge searches of UNG.
 *
 * Pure computation on plain memory.  VamanaSearch, VamanaPrune, VamanaMedoid
 * and a group build's parallel batches do no palloc, elog or buffer access,
 * so they may run inside OpenMP parallel regions; the scratch space is
 * allocated beforehand (the Init functions), and VamanaBuildGroup checks for
 * interrupts between batches, on the backend's thread.
 */
#ifndef VAMANA_H
#define VAMANA_H

#include "candidates.h"
#include "fann.h"

/* Points are global positions into one row-major vector array */
typedef struct VamanaSpace
{
	const float *vectors;
	int			dim;
	FannDistanceFunction distance;
	float		alpha;			/* RobustPrune slack; 1 for inner product */
	uint32	   *adj;			/* stride slots per point, InvalidFannId-padded */
	int			stride;
	int			degree;			/* intra-group slots: [0, degree) */
} VamanaSpace;

/* Per-thread scratch, sized for the largest group it serves */
typedef struct VamanaScratch
{
	uint8	   *stamp;			/* visited marks, indexed by id - first: bytes,
								 * so that a large group's fit the caches */
	int			max_points;		/* size of stamp */
	uint32		marked;			/* marks lie in [0, marked) */
	uint8		epoch;
	FannNear *list;			/* search list, list_size */
	int			list_size;
	FannNear *pool;			/* prune input, pool_size */
	int			pool_size;
	FannNear *expanded;		/* the nodes a search expanded, in order */
	int			nexpanded;
	int			expanded_size;
} VamanaScratch;

/* Scratch of one group build: permutation, batch buffers */
typedef struct VamanaBuild
{
	uint32	   *perm;			/* group size */
	bool	   *reached;		/* group size */
	uint32	   *batch_adj;		/* max_batch * degree */
	uint32	   *pairs;			/* max_batch * degree * 2 */
	int			max_batch;
} VamanaBuild;

extern Size VamanaScratchBytes(int max_points, int list_size, int pool_size);
extern void VamanaScratchInit(VamanaScratch *s, int max_points, int list_size, int pool_size);
extern Size VamanaBuildBytes(int max_points, int max_batch, int degree);
extern void VamanaBuildInit(VamanaBuild *b, int max_points, int max_batch, int degree);

extern int	VamanaSearch(const VamanaSpace *sp, const float *query, uint32 first,
						 const uint32 *seeds, int nseeds, int list_size,
						 VamanaScratch *s);
extern int	VamanaPrune(const VamanaSpace *sp, uint32 p, FannNear *cands, int n,
						int max_degree, uint32 *out);
extern uint32 VamanaMedoid(const VamanaSpace *sp, uint32 first, uint32 count,
						   float *centroid);
extern void VamanaBuildGroup(const VamanaSpace *sp, uint32 first, uint32 count,
							 uint32 medoid, int list_size, uint64 seed,
							 bool parallel, VamanaBuild *b,
							 VamanaScratch *scratch, int nscratch);

#endif							/* VAMANA_H */
