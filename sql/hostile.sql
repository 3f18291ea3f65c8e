-- Hostile input: every bad value gets a clear error with a proper SQLSTATE,
-- the server stays up and the index stays valid (fann_verify).

SELECT setseed(0.9);
CREATE TABLE hostile (id int, embedding real[], labels int4[]);
INSERT INTO hostile SELECT i, fann_random_vector(6), ARRAY[i % 4, -i % 3]
  FROM generate_series(1, 600) i;
CREATE INDEX hostile_idx ON hostile USING fann (embedding, labels);
SET enable_seqscan = off;

-- bad rows
SELECT fann_error($$INSERT INTO hostile VALUES (1, '{}', '{1}')$$);
SELECT fann_error($$INSERT INTO hostile VALUES (1, '{1,2,3,4,5,-Infinity}', '{1}')$$);
SELECT fann_error($$INSERT INTO hostile VALUES (1, '{{1,2,3},{4,5,6}}', '{1}')$$);
SELECT fann_error($$INSERT INTO hostile VALUES (1, '[0:5]={1,2,3,4,5,6}', '{1}')$$);
-- bad query vectors, on every path
SELECT s, fann_error(format($$SET fann.strategy = %s; SELECT id FROM hostile ORDER BY embedding <-> %L LIMIT 1$$, s, q))
  FROM (VALUES ('exact'), ('graph'), ('ivf')) p(s),
	   (VALUES ('{1,2,3}'), ('{}'), ('{1,2,3,4,5,NaN}'), ('{{1,2,3},{4,5,6}}'), ('{1,2,3,4,5,NULL}')) v(q)
 ORDER BY s, q;
RESET fann.strategy;
-- a NULL query vector: rows in no particular order, all of them; counting
-- them needs no column (an index-only scan)
SELECT count(*) FROM (SELECT id FROM hostile ORDER BY embedding <-> NULL) s;
SELECT count(*) FROM (SELECT id FROM hostile ORDER BY embedding <-> '{0,0,0,0,0,0}' LIMIT 7) s;
EXPLAIN (COSTS OFF) SELECT count(*) FROM (SELECT id FROM hostile ORDER BY embedding <-> '{0,0,0,0,0,0}' LIMIT 7) s;

-- negative and huge label sets are label sets like any other
INSERT INTO hostile SELECT 1000, fann_random_vector(6), array_agg(l) FROM generate_series(-5000, 5000) l;
SELECT fann_check(format('SELECT id FROM hostile WHERE labels @> ''{-2}'' ORDER BY embedding <-> %L LIMIT 10',
						 (SELECT embedding FROM hostile WHERE id = 7)), 'hostile_idx') AS n;
SELECT id FROM hostile WHERE labels @> '{4999,-4999}' ORDER BY embedding <-> '{0,0,0,0,0,0}' LIMIT 3;
SELECT count(*) FROM fann_verify('hostile_idx');

-- magnitudes near FLT_MAX and below FLT_MIN: the codes' bounds overflow or
-- underflow and must still never exceed a distance (else the executor stops
-- with "index returned tuples in wrong order"); every path and metric
-- returns rows in the sequential scan's distance order
CREATE TABLE extreme (id int, embedding real[], labels int4[]);
INSERT INTO extreme VALUES (1, '{1e19,1e19,1e19}', '{1}'), (2, '{3e38,-3e38,0}', '{1}'),
	(3, '{5,5,5}', '{1}'), (4, '{0,0,0}', '{1}'), (5, '{1e-40,2e-40,-1e-38}', '{1}'),
	(6, '{-3e38,-3e38,-3e38}', '{1}'), (7, '{1e-30,1,1e30}', '{1}');
INSERT INTO extreme SELECT 100 + i, fann_random_vector(3), '{1}' FROM generate_series(1, 200) i;
CREATE INDEX extreme_l2 ON extreme USING fann (embedding fann_l2_ops, labels) WITH (partitions = 2);
CREATE INDEX extreme_ip ON extreme USING fann (embedding fann_ip_ops, labels) WITH (partitions = 2);
CREATE INDEX extreme_cos ON extreme USING fann (embedding fann_cosine_ops, labels) WITH (partitions = 2);
SELECT count(*) AS problems FROM fann_verify('extreme_l2');
-- the distances of the 40 nearest rows, by a path of the index or by a
-- sequential scan
CREATE FUNCTION extreme_dists(path text, op text, q text, by_index bool) RETURNS float8[] AS $$
DECLARE
	d float8[];
