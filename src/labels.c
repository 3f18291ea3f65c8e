/*
 * labels.c
 *	  Label sets in the index: the (label, group) postings, and the set of
 *	  groups a label predicate selects.
 *
 * The index works with normalised label sets (sorted, without duplicates:
 * FannNormaliseLabels).
 * '@>' and '&&' are set operations in PostgreSQL, so they are answered exactly
 * from the groups; array '=' also compares order and duplicates, so the
 * groups give candidates that the executor rechecks against the heap, as it
 * does every predicate on hashed (bigint or text) labels.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fann.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

/* Groups whose entries are read to estimate a long list's rows */
#define FANN_COUNT_SAMPLE	256

/* qsort / bsearch order of element and group ids */
int
FannCompareIds(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/* Sort and remove duplicates in place; returns the new length */
static int
sort_unique_uint32(uint32 *v, int n)
{
	int			k = 0;
	bool		sorted = true;

	if (n == 0)
		return 0;
	/* the sorted pages' postings come first, in order */
	for (int i = 1; i < n && sorted; i++)
		sorted = v[i - 1] <= v[i];
	if (!sorted)
		qsort(v, n, sizeof(uint32), FannCompareIds);
	for (int i = 1; i < n; i++)
		if (v[i] != v[k])
			v[++k] = v[i];
	return k + 1;
}

/* Room in a group list for need ids (it at least doubles when it grows) */
static void
reserve_groups(uint32 **list, int *cap, int need)
{
	if (need > *cap)
	{
		*cap = Max(*cap * 2, need);
		*list = repalloc(*list, sizeof(uint32) * *cap);
	}
}

static void
append_group(uint32 **list, int *n, int *cap, uint32 gid)
{
	reserve_groups(list, cap, *n + 1);
	(*list)[(*n)++] = gid;
}

/* The entries of groups gids[0..n), palloc'd; one the index lacks is corruption */
static FannGroupData *
read_groups(Relation index, const uint32 *gids, int n)
{
	FannGroupData *data = palloc(sizeof(FannGroupData) * Max(n, 1));

	if (!FannReadGroups(index, gids, n, data))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("fann index \"%s\" names a group it does not have",
						RelationGetRelationName(index))));
	return data;
}

/* Read a pair page under a share lock into pairs; returns the count */
static int
read_pair_page(Relation index, BlockNumber blkno, FannPair *pairs,
			   BlockNumber *next)
{
	Size		room = sizeof(FannPair) * FANN_PAIRS_PER_PAGE;

	return Min(FannReadArrayPage(index, blkno, FANN_PAGE_PAIR, pairs, room, next),
			   room) / sizeof(FannPair);
}

/*
 * Sorted pair page i, pinned and share-locked in *buf: its pairs in place,
 * *np of them (a damaged page's count is capped to a page's worth)
 */
static const FannPair *
lock_sorted_pairs(Relation index, const FannMetaPageData *meta, uint32 i,
				  Buffer *buf, int *np)
{
	Size		bytes;
	const FannPair *pairs = FannLockArrayPage(index, meta->pair_start + i, FANN_PAGE_PAIR,
											  buf, &bytes);

	*np = (int) Min(bytes / sizeof(FannPair), FANN_PAIRS_PER_PAGE);
	return pairs;
}

