#!/usr/bin/env bash
# Build the stack's images locally from Debian's packages (no image registry is reachable here), cached.
#
#   DOCKER_HOST=unix://... scripts/docker/images.sh build   # build what is missing; print NAME=image lines
#   DOCKER_HOST=unix://... scripts/docker/images.sh tags    # print the NAME=image lines only (no build)
#
# Images (each tagged with a hash of its inputs, so a changed input builds a new one and an unchanged one is
# never built twice; the engine's data root is persistent, scripts/docker/engine.sh):
#   fenghuo-local/bookworm   debootstrap --variant=minbase bookworm + `docker import` (main, updates, security)
#   fenghuo-local/python     bookworm + Debian's python3, pip, build-essential, curl, and a wheelhouse of the
#                            project's dependencies (pip-downloaded on the host at the versions of .venv: pip
#                            cannot reach PyPI from inside a container here); PIP_NO_INDEX + PIP_FIND_LINKS
#                            point pip at it, so deploy/Dockerfile's `pip install .` installs offline
#   fenghuo-local/fenghuo    deploy/Dockerfile with BASE=fenghuo-local/python (the compose file's `build`)
#   fenghuo-local/kafka      bookworm + Debian's OpenJDK 17 + the Kafka jars of ~/.cache/fenghuo/kafka (KRaft)
#   fenghuo-local/timescaledb  bookworm + Debian's postgresql-15 + the TimescaleDB build of
#                            ~/.cache/fenghuo/timescaledb (scripts/services/timescaledb.sh, from ../shared/vendor)
# Printed: FENGHUO_IMAGE, FENGHUO_BASE_IMAGE, FENGHUO_KAFKA_IMAGE, FENGHUO_DB_IMAGE (the compose file's
# variables). Builds use `docker build --network host` (apt-get reaches Debian's mirror from there).
#
# Environment (all optional):
#   FENGHUO_DOCKER_CACHE    build contexts and the wheelhouse (default: ~/.cache/fenghuo/docker)
#   FENGHUO_KAFKA_CACHE     the kafka.sh cache (default: ~/.cache/fenghuo/kafka); KAFKA_VERSION (default 4.4.0)
#   DEBIAN_MIRROR           (default: http://deb.debian.org/debian)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${FENGHUO_DOCKER_CACHE:-$HOME/.cache/fenghuo/docker}"
KAFKA_CACHE="${FENGHUO_KAFKA_CACHE:-$HOME/.cache/fenghuo/kafka}"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
TSDB_STAGE="${FENGHUO_TIMESCALEDB_CACHE:-$HOME/.cache/fenghuo/timescaledb}/2.28.3-pg15/stage"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEPLOY="$REPO/deploy/docker"
PY="$REPO/.venv/bin/python"

die() { echo "images.sh: error: $*" >&2; exit 1; }
log() { echo "images.sh: $*" >&2; }

hash_of() { sha256sum | cut -c1-12; }                       # stdin -> short hash
files_hash() { (cd "$1" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z \
    | xargs -0 sha256sum) | hash_of; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
timed_build() { # TAG CONTEXT [docker build args...]
    local tag="$1" ctx="$2" t0=$SECONDS; shift 2
    log "building $tag"
    docker build --network host -q -t "$tag" "$@" "$ctx" >/dev/null || die "docker build of $tag failed"
    log "built $tag in $((SECONDS - t0)) s"
    rm -rf "$ctx"  # the context was a copy
}

# ---- tags: computed from the inputs, before any build
base_tag() { echo "fenghuo-local/bookworm:$(printf 'minbase bookworm %s %s' "$MIRROR" "$(sed -n '/^import_base()/,/^}/p' "$0")" | hash_of)"; }

# the versions of the project's runtime dependencies (their closure, no extras) that .venv has: its tests ran
# with them (a dev tool installed there changes nothing here)
CLOSURE_PY='
import importlib.metadata as md
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
seen, todo = {}, ["fenghuo"]
while todo:
    dist = md.distribution(todo.pop())
    name = canonicalize_name(dist.metadata["Name"])
    if name in seen:
        continue
    seen[name] = dist.version
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
print("\n".join(f"{n}=={v}" for n, v in sorted(seen.items()) if n != "fenghuo"))
'
constraints() { "$PY" -c "$CLOSURE_PY"; }
wheels_key() { { sed -n '/^\[build-system\]/,$p;/^dependencies/,/^\]/p' "$REPO/pyproject.toml"; constraints; } | hash_of; }
python_tag() { echo "fenghuo-local/python:$({ base_tag; wheels_key; cat "$DEPLOY/python/Dockerfile"; } | hash_of)"; }

app_sources=(pyproject.toml README.md setup.py fenghuo ingest detectors alerts api deploy/Dockerfile)
app_tag() {
    local h
    h="$({ python_tag; for s in "${app_sources[@]}"; do
        if [[ -d "$REPO/$s" ]]; then echo "$s $(files_hash "$REPO/$s")"; else sha256sum "$REPO/$s"; fi
    done; } | hash_of)"
    echo "fenghuo-local/fenghuo:$h"
}
kafka_tag() { echo "fenghuo-local/kafka:$KAFKA_VERSION-$({ base_tag; files_hash "$DEPLOY/kafka"; (cd "$KAFKA_CACHE/libs" && find . -type f -printf '%P %s\n' | sort); } | hash_of)"; }
tsdb_tag() { echo "fenghuo-local/timescaledb:2.28.3-pg15-$({ base_tag; files_hash "$DEPLOY/timescaledb"; cat "$TSDB_STAGE/../files.txt" 2>/dev/null; } | hash_of)"; }

