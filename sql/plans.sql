-- Plan shapes the planner picks on its own (no enable_* settings)

SELECT setseed(0.75);
CREATE TABLE catalog (id bigint PRIMARY KEY, embedding real[], labels int4[]);
INSERT INTO catalog
SELECT i, fann_random_vector(32),
	   (SELECT array_agg(l) FROM generate_series(1, 10) l WHERE random() < 0.3 + 0 * i)
  FROM generate_series(1, 10000) i;
CREATE INDEX catalog_idx ON catalog USING fann (embedding, labels);
CREATE TABLE q AS SELECT fann_random_vector(32) AS v;
-- the query vector as a function call: the same plan text on every version
-- (an uncorrelated subquery prints as an InitPlan, differently since 17)
CREATE FUNCTION q_vector() RETURNS real[] STABLE LANGUAGE sql AS 'SELECT v FROM q';
ANALYZE catalog;

-- unfiltered and filtered k-NN: an index scan, labels as Index Cond
EXPLAIN (COSTS OFF) SELECT id FROM catalog ORDER BY embedding <-> q_vector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{3,7}' ORDER BY embedding <-> q_vector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels && '{1,9}' ORDER BY embedding <-> q_vector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels = '{2}' ORDER BY embedding <-> q_vector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{2}' AND labels && '{4,5}' ORDER BY embedding <-> q_vector() LIMIT 10;
-- other conditions stay filters on top of the index scan
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{3}' AND id > 100 ORDER BY embedding <-> q_vector() LIMIT 10;

-- a selective condition on another indexed column wins
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE id < 50 ORDER BY embedding <-> q_vector() LIMIT 10;
-- the index has no <#> operator: not usable for that ordering
EXPLAIN (COSTS OFF) SELECT id FROM catalog ORDER BY embedding <#> q_vector() LIMIT 10;

-- each metric's opclass serves its own operator
CREATE INDEX catalog_ip ON catalog USING fann (embedding fann_ip_ops, labels);
CREATE INDEX catalog_cos ON catalog USING fann (embedding fann_cosine_ops, labels);
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{1}' ORDER BY embedding <#> q_vector() LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{1}' ORDER BY embedding <=> q_vector() LIMIT 10;
DROP INDEX catalog_ip, catalog_cos;

-- a vector-only index: label predicates are heap filters
DROP INDEX catalog_idx;
CREATE INDEX catalog_vec ON catalog USING fann (embedding);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM catalog WHERE labels @> '{3,7}' ORDER BY embedding <-> q_vector() LIMIT 10;
RESET enable_seqscan;

-- the statistics views count fann index scans: three scans, three counts
SET enable_seqscan = off;
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE scans_before AS
SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'catalog_vec';
SELECT count(*) FROM (SELECT id FROM catalog ORDER BY embedding <-> q_vector() LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM catalog WHERE labels @> '{3}' ORDER BY embedding <-> q_vector() LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM catalog ORDER BY embedding <-> q_vector() LIMIT 1) s;
SELECT pg_stat_force_next_flush();
SELECT s.idx_scan - b.idx_scan AS fann_scans_counted
  FROM pg_stat_user_indexes s, scans_before b WHERE s.indexrelname = 'catalog_vec';
RESET enable_seqscan;

-- the operator classes validate
SELECT opcname, amvalidate(oid) FROM pg_opclass
 WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'fann') ORDER BY opcname;
