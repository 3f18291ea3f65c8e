-- Distance functions and operators on real[]

SELECT l2_distance('{0,0}', '{3,4}');
SELECT '{1,2,3}'::real[] <-> '{1,2,3}';
SELECT inner_product('{1,2,3}', '{4,5,6}');
SELECT negative_inner_product('{1,2,3}', '{4,5,6}'), '{1,2,3}'::real[] <#> '{4,5,6}';
SELECT cosine_distance('{1,0}', '{0,1}'), '{1,1}'::real[] <=> '{2,2}', '{1,0}'::real[] <=> '{-1,0}';
-- cosine distance is undefined for a zero vector: NaN, as in pgvector
SELECT '{0,0}'::real[] <=> '{1,1}';
-- huge but finite values overflow to infinity, not to an error
SELECT '{3e38}'::real[] <-> '{-3e38}';
-- strict: NULL in, NULL out
SELECT l2_distance(NULL, '{1}') IS NULL AS is_null;

-- volatility and parallel safety
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE proname IN ('l2_distance', 'inner_product', 'negative_inner_product', 'cosine_distance')
 ORDER BY proname;

-- bad input: clear messages and SQLSTATEs
SELECT q AS statement, fann_error(q) AS error FROM (VALUES
	($$SELECT '{1,2}'::real[] <-> '{1,2,3}'$$),
	($$SELECT '{1,NULL}'::real[] <-> '{1,2}'$$),
	($$SELECT '{1,NaN}'::real[] <-> '{1,2}'$$),
	($$SELECT '{1,Infinity}'::real[] <=> '{1,2}'$$),
	($$SELECT '{-Infinity,1}'::real[] <#> '{1,2}'$$),
	($$SELECT '{{1,2},{3,4}}'::real[] <-> '{{1,2},{3,4}}'$$),
	($$SELECT '{}'::real[] <-> '{}'$$),
	($$SELECT inner_product('{1}', '{NaN}')$$)) v(q);

-- Every kernel the CPU has agrees with a double-precision reference, on
-- lengths that exercise the vector bodies and the tails.
CREATE TEMP TABLE kernel_cases AS
SELECT d, fann_random_vector(d) AS a, fann_random_vector(d) AS b
  FROM generate_series(1, 140) d, generate_series(1, 3) r;
UPDATE kernel_cases SET a = array_fill(0::real, ARRAY[d]) WHERE d = 5;

CREATE TEMP TABLE kernel_reference AS
SELECT d, a, b,
	   sqrt(sum((x::float8 - y::float8) ^ 2)) AS l2,
	   sum(x::float8 * y::float8) AS ip,
	   1 - sum(x::float8 * y::float8) /
		   nullif(sqrt(sum(x::float8 * x::float8)) * sqrt(sum(y::float8 * y::float8)), 0) AS cos
  FROM kernel_cases, unnest(a, b) AS u(x, y)
 GROUP BY d, a, b;

CREATE FUNCTION kernel_errors() RETURNS bigint AS $$
	SELECT count(*) FROM kernel_reference
	 WHERE abs((a <-> b) - l2) > 1e-5 * greatest(1, l2)
		OR abs((a <#> b) + ip) > 1e-5 * greatest(1, abs(ip))
		OR abs(inner_product(a, b) - ip) > 1e-5 * greatest(1, abs(ip))
		OR (cos IS NULL) <> ((a <=> b) = 'NaN'::float8)
		OR abs((a <=> b) - cos) > 1e-5
$$ LANGUAGE sql;

SELECT fann_each_kernel('SELECT kernel_errors() = 0') >= 2 AS kernels_agree;
RESET fann.simd;

SET fann.simd = 'sse9';
