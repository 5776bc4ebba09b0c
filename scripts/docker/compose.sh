#!/usr/bin/env bash
# The Docker Compose CLI (v2 line, github.com/docker/compose/v5), built from the Go module proxy once, cached,
# installed as a docker CLI plugin in a private DOCKER_CONFIG (the user's ~/.docker is not touched).
#
#   scripts/docker/compose.sh install   # build if not cached; print DOCKER_CONFIG=<dir with cli-plugins/>
#
# Debian's docker-compose 1.29 (the end-of-life Python v1) was not tried: users run `docker compose` (v2 and
# later, the Compose Specification), and this builds that CLI from a source reached here.
#
# Environment (all optional):
#   FENGHUO_DOCKER_CACHE   cache folder (default: ~/.cache/fenghuo/docker)
#   COMPOSE_VERSION        module version to build (default: v5.6.0, one the proxy serves that go1.26 builds)
set -euo pipefail

CACHE="${FENGHUO_DOCKER_CACHE:-$HOME/.cache/fenghuo/docker}"
VERSION="${COMPOSE_VERSION:-v5.6.0}"
DIR="$CACHE/compose/$VERSION"
CONFIG="$CACHE/config"

die() { echo "compose.sh: error: $*" >&2; exit 1; }
log() { echo "compose.sh: $*" >&2; }

build() {
    command -v go >/dev/null || die "go is needed to build the compose CLI (Go 1.26 here)."
    local t0=$SECONDS work="$DIR/src"
    rm -rf "$work" && mkdir -p "$work"
    log "building github.com/docker/compose/v5@$VERSION with $(go version | cut -d' ' -f3) (log $DIR/build.log)"
    printf 'module fenghuo.local/composebuild\n\ngo 1.24\n' >"$work/go.mod"
    if ! ( cd "$work" && export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" \
           && go get "github.com/docker/compose/v5@$VERSION" \
           && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$VERSION" \
                -o "$DIR/docker-compose.tmp" github.com/docker/compose/v5/cmd ) >"$DIR/build.log" 2>&1; then
        tail -n 20 "$DIR/build.log" >&2
        die "the compose build failed (see $DIR/build.log)"
    fi
    mv "$DIR/docker-compose.tmp" "$DIR/docker-compose"
    rm -rf "$work"
    log "built in $((SECONDS - t0)) s"
}

cmd_install() {
    mkdir -p "$DIR"
    [[ -x "$DIR/docker-compose" ]] || build
    mkdir -p "$CONFIG/cli-plugins"
    ln -sfn "$DIR/docker-compose" "$CONFIG/cli-plugins/docker-compose"
    DOCKER_CONFIG="$CONFIG" docker compose version >&2 || die "docker compose does not run from $CONFIG"
    echo "DOCKER_CONFIG=$CONFIG"
}

case "${1:-}" in
    install) cmd_install ;;
    *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
