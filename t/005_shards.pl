# Sharding with postgres_fdw: a coordinator's table partitioned by hash over
# three foreign partitions, each a table with fann indexes (one per metric)
# on a server of its own.  Filtered and unfiltered k-NN queries through the
# coordinator ship the label predicate and the ORDER BY to every shard
# (EXPLAIN VERBOSE shows it) and, with every shard searching exactly, equal
# the top k of one table holding all the rows; a shard that is down is an
# error, never a short answer.  The same through fann_shards'
# fann_shard_search(), which also sends the coordinator's settings and
# searches the shards at once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $nshards = 3;
my $coord = PostgreSQL::Test::Cluster->new('coordinator');
$coord->init;
$coord->start;

my @shards;
for my $i (0 .. $nshards - 1)
{
	my $shard = PostgreSQL::Test::Cluster->new("shard$i");
	$shard->init;
	# every path searches exactly: a full beam, every partition
	$shard->append_conf('postgresql.conf', qq{
fann.ef_search = 10000
fann.probing = nearest
fann.max_probes = 16384
});
	$shard->start;
	$shard->safe_psql('postgres', q{
		CREATE EXTENSION fann;
		CREATE TABLE items (id int PRIMARY KEY, embedding real[], labels int4[]);
	});
	push @shards, $shard;
}

# The coordinator: fann for the operators, postgres_fdw told that fann's
# operators may be shipped (extensions 'fann'), the partitions foreign
$coord->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	CREATE EXTENSION postgres_fdw;
	CREATE TABLE items (id int, embedding real[], labels int4[]) PARTITION BY HASH (id);
	-- the reference: all rows in one table
	SELECT setseed(0.5);
	CREATE TABLE items_all AS
	SELECT i AS id, ARRAY[random(), random(), random(), random(), random(), random()]::real[] AS embedding,
		CASE WHEN i % 9 = 0 THEN ARRAY[]::int4[] ELSE ARRAY[i % 7, 10 + i % 3] END AS labels
	  FROM generate_series(1, 6000) i;
});
for my $i (0 .. $nshards - 1)
{
	my ($host, $port) = ($shards[$i]->host, $shards[$i]->port);
	$coord->safe_psql('postgres', qq{
		CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
			OPTIONS (host '$host', port '$port', dbname 'postgres', extensions 'fann');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i;
		CREATE FOREIGN TABLE items_$i PARTITION OF items
			FOR VALUES WITH (MODULUS $nshards, REMAINDER $i) SERVER shard$i OPTIONS (table_name 'items');
	});
}
# rows go through the coordinator to their shards; then each shard builds
# its indexes (the recipe of docs/sharding.md)
$coord->safe_psql('postgres', 'INSERT INTO items SELECT * FROM items_all');
for my $shard (@shards)
{
	$shard->safe_psql('postgres', q{
		CREATE INDEX items_l2 ON items USING fann (embedding, labels);
		CREATE INDEX items_ip ON items USING fann (embedding fann_ip_ops, labels);
		CREATE INDEX items_cos ON items USING fann (embedding fann_cosine_ops, labels);
		ANALYZE items;
	});
}
$coord->safe_psql('postgres', 'ANALYZE items');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM items'), '6000', 'rows spread over the shards');
cmp_ok($shards[0]->safe_psql('postgres', 'SELECT count(*) FROM items'), '<', 3000, 'a shard holds a share');

# The plan: a Merge Append of the shards' ordered streams, each shard given
# the predicate and the ORDER BY
my $q = q{SELECT id FROM items WHERE labels @> '{3}'
	ORDER BY embedding <-> '{0.5,0.5,0.5,0.5,0.5,0.5}' LIMIT 10};
