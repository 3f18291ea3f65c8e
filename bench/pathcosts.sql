-- bench/pathcosts.sql: fann_path_costs(), used by `bench/run path-costs`.
-- Queries of one filter shape (none, equality, containment: two of the row's
-- labels, contain1: one, overlap: one of its labels or a random one) around
-- n rows of tbl drawn with seed, each on fann.strategy = strategy: its
-- in-server time (the statement's execution, parse and plan included) and
-- its work as fann_last_scan() counts it.
CREATE OR REPLACE FUNCTION fann_path_costs(tbl regclass, strategy text, shape text,
										   n int, seed float8)
RETURNS TABLE (ms float8, path text, groups bigint, matching bigint,
			   visited bigint, distances bigint) AS $$
DECLARE
	q real[];
	lab int4[];
	filter text;
	t0 timestamptz;
	s record;
BEGIN
	PERFORM setseed(seed);
	PERFORM set_config('fann.strategy', strategy, true);
	FOR q, lab IN EXECUTE format('SELECT embedding::real[], labels FROM %s WHERE cardinality(labels) > 0
								  ORDER BY random() LIMIT %s',
								 tbl, n) LOOP
		filter := CASE shape
			WHEN 'none' THEN 'true'
			WHEN 'equality' THEN format('labels = %L', lab)
			WHEN 'containment' THEN format('labels @> %L', lab[1:2])
			WHEN 'contain1' THEN format('labels @> %L', lab[cardinality(lab):])
			WHEN 'overlap' THEN format('labels && %L',
									   lab[cardinality(lab):] || (1 + (random() * 11)::int))
		END;
		t0 := clock_timestamp();
		EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s
						ORDER BY embedding <-> $1 LIMIT 10) x', tbl, filter) USING q;
		ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
		SELECT l.path, l.groups_matched, l.rows_matching, l.elements_visited,
			   l.distance_computations INTO s FROM fann_last_scan() l;
		path := s.path;
		groups := s.groups_matched;
		matching := s.rows_matching;
		visited := s.elements_visited;
		distances := s.distance_computations;
		RETURN NEXT;
	END LOOP;
END
$$ LANGUAGE plpgsql;
