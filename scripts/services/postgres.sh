#!/usr/bin/env bash
# Start / stop a throwaway PostgreSQL 15 server for fenghuo's tests.
#
#   scripts/services/postgres.sh start  DIR PORT   # initdb DIR if needed, start, create db "fenghuo", print DSN
#   scripts/services/postgres.sh stop   DIR        # fast shutdown, then immediate, then SIGKILL
#   scripts/services/postgres.sh status DIR        # exit 0 if running, 1 if not
#   scripts/services/postgres.sh install           # only make sure the server binaries are there
#
# DIR is the data directory itself (PGDATA); the server log is DIR/server.log.
# The server listens on 127.0.0.1 only (no Unix socket), with trust auth for
# 127.0.0.1 only, and is tuned for tests (fsync=off): never point it at data
# you care about.
#
# Environment (all optional):
#   PG_BINDIR        directory with initdb/pg_ctl/postgres (default: the PostgreSQL 15 install)
#   PG_SUPERUSER     database superuser name in the DSN (default: postgres)
#   PG_RUN_AS        OS user that runs the server when invoked as root (default: postgres, created if missing)
#   PG_START_TIMEOUT seconds to wait for the server to accept connections (default: 60)
#   PG_PRELOAD       shared_preload_libraries of the server, e.g. timescaledb (default: none; see timescaledb.sh)
set -euo pipefail

PG_MAJOR=15
PG_SUPERUSER="${PG_SUPERUSER:-postgres}"
PG_RUN_AS="${PG_RUN_AS:-postgres}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
DB_NAME=fenghuo

