-- Index life cycle: empty build, inserts, new label sets, delete + VACUUM,
-- space reuse, UNLOGGED, REINDEX, bad rows.

SELECT setseed(0.25);
CREATE TABLE docs (id bigint PRIMARY KEY, embedding real[], labels int4[]);

-- an index built on an empty table learns its dimensions from the first row
CREATE INDEX docs_idx ON docs USING fann (embedding, labels);
SELECT id FROM docs ORDER BY embedding <-> '{1,2,3,4,5,6,7,8}' LIMIT 1;
INSERT INTO docs
SELECT i, fann_random_vector(8),
	   CASE WHEN i % 50 = 0 THEN NULL
			ELSE ARRAY[i % 5, 10 + i % 3] END
  FROM generate_series(1, 1000) i;
SET enable_seqscan = off;
SELECT id FROM docs ORDER BY embedding <-> '{1,2,3}' LIMIT 1;
RESET enable_seqscan;

-- every label operator agrees with a sequential scan after inserts
SELECT p, fann_check(format('SELECT id FROM docs WHERE %s ORDER BY embedding <-> %L LIMIT 50',
							p, (SELECT embedding FROM docs WHERE id = 7)), 'docs_idx') AS n
  FROM (VALUES ('true'), ('labels @> ''{1}'''), ('labels @> ''{2,11}'''),
			   ('labels = ''{3,10}'''), ('labels && ''{4,12}'''), ('labels IS NULL')) v(p);

-- a build over the same rows gives the same answers
REINDEX INDEX docs_idx;
SELECT fann_check(format('SELECT id FROM docs WHERE labels @> ''{2,11}'' ORDER BY embedding <-> %L LIMIT 50',
						 (SELECT embedding FROM docs WHERE id = 7)), 'docs_idx') AS n;

-- and so does a concurrent rebuild
REINDEX INDEX CONCURRENTLY docs_idx;
SELECT fann_check(format('SELECT id FROM docs WHERE labels && ''{1,12}'' ORDER BY embedding <-> %L LIMIT 50',
						 (SELECT embedding FROM docs WHERE id = 7)), 'docs_idx') AS n;

-- new label sets after the build: new groups, new labels, '{}' and NULL
INSERT INTO docs
SELECT i, fann_random_vector(8),
	   CASE i % 4 WHEN 0 THEN '{}' WHEN 1 THEN NULL
				  WHEN 2 THEN ARRAY[100 + i % 7] ELSE ARRAY[1, 100 + i % 7, 11] END
  FROM generate_series(1001, 1400) i;
SELECT p, fann_check(format('SELECT id FROM docs WHERE %s ORDER BY embedding <-> %L LIMIT 60',
							p, (SELECT embedding FROM docs WHERE id = 1003)), 'docs_idx') AS n
  FROM (VALUES ('true'), ('labels = ''{}'''), ('labels @> ''{}'''), ('labels @> ''{103}'''),
			   ('labels @> ''{1,11}'''), ('labels && ''{101,4}'''),
			   ('labels = ''{1,104,11}'''), ('labels IS NULL')) v(p);

-- delete + VACUUM: dead rows are not returned, the rest still are
DELETE FROM docs WHERE id % 3 = 0;
VACUUM docs;
SELECT p, fann_check(format('SELECT id FROM docs WHERE %s ORDER BY embedding <-> %L LIMIT 2000',
							p, (SELECT embedding FROM docs WHERE id = 1003)), 'docs_idx') AS n
  FROM (VALUES ('true'), ('labels @> ''{1}'''), ('labels && ''{102,10}'''), ('labels = ''{}''')) v(p);
SELECT rows_matching = (SELECT count(*) FROM docs WHERE labels = '{}') AS counts_live_rows
  FROM fann_last_scan();

-- freed slots are reused: reinserting the same number of rows, with the
-- same label sets, does not grow the index
SELECT pg_relation_size('docs_idx') AS size_before \gset
INSERT INTO docs
SELECT i + 10000, fann_random_vector(8),
	   CASE WHEN i <= 1000 THEN (CASE WHEN i % 50 = 0 THEN NULL ELSE ARRAY[i % 5, 10 + i % 3] END)
			ELSE (CASE i % 4 WHEN 0 THEN '{}' WHEN 1 THEN NULL
							 WHEN 2 THEN ARRAY[100 + i % 7] ELSE ARRAY[1, 100 + i % 7, 11] END) END
  FROM generate_series(1, 1400) i WHERE i % 3 = 0;
