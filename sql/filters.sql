-- Filter columns of every type fann takes, several in one index: each
-- predicate fann serves (scalar =, IN and = ANY; array =, @>, && and <@;
-- jsonb @>, ?, ?| and ?&; expression columns), conjunctions of 2 to 4 of
-- them over 2 to 4 columns and several on one column, with NULLs, on every
-- search path at LIMIT 10 and 500, against a sequential scan; then inserts
-- of new values after the build, and VACUUM.

SELECT setseed(0.3125);
CREATE TABLE filt (id bigint PRIMARY KEY, embedding real[], i2 int2, i4 int4, i8 int8,
	t text, v varchar(10), u uuid, b bool, d date, ia int4[], ta text[], ua uuid[], ba int8[],
	meta jsonb);
CREATE FUNCTION filt_uuid(n int) RETURNS uuid AS $$ SELECT md5('tenant' || n)::uuid $$
	LANGUAGE sql IMMUTABLE;
INSERT INTO filt
SELECT i, fann_random_vector(8),
	   CASE WHEN i % 31 = 0 THEN NULL ELSE (i % 4)::int2 END,
	   CASE WHEN i % 29 = 0 THEN NULL ELSE (i * 7) % 10 END,
	   (i % 6) * 10000000000,
	   CASE WHEN i % 23 = 0 THEN NULL ELSE (ARRAY['a', 'b', 'c', 'Grün', ''])[1 + i % 5] END,
	   'x' || (i % 3),
	   filt_uuid(CASE WHEN i % 3 = 0 THEN 1 ELSE i % 17 END),
	   CASE WHEN i % 37 = 0 THEN NULL ELSE i % 2 = 0 END,
	   DATE '2024-01-01' + (i % 5),
	   CASE WHEN i % 19 = 0 THEN NULL WHEN i % 13 = 0 THEN '{}'
			ELSE ARRAY[i % 4, (i / 4) % 3 + 1] END,
	   (SELECT coalesce(array_agg(w), '{}') FROM unnest(ARRAY['x', 'y', 'z', 'w']) w
		 WHERE random() < 0.4 + 0 * i),
	   ARRAY[filt_uuid(i % 5), filt_uuid(7)],
	   CASE WHEN i % 11 = 0 THEN NULL ELSE ARRAY[i % 3, -1]::int8[] END,
	   CASE WHEN i % 41 = 0 THEN NULL
			WHEN i % 43 = 0 THEN '["s", 1, {"k": 2}]'::jsonb
			WHEN i % 47 = 0 THEN '"s"'::jsonb
			ELSE jsonb_build_object('source', (ARRAY['web', 'pdf', 'mail'])[1 + i % 3],
									'lang', (ARRAY['en', 'de', 'fr', 'es'])[1 + i % 4],
									'nested', jsonb_build_object('k', i % 3, 'deep', jsonb_build_object('z', i % 2 = 0)),
									'tags', to_jsonb(ARRAY['a' || (i % 3), 'b' || (i % 5)]),
									'n', (i % 4) * 1.0)
			   || CASE WHEN i % 7 = 0 THEN '{"extra": null}'::jsonb ELSE '{}' END END
  FROM generate_series(1, 3000) i;
CREATE INDEX filt_idx ON filt USING fann (embedding, i2, i4, i8, t, v, u, b, d, ia, ta, ua, ba,
	meta, ((meta ->> 'source')), ((meta -> 'tags')));
ANALYZE filt;
SELECT count(*) AS problems FROM fann_verify('filt_idx');

