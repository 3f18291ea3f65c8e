-- Recall floors on a fixed seed, through the index's life: after the build,
-- after doubling the table with inserts, after deleting 3/7 and VACUUM; with
-- duplicate vectors; and built within a small maintenance_work_mem.

SELECT setseed(0.33);
CREATE TABLE lifelong (id bigint PRIMARY KEY, embedding real[], labels int4[]);
CREATE TEMP TABLE hubs AS SELECT c, fann_random_vector(12) AS v FROM generate_series(0, 19) c;
CREATE FUNCTION near_hub(c int) RETURNS real[] AS $$
	SELECT array_agg(x + 0.1 * (random()::real - 0.5)) FROM hubs, unnest(v) x WHERE hubs.c = $1
$$ LANGUAGE sql VOLATILE;
INSERT INTO lifelong SELECT i, near_hub(i % 20), ARRAY[i % 3, 5 + i % 2] FROM generate_series(1, 3000) i;
CREATE INDEX lifelong_idx ON lifelong USING fann (embedding, labels);
ANALYZE lifelong;
CREATE TEMP TABLE probes AS SELECT id AS qid, embedding AS v FROM lifelong WHERE id % 53 = 0;

-- recall@10 of the index's own choice against exact answers, per filter
CREATE FUNCTION lifelong_recall(strategy text) RETURNS TABLE (filter text, recall_ok bool) AS $$
BEGIN
	PERFORM set_config('fann.strategy', strategy, true);
	PERFORM set_config('fann.exact_threshold', '100', true);
	PERFORM set_config('enable_seqscan', 'off', true);
	RETURN QUERY
	SELECT f, round(avg(hits) / 10, 2) >= 0.9 FROM (
		SELECT f, (SELECT count(*) FROM
					(SELECT id FROM lifelong WHERE labels @> l ORDER BY embedding <-> v LIMIT 10) a
				   WHERE id IN (SELECT id FROM lifelong WHERE labels @> l
								 ORDER BY l2_distance(embedding, v) LIMIT 10)) AS hits
		  FROM probes, (VALUES ('{}'::int4[], 'none'), ('{1}', 'contains 1'), ('{2,6}', 'contains 2,6')) x(l, f)) s
	 GROUP BY f ORDER BY f;
END
$$ LANGUAGE plpgsql;
SELECT * FROM lifelong_recall('auto');
SELECT * FROM lifelong_recall('graph');
-- not 'contains 2,6': its rows lie in half of the clusters only, and the
-- model predicts where a query's unfiltered neighbours are; auto sends that
-- filter (one label set) to the graph
SELECT * FROM lifelong_recall('ivf') WHERE filter <> 'contains 2,6';

-- twice the rows, inserted after the build
INSERT INTO lifelong SELECT i, near_hub(i % 20), ARRAY[i % 3, 5 + i % 2] FROM generate_series(3001, 6000) i;
ANALYZE lifelong;
SELECT * FROM lifelong_recall('auto');
SELECT * FROM lifelong_recall('graph');
SELECT * FROM lifelong_recall('ivf') WHERE filter <> 'contains 2,6';

-- 3 rows in 7 deleted, from every cluster and label set
DELETE FROM lifelong WHERE id % 7 IN (0, 3, 5) AND id NOT IN (SELECT qid FROM probes);
VACUUM ANALYZE lifelong;
SELECT * FROM lifelong_recall('auto');
SELECT * FROM lifelong_recall('graph');
SELECT * FROM lifelong_recall('ivf') WHERE filter <> 'contains 2,6';
SELECT count(*) FROM fann_verify('lifelong_idx');

-- duplicate vectors: all found, none twice, the nearest first
INSERT INTO lifelong SELECT i, (SELECT embedding FROM lifelong WHERE id = 53), '{7}'
  FROM generate_series(10001, 10300) i;
SET enable_seqscan = off;
SELECT s, (SELECT count(*) = 300 AND count(DISTINCT id) = 300 AND bool_and(d = 0)
			 FROM (SELECT id, embedding <-> (SELECT embedding FROM lifelong WHERE id = 53) AS d
					 FROM lifelong WHERE labels @> '{7}'
					ORDER BY embedding <-> (SELECT embedding FROM lifelong WHERE id = 53) LIMIT 300) q) AS all_once
  FROM (VALUES ('exact'), ('graph'), ('ivf')) v(s),
	   LATERAL (SELECT set_config('fann.strategy', s, false)) c;