/* The first of pairs[0..np) whose label is at least label (np if none) */
static int
pairs_lower_bound(const FannPair *pairs, int np, int32 label)
{
	int			lo = 0,
				hi = np;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (pairs[mid].label < label)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The postings of each of labels[0..n-1] (sorted), as sorted group id lists.
 * The sorted pairs are binary searched per label, over the pages by their
 * last pair, then within them, in place (a query's group lookup was 22 % of
 * an equality query's backend time when each step copied a page and
 * scanned it); the delta pages written by inserts are read once for all
 * labels.
 */
static void
fetch_postings(Relation index, FannMetaPage meta, const int32 *labels, int n,
			   uint32 **lists, int *lens)
{
	FannPair   *pairs;
	int		   *caps = palloc(sizeof(int) * n);
	BlockNumber blkno;

	for (int i = 0; i < n; i++)
	{
		caps[i] = 16;
		lens[i] = 0;
		lists[i] = palloc(sizeof(uint32) * caps[i]);
	}

	for (int i = 0; i < n && meta->pair_npages > 0; i++)
	{
		uint32		lo = 0,
					hi = meta->pair_npages;

		/* first page whose last pair has label >= labels[i] */
		while (lo < hi)
		{
			uint32		mid = (lo + hi) / 2;
			Buffer		buf;
			int			np;
			const FannPair *page = lock_sorted_pairs(index, meta, mid, &buf, &np);
			bool		before = np > 0 && page[np - 1].label < labels[i];

			UnlockReleaseBuffer(buf);
			if (before)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < meta->pair_npages; lo++)
		{
			Buffer		buf;
			int			np;
			const FannPair *page = lock_sorted_pairs(index, meta, lo, &buf, &np);
			int			j = pairs_lower_bound(page, np, labels[i]);
			int			k = labels[i] == PG_INT32_MAX ? np :	/* the largest label */
				pairs_lower_bound(page, np, labels[i] + 1);

			reserve_groups(&lists[i], &caps[i], lens[i] + k - j);
			for (int m = j; m < k; m++)
				lists[i][lens[i] + m - j] = page[m].group;
			lens[i] += k - j;
			UnlockReleaseBuffer(buf);
			if (k < np)
				break;
		}
	}

	/* the sorted pages' postings are sorted and distinct; inserts' are not */
	if (meta->delta_first == InvalidBlockNumber)
	{
		pfree(caps);
		return;
	}
	pairs = palloc(sizeof(FannPair) * FANN_PAIRS_PER_PAGE);
	for (blkno = meta->delta_first; blkno != InvalidBlockNumber;)
	{
		int			np = read_pair_page(index, blkno, pairs, &blkno);

		for (int j = 0; j < np; j++)
		{
			int32	   *hit = bsearch(&pairs[j].label, labels, n, sizeof(int32), FannCompareLabels);

			if (hit)
				append_group(&lists[hit - labels], &lens[hit - labels],
							 &caps[hit - labels], pairs[j].group);
		}
	}
	for (int i = 0; i < n; i++)
		lens[i] = sort_unique_uint32(lists[i], lens[i]);
	pfree(pairs);
	pfree(caps);
}

/* Every (label, group) pair, sorted pages then delta pages (for fann_verify) */
FannPair *
FannReadAllPairs(Relation index, FannMetaPage meta, int64 *n)
{
	int64		cap = (int64) (meta->pair_npages + 1) * FANN_PAIRS_PER_PAGE;
	FannPair   *all = palloc_extended(sizeof(FannPair) * cap, MCXT_ALLOC_HUGE);
	BlockNumber blkno;

	*n = 0;
	for (uint32 i = 0; i < meta->pair_npages; i++)
		*n += read_pair_page(index, meta->pair_start + i, all + *n, NULL);
	for (blkno = meta->delta_first; blkno != InvalidBlockNumber;)
	{
		if (*n + FANN_PAIRS_PER_PAGE > cap)
		{
			cap *= 2;
			all = repalloc_huge(all, sizeof(FannPair) * cap);
		}
		*n += read_pair_page(index, blkno, all + *n, &blkno);
	}
	return all;
}

/* a := a AND b on sorted lists; returns the new length of a */
static int
intersect(uint32 *a, int na, const uint32 *b, int nb)
{
	int			i = 0,
				j = 0,
				k = 0;

	while (i < na && j < nb)
	{
		if (a[i] < b[j])
			i++;
		else if (a[i] > b[j])
			j++;
		else
		{
			a[k++] = a[i];
			i++;
			j++;
		}
	}
	return k;
}

/* Groups whose set contains all of labels[0..n-1], n > 0 */
static int
groups_containing(Relation index, FannMetaPage meta, const int32 *labels, int n,
				  uint32 **out)
{
	uint32	  **lists = palloc(sizeof(uint32 *) * n);
	int		   *lens = palloc(sizeof(int) * n);
	int			len;

	fetch_postings(index, meta, labels, n, lists, lens);
	len = lens[0];
	for (int i = 1; i < n; i++)
		len = intersect(lists[0], len, lists[i], lens[i]);
	*out = lists[0];
	return len;
}

/* out := a OR b on sorted lists, out with room for both; returns its length */
static int
unite(const uint32 *a, int na, const uint32 *b, int nb, uint32 *out)
{
	int			i = 0,
				j = 0,
				k = 0;

	while (i < na && j < nb)
	{
		if (a[i] < b[j])
			out[k++] = a[i++];
		else if (a[i] > b[j])
			out[k++] = b[j++];
		else
		{
			out[k++] = a[i++];
			j++;
		}
	}
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
	return k;
}

/* Groups whose set meets labels[0..n-1]: the sorted postings merged */
static int
groups_overlapping(Relation index, FannMetaPage meta, const int32 *labels, int n,
				   uint32 **out)
{
	uint32	  **lists = palloc(sizeof(uint32 *) * Max(n, 1));
	int		   *lens = palloc(sizeof(int) * Max(n, 1));
	int			len;

	fetch_postings(index, meta, labels, n, lists, lens);
	*out = lists[0];
	len = lens[0];
	for (int i = 1; i < n; i++)
	{
		uint32	   *merged = palloc(sizeof(uint32) * (len + lens[i]));

		len = unite(*out, len, lists[i], lens[i], merged);
		*out = merged;
	}
	return len;
}

/*
 * Groups whose column labels lie within labels[0..n-1]: each group listed
 * under as many of the labels as its column has.  With cards (a namespaced
 * column's cardinality labels for 0..n elements) that count is the one its
 * cardinality label gives, and a group listed under more labels still
 * matches (another column's label may equal one of them); without, the
 * group's whole set is the column's (the seeds' layout), and the empty
 * set's group, listed under no label, matches too.
 */
static int
groups_contained(Relation index, FannMetaPage meta, const int32 *labels, int n,
				 const int32 *cards, uint32 **out)
{
	uint32	  **lists = palloc(sizeof(uint32 *) * Max(n, 1));
	int		   *lens = palloc(sizeof(int) * Max(n, 1));
	uint32	   *all;
	uint32	   *cand;
	uint32	   *counts;
	uint32	   *need;
	uint32	   *zero = NULL;
	int			nzero = 0;
	uint32	   *matched;
	int			total = 0,
				ncand = 0,
				k = 0;

	fetch_postings(index, meta, labels, n, lists, lens);
	for (int i = 0; i < n; i++)
		total += lens[i];
	all = palloc(sizeof(uint32) * (total + 1));
	total = 0;
	for (int i = 0; i < n; i++)
	{
		memcpy(all + total, lists[i], sizeof(uint32) * lens[i]);
		total += lens[i];
	}
	qsort(all, total, sizeof(uint32), FannCompareIds);

	/* each group once, with how many of the labels list it */
	cand = palloc(sizeof(uint32) * (total + 1));
	counts = palloc(sizeof(uint32) * (total + 1));
	for (int i = 0; i < total; i++)
	{
		if (ncand > 0 && cand[ncand - 1] == all[i])
			counts[ncand - 1]++;
		else
		{
			cand[ncand] = all[i];
			counts[ncand++] = 1;
		}
	}

	/* how many labels of the column each candidate has */
	need = palloc(sizeof(uint32) * (ncand + 1));
	if (cards == NULL)
	{
		FannGroupData *data = read_groups(index, cand, ncand);

		for (int i = 0; i < ncand; i++)
			need[i] = data[i].nlabels;
	}
	else
	{
		uint32	  **clists = palloc(sizeof(uint32 *) * (n + 1));
		int		   *clens = palloc(sizeof(int) * (n + 1));
		int32	   *sorted = palloc(sizeof(int32) * (n + 1));

		/* fetch_postings wants them sorted; each label's m is its place */
		memcpy(sorted, cards, sizeof(int32) * (n + 1));
		qsort(sorted, n + 1, sizeof(int32), FannCompareLabels);
		fetch_postings(index, meta, sorted, n + 1, clists, clens);
		for (int i = 0; i < ncand; i++)
			need[i] = PG_UINT32_MAX;
		for (int j = 0; j <= n; j++)
		{
			int32	   *hit = bsearch(&cards[j], sorted, n + 1, sizeof(int32), FannCompareLabels);
			int			c = hit - sorted;

			/* those of no element, listed under none of the labels, match */
			if (j == 0)
			{
				zero = clists[c];
				nzero = clens[c];
			}
			for (int i = 0; i < clens[c]; i++)
			{
				int			pos = FannIdLowerBound(cand, ncand, clists[c][i]);

				if (pos < ncand && cand[pos] == clists[c][i])
					need[pos] = Min(need[pos], (uint32) j);
			}
		}
	}

	matched = palloc(sizeof(uint32) * (ncand + 1));
	for (int i = 0; i < ncand; i++)
		if (cards != NULL ? counts[i] >= need[i] : counts[i] == need[i])
			matched[k++] = cand[i];
	/* the empty set's group, listed under no label */
	if (cards == NULL && meta->empty_group != InvalidFannId)
	{
		zero = &meta->empty_group;
		nzero = 1;
	}
	*out = palloc(sizeof(uint32) * (k + nzero + 1));
	return unite(matched, k, zero, nzero, *out);
}

/* Groups whose set is exactly labels[0..n-1] (at most one exists) */
static int
groups_equal(Relation index, FannMetaPage meta, const int32 *labels, int n,
			 uint32 **out)
{
	uint32		gid = FannFindGroup(index, meta, labels, n);

	*out = palloc(sizeof(uint32));
	(*out)[0] = gid;
	return gid == InvalidFannId ? 0 : 1;
}

/* Group entries FannFindGroup reads at a time */
#define FIND_GROUP_BATCH	32

/* The group of rows whose normalised label set is labels, or InvalidFannId */
uint32
FannFindGroup(Relation index, FannMetaPage meta, const int32 *labels, int n)
{
	uint32	   *cand;
	int			ncand;

	if (n == 0)
		return meta->empty_group;
	ncand = groups_containing(index, meta, labels, n, &cand);
	/* a batch of entries at a time: each call reads the index's size */
	for (int first = 0; first < ncand; first += FIND_GROUP_BATCH)
	{
		int			nbatch = Min(FIND_GROUP_BATCH, ncand - first);
		FannGroupData *group = read_groups(index, cand + first, nbatch);

		for (int i = 0; i < nbatch; i++)
			if (group[i].nlabels == (uint32) n)
				return cand[first + i];
		pfree(group);
	}
	return InvalidFannId;
}

/*
 * The parents a group created for the label set labels[0..n-1] keeps
 * (FannGroupData.parents): the existing proper subsets with rows, largest
 * first, as many as fit; the rest InvalidFannId.  The group does not exist
 * yet.
 */
void
FannNewGroupParents(Relation index, FannMetaPage meta, const int32 *labels, int n,
					uint32 *parents)
{
	uint32	   *cand = NULL;
	int			ncand = n > 0 ? groups_contained(index, meta, labels, n, NULL, &cand) : 0;
	FannGroupData *data = read_groups(index, cand, ncand);

	/* a selection: each pass takes the largest set left */
	for (int k = 0; k < FANN_NEW_PARENTS; k++)
	{
		int			best = -1;

		for (int i = 0; i < ncand; i++)
			if (data[i].nlive > 0 && data[i].nlabels < (uint32) n &&
				(best < 0 || data[i].nlabels > data[best].nlabels))
				best = i;
		parents[k] = best < 0 ? InvalidFannId : cand[best];
		if (best >= 0)
			data[best].nlive = 0;	/* taken */
	}
}

/*
 * The list's bitmap, which the graph and ivf paths test per row: group ids
 * follow their pages, so a list usually spans a few thousand ids
 */
static void
build_mask(FannGroupSet *set)
{
	uint32		span;

	set->mask = NULL;
	if (set->ngroups == 0)
		return;
	span = set->groups[set->ngroups - 1] - set->groups[0] + 1;
	if (span > Max(65536, 64 * (uint32) set->ngroups))
		return;
	set->mask_base = set->groups[0];
	set->mask_bits = span;
	set->mask = FannIdSetCreate(span);
	for (int i = 0; i < set->ngroups; i++)
		FannIdSetAdd(set->mask, span, set->groups[i] - set->mask_base);
}

/* The groups a query selects (FANN_TEST_NON_NULL aside), as a sorted list */
static int
groups_of_query(Relation index, FannMetaPage meta, const FannLabelQuery *q,
				uint32 **groups)
{
	*groups = NULL;
	switch (q->test)
	{
		case FANN_TEST_ALL:
			return groups_containing(index, meta, q->labels, q->nlabels, groups);
		case FANN_TEST_ANY:
			return groups_overlapping(index, meta, q->labels, q->nlabels, groups);
		case FANN_TEST_EQUAL:
			return groups_equal(index, meta, q->labels, q->nlabels, groups);
		case FANN_TEST_WITHIN:
			return groups_contained(index, meta, q->labels, q->nlabels, q->cards, groups);
		default:
			return 0;
	}
}

/*
 * The groups selected by the filter scan keys, ANDed together; a key's
 * alternatives (a ScalarArrayOp's elements) ORed.  With no key every group
 * is selected, including the NULL-labels one.
 */
void
FannGroupSetFromKeys(Relation index, FannMetaPage meta, ScanKey keys, int nkeys,
					 FannGroupSet *set)
{
	set->selection = FANN_SELECT_ALL;
	set->ngroups = 0;
	set->groups = NULL;
	set->recheck = false;
	set->equality = false;
	set->data = NULL;
	set->nlive = -1;
	set->estimated = false;
	set->mask = NULL;

	for (int k = 0; k < nkeys; k++)
	{
		FannLabelQuery *queries;
		int			nq = FannKeyQueries(index, &keys[k], &queries);
		uint32	   *groups = NULL;
		int			ngroups = 0;
		bool		non_null = false;

		for (int i = 0; i < nq; i++)
		{
			uint32	   *g;
			int			ng;

			set->recheck |= queries[i].recheck;
			set->equality |= queries[i].equality;
			/* '@> {}' of the seeds' layout: every group but the NULL one */
			non_null |= queries[i].test == FANN_TEST_NON_NULL;
			ng = groups_of_query(index, meta, &queries[i], &g);
			if (groups == NULL)
			{
				groups = g;
				ngroups = ng;
			}
			else if (ng > 0)
			{
				uint32	   *merged = palloc(sizeof(uint32) * (ngroups + ng));

				ngroups = unite(groups, ngroups, g, ng, merged);
				groups = merged;
			}
		}
		/* alternatives of one '=' each select one group: many do not */
		if (nq > 1)
			set->equality = false;

		if (non_null)
		{
			/* which holds every group another alternative selects */
			if (set->selection == FANN_SELECT_ALL)
				set->selection = FANN_SELECT_NON_NULL;
		}
		else if (set->selection != FANN_SELECT_LIST)
		{
			set->selection = FANN_SELECT_LIST;
			set->groups = groups;
			set->ngroups = ngroups;
		}
		else
			set->ngroups = intersect(set->groups, set->ngroups, groups, ngroups);
	}
	if (set->selection == FANN_SELECT_LIST)
		build_mask(set);
}

/*
 * Read the entries of the selected groups into set->data and count their
 * rows; every group (but the NULL one, for FANN_SELECT_NON_NULL) becomes an
 * explicit list first.
 */
void
FannGroupSetLoad(Relation index, const FannMetaPageData *meta, FannGroupSet *set)
{
	int			cap = 64;

	if (set->selection != FANN_SELECT_LIST)
	{
		set->groups = palloc(sizeof(uint32) * cap);
		set->ngroups = 0;
		for (BlockNumber blkno = meta->group_first; blkno != InvalidBlockNumber;)
		{
			Buffer		buf = ReadBuffer(index, blkno);
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			FannCheckPage(page, FANN_PAGE_GROUP, index, blkno);
			for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
			{
				uint32		gid = FannMakeId(blkno, off, FANN_GROUPS_PER_PAGE);

				if (set->selection == FANN_SELECT_NON_NULL && gid == meta->null_group)
					continue;
				append_group(&set->groups, &set->ngroups, &cap, gid);
			}
			blkno = FannPageGetOpaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
		set->selection = FANN_SELECT_LIST;
		build_mask(set);
	}

	set->data = read_groups(index, set->groups, set->ngroups);
	set->nlive = 0;
	set->estimated = false;
	for (int i = 0; i < set->ngroups; i++)
		set->nlive += set->data[i].nlive;
}

/*
 * Count the selected rows: all the groups' entries loaded, or, when a
 * list is longer than FANN_COUNT_SAMPLE, those of evenly spaced groups
 * scaled up.  A broad filter over many small label sets (several filter
 * columns) selects tens of thousands of groups, and reading all their
 * entries cost most of an ivf search that needs none of them; the path
 * choice needs only the order of magnitude.
 */
void
FannGroupSetCount(Relation index, const FannMetaPageData *meta, FannGroupSet *set)
{
	uint32	   *sample;
	FannGroupData *data;
	int64		nlive = 0;

	if (set->selection != FANN_SELECT_LIST || set->ngroups <= FANN_COUNT_SAMPLE)
	{
		FannGroupSetLoad(index, meta, set);
		return;
	}
	sample = palloc(sizeof(uint32) * FANN_COUNT_SAMPLE);
	for (int i = 0; i < FANN_COUNT_SAMPLE; i++)
		sample[i] = set->groups[(int64) i * set->ngroups / FANN_COUNT_SAMPLE];
	data = read_groups(index, sample, FANN_COUNT_SAMPLE);
	for (int i = 0; i < FANN_COUNT_SAMPLE; i++)
		nlive += data[i].nlive;
	set->nlive = nlive * set->ngroups / FANN_COUNT_SAMPLE;
	set->estimated = true;
	pfree(sample);
	pfree(data);
}

/*
 * The loaded set of the groups listed (ascending ids), as a predicate that
 * selects exactly those would give it (the build's graph calibration)
 */
void
FannGroupSetFromList(Relation index, const FannMetaPageData *meta,
					 const uint32 *groups, int n, bool equality, FannGroupSet *set)
{
	MemSet(set, 0, sizeof(FannGroupSet));
	set->selection = FANN_SELECT_LIST;
	set->groups = palloc(sizeof(uint32) * Max(n, 1));
	memcpy(set->groups, groups, sizeof(uint32) * n);
	set->ngroups = n;
	set->equality = equality;
	build_mask(set);
	FannGroupSetLoad(index, meta, set);
}
