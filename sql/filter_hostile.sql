-- Hostile filters: a 100,000-value IN list, a 1 MB jsonb document, as many
-- key columns as PostgreSQL allows, filter columns fann cannot take (a clear
-- error naming the column), bad values.

SELECT setseed(0.4375);
CREATE TABLE fh (id int PRIMARY KEY, embedding real[], k int8, tag text, doc jsonb);
INSERT INTO fh SELECT i, fann_random_vector(6), i % 500, 't' || (i % 40),
	   jsonb_build_object('a', i % 3, 'b', jsonb_build_array(i % 5, 'x'))
  FROM generate_series(1, 2000) i;
-- one document of about 1 MB: 30,000 keys, some nested
INSERT INTO fh SELECT 5000, fann_random_vector(6), 1, 't1',
	   jsonb_object_agg('key' || g, CASE WHEN g % 10 = 0 THEN jsonb_build_object('in', g) ELSE to_jsonb(repeat('v', 20) || g) END)
  FROM generate_series(1, 30000) g;
SELECT pg_column_size(doc) > 1000000 AS one_megabyte FROM fh WHERE id = 5000;
CREATE INDEX fh_idx ON fh USING fann (embedding, k, tag, doc);
ANALYZE fh;
SELECT count(*) AS problems FROM fann_verify('fh_idx');

SELECT left(p, 70) AS predicate, s, fann_check_with(s, format('SELECT id FROM fh WHERE %s ORDER BY embedding <-> %L LIMIT 20', p,
				(SELECT embedding FROM fh WHERE id = 5000)), 'fh_idx') AS n
  FROM (VALUES
		-- 100,000 values: a parameter-like list and a literal one
		('k = ANY (ARRAY(SELECT generate_series(-50000, 49999)::int8))'),
		(format('k = ANY (%L::int8[])', (SELECT array_agg(g) FROM generate_series(1, 200000, 2) g))),
		(format('tag = ANY (%L::text[])', (SELECT array_agg('t' || g) FROM generate_series(1, 100000) g))),
		-- in the large document
		('doc @> ''{"key29999": "vvvvvvvvvvvvvvvvvvvv29999"}'''), ('doc @> ''{"key20": {"in": 20}}'''),
		('doc ? ''key12345'''), ('doc ?& ''{key1,key2,key3}'''), ('doc @> ''{"a": 1}''')) v(p),
	   (VALUES ('fann.strategy = exact'), ('fann.strategy = graph, fann.ef_search = 3000'),
			   ('fann.strategy = auto')) st(s)
 ORDER BY p, s;
-- inserted after the build too
INSERT INTO fh SELECT 5001, embedding, 2, 't2', doc FROM fh WHERE id = 5000;
SELECT fann_check(format('SELECT id FROM fh WHERE doc ? ''key777'' ORDER BY embedding <-> %L LIMIT 5',
				  (SELECT embedding FROM fh WHERE id = 3)), 'fh_idx') AS n;
SELECT count(*) AS problems FROM fann_verify('fh_idx');
DROP TABLE fh;

-- as many key columns as PostgreSQL allows: the vector and 31 filters
SELECT format('CREATE TABLE wide (id int, embedding real[], %s)',
			  string_agg(format('c%s int4', g), ', ')) FROM generate_series(1, 31) g \gexec
SELECT format('INSERT INTO wide SELECT i, fann_random_vector(4), %s FROM generate_series(1, 1500) i',
			  string_agg(format('(i * %s) %% %s', g, 2 + g % 5), ', ')) FROM generate_series(1, 31) g \gexec
SELECT format('CREATE INDEX wide_idx ON wide USING fann (embedding, %s)',
			  string_agg(format('c%s', g), ', ')) FROM generate_series(1, 31) g \gexec
SELECT fann_error('CREATE INDEX ON wide USING fann (embedding, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10,
	c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30,
	c31, id)') AS too_many;
ANALYZE wide;
SELECT fann_check(format('SELECT id FROM wide WHERE c1 = 1 AND c17 IN (0, 2) AND c31 = 1 ORDER BY embedding <-> %L LIMIT 30',
				  (SELECT embedding FROM wide WHERE id = 9)), 'wide_idx') AS n;
SELECT fann_check(format('SELECT id FROM wide WHERE c4 = 0 ORDER BY embedding <-> %L LIMIT 30',
				  (SELECT embedding FROM wide WHERE id = 9)), 'wide_idx') AS n;
DROP TABLE wide;

-- filter columns fann cannot take: an error at CREATE INDEX naming the
-- column and the types fann takes
CREATE TABLE odd (id int, embedding real[], price numeric, at timestamptz, scores float8[],
	names varchar[], t text, v real[]);
INSERT INTO odd VALUES (1, '{1,2}', 1.5, now(), '{1}', '{a}', 'x', '{1,2}');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, price)');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, t, at)');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, scores)');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, names)');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, v)');
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, (price * 2))');
-- what the error suggests works
CREATE INDEX odd_ok ON odd USING fann (embedding, (price::text), (names::text[]));
-- text under a nondeterministic collation: its equal strings differ in bytes
CREATE COLLATION fann_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT fann_error('CREATE INDEX ON odd USING fann (embedding, (t COLLATE fann_ci))');
DROP COLLATION fann_ci;

-- bad values of filter columns
SELECT fann_error($$INSERT INTO odd (id, embedding, names) VALUES (2, '{1,2}', '{a,NULL}')$$) AS null_element;
SELECT fann_error($$INSERT INTO odd (id, embedding, names) VALUES (2, '{1,2}', '{{a},{b}}')$$) AS two_dimensions;
SELECT count(*) AS problems FROM fann_verify('odd_ok');
DROP TABLE odd;
