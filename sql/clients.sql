-- The statements real clients send, unchanged: LangChain's PGVectorStore
-- and TypeORM store, LlamaIndex's PGVectorStore (captured from their
-- JavaScript stores: unnamed statements with untyped parameters, so the
-- planner sees constants; here PREPARE with inferred types and custom
-- plans).  One fann index per table serves each with every condition under
-- Index Cond, and answers as a sequential scan does.

-- Run prepared statement stmt with args: its plan must be a fann index scan
-- with no Filter, and its rows (id, by _distance) those of the plan without
-- indexes.  Returns the number of rows.
CREATE FUNCTION client_check(stmt text, args text) RETURNS int AS $$
DECLARE
	plan text;
	via_index text[];
	exact text[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_sort', 'off', true);
	SELECT string_agg(p, E'\n') INTO plan FROM fann_explain(format('EXECUTE %s(%s)', stmt, args)) p;
	IF plan NOT LIKE '%Index Scan using %fann%' OR plan NOT LIKE '%Index Cond%' OR plan LIKE '%Filter%' THEN
		RAISE EXCEPTION 'plan of %(%) is not a fann index scan with every condition in it: %', stmt, args, plan;
	END IF;
	EXECUTE format('CREATE TEMP TABLE client_rows AS EXECUTE %s(%s)', stmt, args);
	SELECT array_agg(id::text ORDER BY d, id::text) INTO via_index FROM client_rows;
	DROP TABLE client_rows;

	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_sort', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE format('CREATE TEMP TABLE client_rows AS EXECUTE %s(%s)', stmt, args);
	SELECT array_agg(id::text ORDER BY d, id::text) INTO exact FROM client_rows;
	DROP TABLE client_rows;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);
	IF via_index IS DISTINCT FROM exact THEN
		RAISE EXCEPTION '%(%) differs: index % exact %', stmt, args, via_index, exact;
	END IF;
	RETURN coalesce(cardinality(exact), 0);
END
$$ LANGUAGE plpgsql;

-- an unnamed statement is planned once, with its parameters' values
SET plan_cache_mode = force_custom_plan;
SELECT setseed(0.5625);
CREATE FUNCTION client_meta(i int) RETURNS jsonb AS $$
	SELECT jsonb_build_object('lang', (ARRAY['en', 'de', 'fr'])[1 + i % 3],
							  'tenant', 'tenant' || (i % 7),
							  'tags', to_jsonb(ARRAY['t' || (i % 4), 't' || (i % 6)]),
							  'source', (ARRAY['web', 'pdf'])[1 + i % 2],
							  'page', i)
$$ LANGUAGE sql IMMUTABLE;

-- LangChain PGVectorStore, with collections
CREATE TABLE lc_docs_coll (id uuid PRIMARY KEY, content text, metadata jsonb, embedding real[],
	collection_id uuid);
INSERT INTO lc_docs_coll
SELECT md5('doc' || i)::uuid, 'text ' || i, client_meta(i), fann_random_vector(16),
	   md5('collection' || (i % 3))::uuid
  FROM generate_series(1, 3000) i;
CREATE INDEX lc_docs_coll_fann ON lc_docs_coll USING fann (embedding fann_cosine_ops, collection_id,
	((metadata ->> 'lang')), ((metadata ->> 'tenant')));
ANALYZE lc_docs_coll;
PREPARE lc_coll AS SELECT *, "embedding" <=> $1 as "_distance" FROM lc_docs_coll
 WHERE collection_id = $3 AND metadata->>'lang' IN ($4,$5) AND metadata->>'tenant' = $6
 ORDER BY "_distance" ASC LIMIT $2;
-- client_check's rows need "d": the statement's own columns, renamed
PREPARE lc_coll_d AS SELECT id, "_distance" AS d FROM (SELECT *, "embedding" <=> $1 as "_distance" FROM lc_docs_coll
 WHERE collection_id = $3 AND metadata->>'lang' IN ($4,$5) AND metadata->>'tenant' = $6
 ORDER BY "_distance" ASC LIMIT $2) s;
SELECT embedding AS q FROM lc_docs_coll WHERE id = md5('doc1')::uuid \gset
EXPLAIN (COSTS OFF) EXECUTE lc_coll(:'q', 10, md5('collection1')::uuid, 'en', 'de', 'tenant3');

-- LangChain PGVectorStore, a tag list in the metadata
CREATE TABLE lc_docs (id uuid PRIMARY KEY, content text, metadata jsonb, embedding real[]);
INSERT INTO lc_docs SELECT id, content, metadata, embedding FROM lc_docs_coll;
CREATE INDEX lc_docs_fann ON lc_docs USING fann (embedding fann_cosine_ops, ((metadata -> 'tags')));
ANALYZE lc_docs;
PREPARE lc_tags_d AS SELECT id, "_distance" AS d FROM (SELECT *, "embedding" <=> $1 as "_distance" FROM lc_docs
 WHERE metadata->'tags' ?| array[$3,$4] ORDER BY "_distance" ASC LIMIT $2) s;

