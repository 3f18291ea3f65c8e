# Damaged index pages, written on purpose while the server is down: fann_verify
# reports them or raises a clear error, queries do not crash the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
# pages are damaged on disk on purpose: without data checksums (18's initdb
# turns them on), so that fann, not the buffer manager, meets the damage
$node->init(extra => $node->pg_version >= 18 ? ['--no-data-checksums'] : []);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION fann;
	SELECT setseed(0.7);
	CREATE TABLE items (id int PRIMARY KEY, embedding real[], labels int4[]);
	INSERT INTO items SELECT i, ARRAY[random(), random(), random(), random()]::real[],
		ARRAY[i % 5, 10 + i % 4] FROM generate_series(1, 3000) i;
	CREATE INDEX items_idx ON items USING fann (embedding, labels) WITH (graph_degree = 8);
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM fann_verify(\'items_idx\')'),
	'0', 'a fresh index verifies');

my $path = $node->data_dir . '/'
  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('items_idx')});
my $blcksz = 8192;

# the page type is the uint16 at offset 4 of the 16-byte special space
sub page_type
{
	my ($fh, $blkno) = @_;
	my $buf;
	sysseek($fh, $blkno * $blcksz + $blcksz - 16 + 4, 0) or die "seek: $!";
	sysread($fh, $buf, 2) == 2 or die "read: $!";
	return unpack('v', $buf);
}

sub first_block_of_type
{
	my ($type) = @_;
	open(my $fh, '<', $path) or die "open $path: $!";
	binmode $fh;
	my $nblocks = (-s $path) / $blcksz;
	for my $blkno (1 .. $nblocks - 1)
	{
		if (page_type($fh, $blkno) == $type)
		{
			close $fh;
			return $blkno;
		}
	}
	die "no page of type $type";
}

sub overwrite
{
	my ($offset, $bytes) = @_;
	open(my $fh, '+<', $path) or die "open $path: $!";
	binmode $fh;
	sysseek($fh, $offset, 0) or die "seek: $!";
	syswrite($fh, $bytes) == length($bytes) or die "write: $!";
	close $fh;
}

# 1. an adjacency list entry naming an element beyond the index
$node->stop;
my $nbpage = first_block_of_type(6);    # FANN_PAGE_NEIGHBOR
overwrite($nbpage * $blcksz + 24, pack('V', 0x7FFFFFF0));
$node->start;
my $report = $node->safe_psql('postgres',
	q{SELECT string_agg(check_name || ': ' || detail, E'\n') FROM fann_verify('items_idx')});
like($report, qr/graph: element \d+ has an edge to 2147483632, which is no element/,
	'a broken edge is reported');
my $rows = $node->safe_psql('postgres', q{
	SET fann.strategy = graph; SET enable_seqscan = off; SET fann.ef_search = 3000;
	SELECT count(*) FROM (SELECT id FROM items WHERE labels @> '{1}'
		ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 50) s});
is($rows, '50', 'the graph search steps over the broken edge');

# 1b. a partition page's first row naming an element beyond the index (its
# first block's ids after nrows, unused and more[4]: offset 24 + 20)
$node->stop;
my $listpage = first_block_of_type(9);    # FANN_PAGE_PARTITION
overwrite($listpage * $blcksz + 44, pack('V', 0x7FFFFFF0));
$node->start;
$report = $node->safe_psql('postgres',
	q{SELECT string_agg(check_name || ': ' || detail, E'\n') FROM fann_verify('items_idx')});
like($report, qr/partition: block $listpage row 0 names element 2147483632 beyond the index/,
	'a partition row naming no element is reported');
$rows = $node->safe_psql('postgres', q{
	SET fann.strategy = ivf; SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM items WHERE labels @> '{1}'
		ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 50) s});
is($rows, '50', 'the ivf search still answers in full');

# 1c. an element's code whose error bound is negative: no vector has it, and
# its partition entry no longer matches it.  Items lie from the page's end
# down: the first element (48 bytes for 4 dimensions) ends at the 16-byte
# special space, its eps at offset 28 (TID, flags, group, next, nextfree,
# then the code's lo and step).
$node->stop;
my $firstelem = first_block_of_type(2);    # FANN_PAGE_ELEMENT
overwrite($firstelem * $blcksz + $blcksz - 16 - 48 + 28, pack('f', -1.0));
$node->start;
$report = $node->safe_psql('postgres',
	q{SELECT string_agg(check_name || ': ' || detail, E'\n') FROM fann_verify('items_idx')});
like($report, qr/code: element \d+'s code cannot encode a vector/,
	'a code with a negative error bound is reported');
like($report, qr/partition: block \d+ row \d+ differs from element \d+'s TID, group or code/,
	'and so is its partition row');

# 1d. the second element's sum of levels (offset 36, after eps and norm),
# which the bounds trust, no longer its code's
$node->stop;
overwrite($firstelem * $blcksz + $blcksz - 16 - 2 * 48 + 36, pack('V', 123456));
$node->start;
$report = $node->safe_psql('postgres',
	q{SELECT string_agg(check_name || ': ' || detail, E'\n') FROM fann_verify('items_idx')});
my @bad = $report =~ /code: element \d+'s code cannot encode a vector/g;
is(scalar @bad, 2, 'a code whose sum of levels is wrong is reported');

# 2. an element page overwritten with garbage
$node->stop;
my $elempage = first_block_of_type(2);    # FANN_PAGE_ELEMENT
overwrite($elempage * $blcksz, 'x' x $blcksz);
$node->start;
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT * FROM fann_verify('items_idx')});
isnt($ret, 0, 'a garbage page makes fann_verify fail');
like($stderr, qr/invalid page in block|unexpected page/, 'with a clear error');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	SET enable_seqscan = off; SET fann.strategy = exact;
	SELECT id FROM items ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 5});
like($stderr, qr/invalid page in block|unexpected page/, 'a scan fails with a clear error too');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

# REINDEX rebuilds it from the table
$node->safe_psql('postgres', 'REINDEX INDEX items_idx');
is($node->safe_psql('postgres', 'SELECT count(*) FROM fann_verify(\'items_idx\')'),
	'0', 'after REINDEX the index verifies');

$node->stop;
done_testing();
