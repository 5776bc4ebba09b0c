#!/usr/bin/env bash
# Build TimescaleDB from the vendored source once, cache the build, install it into PostgreSQL 15.
#
#   scripts/services/timescaledb.sh install   # build if not cached, then install the cached files if missing
#   scripts/services/timescaledb.sh status    # exit 0 if installed into PostgreSQL, 1 if not
#   scripts/services/timescaledb.sh clean     # forget the cached build (the next install rebuilds)
#
# No package of TimescaleDB is reachable here, so the project vendors its source (../shared/vendor,
# see its README). The first `install` unpacks and builds it (about 3 minutes on 2 cores) with
# `make install DESTDIR=<cache>`, so the cache holds exactly the files `make install` writes; every
# later run copies those files into PostgreSQL's system folders (PostgreSQL 15 finds extensions only
# there) when they are missing, and skips the build. The server must then be started with
# shared_preload_libraries = 'timescaledb' (scripts/services/postgres.sh: PG_PRELOAD=timescaledb).
#
# Environment (all optional):
#   FENGHUO_TIMESCALEDB_SRC    the source tarball (default: <repo>/../shared/vendor/timescaledb-2.28.3.tar.gz)
#   FENGHUO_TIMESCALEDB_CACHE  the cache folder (default: ~/.cache/fenghuo/timescaledb)
#   PG_CONFIG                  pg_config of the target server (default: /usr/lib/postgresql/15/bin/pg_config)
#   MAKE_JOBS                  parallel compile jobs (default: the number of cores)
set -euo pipefail

TSDB_VERSION=2.28.3
PG_MAJOR=15
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
SRC="${FENGHUO_TIMESCALEDB_SRC:-$REPO_DIR/../shared/vendor/timescaledb-$TSDB_VERSION.tar.gz}"
CACHE_ROOT="${FENGHUO_TIMESCALEDB_CACHE:-$HOME/.cache/fenghuo/timescaledb}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}"
MAKE_JOBS="${MAKE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
CACHE="$CACHE_ROOT/$TSDB_VERSION-pg$PG_MAJOR"   # one build per TimescaleDB version and server major
STAGE="$CACHE/stage"                           # DESTDIR of `make install`: a mirror of / with only its files

die() { echo "timescaledb.sh: error: $*" >&2; exit 1; }
log() { echo "timescaledb.sh: $*" >&2; }

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found: install PostgreSQL $PG_MAJOR first (scripts/services/postgres.sh install) or set PG_CONFIG."
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
SHAREDIR="$("$PG_CONFIG" --sharedir)"

# The three files whose presence means "installed": the loader, the versioned library and its install script.
installed() {
    [[ -f "$PKGLIBDIR/timescaledb.so" && -f "$PKGLIBDIR/timescaledb-$TSDB_VERSION.so" \
       && -f "$SHAREDIR/extension/timescaledb.control" \
       && -f "$SHAREDIR/extension/timescaledb--$TSDB_VERSION.sql" ]]
}

ensure_server_dev() {
    [[ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ]] && return 0
    [[ "$(id -u)" -eq 0 ]] || die "the PostgreSQL $PG_MAJOR server headers are missing and we are not root; run: sudo apt-get install -y postgresql-server-dev-$PG_MAJOR"
    command -v apt-get >/dev/null || die "the PostgreSQL $PG_MAJOR server headers are missing and apt-get is not here; install them and set PG_CONFIG."
    log "installing postgresql-server-dev-$PG_MAJOR (the server headers) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "postgresql-server-dev-$PG_MAJOR" >&2; then
        apt-get update -q >&2 || die "apt-get update failed; check access to the Debian package mirror."
        apt-get install -y -q --no-install-recommends "postgresql-server-dev-$PG_MAJOR" >&2 \
            || die "apt-get install postgresql-server-dev-$PG_MAJOR failed (see output above)."
    fi
    [[ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ]] || die "postgresql-server-dev-$PG_MAJOR was installed but postgres.h is still missing."
}

build() {
    [[ -f "$SRC" ]] || die "the TimescaleDB source $SRC is missing: it is vendored in ../shared/vendor beside the project (see its README); copy timescaledb-$TSDB_VERSION.tar.gz there or set FENGHUO_TIMESCALEDB_SRC."
    command -v cmake >/dev/null || die "cmake is needed to build TimescaleDB: apt-get install -y cmake"
    ensure_server_dev
    local work started
    started=$SECONDS
    mkdir -p "$CACHE"
    work="$(mktemp -d "$CACHE/build.XXXXXX")"
    log "building TimescaleDB $TSDB_VERSION from $SRC (once; about 3 minutes; log: $work/build.log)"
    tar -xzf "$SRC" -C "$work" || die "could not unpack $SRC"
    local srcdir; srcdir="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    [[ -x "$srcdir/bootstrap" ]] || die "$SRC has no bootstrap script at its top: is it the TimescaleDB source?"
    if ! ( cd "$srcdir" \
           && ./bootstrap -DPG_CONFIG="$PG_CONFIG" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
                -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release \
           && make -C build -j"$MAKE_JOBS" \
           && rm -rf "$STAGE.tmp" && make -C build install DESTDIR="$STAGE.tmp" ) >"$work/build.log" 2>&1; then
        tail -n 30 "$work/build.log" >&2
        die "building TimescaleDB failed (last lines above, full log $work/build.log)."
    fi
    rm -rf "$STAGE"
    mv "$STAGE.tmp" "$STAGE"
    ( cd "$STAGE" && find . -type f | sort ) >"$CACHE/files.txt"
    echo "$TSDB_VERSION $("$PG_CONFIG" --version)" >"$CACHE/complete"
    rm -rf "$work"
    log "built TimescaleDB $TSDB_VERSION in $((SECONDS - started))s; cached in $CACHE ($(wc -l <"$CACHE/files.txt") files)"
}

install_cached() {
    [[ -w "$PKGLIBDIR" && -w "$SHAREDIR/extension" ]] \
        || die "cannot write $PKGLIBDIR and $SHAREDIR/extension (TimescaleDB must go into PostgreSQL's system folders); run as root."
    cp -a "$STAGE/." / || die "could not copy the cached build from $STAGE into /"
    installed || die "copied $STAGE into / but TimescaleDB's files are still missing from $PKGLIBDIR; run: $0 clean && $0 install"
    log "installed TimescaleDB $TSDB_VERSION into $PKGLIBDIR and $SHAREDIR/extension"
}

cmd_install() {
    local started=$SECONDS
    if installed; then
        log "TimescaleDB $TSDB_VERSION is installed in $PKGLIBDIR (nothing to do, ${SECONDS}s)"
        return 0
    fi
    if [[ -f "$CACHE/complete" ]]; then
        log "using the cached build in $CACHE (no build)"
    else
        build
    fi
    install_cached
    log "done in $((SECONDS - started))s"
}

main() {
    [[ $# -ge 1 ]] || usage
    case "$1" in
        install) cmd_install ;;
        status)  if installed; then echo "installed: TimescaleDB $TSDB_VERSION in $PKGLIBDIR"; else echo "not installed"; exit 1; fi ;;
        clean)   rm -rf "$CACHE"; log "removed $CACHE" ;;
        -h|--help|help) usage ;;
        *) echo "timescaledb.sh: unknown subcommand '$1'" >&2; usage ;;
    esac
}

main "$@"
