-- The ivf path (LIRA): probing every partition it must return exactly what a
-- sequential scan returns; probing few it must still never return a row
-- twice (rows are listed in two partitions), keep distance order, and never
-- run short.  The build is deterministic.

SELECT setseed(0.25);
CREATE TABLE spots (id bigint PRIMARY KEY, embedding real[], labels int4[]);
CREATE TEMP TABLE centres AS SELECT c, fann_random_vector(16) AS v FROM generate_series(0, 24) c;
INSERT INTO spots
SELECT i, (SELECT array_agg(x + 0.08 * (random()::real - 0.5) + 0 * i) FROM unnest(v) x),
	   CASE WHEN i % 97 = 0 THEN NULL
			ELSE (SELECT coalesce(array_agg(l), '{}') FROM generate_series(1, 6) l
				   WHERE random() < 0.7 / l + 0 * i) END
  FROM generate_series(1, 3000) i JOIN centres ON c = i % 25;
CREATE INDEX spots_l2 ON spots USING fann (embedding, labels);
CREATE INDEX spots_ip ON spots USING fann (embedding fann_ip_ops, labels)
	WITH (partitions = 12, redundancy = false);
CREATE INDEX spots_cos ON spots USING fann (embedding fann_cosine_ops, labels)
	WITH (partitions = 30);
ANALYZE spots;

-- every partition probed: the sequential scan's answer, any predicate or metric
SET fann.strategy = ivf;
SET fann.probing = nearest;
SET fann.max_probes = 16384;
SELECT p, op,
	   fann_check(format('SELECT id FROM spots WHERE %s ORDER BY embedding %s %L LIMIT 30',
						 p, op, (SELECT embedding FROM spots WHERE id = 5)), idx) AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels @> ''{2,3}'''), ('labels && ''{4,6}'''),
			   ('labels = ''{1,2}'''), ('labels = ''{}'''), ('true'),
			   ('labels @> ''{1}'' AND labels && ''{3,5}'''), ('labels && ''{1,2}'' AND id % 5 = 0'),
			   ('labels <@ ''{1,2,3}'''), ('labels <@ ''{}''')) v(p),
	   (VALUES ('<->', 'spots_l2'), ('<#>', 'spots_ip'), ('<=>', 'spots_cos')) m(op, idx)
 ORDER BY p, op;
SELECT path, partitions_probed > 0 AS probed, groups_matched IS NULL AS unfiltered
  FROM fann_last_scan();

-- A single partition at first: the scan probes more as the executor asks,
-- each row once, in order, never short
SET fann.max_probes = 1;
SET enable_seqscan = off;
CREATE TEMP TABLE streamed AS
SELECT row_number() OVER () AS n, id, d FROM (
	SELECT id, embedding <-> (SELECT embedding FROM spots WHERE id = 9) AS d
	  FROM spots WHERE labels && '{2,5}' AND id % 3 = 0
	 ORDER BY embedding <-> (SELECT embedding FROM spots WHERE id = 9) LIMIT 300) s;
SELECT path, partitions_probed > 1 AS probed_more FROM fann_last_scan();
SELECT count(*) = least(300, (SELECT count(*) FROM spots WHERE labels && '{2,5}' AND id % 3 = 0)) AS not_short,
	   count(DISTINCT id) = count(*) AS no_duplicates,
	   bool_and(d >= coalesce(prev, 0)) AS in_order
  FROM (SELECT id, d, lag(d) OVER (ORDER BY n) AS prev FROM streamed) s;
-- every row, listed once or twice, comes back once
SELECT count(*) = (SELECT count(*) FROM spots) AS all_rows,
	   count(DISTINCT id) = count(*) AS no_duplicates
  FROM (SELECT id FROM spots ORDER BY embedding <-> (SELECT embedding FROM spots WHERE id = 9)) s;
RESET enable_seqscan;

