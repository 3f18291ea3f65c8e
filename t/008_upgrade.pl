# pg_upgrade from an older PostgreSQL with fann to this one: the index is
# carried over as it is (fann's page format does not depend on the server
# version) and keeps answering as a sequential scan does, before and after
# new rows.  Runs when FANN_UPGRADE_FROM names the older installation (its
# bin/ and lib/, with fann installed there: scripts/test --pg all sets it to
# PostgreSQL 15 for the run on 18).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $from = $ENV{FANN_UPGRADE_FROM} // '';
plan skip_all => 'FANN_UPGRADE_FROM names no older PostgreSQL with fann'
  unless $from ne '' && -x "$from/bin/pg_ctl";

my $old = PostgreSQL::Test::Cluster->new('old', install_path => $from);
my $new = PostgreSQL::Test::Cluster->new('new');
plan skip_all => 'FANN_UPGRADE_FROM is not older than this server'
  unless $old->pg_version < $new->pg_version;

$old->init;
$old->start;

# the new cluster with data checksums as the old one has them (pg_upgrade
# needs them alike; 18's initdb turns them on by default)
my $checksums = $old->safe_psql('postgres', 'SHOW data_checksums') eq 'on';
$new->init(extra => $checksums ? ['--data-checksums']
	  : $new->pg_version >= 18 ? ['--no-data-checksums'] : []);
$old->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	SELECT setseed(0.5);
	CREATE TABLE docs (id int PRIMARY KEY, embedding real[], tenant text, labels int4[]);
	INSERT INTO docs SELECT i, ARRAY[random(), random(), random(), random()]::real[],
		   't' || i % 4, ARRAY[i % 5]
	  FROM generate_series(1, 3000) i;
	CREATE INDEX docs_fann ON docs USING fann (embedding, labels);
	CREATE INDEX docs_multi ON docs USING fann (embedding, tenant, labels);
});

# Debian's 15.20 server keeps a pg_attver option on every column, which
# 18.6 (sid's source package) rejects when pg_upgrade restores the schema:
# the upgrade would fail on any table, fann's or not.  The option is the
# packaging's, not fann's: the old cluster's copies are cleared first.
$old->safe_psql('postgres', q{
	UPDATE pg_attribute SET attoptions = NULL
	 WHERE array_to_string(attoptions, ',') LIKE '%pg_attver=%'
	   AND attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)});
my @queries = (
	q{SELECT id FROM docs ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10},
	q{SELECT id FROM docs WHERE labels @> '{2}' ORDER BY embedding <-> '{0.1,0.9,0.3,0.5}' LIMIT 10},
	q{SELECT id FROM docs WHERE tenant = 't1' AND labels && '{1,3}' ORDER BY embedding <-> '{0.9,0.1,0.7,0.2}' LIMIT 20});

# ids through fann (each path) and by a sequential scan
sub answers
{
	my ($n, $sql, $settings) = @_;
	return $n->safe_psql('postgres', "$settings SELECT string_agg(id::text, ',') FROM ($sql) s");
}
my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
my %before = map { $_ => answers($old, $_, 'SET fann.strategy = exact;') } @queries;
$old->stop;

command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade from ' . $old->pg_version);
$new->start;

for my $q (@queries)
{
	is(answers($new, $q, 'SET fann.strategy = exact;'), $before{$q}, "exact path as before: $q");
	for my $path (qw(auto graph ivf))
	{
		is(answers($new, $q, "SET fann.strategy = $path; SET enable_seqscan = off; SET fann.ef_search = 3000; SET fann.probe_threshold = 0.000001; SET fann.max_probes = 10000;"),
			answers($new, $q, $seq), "$path path after the upgrade: $q");
	}
}
is($new->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('docs_fann')}), '0',
	'fann_verify finds no problem');
$new->safe_psql('postgres', q{
	INSERT INTO docs SELECT i, ARRAY[random(), random(), random(), random()]::real[], 't9', ARRAY[2]
	  FROM generate_series(3001, 3500) i;
	DELETE FROM docs WHERE id % 9 = 0;
	VACUUM docs;
});
for my $q (@queries)
{
	is(answers($new, $q, 'SET enable_seqscan = off;'), answers($new, $q, $seq),
		"after inserts, deletes and VACUUM: $q");
}
is($new->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('docs_multi')}), '0',
	'the multi-column index too');

done_testing();
