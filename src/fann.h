/*
 * fann.h
 *	  The on-disk format of the fann index access method, its parameters, and
 *	  the lower layers every other file builds on: values, distances, pages
 *	  and label sets.
 *
 * A fann index answers "the k nearest vectors among the rows whose filter
 * columns satisfy a conjunction of =, IN, @>, &&, <@, ?, ?| and ?&".
 * Vectors are real[] or pgvector's vector and halfvec (read by their
 * layout, FannVectorType); each filter column's values become integer
 * labels, namespaced by column (filters.c).  Rows with the
 * identical normalised label set form one *group* (UNG, SIGMOD 2025, section
 * 3); every structure below is keyed by element ids and group ids, which the
 * search paths share.
 *
 * Page layout (all pages are standard PostgreSQL pages with a FannPageOpaque
 * special space that names the page type; its last two bytes hold
 * FANN_PAGE_ID, as bloom, GIN, SP-GiST and pgvector do, so that tools such
 * as pg_filedump recognise fann pages):
 *
 *	block 0 		metapage: FannMetaPageData (dimensions, metric, where each
 *					structure starts, free-slot list heads)
 *	element pages	one fixed-size FannElementData item per row: heap TID,
 *					group id, and the vector's 8-bit code (quant.h) with its
 *					error bound; the vector itself stays in the table, whose
 *					rows the executor ranks (scan.c).  The build writes the
 *					elements of each group into one contiguous id range,
 *					groups one after the other.  opaque->next names the
 *					neighbour page holding the page's adjacency lists,
 *					opaque->nb_base the first list.
 *	neighbour pages	adjacency lists as a raw uint32 array: per element
 *					graph_degree intra-group neighbours, then cross_edges
 *					neighbours in superset groups (UNG section 4).
 *	the element region
 *					the build's element pages from block 1, each unit of as
 *					many as one neighbour page serves followed by that page
 *					(the last unit may be short).  Element pages that inserts
 *					add later get neighbour pages as they need them.
 *	group pages 	one fixed-size FannGroupData item per distinct label set:
 *					its size, element range, chain of rows inserted later, free
 *					list, live row count, graph entry points, and where its
 *					label navigating graph (LNG) edges are; a group created
 *					after the build, which has no LNG edges, names up to
 *					FANN_NEW_PARENTS parents itself.  Chained through
 *					opaque->next.
 *	LNG pages		uint32 group ids as a raw array: per group its LNG parents
 *					(maximal proper subsets) then children (minimal proper
 *					supersets), written by the build in one block range.
 *	pair pages		(label, group) postings as a raw array between the page
 *					header and pd_lower.  The build writes them sorted in one
 *					contiguous block range (binary searched); inserts append
 *					unsorted pairs to a chain of delta pages.
 *	model pages 	the IVF probing model (LIRA, WWW 2025) as one raw byte
 *					array over a block range: FannModelHeader, then floats:
 *					centroids, input normalisation, the MLP's weights (ivf.h).
 *	partition directory pages
 *					one FannPartitionData per IVF partition, a raw array
 *					over a block range: the partition's page chain and size.
 *	partition pages the rows listed in a partition, in blocks of 32 rows
 *					(FannBlockData) from the page's contents to pd_lower:
 *					their elements, groups, heap TIDs and the factors of
 *					their 4-bit codes column by column, then the codes
 *					transposed for fast scans (faiss's 4-bit layout): a probe
 *					bounds 32 rows at once with byte-shuffle table lookups
 *					and touches only the rows whose bound is in reach, and
 *					reads the 8-bit codes of the element pages only for the
 *					few whose 4-bit bound is lowest.  Rows the model also
 *					places elsewhere are listed twice (learned redundancy).
 *					Chained through opaque->next; the build writes each
 *					partition's pages contiguously.
 *	block code pages
 *					a block's codes that do not fit its page (more than
 *					about 430 dimensions), named by the block.
 *
 * Element and group ids are computed from their location, so no map is kept:
 *	element id = blkno * elements_per_page + (offnum - 1)
 *	group id   = blkno * FANN_GROUPS_PER_PAGE + (offnum - 1)
 * Ids of blocks holding other structures are simply never used.
 *
 * Each element is reachable from exactly one place: its group's build range
 * if its id lies inside that range, otherwise its group's insert chain
 * (FannElementData.next).  Chain links are written once and never changed, so
 * a scan following a chain is safe against concurrent inserts and VACUUM.
 *
 * Locking order: metapage, then group pages, then pair pages, then element
 * pages, then neighbour pages.  An insert holds the metapage exclusively only
 * while it finds or creates its group and takes a slot (the free lists and
 * the structures' tails hang off the metapage; VACUUM frees slots under it
 * too); it then links the row into the graph and the IVF partitions beside
 * other inserts and VACUUM: adjacency lists change by compare-and-write under
 * their neighbour page's lock (graph.c), partition lists under their
 * directory page's (ivf.c), a block's code pages after its partition page
 * (by appends and scans alike).  Heavyweight locks: an insert holds
 * FANN_UPDATE_LOCK shared throughout, and VACUUM takes it exclusively once,
 * between marking rows DEAD and repairing the graph around them, to wait out
 * the inserts that may have seen those rows live (graph.c); rows linked into
 * a group with a free entry point slot take a lock on their group page's
 * block number, one at a time.
 *
 * Layers, each calling only those listed before it: the parameters
 * (options.c); the pure computation (candidates.h; vamana.h and ung.c's
 * in-memory graph build; lira.h: k-means and the probing model); values.c,
 * filters.c, distance.c, page.c and labels.c, declared here, which read datums and
 * pages; search.h, the one interface of the exact, graph and ivf search
 * paths; the maintenance (insert.c, vacuum.c, graph.c, ivf.h) and the build
 * (build.h); the AM callbacks (scan.c, cost.c, fann.c, ...) on top.
 */
