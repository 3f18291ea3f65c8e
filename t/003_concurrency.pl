# Concurrency: pgbench clients insert (new label sets too, several clients
# into one new set at once), delete, query on every path and VACUUM at once;
# no query is short or returns a row twice meanwhile; afterwards the index
# verifies, every live row is reachable exactly once, and answers equal a
# sequential scan's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	SELECT setseed(0.11);
	CREATE TABLE items (id bigserial PRIMARY KEY, embedding real[], labels int4[]);
	INSERT INTO items (embedding, labels)
	SELECT ARRAY[random(), random(), random(), random()]::real[], ARRAY[i % 5, 10 + i % 4]
	  FROM generate_series(1, 3000) i;
	CREATE INDEX items_idx ON items USING fann (embedding, labels) WITH (graph_degree = 8);
	ANALYZE items;
});

$node->pgbench(
	'--no-vacuum --client=6 --jobs=2 --transactions=300',
	0,
	[qr{processed: 1800/1800}],
	[qr{^$}],
	'inserts, deletes, queries and VACUUM at once',
	{
		'fann_insert@6' => q{
			\set l random(0, 40)
			INSERT INTO items (embedding, labels)
			SELECT ARRAY[random(), random(), random(), random()]::real[], ARRAY[:l, 10 + :l % 4]
			  FROM generate_series(1, 5);
		},
		# the rows locked in id order first: two deletes of overlapping rows,
		# one planned as an index scan and one as a sequential scan, locked
		# them in different orders and deadlocked (once, on PostgreSQL 18)
		'fann_delete@2' => q{
			\set i random(1, 3000)
			DELETE FROM items WHERE id IN
				(SELECT id FROM items WHERE id % 97 = :i % 97 AND id > :i ORDER BY id FOR UPDATE);
		},
		# a short answer or a row returned twice divides by zero
		'fann_query@6' => q{
			\set l random(0, 44)
			SET fann.strategy = graph;
			SELECT 1 / (count(*) = count(DISTINCT id) AND count(*) = (SELECT least(10, count(*)) FROM items WHERE labels @> ARRAY[:l]))::int
			  FROM (SELECT id FROM items WHERE labels @> ARRAY[:l] ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10) s;
			SET fann.strategy = ivf;
			SELECT 1 / (count(*) = count(DISTINCT id) AND count(*) = 10)::int
			  FROM (SELECT id FROM items ORDER BY embedding <-> '{0.2,0.5,0.5,0.9}' LIMIT 10) s;
			SET fann.strategy = exact;
			SELECT 1 / (count(*) = count(DISTINCT id) AND count(*) = (SELECT least(10, count(*)) FROM items WHERE labels && ARRAY[:l, 12]))::int
			  FROM (SELECT id FROM items WHERE labels && ARRAY[:l, 12] ORDER BY embedding <-> '{0.1,0.5,0.5,0.5}' LIMIT 10) s;
			SET fann.strategy = auto;
			SELECT 1 / (count(*) = count(DISTINCT id) AND count(*) = (SELECT least(10, count(*)) FROM items WHERE labels = ARRAY[:l, 10 + :l % 4]))::int
			  FROM (SELECT id FROM items WHERE labels = ARRAY[:l, 10 + :l % 4] ORDER BY embedding <-> '{0.9,0.5,0.1,0.5}' LIMIT 10) s;
		},
		'fann_vacuum@1' => q{
			VACUUM items;
		},
	});

is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'the index verifies after the concurrent run');
$node->safe_psql('postgres', 'VACUUM items');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('items_idx')}),
	'0', 'and after a final VACUUM');

# every live row once, through each path
for my $strategy ('exact', 'graph', 'ivf')
{
	is($node->safe_psql('postgres', qq{
		SET enable_seqscan = off; SET fann.strategy = $strategy; SET fann.ef_search = 10000;
		SELECT count(*) = (SELECT count(*) FROM items) AND count(DISTINCT id) = count(*)
		  FROM (SELECT id FROM items ORDER BY embedding <-> '{0.3,0.3,0.3,0.3}') s}),
		't', "every live row exactly once ($strategy)");
}

# answers equal a sequential scan's, with a full beam / every partition
for my $pred ('true', q{labels @> '{2}'}, q{labels && '{7,13}'}, q{labels = '{33,11}'})
{
	my $q = "SELECT string_agg(d::text, ',') FROM (SELECT embedding <-> '{0.6,0.4,0.5,0.5}' AS d
		FROM items WHERE $pred ORDER BY embedding <-> '{0.6,0.4,0.5,0.5}' LIMIT 30) s";
	my $exact = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; $q");
	for my $strategy ('graph', 'ivf')
	{
		is($node->safe_psql('postgres', qq{
			SET enable_seqscan = off; SET enable_sort = off; SET fann.strategy = $strategy;
			SET fann.ef_search = 10000; SET fann.probing = nearest; SET fann.max_probes = 16384;
			$q}),
			$exact, "$strategy answers $pred as a sequential scan does");
	}
}

$node->stop;
done_testing();