-- the predicates: every one is an index condition, none a Filter
CREATE TEMP TABLE filt_preds (p text);
INSERT INTO filt_preds VALUES
	-- scalars: =, the integer family across types, IN and = ANY
	('i2 = 1'), ('i2 = 1::int8'), ('i4 = 3'), ('i4 = 3::int2'), ('i8 = 20000000000'),
	('i8 = 0::int4'), ('t = ''b'''), ('t = ''Grün'''), ('t = '''''), ('v = ''x1'''),
	('u = filt_uuid(1)'), ('b = true'), ('b = false'), ('d = ''2024-01-03'''),
	('i4 IN (1, 2)'), ('t IN (''a'', ''c'', ''zzz'')'), ('u = ANY (ARRAY[filt_uuid(2), filt_uuid(3)])'),
	('i8 = ANY (''{0,10000000000,NULL}'')'), ('i4 = ANY (''{}'')'),
	('i4 = ANY (ARRAY(SELECT generate_series(0, 9)))'),
	(format('i8 = ANY (%L::int8[])', (SELECT array_agg(g * 10000000000) FROM generate_series(-500, 499) g))),
	-- arrays
	('ia = ''{1,2}'''), ('ia = ''{}'''), ('ia @> ''{1}'''), ('ia @> ''{}'''), ('ia @> ''{1,NULL}'''),
	('ia && ''{2,3}'''), ('ia && ''{NULL}'''), ('ia <@ ''{1,2,3}'''), ('ia <@ ''{}'''),
	('ia <@ ''{0,1,2,NULL}'''), ('ta @> ''{x,y}'''), ('ta && ''{w}'''), ('ta <@ ''{x,z}'''),
	('ta = ''{y}'''), (format('ua @> ARRAY[%L::uuid]', filt_uuid(3))), ('ba <@ ''{0,1,-1}'''),
	('ba && ''{2}'''), ('ba = ''{1,-1}'''),
	-- jsonb: nested objects, arrays, scalars, null, numerics compared as numbers
	('meta @> ''{"source": "web"}'''), ('meta @> ''{"source": "web", "lang": "de"}'''),
	('meta @> ''{"nested": {"k": 1}}'''), ('meta @> ''{"nested": {"deep": {"z": true}}}'''),
	('meta @> ''{"tags": ["b3"]}'''), ('meta @> ''{"n": 2}'''), ('meta @> ''{"extra": null}'''),
	('meta @> ''{}'''), ('meta @> ''[1]'''), ('meta @> ''"s"'''), ('meta @> ''[{"k": 2}]'''),
	('meta @> ''{"nested": {}}'''), ('meta ? ''extra'''), ('meta ? ''s'''), ('meta ? ''k'''),
	('meta ?| ''{extra,nope}'''), ('meta ?| ''{}'''), ('meta ?& ''{source,extra}'''), ('meta ?& ''{}'''),
	-- expression columns
	('(meta ->> ''source'') = ''pdf'''), ('meta ->> ''source'' IN (''pdf'', ''mail'')'),
	('(meta -> ''tags'') @> ''["a1"]'''),
	-- conjunctions: across columns, and several on one column
	('i2 = 1 AND t = ''b'''), ('u = filt_uuid(1) AND ta @> ''{x}'''),
	('ia && ''{1}'' AND ia && ''{2,3}'''), ('t IN (''a'', ''b'') AND meta @> ''{"lang": "en"}'' AND b = true'),
	('u = filt_uuid(1) AND i4 IN (1, 3, 5) AND ta && ''{y,z}'' AND meta ? ''nested'''),
	('meta @> ''{"source": "web"}'' AND meta @> ''{"lang": "de"}'' AND meta ? ''extra'''),
	('i8 = 10000000000 AND ba <@ ''{1,-1}'' AND d = ''2024-01-02'''),
	('i2 = 0 AND i4 = 3');
CREATE TEMP TABLE filt_paths (settings text);
INSERT INTO filt_paths VALUES
	('fann.strategy = exact'),
	('fann.strategy = graph, fann.ef_search = 3000'),
	('fann.strategy = ivf, fann.probing = nearest, fann.max_probes = 16384'),
	('fann.strategy = auto');

SET enable_seqscan = off;
SET enable_sort = off;
SELECT p FROM filt_preds
 WHERE NOT EXISTS (SELECT FROM fann_explain(format('SELECT id FROM filt WHERE %s ORDER BY embedding <-> %L LIMIT 10',
												   p, (SELECT embedding FROM filt WHERE id = 1))) e
					WHERE e LIKE '%Index Cond%')
	OR EXISTS (SELECT FROM fann_explain(format('SELECT id FROM filt WHERE %s ORDER BY embedding <-> %L LIMIT 10',
											   p, (SELECT embedding FROM filt WHERE id = 1))) e
				WHERE e LIKE '%Filter%');
RESET enable_seqscan;
RESET enable_sort;

-- rows compared per predicate, the same on every path
SELECT left(p, 60) AS predicate, lim,
	   array_agg(DISTINCT fann_check_with(settings,
			format('SELECT id FROM filt WHERE %s ORDER BY embedding <-> %L LIMIT %s', p,
				   (SELECT embedding FROM filt WHERE id = 2), lim), 'filt_idx')) AS rows_compared
  FROM filt_preds, filt_paths, (VALUES (10), (500)) l(lim)
 GROUP BY p, lim ORDER BY p, lim;

-- the conjunction is one set of groups: those of the rows' distinct
-- filter values, which fann_last_scan() reports
SET fann.strategy = exact;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM filt WHERE u = filt_uuid(1) AND t = 'b'
	ORDER BY embedding <-> (SELECT embedding FROM filt WHERE id = 2) LIMIT 3000) s;
