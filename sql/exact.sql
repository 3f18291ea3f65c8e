-- The exact path returns what a sequential scan returns, for every label
-- operator, metric and combination, on a few thousand random rows.

SELECT setseed(0.5);
CREATE TABLE items (id bigint PRIMARY KEY, embedding real[], labels int4[]);
-- 37 dimensions: the kernels' vector bodies and their tails
INSERT INTO items
SELECT i, fann_random_vector(37),
	   CASE WHEN i % 97 = 0 THEN NULL			-- NULL labels
			WHEN i % 89 = 0 THEN '{}'			-- empty label set
			WHEN i % 83 = 0 THEN '{3,1,3}'		-- unsorted, duplicated
			ELSE (SELECT coalesce(array_agg(l), '{}') FROM generate_series(1, 6) l
				   WHERE random() < 0.5 / l + 0.05 + 0 * i)
	   END
  FROM generate_series(1, 3000) i;
CREATE INDEX items_l2 ON items USING fann (embedding fann_l2_ops, labels);
CREATE INDEX items_ip ON items USING fann (embedding fann_ip_ops, labels);
CREATE INDEX items_cos ON items USING fann (embedding fann_cosine_ops, labels);
ANALYZE items;

CREATE TEMP TABLE predicates (p text);
INSERT INTO predicates VALUES
	('true'),
	('labels = ''{1}'''), ('labels = ''{1,2}'''), ('labels = ''{2,1}'''),
	('labels = ''{1,3}'''), ('labels = ''{3,1,3}'''), ('labels = ''{}'''),
	('labels = ''{1,NULL}'''),
	('labels @> ''{1}'''), ('labels @> ''{1,3}'''), ('labels @> ''{3,1,3}'''),
	('labels @> ''{2,4,6}'''), ('labels @> ''{}'''), ('labels @> ''{99}'''),
	('labels @> ''{1,NULL}'''), ('labels @> ''{{1},{2}}'''),
	('labels && ''{2,4}'''), ('labels && ''{6}'''), ('labels && ''{}'''),
	('labels && ''{NULL,5}'''), ('labels && ''{99,-1}'''),
	('labels <@ ''{1,2,3}'''), ('labels <@ ''{2,4,6}'''), ('labels <@ ''{}'''),
	('labels <@ ''{1,NULL}'''), ('labels <@ ''{99}'''),
	('labels @> ''{1}'' AND labels && ''{4,5}'''),
	('labels @> ''{2}'' AND labels = ''{1,2}'''),
	('labels @> (SELECT NULL::int4[])'),
	-- a heap filter: the scan must keep streaming past LIMIT
	('labels && ''{1,2}'' AND id % 7 = 0'),
	('labels IS NULL');

CREATE TEMP TABLE metrics (op text, idx text);
INSERT INTO metrics VALUES ('<->', 'items_l2'), ('<#>', 'items_ip'), ('<=>', 'items_cos');

-- each predicate x metric x LIMIT: rows compared (0 where nothing matches)
SELECT p, op, lim,
	   fann_check(format('SELECT id FROM items WHERE %s ORDER BY embedding %s %L LIMIT %s',
						 p, op, (SELECT embedding FROM items WHERE id = 1), lim), idx) AS n
  FROM predicates, metrics, (VALUES (10), (400)) l(lim)
 ORDER BY p, op, lim;

-- the scan reports what it did
SELECT id FROM items WHERE labels @> '{1,3}'
 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 2) LIMIT 3;
SELECT path, groups_matched > 0 AS has_groups,
	   rows_matching = (SELECT count(*) FROM items WHERE labels @> '{1,3}') AS matching_ok,
	   -- a code bound per row; the executor ranks the 3 returned and the few
	   -- rows whose bounds reach them
	   distance_computations = rows_matching AS a_bound_per_row,
	   rows_returned BETWEEN 3 AND 3 + rows_matching / 10 AS few_rows_ranked,
	   passes
  FROM fann_last_scan();

-- no LIMIT: every indexed row, in order
SELECT fann_check(format('SELECT id FROM items WHERE labels && ''{5}'' ORDER BY embedding <-> %L',
						 (SELECT embedding FROM items WHERE id = 3)), 'items_l2') AS n;

-- A small work_mem forces several passes; rows still come in order, once
SET work_mem = '64kB';
SELECT fann_check(format('SELECT id FROM items ORDER BY embedding <=> %L LIMIT 2900',
						 (SELECT embedding FROM items WHERE id = 4)), 'items_cos') AS n;
