-- fann_vector: fann indexes on pgvector's vector and halfvec columns, ordered
-- by pgvector's own operators, return what a sequential scan returns (pgvector
-- ranking with its own distance functions) on every path, metric and label
-- operator; bad values give clear errors.  Needs pgvector: where it is not
-- installed the suite says so and stops (expected/vector_1.out).

SELECT NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') AS no_pgvector
\gset
\if :no_pgvector
\echo 'pgvector is not installed: the fann_vector suite is skipped'
\quit
\endif

SET client_min_messages = warning;
CREATE EXTENSION fann_vector CASCADE;
RESET client_min_messages;

-- the opclasses pass the access method's own validation
SELECT opcname, amvalidate(oid) FROM pg_opclass
 WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'fann') AND opcname LIKE 'fann\_%vec%'
 ORDER BY 1;

SELECT setseed(0.375);
-- 37 dimensions: the kernels' vector bodies and their tails
CREATE TABLE pgv (id bigint PRIMARY KEY, embedding vector(37), half halfvec(37), labels int4[]);
INSERT INTO pgv
SELECT i, v::vector, v::halfvec,
	   CASE WHEN i % 97 = 0 THEN NULL
			WHEN i % 89 = 0 THEN '{}'
			ELSE (SELECT coalesce(array_agg(l), '{}') FROM generate_series(1, 6) l
				   WHERE random() < 0.5 / l + 0.05 + 0 * i) END
  FROM (SELECT i, fann_random_vector(37) AS v FROM generate_series(1, 3000) i) r;
-- the default opclass of each type, then the others by name
CREATE INDEX pgv_l2 ON pgv USING fann (embedding, labels);
CREATE INDEX pgv_ip ON pgv USING fann (embedding fann_vector_ip_ops, labels);
CREATE INDEX pgv_cos ON pgv USING fann (embedding fann_vector_cosine_ops, labels);
CREATE INDEX pgv_half_l2 ON pgv USING fann (half, labels);
CREATE INDEX pgv_half_ip ON pgv USING fann (half fann_halfvec_ip_ops, labels);
CREATE INDEX pgv_half_cos ON pgv USING fann (half fann_halfvec_cosine_ops, labels);
ANALYZE pgv;
SELECT c.relname, o.opcname
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_opclass o ON o.oid = i.indclass[0]
 WHERE i.indrelid = 'pgv'::regclass AND c.relname LIKE 'pgv\_%'
 ORDER BY 1;

CREATE TEMP TABLE predicates (p text);
INSERT INTO predicates VALUES
	('true'), ('labels = ''{1}'''), ('labels = ''{1,2}'''), ('labels = ''{}'''),
	('labels @> ''{1}'''), ('labels @> ''{1,3}'''), ('labels && ''{2,4}'''),
	('labels && ''{6}'''), ('labels && ''{1,2}'' AND id % 7 = 0'), ('labels IS NULL');

CREATE TEMP TABLE metrics (col text, op text, idx text);
INSERT INTO metrics VALUES
	('embedding', '<->', 'pgv_l2'), ('embedding', '<#>', 'pgv_ip'), ('embedding', '<=>', 'pgv_cos'),
	('half', '<->', 'pgv_half_l2'), ('half', '<#>', 'pgv_half_ip'), ('half', '<=>', 'pgv_half_cos');

-- every path: the exact one, the graph with a beam as large as the data,
-- the ivf probing every partition; rows compared (0 where nothing matches)
CREATE TEMP TABLE paths (settings text);
INSERT INTO paths VALUES
	('fann.strategy = exact'),
	('fann.strategy = graph, fann.ef_search = 3000'),
	('fann.strategy = ivf, fann.probing = nearest, fann.max_probes = 16384');
SELECT settings, col, op,
	   sum(fann_check_with(settings,
						   format('SELECT id FROM pgv WHERE %s ORDER BY %s %s %L LIMIT %s', p, col, op,
								  (SELECT embedding::text FROM pgv WHERE id = 1), lim),
						   idx)) AS rows_compared
  FROM paths, predicates, metrics, (VALUES (10), (300)) l(lim)
 GROUP BY settings, col, op
 ORDER BY settings, col, op;

-- recall floors on a fixed seed for a pgvector user's table (vector column,
-- text tags), as sql/recall.sql has for real[]: the approximate paths at
-- their default settings against exact answers
CREATE TABLE user_docs (id bigserial PRIMARY KEY, embedding vector(12), tags text[]);
CREATE TEMP TABLE hubs AS SELECT c, fann_random_vector(12) AS v FROM generate_series(0, 19) c;
INSERT INTO user_docs (embedding, tags)
SELECT (SELECT array_agg(x + 0.1 * (random()::real - 0.5) + 0 * i) FROM hubs, unnest(v) x WHERE hubs.c = i % 20)::vector,
	   ARRAY['team' || i % 3, 'kind' || 5 + i % 2]
  FROM generate_series(1, 3000) i;
