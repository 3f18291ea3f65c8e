-- bigint[] and text[] label columns: labels hashed to the index's integer
-- labels, every predicate rechecked by the executor.  On every path the
-- answers equal a sequential scan, with hash collisions forced (labels chosen
-- to collide), NULL and empty label arrays; bad label arrays give errors.

-- the collisions the suite relies on (fann hashes as these functions do:
-- text by its bytes, bigint as hashint8)
SELECT hashtext('tag15566') = hashtext('tag66554') AS text_labels_collide,
	   hashint8(1) = hashint8(4294967296) AS bigint_labels_collide;

SELECT setseed(0.625);
CREATE TABLE hashed (id bigint PRIMARY KEY, embedding real[], tags text[], big int8[]);
INSERT INTO hashed
SELECT i, fann_random_vector(12),
	   CASE WHEN i % 97 = 0 THEN NULL
			WHEN i % 89 = 0 THEN '{}'
			ELSE (SELECT coalesce(array_agg(t), '{}') FROM unnest(ARRAY['tag15566', 'tag66554',
					'red', 'Grün', 'blue', '']) WITH ORDINALITY u(t, o)
				   WHERE random() < 0.5 / o + 0.05 + 0 * i) END,
	   CASE WHEN i % 83 = 0 THEN NULL
			WHEN i % 79 = 0 THEN '{}'
			ELSE (SELECT coalesce(array_agg(b), '{}') FROM unnest(ARRAY[1, 4294967296, -7,
					9000000000000000000, 0]::int8[]) WITH ORDINALITY u(b, o)
				   WHERE random() < 0.5 / o + 0.05 + 0 * i) END
  FROM generate_series(1, 3000) i;
CREATE INDEX hashed_text ON hashed USING fann (embedding, tags);
CREATE INDEX hashed_big ON hashed USING fann (embedding fann_cosine_ops, big);
ANALYZE hashed;
SELECT c.relname, o.opcname
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_opclass o ON o.oid = i.indclass[1]
 WHERE i.indrelid = 'hashed'::regclass AND i.indnatts = 2
 ORDER BY 1;

CREATE TEMP TABLE predicates (col text, op text, p text);
INSERT INTO predicates VALUES
	('embedding', '<->', 'tags @> ''{tag15566}'''), ('embedding', '<->', 'tags = ''{tag66554}'''),
	('embedding', '<->', 'tags = ''{tag15566,red}'''), ('embedding', '<->', 'tags && ''{tag66554,Grün}'''),
	('embedding', '<->', 'tags @> ''{""}'''), ('embedding', '<->', 'tags @> ''{}'''),
	('embedding', '<->', 'tags = ''{}'''), ('embedding', '<->', 'tags && ''{NULL,blue}'''),
	('embedding', '<->', 'tags @> ''{tag15566}'' AND tags && ''{red,blue}'''),
	('embedding', '<->', 'tags IS NULL'), ('embedding', '<->', 'true'),
	('embedding', '<->', 'tags <@ ''{tag15566,red,blue}'''), ('embedding', '<->', 'tags <@ ''{}'''),
	('embedding', '<->', 'tags <@ ''{tag66554,NULL}'''), ('embedding', '<=>', 'big <@ ''{1,-7,0}'''),
	('embedding', '<=>', 'big @> ''{1}'''), ('embedding', '<=>', 'big = ''{4294967296}'''),
	('embedding', '<=>', 'big && ''{-7,9000000000000000000}'''), ('embedding', '<=>', 'big @> ''{1,-7}'''),
	('embedding', '<=>', 'big = ''{}'''), ('embedding', '<=>', 'big && ''{NULL}''');
CREATE TEMP TABLE paths (settings text);
INSERT INTO paths VALUES
	('fann.strategy = exact'),
	('fann.strategy = graph, fann.ef_search = 3000'),
	('fann.strategy = ivf, fann.probing = nearest, fann.max_probes = 16384'),
	('fann.strategy = auto');
-- rows compared per predicate, the same on every path
SELECT p, array_agg(DISTINCT fann_check_with(settings,
			format('SELECT id FROM hashed WHERE %s ORDER BY %s %s %L LIMIT %s', p, col, op,
				   (SELECT embedding FROM hashed WHERE id = 1), lim),
			CASE WHEN p LIKE 'big%' THEN 'hashed_big' ELSE 'hashed_text' END)) AS rows_compared
  FROM predicates, paths, (VALUES (10), (500)) l(lim)
 GROUP BY p, lim ORDER BY p, lim;

-- a collision reaches the scan, and the executor drops it
CREATE TEMP TABLE truth AS
SELECT (SELECT count(*) FROM hashed WHERE tags @> '{tag15566}') AS matching,
	   (SELECT count(*) FROM hashed WHERE tags && '{tag15566,tag66554}') AS same_hash;
SET fann.strategy = exact;
SET enable_seqscan = off;
SELECT count(*) = (SELECT matching FROM truth) AS every_row_once
  FROM (SELECT id FROM hashed WHERE tags @> '{tag15566}'
		 ORDER BY embedding <-> (SELECT embedding FROM hashed WHERE id = 2) LIMIT 3000) s;
SELECT path, rows_matching > matching AS colliding_rows_scanned,
	   rows_matching = same_hash AS exactly_the_hash_group
  FROM fann_last_scan(), truth;
RESET fann.strategy;
RESET enable_seqscan;

-- inserts after the build: new labels, a colliding one
INSERT INTO hashed SELECT 5000 + i, fann_random_vector(12), ARRAY['tag66554', 'new' || i], ARRAY[4294967296, i]
  FROM generate_series(1, 40) i;
SELECT fann_check(format('SELECT id FROM hashed WHERE tags @> ''{tag15566}'' ORDER BY embedding <-> %L LIMIT 20',
						 (SELECT embedding FROM hashed WHERE id = 5001)), 'hashed_text') AS n;
SELECT fann_check(format('SELECT id FROM hashed WHERE tags && ''{new7,new9}'' ORDER BY embedding <-> %L LIMIT 20',
						 (SELECT embedding FROM hashed WHERE id = 5001)), 'hashed_text') AS n;
SELECT fann_check(format('SELECT id FROM hashed WHERE big @> ''{1}'' ORDER BY embedding <=> %L LIMIT 20',
						 (SELECT embedding FROM hashed WHERE id = 5001)), 'hashed_big') AS n;

-- bad label arrays
SELECT fann_error($$INSERT INTO hashed VALUES (9001, '{1,2,3,4,5,6,7,8,9,10,11,12}', '{a,NULL}', '{1}')$$) AS null_text_label;
SELECT fann_error($$INSERT INTO hashed VALUES (9002, '{1,2,3,4,5,6,7,8,9,10,11,12}', '{{a},{b}}', '{1}')$$) AS nested_text_labels;
SELECT fann_error($$INSERT INTO hashed VALUES (9003, '{1,2,3,4,5,6,7,8,9,10,11,12}', '{a}', '{1,NULL}')$$) AS null_bigint_label;
SELECT count(*) AS problems FROM fann_verify('hashed_text');
SELECT count(*) AS problems FROM fann_verify('hashed_big');
DROP TABLE hashed;