-- recall@10 floor at the default threshold, learned and nearest probing
RESET fann.max_probes;
CREATE TEMP TABLE queries AS SELECT id AS qid, embedding AS v FROM spots WHERE id % 61 = 1;
CREATE FUNCTION ivf_recall(filter int4[]) RETURNS numeric AS $$
	SELECT round(avg(hits) / 10, 2) FROM (
		SELECT (SELECT count(*) FROM
					(SELECT id FROM spots WHERE labels @> filter ORDER BY embedding <-> v LIMIT 10) a
				 WHERE id IN (SELECT id FROM spots WHERE labels @> filter
							   ORDER BY l2_distance(embedding, v) LIMIT 10)) AS hits
		  FROM queries) s
$$ LANGUAGE sql;
SET fann.probing = learned;
SELECT ivf_recall('{}') >= 0.9 AS unfiltered_ok, ivf_recall('{1}') >= 0.9 AS filtered_ok;
SET fann.probing = nearest;
SET fann.max_probes = 4;
SELECT ivf_recall('{}') >= 0.9 AS unfiltered_ok, ivf_recall('{1}') >= 0.9 AS filtered_ok;
RESET fann.max_probes;
RESET fann.probing;

-- the prober's int8 layers (FannInt8Dots) agree under every kernel: the
-- same queries probe as many partitions (a broken layer would still leave
-- the recall above, through each output's own centroid distance)
CREATE FUNCTION probes_total() RETURNS bigint AS $$
DECLARE
	total bigint := 0;
	q record;
BEGIN
	FOR q IN SELECT v FROM queries LOOP
		PERFORM count(*) FROM (SELECT id FROM spots ORDER BY embedding <-> q.v LIMIT 10) s;
		total := total + (SELECT partitions_probed FROM fann_last_scan());
	END LOOP;
	RETURN total;
END
$$ LANGUAGE plpgsql;
SET fann.strategy = ivf;
SET fann.probe_threshold = 0.0003;
SET fann.simd = generic;
CREATE TEMP TABLE generic_probes AS SELECT probes_total() AS n;
RESET fann.simd;
SELECT n > 5 * (SELECT count(*) FROM queries) AS probes_many FROM generic_probes;
SELECT fann_each_kernel($q$SELECT abs(probes_total() - n) <= n / 50 FROM generic_probes$q$) >= 2
	AS probes_agree_every_kernel;
RESET fann.probe_threshold;

-- A filter above the scan keeps 1 row in 40: the executor wants rows far
-- beyond the first batch's cut, and they still come in order and never
-- short (probing more partitions a batch at a time handed out a batch's
-- farthest rows before the next batch's nearer ones)
SET enable_seqscan = off;
SELECT count(*) AS queries,
	   count(*) FILTER (WHERE d = ARRAY(SELECT x FROM unnest(d) x ORDER BY x)) AS in_order,
	   count(*) FILTER (WHERE cardinality(d) = 10) AS not_short
  FROM (SELECT ARRAY(SELECT embedding <-> v FROM spots WHERE labels @> '{1}' AND id % 40 = 0
					 ORDER BY embedding <-> v LIMIT 10) AS d FROM queries) s;
RESET enable_seqscan;

-- the build is deterministic, whatever the thread count
SET fann.probe_threshold = 0.5;
CREATE TEMP TABLE before AS
SELECT qid, ARRAY(SELECT id FROM spots ORDER BY embedding <-> v LIMIT 10) AS ids FROM queries;
SET fann.build_threads = 1;
REINDEX INDEX spots_l2;
RESET fann.build_threads;
SELECT count(*) AS changed FROM before
 WHERE ids IS DISTINCT FROM ARRAY(SELECT id FROM spots ORDER BY embedding <->
								  (SELECT v FROM queries WHERE queries.qid = before.qid) LIMIT 10);
RESET fann.probe_threshold;

-- inserts join their partitions, VACUUM drops the dead entries
INSERT INTO spots
SELECT i, (SELECT array_agg(x + 0.08 * (random()::real - 0.5) + 0 * i) FROM unnest(v) x), ARRAY[1, 40 + i % 2]
  FROM generate_series(3001, 3200) i JOIN centres ON c = 3;
SET fann.probing = nearest;
SET fann.max_probes = 16384;
SELECT p, fann_check(format('SELECT id FROM spots WHERE %s ORDER BY embedding <-> %L LIMIT 40',
							p, (SELECT embedding FROM spots WHERE id = 3100)), 'spots_l2') AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels @> ''{40}'''), ('true')) v(p);
-- a new row is found with one probe: it went to its nearest partition
SET fann.max_probes = 1;
SELECT id FROM spots WHERE labels @> '{41}'
 ORDER BY embedding <-> (SELECT embedding FROM spots WHERE id = 3101) LIMIT 1;
SELECT path, partitions_probed FROM fann_last_scan();
SET fann.max_probes = 16384;
DELETE FROM spots WHERE id % 4 = 0;
VACUUM spots;
-- the pages VACUUM compacted: keys still name their entries, every row listed
SELECT check_name, detail FROM fann_verify('spots_l2');
SELECT p, fann_check(format('SELECT id FROM spots WHERE %s ORDER BY embedding <-> %L LIMIT 40',
							p, (SELECT embedding FROM spots WHERE id = 3101)), 'spots_l2') AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels && ''{2,41}'''), ('true')) v(p);