my $plan = $coord->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $q");
note($plan);
like($plan, qr/Merge Append/, 'the shards\' streams are merged in order');
my @remote = ($plan =~ /Remote SQL: ([^\n]*)/g);
is(scalar(@remote), $nshards, 'one remote query per shard');
is(scalar(grep { /WHERE \(\(labels \@> '\{3\}'\)\) ORDER BY \(embedding OPERATOR\(public\.<->\)/ } @remote),
	$nshards, 'every shard gets the label predicate and the ORDER BY');

# Every shard searching exactly on each path, each metric, each predicate:
# the coordinator's answer is the top k of all the rows
my %metric = ('<->' => 'l2', '<#>' => 'ip', '<=>' => 'cosine');
my @predicates = ('true', q{labels @> '{3}'}, q{labels @> '{2,11}'},
	q{labels && '{1,12}'}, q{labels = '{4,11}'}, q{labels = '{}'});
for my $strategy ('exact', 'graph', 'ivf')
{
	# a server option sets the shards' path; new connections take it
	for my $i (0 .. $nshards - 1)
	{
		my $verb = $strategy eq 'exact' ? 'ADD' : 'SET';
		$coord->safe_psql('postgres',
			"ALTER SERVER shard$i OPTIONS ($verb options '-c fann.strategy=$strategy')");
	}
	$coord->safe_psql('postgres', 'SELECT postgres_fdw_disconnect_all()');
	for my $op (sort keys %metric)
	{
		for my $pred (@predicates)
		{
			my $sql = "SELECT string_agg(d::text, ',' ORDER BY d, id), string_agg(id::text, ',' ORDER BY id)
				FROM (SELECT id, embedding $op '{0.3,0.9,0.1,0.5,0.7,0.2}' AS d FROM TABLE
					  WHERE $pred ORDER BY embedding $op '{0.3,0.9,0.1,0.5,0.7,0.2}' LIMIT 25) s";
			(my $all = $sql) =~ s/TABLE/items_all/;
			(my $sharded = $sql) =~ s/TABLE/items/;
			is($coord->safe_psql('postgres', $sharded), $coord->safe_psql('postgres', $all),
				"$strategy, $metric{$op}, $pred: the shards' merged answer is the exact top 25");
		}
	}
}

# A shard runs what postgres_fdw sends it, a cursor over the remote SQL,
# with its fann index
my ($sql0) = $remote[0] =~ /^(SELECT .*)$/;
like($shards[0]->safe_psql('postgres', "EXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $sql0"),
	qr/Index Scan using items_l2 on items\s+Index Cond: \(labels \@> '\{3\}'::integer\[\]\)\s+Order By: \(embedding <-> /,
	'a shard answers the remote query with its fann index');

# fann_shards: the same queries through fann_shard_search(), every shard's
# statement sent before any answer is read.  The coordinator's settings
# travel with each query (here: every path exact, as the shards' own
# configuration above, which they override).
$coord->safe_psql('postgres', 'CREATE EXTENSION fann_shards CASCADE');
my $exact = 'SET fann.ef_search = 10000; SET fann.probing = nearest; SET fann.max_probes = 16384;';
my @filters = ([undef, 'true'], ['labels @> $2', q{labels @> '{3}'}, '{3}'],
	['labels @> $2', q{labels @> '{2,11}'}, '{2,11}'], ['labels && $2', q{labels && '{1,12}'}, '{1,12}'],
	['labels = $2', q{labels = '{4,11}'}, '{4,11}'], ['labels = $2', q{labels = '{}'}, '{}']);
my $qv = q{'{0.3,0.9,0.1,0.5,0.7,0.2}'::real[]};
for my $strategy ('exact', 'graph', 'ivf', 'auto')
{
	for my $op (sort keys %metric)
	{
		for my $f (@filters)
		{
			my ($filter, $pred, $param) = @$f;
			my $args = defined $filter ? ", '$filter', ARRAY['$param']" : '';
			# the whole rows come back: the distance is recomputed from them
			my $fanout = "SELECT string_agg(d::text, ',' ORDER BY d, id), string_agg(id::text, ',' ORDER BY id)
				FROM (SELECT id, embedding $op $qv AS d
						FROM fann_shard_search(NULL::items, 'embedding $op \$1', $qv, 25$args)) s";
			my $all = "SELECT string_agg(d::text, ',' ORDER BY d, id), string_agg(id::text, ',' ORDER BY id)
				FROM (SELECT id, embedding $op $qv AS d FROM items_all
					  WHERE $pred ORDER BY embedding $op $qv LIMIT 25) s";
			is($coord->safe_psql('postgres', "$exact SET fann.strategy = $strategy; $fanout"),
				$coord->safe_psql('postgres', $all),
				"fann_shard_search, $strategy, $metric{$op}, $pred: the exact top 25");
		}
	}
}
# the coordinator's path is the shards' (fann_last_scan() on the same
# connection), and columns limits what the shards send
for my $strategy ('exact', 'graph', 'ivf')
{
	like($coord->safe_psql('postgres', qq{$exact SET fann.strategy = $strategy;
			SELECT count(*) FROM fann_shard_search(NULL::items, 'embedding <-> \$1', $qv, 5, 'labels @> \$2', ARRAY['{3}']);
			SELECT path FROM dblink('fann:shard1', 'SELECT path FROM fann_last_scan()') AS t(path text)}),
		qr/^5\n$strategy(\+exact)?$/, "fann.strategy = $strategy reaches the shards");
}
# A connection keeps the settings it was sent (the server's options give
# it ivf), and is sent them again when the coordinator's change, or when
# what the session believes it sent was rolled back: its rows carry the
# stamp of the settings it searched with
my $path = q{SELECT count(*) FROM fann_shard_search(NULL::items, 'embedding <-> $1', '{0.3,0.9,0.1,0.5,0.7,0.2}'::real[], 5, 'labels @> $2', ARRAY['{3}']);
	SELECT s || ' ' || path FROM dblink('fann:shard1', 'SELECT current_setting(''fann.strategy''), path FROM fann_last_scan()') AS t(s text, path text);};
like($coord->safe_psql('postgres', qq{$exact SET fann.strategy = graph; $path SET fann.strategy = exact; $path
		BEGIN; SET LOCAL fann.strategy = ivf; $path ROLLBACK; $path}),
	qr/^5\ngraph graph(\+exact)?\n5\nexact exact\n5\nivf ivf(\+exact)?\n5\nexact exact$/,
	'the settings stay on the connection, and reach it again when they change or a transaction forgot them');
# Each connection prepares a statement once; a transaction that rolled back
# forgets it did, and the next call finds it there rather than fails; a
# connection holding 100 opens afresh before it takes another
my ($near7, $near8) = map { qq{SELECT string_agg(id::text, ',') FROM fann_shard_search(NULL::items, 'embedding <-> \$1', '{0.3,0.9,0.1,0.5,0.7,0.2}'::real[], $_, 'labels && \$2', ARRAY['{1,12}']);} } (7, 8);
my ($all7, $all8) = map { $coord->safe_psql('postgres', qq{SELECT string_agg(id::text, ',') FROM (SELECT id FROM items_all WHERE labels && '{1,12}'
		ORDER BY embedding <-> '{0.3,0.9,0.1,0.5,0.7,0.2}' LIMIT $_) s}) } (7, 8);
my $prepared = q{SELECT n FROM dblink('fann:shard1', 'SELECT count(*) FROM pg_prepared_statements') AS t(n bigint);};
is($coord->safe_psql('postgres', qq{$exact $near7 $prepared $near7 $prepared BEGIN; $near8 ROLLBACK; $near8 $prepared}),
	"$all7\n1\n$all7\n1\n$all8\n$all8\n2",
	'a statement prepared once per connection, found again after a rollback forgot it');
is($coord->safe_psql('postgres', qq{$exact
		SELECT count(*) FROM generate_series(1, 101) k,
			fann_shard_search(NULL::items, 'embedding <-> \$1', '{0.3,0.9,0.1,0.5,0.7,0.2}'::real[], k, columns => '{id}');
		$prepared}),
	"5151\n1", 'a connection with 100 prepared statements opens afresh');
is($coord->safe_psql('postgres', q{SELECT string_agg(coalesce(id::text, '-') || ':' || (embedding IS NULL) || (labels IS NULL), ',')
		FROM fann_shard_search(NULL::items, 'embedding <=> $1', '{1,0,0,0,0,0}'::real[], 2, columns => '{id}')}),
	$coord->safe_psql('postgres', q{SELECT string_agg(id || ':truetrue', ',' ORDER BY embedding <=> '{1,0,0,0,0,0}', id)
		FROM (SELECT * FROM items_all ORDER BY embedding <=> '{1,0,0,0,0,0}' LIMIT 2) s}),
	'columns: the others come back NULL');

# a parameter the filter does not use is prepared as text and ignored
is($coord->safe_psql('postgres', qq{$exact SELECT string_agg(id::text, ',')
		FROM fann_shard_search(NULL::items, 'embedding <-> \$1', '{1,0,0,0,0,0}'::real[], 4, 'labels @> \$3', ARRAY['{3}', '{4}'])}),
	$coord->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY embedding <-> '{1,0,0,0,0,0}', id)
		FROM (SELECT * FROM items_all WHERE labels @> '{4}' ORDER BY embedding <-> '{1,0,0,0,0,0}' LIMIT 4) s}),
	'a parameter left unused');
