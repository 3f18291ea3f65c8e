/*
 * vamana.h
 *	  In-memory Vamana graphs (DiskANN, NeurIPS 2019), used by CREATE INDEX
 *	  for each group's graph and for the cross-edge searches of UNG.
 *
 * Everything here is pure computation on plain memory: no palloc, no elog,
 * no buffer access, so it may run inside OpenMP parallel regions.  Callers
 * allocate the scratch space beforehand.
 */
#ifndef VAMANA_H
#define VAMANA_H

#include "fann.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The calling OpenMP thread's number: it picks that thread's scratch */
static inline int
VamanaThread(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

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

typedef struct VamanaCand
{
	float		dist;
	uint32		id;
	bool		expanded;
} VamanaCand;

/* Per-thread scratch, sized for the largest group it serves */
typedef struct VamanaScratch
{
	uint32	   *stamp;			/* visited marks, indexed by id - first */
	int			max_points;		/* size of stamp */
	uint32		epoch;
	VamanaCand *list;			/* search list, list_size */
	int			list_size;
	VamanaCand *pool;			/* prune input, pool_size */
	int			pool_size;
	VamanaCand *expanded;		/* the nodes a search expanded, in order */
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
extern int	VamanaPrune(const VamanaSpace *sp, uint32 p, VamanaCand *cands, int n,
						int max_degree, uint32 *out);
extern uint32 VamanaMedoid(const VamanaSpace *sp, uint32 first, uint32 count,
						   float *centroid);
extern void VamanaBuildGroup(const VamanaSpace *sp, uint32 first, uint32 count,
							 uint32 medoid, int list_size, uint64 seed,
							 bool parallel, VamanaBuild *b,
							 VamanaScratch *scratch, int nscratch);

#endif							/* VAMANA_H */