-- LangChain TypeORM store: the whole filter as one JSON document
CREATE TABLE lc_typeorm_docs (id uuid PRIMARY KEY, "pageContent" text, metadata jsonb, embedding real[]);
INSERT INTO lc_typeorm_docs SELECT id, content, metadata, embedding FROM lc_docs_coll;
CREATE INDEX lc_typeorm_fann ON lc_typeorm_docs USING fann (embedding fann_cosine_ops, metadata);
ANALYZE lc_typeorm_docs;
PREPARE lc_typeorm_d AS SELECT id, "_distance" AS d FROM (SELECT *, embedding <=> $1 as "_distance" FROM lc_typeorm_docs
 WHERE metadata @> $2 ORDER BY "_distance" ASC LIMIT $3) s;

-- LlamaIndex PGVectorStore
CREATE TABLE li_embedding (id bigserial PRIMARY KEY, text varchar NOT NULL, metadata jsonb,
	node_id varchar, embeddings real[], collection varchar);
INSERT INTO li_embedding (text, metadata, node_id, embeddings, collection)
SELECT content, metadata, id::text, embedding, 'coll' || (get_byte(decode(md5(content), 'hex'), 0) % 4)
  FROM lc_docs_coll;
CREATE INDEX li_embedding_fann ON li_embedding USING fann (embeddings fann_cosine_ops, collection,
	((metadata ->> 'lang')), ((metadata ->> 'tenant')), ((metadata -> 'tags')));
ANALYZE li_embedding;
PREPARE li_lang_d AS SELECT id, s AS d FROM (SELECT v.*, embeddings <=> $1 s FROM public.li_embedding v
 WHERE collection = $2 AND (metadata->>'lang' = ANY($3) AND metadata->>'tenant' = $4) ORDER BY s LIMIT 5) q;
PREPARE li_tags_d AS SELECT id, s AS d FROM (SELECT v.*, embeddings <=> $1 s FROM public.li_embedding v
 WHERE collection = $2 AND (metadata->'tags' @> $3::jsonb) ORDER BY s LIMIT 5) q;
EXPLAIN (COSTS OFF) EXECUTE li_lang_d(:'q', 'coll1', '{en,fr}', 'tenant2');

-- each statement on each path, with parameters drawn from rows' own values
CREATE TEMP TABLE client_calls (stmt text, args text);
INSERT INTO client_calls
SELECT 'lc_coll_d', format('%L, %s, %L, %L, %L, %L', embedding, lim, collection_id,
						   metadata ->> 'lang', 'fr', metadata ->> 'tenant')
  FROM lc_docs_coll, (VALUES (10), (200)) l(lim) WHERE id IN (md5('doc5')::uuid, md5('doc6')::uuid)
UNION ALL
SELECT 'lc_tags_d', format('%L, %s, %L, %L', embedding, lim, 't1', 't5')
  FROM lc_docs, (VALUES (10), (200)) l(lim) WHERE id = md5('doc7')::uuid
UNION ALL
SELECT 'lc_typeorm_d', format('%L, %L, %s', embedding, f, lim)
  FROM lc_typeorm_docs, (VALUES (10), (200)) l(lim),
	   (VALUES ('{}'), ('{"source": "pdf"}'), ('{"lang": "de", "tenant": "tenant4"}'), ('{"tags": ["t3"]}'),
			   ('{"page": 17}')) f(f)
 WHERE id = md5('doc8')::uuid
UNION ALL
SELECT 'li_lang_d', format('%L, %L, %L, %L', embeddings, collection, '{en,de}', metadata ->> 'tenant')
  FROM li_embedding WHERE id IN (9, 10)
UNION ALL
SELECT 'li_tags_d', format('%L, %L, %L', embeddings, collection, t)
  FROM li_embedding, (VALUES ('["t2"]'), ('["t0", "t4"]')) t(t) WHERE id = 11;

SELECT c.stmt, s.strategy, array_agg(fann_with(s.settings, format('client_check(%L, %L)', c.stmt, c.args)) ORDER BY c.args) AS rows
  FROM client_calls c,
	   (VALUES ('exact', 'fann.strategy = exact'),
			   ('graph', 'fann.strategy = graph, fann.ef_search = 3000'),
			   ('ivf', 'fann.strategy = ivf, fann.probing = nearest, fann.max_probes = 16384'),
			   ('auto', 'fann.strategy = auto')) s(strategy, settings)
 GROUP BY c.stmt, s.strategy ORDER BY c.stmt, s.strategy;

RESET plan_cache_mode;
DROP TABLE lc_docs_coll, lc_docs, lc_typeorm_docs, li_embedding;
DROP FUNCTION client_meta(int);