BEGIN
	PERFORM set_config('fann.strategy', path, true);
	PERFORM set_config('enable_seqscan', (NOT by_index)::text, true);
	PERFORM set_config('enable_indexscan', by_index::text, true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('SELECT array_agg(d) FROM (SELECT embedding %s %L::real[] AS d FROM extreme
					 WHERE labels @> ''{1}'' ORDER BY embedding %s %L::real[] LIMIT 40) s', op, q, op, q)
	  INTO d;
	RETURN d;
END
$$ LANGUAGE plpgsql;
SET fann.ef_search = 1000;
SET fann.max_probes = 16384;
SELECT s, op, count(*) AS queries,
	   bool_and(extreme_dists(s, op, q, true) IS NOT DISTINCT FROM
				extreme_dists(s, op, q, false)) AS as_seqscan
  FROM (VALUES ('exact'), ('graph'), ('ivf')) p(s),
	   (VALUES ('<->'), ('<#>'), ('<=>')) m(op),
	   (VALUES ('{1,1,1}'), ('{1e19,0,0}'), ('{3e38,3e38,3e38}'), ('{0,0,0}'), ('{1e-40,0,0}')) v(q)
 GROUP BY s, op ORDER BY s, op;
RESET ALL;
SET enable_seqscan = off;
DROP TABLE extreme;

-- out-of-range settings
SELECT fann_error($$SET fann.exact_threshold = -1$$);
SELECT fann_error($$SET fann.build_threads = 0$$);
SELECT fann_error($$SET fann.build_threads = 65$$);
SELECT fann_error($$SET fann.strategy = 'fastest'$$);
SELECT fann_error($$CREATE INDEX ON hostile USING fann (embedding) WITH (cross_edges = 33)$$);
SELECT fann_error($$CREATE INDEX ON hostile USING fann (embedding) WITH (build_list = 5)$$);

-- a build cancelled part way (statement_timeout) leaves nothing behind
CREATE TABLE big AS SELECT i AS id, fann_random_vector(32) AS embedding, ARRAY[i % 7] AS labels
  FROM generate_series(1, 30000) i;
SET statement_timeout = '50ms';
CREATE INDEX big_idx ON big USING fann (embedding, labels);
RESET statement_timeout;
SELECT count(*) FROM pg_class WHERE relname = 'big_idx';

-- long scans cancelled part way on every path (a nested loop of index scans
-- that would run for minutes): the session and the index stay sound
CREATE INDEX big_idx ON big USING fann (embedding, labels);
SET enable_sort = off;
CREATE FUNCTION long_scan() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM generate_series(1, 10000000) g,
    LATERAL (SELECT id FROM big WHERE labels @> ARRAY[g % 7]
             ORDER BY embedding <-> array_fill(((g % 97) / 97.0)::real, ARRAY[32])
             LIMIT 10) s $$;
SET statement_timeout = '300ms';
SET fann.strategy = 'exact';
SELECT long_scan();
SET fann.strategy = 'graph';
SET fann.ef_search = 1000;
SELECT long_scan();
SET fann.strategy = 'ivf';
SET fann.max_probes = 1000;
SET fann.probing = nearest;
SELECT long_scan();
RESET statement_timeout;
SELECT count(*) FROM fann_verify('big_idx');
CREATE TEMP TABLE after_cancel AS SELECT array_agg(id) AS ids FROM
  (SELECT id FROM big WHERE labels @> '{3}'
   ORDER BY embedding <-> array_fill(0.5::real, ARRAY[32]) LIMIT 10) s;
SET enable_indexscan = off;
SELECT ids = (SELECT array_agg(id) FROM
  (SELECT id FROM big WHERE labels @> '{3}'
   ORDER BY embedding <-> array_fill(0.5::real, ARRAY[32]) LIMIT 10) s)
  AS "ivf probing all partitions is exact after the cancellations" FROM after_cancel;
RESET enable_indexscan;
-- the graph search cancelled above left its memory for the next one: a
-- full beam still gives the sequential scan's answer
SET fann.strategy = 'graph';
SET fann.ef_search = 5000;
SELECT ids = (SELECT array_agg(id) FROM
  (SELECT id FROM big WHERE labels @> '{3}'
   ORDER BY embedding <-> array_fill(0.5::real, ARRAY[32]) LIMIT 10) s)
  AS "graph after the cancellations is exact" FROM after_cancel;
RESET fann.strategy;
RESET fann.ef_search;
RESET fann.max_probes;
RESET fann.probing;
RESET enable_sort;
DROP FUNCTION long_scan();
DROP TABLE big;
SELECT count(*) FROM fann_verify('hostile_idx');
RESET enable_seqscan;
DROP TABLE hostile;
