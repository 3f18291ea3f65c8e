-- Helpers shared by the suites that follow.

-- Run a query (SELECT id FROM ... ORDER BY <distance> [LIMIT n]) through the
-- fann index (sequential scans and sorts disabled: plan choice is tested
-- elsewhere) and again as an exact sequential scan; raise if the plan does
-- not use the named index or the ranking differs: the same distances in the
-- same order, and the same rows, in any order only among rows at an equal
-- distance (float ties, which no order can settle).  Returns the number of
-- rows compared.
CREATE FUNCTION fann_check(query text, index_name text) RETURNS int AS $$
DECLARE
	plan text;
	ranked text;
	via_index bigint[];
	via_d float8[];
	exact bigint[];
	exact_d float8[];
	n int;
BEGIN
	-- the same query returning each row's distance too
	ranked := regexp_replace(query, '^SELECT id FROM',
		format('SELECT id, (%s)::float8 AS d FROM',
			   (regexp_match(query, 'ORDER BY (.*?)(?: LIMIT [0-9]+)?\s*$'))[1]));
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_sort', 'off', true);
	SELECT string_agg(p, E'\n') INTO plan
	  FROM fann_explain(ranked) AS p;
	IF position('Index Scan using ' || index_name || ' ' IN plan) = 0 THEN
		RAISE EXCEPTION 'plan for % does not use %: %', query, index_name, plan;
	END IF;
	EXECUTE 'SELECT array_agg(id), array_agg(d) FROM (' || ranked || ') q' INTO via_index, via_d;

	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_sort', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE 'SELECT array_agg(id), array_agg(d) FROM (' || ranked || ') q' INTO exact, exact_d;
	PERFORM set_config('enable_indexscan', 'on', true);
	PERFORM set_config('enable_bitmapscan', 'on', true);

	n := coalesce(cardinality(exact), 0);
	IF via_index IS DISTINCT FROM exact AND
	   (via_d IS DISTINCT FROM exact_d OR
		-- the rows before the last distance, as sets (the last one's ties may
		-- be cut by LIMIT anywhere)
		(SELECT array_agg(i ORDER BY i) FROM unnest(via_index, via_d) u(i, d) WHERE d < exact_d[n])
		IS DISTINCT FROM
		(SELECT array_agg(i ORDER BY i) FROM unnest(exact, exact_d) u(i, d) WHERE d < exact_d[n])) THEN
		RAISE EXCEPTION 'index and exact results differ for %: index % exact %',
			query, via_index, exact;
	END IF;
	RETURN n;
END
$$ LANGUAGE plpgsql;

-- The int a call returns ('fann_check(...)') under settings ('name = value,
-- name = value'), for this call
CREATE FUNCTION fann_with(settings text, call text) RETURNS int AS $$
DECLARE
	s text;
	saved text[] := '{}';
	n int;
BEGIN
	FOREACH s IN ARRAY string_to_array(settings, ', ') LOOP
		saved := saved || ARRAY[split_part(s, ' = ', 1), current_setting(split_part(s, ' = ', 1))];
		PERFORM set_config(split_part(s, ' = ', 1), split_part(s, ' = ', 2), true);
	END LOOP;
	EXECUTE 'SELECT ' || call INTO n;
	FOR i IN 1 .. cardinality(saved) / 2 LOOP
		PERFORM set_config(saved[2 * i - 1], saved[2 * i], true);
	END LOOP;
	RETURN n;
END
$$ LANGUAGE plpgsql;

-- fann_check under settings
CREATE FUNCTION fann_check_with(settings text, query text, index_name text) RETURNS int AS $$
	SELECT fann_with(settings, format('fann_check(%L, %L)', query, index_name))
$$ LANGUAGE sql;

CREATE FUNCTION fann_explain(query text) RETURNS SETOF text AS $$
BEGIN
	RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query;
END
$$ LANGUAGE plpgsql;

-- A random vector of dim components in [0, 1)
CREATE FUNCTION fann_random_vector(dim int) RETURNS real[] AS $$
	SELECT array_agg(random()::real) FROM generate_series(1, dim)
$$ LANGUAGE sql VOLATILE;

-- The SQLSTATE and message a statement fails with, or 'ok'
CREATE FUNCTION fann_error(statement text) RETURNS text AS $$
BEGIN
	EXECUTE statement;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$ LANGUAGE plpgsql;

-- Run a check (a query returning true when it passes) under every distance
-- kernel this CPU has (fann.simd); raise naming the kernel where it fails.
-- Returns how many kernels ran.
CREATE FUNCTION fann_each_kernel(check_sql text) RETURNS int AS $$
DECLARE
	k text;
	kernels_run int := 0;
	ok boolean;
BEGIN
	FOREACH k IN ARRAY ARRAY['generic', 'avx2', 'avx512', 'avx512vnni', 'auto'] LOOP
		BEGIN
			PERFORM set_config('fann.simd', k, true);
		EXCEPTION WHEN invalid_parameter_value THEN
			CONTINUE;			-- this CPU lacks it
		END;
		EXECUTE check_sql INTO ok;
		IF ok IS NOT TRUE THEN
			RAISE EXCEPTION 'kernel % fails: %', k, check_sql;
		END IF;
		kernels_run := kernels_run + 1;
	END LOOP;
	PERFORM set_config('fann.simd', 'auto', true);
	RETURN kernels_run;
END
$$ LANGUAGE plpgsql;
