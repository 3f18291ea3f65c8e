/* fann--1.0.sql */

\echo Use "CREATE EXTENSION fann" to load this file. \quit

-- Distance functions on real[] vectors, as pgvector names them.  COST 5:
-- measured at 128 dimensions, a call costs about five simple operators.
CREATE FUNCTION l2_distance(real[], real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'fann_l2_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 5;

CREATE FUNCTION inner_product(real[], real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'fann_inner_product'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 5;

CREATE FUNCTION negative_inner_product(real[], real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'fann_negative_inner_product'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 5;

CREATE FUNCTION cosine_distance(real[], real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'fann_cosine_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 5;

CREATE OPERATOR <-> (
	LEFTARG = real[], RIGHTARG = real[], FUNCTION = l2_distance,
	COMMUTATOR = '<->'
);

CREATE OPERATOR <#> (
	LEFTARG = real[], RIGHTARG = real[], FUNCTION = negative_inner_product,
	COMMUTATOR = '<#>'
);

CREATE OPERATOR <=> (
	LEFTARG = real[], RIGHTARG = real[], FUNCTION = cosine_distance,
	COMMUTATOR = '<=>'
);

-- The access method
CREATE FUNCTION fann_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD fann TYPE INDEX HANDLER fann_handler;

COMMENT ON ACCESS METHOD fann IS 'filtered nearest-neighbour search: real[] (or, with fann_vector, vector and halfvec) vectors, filtered on scalar, array and jsonb columns';

CREATE OPERATOR CLASS fann_l2_ops
	DEFAULT FOR TYPE real[] USING fann AS
	OPERATOR 1 <-> (real[], real[]) FOR ORDER BY float_ops;

CREATE OPERATOR CLASS fann_ip_ops
	FOR TYPE real[] USING fann AS
	OPERATOR 2 <#> (real[], real[]) FOR ORDER BY float_ops;

CREATE OPERATOR CLASS fann_cosine_ops
	FOR TYPE real[] USING fann AS
	OPERATOR 3 <=> (real[], real[]) FOR ORDER BY float_ops;

-- Filter columns: any number after the vector, each with a default
-- operator class.  Array columns take =, @>, && and <@; the integer[]
-- labels of an index with that one filter column answer exactly, every
-- other column's values are hashed into labels and each predicate
-- rechecked on the heap row, so a hash collision costs a row read, never a
-- wrong row.
CREATE OPERATOR CLASS fann_label_ops
	DEFAULT FOR TYPE integer[] USING fann AS
	OPERATOR 4 = (anyarray, anyarray),
	OPERATOR 5 @> (anyarray, anyarray),
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 <@ (anyarray, anyarray);

CREATE OPERATOR CLASS fann_int8_label_ops
	DEFAULT FOR TYPE bigint[] USING fann AS
	OPERATOR 4 = (anyarray, anyarray),
	OPERATOR 5 @> (anyarray, anyarray),
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 <@ (anyarray, anyarray);

CREATE OPERATOR CLASS fann_text_label_ops
	DEFAULT FOR TYPE text[] USING fann AS
	OPERATOR 4 = (anyarray, anyarray),
	OPERATOR 5 @> (anyarray, anyarray),
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 <@ (anyarray, anyarray);

CREATE OPERATOR CLASS fann_uuid_label_ops
	DEFAULT FOR TYPE uuid[] USING fann AS
	OPERATOR 4 = (anyarray, anyarray),
	OPERATOR 5 @> (anyarray, anyarray),
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 <@ (anyarray, anyarray);

-- Scalar columns take = and = ANY (IN lists).  The integer types form one
-- family, so that a bigint column compared with an integer constant is
-- served too.
CREATE OPERATOR FAMILY fann_integer_ops USING fann;

CREATE OPERATOR CLASS fann_int2_ops
	DEFAULT FOR TYPE smallint USING fann FAMILY fann_integer_ops AS
	OPERATOR 4 = (smallint, smallint);

CREATE OPERATOR CLASS fann_int4_ops
	DEFAULT FOR TYPE integer USING fann FAMILY fann_integer_ops AS
	OPERATOR 4 = (integer, integer);

CREATE OPERATOR CLASS fann_int8_ops
	DEFAULT FOR TYPE bigint USING fann FAMILY fann_integer_ops AS
	OPERATOR 4 = (bigint, bigint);

ALTER OPERATOR FAMILY fann_integer_ops USING fann ADD
	OPERATOR 4 = (smallint, integer),
	OPERATOR 4 = (smallint, bigint),
	OPERATOR 4 = (integer, smallint),
	OPERATOR 4 = (integer, bigint),
	OPERATOR 4 = (bigint, smallint),
	OPERATOR 4 = (bigint, integer);

CREATE OPERATOR CLASS fann_text_ops
	DEFAULT FOR TYPE text USING fann AS
	OPERATOR 4 = (text, text);

CREATE OPERATOR CLASS fann_uuid_ops
	DEFAULT FOR TYPE uuid USING fann AS
	OPERATOR 4 = (uuid, uuid);

CREATE OPERATOR CLASS fann_bool_ops
	DEFAULT FOR TYPE boolean USING fann AS
	OPERATOR 4 = (boolean, boolean);

CREATE OPERATOR CLASS fann_date_ops
	DEFAULT FOR TYPE date USING fann AS
	OPERATOR 4 = (date, date);

-- jsonb: a document's labels are its (path, scalar) pairs and top-level
-- keys, so that @>, ?, ?| and ?& are served as jsonb defines them
CREATE OPERATOR CLASS fann_jsonb_ops
	DEFAULT FOR TYPE jsonb USING fann AS
	OPERATOR 5 @> (jsonb, jsonb),
	OPERATOR 8 ? (jsonb, text),
	OPERATOR 9 ?| (jsonb, text[]),
	OPERATOR 10 ?& (jsonb, text[]);

-- Any other type: no operators, so that CREATE INDEX reaches fann, which
-- names the column and the types it takes (PostgreSQL would only say that
-- the type has no default operator class)
CREATE OPERATOR CLASS fann_unsupported_ops
	DEFAULT FOR TYPE anyelement USING fann AS
	STORAGE anyelement;

-- What the most recent fann index scan in this backend did
CREATE FUNCTION fann_last_scan(
	OUT path text,
	OUT groups_matched bigint,
	OUT groups_entered bigint,
	OUT rows_matching bigint,
	OUT elements_visited bigint,
	OUT distance_computations bigint,
	OUT rows_returned bigint,
	OUT passes integer,
	OUT partitions_probed integer)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

-- Structural checks of a fann index; no rows: none failed
CREATE FUNCTION fann_verify(index regclass, OUT check_name text, OUT detail text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The index's label sets (distinct sets of filter labels) and how its live
-- rows fall into them
CREATE FUNCTION fann_label_sets(index regclass, OUT label_sets bigint,
								OUT label_sets_with_rows bigint, OUT rows bigint,
								OUT largest bigint, OUT mean_rows float8)
	RETURNS record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The probe threshold the ivf path and the ef_search the graph path use for
-- each fann.target_recall, as CREATE INDEX measured them on sample rows of
-- the table, and the work they took (auto's costs): the share of the rows
-- probed unfiltered, the distances the graph computed
CREATE FUNCTION fann_calibration(index regclass, OUT target_recall float8,
								 OUT probe_threshold float8, OUT probed_share float8,
								 OUT sample_queries integer,
								 OUT graph_ef_equality integer, OUT graph_ef integer,
								 OUT graph_distances_equality float8,
								 OUT graph_distances float8,
								 OUT graph_sample_queries integer)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Measure the ivf path's probe thresholds again, as CREATE INDEX measured
-- them on sample rows, on the query vectors a SELECT returns (10 to 500 of
-- them, of the index's vector type): for queries unlike the table's rows.
-- Returns how many it used.
CREATE FUNCTION fann_calibrate(index regclass, queries text) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- Functions that read a whole index, as amcheck's and pgstattuple's do, are
-- not for everyone: its pages can quote stored values, and reading a large
-- index is work.  Superusers run them; others once granted EXECUTE.
-- fann_last_scan() describes the caller's own scans and stays public.
REVOKE ALL ON FUNCTION fann_verify(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION fann_calibration(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION fann_calibrate(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fann_label_sets(regclass) FROM PUBLIC;