-- the dead entries are gone from the pages, not just skipped
SELECT elements_visited < (SELECT count(*) * 2 FROM spots) AS only_live
  FROM (SELECT count(*) FROM (SELECT id FROM spots ORDER BY embedding <-> (SELECT embedding FROM spots WHERE id = 5)) s) x,
	   fann_last_scan();
RESET fann.max_probes;
RESET fann.probing;

-- auto searches a table of at most 20,000 rows exactly (these 3,000 rows);
-- on 24,000 rows (a table of its own) it weighs what each path would cost
-- by its calibrated work: the unfiltered query takes the ivf path, filters
-- over a few large label sets the graph, few rows (fann.exact_threshold)
-- the exact path
RESET fann.strategy;
SET fann.exact_threshold = 100;
CREATE FUNCTION path_of(t text, p text) RETURNS text AS $$
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('SELECT id FROM %I WHERE %s ORDER BY embedding <-> %L LIMIT 1',
				   t, p, fann_random_vector(16));
	RETURN (SELECT path FROM fann_last_scan());
END
$$ LANGUAGE plpgsql;
SELECT p, path_of('spots', p) FROM (VALUES ('true'), ('labels @> ''{1}'''), ('labels = ''{1}'''),
									('labels @> ''{1,2,3,4,5}''')) v(p);
CREATE TABLE many_spots AS
SELECT i AS id, (SELECT array_agg(x + 0.08 * (random()::real - 0.5) + 0 * i) FROM unnest(v) x)::real[] AS embedding,
	   ARRAY[1 + i % 4, 5 + i % 3] || CASE WHEN i % 500 = 0 THEN '{9}'::int4[] ELSE '{}' END AS labels
  FROM generate_series(1, 24000) i JOIN centres ON c = i % 25;
CREATE INDEX ON many_spots USING fann (embedding, labels);
ANALYZE many_spots;
SELECT p, path_of('many_spots', p) FROM (VALUES ('true'), ('labels @> ''{1}'''), ('labels = ''{1,5}'''),
										 ('labels && ''{1,5}'''), ('labels @> ''{9}''')) v(p);
DROP TABLE many_spots;
RESET fann.exact_threshold;

