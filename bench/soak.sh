# bench/soak.sh: the soak and soak-table commands of bench/run (sourced by
# it; see its usage comment).
#
# A primary and a streaming replica of their own (throwaway clusters on unix
# sockets in /tmp), a table soak (id, embedding real[], labels int4[], tenant
# uuid) of --rows rows with a fann index on (embedding, labels, tenant), then
# cycles of --cycle seconds until --minutes have passed.  In each cycle
# fannbench soak's --clients insert, delete and query (every path, each
# answer checked against a sequential scan in the same snapshot; client 0
# runs VACUUM every 30 s) while, at a random point of the cycle, the primary
# is shut down with -m immediate (every third cycle the replica too) and
# started again; the clients reconnect and go on.  At each cycle's end, with
# the clients stopped:
#   - fann_verify finds no problem on the primary or on the replica;
#   - every row whose insert was acknowledged and that no client tried to
#     delete is in the table, and no row whose delete was acknowledged is;
#   - once the replica has replayed the primary's WAL, the same 12 queries x
#     5 filter shapes x 7 settings (a sequential scan, auto, graph, ivf and
#     exact at the defaults, graph and ivf searched in full) answer the same
#     ids and distances on both;
#   - the full searches (exact, graph at ef_search 10000, ivf probing every
#     partition) answer the sequential scan's distances, on both.
# A row per cycle goes to OUT/soak.csv; the run fails if any check did.

# soak_sql DIR PORT [psql options]: psql on a soak cluster
soak_sql() {
	local dir=$1 port=$2
	shift 2
	psql -X -q -A -t -v ON_ERROR_STOP=1 "host=$dir port=$port user=postgres dbname=postgres" "$@"
}