#ifndef FANN_H
#define FANN_H

#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/array.h"
#include "utils/relcache.h"

#define FANN_MAGIC				0x46414E4E	/* "FANN" */
#define FANN_VERSION			7
#define FANN_METAPAGE_BLKNO		0
#define FANN_UPDATE_LOCK		0	/* heavyweight page lock tag (see above) */
#define FANN_MAX_DIMENSIONS		2000

/* Operator strategies: ordering operators of the vector opclasses ... */
#define FANN_L2_STRATEGY		1
#define FANN_IP_STRATEGY		2
#define FANN_COSINE_STRATEGY	3
/* ... and search operators of the filter opclasses (filters.c) */
#define FANN_LABEL_EQUAL_STRATEGY		4	/* scalar and array = */
#define FANN_LABEL_CONTAINS_STRATEGY	5	/* array and jsonb @> */
#define FANN_LABEL_OVERLAP_STRATEGY		6	/* array && */
#define FANN_LABEL_CONTAINED_STRATEGY	7	/* array <@ */
#define FANN_JSONB_EXISTS_STRATEGY		8	/* jsonb ? */
#define FANN_JSONB_EXISTS_ANY_STRATEGY	9	/* jsonb ?| */
#define FANN_JSONB_EXISTS_ALL_STRATEGY	10	/* jsonb ?& */
#define FANN_MAX_STRATEGY				10

typedef enum FannMetric
{
	FANN_METRIC_L2 = FANN_L2_STRATEGY,
	FANN_METRIC_IP = FANN_IP_STRATEGY,
	FANN_METRIC_COSINE = FANN_COSINE_STRATEGY
} FannMetric;

/*
 * Parameters: reloptions and GUCs (options.c), as DEFAULT / MIN / MAX.
 */
#define FANN_DEFAULT_GRAPH_DEGREE	32	/* Vamana R */
#define FANN_MIN_GRAPH_DEGREE		4
#define FANN_MAX_GRAPH_DEGREE		128
#define FANN_DEFAULT_BUILD_LIST		100 /* Vamana L */
#define FANN_MIN_BUILD_LIST			10
#define FANN_MAX_BUILD_LIST			1000
#define FANN_DEFAULT_ALPHA			1.0 /* RobustPrune slack; beams start near the
										 * query, long edges only cost
										 * (docs/design.md) */
#define FANN_MIN_ALPHA				1.0
#define FANN_MAX_ALPHA				2.0
#define FANN_DEFAULT_CROSS_EDGES	12	/* UNG cross-group edges (UNG: 6; 12
										 * measured better, docs/design.md) */
#define FANN_MIN_CROSS_EDGES		0
#define FANN_MAX_CROSS_EDGES		32
#define FANN_DEFAULT_PARTITIONS		0	/* 0: the square root of the rows */
#define FANN_MIN_PARTITIONS			0
#define FANN_MAX_PARTITIONS			16384
#define FANN_DEFAULT_REDUNDANCY		true

#define FANN_DEFAULT_EF_SEARCH		0	/* 0: the index's calibration */
#define FANN_MIN_EF_SEARCH			0
#define FANN_MAX_EF_SEARCH			10000
#define FANN_UNCALIBRATED_EF_SEARCH 64	/* of indexes without one */
/*
 * Auto searches a table of at most this many rows exactly: its answers need
 * no calibration to hold, and cost under a millisecond.  On the 10,000 rows
 * of yfcc-dummy, whose queries are not rows of the table, the ivf path
 * reached recall 0.77 at target 0.95 (docs/performance.md, "Auto by cost").
 */
#define FANN_EXACT_TABLE_ROWS		20000
#define FANN_DEFAULT_EXACT_THRESHOLD	2000
#define FANN_MIN_EXACT_THRESHOLD	0
#define FANN_MAX_EXACT_THRESHOLD	INT_MAX
#define FANN_MIN_BUILD_THREADS		1	/* default: the CPU cores */
#define FANN_MAX_BUILD_THREADS		64
#define FANN_DEFAULT_PROBE_THRESHOLD	0.0 /* 0: the index's calibration */
#define FANN_MIN_PROBE_THRESHOLD	0.0
#define FANN_MAX_PROBE_THRESHOLD	1.0
#define FANN_UNCALIBRATED_PROBE_THRESHOLD	0.1 /* of indexes without one */
#define FANN_DEFAULT_TARGET_RECALL	0.95
#define FANN_MIN_TARGET_RECALL		0.5
#define FANN_MAX_TARGET_RECALL		1.0
#define FANN_DEFAULT_MAX_PROBES		64
#define FANN_MIN_MAX_PROBES			1
#define FANN_MAX_MAX_PROBES			FANN_MAX_PARTITIONS

/*
 * CREATE INDEX measures which probe threshold reaches each recall target
 * from FANN_MIN_TARGET_RECALL to 1 in steps of 1 / FANN_CALIBRATION_STEPS
 */
#define FANN_CALIBRATION_STEPS	100
#define FANN_CALIBRATION_POINTS 51	/* (MAX - MIN) * STEPS + 1 */
/* Probe thresholds whose probes the calibration counts: 1 to 10^-6 */
#define FANN_PROBE_LADDER		25
/* Filter selectivities the calibration measures: 1, 1/2, ... 1/64 */
#define FANN_SELECTIVITY_LEVELS 7
/* A calibrated point holds with one-sided 95 % confidence */
#define FANN_CALIBRATION_Z		1.64