# ---- builds
import_base() {
    local tag="$1" root="$CACHE/rootfs.$$" t0=$SECONDS
    command -v debootstrap >/dev/null || die "debootstrap is missing: scripts/docker/engine.sh install"
    rm -rf "$root"
    log "debootstrap --variant=minbase bookworm (log $CACHE/debootstrap.log)"
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { rm -rf "$root"; die "debootstrap failed (see $CACHE/debootstrap.log)"; }
    cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$tag" >/dev/null || { rm -rf "$root"; die "docker import failed"; }
    rm -rf "$root"
    log "imported $tag in $((SECONDS - t0)) s"
}

build_python() {
    local tag="$1" key ctx="$CACHE/ctx/python"
    key="$(wheels_key)"
    local wheels="$CACHE/wheels/$key"
    if [[ ! -f "$wheels/.complete" ]]; then
        [[ -x "$PY" ]] || die "$PY is missing: the wheelhouse is made with the project's venv (make install)."
        log "pip wheel of the project's dependencies into $wheels (versions of .venv)"
        rm -rf "$wheels.tmp" && mkdir -p "$wheels.tmp"
        constraints >"$wheels.tmp/constraints.txt"
        "$PY" -m pip wheel -q -w "$wheels.tmp" -c "$wheels.tmp/constraints.txt" "$REPO" "setuptools>=77" wheel \
            >"$CACHE/pip-wheel.log" 2>&1 || die "pip wheel failed (PyPI unreachable? see $CACHE/pip-wheel.log)"
        rm -f "$wheels.tmp"/fenghuo-*.whl "$wheels.tmp/constraints.txt"
        touch "$wheels.tmp/.complete"
        rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
        find "$CACHE/wheels" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} +  # older wheelhouses
    fi
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "$DEPLOY/python/Dockerfile" "$ctx/"
    cp -al "$wheels" "$ctx/wheels" 2>/dev/null || cp -a "$wheels" "$ctx/wheels"
    timed_build "$tag" "$ctx" --build-arg "BASE=$(base_tag)"
}

build_app() {
    local tag="$1" ctx="$CACHE/ctx/fenghuo" s
    # a context of the files deploy/Dockerfile copies (the repository root would send .venv and the data too)
    rm -rf "$ctx" && mkdir -p "$ctx/deploy"
    for s in "${app_sources[@]}"; do
        tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -c "$s" | tar -C "$ctx" -x
    done
    timed_build "$tag" "$ctx" -f "$ctx/deploy/Dockerfile" --build-arg "BASE=$(python_tag)"
}

build_kafka() {
    local tag="$1" ctx="$CACHE/ctx/kafka"
    [[ -f "$KAFKA_CACHE/libs/.complete-$KAFKA_VERSION" ]] || "$REPO/scripts/services/kafka.sh" fetch "$KAFKA_CACHE" >&2
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp -a "$DEPLOY/kafka/." "$ctx/"
    cp -al "$KAFKA_CACHE/libs" "$ctx/libs" 2>/dev/null || cp -a "$KAFKA_CACHE/libs" "$ctx/libs"
    timed_build "$tag" "$ctx" --build-arg "BASE=$(base_tag)"
}

build_tsdb() {
    local tag="$1" ctx="$CACHE/ctx/timescaledb"
    [[ -f "$TSDB_STAGE/../complete" ]] || "$REPO/scripts/services/timescaledb.sh" install >&2
    [[ -f "$TSDB_STAGE/../complete" ]] || die "no TimescaleDB build in $TSDB_STAGE"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp -a "$DEPLOY/timescaledb/." "$ctx/"
    cp -a "$TSDB_STAGE" "$ctx/stage"
    timed_build "$tag" "$ctx" --build-arg "BASE=$(base_tag)"
}

print_tags() {
    echo "FENGHUO_IMAGE=$(app_tag)"
    echo "FENGHUO_BASE_IMAGE=$(python_tag)"
    echo "FENGHUO_KAFKA_IMAGE=$(kafka_tag)"
    echo "FENGHUO_DB_IMAGE=$(tsdb_tag)"
}

cmd_build() {
    docker version >/dev/null 2>&1 || die "no Docker engine at ${DOCKER_HOST:-the default socket}: scripts/docker/engine.sh start DIR"
    mkdir -p "$CACHE"
    local t
    t="$(base_tag)"; have "$t" || import_base "$t"
    t="$(python_tag)"; have "$t" || build_python "$t"
    t="$(app_tag)"; have "$t" || build_app "$t"
    t="$(kafka_tag)"; have "$t" || build_kafka "$t"
    t="$(tsdb_tag)"; have "$t" || build_tsdb "$t"
    print_tags
}

case "${1:-}" in
    build) cmd_build ;;
    tags) print_tags ;;
    *) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