RESET fann.strategy;
RESET enable_seqscan;
SELECT count(*) FROM fann_verify('lifelong_idx');

-- maintenance_work_mem too small for the vectors and the graph: the build
-- streams (a NOTICE says so); the recall floors and the structure hold.
-- (One build thread: the estimate counts per-thread buffers.)
SET maintenance_work_mem = '2MB';
SET fann.build_threads = 1;
REINDEX INDEX lifelong_idx;
RESET maintenance_work_mem;
RESET fann.build_threads;
SELECT * FROM lifelong_recall('auto');
SELECT * FROM lifelong_recall('graph');
SELECT * FROM lifelong_recall('ivf') WHERE filter <> 'contains 2,6';
SELECT count(*) FROM fann_verify('lifelong_idx');
-- its rows are linked: the graph answers without an exact pass, reading a
-- fraction of the rows
SET fann.strategy = graph;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM lifelong WHERE labels @> '{1}'
  ORDER BY embedding <-> (SELECT v FROM probes ORDER BY qid LIMIT 1) LIMIT 10) s;
SELECT path, distance_computations * 2 < rows_matching AS searched FROM fann_last_scan();
RESET fann.strategy;
RESET enable_seqscan;
DROP TABLE lifelong;

-- too small even for the IVF's smallest sample: a clear error
CREATE TABLE wide AS SELECT i AS id, array_fill(i::real, ARRAY[1000]) AS embedding
  FROM generate_series(1, 3000) i;
SET maintenance_work_mem = '1MB';
SELECT regexp_replace(fann_error($$CREATE INDEX ON wide USING fann (embedding)$$), '\d+ MB', 'N MB', 'g');
RESET maintenance_work_mem;
DROP TABLE wide;

-- fann.target_recall: CREATE INDEX measures, on sample rows of the table,
-- which probe threshold reaches each target (fann_calibration); the ivf
-- path's unfiltered answers to new queries then reach it, within the
-- sampling error of 40 queries, and a lower target probes less
SELECT setseed(0.77);
CREATE TABLE calib (id int, embedding real[]);
CREATE TEMP TABLE centres AS SELECT c, fann_random_vector(16) AS v FROM generate_series(0, 39) c;
CREATE FUNCTION near_centre(c int) RETURNS real[] AS $$
	SELECT array_agg(x + 1.5 * (random()::real - 0.5)) FROM centres, unnest(v) x WHERE centres.c = $1
$$ LANGUAGE sql VOLATILE;
INSERT INTO calib SELECT i, near_centre(i % 40) FROM generate_series(1, 5000) i;
CREATE INDEX calib_idx ON calib USING fann (embedding);
CREATE TEMP TABLE calib_queries AS SELECT q, near_centre(q % 40) AS v FROM generate_series(1, 40) q;
ALTER TABLE calib_queries ADD truth int[];
UPDATE calib_queries SET truth = ARRAY(SELECT id FROM calib ORDER BY l2_distance(embedding, v) LIMIT 10);
-- and the share of the rows each threshold probes (auto's cost of the ivf
-- path), which rises with the target
SELECT count(*) AS points, min(sample_queries) AS sample_queries,
	   bool_and(prev IS NULL OR probe_threshold <= prev) AS falls_as_recall_rises,
	   bool_and(probed_share > 0 AND probed_share <= 2 AND
				(prev_share IS NULL OR probed_share >= prev_share)) AS share_rises
  FROM (SELECT *, lag(probe_threshold) OVER (ORDER BY target_recall) AS prev,
			   lag(probed_share) OVER (ORDER BY target_recall) AS prev_share
		  FROM fann_calibration('calib_idx')) c;
CREATE FUNCTION calib_recall(target float8, OUT recall float8, OUT probed float8) AS $$
DECLARE
	hits bigint := 0;
	partitions bigint := 0;
	qv real[];
	truth int[];
