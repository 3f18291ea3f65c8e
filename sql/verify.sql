-- fann_verify(): no rows for a sound index, through inserts, deletes and
-- VACUUM; the problems of a damaged one as rows; clear errors otherwise.

SELECT setseed(0.5);
CREATE TABLE checked (id bigint PRIMARY KEY, embedding real[], labels int4[]);
INSERT INTO checked
SELECT i, fann_random_vector(8),
	   (SELECT coalesce(array_agg(l), '{}') FROM generate_series(1, 5) l WHERE random() < 0.5 / l + 0 * i)
  FROM generate_series(1, 1500) i;
CREATE INDEX checked_idx ON checked USING fann (embedding, labels) WITH (graph_degree = 8);
SELECT * FROM fann_verify('checked_idx');
INSERT INTO checked SELECT i, fann_random_vector(8), ARRAY[9, i % 3]
  FROM generate_series(1501, 1800) i;
DELETE FROM checked WHERE id % 5 = 0;
VACUUM checked;
SELECT * FROM fann_verify('checked_idx');

-- rows that bypassed the index (as if a crash lost them) are reported
UPDATE pg_index SET indisready = false WHERE indexrelid = 'checked_idx'::regclass;
INSERT INTO checked VALUES (9001, '{1,2,3,4,5,6,7,8}', '{1}'), (9002, '{8,7,6,5,4,3,2,1}', NULL);
UPDATE pg_index SET indisready = true WHERE indexrelid = 'checked_idx'::regclass;
SELECT check_name, detail LIKE 'heap row (%) is not indexed' AS not_indexed
  FROM fann_verify('checked_idx');
-- REINDEX repairs it
REINDEX INDEX checked_idx;
SELECT * FROM fann_verify('checked_idx');

SELECT fann_error($$SELECT fann_verify('checked')$$);
SELECT fann_error($$SELECT fann_verify('checked_pkey')$$);
DROP TABLE checked;
