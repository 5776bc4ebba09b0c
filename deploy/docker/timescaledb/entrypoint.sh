#!/bin/bash
# The official postgres image's start, for Debian's PostgreSQL 15: on an empty PGDATA, initdb with
# POSTGRES_USER/POSTGRES_PASSWORD (scram-sha-256 over TCP), create POSTGRES_DB; then run the server as postgres,
# listening on every address of the container, with the arguments given (`postgres -c ...`).
set -euo pipefail
[[ "${1:-}" == postgres ]] && shift
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
[[ -n "${POSTGRES_PASSWORD:-}" ]] || { echo "POSTGRES_PASSWORD is empty: set it" >&2; exit 1; }
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_pg() { runuser -u postgres -- "$@"; }
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    pw="$(mktemp)"; printf '%s' "$POSTGRES_PASSWORD" >"$pw"; chown postgres "$pw"
    as_pg initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    as_pg pg_ctl -D "$PGDATA" -o "-c listen_addresses='' $*" -w start >/dev/null
    if [[ "$POSTGRES_DB" != postgres ]]; then
        as_pg psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    as_pg pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
# setpriv execs (no parent left between the engine and the server): `docker stop`'s SIGINT reaches postgres
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
