# fann among PostgreSQL's own tools, each check against a sequential scan:
# pg_dump / pg_restore recreate the index and its answers; a partitioned
# table's fann index serves ORDER BY ... LIMIT across partitions through a
# Merge Append of fann scans, and the filter prunes partitions; CREATE INDEX
# CONCURRENTLY and REINDEX CONCURRENTLY while inserts run leave every row
# indexed once; a logical replication subscriber's own fann index follows
# the publisher's inserts and deletes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;

my $make_items = q{
	CREATE EXTENSION IF NOT EXISTS fann;
	SELECT setseed(0.31);
	CREATE TABLE items (id int PRIMARY KEY, tenant int NOT NULL, embedding real[],
		labels int4[]);
	INSERT INTO items SELECT i, i % 3, ARRAY[random(), random(), random(), random()]::real[],
		   ARRAY[i % 5, 10 + i % 7]
	  FROM generate_series(1, 3000) i;
};
my @queries = (
	q{SELECT id FROM items ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10},
	q{SELECT id FROM items WHERE labels @> '{2}' ORDER BY embedding <-> '{0.1,0.9,0.3,0.5}' LIMIT 10},
	q{SELECT id FROM items WHERE labels && '{1,11}' ORDER BY embedding <-> '{0.9,0.1,0.7,0.2}' LIMIT 25});

# the ids a query returns through fann (its exact path) and by a sequential scan
sub answers
{
	my ($n, $db, $sql, $index) = @_;
	my $settings = $index
	  ? 'SET fann.strategy = exact; SET enable_seqscan = off;'
	  : 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
	return $n->safe_psql($db, "$settings SELECT string_agg(id::text, ',') FROM ($sql) s");
}

sub check_answers
{
	my ($n, $db, $what) = @_;
	for my $q (@queries)
	{
		is(answers($n, $db, $q, 1), answers($n, $db, $q, 0), "$what: $q");
	}
	is($n->safe_psql($db, q{SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING fann%'
		AND tablename = 'items'}), '1', "$what: the fann index is there");
	is($n->safe_psql($db, q{SELECT count(*) FROM fann_verify('items_fann')}), '0',
		"$what: fann_verify finds no problem");
}

# pg_dump / pg_restore
$node->safe_psql('postgres', $make_items
	  . q{CREATE INDEX items_fann ON items USING fann (embedding, labels);});
check_answers($node, 'postgres', 'the original');
my $dump = $node->basedir . '/items.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
check_answers($node, 'restored', 'restored by pg_restore');
for my $q (@queries)
{
	is(answers($node, 'restored', $q, 1), answers($node, 'postgres', $q, 1),
		"restored answers equal the original's: $q");
}

# a partitioned table: one fann index on the parent, a Merge Append of fann
# scans, pruned by the partition key
$node->safe_psql('postgres', q{
	CREATE TABLE parts (id int, tenant int NOT NULL, embedding real[], labels int4[])
		PARTITION BY LIST (tenant);
	CREATE TABLE parts_0 PARTITION OF parts FOR VALUES IN (0);
	CREATE TABLE parts_1 PARTITION OF parts FOR VALUES IN (1);
	CREATE TABLE parts_2 PARTITION OF parts FOR VALUES IN (2);
	INSERT INTO parts SELECT * FROM items;
	CREATE INDEX parts_fann ON parts USING fann (embedding, labels);
	ANALYZE parts;
});
my $plan = $node->safe_psql('postgres', q{EXPLAIN (COSTS OFF)
	SELECT id FROM parts WHERE labels @> '{2}' ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10});
like($plan, qr/Merge Append/, 'across partitions: a Merge Append');
is(scalar(() = $plan =~ /Index Scan using parts_\d_embedding_labels_idx/g), 3,
	'of three fann scans');
$plan = $node->safe_psql('postgres', q{EXPLAIN (COSTS OFF)
	SELECT id FROM parts WHERE tenant = 1 AND labels @> '{2}'
	ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10});
like($plan, qr/Index Scan using parts_1_embedding_labels_idx on parts_1/,
	'the partition key prunes to one partition');
unlike($plan, qr/parts_[02]/, 'and no other');
# a generic plan prunes at execution; a partition attached later gets its
# own fann index
$plan = $node->safe_psql('postgres', q{SET plan_cache_mode = force_generic_plan;
	PREPARE tenant_q(int) AS SELECT id FROM parts WHERE tenant = $1 AND labels @> '{2}'
	ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10;
	EXPLAIN (COSTS OFF) EXECUTE tenant_q(1)});
like($plan, qr/Subplans Removed: 2/, 'a generic plan prunes at execution');
like($plan, qr/Index Scan using parts_1_embedding_labels_idx on parts_1/,
	'to the one partition\'s fann scan');
$node->safe_psql('postgres', q{
	CREATE TABLE parts_3 (LIKE parts);
	INSERT INTO parts_3 SELECT id, 3, embedding, labels FROM items WHERE id % 7 = 0;
	ALTER TABLE parts ATTACH PARTITION parts_3 FOR VALUES IN (3);
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'parts_3'::regclass AND a.amname = 'fann'}),
	'1', 'an attached partition gets a fann index');
for my $q (@queries)
{
	(my $p = $q) =~ s/FROM items/FROM parts/;
	is(answers($node, 'postgres', $p, 1), answers($node, 'postgres', $p, 0),
		"partitioned: $p");
}

# CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY while inserts run
$node->safe_psql('postgres', 'DROP INDEX items_fann');
my $script = $node->basedir . '/insert.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
	\set id random(100000, 100000000)
	INSERT INTO items VALUES (:id, :id % 3, ARRAY[random(), random(), random(), random()]::real[],
		ARRAY[:id % 5]) ON CONFLICT DO NOTHING;
});
my ($out, $err) = ('', '');
my $inserts = IPC::Run::start(
	[ 'pgbench', '--no-vacuum', '--client=2', '--time=6', '--file', $script,
	  '--host', $node->host, '--port', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY items_fann ON items USING fann (embedding, labels)');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY items_fann');
$inserts->finish;
like($out, qr/number of failed transactions: 0/, 'the inserts ran beside them');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '>', 3000, 'rows were inserted');
is($node->safe_psql('postgres', q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_fann'::regclass}),
	't', 'the index is valid');
check_answers($node, 'postgres', 'after CREATE INDEX and REINDEX CONCURRENTLY under inserts');

# logical replication: a subscriber with its own fann index
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->start;
$sub->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	CREATE TABLE items (id int PRIMARY KEY, tenant int NOT NULL, embedding real[], labels int4[]);
	CREATE INDEX items_fann ON items USING fann (embedding, labels);
});
$node->safe_psql('postgres', 'CREATE PUBLICATION items_pub FOR TABLE items');
my $publisher = $node->connstr() . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION items_sub CONNECTION '$publisher' PUBLICATION items_pub");
$sub->wait_for_subscription_sync($node, 'items_sub');
$node->safe_psql('postgres', q{
	INSERT INTO items SELECT 5000 + i, i % 3, ARRAY[random(), random(), random(), random()]::real[],
		   ARRAY[2, i % 4] FROM generate_series(1, 500) i;
	DELETE FROM items WHERE id % 7 = 0;
});
$node->wait_for_catchup('items_sub');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM items'),
	$node->safe_psql('postgres', 'SELECT count(*) FROM items'), 'the subscriber has every row');
check_answers($sub, 'postgres', 'the subscriber');
for my $q (@queries)
{
	is(answers($sub, 'postgres', $q, 1), answers($node, 'postgres', $q, 1),
		"the subscriber answers as the publisher: $q");
}

done_testing();