CREATE INDEX ON user_docs USING fann (embedding fann_vector_cosine_ops, tags);
ANALYZE user_docs;
CREATE FUNCTION user_docs_recall(strategy text) RETURNS TABLE (filter text, recall_ok bool) AS $$
BEGIN
	PERFORM set_config('fann.strategy', strategy, true);
	PERFORM set_config('fann.exact_threshold', '100', true);
	PERFORM set_config('enable_seqscan', 'off', true);
	RETURN QUERY
	SELECT f, round(avg(hits) / 10, 2) >= 0.9 FROM (
		SELECT f, (SELECT count(*) FROM
					(SELECT id FROM user_docs WHERE tags @> l ORDER BY embedding <=> q.embedding LIMIT 10) a
				   WHERE id IN (SELECT id FROM user_docs WHERE tags @> l
								 ORDER BY cosine_distance(embedding, q.embedding) LIMIT 10)) AS hits
		  FROM (SELECT embedding FROM user_docs WHERE id % 53 = 0) q,
			   (VALUES ('{}'::text[], 'none'), ('{team1}', 'contains team1'),
					   ('{team2,kind6}', 'contains team2,kind6')) x(l, f)) s
	 GROUP BY f ORDER BY f;
END
$$ LANGUAGE plpgsql;
SELECT * FROM user_docs_recall('auto');
SELECT * FROM user_docs_recall('graph');
SELECT * FROM user_docs_recall('ivf') WHERE filter <> 'contains team2,kind6';
DROP TABLE user_docs;

-- beside a pgvector HNSW index on the same column, the planner takes fann
-- for filtered queries (HNSW filters its candidates after its search and
-- comes back short); EXPLAIN names the index, fann_last_scan() the path.
-- Page reads costed as on a slow disk, where reads would have made HNSW look
-- cheaper: fann's index fits in effective_cache_size, so its scans cost
-- their rows (cost.c)
CREATE TABLE both_idx (id bigint PRIMARY KEY, embedding vector(16), labels int4[]);
INSERT INTO both_idx
SELECT i, fann_random_vector(16)::vector,
	   (SELECT array_agg(l) FROM generate_series(1, 12) l WHERE random() < 0.6 / l + 0 * i)
  FROM generate_series(1, 20000) i;
CREATE INDEX both_hnsw ON both_idx USING hnsw (embedding vector_l2_ops);
CREATE INDEX both_fann ON both_idx USING fann (embedding, labels);
ANALYZE both_idx;
CREATE TEMP TABLE q AS SELECT embedding AS v FROM both_idx WHERE id = 3;
-- as in plans.sql: a function call prints the same on every version
CREATE FUNCTION q_pgvector() RETURNS vector STABLE LANGUAGE sql AS 'SELECT v FROM q';
SET seq_page_cost = 4;
EXPLAIN (COSTS OFF) SELECT id FROM both_idx WHERE labels @> '{2}' ORDER BY embedding <-> q_pgvector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM both_idx WHERE labels && '{3,4}' ORDER BY embedding <-> q_pgvector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM both_idx WHERE labels <@ '{1,2}' ORDER BY embedding <-> q_pgvector() LIMIT 10;
RESET seq_page_cost;
-- unfiltered: an index scan, whichever index the planner finds cheaper
SELECT count(*) AS index_scans FROM fann_explain(
	'SELECT id FROM both_idx ORDER BY embedding <-> (SELECT v FROM q) LIMIT 10') p
 WHERE p ~ 'Index Scan using both_(fann|hnsw) ';
DROP FUNCTION q_pgvector();
DROP TABLE both_idx;

-- what the scan did, through pgvector's operator
SELECT id FROM pgv WHERE labels @> '{1,3}'
 ORDER BY embedding <-> (SELECT embedding FROM pgv WHERE id = 2) LIMIT 3;
SELECT path, rows_matching = (SELECT count(*) FROM pgv WHERE labels @> '{1,3}') AS matching_ok
  FROM fann_last_scan();

-- inserts after the build, and a query of another dimension
INSERT INTO pgv SELECT 4000 + i, v::vector, v::halfvec, '{1,3}'
  FROM (SELECT i, fann_random_vector(37) AS v FROM generate_series(1, 50) i) r;
SELECT fann_check(format('SELECT id FROM pgv WHERE labels @> ''{1,3}'' ORDER BY half <=> %L LIMIT 60',
						 (SELECT half FROM pgv WHERE id = 4001)), 'pgv_half_cos') AS n;
SELECT fann_error($$SELECT id FROM pgv ORDER BY embedding <-> '[1,2,3]' LIMIT 1$$) AS other_dimension;
SELECT fann_error($$INSERT INTO pgv SELECT 5000, embedding, half, '{1,NULL}' FROM pgv WHERE id = 1$$) AS null_label;
-- a column without a declared dimension: the index holds the first one
CREATE TABLE pgv_any (embedding vector, labels int4[]);
CREATE INDEX pgv_any_idx ON pgv_any USING fann (embedding, labels);
INSERT INTO pgv_any VALUES ('[1,2,3]', '{1}');
SELECT fann_error($$INSERT INTO pgv_any VALUES ('[1,2,3,4]', '{1}')$$) AS insert_other_dimension;
SELECT fann_error($$CREATE INDEX ON pgv_any USING fann (embedding fann_vector_ip_ops, labels)$$) AS ok_build;
INSERT INTO pgv_any SELECT NULL, '{2}';
SELECT fann_error($$CREATE INDEX ON pgv_any USING fann ((embedding::halfvec), labels)$$) AS ok_expression;
DROP TABLE pgv_any;
-- fann_verify finds nothing wrong in any of them
SELECT c.relname, count(v.*) AS problems
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam AND a.amname = 'fann'
  LEFT JOIN LATERAL fann_verify(c.oid) v ON true
 WHERE i.indrelid = 'pgv'::regclass
 GROUP BY c.relname ORDER BY 1;

DROP TABLE pgv;
DROP EXTENSION fann_vector;