BEGIN
	PERFORM set_config('fann.target_recall', target::text, true);
	PERFORM set_config('fann.strategy', 'ivf', true);
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR qv, truth IN SELECT v, c.truth FROM calib_queries c ORDER BY q LOOP
		hits := hits + (SELECT count(*) FROM
							(SELECT id FROM calib ORDER BY embedding <-> qv LIMIT 10) a
						 WHERE id = ANY (truth));
		partitions := partitions + (SELECT partitions_probed FROM fann_last_scan());
	END LOOP;
	recall := hits / 400.0;
	probed := partitions / 40.0;
END
$$ LANGUAGE plpgsql;
WITH r AS (SELECT target, c.* FROM (VALUES (0.8), (0.9), (0.95), (0.99)) t(target),
					 calib_recall(target) c)
SELECT target, recall >= target - 0.02 AS reaches_target,
	   target = 0.99 OR probed < (SELECT probed FROM r WHERE target = 0.99) AS probes_fewer
  FROM r ORDER BY target;
-- fann_calibrate: queries unlike the rows (each between two of the
-- clusters) get fewer of their neighbours at the rows' thresholds; measured
-- again on 200 such queries, the thresholds take 40 others to the targets
CREATE FUNCTION between_centres(c int) RETURNS real[] AS $$
	SELECT array_agg((a.x + b.x) / 2 + 1.5 * (random()::real - 0.5))
	  FROM centres ca, unnest(ca.v) WITH ORDINALITY a(x, d), centres cb, unnest(cb.v) WITH ORDINALITY b(x, d)
	 WHERE ca.c = $1 AND cb.c = ($1 + 1) % 40 AND a.d = b.d
$$ LANGUAGE sql VOLATILE;
CREATE TEMP TABLE between_sample AS SELECT q, between_centres(q % 40) AS v FROM generate_series(1, 200) q;
CREATE TEMP TABLE rows_queries AS SELECT * FROM calib_queries;
TRUNCATE calib_queries;
INSERT INTO calib_queries (q, v) SELECT q, between_centres(q % 40) FROM generate_series(1, 40) q;
UPDATE calib_queries SET truth = ARRAY(SELECT id FROM calib ORDER BY l2_distance(embedding, v) LIMIT 10);
SELECT (calib_recall(0.9)).recall < 0.88 AS short_at_rows_thresholds;
SELECT fann_calibrate('calib_idx', 'SELECT v FROM between_sample ORDER BY q') AS queries;
SELECT count(*) AS points, min(sample_queries) AS sample_queries,
	   bool_and(prev IS NULL OR probe_threshold <= prev) AS falls_as_recall_rises
  FROM (SELECT *, lag(probe_threshold) OVER (ORDER BY target_recall) AS prev
		  FROM fann_calibration('calib_idx')) c;
WITH r AS (SELECT target, c.* FROM (VALUES (0.8), (0.9), (0.95), (0.99)) t(target),
					 calib_recall(target) c)
SELECT target, recall >= target - 0.02 AS reaches_target
  FROM r ORDER BY target;
-- what it takes: 10 to 500 vectors of the index's type and dimensions
SELECT fann_error($$SELECT fann_calibrate('calib_idx', 'SELECT v FROM between_sample LIMIT 9')$$);
SELECT fann_error($$SELECT fann_calibrate('calib_idx', 'SELECT q FROM between_sample')$$);
SELECT fann_error($$SELECT fann_calibrate('calib_idx', 'SELECT NULL::real[] FROM between_sample')$$);
SELECT fann_error($$SELECT fann_calibrate('calib_idx', 'SELECT ''{1,2}''::real[] FROM between_sample')$$);
SELECT fann_error($$SELECT fann_calibrate('calib_idx', 'DELETE FROM between_sample')$$);
SELECT fann_error($$SELECT fann_calibrate('calib', 'SELECT v FROM between_sample')$$);
CREATE TABLE calib_empty (LIKE calib);
CREATE INDEX calib_empty_idx ON calib_empty USING fann (embedding);
SELECT fann_error($$SELECT fann_calibrate('calib_empty_idx', 'SELECT v FROM between_sample')$$);
DROP TABLE calib_empty;
TRUNCATE calib_queries;
INSERT INTO calib_queries SELECT * FROM rows_queries;