die() { echo "postgres.sh: error: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*" >&2; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- binaries
find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/postgres" ]] || die "PG_BINDIR=$PG_BINDIR has no 'postgres' executable; unset PG_BINDIR or point it at a PostgreSQL bin directory."
        echo "$PG_BINDIR"; return 0
    fi
    local d="/usr/lib/postgresql/$PG_MAJOR/bin"   # where Debian's postgresql-15 puts them
    if [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return 0; fi
    return 1
}

ensure_installed() {
    if find_bindir >/dev/null; then return 0; fi
    log "PostgreSQL $PG_MAJOR server binaries not found; installing postgresql-$PG_MAJOR with apt-get"
    [[ "$(id -u)" -eq 0 ]] || die "PostgreSQL $PG_MAJOR is not installed and we are not root; run: sudo apt-get install -y postgresql-$PG_MAJOR (or set PG_BINDIR)."
    command -v apt-get >/dev/null || die "PostgreSQL $PG_MAJOR is not installed and apt-get is missing; install the PostgreSQL $PG_MAJOR server and set PG_BINDIR to its bin directory."
    export DEBIAN_FRONTEND=noninteractive
    # Try without refreshing the lists first (fast when they are current), then with.
    if ! apt-get install -y -q --no-install-recommends "postgresql-$PG_MAJOR" >&2; then
        apt-get update -q >&2 || die "apt-get update failed; check access to the Debian package mirror."
        apt-get install -y -q --no-install-recommends "postgresql-$PG_MAJOR" >&2 \
            || die "apt-get install postgresql-$PG_MAJOR failed (see output above)."
    fi
    find_bindir >/dev/null || die "postgresql-$PG_MAJOR was installed but /usr/lib/postgresql/$PG_MAJOR/bin/postgres is still missing."
}

# ------------------------------------------------------------- run-as user
# When we are root, the server must run as an unprivileged user.
RUN_USER=""
setup_user() {
    if [[ "$(id -u)" -ne 0 ]]; then RUN_USER=""; return 0; fi
    RUN_USER="$PG_RUN_AS"
    if ! id -u "$RUN_USER" >/dev/null 2>&1; then
        log "creating system user '$RUN_USER' to run PostgreSQL"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" \
            || die "could not create user '$RUN_USER'; create it or set PG_RUN_AS to an existing unprivileged user."
    fi
}

as_user() {
    if [[ -n "$RUN_USER" ]]; then
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

abspath() { # works for paths that do not exist yet
    local p="$1"
    [[ "$p" = /* ]] || p="$PWD/$p"
    echo "$p"
}

check_port() {
    local port="$1"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then
        die "PORT must be a number 1-65535, got '$port'."
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

is_running() { # DIR
    local dir="$1" bindir
    [[ -f "$dir/postmaster.pid" ]] || return 1
    bindir="$(find_bindir)" || return 1
    as_user "$bindir/pg_ctl" status -D "$dir" >/dev/null 2>&1
}

server_port() { # DIR -> port of the running server (line 4 of postmaster.pid)
    sed -n 4p "$1/postmaster.pid" 2>/dev/null
}

# ------------------------------------------------------------------- start
cmd_start() {
    [[ $# -eq 2 ]] || usage
    local dir port bindir parent
    dir="$(abspath "$1")"; port="$2"
    check_port "$port"
    ensure_installed
    bindir="$(find_bindir)"
    setup_user

    if is_running "$dir"; then
        local running_port; running_port="$(server_port "$dir")"
        [[ "$running_port" == "$port" ]] \
            || die "a server is already running from $dir on port $running_port, not $port; run: $0 stop $dir"
        log "already running from $dir"
    else
        if port_in_use "$port"; then
            die "port $port on 127.0.0.1 is already in use by another process; pick another PORT or stop that process (ss -ltnp | grep :$port)."
        fi

        parent="$(dirname "$dir")"
        mkdir -p "$parent"
        if [[ ! -f "$dir/PG_VERSION" ]]; then
            if [[ -d "$dir" && -n "$(ls -A "$dir")" ]]; then
                die "$dir exists, is not empty and is not a PostgreSQL data directory; remove it or choose another DIR."
            fi
            mkdir -p "$dir"
            chmod 700 "$dir"
            [[ -z "$RUN_USER" ]] || chown "$RUN_USER:" "$dir"
            as_user test -w "$dir" \
                || die "user '${RUN_USER:-$(id -un)}' cannot write $dir (a parent directory is probably not traversable, e.g. under /root); use a DIR under a world-traversable path such as /work or /tmp."
            log "initdb into $dir"
            as_user "$bindir/initdb" -D "$dir" -U "$PG_SUPERUSER" --auth=trust \
                --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir.initdb.log" 2>&1 \
                || { cat "$dir.initdb.log" >&2; die "initdb failed (output above); remove $dir and retry."; }
            rm -f "$dir.initdb.log"
            # Trust on 127.0.0.1 only; no other host lines, no Unix socket.
            as_user tee "$dir/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/services/postgres.sh: test server, trust on 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   trust
EOF
            as_user tee -a "$dir/postgresql.conf" >/dev/null <<'EOF'

# --- scripts/services/postgres.sh: throwaway test server ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
logging_collector = off
EOF
        elif [[ -n "$RUN_USER" && "$(stat -c %U "$dir")" != "$RUN_USER" ]]; then
            die "$dir is owned by $(stat -c %U "$dir"), not '$RUN_USER'; chown -R $RUN_USER $dir, or remove it to start afresh."
        fi

        # Log beside the data directory content; owned by the server user.
        as_user touch "$dir/server.log"
        local preload=""
        [[ -z "${PG_PRELOAD:-}" ]] || preload="-c shared_preload_libraries=$PG_PRELOAD"
        [[ "${PG_PRELOAD:-}" != *timescaledb* ]] || preload+=" -c timescaledb.telemetry_level=off"  # no phoning home
        log "starting PostgreSQL on 127.0.0.1:$port${PG_PRELOAD:+ with shared_preload_libraries=$PG_PRELOAD} (log: $dir/server.log)"
        if ! as_user "$bindir/pg_ctl" start -D "$dir" -l "$dir/server.log" -w -t "$PG_START_TIMEOUT" \
                -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= $preload" >/dev/null; then
            tail -n 30 "$dir/server.log" >&2 || true
            die "PostgreSQL did not start within ${PG_START_TIMEOUT}s (last log lines above, full log $dir/server.log)."
        fi
    fi

    # Wait until it accepts connections over TCP, then make sure the db exists.
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres; do
        (( SECONDS < deadline )) || die "PostgreSQL on 127.0.0.1:$port is not accepting connections after ${PG_START_TIMEOUT}s; see $dir/server.log."
        sleep 0.2
    done
    local exists
    exists="$("$bindir/psql" -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres -tAX \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" \
        || die "could not query the server on 127.0.0.1:$port; see $dir/server.log."
    if [[ "$exists" != "1" ]]; then
        "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" "$DB_NAME" \
            || die "could not create database $DB_NAME; see $dir/server.log."
    fi
    echo "postgresql://$PG_SUPERUSER@127.0.0.1:$port/$DB_NAME"
}

# -------------------------------------------------------------------- stop
cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local dir bindir pid
    dir="$(abspath "$1")"
    if [[ ! -f "$dir/postmaster.pid" ]]; then
        log "not running (no $dir/postmaster.pid)"
        return 0
    fi
    bindir="$(find_bindir)" || die "PostgreSQL binaries not found; cannot stop $dir cleanly."
    setup_user
    pid="$(head -n 1 "$dir/postmaster.pid" 2>/dev/null || true)"
    if as_user "$bindir/pg_ctl" stop -D "$dir" -m fast -w -t 20 >/dev/null 2>&1; then
        log "stopped ($dir)"
    elif as_user "$bindir/pg_ctl" stop -D "$dir" -m immediate -w -t 10 >/dev/null 2>&1; then
        log "stopped with immediate shutdown ($dir)"
    fi
    # Give init a moment to reap the postmaster, so that "no process left"
    # is true when we return.
    local i
    for ((i = 0; i < 50; i++)); do
        [[ "$pid" =~ ^[0-9]+$ && -e "/proc/$pid" ]] || break
        # a zombie (Z) has an empty cmdline; wait for it to be reaped as well
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]] \
            || grep -q postgres "/proc/$pid/cmdline" 2>/dev/null || break
        sleep 0.1
    done
    # Whatever happened above, leave no process behind.
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
            && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null; then
        log "postmaster $pid still alive; sending SIGKILL to it and its children"
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        rm -f "$dir/postmaster.pid"
    fi
    return 0
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    local dir; dir="$(abspath "$1")"
    find_bindir >/dev/null || { echo "not installed"; return 1; }
    setup_user
    if is_running "$dir"; then
        echo "running: pid $(head -n 1 "$dir/postmaster.pid"), postgresql://$PG_SUPERUSER@127.0.0.1:$(server_port "$dir")/$DB_NAME"
        return 0
    fi
    echo "stopped"
    return 1
}

main() {
    [[ $# -ge 1 ]] || usage
    local sub="$1"; shift
    case "$sub" in
        start)   cmd_start "$@" ;;
        stop)    cmd_stop "$@" ;;
        status)  cmd_status "$@" ;;
        install) [[ $# -eq 0 ]] || usage; ensure_installed; find_bindir ;;
        -h|--help|help) usage ;;
        *) echo "postgres.sh: unknown subcommand '$sub'" >&2; usage ;;
    esac
}

main "$@"
