# bench/tenants.sh: the tenants and tenants-table commands of bench/run
# (sourced by it; see its usage comment).

# Filtered search over several filter columns of several types (multi-tenant
# shapes): the dataset's rows in TABLE_tenants with a tenant (uuid), a
# category (text), tags (text[]) and metadata (jsonb), one fann index over
# all of them against a pgvector copy (TABLE_tenants_pgv) with HNSW and
# btree / GIN indexes on the filter columns.  Query shapes, each with its own
# parameters per query ($2, $3, ...; $1 is the query vector):
TENANT_SHAPES="none tenant tenant-category category-tags metadata tenant-tags"

# tenant_predicate SHAPE: its WHERE condition
tenant_predicate() {
	case $1 in
		none) echo 'true' ;;
		tenant) echo 'tenant_id = $2::uuid' ;;
		tenant-category) echo 'tenant_id = $2::uuid AND category = ANY ($3::text[])' ;;
		category-tags) echo 'category = $2::text AND tags @> $3::text[]' ;;
		metadata) echo 'metadata @> $2::jsonb' ;;
		tenant-tags) echo 'tenant_id = $2::uuid AND tags && $3::text[]' ;;
		*) echo "tenants: unknown shape $1 ($TENANT_SHAPES)" >&2; exit 2 ;;
	esac
}

# tenant_params SHAPE: the select list of its parameters, from b (the query's
# base row: one with tags where the shape needs them), u2 (a uniform draw),
# key (the query's seed text) and d (the value lists); "" for none
tenant_params() {
	case $1 in
		none) echo "" ;;
		tenant) echo "b.tenant_id" ;;
		# its category and one or two others
		tenant-category) echo "b.tenant_id, ARRAY[b.category] || ARRAY(SELECT c FROM unnest(d.categories) c
			WHERE c <> b.category ORDER BY md5(key || c) LIMIT 1 + (u2 < 0.5)::int)" ;;
		# one or two of its tags
		category-tags) echo "b.category, ARRAY(SELECT t FROM unnest(b.tags) t ORDER BY md5(key || t) LIMIT 1 + (u2 < 0.5)::int)" ;;
		# its source, or its source and language
		metadata) echo "CASE WHEN u2 < 0.5 THEN jsonb_build_object('source', b.metadata -> 'source') ELSE b.metadata END" ;;
		# one of its tags, and any tag
		tenant-tags) echo "b.tenant_id, ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[(SELECT t FROM unnest(b.tags) t
			ORDER BY md5(key || t) LIMIT 1), d.tagnames[1 + floor(30 * u2)::int]]) x)" ;;
	esac
}

# tenants_data N: TABLE_tenants and TABLE_tenants_pgv from TABLE's first N
# rows, made again when missing, made from other rows or seed, or --reload;
# the filter columns are drawn from each row's id and SEED (md5), so the same
# rows and seed give the same table
tenants_data() {
	local n=$1 dim stamp
	stamp="rows=$n seed=$SEED"
	dim=$(psql_q -c "SELECT array_length(embedding, 1) FROM $TABLE LIMIT 1")
	if [ "$RELOAD" = 1 ] || [ "$(psql_q -c "SELECT obj_description(to_regclass('$TEN'), 'pg_class')")" != "$stamp" ] ||
		[ "$(psql_q -c "SELECT to_regclass('$PGV') IS NOT NULL")" != t ]; then
		local t0; t0=$(date +%s.%N)
		psql_q -v tab="$TABLE" -v ten="$TEN" -v pgv="$PGV" -v rows="$n" -v seed="$SEED" \
			-v stamp="$stamp" -v dim="$dim" <<'SQL'
DROP TABLE IF EXISTS :"pgv";
DROP TABLE IF EXISTS :"ten";
-- a uniform draw in [0, 1) from a text
CREATE FUNCTION pg_temp.u(key text) RETURNS float8 LANGUAGE sql IMMUTABLE
	AS $$ SELECT ('x' || substr(md5(key), 1, 12))::bit(48)::int8 / 281474976710656.0 $$;
-- n values weighted 1 / i^s: each one's start in [0, 1), for width_bucket
CREATE FUNCTION pg_temp.zipf(n int, s float8) RETURNS float8[] LANGUAGE sql IMMUTABLE
	AS $$ SELECT array_agg(coalesce(c, 0) ORDER BY i) FROM (
		SELECT i, sum(w) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) / sum(w) OVER () AS c
		  FROM (SELECT i, 1 / i::float8 ^ s AS w FROM generate_series(1, n) i) w) z $$;
