# WAL: a streaming replica replays fann's build, inserts and VACUUM (checked
# page by page with wal_consistency_checking) and answers as the primary's
# sequential scan does; after a crash the primary recovers the same index.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "wal_consistency_checking = 'generic'");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION fann');
# a slot keeps the WAL until the standby has it: with consistency checking
# every record carries full page images, and a slow standby falls behind
$primary->safe_psql('postgres', q{SELECT pg_create_physical_replication_slot('standby')});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'standby'");
$standby->start;

$primary->safe_psql('postgres', q{
	SELECT setseed(0.3);
	CREATE TABLE items (id int PRIMARY KEY, embedding real[], labels int4[]);
	INSERT INTO items SELECT i, ARRAY[random(), random(), random(), random()]::real[],
		ARRAY[i % 5, 10 + i % 4] FROM generate_series(1, 3000) i;
	CREATE INDEX items_idx ON items USING fann (embedding, labels);
	-- built row by row, its changes WAL-logged as inserts' are
	CREATE TABLE streamed AS SELECT i AS id, ARRAY(SELECT random()::real FROM generate_series(1, 16) WHERE i > 0) AS embedding,
		CASE WHEN i % 4 = 0 THEN ARRAY[i % 3] ELSE ARRAY[i % 3, 10 + i % 5] END AS labels
		FROM generate_series(1, 6000) i;
	SET maintenance_work_mem = '2MB';
	SET fann.build_threads = 1;
	CREATE INDEX streamed_idx ON streamed USING fann (embedding, labels)
		WITH (graph_degree = 8, build_list = 24);
	RESET maintenance_work_mem;
	CREATE UNLOGGED TABLE scratch (embedding real[]);
	CREATE INDEX ON scratch USING fann (embedding);
	INSERT INTO scratch VALUES ('{1,2}');
});

# rounds of inserts (new label sets too), deletes and VACUUM
for my $round (1 .. 3)
{
	my $base = 3000 + 1000 * $round;
	$primary->safe_psql('postgres', qq{
		INSERT INTO items SELECT i, ARRAY[random(), random(), random(), random()]::real[],
			CASE WHEN i % 3 = 0 THEN ARRAY[20 + $round, i % 5] WHEN i % 7 = 0 THEN NULL
				 ELSE ARRAY[i % 5, 10 + i % 4] END
			FROM generate_series($base + 1, $base + 1000) i;
		DELETE FROM items WHERE id % 5 = $round;
		VACUUM items;
	});
}

my @predicates = ('true', q{labels @> '{2}'}, q{labels && '{21,13}'},
	q{labels = '{1,11}'}, q{labels @> '{22,1}'}, q{labels IS NULL});

# the distances of the 40 nearest rows of $table matching $pred, through the
# index (with $settings) or by a sequential scan (equal distances may come in
# either order)
sub answer
{
	my ($node, $pred, $use_index, $table, $settings) = @_;
	$table ||= 'items';
	my $dim = $table eq 'items' ? 4 : 16;
	$settings = $use_index
	  ? 'SET enable_seqscan = off; SET enable_sort = off;' . ($settings // '')
	  : 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
	return $node->safe_psql('postgres', qq{$settings
		SELECT string_agg(d::text, ',') FROM (SELECT embedding <-> array_fill(0.5::real, ARRAY[$dim]) AS d
		FROM $table WHERE $pred ORDER BY embedding <-> array_fill(0.5::real, ARRAY[$dim]) LIMIT 40) s;});
}

# fann_calibrate rewrites the metapage's thresholds: the standby has them
my $calibration = q{SELECT min(sample_queries) || ':' ||
	string_agg(probe_threshold::text, ',' ORDER BY target_recall) FROM fann_calibration('items_idx')};
$primary->safe_psql('postgres',
	q{SELECT fann_calibrate('items_idx', 'SELECT embedding FROM items ORDER BY id DESC LIMIT 50')});
like($primary->safe_psql('postgres', $calibration), qr/^50:/, 'fann_calibrate measured 50 queries');

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $calibration), $primary->safe_psql('postgres', $calibration),
	"the standby has fann_calibrate's thresholds");
for my $pred (@predicates)
{
	my $exact = answer($primary, $pred, 0);
	isnt($exact, '', "some rows match $pred");
	is(answer($primary, $pred, 1), $exact, "primary index answers $pred exactly");
	is(answer($standby, $pred, 1), $exact, "standby index answers $pred exactly");
}

is($primary->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'the primary index verifies');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'the standby index verifies');

# the streamed build, on every path searched in full
my %paths = (
	exact => q{SET fann.strategy = exact;},
	graph => q{SET fann.strategy = graph; SET fann.ef_search = 4000;},
	ivf => q{SET fann.strategy = ivf; SET fann.probing = nearest; SET fann.max_probes = 1000;});
for my $path (sort keys %paths)
{
	for my $pred ('true', q{labels @> '{1}'}, q{labels && '{2,13}'})
	{
		is(answer($standby, $pred, 1, 'streamed', $paths{$path}),
			answer($primary, $pred, 0, 'streamed'),
			"standby: the streamed build's $path path answers $pred exactly");
	}
}
is($standby->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('streamed_idx')}),
	'0', 'the streamed build verifies on the standby');

# crash the primary in the middle of inserts
$primary->safe_psql('postgres', q{
	INSERT INTO items SELECT i, ARRAY[random(), random(), random(), random()]::real[],
		ARRAY[i % 5, 30] FROM generate_series(10001, 11000) i;
});
$primary->stop('immediate');
$primary->start;
for my $pred (@predicates, q{labels @> '{30}'})
{
	is(answer($primary, $pred, 1), answer($primary, $pred, 0),
		"after crash recovery the index answers $pred exactly");
}
is($primary->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'after crash recovery the index verifies');
is($primary->safe_psql('postgres',
		'SET enable_seqscan = off; SELECT count(*) FROM (SELECT 1 FROM scratch ORDER BY embedding <-> \'{0,0}\') s'),
	'0', 'an unlogged fann index is empty after a crash');
$primary->safe_psql('postgres', q{INSERT INTO scratch VALUES ('{3,4}')});
is($primary->safe_psql('postgres',
		'SET enable_seqscan = off; SELECT embedding FROM scratch ORDER BY embedding <-> \'{0,0}\' LIMIT 1'),
	'{3,4}', 'and takes new rows');

done_testing();
