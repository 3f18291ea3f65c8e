-- The graph path (UNG): with a candidate list as large as the data it must
-- return exactly what a sequential scan returns; with a small one it must
-- still never return a row twice, keep distance order, and never run short.

SELECT setseed(0.125);
CREATE TABLE tagged (id bigint PRIMARY KEY, embedding real[], labels int4[]);
INSERT INTO tagged
SELECT i, fann_random_vector(16),
	   CASE WHEN i % 101 = 0 THEN NULL
			WHEN i % 89 = 0 THEN '{}'
			ELSE (SELECT coalesce(array_agg(l), '{}') FROM generate_series(1, 8) l
				   WHERE random() < 0.6 / l + 0 * i) END
  FROM generate_series(1, 4000) i;
CREATE INDEX tagged_l2 ON tagged USING fann (embedding, labels);
-- a small graph: many groups are larger than the degree
CREATE INDEX tagged_cos ON tagged USING fann (embedding fann_cosine_ops, labels)
	WITH (graph_degree = 8, build_list = 24, cross_edges = 3);
ANALYZE tagged;

SET fann.strategy = graph;
SET fann.ef_search = 4000;
SELECT p, op,
	   fann_check(format('SELECT id FROM tagged WHERE %s ORDER BY embedding %s %L LIMIT 30',
						 p, op, (SELECT embedding FROM tagged WHERE id = 5)), idx) AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels @> ''{2,3}'''), ('labels && ''{4,7}'''),
			   ('labels = ''{1,2}'''), ('labels = ''{}'''), ('labels @> ''{}'''),
			   ('labels @> ''{1}'' AND labels && ''{3,5}'''), ('labels && ''{1,2}'' AND id % 5 = 0'),
			   ('labels <@ ''{1,2,3}'''), ('labels <@ ''{1,4,5,6,7,8}'''), ('labels <@ ''{}'''),
			   ('true')) v(p),
	   (VALUES ('<->', 'tagged_l2'), ('<=>', 'tagged_cos')) m(op, idx)
 ORDER BY p, op;
-- a beam as large as the data reaches all it can, the exact path the rest
SELECT path, groups_entered > 0 AS entered, distance_computations > 0 AS searched
  FROM fann_last_scan();

-- A tiny candidate list: the scan widens it and, when the graph has no more,
-- continues with exact passes -- in order, each row once, never short.
SET fann.ef_search = 2;
SET enable_seqscan = off;
CREATE TEMP TABLE streamed AS
SELECT row_number() OVER () AS n, id, d FROM (
	SELECT id, embedding <-> (SELECT embedding FROM tagged WHERE id = 9) AS d
	  FROM tagged WHERE labels && '{2,6}' AND id % 3 = 0
	 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 9) LIMIT 300) s;
SELECT count(*) = least(300, (SELECT count(*) FROM tagged WHERE labels && '{2,6}' AND id % 3 = 0)) AS not_short,
	   count(DISTINCT id) = count(*) AS no_duplicates,
	   bool_and(d >= coalesce(prev, 0)) AS in_order
  FROM (SELECT id, d, lag(d) OVER (ORDER BY n) AS prev FROM streamed) s;
-- every matching row, when the executor asks for all of them
SELECT count(*) = (SELECT count(*) FROM tagged WHERE labels @> '{3}') AS all_rows,
	   count(DISTINCT id) = count(*) AS no_duplicates
  FROM (SELECT id FROM tagged WHERE labels @> '{3}'
		 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 9)) s;
RESET enable_seqscan;