-- 1,000 tenants Zipf (a few large, many small), 20 categories skewed a
-- little, 0-3 tags of 30, a source of 5 and a language of 8
CREATE TEMP TABLE d AS SELECT pg_temp.zipf(1000, 1) AS tenant, pg_temp.zipf(20, 0.5) AS category,
	pg_temp.zipf(30, 0.5) AS tag, pg_temp.zipf(5, 1) AS source, pg_temp.zipf(8, 1) AS lang,
	'{books,music,movies,games,electronics,computers,phones,cameras,home,garden,kitchen,toys,sports,outdoors,fashion,shoes,beauty,health,automotive,office}'::text[] AS categories,
	'{new,sale,popular,gift,eco,premium,budget,limited,bundle,refurbished,handmade,local,imported,organic,vintage,kids,pro,wireless,portable,smart,classic,seasonal,clearance,bestseller,exclusive,featured,trending,durable,compact,luxury}'::text[] AS tagnames,
	'{web,mobile,api,email,import}'::text[] AS sources, '{en,de,fr,es,ja,pt,it,nl}'::text[] AS langs;
CREATE TABLE :"ten" AS
SELECT b.id, b.embedding,
	   md5('tenant ' || width_bucket(pg_temp.u(:'seed' || ' tenant ' || b.id), d.tenant))::uuid AS tenant_id,
	   d.categories[width_bucket(pg_temp.u(:'seed' || ' category ' || b.id), d.category)] AS category,
	   ARRAY(SELECT DISTINCT d.tagnames[width_bucket(pg_temp.u(:'seed' || ' tag ' || b.id || ' ' || j), d.tag)]
			   FROM generate_series(1, floor(4 * pg_temp.u(:'seed' || ' tags ' || b.id))::int) j ORDER BY 1) AS tags,
	   jsonb_build_object('source', d.sources[width_bucket(pg_temp.u(:'seed' || ' source ' || b.id), d.source)],
						  'lang', d.langs[width_bucket(pg_temp.u(:'seed' || ' lang ' || b.id), d.lang)]) AS metadata
  FROM :"tab" b, d
 WHERE b.id < :rows;
ALTER TABLE :"ten" ADD PRIMARY KEY (id);
COMMENT ON TABLE :"ten" IS :'stamp';
CREATE TABLE :"pgv" (id int4 PRIMARY KEY, embedding vector(:dim), tenant_id uuid, category text,
					 tags text[], metadata jsonb);
INSERT INTO :"pgv" SELECT id, embedding::vector, tenant_id, category, tags, metadata FROM :"ten";
SQL
		echo "tenants: $TEN and $PGV made from $n rows of $TABLE in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
	fi
	psql_q -c "VACUUM ANALYZE $TEN" -c "VACUUM ANALYZE $PGV"
	psql_q -P format=aligned -P tuples_only=off -c "SELECT count(*) AS rows, count(DISTINCT tenant_id) AS tenants,
		round(max(c)::numeric / count(*), 3) AS largest_tenant, round(avg(cardinality(tags)), 2) AS tags_per_row,
		count(DISTINCT (tenant_id, category, tags, metadata)) AS distinct_filter_values
		FROM (SELECT *, count(*) OVER (PARTITION BY tenant_id) c FROM $TEN) t"
}

