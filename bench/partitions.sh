# bench/partitions.sh: the partitions and partitions-table commands of
# bench/run (sourced by it; see its usage comment).

# A partition per tenant beside one index's own filtering: the tenants
# table's rows again, list-partitioned on tenant_id with one partition per
# tenant (pgvector's advice for multi-tenant search), each partition with
# its own index; the tenant's condition then prunes partitions and the
# rest is the partition index's.  Shapes whose filter names the tenant:
PARTITION_SHAPES="tenant tenant-category tenant-tags"

# by_tenant FROM TO: TO, FROM's rows in a partition per tenant, made again
# when missing or when the tenants table was made again (its comment, the
# stamp)
by_tenant() {
	local from=$1 to=$2 stamp t0
	stamp=$(psql_q -c "SELECT obj_description('$TEN'::regclass, 'pg_class')")
	[ "$(psql_q -c "SELECT obj_description(to_regclass('$to'), 'pg_class')")" = "$stamp" ] && return 0
	t0=$(date +%s.%N)
	psql_q -v from="$from" -v to="$to" -v stamp="$stamp" <<'SQL'
DROP TABLE IF EXISTS :"to";
CREATE TABLE :"to" (LIKE :"from") PARTITION BY LIST (tenant_id);
SELECT format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L)',
			  :'to' || '_' || row_number() OVER (ORDER BY tenant_id), :'to', tenant_id)
  FROM (SELECT DISTINCT tenant_id FROM :"from") t \gexec
INSERT INTO :"to" SELECT * FROM :"from";
COMMENT ON TABLE :"to" IS :'stamp';
SQL
	psql_q -c "VACUUM ANALYZE $to"
	echo "partitions: $to, $(psql_q -c "SELECT count(*) FROM pg_partition_tree('$to') WHERE isleaf") partitions, made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
}