# a kept connection that lost the statements the session prepared there (as
# one opened afresh inside a transaction that rolled back): sent anew
is($coord->safe_psql('postgres', qq{$exact $near7 SELECT dblink_exec('fann:shard1', 'DEALLOCATE ALL'); $near7}),
	"$all7\nDEALLOCATE ALL\n$all7", 'a connection that lost its prepared statements is told anew');

# a query vector given as an untyped literal: read as the column's type
is($coord->safe_psql('postgres', q{SELECT string_agg(id::text, ',')
		FROM fann_shard_search(NULL::items, 'embedding <-> $1', '{1,0,0,0,0,0}', 3, columns => '{id}')}),
	$coord->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY embedding <-> '{1,0,0,0,0,0}', id)
		FROM (SELECT * FROM items_all ORDER BY embedding <-> '{1,0,0,0,0,0}' LIMIT 3) s}),
	'an untyped query vector');

# Columns named otherwise on the shards (column_name) come back under the
# coordinator's names, and a row wider than one jsonb_build_object call
# (50 columns) whole
my $ncols = 60;
my $remote_cols = join(', ', map { "r$_ int" } 1 .. $ncols);
# the last one named s, as the shards' statement names its subquery
my @local = ((map { "c$_" } 1 .. $ncols - 1), 's');
my $local_cols = join(', ', map { "$local[$_ - 1] int OPTIONS (column_name 'r$_')" } 1 .. $ncols);
for my $i (0 .. $nshards - 1)
{
	$shards[$i]->safe_psql('postgres', qq{
		CREATE TABLE wide_remote (id int, emb real[], $remote_cols);
		INSERT INTO wide_remote SELECT id, embedding, } . join(', ', map { "id * $_" } 1 .. $ncols) . qq{
		  FROM items;
		CREATE INDEX ON wide_remote USING fann (emb);});
}
$coord->safe_psql('postgres', "CREATE TABLE wide (id int, embedding real[], "
	  . join(', ', map { "$_ int" } @local) . ") PARTITION BY HASH (id)");
