# Shared by scripts/demo and scripts/test: dependencies, build, and a
# throwaway PostgreSQL cluster run by an unprivileged user on a unix socket.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Install what building and testing fann needs, if it is missing.
install_deps() {
	local pkgs="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR gcc make libipc-run-perl libpq-dev zlib1g-dev gnuplot-nox"
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== installing:$missing"
		as_root apt-get update -qq
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
	fi
}

build_install() {
	echo "== building and installing fann"
	make -C "$REPO" -s -j2 PG_CONFIG=$PG_BIN/../bin/pg_config >/dev/null
	as_root make -C "$REPO" -s install PG_CONFIG=$PG_BIN/../bin/pg_config >/dev/null
}

# PostgreSQL refuses to run as root: the cluster belongs to $PG_USER.
PG_USER=${PG_USER:-postgres}
run_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

# start_cluster NAME [PARENT]: a new cluster in PARENT (default /tmp),
# listening only on a unix socket there; exports PGHOST/PGPORT/PGUSER/
# PGDATABASE for psql and pg_regress, and removes it on exit.
start_cluster() {
	mkdir -p "${2:-/tmp}"
	CLUSTER_DIR=$(mktemp -d "${2:-/tmp}/fann-$1.XXXXXX")
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" = 0 ] && chown "$PG_USER" "$CLUSTER_DIR"
	run_pg $PG_BIN/initdb -D "$CLUSTER_DIR/data" -A trust -U postgres >/dev/null
	export PGPORT=${PGPORT:-54329}
	run_pg $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/log" -w start \
		-o "-k $CLUSTER_DIR -c listen_addresses='' -p $PGPORT -c shared_buffers=512MB -c max_wal_size=4GB" >/dev/null
	export PGHOST=$CLUSTER_DIR PGUSER=postgres PGDATABASE=postgres
	trap stop_cluster EXIT
}

stop_cluster() {
	if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
		run_pg $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$CLUSTER_DIR"
	fi
}

# pgvector, installed into the PostgreSQL that pg_config names (PG_CONFIG):
# built from its release in $FANN_PEERS (../shared/peers) if missing, as
# root or with sudo.  False if it is neither installed nor buildable.
PEERS=${FANN_PEERS:-$REPO/../shared/peers}
PGVECTOR=pgvector-0.8.6
ensure_pgvector() {
	local pgc=${PG_CONFIG:-$PG_BIN/pg_config} tmp sudo=""
	[ -e "$("$pgc" --sharedir)/extension/vector.control" ] && return 0
	[ -e "$PEERS/$PGVECTOR.tar.gz" ] || return 1
	[ "$(id -u)" = 0 ] || sudo=sudo
	tmp=$(mktemp -d)
	echo "building $PGVECTOR from $PEERS"
	tar xzf "$PEERS/$PGVECTOR.tar.gz" -C "$tmp" &&
		make -s -C "$tmp/$PGVECTOR" PG_CONFIG="$pgc" OPTFLAGS="" with_llvm=no >/dev/null &&
		$sudo make -s -C "$tmp/$PGVECTOR" PG_CONFIG="$pgc" with_llvm=no install >/dev/null
	local ok=$?
	rm -rf "$tmp"
	return $ok
}