SELECT groups_matched = (SELECT count(DISTINCT (i2, i4, i8, t, v, u, b, d, ia, ta, ua, ba, meta))
						   FROM filt WHERE u = filt_uuid(1) AND t = 'b') AS groups_of_the_rows,
	   rows_matching = (SELECT count(*) FROM filt WHERE u = filt_uuid(1) AND t = 'b') AS rows
  FROM fann_last_scan();
RESET fann.strategy;
RESET enable_seqscan;

-- what fann does not take stays a Filter above the scan, which streams
-- every row and is never short: OR across columns, <>, ranges, LIKE
SELECT p, fann_check(format('SELECT id FROM filt WHERE %s ORDER BY embedding <-> %L LIMIT 50', p,
				   (SELECT embedding FROM filt WHERE id = 3)), 'filt_idx') AS n
  FROM (VALUES ('(i2 = 1 OR t = ''b'')'), ('i4 <> 3'), ('d > ''2024-01-02'''), ('t LIKE ''G%'''),
			   ('u = filt_uuid(1) AND (meta ->> ''lang'') <> ''en''')) v(p)
 ORDER BY p;

-- inserts of new values after the build, deletes, VACUUM
INSERT INTO filt
SELECT 10000 + i, fann_random_vector(8), 9, 99, 99, 'new' || (i % 2), 'x9', filt_uuid(1000 + i % 3),
	   true, DATE '2030-01-01', ARRAY[50, i % 2], ARRAY['new'], ARRAY[filt_uuid(1000)], ARRAY[7],
	   jsonb_build_object('source', 'new', 'tags', '["fresh"]'::jsonb)
  FROM generate_series(1, 300) i;
DELETE FROM filt WHERE id % 5 = 0;
VACUUM filt;
SELECT count(*) AS problems FROM fann_verify('filt_idx');
SELECT left(p, 60) AS predicate,
	   array_agg(DISTINCT fann_check_with(settings,
			format('SELECT id FROM filt WHERE %s ORDER BY embedding <-> %L LIMIT 40', p,
				   (SELECT embedding FROM filt WHERE id = 10001)), 'filt_idx')) AS rows_compared
  FROM (VALUES ('u = filt_uuid(1001)'), ('t IN (''new1'', ''a'')'), ('ia @> ''{50}'''),
			   ('ia <@ ''{50,0,1}'''), ('meta @> ''{"tags": ["fresh"]}'''), ('meta @> ''{"source": "web"}'''),
			   ('i2 = 9 AND ta = ''{new}'''), ('u = filt_uuid(1) AND b = false'),
			   ('(meta ->> ''source'') = ''new''')) v(p),
	   filt_paths
 GROUP BY p ORDER BY p;

-- the hashed columns are rechecked: a NULL on one column leaves the row to
-- queries on the others
SELECT count(*) AS rows_with_null_i4 FROM filt WHERE i4 IS NULL AND t = 'b';
SELECT fann_check(format('SELECT id FROM filt WHERE t = ''b'' ORDER BY embedding <-> %L LIMIT 3000',
				  (SELECT embedding FROM filt WHERE id = 4)), 'filt_idx') AS n;
DROP TABLE filt;
DROP FUNCTION filt_uuid(int);

-- fann_label_sets: one label set per distinct (tenant, category), the NULL
-- tenant's rows among them; new values add sets, VACUUM removes rows only
CREATE TABLE sets (id int, embedding real[], tenant uuid, category text);
INSERT INTO sets SELECT i, fann_random_vector(4),
	   CASE WHEN i % 50 = 0 THEN NULL ELSE md5('t' || i % 17)::uuid END, 'c' || i % 5
  FROM generate_series(1, 2000) i;
CREATE INDEX sets_idx ON sets USING fann (embedding, tenant, category);
SELECT s.label_sets = d.n AS sets_match, s.label_sets_with_rows = d.n AS all_with_rows,
	   s.rows = 2000 AS rows_match, s.largest = d.largest AS largest_match
  FROM fann_label_sets('sets_idx') s,
	   (SELECT count(*) AS n, max(c) AS largest
		  FROM (SELECT count(*) AS c FROM sets GROUP BY tenant, category) g) d;
INSERT INTO sets SELECT 3000 + i, fann_random_vector(4), md5('new')::uuid, 'c0' FROM generate_series(1, 5) i;
DELETE FROM sets WHERE category = 'c1';
VACUUM sets;
SELECT s.label_sets - d.n AS empty_sets, s.label_sets_with_rows = d.n AS with_rows_match,
	   s.rows = (SELECT count(*) FROM sets) AS rows_match
  FROM fann_label_sets('sets_idx') s,
	   (SELECT count(*) AS n FROM (SELECT FROM sets GROUP BY tenant, category) g) d;
SELECT * FROM fann_label_sets('sets');
DROP TABLE sets;