-- options
SELECT fann_error($$CREATE INDEX ON spots USING fann (embedding) WITH (partitions = -1)$$);
SELECT fann_error($$CREATE INDEX ON spots USING fann (embedding) WITH (partitions = 100000)$$);
SELECT fann_error($$CREATE INDEX ON spots USING fann (embedding) WITH (redundancy = maybe)$$);
SELECT fann_error($$SET fann.probe_threshold = 2$$);
SELECT fann_error($$SET fann.max_probes = 0$$);
SELECT fann_error($$SET fann.probing = 'random'$$);
-- more partitions than rows: one row each, all reached, once
CREATE TABLE few (id int, embedding real[]);
INSERT INTO few VALUES (1, '{0,0}'), (2, '{1,1}'), (3, '{2,2}');
CREATE INDEX few_idx ON few USING fann (embedding) WITH (partitions = 50);
SET fann.strategy = ivf;
SET fann.max_probes = 1;
SET enable_seqscan = off;
SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids
  FROM (SELECT id FROM few ORDER BY embedding <-> '{1.9,1.9}' LIMIT 3) s;
SELECT path, partitions_probed FROM fann_last_scan();
RESET ALL;
DROP TABLE few;
DROP TABLE spots;

-- Rows their codes cannot tell apart: one far row stretches every
-- dimension's range, so the near rows share a few 8-bit codes; the ivf path
-- must rank them from their vectors, exactly as a sequential scan does
CREATE TABLE coarse (id int, embedding real[]);
INSERT INTO coarse VALUES (0, '{1000,-1000,1000}');
INSERT INTO coarse SELECT i, ARRAY[i * 0.01, 0.5 - i * 0.003, (i % 17) * 0.002]::real[]
  FROM generate_series(1, 300) i;
CREATE INDEX coarse_l2 ON coarse USING fann (embedding) WITH (partitions = 2);
CREATE INDEX coarse_ip ON coarse USING fann (embedding fann_ip_ops) WITH (partitions = 2);
CREATE INDEX coarse_cos ON coarse USING fann (embedding fann_cosine_ops) WITH (partitions = 2);
SET fann.strategy = ivf;
SET fann.max_probes = 16384;
SELECT op, fann_check(format('SELECT id FROM coarse ORDER BY embedding %s ''{0.5,0.2,0.01}'' LIMIT 60', op),
					  idx) AS n
  FROM (VALUES ('<->', 'coarse_l2'), ('<#>', 'coarse_ip'), ('<=>', 'coarse_cos')) m(op, idx);
-- with every code kernel this CPU has
SELECT fann_each_kernel($q$
	SELECT bool_and(fann_check(format('SELECT id FROM coarse ORDER BY embedding %s ''{0.5,0.2,0.01}'' LIMIT 60', op),
							   idx) = 60)
	  FROM (VALUES ('<->', 'coarse_l2'), ('<#>', 'coarse_ip'), ('<=>', 'coarse_cos')) m(op, idx)
$q$) >= 2 AS kernels_rank_exactly;
RESET ALL;
DROP TABLE coarse;

-- The partition lists keep 4-bit codes in blocks of 32 rows, two dimensions
-- a byte: an odd width (101) leaves a half unused, and a block larger than a
-- page keeps its codes on continuation pages (500 dimensions: one, 2,000:
-- four, written in two WAL records).  Rows inserted after the build fill
-- blocks begun by it and begin new ones.  Every width ranks exactly under
-- every kernel and metric: rows bounded from the 4-bit codes (fast scan),
-- then the elements' 8-bit codes, then the table.
SELECT setseed(0.42);
DO $$
DECLARE
	d int;
