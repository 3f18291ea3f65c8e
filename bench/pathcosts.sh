# bench/pathcosts.sh: the path-costs command of bench/run (sourced by it;
# see its usage comment).

# What a unit of each search path's work costs, for auto's choice
# (src/cost.c): every path on every filter shape of TABLE (a real[] column
# and int4[] labels: bench/run compare or all loads it), in-server times and
# fann_last_scan()'s counts, then per path a least-squares fit of the time
# against its work (exact: rows; graph: distances and label sets; ivf: rows
# probed and matching rows bounded)
PATH_COST_SHAPES="none equality containment contain1 overlap"

cmd_path_costs() {
	local dataset=$1 csv
	shift
	parse_options "$@"
	prepare "$dataset"
	[ "$(psql_q -c "SELECT to_regclass('${TABLE}_fann') IS NOT NULL")" = t ] ||
		build_index "$TABLE" fann_l2_ops
	csv=$OUT/pathcosts.csv
	psql_q -f "$BENCH/pathcosts.sql" >/dev/null
	prewarm "$TABLE" "${TABLE}_fann"
	echo "strategy,shape,ms,path,groups,matching,visited,distances" >"$csv"
	for strategy in exact graph ivf; do
		for shape in $PATH_COST_SHAPES; do
			# the exact path unfiltered reads every row: fewer queries
			local n=$NQ
			[ "$strategy$shape" = exactnone ] && n=$((NQ / 10 + 1))
			[ "$strategy$shape" = graphnone ] && continue
			psql_q -F, -c "SELECT '$strategy', '$shape', ms, path, coalesce(groups, 0),
				coalesce(matching, 0), visited, distances
				FROM fann_path_costs('$TABLE', '$strategy', '$shape', $n, 0.5)" >>"$csv"
		done
	done
	psql_q -c "DROP FUNCTION fann_path_costs" >/dev/null
	path_costs_table "$csv"
}

# path_costs_table CSV: mean time and work per path and shape, and the fits
path_costs_table() {
	echo "| path | shape | queries | ms | matching | label sets | rows visited | distances |"
	echo "|---|---|---|---|---|---|---|---|"
	awk -F, 'NR > 1 && $1 == $4 { k = $1 "|" $2; n[k]++; ms[k] += $3; m[k] += $6; g[k] += $5; v[k] += $7; d[k] += $8 }
		END { for (k in n) { split(k, a, "|")
			printf "| %s | %s | %d | %.3f | %.0f | %.0f | %.0f | %.0f |\n", a[1], a[2], n[k],
				ms[k] / n[k], m[k] / n[k], g[k] / n[k], v[k] / n[k], d[k] / n[k] } }' "$1" | sort
	echo
	# least squares over each path's own queries: ms = c0 + c1 x1 (+ c2 x2)
	awk -F, 'function fit(p, nx, lbl,   i, j, k, r, f, x, A, c) {
			for (i = 0; i <= nx; i++) { for (j = 0; j <= nx; j++) A[i, j] = S[p, i, j]; A[i, nx + 1] = Y[p, i] }
			for (i = 0; i <= nx; i++) {
				for (r = 0; r <= nx; r++) if (r != i) { f = A[r, i] / A[i, i]
					for (k = i; k <= nx + 1; k++) A[r, k] -= f * A[i, k] } }
			printf "%s: %.0f us a query", p, 1000 * A[0, nx + 1] / A[0, 0]
			for (i = 1; i <= nx; i++) printf " + %.1f ns a %s", 1e6 * A[i, nx + 1] / A[i, i], lbl[i]
			printf " (%d queries)\n", S[p, 0, 0] }
		NR > 1 && $1 == $4 {
			p = $1; x[0] = 1
			if (p == "exact") { x[1] = $8; nx[p] = 1 }
			if (p == "graph") { x[1] = $8; x[2] = $5; nx[p] = 2 }
			if (p == "ivf") { x[1] = $7; x[2] = $8; nx[p] = 2 }
			for (i = 0; i <= nx[p]; i++) { Y[p, i] += x[i] * $3; for (j = 0; j <= nx[p]; j++) S[p, i, j] += x[i] * x[j] } }
		END { l1[1] = "row"; fit("exact", 1, l1)
			l2[1] = "distance"; l2[2] = "label set"; fit("graph", 2, l2)
			l3[1] = "row probed"; l3[2] = "matching row"; fit("ivf", 2, l3) }' "$1"
}