# tenants_queries SHAPE: its parameter file ($OUT/tenants.SHAPE.params, one
# tab-separated line per query: none's lines are empty), each query's from a
# base row drawn from SEED, the shape and the query's number; rewritten only
# when it changes (its ground truth is cached)
tenants_queries() {
	local shape=$1 select file=$OUT/tenants.$1.params tags=false
	select=$(tenant_params "$shape")
	case $shape in category-tags|tenant-tags) tags=true ;; esac
	psql_q -F $'\t' -v ten="$TEN" -v nq="$NQ" -v seed="$SEED" -v shape="$shape" -v tags="$tags" >"$file.new" <<SQL
CREATE FUNCTION pg_temp.u(key text) RETURNS float8 LANGUAGE sql IMMUTABLE
	AS \$\$ SELECT ('x' || substr(md5(key), 1, 12))::bit(48)::int8 / 281474976710656.0 \$\$;
SELECT ${select:-''} FROM (
	SELECT i, :'seed' || ' ' || :'shape' || ' ' || i AS key, pg_temp.u(:'seed' || ' ' || :'shape' || ' draw ' || i) AS u2,
		   floor(pg_temp.u(:'seed' || ' ' || :'shape' || ' row ' || i) * (SELECT count(*) FROM :"ten")) AS r
	  FROM generate_series(0, :nq - 1) i) q
	CROSS JOIN LATERAL ((SELECT * FROM :"ten" t WHERE t.id >= q.r AND (NOT :tags OR t.tags <> '{}') ORDER BY t.id LIMIT 1)
			UNION ALL (SELECT * FROM :"ten" t WHERE NOT :tags OR t.tags <> '{}' ORDER BY t.id LIMIT 1) LIMIT 1) b,
	(SELECT '{books,music,movies,games,electronics,computers,phones,cameras,home,garden,kitchen,toys,sports,outdoors,fashion,shoes,beauty,health,automotive,office}'::text[] AS categories,
	'{new,sale,popular,gift,eco,premium,budget,limited,bundle,refurbished,handmade,local,imported,organic,vintage,kids,pro,wireless,portable,smart,classic,seasonal,clearance,bestseller,exclusive,featured,trending,durable,compact,luxury}'::text[] AS tagnames) d
 ORDER BY i;
SQL
	cmp -s "$file.new" "$file" && rm "$file.new" || mv "$file.new" "$file"
	QFILE=$file
}

# tenant_sweep CONFIG STATEMENT SETTING...: the shape's queries (SHAPE, QFILE,
# GT) through STATEMENT at each setting, into CSV and PLANS
tenant_sweep() {
	local config=$1 sql=$2; shift 2
	local sets=()
	for p in "$@"; do sets+=(--set "$p"); done
	"$FB" sweep --base "$BASE" --queries "$QUERIES" --limit "$NROWS" --nqueries "$NQ" --k "$K" \
		--metric l2 --gt "$GT" --params "$QFILE" --shape "$SHAPE" --table "$TEN" --sql "$sql" \
		--dataset "$DATASET" --config "$config" --csv "$CSV" --plans "$PLANS" \
		--build-seconds "$BUILD_S" --index-mb "$INDEX_MB" ${CONNINFO:+--conninfo "$CONNINFO"} "${sets[@]}"
}

# timed_index NAME SQL: a pgvector side index NAME made by SQL, its seconds
# and MB in IDX_S / IDX_MB and in BUILDS
timed_index() {
	local t0
	psql_q -c "DROP INDEX IF EXISTS $1"
	t0=$(date +%s.%N)
	psql_q -c "SET maintenance_work_mem = '$BUILD_MEMORY'" -c "$2"
	IDX_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	IDX_MB=$(index_mb "$1")
	printf '%s,%s,%s,%s\n' "${BUILD_SYSTEM:-pgvector}" "$1" "$IDX_S" "$IDX_MB" >>"$BUILDS"
	echo "index $1: built in ${IDX_S}s, ${IDX_MB} MB"
}