-- and the ef_search of the graph path (fann.ef_search = 0, the default):
-- its answers to new queries under each filter reach the target too, and a
-- lower target visits less; an ef_search set above 0 overrides it
CREATE TABLE gcalib AS SELECT id, embedding, ARRAY[id % 3, 5 + id % 2] AS labels FROM calib;
CREATE INDEX gcalib_idx ON gcalib USING fann (embedding, labels);
ANALYZE gcalib;
SELECT count(*) AS points, min(graph_sample_queries) AS sample_queries,
	   bool_and(prev_eq IS NULL OR (graph_ef_equality >= prev_eq AND graph_ef >= prev)) AS rises_with_recall,
	   bool_and(graph_distances_equality > 0 AND graph_distances > 0) AS counts_work
  FROM (SELECT *, lag(graph_ef_equality) OVER (ORDER BY target_recall) AS prev_eq,
			   lag(graph_ef) OVER (ORDER BY target_recall) AS prev
		  FROM fann_calibration('gcalib_idx')) c;
CREATE FUNCTION gcalib_recall(target float8, filter text, ef int DEFAULT 0,
							  strategy text DEFAULT 'graph',
							  OUT recall float8, OUT distances float8) AS $$
DECLARE
	hits bigint := 0;
	dists bigint := 0;
	n bigint;
	qv real[];
	got int[];
BEGIN
	PERFORM set_config('fann.target_recall', target::text, true);
	PERFORM set_config('fann.ef_search', ef::text, true);
	PERFORM set_config('fann.strategy', strategy, true);
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR qv IN SELECT v FROM calib_queries ORDER BY q LOOP
		EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM gcalib WHERE %s
						ORDER BY embedding <-> $1 LIMIT 10) a', filter) INTO got USING qv;
		dists := dists + (SELECT distance_computations FROM fann_last_scan() WHERE path = strategy);
		EXECUTE format('SELECT count(*) FROM (SELECT id FROM gcalib WHERE %s
						ORDER BY l2_distance(embedding, $1) LIMIT 10) t WHERE id = ANY ($2)', filter)
		  INTO n USING qv, got;
		hits := hits + n;
	END LOOP;
	recall := hits / 400.0;
	distances := dists / 40.0;
END
$$ LANGUAGE plpgsql;
CREATE TEMP TABLE gr AS
SELECT target, filter, c.* FROM (VALUES (0.8), (0.9), (0.95), (0.99)) t(target),
	(VALUES ('labels = ''{1,5}'''), ('labels @> ''{1}'''), ('labels && ''{0,6}''')) f(filter),
	gcalib_recall(target, filter) c;
SELECT filter, target, recall >= target - 0.02 AS reaches_target,
	   target = 0.99 OR distances < (SELECT distances FROM gr r WHERE r.filter = gr.filter AND r.target = 0.99)
	   AS visits_fewer
  FROM gr ORDER BY filter, target;
-- the distances the calibration counted at each target are those new
-- queries compute, within a factor of two
SELECT gr.target, c.graph_distances / gr.distances BETWEEN 0.5 AND 2 AS work_as_measured
  FROM gr JOIN fann_calibration('gcalib_idx') c ON abs(c.target_recall - gr.target) < 1e-9
 WHERE gr.filter = 'labels @> ''{1}''' ORDER BY gr.target;
SELECT (gcalib_recall(0.99, 'labels @> ''{1}''', 8)).distances <
	   (SELECT distances FROM gr WHERE target = 0.99 AND filter = 'labels @> ''{1}''') AS ef_overrides;
-- the ivf path under filters the vectors say nothing of (a third, a sixth
-- of the rows): CREATE INDEX also measured the thresholds that reach each
-- target under such filters, and new queries reach it with them
SELECT filter, target, (gcalib_recall(target, filter, 0, 'ivf')).recall >= target - 0.02 AS reaches_target
  FROM (VALUES (0.9), (0.95)) t(target),
	   (VALUES ('labels @> ''{1}'''), ('labels = ''{0,5}''')) f(filter)
 ORDER BY filter, target;
DROP TABLE calib, gcalib;