-- recall@10 floor with a small candidate list, fixed seed; rows come from
-- the graph alone
SET fann.ef_search = 48;
CREATE TEMP TABLE queries AS SELECT id AS qid, embedding AS v FROM tagged WHERE id % 97 = 1;
SELECT p, round(avg(hits) / 10, 2) >= 0.9 AS recall_ok FROM (
	SELECT p, qid,
		   (SELECT count(*) FROM
				(SELECT id FROM tagged WHERE labels @> l ORDER BY embedding <-> v LIMIT 10) a
			 WHERE id IN (SELECT id FROM tagged WHERE labels @> l
						   ORDER BY l2_distance(embedding, v) LIMIT 10)) AS hits
	  FROM queries, (VALUES ('{1}'::int4[], 'contains 1'), ('{2,4}', 'contains 2,4')) v(l, p)) s
 GROUP BY p ORDER BY p;
SELECT path FROM fann_last_scan();

-- inserts after the build join the graph; new label sets are entered
INSERT INTO tagged SELECT i, fann_random_vector(16), ARRAY[1, 50 + i % 2]
  FROM generate_series(4001, 4300) i;
SET fann.ef_search = 4000;
SELECT p, fann_check(format('SELECT id FROM tagged WHERE %s ORDER BY embedding <-> %L LIMIT 40',
							p, (SELECT embedding FROM tagged WHERE id = 4100)), 'tagged_l2') AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels @> ''{50}'''), ('labels && ''{51,3}'''),
			   ('labels = ''{1,50}''')) v(p);

-- and the graph finds them with a small candidate list: rows of a new label
-- set are linked to each other (no exact pass)
SET fann.ef_search = 48;
SELECT id, labels FROM tagged WHERE labels @> '{50}'
 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 4242) LIMIT 1;
SELECT path, groups_entered FROM fann_last_scan();
-- they name {1} as their parent, whose rows nearest each of them lead to it:
-- a search under label 1 reaches them without entering their groups
SELECT id, labels FROM tagged WHERE labels @> '{1}'
 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 4242) LIMIT 1;
SELECT path, groups_entered FROM fann_last_scan();
SELECT count(*) FILTER (WHERE found) >= 0.9 * count(*) AS found_by_graph FROM
  (SELECT (SELECT id FROM tagged WHERE labels @> '{1}'
		   ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = q) LIMIT 1) = q
	 FROM generate_series(4001, 4300, 7) q) s(found);
SELECT path, groups_entered FROM fann_last_scan();
SET fann.ef_search = 4000;

-- VACUUM: deleted rows leave the graph; the rest stay reachable
DELETE FROM tagged WHERE id % 4 = 0;
VACUUM tagged;
SELECT p, fann_check(format('SELECT id FROM tagged WHERE %s ORDER BY embedding <-> %L LIMIT 40',
							p, (SELECT embedding FROM tagged WHERE id = 4101)), 'tagged_l2') AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels @> ''{51}'''), ('labels && ''{2,3}''')) v(p);

-- progress and options
SELECT fann_error($$CREATE INDEX ON tagged USING fann (embedding) WITH (graph_degree = 2)$$);
SELECT fann_error($$CREATE INDEX ON tagged USING fann (embedding) WITH (alpha = 3)$$);
SELECT fann_error($$SET fann.ef_search = -1$$);
-- after VACUUM the graph still serves a small candidate list
SET fann.ef_search = 48;
SELECT id FROM tagged WHERE labels @> '{51}'
 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 4101) LIMIT 1;
SELECT id FROM tagged WHERE labels @> '{2}'
 ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = 6) LIMIT 1;
SELECT path FROM fann_last_scan();
SELECT check_name, detail FROM fann_verify('tagged_l2');
-- and the rows of the new label sets that stay are still reached from {1}
SELECT count(*) FILTER (WHERE found) >= 0.9 * count(*) AS found_by_graph FROM
  (SELECT (SELECT id FROM tagged WHERE labels @> '{1}'
		   ORDER BY embedding <-> (SELECT embedding FROM tagged WHERE id = q) LIMIT 1) = q
	 FROM generate_series(4001, 4300, 7) q WHERE q % 4 <> 0) s(found);
SELECT path, groups_entered FROM fann_last_scan();
RESET fann.strategy;
RESET fann.ef_search;