# tenants_setup COMMAND SHAPES ARG...: the options (ARG...: [DATASET]
# [options], SHAPES by default), pgvector, the dataset and its tenants
# tables (DATASET, TABLE, TEN, PGV, NROWS); false when pgvector is missing
tenants_setup() {
	local cmd=$1 shapes=$2 dataset=sift
	shift 2
	if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then dataset=$1; shift; fi
	parse_options --nqueries 200 --types "$shapes" "$@"
	for shape in $TYPES; do tenant_predicate "$shape" >/dev/null; done
	if ! ensure_pgvector; then
		echo "$cmd: pgvector is not installed and $PEERS/$PGVECTOR.tar.gz could not be built: skipped"
		return 1
	fi
	psql_q -c "CREATE EXTENSION IF NOT EXISTS vector" -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm"
	prepare "$dataset"
	DATASET=$dataset TEN=${TABLE}_tenants PGV=${TABLE}_tenants_pgv
	NROWS=$(psql_q -c "SELECT count(*) FROM $TABLE")
	if [ "$ROWS" -gt 0 ]; then
		[ "$NROWS" -ge "$ROWS" ] ||
			{ echo "$cmd: $TABLE has $NROWS rows, fewer than --rows $ROWS: run with --reload" >&2; exit 1; }
		NROWS=$ROWS
	fi
	echo "$cmd: the first $NROWS rows of $TABLE"
	tenants_data "$NROWS"
}

# tenant_truth SHAPE: its queries (QFILE) and exact answers (GT), from
# pgvector's table (its distance code, not fann's) with index scans off, a
# sequential scan and a sort; cached while STAMPFILE, the queries and their
# parameters stay as they are
tenant_truth() {
	SHAPE=$1 PRED=$(tenant_predicate "$1")
	tenants_queries "$1"
	GT=$OUT/gt.tenants.$1
	if newer_than "$GT.ivecs" "$QFILE" "$QUERIES" "$STAMPFILE"; then
		echo "ground truth $GT: cached"
	else
		echo "ground truth $GT: computing"
		"$FB" gt-sql --base "$BASE" --queries "$QUERIES" --limit "$NROWS" --nqueries "$NQ" \
			--params "$QFILE" --k "$K" --metric l2 --out "$GT" ${CONNINFO:+--conninfo "$CONNINFO"} \
			--set "enable_indexscan=off,enable_bitmapscan=off" \
			--sql "SELECT id, (SELECT count(*) FROM $PGV WHERE $PRED) FROM $PGV WHERE $PRED ORDER BY embedding <-> \$1::real[]::vector LIMIT $K"
	fi
}

# tenant_stamp: STAMPFILE, what the ground truth depends on besides the
# queries and their parameters, rewritten only when it changes
tenant_stamp() {
	STAMPFILE=$OUT/tenants.stamp
	echo "rows=$NROWS seed=$SEED k=$K" >"$STAMPFILE.new"
	cmp -s "$STAMPFILE.new" "$STAMPFILE" && rm "$STAMPFILE.new" || mv "$STAMPFILE.new" "$STAMPFILE"
}

# tenant_roundtrip: the round trip of the shape's statement, the same
# parameters on a trivial plan of k rows
tenant_roundtrip() {
	local nparams yard="SELECT g AS id FROM generate_series(1, $K) g WHERE \$1::text IS NOT NULL"
	nparams=$({ grep -o '\$[0-9]' <<<"$PRED" || true; } | sort -u | wc -l)
	for ((i = 2; i <= nparams + 1; i++)); do yard="$yard AND \$$i::text IS NOT NULL"; done
	BUILD_S=0 INDEX_MB=0 tenant_sweep roundtrip "$yard" "application_name=roundtrip"
}