$coord->safe_psql('postgres', qq{
		CREATE FOREIGN TABLE wide_$_ (id int, embedding real[] OPTIONS (column_name 'emb'), $local_cols)
			SERVER shard$_ OPTIONS (table_name 'wide_remote');
		ALTER TABLE wide ATTACH PARTITION wide_$_ FOR VALUES WITH (MODULUS $nshards, REMAINDER $_)})
  for 0 .. $nshards - 1;
is($coord->safe_psql('postgres', qq{$exact SELECT string_agg(id || ':' || c1 || ':' || c50 || ':' || s, ',')
		FROM fann_shard_search(NULL::wide, 'emb <-> \$1', '{1,0,0,0,0,0}'::real[], 4)}),
	$coord->safe_psql('postgres', q{SELECT string_agg(id || ':' || id || ':' || id * 50 || ':' || id * 60, ',' ORDER BY embedding <-> '{1,0,0,0,0,0}', id)
		FROM (SELECT * FROM items_all ORDER BY embedding <-> '{1,0,0,0,0,0}' LIMIT 4) s}),
	'columns renamed on the shards, 60 of them (one named s), come back under their names');

# Bad calls: clear errors
for my $bad (
	[q{NULL::items_all, 'embedding <-> $1', '{1,0,0,0,0,0}'::real[], 5}, qr/items_all is not a partitioned table/],
	[q{NULL::items, 'embedding <-> $1', '{1,0,0,0,0,0}'::real[], 0}, qr/k must be at least 1/],
	[q{NULL::items, 'embedding <-> $1', '{1,0,0,0,0,0}'::real[], 5, 'labels @> $3', ARRAY['{3}']}, qr/\$3 has no value/],
	[q{NULL::items, 'embedding <-> $1', '{1,0,0,0,0,0}'::real[], 5, columns => '{id,title}'}, qr/items has no column title/],
	[q{NULL::items, 'embedding <-> $1', '{1,0,0}'::real[], 5}, qr/dimension/])
{
	my ($ret, $out, $err) = $coord->psql('postgres', "SELECT id FROM fann_shard_search($bad->[0])");
	like($err, $bad->[1], "fann_shard_search($bad->[0]): an error");
}

