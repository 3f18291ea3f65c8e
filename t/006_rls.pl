# Row-level security as tenant isolation: with a policy
# USING (tenant_id = current_setting('app.tenant')::uuid) the policy's
# condition reaches the fann index as an index condition (uuid equality is
# leakproof; the array operators are not and stay filters), a tenant's query
# reads only its tenant's groups, and no row of another tenant is ever
# returned, on every path, while other sessions insert, delete and VACUUM.
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
	SELECT setseed(0.23);
	CREATE TABLE docs (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, embedding real[],
		tags text[]);
	INSERT INTO docs (tenant_id, embedding, tags)
	SELECT md5((1 + i % 6)::text)::uuid, ARRAY[random(), random(), random(), random()]::real[],
		   ARRAY['t' || (i % 4)]
	  FROM generate_series(1, 3000) i;
	CREATE INDEX docs_idx ON docs USING fann (embedding, tenant_id, tags) WITH (graph_degree = 8);
	ANALYZE docs;
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY tenant_isolation ON docs
		USING (tenant_id = current_setting('app.tenant')::uuid);
	CREATE ROLE app;
	GRANT SELECT, INSERT, DELETE ON docs TO app;
	GRANT USAGE ON SEQUENCE docs_id_seq TO app;
});

my $as_tenant = q{SET ROLE app;
	DO $$BEGIN PERFORM set_config('app.tenant', md5('3')::uuid::text, false); END$$;};
like($node->safe_psql('postgres', qq{$as_tenant
	EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE tags && '{t1}'
	ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 10}),
	qr{Index Scan using docs_idx on docs\n\s+Index Cond: \(tenant_id = \(current_setting\('app.tenant'::text\)\)::uuid\)\n.*\n\s+Filter: \(tags && }s,
	"the policy's condition is an index condition, the leaky array operator a filter");

# A query of the tenant :t on a path, under a condition (or none): a row of
# another tenant, a short answer or a row returned twice divides by zero
sub tenant_check
{
	my ($path, $cond, $vector, $k) = @_;
	my $where = $cond eq '' ? '' : "WHERE $cond";
	return qq{
			SET fann.strategy = $path;
			SELECT 1 / (count(*) = count(DISTINCT id) AND coalesce(bool_and(tenant_id = md5(:t::text)::uuid), true)
						AND count(*) = (SELECT least($k, count(*)) FROM docs $where))::int
			  FROM (SELECT id, tenant_id FROM docs $where ORDER BY embedding <-> '$vector' LIMIT $k) s;
	};
}

$node->pgbench(
	'--no-vacuum --client=6 --jobs=2 --transactions=200',
	0,
	[qr{processed: 1200/1200}],
	[qr{^$}],
	'tenants insert, delete and query on every path, the owner vacuums',
	{
		'rls_insert@4' => q{
			\set t random(1, 6)
			SET ROLE app;
			SELECT set_config('app.tenant', md5(:t::text)::uuid::text, false);
			INSERT INTO docs (tenant_id, embedding, tags)
			SELECT md5(:t::text)::uuid, ARRAY[random(), random(), random(), random()]::real[], ARRAY['t' || g]
			  FROM generate_series(1, 4) g;
		},
		'rls_delete@2' => q{
			\set t random(1, 6)
			\set i random(1, 3000)
			SET ROLE app;
			SELECT set_config('app.tenant', md5(:t::text)::uuid::text, false);
			DELETE FROM docs WHERE id % 53 = :i % 53;
		},
		'rls_query@8' => q{
			\set t random(1, 6)
			SET ROLE app;
			SELECT set_config('app.tenant', md5(:t::text)::uuid::text, false);
		}
		  . tenant_check('exact', '', '{0.5,0.5,0.5,0.5}', 10)
		  . tenant_check('graph', q{tags && '{t1,t2}'}, '{0.1,0.5,0.9,0.5}', 10)
		  . tenant_check('ivf', '', '{0.9,0.2,0.5,0.5}', 30)
		  . tenant_check('auto', q{tenant_id = md5('4')::uuid}, '{0.3,0.5,0.5,0.1}', 10),
		'rls_vacuum@1' => q{
			RESET ROLE;
			VACUUM docs;
		},
	});

is($node->safe_psql('postgres', q{SELECT count(*) FROM fann_verify('docs_idx')}),
	'0', 'the index verifies after the concurrent run');

# a tenant's scan reads its tenant's rows only: the exact path counts what
# the groups it selected hold (deleted rows until VACUUM removes them)
$node->safe_psql('postgres', 'VACUUM docs');
is($node->safe_psql('postgres', qq{$as_tenant SET enable_seqscan = off; SET fann.strategy = exact;
	SELECT count(*) FROM (SELECT id FROM docs ORDER BY embedding <-> '{0.5,0.5,0.5,0.5}' LIMIT 5) s;
	SELECT rows_matching = (SELECT count(*) FROM docs) FROM fann_last_scan()}),
	"5\nt", "a tenant's scan reads only its tenant's rows");
isnt($node->safe_psql('postgres', q{SELECT count(*) FROM docs WHERE tenant_id = md5('3')::uuid}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM docs}), 'and other tenants have rows');

# every path, every row of the tenant exactly once, none of another
for my $strategy ('exact', 'graph', 'ivf', 'auto')
{
	is($node->safe_psql('postgres', qq{$as_tenant SET enable_seqscan = off; SET fann.strategy = $strategy;
		SELECT count(*) = (SELECT count(*) FROM docs) AND count(DISTINCT id) = count(*)
			   AND bool_and(tenant_id = md5('3')::uuid)
		  FROM (SELECT id, tenant_id FROM docs ORDER BY embedding <-> '{0.3,0.3,0.3,0.3}') s}),
		't', "every row of the tenant once, no other tenant's ($strategy)");
}

$node->stop;
done_testing();