SELECT passes > 1 AS several_passes, rows_returned BETWEEN 2900 AND 3000 AS few_beyond_limit
  FROM fann_last_scan();
RESET work_mem;

-- Rows without a vector are not indexed: an index scan does not return them
INSERT INTO items VALUES (5001, NULL, '{1}');
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1)) s;
RESET enable_seqscan;
DELETE FROM items WHERE id = 5001;

-- Query vectors must match the index
SET enable_seqscan = off;
SELECT id FROM items ORDER BY embedding <-> '{1,2,3}' LIMIT 1;
SELECT id FROM items ORDER BY embedding <-> array_fill('NaN'::real, ARRAY[37]) LIMIT 1;
RESET enable_seqscan;
-- an ORDER BY NULL query returns rows, unordered
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> NULL LIMIT 5) s;
RESET enable_seqscan;

-- Duplicate vectors: equal distances, each row once
CREATE TABLE dups (id int, embedding real[], labels int4[]);
INSERT INTO dups SELECT i, '{1,1,1}', ARRAY[i % 3] FROM generate_series(1, 300) i;
INSERT INTO dups SELECT i, '{2,2,2}', ARRAY[i % 3] FROM generate_series(301, 600) i;
CREATE INDEX ON dups USING fann (embedding, labels);
SET enable_seqscan = off;
SELECT count(*), count(DISTINCT id), min(d), max(d)
  FROM (SELECT id, embedding <-> '{1,1,1}' d FROM dups WHERE labels && '{0,1}'
		 ORDER BY embedding <-> '{1,1,1}' LIMIT 250) s;
SELECT count(*), count(DISTINCT id)
  FROM (SELECT id FROM dups ORDER BY embedding <-> '{1,1,1}') s;
RESET enable_seqscan;

-- cosine distance to a zero vector is NaN: such rows sort last, as in a
-- sequential scan
CREATE TABLE zeros (id int, embedding real[]);
INSERT INTO zeros SELECT i, CASE WHEN i % 10 = 0 THEN '{0,0,0}' ELSE fann_random_vector(3) END
  FROM generate_series(1, 100) i;
CREATE INDEX zeros_cos ON zeros USING fann (embedding fann_cosine_ops);
SELECT fann_check('SELECT id FROM zeros ORDER BY embedding <=> ''{1,2,3}'' LIMIT 90', 'zeros_cos') AS n;
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE d = 'NaN') AS nan_rows, count(*) FROM (
	SELECT embedding <=> '{1,2,3}' AS d FROM zeros ORDER BY embedding <=> '{1,2,3}' OFFSET 90) s;
RESET enable_seqscan;

-- Many small groups whose build ranges share pages are scanned as runs; a
-- slot freed in one group's range and reused by another matching group's
-- insert must come back once, as a sequential scan returns it
CREATE TABLE small (id int, embedding real[], labels int4[]);
INSERT INTO small SELECT i, fann_random_vector(4), ARRAY[1, 2 + i % 300]
  FROM generate_series(1, 1200) i;
CREATE INDEX small_idx ON small USING fann (embedding, labels);
DELETE FROM small WHERE id % 7 = 0;
VACUUM small;
INSERT INTO small SELECT i, fann_random_vector(4), ARRAY[1, 2 + i % 300]
  FROM generate_series(2001, 2170) i;
SELECT p, fann_check(format('SELECT id FROM small WHERE %s ORDER BY embedding <-> %L',
							p, (SELECT embedding FROM small WHERE id = 1)), 'small_idx') AS n
  FROM (VALUES ('labels @> ''{1}'''), ('labels && ''{5,6,7,100,101,250}'''),
			   ('labels && ''{2,3,4,5,6,7,8,9}''')) v(p);
SELECT path, groups_matched,
	   rows_matching = (SELECT count(*) FROM small WHERE labels && '{2,3,4,5,6,7,8,9}') AS matching_ok
  FROM fann_last_scan();
DROP TABLE small;

-- Codes alone would order these rows wrongly: each row's range is [0, 255],
-- so its step is 1, and the rows' last two coordinates, 100 + a and 100 - a
-- with a below 0.4, share one code: the codes tie (broken by id), while the
-- true distances to the queries rise or fall with a, and the L2 bounds
-- (sqrt 2 - sqrt 2 a) fall as the distances rise.  The executor must rank
-- them from the table under every metric.
CREATE TABLE ties (id int, embedding real[], labels int4[]);
INSERT INTO ties SELECT i, ARRAY[0, 255, 100 + i * 0.002, 100 - i * 0.002], '{1}'
  FROM generate_series(1, 190) i;