/* Adjacency slots of an element, at the reloptions' maxima */
#define FANN_MAX_NEIGHBORS		(FANN_MAX_GRAPH_DEGREE + FANN_MAX_CROSS_EDGES)

/*
 * How the vector column stores a vector.  The real[] opclasses (fann--1.0)
 * have no support function; the opclasses of other types (fann_vector--1.0:
 * pgvector's vector and halfvec) name theirs in support function 1, which
 * returns one of these.  fann reads pgvector's values by their documented
 * layout (a varlena header, int16 dim, int16 unused, then dim float4 or
 * IEEE half elements) and never calls pgvector.
 */
#define FANN_VECTOR_TYPE_PROC	1

typedef enum FannVectorType
{
	FANN_VECTOR_REAL_ARRAY,		/* 0: no support function */
	FANN_VECTOR_PGVECTOR,
	FANN_VECTOR_HALFVEC
} FannVectorType;

#define FANN_NPROCS				1

/* Search paths (GUC fann.strategy) */
typedef enum FannStrategy
{
	FANN_STRATEGY_AUTO,
	FANN_STRATEGY_EXACT,
	FANN_STRATEGY_GRAPH,
	FANN_STRATEGY_IVF
} FannStrategy;

/* How the ivf path orders partitions (GUC fann.probing) */
typedef enum FannProbing
{
	FANN_PROBING_LEARNED,
	FANN_PROBING_NEAREST
} FannProbing;

/* Reloptions */
typedef struct FannOptions
{
	int32		vl_len_;
	int			graph_degree;
	int			build_list;
	double		alpha;
	int			cross_edges;
	int			partitions;		/* 0: chosen from the row count */
	bool		redundancy;
} FannOptions;

#define InvalidFannId			((uint32) 0xFFFFFFFF)

/* Page types */
#define FANN_PAGE_META			1
#define FANN_PAGE_ELEMENT		2
#define FANN_PAGE_GROUP			3
#define FANN_PAGE_PAIR			4
#define FANN_PAGE_LNG			5
#define FANN_PAGE_NEIGHBOR		6
#define FANN_PAGE_MODEL			7
#define FANN_PAGE_PARTDIR		8
#define FANN_PAGE_PARTITION		9
#define FANN_PAGE_BLOCK_CODES	10	/* a block's continuation page */
#define FANN_PAGE_ID			0xFA22	/* identifies fann pages for tools */

/* 16 bytes, so that page_id is the special space's last two bytes */
typedef struct FannPageOpaqueData
{
	BlockNumber next;			/* next page of the same chain, or Invalid;
								 * of an element page: its neighbour page */
	uint16		type;			/* FANN_PAGE_* */
	uint16		nb_base;		/* element page: its first list there */
	uint32		unused;
	uint16		unused2;
	uint16		page_id;		/* FANN_PAGE_ID */
} FannPageOpaqueData;

typedef FannPageOpaqueData *FannPageOpaque;

#define FannPageGetOpaque(page) ((FannPageOpaque) PageGetSpecialPointer(page))

/*
 * The type of a page read by block number, 0 for a new (all-zero) page: a
 * crash while the index was being extended leaves those behind, unused, as
 * relation extension is not WAL-logged
 */
static inline uint16
FannPageType(Page page)
{
	return PageIsNew(page) ? 0 : FannPageGetOpaque(page)->type;
}

typedef struct FannMetaPageData
{
	uint32		magic;
	uint32		version;
	uint16		dimensions;		/* 0 until the first vector arrives */
	uint16		metric;			/* FannMetric */
	uint16		elements_per_page;	/* 0 while dimensions is 0 */
	uint16		unused1;
	uint32		null_group;		/* group of rows whose labels are NULL */
	uint32		empty_group;	/* group of rows whose labels are '{}' */
	uint32		free_head;		/* reusable element slots outside chains */
	BlockNumber insert_page;	/* element page that new slots go to */
	BlockNumber group_first;	/* chain of group pages */
	BlockNumber group_last;
	BlockNumber pair_start;		/* sorted pairs: [start, start + npages) */
	uint32		pair_npages;
	BlockNumber delta_first;	/* chain of unsorted pair pages */
	BlockNumber delta_last;
	BlockNumber lng_start;		/* LNG edges: [start, start + npages) */
	uint32		lng_npages;
	uint16		graph_degree;	/* R: intra-group neighbours per element */
	uint16		cross_edges;	/* neighbours in superset groups */
	uint16		build_list;		/* L of the build and insert searches */
	uint16		lists_per_page; /* adjacency lists a neighbour page holds */
	float4		alpha;			/* RobustPrune slack in effect (1 for inner
								 * product, whose distances can be negative) */
	BlockNumber nb_insert_page; /* neighbour page new element pages use */
	uint32		partitions;		/* IVF partitions, 0 if none */
	uint16		redundancy;		/* rows get a second partition */
	uint16		unused2;
	BlockNumber model_start;	/* model: [start, start + npages) */
	uint32		model_npages;
	BlockNumber partdir_start;	/* partition directory: [start, ...) */
	BlockNumber ivf_end;		/* the build's IVF pages: [model_start, end) */
	/* the probe threshold that reached recall@10 0.50, 0.51, ..., 1.00 */
	uint32		calibration_queries;	/* sample rows it was measured on */
	float4		probe_thresholds[FANN_CALIBRATION_POINTS];
	/* the graph's ef_search that reached them: equality, other predicates */
	uint32		graph_calibration_queries;	/* 0 on indexes built before */
	uint16		graph_ef[2][FANN_CALIBRATION_POINTS];
	/* the distances those searches computed, on average (auto's costs) */
	float4		graph_work[2][FANN_CALIBRATION_POINTS];
	/* the share of the rows that probe threshold 10^(-i/4) probes */
	float4		ivf_share[FANN_PROBE_LADDER];
	/* probe_thresholds under filters keeping 2^-(l + 1) of the rows */
	float4		filtered_thresholds[FANN_SELECTIVITY_LEVELS - 1][FANN_CALIBRATION_POINTS];
} FannMetaPageData;