# Concurrency: each shard records when it began; the first shard pauses
# 3 s.  Through fann_shard_search the others begin with it; PostgreSQL's
# Merge Append over the same foreign partitions begins them after it.
$coord->safe_psql('postgres',
	'CREATE TABLE items_slow (id int, embedding real[], labels int4[]) PARTITION BY HASH (id)');
for my $i (0 .. $nshards - 1)
{
	my $pause = $i == 0 ? 3 : 0;
	$shards[$i]->safe_psql('postgres', qq{
		CREATE TABLE began (at float8);
		CREATE FUNCTION begin_search() RETURNS bool LANGUAGE plpgsql AS \$\$
		BEGIN
			INSERT INTO public.began VALUES (extract(epoch FROM clock_timestamp()));
			PERFORM pg_sleep($pause);
			RETURN true;
		END \$\$;
		CREATE VIEW items_slow AS SELECT * FROM items WHERE (SELECT public.begin_search());
	});
	$coord->safe_psql('postgres', qq{
		CREATE FOREIGN TABLE items_slow_$i PARTITION OF items_slow
			FOR VALUES WITH (MODULUS $nshards, REMAINDER $i) SERVER shard$i OPTIONS (table_name 'items_slow');
	});
}
# (postgres_fdw's ANALYZE reads the views too)
$coord->safe_psql('postgres', 'ANALYZE items_slow');
$_->safe_psql('postgres', 'TRUNCATE began') for @shards;
sub began_spread
{
	my @at = map { split /\n/, $_->safe_psql('postgres', 'SELECT at FROM began; TRUNCATE began') } @shards;
	die "no search began" unless @at;
	my @sorted = sort { $a <=> $b } @at;
	return $sorted[-1] - $sorted[0];
}
is($coord->safe_psql('postgres', qq{$exact SELECT string_agg(id::text, ',') FROM
		fann_shard_search(NULL::items_slow, 'embedding <-> \$1', $qv, 10, 'labels @> \$2', ARRAY['{3}'], '{id}')}),
	$coord->safe_psql('postgres', qq{SELECT string_agg(id::text, ',') FROM
		(SELECT id FROM items_all WHERE labels @> '{3}' ORDER BY embedding <-> $qv LIMIT 10) s}),
	'a slow shard: the same answer');
cmp_ok(began_spread(), '<', 1.5, 'fann_shard_search: the other shards begin while the slow one pauses');
$coord->safe_psql('postgres', qq{SELECT id FROM items_slow WHERE labels @> '{3}' ORDER BY embedding <-> $qv LIMIT 10});
cmp_ok(began_spread(), '>=', 2.5, 'a Merge Append begins them after it (the measurement can tell)');

# A kept connection whose shard backend has gone (as after a restart):
# opened again, the query answered
is($coord->safe_psql('postgres', qq{
	SELECT count(*) FROM fann_shard_search(NULL::items, 'embedding <-> \$1', $qv, 10);
	SELECT ok FROM dblink('shard1', 'SELECT pg_terminate_backend('
		|| (SELECT pid FROM dblink('fann:shard1', 'SELECT pg_backend_pid()') AS t(pid int)) || ')') AS t(ok bool);
	SELECT pg_sleep(0.5);
	SELECT count(*) FROM fann_shard_search(NULL::items, 'embedding <-> \$1', $qv, 10);}),
	"10\nt\n\n10", 'fann_shard_search: a connection that has gone is opened again');

# A shard that is down: an error naming the connection, not fewer rows
$shards[2]->stop;
$coord->safe_psql('postgres', 'SELECT postgres_fdw_disconnect_all()');
my ($ret, $out, $err) = $coord->psql('postgres', $q);
isnt($ret, 0, 'a query with a shard down fails');
like($err, qr/could not connect to server "shard2"/, 'and names the shard');
is($out, '', 'and returns no rows');
($ret, $out, $err) = $coord->psql('postgres',
	"SELECT id FROM fann_shard_search(NULL::items, 'embedding <-> \$1', $qv, 10)");
isnt($ret, 0, 'fann_shard_search with a shard down fails');
like($err, qr/shard shard2 \(partition items_2\) cannot be reached/, 'and names the shard');
is($out, '', 'and returns no rows');

$coord->stop;
$_->stop for @shards[0 .. 1];
done_testing();