CREATE INDEX ties_l2 ON ties USING fann (embedding fann_l2_ops, labels);
CREATE INDEX ties_ip ON ties USING fann (embedding fann_ip_ops, labels);
CREATE INDEX ties_cos ON ties USING fann (embedding fann_cosine_ops, labels);
SELECT op, fann_check(format('SELECT id FROM ties WHERE labels @> ''{1}'' ORDER BY embedding %s %L LIMIT 10',
							 op, q), idx) AS n
  FROM (VALUES ('<->', '{0,255,101,101}', 'ties_l2'), ('<#>', '{0,0,1,0}', 'ties_ip'),
			   ('<=>', '{0,0,1,0}', 'ties_cos')) v(op, q, idx);
SET fann.strategy = exact;
SET enable_seqscan = off;
SELECT id FROM ties WHERE labels @> '{1}' ORDER BY embedding <-> '{0,255,101,101}' LIMIT 3;
-- every row's bound reaches the nearest row: all go to the executor
SELECT rows_matching, rows_returned = rows_matching AS all_ranked_by_executor
  FROM fann_last_scan();
RESET enable_seqscan;
RESET fann.strategy;
SELECT count(*) AS problems FROM fann_verify('ties_l2');
DROP TABLE ties;

-- More rows with one code than a pass can keep (work_mem): the bounds tie,
-- and passes go on in (bound, element id) order.  No LIMIT: every row once,
-- in distance order.
CREATE TABLE same_code (id int, embedding real[], labels int4[]);
INSERT INTO same_code SELECT i, '{0.25,0.5,0.75}', '{1}' FROM generate_series(1, 3000) i;
INSERT INTO same_code SELECT 3000 + i, fann_random_vector(3), '{1}' FROM generate_series(1, 100) i;
CREATE INDEX same_code_idx ON same_code USING fann (embedding, labels);
SET work_mem = '64kB';
SET fann.strategy = exact;
SET enable_seqscan = off;
SELECT count(*) = 3100 AS all_rows,
	   count(DISTINCT id) = count(*) AS no_duplicates,
	   bool_and(prev IS NULL OR prev <= d) AS in_order
  FROM (SELECT id, d, lag(d) OVER (ORDER BY n) AS prev
		  FROM (SELECT id, embedding <-> '{0.3,0.5,0.7}' AS d, row_number() OVER () AS n
				  FROM (SELECT id, embedding FROM same_code WHERE labels @> '{1}'
						 ORDER BY embedding <-> '{0.3,0.5,0.7}') s) t) u;
SELECT path, passes > 1 AS several_passes, rows_returned
  FROM fann_last_scan();
RESET enable_seqscan;
RESET fann.strategy;
RESET work_mem;
DROP TABLE same_code;

-- The widest vectors: a query's integer dot product with a code is kept
-- within int32 at any dimension (quant.c).  Rows whose levels are nearly
-- all the top one and a query at its own largest magnitude everywhere push
-- the sums to the limit; every kernel, every metric, 8-bit codes (exact)
-- and 4-bit ones (ivf, every partition probed) rank exactly.
CREATE TABLE widest (id int, embedding real[]);
INSERT INTO widest
SELECT i, array_prepend(-1::real,
		   array_agg((1 - (abs(hashint4(i * 2003 + j)) % 1000) / 20000.0)::real ORDER BY j))
  FROM generate_series(1, 120) i, generate_series(2, 2000) j
 GROUP BY i;
CREATE INDEX widest_l2 ON widest USING fann (embedding) WITH (partitions = 4);
CREATE INDEX widest_ip ON widest USING fann (embedding fann_ip_ops) WITH (partitions = 4);
CREATE INDEX widest_cos ON widest USING fann (embedding fann_cosine_ops) WITH (partitions = 4);
SET fann.probing = nearest;
SET fann.max_probes = 16384;
SELECT fann_each_kernel($q$
	SELECT bool_and(set_config('fann.strategy', s, true) IS NOT NULL AND
					fann_check(format('SELECT id FROM widest ORDER BY embedding %s %L::real[] LIMIT 20',
									  op, array_fill(1::real, ARRAY[2000])), 'widest_' || idx) = 20)
	  FROM (VALUES ('exact'), ('ivf')) p(s),
		   (VALUES ('<->', 'l2'), ('<#>', 'ip'), ('<=>', 'cos')) m(op, idx)
$q$) >= 2 AS widest_codes_rank_exactly;
RESET ALL;
DROP TABLE widest;
