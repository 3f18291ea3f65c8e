# Shared by scripts/demo and scripts/test: dependencies, build, and a
# throwaway PostgreSQL cluster run by an unprivileged user on a unix socket.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PostgreSQL 18 is not packaged for bookworm: built from Debian's source
# package (suite sid) into this prefix, once per machine (ensure_pg18)
PG18_PREFIX=${FANN_PG18_PREFIX:-/opt/fann-pg/18}
PG18_SRC=${FANN_PG18_SRC:-/opt/fann-pg/src}

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

# use_pg 15|18: the server that the build, the clusters and the tests use
use_pg() {
	case $1 in
		15) PG_MAJOR=15 PG_BIN=/usr/lib/postgresql/15/bin ;;
		18) PG_MAJOR=18 PG_BIN=$PG18_PREFIX/bin ;;
		*) echo "unsupported PostgreSQL version $1 (15 or 18)" >&2; return 2 ;;
	esac
}

# PostgreSQL 18 in $PG18_PREFIX, unless it is there: its source fetched with
# apt-get from Debian's sid source index (an apt configuration of its own,
# so that the machine's package lists stay bookworm's), built with the TAP
# test modules and the contrib modules the tests use
ensure_pg18() {
	local apt="$PG18_SRC/apt" tarball build m missing=""
	local contrib="contrib/postgres_fdw contrib/dblink contrib/pg_prewarm contrib/amcheck"
	if [ -x "$PG18_PREFIX/bin/pg_config" ]; then
		# a build from before a module joined the list is built again
		for m in $contrib; do
			[ -f "$("$PG18_PREFIX/bin/pg_config" --sharedir)/extension/${m#contrib/}.control" ] || missing="$missing ${m#contrib/}"
		done
		[ -z "$missing" ] && return 0
		echo "== PostgreSQL 18 in $PG18_PREFIX lacks$missing"
	fi
	echo "== building PostgreSQL 18 into $PG18_PREFIX (once per machine)"
	as_root apt-get install -y -qq --no-install-recommends bison flex zlib1g-dev \
		libicu-dev pkg-config libipc-run-perl perl make gcc >/dev/null
	as_root mkdir -p "$apt/lists/partial" "$PG18_SRC"
	as_root chmod 777 "$PG18_SRC"
	tarball=$(find "$PG18_SRC" -maxdepth 1 -name 'postgresql-18_*.orig.tar.bz2' | sort | tail -1)
	if [ -z "$tarball" ]; then
		printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
			as_root tee "$apt/sid-src.sources" >/dev/null
		local opts=(-o Dir::Etc::sourcelist="$apt/sid-src.sources" -o Dir::Etc::sourceparts=-
			-o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root)
		as_root apt-get "${opts[@]}" update -qq
		(cd "$PG18_SRC" && as_root apt-get "${opts[@]}" source --download-only -qq postgresql-18)
		tarball=$(find "$PG18_SRC" -maxdepth 1 -name 'postgresql-18_*.orig.tar.bz2' | sort | tail -1)
	fi
	build=$(mktemp -d /tmp/fann-pg18-build.XXXXXX)
	tar xjf "$tarball" -C "$build" --strip-components=1
	(cd "$build" &&
		./configure -q --prefix="$PG18_PREFIX" --without-readline \
			--enable-tap-tests >/dev/null &&
		make -s -j"$(nproc)" >/dev/null &&
		for m in $contrib; do
			make -s -C "$m" -j"$(nproc)" >/dev/null || exit 1
		done &&
		as_root make -s install >/dev/null &&
		as_root make -s -C src/test/perl install >/dev/null &&
		for m in $contrib; do
			as_root make -s -C "$m" install >/dev/null || exit 1
		done) || { rm -rf "$build"; echo "PostgreSQL 18 build failed" >&2; return 1; }
	rm -rf "$build"
}

build_install() {
	echo "== building and installing fann for PostgreSQL $PG_MAJOR"
	# objects of another server version's build must not be linked in
	make -C "$REPO" -s clean PG_CONFIG=$PG_BIN/../bin/pg_config >/dev/null
	make -C "$REPO" -s -j2 PG_CONFIG=$PG_BIN/../bin/pg_config >/dev/null
	as_root make -C "$REPO" -s install PG_CONFIG=$PG_BIN/../bin/pg_config >/dev/null
}

# PostgreSQL refuses to run as root: the cluster belongs to $PG_USER.
PG_USER=${PG_USER:-postgres}
run_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

# server_dir NAME PARENT: a new empty directory of PARENT for a cluster, its
# socket and log, owned by the cluster user; prints it
server_dir() {
	local dir
	mkdir -p "$2"
	dir=$(mktemp -d "$2/fann-$1.XXXXXX")
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown "$PG_USER" "$dir"
	echo "$dir"
}

# server_ctl DIR PORT start|stop [pg_ctl options]: pg_ctl on the cluster in
# DIR/data, listening only on a unix socket in DIR
server_ctl() {
	run_pg $PG_BIN/pg_ctl -D "$1/data" -l "$1/log" -w "${@:3}" \
		-o "-k $1 -c listen_addresses='' -p $2 -c shared_buffers=512MB -c max_wal_size=4GB" >/dev/null
}

# start_server NAME PARENT PORT: a new cluster in a directory of PARENT,
# listening only on a unix socket there; prints the directory (the socket's)
start_server() {
	local dir
	dir=$(server_dir "$1" "$2")
	run_pg $PG_BIN/initdb -D "$dir/data" -A trust -U postgres >/dev/null
	server_ctl "$dir" "$3" start
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