typedef FannMetaPageData *FannMetaPage;

#define FannPageGetMeta(page) ((FannMetaPage) PageGetContents(page))

/*
 * A vector's 8-bit code (quant.h): x^ = lo + step * code, the row's own
 * range in 256 levels, with what the distance bounds need
 */
typedef struct FannCodeData
{
	float4		lo;				/* the smallest coordinate */
	float4		step;			/* the coordinates' range / 255 */
	float4		eps;			/* |x - x^|, rounded up */
	float4		norm;			/* |x| */
	uint32		sum;			/* the sum of the levels ... */
	uint32		sumsq;			/* ... and of their squares */
	uint8		code[FLEXIBLE_ARRAY_MEMBER];	/* one byte per dimension */
} FannCodeData;

typedef FannCodeData *FannCode;

#define FANN_CODE_SIZE(dim)		(offsetof(FannCodeData, code) + (dim))

/*
 * The 4-bit code of partition rows, a FannCodeData too: the element's code
 * with each level's low four bits dropped (quant.c), x^ = lo + step * code
 * over 16 levels, a level a byte here (partition pages pack them: blocks)
 */

/* Element flags */
#define FANN_ELEMENT_DEAD		0x0001	/* heap row is gone (VACUUM) */
#define FANN_ELEMENT_FREE		0x0002	/* on a free list, may be reused */
#define FANN_ELEMENT_IN_CHAIN	0x0004	/* linked into its group's chain */

typedef struct FannElementData
{
	ItemPointerData heaptid;
	uint16		flags;
	uint32		group;
	uint32		next;			/* next older chain element of the group */
	uint32		nextfree;		/* next free slot, when FREE */
	FannCodeData c;				/* the vector's code; last: variable length */
} FannElementData;

typedef FannElementData *FannElement;

#define FANN_ELEMENT_SIZE(dim) \
	MAXALIGN(offsetof(FannElementData, c) + FANN_CODE_SIZE(dim))
/* The adjacency list of slot on a neighbour page, nneighbors per list */
#define FannPageGetList(page, slot, nneighbors) \
	((uint32 *) PageGetContents(page) + (Size) (slot) * (nneighbors))

/* Graph entry points kept per group (UNG: a medoid plus random members) */
#define FANN_ENTRY_POINTS		4

/*
 * Parents a group created after the build keeps: the largest label sets
 * among the existing proper subsets of its own that have rows.  Their rows
 * nearest each new row take a cross edge to it (graph.c), so a search that
 * matches a parent reaches the group without entering it.
 */
#define FANN_NEW_PARENTS		2

/* nlabels of the group holding rows whose label array is NULL */
#define FANN_NULL_LABELS		((uint32) 0xFFFFFFFF)

typedef struct FannGroupData
{
	uint32		nlabels;		/* size of the label set, or FANN_NULL_LABELS */
	uint32		nlive;			/* rows indexed and not yet vacuumed away */
	uint32		range_start;	/* element ids [start, end) written by build */
	uint32		range_end;
	uint32		chain_head;		/* newest element outside the range */
	uint32		free_head;		/* freed chain elements, reusable */
	uint32		lng_offset;		/* its LNG edges in the LNG array ... */
	uint16		nparents;		/* ... this many parents, then ... */
	uint16		nchildren;		/* ... this many children */
	uint32		entry_points[FANN_ENTRY_POINTS];	/* medoid, then random
													 * members */
	uint32		parents[FANN_NEW_PARENTS];	/* created after the build: its
											 * parents (else InvalidFannId) */
} FannGroupData;

typedef FannGroupData *FannGroup;

#define FANN_PAGE_USABLE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(FannPageOpaqueData)))
#define FANN_GROUPS_PER_PAGE \
	(FANN_PAGE_USABLE / (MAXALIGN(sizeof(FannGroupData)) + sizeof(ItemIdData)))

typedef struct FannPair
{
	int32		label;
	uint32		group;
} FannPair;

#define FANN_PAIRS_PER_PAGE		(FANN_PAGE_USABLE / sizeof(FannPair))
#define FANN_LNG_PER_PAGE		(FANN_PAGE_USABLE / sizeof(uint32))

/* A copy of the LNG page last read (FannLngEdges); blkno invalid at first */
typedef struct FannLngReader
{
	BlockNumber blkno;
	uint32		edges[FANN_LNG_PER_PAGE];
} FannLngReader;

/* The model pages' header (the floats that follow: ivf.h) */
typedef struct FannModelHeader
{
	uint32		magic;
	uint32		partitions;
	uint32		dimensions;
	uint32		nfloats;		/* floats that follow */
} FannModelHeader;

#define FANN_MODEL_MAGIC	0x4C495241	/* "LIRA" */

/* One IVF partition's list (partition directory pages) */
typedef struct FannPartitionData
{
	BlockNumber first;			/* page chain of its entries */
	BlockNumber last;
	uint32		nentries;		/* entries added (dead ones included) */
	uint32		unused;
} FannPartitionData;

#define FANN_PARTITIONS_PER_PAGE	(FANN_PAGE_USABLE / sizeof(FannPartitionData))

