-- IN lists and = ANY on filter columns: index conditions of the ordered fann
-- scan, on PostgreSQL 15 and 16 through fann's planner hook (planner.c), on
-- 17 and later by the core.  Answers equal a sequential scan's for lists of
-- 1, 10 and 1,000 values on every search path.

SELECT setseed(0.875);
CREATE TABLE saop_docs (id bigint PRIMARY KEY, embedding real[], tenant int4, cat text);
INSERT INTO saop_docs
SELECT i, fann_random_vector(8), 1 + (i * 37) % 250, (ARRAY['a', 'b', 'c', 'd'])[1 + (i / 7) % 4]
  FROM generate_series(1, 5000) i;
CREATE INDEX saop_idx ON saop_docs USING fann (embedding, tenant, cat);
ANALYZE saop_docs;

-- where each clause goes (plan choice against other scans is plans.sql's)
SET enable_seqscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant IN (1, 2, 3)
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant = 1 AND cat = ANY ('{a,b}')
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
-- arrays on both filter columns, and a parameter's array (a generic plan)
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant IN (4, 5) AND cat IN ('c', 'd')
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
PREPARE saop_q(int4[]) AS SELECT id FROM saop_docs WHERE tenant = ANY ($1)
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE saop_q('{1,2}');
RESET plan_cache_mode;
DEALLOCATE saop_q;
-- what the index cannot take stays a Filter: ALL, an array of the row's own
-- columns, a volatile array, another collation than the column's
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant <> ALL ('{1,2}')
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant = ANY (ARRAY[id::int4, 2])
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE tenant = ANY (ARRAY[(random() * 3)::int4])
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM saop_docs WHERE cat COLLATE "C" IN ('a', 'b')
 ORDER BY embedding <-> '{0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8}' LIMIT 10;
RESET enable_seqscan;
RESET enable_sort;

-- the answers: lists of 1, 10 and 1,000 values (half of them absent from
-- the table), NULL elements, an empty list, with the other column's =;
-- on each path, the approximate ones with every candidate in reach
CREATE TEMP TABLE saop_lists (name text, p text);
INSERT INTO saop_lists VALUES
	('1 value', 'tenant = ANY (''{7}'')'),
	('1 value, IN', 'tenant IN (7)'),
	('10 values', 'tenant IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)'),
	('1000 values', format('tenant IN (%s)',
		(SELECT string_agg(g::text, ', ') FROM generate_series(1, 1999, 2) g))),
	('NULL elements', 'tenant = ANY (''{3,NULL,9}'')'),
	('empty list', 'tenant = ANY (''{}'')'),
	('with =', 'tenant IN (11, 12, 13) AND cat = ''b'''),
	('on both', 'tenant = 14 AND cat = ANY (''{a,c}'')');
SELECT l.name, s.strategy,
	   fann_check_with(s.settings,
					   format('SELECT id FROM saop_docs WHERE %s ORDER BY embedding <-> %L LIMIT 10',
							  l.p, (SELECT embedding FROM saop_docs WHERE id = 17)),
					   'saop_idx') AS n
  FROM saop_lists l,
	   (VALUES ('exact', 'fann.strategy = exact'),
			   ('graph', 'fann.strategy = graph, fann.ef_search = 5000'),
			   ('ivf', 'fann.strategy = ivf, fann.probing = nearest, fann.max_probes = 16384'),
			   ('auto', 'fann.strategy = auto')) s(strategy, settings)
 ORDER BY l.name, s.strategy;

-- the arrays are index conditions of those plans ("tenant IN (7)" is
-- "tenant = 7"), nothing is left to a Filter
SET enable_seqscan = off;
SET enable_sort = off;
SELECT l.name,
	   bool_or(e LIKE '%Index Cond: %ANY%') AS array_in_index_cond,
	   bool_or(e LIKE '%Filter:%') AS has_filter
  FROM saop_lists l,
	   fann_explain(format('SELECT id FROM saop_docs WHERE %s ORDER BY embedding <-> %L LIMIT 10',
						   l.p, (SELECT embedding FROM saop_docs WHERE id = 17))) e
 GROUP BY l.name ORDER BY l.name;
RESET enable_seqscan;
RESET enable_sort;

DROP TABLE saop_docs;