# soak_wait_replay: the replica has replayed all the primary has written
soak_wait_replay() {
	local lsn i
	lsn=$(soak_sql "$SOAK_P" "$SOAK_PORT" -c "SELECT pg_current_wal_lsn()")
	for i in $(seq 600); do
		[ "$(soak_sql "$SOAK_R" $((SOAK_PORT + 1)) -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
		sleep 0.2
	done
	echo "soak: the replica did not replay up to $lsn in 120 s" >&2
	return 1
}

# soak_queries FILE: the checks' statements, drawn from the primary's rows:
# a line "q<n> <shape> <settings> <id:distance,...>" per query and setting
soak_queries() {
	soak_sql "$SOAK_P" "$SOAK_PORT" -o "$1" <<'SQL'
WITH q AS (
	SELECT row_number() OVER () AS n, s.* FROM (SELECT embedding, labels[1] AS label, tenant
		FROM soak WHERE labels <> '{}' ORDER BY random() LIMIT 12) s
), shape(shape, pred) AS (VALUES
	('none', 'true'), ('tenant', 'tenant = %3$L'), ('containment', 'labels @> ARRAY[%2$s]'),
	('overlap', 'labels && ARRAY[%2$s, 11]'), ('tenant-labels', 'tenant = %3$L AND labels @> ARRAY[%2$s]')
), setting(o, name, sets) AS (VALUES
	(1, 'seq', 'SET enable_indexscan = off; SET enable_bitmapscan = off;'),
	(2, 'auto', 'SET fann.strategy = auto;'),
	(3, 'graph', 'SET fann.strategy = graph;'),
	(4, 'ivf', 'SET fann.strategy = ivf;'),
	(5, 'exact', 'SET fann.strategy = exact;'),
	(6, 'full-graph', 'SET fann.strategy = graph; SET fann.ef_search = 10000;'),
	(7, 'full-ivf', 'SET fann.strategy = ivf; SET fann.probing = nearest; SET fann.max_probes = 1000;')
)
SELECT format('RESET ALL; %s%s SELECT %L || coalesce(string_agg(id || '':'' || d, '','' ORDER BY r), '''') FROM (SELECT row_number() OVER () AS r, id, d FROM '
	'(SELECT id, embedding <-> %L::real[] AS d FROM soak WHERE %s ORDER BY embedding <-> %L::real[] LIMIT 10) a) b;',
	CASE WHEN name <> 'seq' THEN 'SET enable_seqscan = off; SET enable_sort = off; ' ELSE '' END, sets,
	format('q%s %s %s ', n, shape, name), embedding, format(pred, NULL, label, tenant), embedding)
  FROM q, shape, setting ORDER BY n, shape, o;
SQL
}

# soak_full_diff ANSWERS: how many full searches' distances are not the
# sequential scan's (an id may differ where distances tie)
soak_full_diff() {
	awk '{ d = $4; gsub(/[0-9]+:/, "", d) }
		$3 == "seq" { seq[$1 " " $2] = d; next }
		$3 ~ /^(exact|full-graph|full-ivf)$/ { n++; if (seq[$1 " " $2] != d) { bad++; print "full search differs: " $0 > "/dev/stderr" } }
		END { printf "%d %d\n", n, bad }' "$1"
}

# soak_check CYCLE: the checks of a cycle's end; prints name=value pairs
soak_check() {
	local q=$SOAK_OUT/checks.sql ap=$SOAK_OUT/answers-primary ar=$SOAK_OUT/answers-replica
	local vp vr acked lost risen fp fr fpbad frbad
	vp=$(soak_sql "$SOAK_P" "$SOAK_PORT" -c "SELECT count(*) FROM fann_verify('soak_idx')")
	read -r acked lost risen < <(soak_sql "$SOAK_P" "$SOAK_PORT" -F ' ' <<SQL
SET work_mem = '256MB';
CREATE TEMP TABLE acked (op text, id bigint);
\\copy acked FROM PROGRAM 'cat $SOAK_OUT/acked-*' WITH (DELIMITER ' ')
SELECT count(*) FILTER (WHERE inserted),
	   count(*) FILTER (WHERE inserted AND NOT named AND s.id IS NULL),
	   count(*) FILTER (WHERE deleted AND s.id IS NOT NULL)
  FROM (SELECT id, bool_or(op = 'i') AS inserted, bool_or(op <> 'i') AS named,
			   bool_or(op = 'd') AS deleted FROM acked GROUP BY id) a
  LEFT JOIN soak s USING (id);
SQL
	)
	soak_wait_replay
	vr=$(soak_sql "$SOAK_R" $((SOAK_PORT + 1)) -c "SELECT count(*) FROM fann_verify('soak_idx')")
	soak_queries "$q"
	soak_sql "$SOAK_P" "$SOAK_PORT" -f "$q" >"$ap"
	soak_sql "$SOAK_R" $((SOAK_PORT + 1)) -f "$q" >"$ar"
	read -r fp fpbad < <(soak_full_diff "$ap")
	read -r fr frbad < <(soak_full_diff "$ar")
	echo "verify_primary=$vp verify_replica=$vr acked_rows=$acked lost=$lost resurrected=$risen" \
		"replica_answers=$(wc -l <"$ap") replica_differ=$(diff "$ap" "$ar" | grep -c '^<' || true)" \
		"full_answers=$((fp + fr)) full_differ=$((fpbad + frbad))" \
		"rows=$(soak_sql "$SOAK_P" "$SOAK_PORT" -c "SELECT count(*) FROM soak")" \
		"index_mb=$(soak_sql "$SOAK_P" "$SOAK_PORT" -c "SELECT pg_relation_size('soak_idx') / 1048576")"
	diff "$ap" "$ar" | head -20 >&2 || true
}

soak_stop() {
	[ -n "${SOAK_P:-}" ] && cp "$SOAK_P/log" "$SOAK_OUT/primary.log" 2>/dev/null && stop_server "$SOAK_P"
	[ -n "${SOAK_R:-}" ] && cp "$SOAK_R/log" "$SOAK_OUT/replica.log" 2>/dev/null && stop_server "$SOAK_R"
	return 0
}

cmd_soak() {
	local minutes=60 cycle=240 clients=8 rows=50000 dim=24 pg=$PG_MAJOR
	SOAK_OUT=$BENCH/out/soak SOAK_PORT=5530
	while [ $# -gt 0 ]; do
		case $1 in
			--minutes) minutes=$2 ;;
			--cycle) cycle=$2 ;;
			--clients) clients=$2 ;;
			--rows) rows=$2 ;;
			--dim) dim=$2 ;;
			--port) SOAK_PORT=$2 ;;
			--pg) pg=$2 ;;
			--out) SOAK_OUT=$2 ;;
			*) echo "soak: unknown option $1" >&2; exit 2 ;;
		esac
		shift 2
	done
	use_pg "$pg"
	mkdir -p "$SOAK_OUT"
	rm -f "$SOAK_OUT"/acked-* "$SOAK_OUT"/cycle-* "$SOAK_OUT"/soak.csv
	trap soak_stop EXIT
	SOAK_P=$(start_server soak-primary /tmp "$SOAK_PORT")
	local pconn="host=$SOAK_P port=$SOAK_PORT user=postgres dbname=postgres"
	soak_sql "$SOAK_P" "$SOAK_PORT" >/dev/null <<SQL
ALTER SYSTEM SET autovacuum_naptime = '10s';
SELECT pg_reload_conf();
CREATE EXTENSION fann;
CREATE TABLE soak (id bigserial PRIMARY KEY, embedding real[] NOT NULL, labels int4[], tenant uuid);
SQL
	"$FB" soak --conninfo "$pconn" --log "$SOAK_OUT/acked-0" --load "$rows" --dim "$dim" \
		--seconds 3600 >/dev/null
	local t0=$SECONDS
	soak_sql "$SOAK_P" "$SOAK_PORT" -c "CREATE INDEX soak_idx ON soak USING fann (embedding, labels, tenant)"
	echo "== soak: $rows rows of $dim dimensions, index built in $((SECONDS - t0)) s"
	soak_sql "$SOAK_P" "$SOAK_PORT" -c "SELECT pg_create_physical_replication_slot('replica')" >/dev/null
	SOAK_R=$(server_dir soak-replica /tmp)
	run_pg $PG_BIN/pg_basebackup -h "$SOAK_P" -p "$SOAK_PORT" -U postgres -D "$SOAK_R/data" -R -S replica -X stream -c fast
	server_ctl "$SOAK_R" $((SOAK_PORT + 1)) start

	local n=0 end=$((SECONDS + minutes * 60)) len crash_at crashed rc t1 failed=0 counts checks
	while [ $SECONDS -lt $end ]; do
		n=$((n + 1))
		len=$((end - SECONDS < cycle ? end - SECONDS : cycle))
		[ "$len" -lt 20 ] && len=20
		"$FB" soak --conninfo "$pconn" --log "$SOAK_OUT/acked-$n" --clients "$clients" --dim "$dim" \
			--seconds "$len" --seed "$n" >"$SOAK_OUT/cycle-$n.out" 2>"$SOAK_OUT/cycle-$n.err" &
		local cpid=$!
		crash_at=$((len * (30 + RANDOM % 50) / 100))
		sleep "$crash_at"
		crashed=primary
		[ $((n % 3)) = 0 ] && crashed=both
		[ $crashed = both ] && server_ctl "$SOAK_R" $((SOAK_PORT + 1)) stop -m immediate
		server_ctl "$SOAK_P" "$SOAK_PORT" stop -m immediate
		sleep 1
		t1=$(date +%s.%N)
		server_ctl "$SOAK_P" "$SOAK_PORT" start
		local restart_s
		restart_s=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		[ $crashed = both ] && server_ctl "$SOAK_R" $((SOAK_PORT + 1)) start
		rc=0
		wait $cpid || rc=$?
		counts=$(tail -1 "$SOAK_OUT/cycle-$n.out")
		checks=$(soak_check "$n")
		echo "cycle=$n crashed=$crashed crash_at_s=$crash_at restart_s=$restart_s $counts $checks" |
			tr ' ' '\n' | awk -F= -v csv="$SOAK_OUT/soak.csv" -v head="$([ -s "$SOAK_OUT/soak.csv" ] || echo 1)" '
				{ k = k (NR > 1 ? "," : "") $1; v = v (NR > 1 ? "," : "") $2 }
				END { if (head) print k > csv; print v >> csv }'
		echo "== cycle $n: $crashed shut down at $crash_at s, restarted in ${restart_s} s; $counts; $checks"
		if [ "$rc" != 0 ] || echo "$checks" | grep -Eq '(verify_primary|verify_replica|lost|resurrected|replica_differ|full_differ)=[1-9]'; then
			failed=1
			cat "$SOAK_OUT/cycle-$n.err" >&2
		fi
	done
	soak_table "$SOAK_OUT/soak.csv"
	return $failed
}

# soak_table CSV: the run's totals
soak_table() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ rows++; for (c in col) if (c !~ /^(crashed|recall_|restart_s|crash_at_s|rows|index_mb|acked_rows|cycle)/) sum[c] += $col[c]
		  both += $col["crashed"] == "both"; restart += $col["restart_s"]
		  if ($col["restart_s"] > maxr) maxr = $col["restart_s"]
		  for (c in col) if (c ~ /^recall_/) { rec[c] += $col[c] * $col["queries_" substr(c, 8)] }
		  last_rows = $col["rows"]; last_mb = $col["index_mb"]; acked = $col["acked_rows"] }
		END {
			q = sum["queries_auto"] + sum["queries_graph"] + sum["queries_ivf"] + sum["queries_exact"]
			printf "| | |\n|---|---|\n"
			printf "| cycles (crashes survived) | %d (primary %d, primary and replica %d) |\n", rows, rows, both
			printf "| restart (crash recovery) | mean %.1f s, max %.1f s |\n", restart / rows, maxr
			printf "| rows inserted / deleted | %d / %d (%d acknowledged inserts checked) |\n", sum["inserted"], sum["deleted"], acked
			printf "| queries auto / graph / ivf / exact | %d / %d / %d / %d |\n", sum["queries_auto"], sum["queries_graph"], sum["queries_ivf"], sum["queries_exact"]
			printf "| recall@10 under churn auto / graph / ivf / exact | %.4f / %.4f / %.4f / %.4f |\n",
				rec["recall_auto"] / sum["queries_auto"], rec["recall_graph"] / sum["queries_graph"],
				rec["recall_ivf"] / sum["queries_ivf"], rec["recall_exact"] / sum["queries_exact"]
			printf "| VACUUMs (client 0) | %d |\n", sum["vacuums"]
			printf "| requests cut off / reconnects | %d / %d |\n", sum["interrupted"], sum["reconnects"]
			printf "| short / misordered / wrong answers, other errors | %d / %d / %d / %d (of %d queries) |\n",
				sum["short"], sum["misordered"], sum["wrong"], sum["errors"], q
			printf "| fann_verify problems, primary / replica | %d / %d (%d runs each) |\n", sum["verify_primary"], sum["verify_replica"], rows
			printf "| acknowledged rows lost / deleted rows back | %d / %d |\n", sum["lost"], sum["resurrected"]
			printf "| replica answers differing | %d of %d |\n", sum["replica_differ"], sum["replica_answers"]
			printf "| full searches not the sequential scan | %d of %d |\n", sum["full_differ"], sum["full_answers"]
			printf "| rows, index MB at the end | %d, %d |\n", last_rows, last_mb
		}' "$1"
}