/*
 * Partition pages hold their rows in blocks of FANN_BLOCK_ROWS, laid out for
 * fast scans (faiss's 4-bit fast-scan layout): per row its element, group,
 * heap TID and the factors of its 4-bit code (quant.h), each an array over
 * the block's rows, then the codes transposed: per pair of dimensions 32
 * bytes, byte r holding row r's level of the pair's first dimension in its
 * low half and of the second in its high half, so that one byte shuffle
 * looks up 32 rows' partial distances in a query's table (distance.c).
 * Blocks lie one after another from the page's contents to pd_lower.  A
 * block too large for one page keeps the pairs that do not fit on
 * continuation pages (more[]), each as many pairs as a page holds.  Rows are
 * only appended (nrows grows); VACUUM sets a dead row's id to InvalidFannId
 * and leaves its slot.
 */
#define FANN_BLOCK_ROWS			32
#define FANN_BLOCK_MAX_MORE		4	/* continuation pages of 2,000 dimensions */

typedef struct FannBlockData
{
	uint16		nrows;			/* slots used */
	uint16		unused;
	BlockNumber more[FANN_BLOCK_MAX_MORE];	/* continuation pages, in order */
	uint32		ids[FANN_BLOCK_ROWS];	/* elements; InvalidFannId: removed */
	uint32		groups[FANN_BLOCK_ROWS];
	float4		lo[FANN_BLOCK_ROWS];	/* the 4-bit codes' FannCodeData fields */
	float4		step[FANN_BLOCK_ROWS];
	float4		eps[FANN_BLOCK_ROWS];
	float4		norm[FANN_BLOCK_ROWS];
	uint32		sum[FANN_BLOCK_ROWS];
	uint32		sumsq[FANN_BLOCK_ROWS];
	ItemPointerData tids[FANN_BLOCK_ROWS];
	uint8		codes[FLEXIBLE_ARRAY_MEMBER];	/* the pairs on this page */
} FannBlockData;

typedef FannBlockData *FannBlock;

/* Where a block's pairs of dimensions are, for an index's dimensions */
typedef struct FannBlockLayout
{
	int			pairs;			/* (dimensions + 1) / 2 */
	int			head_pairs;		/* on the block's own page */
	int			npages;			/* 1 + continuation pages */
	int			per_page;		/* blocks a page holds */
	Size		size;			/* a block's bytes on its own page */
} FannBlockLayout;

#define FANN_BLOCK_PAIR_BYTES	FANN_BLOCK_ROWS
#define FANN_BLOCK_MORE_PAIRS	(FANN_PAGE_USABLE / FANN_BLOCK_PAIR_BYTES)

/* The calibration point of a recall target: the one at or above it */
static inline int
FannCalibrationPoint(double recall)
{
	int			i = (int) ceil((recall - FANN_MIN_TARGET_RECALL) * FANN_CALIBRATION_STEPS - 1e-6);

	return Min(Max(i, 0), FANN_CALIBRATION_POINTS - 1);
}

/* The recall target of calibration point i */
static inline double
FannCalibrationTarget(int i)
{
	return FANN_MIN_TARGET_RECALL + (double) i / FANN_CALIBRATION_STEPS;
}

/*
 * Whether n sample queries whose recalls sum to sum (their squares to sumsq)
 * show a mean recall of target, FANN_CALIBRATION_Z standard errors of the
 * mean clear of it; no sample shows nothing against it.  The queries, not
 * their neighbours, are the sample: a query's neighbours lie together and
 * are found or missed together (synthetic rows: per-query recall's
 * deviation 0.125 at 0.95, ten independent neighbours' 0.069), so a margin
 * counted over neighbours held 0.955 where new queries got 0.945.
 */
static inline bool
FannCalibrationReaches(double sum, double sumsq, int n, double target)
{
	double		mean,
				var;

	if (n == 0)
		return true;
	mean = sum / n;
	var = n > 1 ? Max(sumsq - sum * mean, 0) / (n - 1) : 0;
	/* 1e-6: sums of 1/n round, and a recall of 1 must still reach 1 */
	return mean - FANN_CALIBRATION_Z * sqrt(var / n) >= target - 1e-6;
}

/*
 * The probe threshold that reached recall in the index's calibration under
 * a filter that keeps a share selectivity of the rows (thresholds fall as
 * recall rises and as the filter narrows): the calibrated level's at or
 * below the selectivity, so that what the calibration showed holds (the
 * threshold interpolated in log selectivity between the levels had
 * synthetic overlap queries at 0.948 for target 0.95); below the narrowest,
 * and on an index without filtered calibrations, scaled by the selectivity
 * (the k nearest matching rows are about the k / s nearest rows).
 */
static inline double
FannProbeThresholdFor(const FannMetaPageData *meta, double recall, double selectivity)
{
	int			p = FannCalibrationPoint(recall);
	double		x = -log2(Min(Max(selectivity, 1e-12), 1.0));
	int			l = (int) ceil(x - 1e-9);

	if (meta->calibration_queries == 0)
		return FANN_UNCALIBRATED_PROBE_THRESHOLD * Min(selectivity, 1.0);
	if (meta->filtered_thresholds[0][p] <= 0 || l >= FANN_SELECTIVITY_LEVELS)
	{
		double		last = meta->filtered_thresholds[0][p] <= 0 ? 0 : FANN_SELECTIVITY_LEVELS - 1;
		double		t = last == 0 ? meta->probe_thresholds[p] :
			meta->filtered_thresholds[FANN_SELECTIVITY_LEVELS - 2][p];

		return t * Min(selectivity * exp2(last), 1.0);
	}
	return l == 0 ? meta->probe_thresholds[p] : meta->filtered_thresholds[l - 1][p];
}