BEGIN
	FOREACH d IN ARRAY ARRAY[40, 101, 500, 2000] LOOP
		EXECUTE format('CREATE TABLE packed%s AS SELECT i AS id, fann_random_vector(%s) AS embedding
						  FROM generate_series(1, 300) i', d, d);
		EXECUTE format('CREATE INDEX packed%s_l2 ON packed%s USING fann (embedding) WITH (partitions = 4)', d, d);
		EXECUTE format('CREATE INDEX packed%s_ip ON packed%s USING fann (embedding fann_ip_ops) WITH (partitions = 4)', d, d);
		EXECUTE format('CREATE INDEX packed%s_cos ON packed%s USING fann (embedding fann_cosine_ops) WITH (partitions = 4)', d, d);
		EXECUTE format('INSERT INTO packed%s SELECT i, fann_random_vector(%s) FROM generate_series(301, 400) i', d, d);
	END LOOP;
END
$$;
SET fann.strategy = ivf;
SET fann.probing = nearest;		-- every partition in the first batch
SET fann.max_probes = 16384;
SELECT fann_each_kernel($q$
	SELECT bool_and(fann_check(format('SELECT id FROM packed%s ORDER BY embedding %s %L::real[] LIMIT 30',
									  d, op, fann_random_vector(d)), format('packed%s_%s', d, idx)) = 30)
	  FROM (VALUES (40), (101), (500), (2000)) w(d),
		   (VALUES ('<->', 'l2'), ('<#>', 'ip'), ('<=>', 'cos')) m(op, idx)
$q$) >= 2 AS packed_codes_rank_exactly;
RESET ALL;
SELECT d, (SELECT count(*) FROM fann_verify(format('packed%s_l2', d))) AS problems
  FROM (VALUES (40), (101), (500), (2000)) w(d);
DROP TABLE packed40, packed101, packed500, packed2000;

-- Rows whose codes are tight (each row's coordinates within 0.002 of 5, so
-- its 4-bit error bound is about 1e-4) far from the query (distance 19): the
-- first batch's cut, the 32nd lowest upper bound, lies among rows whose
-- distances differ by a few parts in 100,000.  LIMIT 40 and 100 go past it,
-- so the rows it deferred are probed again: none lost, none twice.
SELECT setseed(0.23);
CREATE TABLE tight AS SELECT i AS id,
	   ARRAY(SELECT (5 + 0.002 * random())::real FROM generate_series(1, 16) WHERE i > 0) AS embedding
  FROM generate_series(1, 2000) i;
CREATE INDEX tight_l2 ON tight USING fann (embedding) WITH (partitions = 4);
SET fann.strategy = ivf;
SET fann.probing = nearest;
SET fann.max_probes = 16384;
SELECT fann_each_kernel($q$
	SELECT bool_and(fann_check(format('SELECT id FROM tight ORDER BY embedding <-> %L::real[] LIMIT %s',
									  array_prepend(1::real, array_fill(0::real, ARRAY[15])), k), 'tight_l2') = k)
	  FROM (VALUES (10), (40), (100)) n(k)
$q$) >= 2 AS tight_rows_rank_exactly;
RESET ALL;
DROP TABLE tight;

-- The fast scan's table holds q_j c in bytes of one step, set by the
-- largest coordinate: beside a coordinate of 1000 (a step of 58.8), values
-- of 1.9 c (c a level, at most 15) all round to 0.  The rounding widens every
-- bound (quant.c); over 999 such coordinates, bounds it did not widen would
-- exceed the rows' distances, which differ only there, and rank them out of
-- order.
SELECT setseed(0.17);
CREATE TABLE rounded AS SELECT i AS id, array_prepend(0::real, fann_random_vector(999)) AS embedding
  FROM generate_series(1, 300) i;
CREATE INDEX rounded_l2 ON rounded USING fann (embedding) WITH (partitions = 2);
SET fann.strategy = ivf;
SET fann.probing = nearest;
SET fann.max_probes = 16384;
SELECT fann_each_kernel($q$
	SELECT fann_check(format('SELECT id FROM rounded ORDER BY embedding <-> %L::real[] LIMIT 50',
							 array_prepend(1000::real, array_fill(1.9::real, ARRAY[999]))), 'rounded_l2') = 50
$q$) >= 2 AS rounded_tables_rank_exactly;
RESET ALL;
DROP TABLE rounded;
