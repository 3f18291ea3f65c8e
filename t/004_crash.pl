# Crashes in the middle of work (stop('immediate')): during a stream of
# committed inserts, during CREATE INDEX and during VACUUM. After restart the index verifies,
# holds every committed row, answers as a sequential scan does; a build that
# was cut off leaves no index behind and can run again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	SELECT setseed(0.21);
	CREATE TABLE items (id int PRIMARY KEY, embedding real[], labels int4[]);
	INSERT INTO items SELECT i, ARRAY[random(), random(), random(), random()]::real[],
		ARRAY[i % 5, 10 + i % 4] FROM generate_series(1, 2000) i;
	CREATE INDEX items_idx ON items USING fann (embedding, labels) WITH (graph_degree = 8);
});

sub wait_for
{
	my ($query, $what) = @_;
	$node->poll_query_until('postgres', $query) or die "timed out waiting for $what";
}

# 1. a stream of inserts, each committed, cut off by a crash
my $stream = $node->background_psql('postgres');
$stream->query_until(qr/streaming/, q{
	\echo streaming
	DO $$
	BEGIN
		FOR i IN 100001 .. 400000 LOOP
			INSERT INTO items VALUES (i, ARRAY[random(), random(), random(), random()]::real[],
				CASE WHEN i % 3 = 0 THEN ARRAY[40 + i % 2] ELSE ARRAY[i % 5, 10 + i % 4] END);
			COMMIT;
		END LOOP;
	END $$;
});
wait_for(q{SELECT count(*) > 500 FROM items WHERE id > 100000}, 'inserts');
$node->stop('immediate');
$stream->{run}->kill_kill;
$node->start;

my $committed = $node->safe_psql('postgres', q{SELECT count(*) FROM items WHERE id > 100000});
cmp_ok($committed, '>', 500, "$committed inserts were committed before the crash");
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'after the crash the index verifies (every committed row indexed once)');
for my $pred ('true', q{labels @> '{40}'}, q{labels && '{41,2}'})
{
	my $q = "SELECT string_agg(d::text, ',') FROM (SELECT embedding <-> '{0.5,0.4,0.3,0.2}' AS d
		FROM items WHERE $pred ORDER BY embedding <-> '{0.5,0.4,0.3,0.2}' LIMIT 25) s";
	is($node->safe_psql('postgres', "SET enable_seqscan = off; SET enable_sort = off; $q"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $q"),
		"after the crash the index answers $pred exactly");
}

# 2. CREATE INDEX cut off while it builds the graph or the partitions
$node->safe_psql('postgres', q{
	CREATE TABLE big AS SELECT i AS id, ARRAY(SELECT random()::real FROM generate_series(1, 32) WHERE i > 0) AS embedding,
		ARRAY[i % 7] AS labels FROM generate_series(1, 40000) i;
});
my $build = $node->background_psql('postgres');
$build->query_until(qr/building/, q{
	\echo building
	CREATE INDEX big_idx ON big USING fann (embedding, labels);
});
wait_for(q{SELECT count(*) > 0 FROM pg_stat_progress_create_index
	WHERE phase IN ('building index: building graph', 'building index: building partitions')},
	'the build');
$node->stop('immediate');
$build->{run}->kill_kill;
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'big_idx'}),
	'0', 'the cut-off build left no index');
$node->safe_psql('postgres', q{CREATE INDEX big_idx ON big USING fann (embedding, labels)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('big_idx')}),
	'0', 'the build runs again and verifies');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'the other index is untouched');

# 3. VACUUM cut off while it cleans the index (slowed by its cost delay)
$node->safe_psql('postgres', q{
	CREATE TABLE vac AS SELECT i AS id, ARRAY(SELECT random()::real FROM generate_series(1, 16) WHERE i > 0) AS embedding,
		ARRAY[i % 5, 10 + i % 3] AS labels FROM generate_series(1, 8000) i;
	ALTER TABLE vac SET (autovacuum_enabled = off);
	CREATE INDEX vac_idx ON vac USING fann (embedding, labels) WITH (partitions = 40);
	DELETE FROM vac WHERE id % 3 = 0;
});
my $vacuum = $node->background_psql('postgres');
$vacuum->query_until(qr/vacuuming/, q{
	SET vacuum_cost_delay = '20ms';
	SET vacuum_cost_limit = 1;
	\echo vacuuming
	VACUUM vac;
});
wait_for(q{SELECT count(*) > 0 FROM pg_stat_progress_vacuum WHERE phase = 'vacuuming indexes'},
	'VACUUM to reach the index');
sleep(1);
is($node->safe_psql('postgres', q{SELECT phase FROM pg_stat_progress_vacuum}),
	'vacuuming indexes', 'the crash comes while VACUUM cleans the index');
$node->stop('immediate');
$vacuum->{run}->kill_kill;
$node->start;
for my $round ('after the crash', 'after a VACUUM that completes')
{
	is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('vac_idx')}),
		'0', "$round the index verifies");
	for my $path ('exact', 'ivf')
	{
		for my $pred ('true', q{labels @> '{2}'}, q{labels && '{4,11}'})
		{
			my $q = "SELECT string_agg(d::text, ',') FROM (SELECT embedding <-> array_fill(0.5::real, ARRAY[16]) AS d
				FROM vac WHERE $pred ORDER BY embedding <-> array_fill(0.5::real, ARRAY[16]) LIMIT 40) s";
			is($node->safe_psql('postgres', "SET enable_seqscan = off; SET enable_sort = off;
					SET fann.strategy = $path; SET fann.probing = nearest; SET fann.max_probes = 1000; $q"),
				$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $q"),
				"$round the $path path answers $pred exactly");
		}
	}
	$node->safe_psql('postgres', 'VACUUM vac');
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM vac WHERE id % 3 = 0}), '0',
	'the deleted rows stay deleted');

# 4. All-zero pages at the index's end, as a crash leaves them when it cuts an
# insert between extending the index (not WAL-logged) and writing the new
# pages: unused space, not corruption, and every path works around them
my $idxfile = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('vac_idx')});
$node->stop;
open(my $fh, ">>", $idxfile) or die "cannot open $idxfile: $!";
binmode $fh;
print $fh "\0" x (2 * 8192);
close $fh;
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('vac_idx')}),
	'0', 'all-zero pages left by a crash are no problem');
$node->safe_psql('postgres', q{
	INSERT INTO vac SELECT i, ARRAY(SELECT random()::real FROM generate_series(1, 16) WHERE i > 0),
		ARRAY[i % 5, 10 + i % 3] FROM generate_series(8001, 9000) i;
	DELETE FROM vac WHERE id % 7 = 0;
	VACUUM vac;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('vac_idx')}),
	'0', 'inserts and VACUUM work past all-zero pages, and the index verifies');
for my $path ('exact', 'graph', 'ivf')
{
	my $q = "SELECT string_agg(d::text, ',') FROM (SELECT embedding <-> array_fill(0.5::real, ARRAY[16]) AS d
		FROM vac WHERE labels @> '{2}' ORDER BY embedding <-> array_fill(0.5::real, ARRAY[16]) LIMIT 40) s";
	is($node->safe_psql('postgres', "SET enable_seqscan = off; SET enable_sort = off;
			SET fann.strategy = $path; SET fann.ef_search = 5000; SET fann.probing = nearest;
			SET fann.max_probes = 1000; $q"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $q"),
		"with all-zero pages the $path path answers exactly");
}

$node->stop;
done_testing();