/* The graph's ef_search that reached recall in the index's calibration */
static inline int
FannGraphEfFor(const FannMetaPageData *meta, double recall, bool equality)
{
	if (meta->graph_calibration_queries == 0)
		return FANN_UNCALIBRATED_EF_SEARCH;
	return meta->graph_ef[equality ? 0 : 1][FannCalibrationPoint(recall)];
}

/* The items of element, group and partition pages */
static inline FannElement
FannPageGetElement(Page page, OffsetNumber off)
{
	return (FannElement) PageGetItem(page, PageGetItemId(page, off));
}

static inline FannGroup
FannPageGetGroup(Page page, OffsetNumber off)
{
	return (FannGroup) PageGetItem(page, PageGetItemId(page, off));
}

/* Blocks begun on a partition page (none on a damaged one) */
static inline int
FannBlockCount(Page page, const FannBlockLayout *l)
{
	int			used = (int) ((PageHeader) page)->pd_lower -
		(int) (PageGetContents(page) - (char *) page);

	return used <= 0 ? 0 : Min(used / (int) l->size, l->per_page);
}

static inline FannBlock
FannPageGetBlock(Page page, const FannBlockLayout *l, int b)
{
	return (FannBlock) (PageGetContents(page) + (Size) b * l->size);
}

#define FANN_CACHE_LINE		64

/* Ask the CPU for [start, start + len), a cache line at a time */
static inline void
FannPrefetchRange(const void *start, Size len)
{
	for (Size b = 0; b < len; b += FANN_CACHE_LINE)
		__builtin_prefetch((const char *) start + b);
}

/*
 * Fetching a region of memory (the next page's rows) a share at a time,
 * between chunks of work on the current page: asked for all at once, the
 * requests stall on the CPU's fill buffers; asked for with nothing to
 * compute, the scan waits on memory.
 */
typedef struct FannPrefetch
{
	const char *start;
	Size		len;
	Size		done;
	Size		share;
} FannPrefetch;

/* Fetch [start, start + len) over about steps calls of FannPrefetchStep */
static inline void
FannPrefetchStart(FannPrefetch *pf, const void *start, Size len, int steps)
{
	pf->start = start;
	pf->len = start ? len : 0;
	pf->done = 0;
	pf->share = (pf->len / (Max(steps, 0) + 1) + FANN_CACHE_LINE - 1) &
		~(Size) (FANN_CACHE_LINE - 1);
}

static inline void
FannPrefetchStep(FannPrefetch *pf)
{
	Size		n = Min(pf->share, pf->len - pf->done);

	FannPrefetchRange(pf->start + pf->done, n);
	pf->done += n;
}

/* Whatever is left, at once */
static inline void
FannPrefetchRest(FannPrefetch *pf)
{
	FannPrefetchRange(pf->start + pf->done, pf->len - pf->done);
	pf->done = pf->len;
}

/* id <-> location */
static inline BlockNumber
FannIdBlock(uint32 id, int per_page)
{
	return id / per_page;
}

static inline OffsetNumber
FannIdOffset(uint32 id, int per_page)
{
	return (OffsetNumber) (id % per_page) + FirstOffsetNumber;
}

static inline uint32
FannMakeId(BlockNumber blkno, OffsetNumber off, int per_page)
{
	return blkno * per_page + (off - FirstOffsetNumber);
}

/*
 * Sets of ids as bitmaps over an id space of nids ids: the dead rows of a
 * VACUUM (nblocks * elements_per_page), a label filter's groups, the build's
 * samples.  Ids beyond nids (pages added since) are never members.  A scan's
 * sets, which hold a few thousand ids of an index's millions, are hash
 * tables (candidates.h, FannIdHash).
 */