# pgvector_indexes TABLE INDEX...: pgvector's indexes on TABLE (a
# partitioned one's on each partition), of hnsw (on the vector), tenant and
# category (btree), tags and metadata (GIN); their seconds and MB summed in
# PGV_S and PGV_MB, TABLE and them in PGV_RELS
pgvector_indexes() {
	local table=$1 how
	shift
	PGV_S=0 PGV_MB=0 PGV_RELS=("$table")
	for idx in "$@"; do
		case $idx in
			hnsw) how="hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)" ;;
			tenant) how="btree (tenant_id)" ;;
			category) how="btree (category)" ;;
			tags|metadata) how="gin ($idx)" ;;
		esac
		timed_index "${table}_$idx" "CREATE INDEX ${table}_$idx ON $table USING $how"
		PGV_S=$(awk -v a="$PGV_S" -v b="$IDX_S" 'BEGIN { print a + b }')
		PGV_MB=$(awk -v a="$PGV_MB" -v b="$IDX_MB" 'BEGIN { print a + b }')
		PGV_RELS+=("${table}_$idx")
	done
	psql_q -c "ANALYZE $table"
}

cmd_tenants() {
	tenants_setup tenants "$TENANT_SHAPES" "$@" || return 0
	CSV=$OUT/tenants.csv PLANS=$OUT/tenants-plans.csv BUILDS=$OUT/tenants-builds.csv
	rm -f "$CSV" "$PLANS"
	echo "system,index,build_s,index_mb" >"$BUILDS"

	# fann: a vector-only index for its build and size, then the one over
	# every filter column (the vector-only one is dropped by that build)
	local fann=1 columns="tenant_id, category, tags, metadata"
	echo "fann: vector-only index (embedding)"
	if build_index "$TEN" "" "" ""; then
		echo "fann,${TEN}_fann (embedding),$BUILD_S,$INDEX_MB" >>"$BUILDS"
	fi
	echo "fann: index (embedding, $columns)"
	if build_index "$TEN" "" "" "$columns"; then
		echo "fann,${TEN}_fann (embedding; ${columns//,/;}),$BUILD_S,$INDEX_MB" >>"$BUILDS"
		local fann_s=$BUILD_S fann_mb=$INDEX_MB
	else
		fann=0
		echo "tenants: fann cannot index ($columns) yet: its side is skipped"
	fi

	pgvector_indexes "$PGV" hnsw tenant category tags metadata
	if [ $fann = 1 ]; then
		check_shared_buffers "$TEN" "${TEN}_fann" "${PGV_RELS[@]}"
	else
		check_shared_buffers "${PGV_RELS[@]}"
	fi

	tenant_stamp
	for shape in $TYPES; do
		tenant_truth "$shape"
		if [ $fann = 1 ]; then
			local sql="SELECT id FROM $TEN WHERE $PRED ORDER BY embedding <-> \$1::real[] LIMIT $K"
			prewarm "$TEN" "${TEN}_fann"
			BUILD_S=$fann_s INDEX_MB=$fann_mb
			tenant_sweep fann-auto "$sql" "fann.strategy=auto"
			tenant_sweep fann-exact "$sql" "fann.strategy=exact"
			tenant_sweep fann-graph "$sql" "fann.strategy=graph,fann.ef_search=64" \
				"fann.strategy=graph,fann.ef_search=128" "fann.strategy=graph,fann.ef_search=256" \
				"fann.strategy=graph,fann.ef_search=512"
			tenant_sweep fann-ivf "$sql" "fann.strategy=ivf,fann.probe_threshold=0.1" \
				"fann.strategy=ivf,fann.probe_threshold=0.03" "fann.strategy=ivf,fann.probe_threshold=0.01"
			tenant_sweep fann-target "$sql" "fann.strategy=auto,fann.target_recall=0.9" \
				"fann.strategy=auto,fann.target_recall=0.95" "fann.strategy=auto,fann.target_recall=0.99"
		fi
		local sql="SELECT id FROM $PGV WHERE $PRED ORDER BY embedding <-> \$1::real[]::vector LIMIT $K"
		prewarm "${PGV_RELS[@]}"
		BUILD_S=$PGV_S INDEX_MB=$PGV_MB
		# the planner's choice among HNSW and the filter indexes: pgvector's
		# defaults (no iterative scan), then iterative scans at each ef_search
		tenant_sweep pgvector-default "$sql" "hnsw.ef_search=40"
		tenant_sweep pgvector-relaxed "$sql" "hnsw.iterative_scan=relaxed_order,hnsw.ef_search=40" \
			"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=100" \
			"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=200" \
			"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=400"
		tenant_sweep pgvector-strict "$sql" "hnsw.iterative_scan=strict_order,hnsw.ef_search=40" \
			"hnsw.iterative_scan=strict_order,hnsw.ef_search=100" \
			"hnsw.iterative_scan=strict_order,hnsw.ef_search=200" \
			"hnsw.iterative_scan=strict_order,hnsw.ef_search=400"
		# exact, forced through the btree / GIN indexes: no index scan (HNSW
		# has no other), so bitmap scans of the filter indexes and a sort
		tenant_sweep pgvector-exact "$sql" "enable_indexscan=off,max_parallel_workers_per_gather=0"
		tenant_roundtrip
	done
	tenants_table "$CSV" | tee "$OUT/tenants.md"
	echo "results: $CSV, $PLANS, $BUILDS"
}