SELECT pg_relation_size('docs_idx') = :size_before AS same_size;
SELECT p, fann_check(format('SELECT id FROM docs WHERE %s ORDER BY embedding <-> %L LIMIT 2000',
							p, (SELECT embedding FROM docs WHERE id = 1003)), 'docs_idx') AS n
  FROM (VALUES ('true'), ('labels @> ''{1}'''), ('labels && ''{102,10}'''), ('labels = ''{}''')) v(p);

-- VACUUM of a table whose rows all died, then inserts again
DELETE FROM docs;
VACUUM docs;
SELECT count(*) FROM (SELECT id FROM docs ORDER BY embedding <-> '{0,0,0,0,0,0,0,0}') s;
INSERT INTO docs VALUES (1, '{1,1,1,1,1,1,1,1}', '{5}'), (2, '{2,2,2,2,2,2,2,2}', '{5,6}');
SET enable_seqscan = off;
SELECT id FROM docs WHERE labels @> '{5}' ORDER BY embedding <-> '{0,0,0,0,0,0,0,0}';
RESET enable_seqscan;

-- bad rows are rejected with clear errors and leave the index intact
INSERT INTO docs VALUES (3, '{1,2,3}', '{1}');
INSERT INTO docs VALUES (3, '{1,2,3,4,5,6,7,NaN}', '{1}');
INSERT INTO docs VALUES (3, '{1,2,3,4,5,6,7,NULL}', '{1}');
INSERT INTO docs VALUES (3, '{{1,2,3,4},{5,6,7,8}}', '{1}');
INSERT INTO docs VALUES (3, '{1,2,3,4,5,6,7,8}', '{1,NULL}');
INSERT INTO docs VALUES (3, '{1,2,3,4,5,6,7,8}', '{{1},{2}}');
-- a row without a vector is accepted and simply not indexed
INSERT INTO docs VALUES (4, NULL, '{1}');
SELECT count(*) FROM docs;

-- building over bad rows fails the same way
CREATE TABLE bad (embedding real[], labels int4[]);
INSERT INTO bad VALUES ('{1,2}', '{1}'), ('{1,2,3}', '{1}');
CREATE INDEX ON bad USING fann (embedding, labels);
TRUNCATE bad;
INSERT INTO bad VALUES ('{1,Infinity}', '{1}');
CREATE INDEX ON bad USING fann (embedding, labels);
TRUNCATE bad;
INSERT INTO bad SELECT array_fill(1::real, ARRAY[2001]), '{1}';
CREATE INDEX ON bad USING fann (embedding, labels);
-- index definitions fann cannot serve
CREATE INDEX ON bad USING fann (labels);
CREATE INDEX ON bad USING fann (embedding, labels, labels);
CREATE INDEX ON bad USING fann (labels, embedding);
CREATE INDEX ON bad USING fann (embedding) WITH (nonsense = 1);
-- the build keeps only the label sets in memory, within maintenance_work_mem
TRUNCATE bad;
INSERT INTO bad SELECT '{1,2}', ARRAY[i, i + 1, i + 2] FROM generate_series(1, 20000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX ON bad USING fann (embedding, labels);
RESET maintenance_work_mem;
DROP TABLE bad;

-- UNLOGGED tables: the init fork holds an empty index
CREATE UNLOGGED TABLE scratch (id int, embedding real[], labels int4[]);
CREATE INDEX scratch_idx ON scratch USING fann (embedding, labels);
INSERT INTO scratch SELECT i, fann_random_vector(4), ARRAY[i % 3] FROM generate_series(1, 300) i;
SELECT fann_check(format('SELECT id FROM scratch WHERE labels && ''{1,2}'' ORDER BY embedding <=> %L LIMIT 20',
						 (SELECT embedding FROM scratch WHERE id = 1)), 'scratch_idx') AS n;
REINDEX TABLE scratch;
SELECT fann_check(format('SELECT id FROM scratch WHERE labels && ''{1,2}'' ORDER BY embedding <=> %L LIMIT 20',
						 (SELECT embedding FROM scratch WHERE id = 1)), 'scratch_idx') AS n;

-- a single-column index: label predicates stay heap filters
CREATE TABLE plain (id int, embedding real[], labels int4[]);
INSERT INTO plain SELECT i, fann_random_vector(4), ARRAY[i % 3] FROM generate_series(1, 300) i;
CREATE INDEX plain_idx ON plain USING fann (embedding fann_ip_ops);
SELECT fann_check(format('SELECT id FROM plain WHERE labels @> ''{1}'' ORDER BY embedding <#> %L LIMIT 20',
						 (SELECT embedding FROM plain WHERE id = 1)), 'plain_idx') AS n;
