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

# start_server NAME PARENT PORT: a new cluster in a directory of PARENT,
# listening only on a unix socket there; prints the directory (the socket's)
start_server() {
	local dir
	mkdir -p "$2"
	dir=$(mktemp -d "$2/fann-$1.XXXXXX")
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown "$PG_USER" "$dir"
	run_pg $PG_BIN/initdb -D "$dir/data" -A trust -U postgres >/dev/null
	run_pg $PG_BIN/pg_ctl -D "$dir/data" -l "$dir/log" -w start \
		-o "-k $dir -c listen_addresses='' -p $3 -c shared_buffers=512MB -c max_wal_size=4GB" >/dev/null
	echo "$dir"
}

# stop_server DIR: stop the cluster start_server made and remove it
stop_server() {
	if [ -d "$1/data" ]; then
		run_pg $PG_BIN/pg_ctl -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$1"
	fi
}

# start_cluster NAME [PARENT]: the cluster of psql and pg_regress (PGHOST,
# PGPORT, PGUSER, PGDATABASE exported), removed on exit
start_cluster() {
	export PGPORT=${PGPORT:-54329}
	CLUSTER_DIR=$(start_server "$1" "${2:-/tmp}" "$PGPORT")
	export PGHOST=$CLUSTER_DIR PGUSER=postgres PGDATABASE=postgres
	trap stop_cluster EXIT
}

stop_cluster() {
	if [ -n "${CLUSTER_DIR:-}" ]; then stop_server "$CLUSTER_DIR"; fi
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