cmd_partitions() {
	tenants_setup partitions "$PARTITION_SHAPES" "$@" || return 0
	local part=${TEN}_bytenant pgvpart=${PGV}_bytenant
	by_tenant "$TEN" "$part"
	by_tenant "$PGV" "$pgvpart"
	CSV=$OUT/partitions.csv PLANS=$OUT/partitions-plans.csv BUILDS=$OUT/partitions-builds.csv
	rm -f "$CSV" "$PLANS"
	echo "system,index,build_s,index_mb" >"$BUILDS"

	# fann: one index over the tenant and the other filter columns, and an
	# index per partition over the others
	local columns="tenant_id, category, tags, metadata"
	build_index "$TEN" "" "" "$columns"
	echo "one-fann,${TEN}_fann (embedding; ${columns//,/;}),$BUILD_S,$INDEX_MB" >>"$BUILDS"
	local one_s=$BUILD_S one_mb=$INDEX_MB
	columns=${columns#tenant_id, }
	build_index "$part" "" "" "$columns"
	echo "part-fann,${part}_fann (embedding; ${columns//,/;}) per partition,$BUILD_S,$INDEX_MB" >>"$BUILDS"
	local part_s=$BUILD_S part_mb=$INDEX_MB
	# pgvector: HNSW and the filter indexes on the table and on each
	# partition (there without the tenant's btree)
	BUILD_SYSTEM=one-pgvector pgvector_indexes "$PGV" hnsw tenant category tags metadata
	local one_rels=("${PGV_RELS[@]}") one_pgv_s=$PGV_S one_pgv_mb=$PGV_MB
	BUILD_SYSTEM=part-pgvector pgvector_indexes "$pgvpart" hnsw category tags metadata
	check_shared_buffers "$TEN" "${TEN}_fann" "$part" "${part}_fann" "${one_rels[@]}" "${PGV_RELS[@]}"

	tenant_stamp
	for shape in $TYPES; do
		tenant_truth "$shape"
		local t
		for t in "one:$TEN:$one_s:$one_mb" "part:$part:$part_s:$part_mb"; do
			IFS=: read -r layout table BUILD_S INDEX_MB <<<"$t"
			prewarm "$table" "${table}_fann"
			local sql="SELECT id FROM $table WHERE $PRED ORDER BY embedding <-> \$1::real[] LIMIT $K"
			tenant_sweep "$layout-fann-auto" "$sql" "fann.strategy=auto"
			tenant_sweep "$layout-fann-target" "$sql" "fann.strategy=auto,fann.target_recall=0.9" \
				"fann.strategy=auto,fann.target_recall=0.95" "fann.strategy=auto,fann.target_recall=0.99"
			tenant_sweep "$layout-fann-exact" "$sql" "fann.strategy=exact"
		done
		for t in "one:$PGV:$one_pgv_s:$one_pgv_mb" "part:$pgvpart:$PGV_S:$PGV_MB"; do
			IFS=: read -r layout table BUILD_S INDEX_MB <<<"$t"
			if [ "$layout" = one ]; then prewarm "${one_rels[@]}"; else prewarm "${PGV_RELS[@]}"; fi
			local sql="SELECT id FROM $table WHERE $PRED ORDER BY embedding <-> \$1::real[]::vector LIMIT $K"
			tenant_sweep "$layout-pgvector-relaxed" "$sql" "hnsw.iterative_scan=relaxed_order,hnsw.ef_search=40" \
				"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=100" \
				"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=200" \
				"hnsw.iterative_scan=relaxed_order,hnsw.ef_search=400"
			# no index scan: within a tenant's partition, a scan of it and a sort
			tenant_sweep "$layout-pgvector-exact" "$sql" "enable_indexscan=off,max_parallel_workers_per_gather=0"
		done
		tenant_roundtrip
	done
	partitions_table "$CSV" | tee "$OUT/partitions.md"
	echo "results: $CSV, $BUILDS"
}

# The table of bench/run partitions from its CSV (and the -builds CSV beside
# it): per shape, each layout and system's best QPS at recall >= 0.95 and
# >= 0.99, its configuration, and fann auto's recall and QPS; the builds
partitions_table() {
	local csv=$1 builds=${1%.csv}-builds.csv
	awk -F, -v order="$PARTITION_SHAPES" 'NR > 1 && $5 == 1 && $6 == "all" {
		shape = $4; seen[shape] = 1
		if ($2 == "roundtrip") { rt[shape] = $9; next }
		split($2, w, "-"); sys = w[1] "-" w[2]
		for (t = 1; t <= 2; t++)
			if ($8 >= (t == 1 ? 0.95 : 0.99) && $9 > best[shape, sys, t]) {
				best[shape, sys, t] = $9; how[shape, sys, t] = $3
			}
		if ($2 ~ /fann-auto$/) auto[shape, sys] = sprintf("%.3f / %.0f", $8, $9)
	} END {
		n = split(order, shapes, " ")
		m = split("one-fann part-fann one-pgvector part-pgvector", systems, " ")
		# the settings that tell the configurations apart
		for (k in how) {
			gsub(/fann.strategy=auto |hnsw.iterative_scan=relaxed_order |max_parallel_workers_per_gather=0/, "", how[k])
			sub(/^fann.strategy=exact$/, "exact", how[k]); sub(/^fann.strategy=auto$/, "auto", how[k])
			sub(/^enable_indexscan=off $/, "no index scan", how[k])
		}
		print "| shape | recall | one fann index | fann per partition | pgvector, one table | pgvector per partition | round trip |"
		print "|---|---|---|---|---|---|---|"
		for (i = 1; i <= n; i++) {
			s = shapes[i]
			if (!(s in seen)) continue
			for (t = 1; t <= 2; t++) {
				printf "| %s | >= %.2f |", s, t == 1 ? 0.95 : 0.99
				for (j = 1; j <= m; j++) {
					q = best[s, systems[j], t]
					printf " %s |", q ? sprintf("%.0f (%s)", q, how[s, systems[j], t]) : "not reached"
				}
				printf " %.0f |\n", rt[s]
			}
		}
		print ""
		print "| shape | fann auto, one index: recall / QPS | fann auto per partition |"
		print "|---|---|---|"
		for (i = 1; i <= n; i++)
			if (shapes[i] in seen)
				printf "| %s | %s | %s |\n", shapes[i], auto[shapes[i], "one-fann"], auto[shapes[i], "part-fann"]
	}' "$csv"
	if [ -e "$builds" ]; then
		echo
		echo "| system | index | build s | MB |"
		echo "|---|---|---|---|"
		awk -F, 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$builds"
	fi
}