static inline uint64 *
FannIdSetCreate(uint32 nids)
{
	return palloc_extended(sizeof(uint64) * (nids / 64 + 1),
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static inline bool
FannIdSetContains(const uint64 *set, uint32 nids, uint32 id)
{
	return id < nids && (set[id / 64] & (UINT64CONST(1) << (id % 64))) != 0;
}

/*
 * Ids ordered by the heap TIDs tids[] (qsort_arg's arg) holds for them, and
 * where tid's id is among n ids so ordered (-1: not there)
 */
static inline int
FannCompareIdTids(const void *a, const void *b, void *arg)
{
	const ItemPointerData *tids = arg;

	return ItemPointerCompare((ItemPointer) &tids[*(const uint32 *) a],
							  (ItemPointer) &tids[*(const uint32 *) b]);
}

static inline int64
FannFindIdByTid(const uint32 *ids, int64 n, const ItemPointerData *tids, ItemPointer tid)
{
	int64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		int64		mid = (lo + hi) / 2;

		if (ItemPointerCompare((ItemPointer) &tids[ids[mid]], tid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ItemPointerEquals((ItemPointer) &tids[ids[lo]], tid) ? lo : -1;
}

static inline void
FannIdSetAdd(uint64 *set, uint32 nids, uint32 id)
{
	if (id < nids)
		set[id / 64] |= UINT64CONST(1) << (id % 64);
}

/* The splitmix64 finaliser: a well-mixed hash of x */
static inline uint64
FannMix64(uint64 x)
{
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* Deterministic pseudo-random numbers for the build (splitmix64) */
static inline uint64
FannRandom(uint64 *state)
{
	return FannMix64(*state += UINT64CONST(0x9E3779B97F4A7C15));
}

/* Seconds since *clock, which is then set to now (the builds' timings) */
static inline double
FannLap(instr_time *clock)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, *clock);
	INSTR_TIME_ADD(*clock, now);
	return INSTR_TIME_GET_DOUBLE(now);
}

/*
 * What one scan key asks of a group's labels (filters.c), which labels.c
 * answers from the postings
 */
typedef enum FannLabelTest
{
	FANN_TEST_NONE,				/* no group */
	FANN_TEST_ALL,				/* groups holding every label */
	FANN_TEST_ANY,				/* groups holding one of the labels */
	FANN_TEST_EQUAL,			/* the group whose set is the labels */
	FANN_TEST_WITHIN,			/* groups whose column labels lie within the
								 * labels */
	FANN_TEST_NON_NULL			/* every group but the NULL one */
} FannLabelTest;

typedef struct FannLabelQuery
{
	FannLabelTest test;
	int			nlabels;		/* sorted, without duplicates */
	int32	   *labels;
	int32	   *cards;			/* WITHIN: the column's cardinality labels
								 * for 0 .. nlabels elements; NULL: the
								 * group's whole set is the column's */
	bool		recheck;		/* the executor rechecks it on the heap row */
	bool		equality;		/* one label set: the graph follows
								 * intra-group edges only */
} FannLabelQuery;

/* Which groups a label predicate selects (labels.c) */
typedef enum FannSelection
{
	FANN_SELECT_ALL,			/* every group (no label predicate) */
	FANN_SELECT_NON_NULL,		/* every group but the NULL-labels one */
	FANN_SELECT_LIST			/* the groups listed */
} FannSelection;

typedef struct FannGroupSet
{
	FannSelection selection;
	int			ngroups;		/* FANN_SELECT_LIST: this sorted list */
	uint32	   *groups;
	bool		recheck;		/* the executor rechecks the keys on the heap
								 * row (array '=', hashed labels) */
	bool		equality;		/* an '=' key: the graph follows intra-group
								 * edges only */
	FannGroupData *data;		/* the groups' entries, once loaded */
	int64		nlive;			/* their rows: counted once loaded, or
								 * estimated (FannGroupSetCount); -1 before */
	bool		estimated;		/* nlive is an estimate */
	uint64	   *mask;			/* the list as bits from mask_base, unless
								 * the ids span too far (NULL) */
	uint32		mask_base;
	uint32		mask_bits;
} FannGroupSet;

/* The position of the first of sorted ids[0..n) that is not below id */
static inline int
FannIdLowerBound(const uint32 *ids, int n, uint32 id)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Does the set select group gid?  (per row of the graph and ivf paths) */
static inline bool
FannGroupSetContains(const FannGroupSet *set, const FannMetaPageData *meta, uint32 gid)
{
	int			i;

	if (set->selection == FANN_SELECT_ALL)
		return true;
	if (set->selection == FANN_SELECT_NON_NULL)
		return gid != meta->null_group;
	if (set->mask != NULL)
		return FannIdSetContains(set->mask, set->mask_bits, gid - set->mask_base);
	i = FannIdLowerBound(set->groups, set->ngroups, gid);
	return i < set->ngroups && set->groups[i] == gid;
}

/* GUCs (options.c) */
extern int	fann_strategy;
extern int	fann_ef_search;
extern int	fann_exact_threshold;
extern int	fann_build_threads;
extern int	fann_probing;
extern double fann_probe_threshold;
extern double fann_target_recall;
extern int	fann_max_probes;

/* options.c */
extern void FannDefineOptions(void);
extern bytea *fannoptions(Datum reloptions, bool validate);

/* planner.c */
extern void FannInstallPlannerHook(void);

/* values.c: what a row's and a query's datums mean */
extern FannMetric FannIndexMetric(Relation index);
extern FannVectorType FannIndexVectorType(Relation index);
extern void FannCheckIndexDefinition(Relation index);
extern const float *FannVectorFromArray(ArrayType *a, int *dim, bool finite);
extern const float *FannVectorFromDatum(Datum d, FannVectorType type, int *dim,
										bool finite);
extern void FannCheckFinite(const float *v, int n);
extern void FannCheckDimensions(int got, int expected);
extern int	FannCompareLabels(const void *a, const void *b);
extern const float *FannRowValues(Relation index, Datum *values, bool *isnull,
								  int *dim, int32 **labels, int *nlabels);

/* filters.c: what the filter columns' datums mean as labels */
extern void FannCheckFilterColumns(Relation index);
extern int	FannRowLabels(Relation index, Datum *values, bool *isnull, int32 **labels);
extern int	FannKeyQueries(Relation index, ScanKey key, FannLabelQuery **queries);

/* distance.c */
typedef double (*FannDistanceFunction) (const float *a, const float *b, int n);

/*
 * A query rounded to integers for the code kernels (quant.c sets it): u,
 * zero beyond the dimensions, and u = 128 uh + ul (uh in [-128, 127], ul in
 * [0, 127]) as bytes, for kernels that multiply bytes (AVX-512 VNNI)
 */
#define FANN_INT_QUERY_DIMS		TYPEALIGN(64, FANN_MAX_DIMENSIONS)
typedef struct FannIntQuery
{
	int16		u[FANN_INT_QUERY_DIMS];
	int8		uh[FANN_INT_QUERY_DIMS];
	int8		ul[FANN_INT_QUERY_DIMS];
} FannIntQuery;

extern void FannDefineSimdGuc(void);
extern FannDistanceFunction FannGetDistance(FannMetric metric);
extern void FannCodeDotRows(const FannIntQuery *q, const FannCodeData *const *rows,
							int n, int dim, int32 *out);
extern void FannFastScanSums(const uint8 *lo, const uint8 *hi, const uint8 *codes,
							 int npairs, uint32 *sums, bool add);
extern void FannInt8Dots(const int8 *w, int ngroups, int nout, const uint8 *x, int32 *y);

/* page.c */
extern Buffer FannNewBuffer(Relation index, ForkNumber fork);
extern void FannInitPage(Page page, uint16 type);
extern void FannBlockLayoutFor(int dim, FannBlockLayout *l);
extern void FannBlockInitPage(Page page);
extern void FannBlockInitCodesPage(Page page, const FannBlockLayout *l, int k);
extern void FannBlockLockMore(Relation index, const FannBlockData *b,
							  const FannBlockLayout *l, int mode, Buffer *more);
extern FannBlock FannBlockBegin(Page page, const FannBlockLayout *l);
extern int	FannBlockSegmentPairs(const FannBlockLayout *l, int k);
extern void FannBlockSetRow(FannBlock b, uint8 *const *segs, const FannBlockLayout *l,
							int r, uint32 id, uint32 gid, ItemPointer tid,
							const FannCodeData *c4, int dim);
extern void FannBlockGetRow(const FannBlockData *b, uint8 *const *segs,
							const FannBlockLayout *l, int r, int dim, FannCode c4);
extern void FannInitMetaPage(Page page, Relation index, int dimensions);
extern void FannSetDimensions(FannMetaPage meta, int dimensions);
extern void FannNeighborSlot(Page elempage, OffsetNumber off, BlockNumber *blkno,
							 int *slot);
extern void FannGetMetaSnapshot(Relation index, FannMetaPageData *meta);
extern BlockNumber FannPartitionFirstBlock(Relation index, const FannMetaPageData *meta,
										   int c);
extern bool FannReadGroups(Relation index, const uint32 *gids, int n,
						   FannGroupData *groups);
extern void FannLngEdges(Relation index, const FannMetaPageData *meta,
						 FannLngReader *r, const FannGroupData *g, int first,
						 int n, uint32 *out);
extern void FannRecentBuffersReserve(Relation index, BlockNumber nblocks);
extern void FannPrefetchElement(Relation index, BlockNumber blkno, OffsetNumber off,
								Size esize);
extern Buffer FannReadBuffer(Relation index, BlockNumber blkno);
extern void FannCheckPage(Page page, uint16 type, Relation index, BlockNumber blkno);
extern BlockNumber FannWriteArrayPages(Relation index, uint16 type, const void *items,
									   int64 n, Size size);
extern const void *FannLockArrayPage(Relation index, BlockNumber blkno, uint16 type,
									 Buffer *buf, Size *bytes);
extern Size FannReadArrayPage(Relation index, BlockNumber blkno, uint16 type,
							  void *dest, Size room, BlockNumber *next);

/* labels.c */
extern int	FannCompareIds(const void *a, const void *b);
extern uint32 FannFindGroup(Relation index, FannMetaPage meta,
							const int32 *labels, int n);
extern void FannNewGroupParents(Relation index, FannMetaPage meta,
								const int32 *labels, int n, uint32 *parents);
extern void FannGroupSetFromKeys(Relation index, FannMetaPage meta,
								 ScanKey keys, int nkeys, FannGroupSet *set);
extern void FannGroupSetCount(Relation index, const FannMetaPageData *meta,
							  FannGroupSet *set);
extern void FannGroupSetLoad(Relation index, const FannMetaPageData *meta,
							 FannGroupSet *set);
extern void FannGroupSetFromList(Relation index, const FannMetaPageData *meta,
								 const uint32 *groups, int n, bool equality,
								 FannGroupSet *set);
extern FannPair *FannReadAllPairs(Relation index, FannMetaPage meta, int64 *n);

/* The AM callbacks */
extern IndexBuildResult *fannbuild(Relation heap, Relation index, IndexInfo *indexInfo);
extern void fannbuildempty(Relation index);
extern char *fannbuildphasename(int64 phasenum);
extern bool fanninsert(Relation index, Datum *values, bool *isnull,
					   ItemPointer heap_tid, Relation heap,
					   IndexUniqueCheck checkUnique, bool indexUnchanged,
					   IndexInfo *indexInfo);
extern IndexScanDesc fannbeginscan(Relation index, int nkeys, int norderbys);
extern void fannrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
					   ScanKey orderbys, int norderbys);
extern bool fanngettuple(IndexScanDesc scan, ScanDirection dir);
extern void fannendscan(IndexScanDesc scan);
extern IndexBulkDeleteResult *fannbulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *fannvacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);
/* cost.c: what each search path would cost a query, in ns */
typedef struct FannPathCost
{
	double		exact;
	double		graph;			/* INFINITY: not a choice */
	double		ivf;			/* INFINITY: no partitions */
	double		graph_visits;	/* the work behind them */
	double		ivf_rows;
} FannPathCost;

/* Mean rows a matching label set needs for the graph to be a choice */
#define FANN_GRAPH_MIN_GROUP_ROWS	8

extern double FannIvfShare(const FannMetaPageData *meta, double t);
extern double FannIvfThreshold(const FannMetaPageData *meta, double selectivity);
extern void FannPathCosts(const FannMetaPageData *meta, double table_rows,
						  double matching, double groups, bool label_filter,
						  bool equality, FannPathCost *cost);
extern void fanncostestimate(PlannerInfo *root, IndexPath *path,
							 double loop_count, Cost *indexStartupCost,
							 Cost *indexTotalCost, Selectivity *indexSelectivity,
							 double *indexCorrelation, double *indexPages);
extern bool fannvalidate(Oid opclassoid);

/* verify.c */
extern Relation FannOpenIndex(Oid indexoid, LOCKMODE heaplock, LOCKMODE indexlock,
							  Relation *heap);

#endif							/* FANN_H */