# The tables of bench/run tenants from its CSV (and the -plans and -builds
# CSVs beside it): per shape each system's best QPS at recall >= 0.95 and
# >= 0.99 with the round trip's; the filters' selectivity, groups and fann
# auto; short answers per configuration; the plans chosen; index builds
tenants_table() {
	local csv=$1 plans=${1%.csv}-plans.csv builds=${1%.csv}-builds.csv
	# the plans first: fann'"'"'s groups_matched per shape, from its exact scans
	# (an unfiltered graph scan'"'"'s counts every group)
	awk -F, -v order="$TENANT_SHAPES" -v plans="$plans" 'FNR == 1 { next }
	FILENAME == plans {
		if ($9 == "") next
		g = $2 == "fann-exact" ? "exact" : $2 == "fann-graph" ? "graph" : ""
		if (g != "") { gsum[g, $4] += $9 * $6; gn[g, $4] += $6 }
		next
	}
	$5 == 1 {
		shape = $4; cfg = $2; seen[shape] = 1
		if ($6 != "all") {
			if (cfg == "roundtrip" && $6 != ">=5%") bucket[shape, $6] = $7
			next
		}
		if (cfg == "roundtrip") { rt[shape] = $9; next }
		sys = cfg ~ /^fann/ ? "fann" : "pgvector"
		ran_sys[shape, sys] = 1
		for (t = 1; t <= 2; t++) {
			target = t == 1 ? 0.95 : 0.99
			key = shape SUBSEP sys SUBSEP t
			if ($8 >= target && $9 > best[key]) { best[key] = $9; how[key] = cfg " " $3 }
		}
		if (cfg == "fann-auto") { autor[shape] = $8; autoq[shape] = $9 }
		if (!(cfg in cfgseen)) { cfgseen[cfg] = 1; cfgs[++ncfg] = cfg }
		short[cfg, shape] += $13; ran[cfg, shape] += $7
	} END {
		n = split(order, shapes, " ")
		print "| shape | target | fann QPS | pgvector QPS | ratio | round trip QPS | fann config | pgvector config |"
		print "|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= n; i++) {
			s = shapes[i]
			if (!(s in seen)) continue
			for (t = 1; t <= 2; t++) {
				f = best[s, "fann", t]; p = best[s, "pgvector", t]
				printf "| %s | %.2f | %s | %s | %s | %s | %s | %s |\n", s, t == 1 ? 0.95 : 0.99,
					f ? sprintf("%.0f", f) : (s, "fann") in ran_sys ? "not reached" : "not run",
					p ? sprintf("%.0f", p) : (s, "pgvector") in ran_sys ? "not reached" : "not run",
					f && p ? sprintf("%.1fx", f / p) : "", rt[s] ? sprintf("%.0f", rt[s]) : "",
					how[s, "fann", t], how[s, "pgvector", t]
			}
		}
		print ""
		print "| shape | queries by rows matching: <0.1% / 0.1-1% / 1-5% / 5-10% / >=10% | fann groups_matched (mean) | fann auto recall | fann auto QPS |"
		print "|---|---|---|---|---|"
		m = split("<0.1%,0.1-1%,1-5%,5-10%,>=10%", b, ",")
		for (i = 1; i <= n; i++) {
			s = shapes[i]
			if (!(s in seen)) continue
			line = ""
			for (j = 1; j <= m; j++) line = line (j > 1 ? " / " : "") ((s, b[j]) in bucket ? bucket[s, b[j]] : 0)
			g = gn["graph", s] ? sprintf("%.0f (all: graph)", gsum["graph", s] / gn["graph", s]) : ""
			if (gn["exact", s]) g = sprintf("%.1f", gsum["exact", s] / gn["exact", s])
			printf "| %s | %s | %s | %s | %s |\n", s, line, g, s in autor ? sprintf("%.4f", autor[s]) : "",
				s in autoq ? sprintf("%.0f", autoq[s]) : ""
		}
		print ""
		printf "short answers (fewer rows than min(k, rows matching)) / queries run, over each configuration'"'"'s settings:\n\n| config |"
		for (i = 1; i <= n; i++) if (shapes[i] in seen) printf " %s |", shapes[i]
		printf "\n|---|"
		for (i = 1; i <= n; i++) if (shapes[i] in seen) printf "---|"
		print ""
		for (c = 1; c <= ncfg; c++) {
			printf "| %s |", cfgs[c]
			for (i = 1; i <= n; i++)
				if (shapes[i] in seen)
					printf " %s |", ((cfgs[c], shapes[i]) in ran) ? short[cfgs[c], shapes[i]] "/" ran[cfgs[c], shapes[i]] : ""
			print ""
		}
	}' $([ -e "$plans" ] && echo "$plans") "$csv"
	if [ -e "$plans" ]; then
		echo
		echo "plans (EXPLAIN of each query, condensed; fann's path from fann_last_scan() in brackets; +filter: a condition not in an index):"
		echo
		echo "| shape | config | setting | plan | queries | recall | short | groups_matched (mean) | rows_matching (mean) |"
		echo "|---|---|---|---|---|---|---|---|---|"
		awk -F, -v order="$TENANT_SHAPES" 'NR > 1 {
			prefix = "bench_" $1 "_tenants_"; gsub("-", "_", prefix); gsub(prefix, "", $5)
			if (!(($2, $4) in setting1)) setting1[$2, $4] = $3
			# the planner at each configuration'"'"'s first setting, and fann exact for its groups
			if ($3 != setting1[$2, $4] || $2 !~ /^(fann-auto|fann-exact|pgvector-default|pgvector-relaxed|pgvector-exact)$/) next
			row[$4, ++nrow[$4]] = sprintf("| %s | %s | %s | %s | %d | %.4f | %d | %s | %s |", $4, $2, $3, $5, $6, $7, $8, $9, $10)
		} END {
			n = split(order, shapes, " ")
			for (i = 1; i <= n; i++) for (j = 1; j <= nrow[shapes[i]]; j++) print row[shapes[i], j]
		}' "$plans"
	fi
	if [ -e "$builds" ]; then
		echo
		echo "| system | index | build s | MB |"
		echo "|---|---|---|---|"
		awk -F, 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$builds"
	fi
}
