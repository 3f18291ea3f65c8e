/*
 * build.h
 *	  The state CREATE INDEX shares between the in-memory build (build.c) and
 *	  the streamed one (buildstream.c), and the element layout both write.
 */
#ifndef FANN_BUILD_H
#define FANN_BUILD_H

#include "quant.h"
#include "ung.h"

/* progress subphases of pg_stat_progress_create_index (fannbuildphasename) */
#define FANN_PHASE_LABELS	2
#define FANN_PHASE_ELEMENTS 3
#define FANN_PHASE_GRAPH	4
#define FANN_PHASE_WRITE	5
#define FANN_PHASE_IVF		6
#define FANN_PHASE_LINK		7
#define FANN_PHASE_CALIBRATE	8

typedef struct FannBuildState
{
	Relation	index;
	int			dimensions;
	int			per_page;		/* elements per page */
	int			unit;			/* element pages per neighbour page */
	int64		nelempages;
	int			nneighbors;		/* graph_degree + cross_edges */
	bool		streamed;		/* rows go to their pages in pass 2 */
	float	   *vectors;		/* pass 2: every row's vector, by position */
	ItemPointerData *tids;		/* and its heap TID */
	uint32	   *ids;			/* after the graph: its element id */
	uint32	   *gids;			/* and its group id */
	int64		nsample;		/* streamed: the arrays hold a sample */
	int64	   *positions;		/* of rows at these positions */
	uint64		seed;			/* for the reservoir */

	/* open-addressing hash of label sets -> groups */
	FannBuildGroup **slots;
	int			nslots;
	FannBuildGroup **groups;		/* in insertion, later in layout order */
	int			ngroups;
	int			maxgroups;

	Size		memory;			/* bytes held for groups */
	int64		nrows;			/* pass 1 */
	int64		written;		/* pass 2 */
	MemoryContext ctx;			/* the build's memory */
	MemoryContext tmpctx;		/* reset after each row */
} FannBuildState;

/*
 * The element region (fann.h): units of bs->unit element pages, each
 * followed by the neighbour page holding their adjacency lists (the last
 * unit may be short).
 */
static inline BlockNumber
element_block(FannBuildState *bs, int64 pos)
{
	int64		e = pos / bs->per_page;

	return 1 + (e / bs->unit) * (bs->unit + 1) + e % bs->unit;
}

static inline BlockNumber
neighbor_block(FannBuildState *bs, int64 pos)
{
	int64		e = pos / bs->per_page;
	int64		u = e / bs->unit;

	return 1 + u * (bs->unit + 1) + Min(bs->unit, bs->nelempages - u * bs->unit);
}

static inline uint32
position_id(FannBuildState *bs, int64 pos)
{
	return FannMakeId(element_block(bs, pos),
					  FirstOffsetNumber + pos % bs->per_page, bs->per_page);
}

/* An element slot now holds a live row (no edges yet) */
static inline void
FannFillElement(FannElement e, ItemPointer tid, uint32 gid, const float *vec, int dim)
{
	e->heaptid = *tid;
	e->flags = 0;
	e->group = gid;
	e->next = InvalidFannId;
	e->nextfree = InvalidFannId;
	FannEncode(vec, dim, &e->c);
}

/* buildstream.c */
extern void FannStreamPlan(FannBuildState *bs, Size row, Size inmemory);
extern void FannStreamRow(FannBuildState *bs, int64 pos, ItemPointer tid, uint32 gid,
						  const float *vec);
extern void FannStreamLink(FannBuildState *bs, FannMetaPage meta);

/* graphcal.c */
extern void FannGraphCalibrate(Relation index, FannMetaPage meta, const float *vectors,
							   int64 nrows, const uint32 *ids, const uint32 *gids,
							   FannBuildGroup **groups, int ngroups);

#endif							/* FANN_BUILD_H */
