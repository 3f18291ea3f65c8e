/* fann_vector--1.0.sql */

\echo Use "CREATE EXTENSION fann_vector" to load this file. \quit

-- fann indexes on pgvector's columns, ordered by pgvector's own operators:
-- CREATE INDEX ON items USING fann (embedding, labels) on a vector or
-- halfvec column.  Support function 1 tells fann how the type stores a
-- vector; fann reads the values itself and never calls pgvector.
CREATE FUNCTION fann_vector_type_pgvector(internal) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION fann_vector_type_halfvec(internal) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS fann_vector_l2_ops
	DEFAULT FOR TYPE vector USING fann AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_pgvector(internal);

CREATE OPERATOR CLASS fann_vector_ip_ops
	FOR TYPE vector USING fann AS
	OPERATOR 2 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_pgvector(internal);

CREATE OPERATOR CLASS fann_vector_cosine_ops
	FOR TYPE vector USING fann AS
	OPERATOR 3 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_pgvector(internal);

CREATE OPERATOR CLASS fann_halfvec_l2_ops
	DEFAULT FOR TYPE halfvec USING fann AS
	OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_halfvec(internal);

CREATE OPERATOR CLASS fann_halfvec_ip_ops
	FOR TYPE halfvec USING fann AS
	OPERATOR 2 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_halfvec(internal);

CREATE OPERATOR CLASS fann_halfvec_cosine_ops
	FOR TYPE halfvec USING fann AS
	OPERATOR 3 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 fann_vector_type_halfvec(internal);
