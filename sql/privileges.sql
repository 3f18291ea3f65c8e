-- The functions that read an index are not public (as amcheck's), nor
-- fann_calibrate, which rewrites its thresholds: a role without EXECUTE
-- gets "permission denied", one granted it gets answers; fann_last_scan()
-- is everyone's
CREATE TABLE priv (id int, embedding real[], labels int4[]);
INSERT INTO priv SELECT i, fann_random_vector(4), ARRAY[i % 3] FROM generate_series(1, 300) i;
CREATE INDEX priv_idx ON priv USING fann (embedding, labels);
CREATE ROLE regress_fann_reader;
GRANT SELECT ON priv TO regress_fann_reader;
SET ROLE regress_fann_reader;
SELECT fann_error('SELECT count(*) FROM fann_verify(''priv_idx'')') AS verify;
SELECT fann_error('SELECT count(*) FROM fann_calibration(''priv_idx'')') AS calibration;
SELECT fann_error('SELECT label_sets FROM fann_label_sets(''priv_idx'')') AS label_sets;
SELECT fann_error('SELECT fann_calibrate(''priv_idx'', ''SELECT embedding FROM priv'')') AS calibrate;
SELECT count(*) AS rows FROM (SELECT id FROM priv ORDER BY embedding <-> '{0,0,0,0}' LIMIT 5) s;
SELECT path IS NOT NULL AS own_scan_described FROM fann_last_scan();
RESET ROLE;
GRANT EXECUTE ON FUNCTION fann_verify(regclass), fann_calibration(regclass),
	fann_label_sets(regclass) TO regress_fann_reader;
SET ROLE regress_fann_reader;
SELECT count(*) AS problems FROM fann_verify('priv_idx');
SELECT label_sets, rows FROM fann_label_sets('priv_idx');
SELECT count(*) >= 0 AS calibration_read FROM fann_calibration('priv_idx');
RESET ROLE;
DROP TABLE priv;
REVOKE ALL ON FUNCTION fann_verify(regclass), fann_calibration(regclass),
	fann_label_sets(regclass) FROM regress_fann_reader;
DROP ROLE regress_fann_reader;
