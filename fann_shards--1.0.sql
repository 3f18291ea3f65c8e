/* fann_shards--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION fann_shards CASCADE" to load this file. \quit

-- The merged top k of a table partitioned over postgres_fdw shards, the
-- shards searched at once.  PostgreSQL's own plan for such a query, a Merge
-- Append of the shards' ordered streams, reads them one after another (only
-- Append runs foreign scans asynchronously, and no release sends the LIMIT
-- through a Merge Append).  Here each shard gets one string through a
-- dblink connection of its foreign server: the EXECUTE of the filtered,
-- ordered, limited query, prepared there once per connection, after the
-- coordinator's search settings when the connection may not have them
-- yet.  Every string is sent before any answer is read, so
-- the shards search concurrently, and the k nearest of their k each are
-- the k nearest of all rows (each shard's answer is exactly ranked and
-- never short).  docs/sharding.md has the recipe.

-- A shard's part of a search: the partition, its server, the dblink
-- connection this session keeps to it, the statement that answers there
-- ($1 the query vector, $2... the parameters) and the name it is prepared
-- under on the connection
CREATE TYPE fann_shard_statement AS (partition regclass, server name, conn text, statement text,
									 name text);
-- A row a shard sent: its distance and its columns
CREATE TYPE fann_shard_hit AS (distance float8, hit jsonb);

-- fann's settings a search reads, in the order they are sent
CREATE FUNCTION fann_shard_settings() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT '{fann.strategy,fann.target_recall,fann.ef_search,fann.probe_threshold,fann.probing,fann.max_probes,fann.exact_threshold}'::text[] $$;

-- The coordinator's values of those settings, defaults included (a call
-- into fann's library defines them here), for a shard's connection to keep
-- for the session: a settings statement costs a shard as much as a search's
-- planning, so it is sent only to a connection that may have other values.
-- The stamp is set with them, and every row a shard sends carries the
-- stamp it searched with: what this session believes a connection has can
-- be stale (a transaction that rolled back forgets what it sent), what
-- the row says cannot.
CREATE FUNCTION fann_shard_configuration(OUT stamp text, OUT statement text)
	LANGUAGE plpgsql STABLE
	AS $$
DECLARE
	pairs text;
BEGIN
	PERFORM l2_distance('{0}'::real[], '{0}'::real[]);
	SELECT string_agg(format('(%L, %L)', g, current_setting(g)), ', ' ORDER BY o)
	  INTO pairs
	  FROM unnest(fann_shard_settings()) WITH ORDINALITY u(g, o);
	stamp := md5(pairs);
	statement := format('SELECT count(set_config(n, v, false)) FROM (VALUES %s, (%L, %L)) s(n, v)',
						pairs, 'fann_shards.stamp', stamp);
END
$$;

-- The parameter list each shard prepares the statement with: $1, the
-- query vector, of type query_type (NULL: unknown, the shard infers it from
-- where it appears), then the nparams elements of params, each unknown where
-- sql (order_by and filter) uses it and text where it does not (a shard
-- cannot infer the type of a parameter nothing uses); an error for a $n
-- without a value
CREATE FUNCTION fann_shard_parameters(sql text, query_type text, nparams integer)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	AS $$
DECLARE
	used int[] := ARRAY(SELECT DISTINCT m[1]::int FROM regexp_matches(sql, '\$([0-9]+)', 'g') m);
	top int := (SELECT max(u) FROM unnest(used) u);
BEGIN
	IF top > nparams + 1 THEN
		RAISE EXCEPTION 'fann_shard_search: $% has no value', top
			USING ERRCODE = 'undefined_parameter',
				  HINT = '$1 is the query vector, $2 and on the elements of params.';
	END IF;
	RETURN '(' || array_to_string(ARRAY(
		SELECT CASE WHEN i = 1 AND query_type IS NOT NULL THEN query_type
					WHEN i = ANY (used) THEN 'unknown' ELSE 'text' END
		  FROM generate_series(1, nparams + 1) i ORDER BY i), ', ') || ')';
END
$$;

-- Each foreign partition of parent and the statement that answers the
-- query there, its rows' last column the stamp of the settings the shard
-- searched with, and the name it is prepared under with parameters (their
-- types); an error for a partition that is not foreign
CREATE FUNCTION fann_shard_statements(parent regclass, order_by text, filter text, k integer,
									  columns text[], parameters text)
	RETURNS SETOF fann_shard_statement
	LANGUAGE plpgsql STABLE
	-- its catalog queries planned once per session, not once per call
	SET plan_cache_mode = force_generic_plan
	AS $$
DECLARE
	missing text;
	s fann_shard_statement;
BEGIN
	IF (SELECT relkind FROM pg_class WHERE oid = parent) IS DISTINCT FROM 'p' THEN
		RAISE EXCEPTION 'fann_shard_search: % is not a partitioned table', parent
			USING ERRCODE = 'wrong_object_type';
	END IF;
	SELECT string_agg(c, ', ') INTO missing
	  FROM unnest(columns) c
	 WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = parent AND a.attname = c
						  AND a.attnum > 0 AND NOT a.attisdropped);
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION 'fann_shard_search: % has no column %', parent, missing
			USING ERRCODE = 'undefined_column';
	END IF;
	-- ORDER BY 1: the shard's planner sees the index's ordering operator.
	-- The row goes as jsonb under the coordinator's column names (their
	-- names there may differ: column_name).  The lateral subqueries are
	-- fenced (OFFSET 0) so that each reads its catalog by index, not by a
	-- hash of the whole catalog: this runs with every search.
	FOR s.partition, s.server, s.statement IN
		SELECT t.relid, r.srvname,
			   format('SELECT s."fann_shards.distance", to_jsonb(s.*) - ''fann_shards.distance'', current_setting(''fann_shards.stamp'', true) FROM (SELECT %s AS "fann_shards.distance"%s FROM %I.%I WHERE %s ORDER BY 1 LIMIT %s) s',
					  order_by, ', ' || cols.list, r.schema_name, r.table_name, coalesce(filter, 'true'), k)
		  FROM pg_partition_tree(parent) t
		  LEFT JOIN LATERAL (
			  SELECT fs.srvname,
					 coalesce((SELECT option_value FROM pg_options_to_table(f.ftoptions)
								WHERE option_name = 'schema_name'), n.nspname) AS schema_name,
					 coalesce((SELECT option_value FROM pg_options_to_table(f.ftoptions)
								WHERE option_name = 'table_name'), c.relname) AS table_name
				FROM pg_class c
				JOIN pg_namespace n ON n.oid = c.relnamespace
				LEFT JOIN pg_foreign_table f ON f.ftrelid = c.oid
				LEFT JOIN pg_foreign_server fs ON fs.oid = f.ftserver
			   WHERE c.oid = t.relid OFFSET 0) r ON true
		  LEFT JOIN LATERAL (
			  SELECT string_agg(format('%I AS %I',
									   coalesce((SELECT option_value FROM pg_options_to_table(a.attfdwoptions)
												  WHERE option_name = 'column_name'), a.attname),
									   a.attname), ', ' ORDER BY a.attnum) AS list
				FROM pg_attribute a
			   WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
				 AND (columns IS NULL OR a.attname = ANY (columns)) OFFSET 0) cols ON true
		 WHERE t.isleaf
		 ORDER BY t.relid::regclass::text
	LOOP
		IF s.server IS NULL THEN
			RAISE EXCEPTION 'fann_shard_search: partition % of % is not a foreign table', s.partition, parent
				USING ERRCODE = 'feature_not_supported',
					  HINT = 'Every partition must be a postgres_fdw foreign table: a shard.';
		END IF;
		s.conn := 'fann:' || s.server;
		s.name := 'fann_shards_' || md5(parameters || s.statement);
		RETURN NEXT s;
	END LOOP;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'fann_shard_search: % has no partitions', parent
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

-- The k rows of parent's type (pass NULL::table) nearest by order_by (an
-- ORDER BY expression of the shards' table, $1 the query vector) among those
-- that satisfy filter ($2, $3, ... the elements of params, as literals), in
-- order; columns limits the columns the shards send (the others are NULL).
-- A connection prepares each statement once (a DO that prepares it unless
-- it exists: a rolled-back transaction can make the session forget it
-- did); it keeps at most max_prepared, then is opened afresh.
CREATE FUNCTION fann_shard_search(parent anyelement, order_by text, query anycompatible,
								  k integer, filter text DEFAULT NULL, params text[] DEFAULT NULL,
								  columns text[] DEFAULT NULL)
	RETURNS SETOF anyelement
	LANGUAGE plpgsql VOLATILE
	SET plan_cache_mode = force_generic_plan
	AS $$
DECLARE
	rel regclass := (SELECT typrelid FROM pg_type WHERE oid = pg_typeof(parent));
	config record;
	-- the stamp this session last sent each connection
	stamps jsonb := coalesce(nullif(current_setting('fann_shards.stamps', true), ''), '{}');
	stamps_before jsonb := stamps;
	-- the statements it prepared on each (a subset of what each has)
	prepared jsonb := coalesce(nullif(current_setting('fann_shards.prepared', true), ''), '{}');
	prepared_before jsonb := prepared;
	max_prepared constant integer := 100;
	parameters text;
	args text;
	shards fann_shard_statement[];
	todo fann_shard_statement[];
	stale fann_shard_statement[];
	shard fann_shard_statement;
	configure boolean[];
	prepare boolean[];
	known boolean;
	hits fann_shard_hit[] := '{}';
	answer fann_shard_hit[];
	agrees boolean;
	open text[];
	sent text[];
	retried boolean := false;
	state text;
	detail text;
BEGIN
	IF rel IS NULL OR rel = 0 THEN
		RAISE EXCEPTION 'fann_shard_search: parent must be a row of a partitioned table, such as NULL::items'
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF k IS NULL OR k < 1 THEN
		RAISE EXCEPTION 'fann_shard_search: k must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF query IS NULL THEN
		RAISE EXCEPTION 'fann_shard_search: the query vector is NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	config := fann_shard_configuration();
	IF order_by IS NULL THEN
		RAISE EXCEPTION 'fann_shard_search: order_by is NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'order_by is the ORDER BY expression, such as ''embedding <-> $1''.';
	END IF;
	-- the statement's parameters: the query vector of its type (a text one,
	-- an untyped literal, of the type the shard infers, its column's), then
	-- params; the EXECUTE's arguments, their values as literals
	parameters := fann_shard_parameters(order_by || ' ' || coalesce(filter, ''),
		CASE WHEN pg_typeof(query) NOT IN ('text'::regtype, 'unknown'::regtype)
			 THEN pg_typeof(query)::text END,
		coalesce(cardinality(params), 0));
	args := '(' || array_to_string(ARRAY[quote_literal(query)]
								   || ARRAY(SELECT quote_nullable(p) FROM unnest(params) p), ', ') || ')';
	shards := ARRAY(SELECT s FROM fann_shard_statements(rel, order_by, filter, k, columns, parameters) s);
	-- Rounds: each sends every statement of todo before it reads any
	-- answer.  A shard whose rows were searched with other settings than
	-- the coordinator's is sent them in the next round; every shard is sent
	-- its statement again, once, when a connection this session kept has
	-- gone (a shard restarted): the first answer of a new one is an error.
	todo := shards;
	WHILE cardinality(todo) > 0 LOOP
		open := coalesce(dblink_get_connections(), '{}');
		configure := '{}';
		prepare := '{}';
		sent := '{}';
		stale := '{}';
		BEGIN
			FOREACH shard IN ARRAY todo LOOP
				-- a connection holding its share of prepared statements
				-- starts afresh before it takes another
				known := coalesce(prepared -> shard.conn ? shard.name, false);
				IF shard.conn = ANY (open) AND NOT known
					AND jsonb_array_length(coalesce(prepared -> shard.conn, '[]')) >= max_prepared THEN
					PERFORM dblink_disconnect(shard.conn);
					open := array_remove(open, shard.conn);
				END IF;
				IF NOT shard.conn = ANY (open) THEN
					BEGIN
						PERFORM dblink_connect(shard.conn, shard.server);
					EXCEPTION WHEN OTHERS THEN
						GET STACKED DIAGNOSTICS detail = MESSAGE_TEXT;
						RAISE EXCEPTION 'fann_shard_search: shard % (partition %) cannot be reached',
							shard.server, shard.partition
							USING ERRCODE = 'sqlclient_unable_to_establish_sqlconnection', DETAIL = detail;
					END;
					stamps := stamps - shard.conn;
					prepared := prepared - shard.conn;
					known := false;
				END IF;
				configure := configure || (stamps ->> shard.conn IS DISTINCT FROM config.stamp);
				prepare := prepare || NOT known;
				sent := sent || shard.conn;
				IF dblink_send_query(shard.conn,
						CASE WHEN configure[cardinality(configure)] THEN config.statement || '; ' ELSE '' END
						|| CASE WHEN prepare[cardinality(prepare)] THEN
							format('DO %L; ', format('BEGIN IF NOT EXISTS (SELECT FROM pg_prepared_statements WHERE name = %L) THEN EXECUTE %L; END IF; END',
													 shard.name, format('PREPARE %I%s AS %s', shard.name, parameters, shard.statement)))
							ELSE '' END
						|| format('EXECUTE %I%s', shard.name, args)) <> 1 THEN
					RAISE EXCEPTION 'fann_shard_search: the query could not be sent to shard % (partition %)',
						shard.server, shard.partition
						USING ERRCODE = 'connection_failure';
				END IF;
			END LOOP;
			-- the settings' count, the DO's status, the rows, the end of
			-- the answer
			FOR i IN 1 .. cardinality(todo) LOOP
				shard := todo[i];
				IF configure[i] THEN
					PERFORM FROM dblink_get_result(shard.conn) AS s(n bigint);
				END IF;
				IF prepare[i] THEN
					PERFORM FROM dblink_get_result(shard.conn) AS s(status text);
					prepared := jsonb_set(prepared, ARRAY[shard.conn],
										  coalesce(prepared -> shard.conn, '[]') || to_jsonb(shard.name));
				END IF;
				SELECT coalesce(array_agg(ROW(h.distance, h.hit)::fann_shard_hit), '{}'),
					   coalesce(bool_and(h.stamp IS NOT DISTINCT FROM config.stamp), true)
				  INTO answer, agrees
				  FROM dblink_get_result(shard.conn) AS h(distance float8, hit jsonb, stamp text);
				PERFORM FROM dblink_get_result(shard.conn) AS s(n bigint);
				IF agrees THEN
					hits := hits || answer;
					stamps := stamps || jsonb_build_object(shard.conn, config.stamp);
				ELSIF configure[i] THEN
					RAISE EXCEPTION 'fann_shard_search: shard % (partition %) did not take the settings sent with the query',
						shard.server, shard.partition
						USING ERRCODE = 'internal_error';
				ELSE
					stale := stale || shard;
					stamps := stamps - shard.conn;
				END IF;
			END LOOP;
			todo := stale;
		EXCEPTION WHEN OTHERS OR query_canceled THEN
			-- a connection left with answers unread cannot take the next
			-- query: close them (the next call opens them again)
			PERFORM dblink_disconnect(c) FROM unnest(sent) c
			  WHERE c = ANY (coalesce(dblink_get_connections(), '{}'));
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
			-- 08: the connection failed; 57P01, 57P02: the shard's backend
			-- was ended (a shutdown) after the last query; 26000: a kept
			-- connection lacks a statement the session believes it
			-- prepared (a connection opened afresh in a transaction that
			-- rolled back): the connections opened again are told anew
			IF retried OR NOT (state LIKE '08%' OR state IN ('57P01', '57P02', '26000'))
				OR NOT (sent && open) THEN
				RAISE;
			END IF;
			retried := true;
			hits := '{}';
			todo := shards;
		END;
	END LOOP;
	-- what the connections have, for the next call (a hint: see
	-- fann_shard_configuration)
	IF stamps IS DISTINCT FROM stamps_before THEN
		PERFORM set_config('fann_shards.stamps', stamps::text, false);
	END IF;
	IF prepared IS DISTINCT FROM prepared_before THEN
		PERFORM set_config('fann_shards.prepared', prepared::text, false);
	END IF;
	RETURN QUERY SELECT r.* FROM unnest(hits) h, jsonb_populate_record(parent, h.hit) r
				   ORDER BY h.distance LIMIT k;
END
$$;
