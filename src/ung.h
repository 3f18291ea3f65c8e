/*
 * ung.h
 *	  The Unified Navigating Graph (UNG, SIGMOD 2025): groups of rows with
 *	  the same label set, the label navigating graph (LNG) between them, and
 *	  a Vamana graph per group with cross edges into supersets.  Built in
 *	  memory by CREATE INDEX (ung.c), kept current in the index pages by
 *	  inserts and VACUUM (graph.c); searched by graphscan.c (search.h).
 */
#ifndef UNG_H
#define UNG_H

#include "fann.h"
#include "vamana.h"

/* One distinct label set during CREATE INDEX (build.c, ung.c) */
typedef struct FannBuildGroup
{
	uint32		hash;
	int			nlabels;		/* -1: the NULL-labels group */
	int32	   *labels;
	int64		count;			/* rows, from pass 1 */
	int64		filled;			/* rows written in pass 2 */
	int64		first;			/* position of its first element */
	uint32		gid;
	uint32		entry_points[FANN_ENTRY_POINTS];	/* positions */
	uint32	   *lng;			/* group indexes: parents, then children */
	uint16		nparents;
	uint16		nchildren;
} FannBuildGroup;

/*
 * Search list of the cross-edge searches in a child group.  A longer list
 * (build_list / 2) was measured on SIFT: no better recall, twice the build.
 * CREATE INDEX's cross-edge pass (build_pass) mostly starts next to the
 * answer (cross_seeds in ung.c) and needs less: cross_edges measured the
 * recall of 2 * cross_edges on SIFT and the scale set, with a quarter less
 * time in the cross edges.
 */
static inline int
FannCrossList(int cross_edges, bool build_pass)
{
	return Max(16, build_pass ? cross_edges : 2 * cross_edges);
}

/* Build side (ung.c) */
extern bool FannLabelsSubset(const int32 *a, int na, const int32 *b, int nb);
extern int64 FannBuildLng(FannBuildGroup **groups, int ngroups);
extern void FannBuildGraph(VamanaSpace *sp, FannBuildGroup **groups, int ngroups,
						   int64 nrows, int build_list, int cross_edges,
						   uint32 *newpos, uint32 *oldpos);
extern Size FannGraphBuildBytes(FannBuildGroup **groups, int ngroups, int degree,
								int build_list);

/* Maintenance after the build (graph.c) */
extern void FannGraphLink(Relation index, FannMetaPage meta, uint32 id, uint32 gid,
						  const float *vec);
extern void FannGraphRepair(Relation index, FannMetaPage meta, const uint64 *dead,
							uint32 nids);

#endif							/* UNG_H */
