#!/usr/bin/env bash
# A private Docker engine for fenghuo's compose test: Debian's docker.io (dockerd 20.10), root only.
#
#   scripts/docker/engine.sh install                 # apt-get install docker.io debootstrap (only when missing)
#   scripts/docker/engine.sh start STATE_DIR [OWNER_PID]   # start dockerd, print DOCKER_HOST=unix://...
#   scripts/docker/engine.sh stop  STATE_DIR         # remove every container, volume and network, stop dockerd
#   scripts/docker/engine.sh status STATE_DIR        # exit 0 if running, 1 if not
#
# The engine runs with `--iptables=false --ip-masq=false --bridge=none`: it touches no firewall rule and makes
# no docker0; compose's own bridge network (a user-defined bridge, no NAT, no route out) and published ports on
# 127.0.0.1 (docker-proxy) work. Its socket, pid file and exec root go to STATE_DIR (a temporary folder of
# the caller, removed by `stop`); its data root is persistent, in FENGHUO_DOCKER_CACHE/data-DRIVER, so images
# built once (scripts/docker/images.sh) survive between runs. One engine per data root (a lock says so).
# The storage driver is overlay2 when the kernel takes it, else vfs (slow, a full copy per layer).
# With OWNER_PID, a watcher stops the engine (as `stop` does) when that process is gone, even after SIGKILL,
# and removes STATE_DIR.
#
# Environment (all optional):
#   FENGHUO_DOCKER_CACHE    cache folder (default: ~/.cache/fenghuo/docker)
#   FENGHUO_DOCKER_STORAGE  storage driver: overlay2, vfs, or auto (default: auto = overlay2, else vfs)
#   DOCKERD_START_TIMEOUT   seconds to wait for the API (default: 60)
set -euo pipefail

CACHE="${FENGHUO_DOCKER_CACHE:-$HOME/.cache/fenghuo/docker}"
STORAGE="${FENGHUO_DOCKER_STORAGE:-auto}"
START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

die() { echo "engine.sh: error: $*" >&2; exit 1; }
log() { echo "engine.sh: $*" >&2; }
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
abspath() { local p="$1"; [[ "$p" = /* ]] || p="$PWD/$p"; echo "$p"; }

cmd_install() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ "$(id -u)" -eq 0 ]] || die "${missing[*]} missing and we are not root (dockerd needs root): apt-get install -y ${missing[*]}"
    command -v apt-get >/dev/null || die "${missing[*]} missing and apt-get is not here."
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get update -q >&2 || die "apt-get update failed; check access to the Debian package mirror."
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed."
    fi
    # the package enables docker.service/docker.socket; with no systemd running, nothing starts
}

sock_of() { echo "$1/docker.sock"; }

running() { # STATE_DIR
    local pid
    pid="$(cat "$1/launch.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/exec"
}

try_start() { # STATE_DIR DRIVER -> 0 when the API answers
    local state="$1" driver="$2" data="$CACHE/data-$2" pid i
    mkdir -p "$data" "$state/exec"
    exec 9>"$data.lock"
    flock -n 9 || die "another engine uses $data (a compose test running?); stop it first: $0 stop ITS_STATE_DIR"
    log "starting dockerd ($driver, data root $data, socket $(sock_of "$state"), log $state/dockerd.log)"
    # setsid: its own session, so a Ctrl-C meant for the caller does not reach it half-way through a command;
    # the lock's descriptor 9 goes with it (held while it runs), the stop of the owner watcher ends it
    setsid dockerd --storage-driver="$driver" --iptables=false --ip-masq=false --bridge=none \
        --data-root "$data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
        -H "unix://$(sock_of "$state")" --log-level warn >"$state/dockerd.log" 2>&1 </dev/null &
    pid=$!
    exec 9>&-
    echo "$pid" >"$state/launch.pid"  # (not --pidfile's file: dockerd refuses a pid file naming a live process)
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if DOCKER_HOST="unix://$(sock_of "$state")" docker version >/dev/null 2>&1; then
            echo "$driver" >"$state/driver"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    tail -n 5 "$state/dockerd.log" >&2
    return 1
}

cmd_start() {
    [[ $# -ge 1 && $# -le 2 ]] || usage
    local state owner="${2:-}"
    state="$(abspath "$1")"
    [[ "$(id -u)" -eq 0 ]] || die "dockerd needs root (we are uid $(id -u))."
    command -v dockerd >/dev/null || die "dockerd is not installed: $0 install"
    command -v docker >/dev/null || die "no docker client on PATH."
    (( ${#state} < 80 )) || die "STATE_DIR $state is too long for a unix socket path; use a short one (e.g. mktemp -d /tmp/fhd.XXXX)."
    mkdir -p "$state"
    if running "$state"; then
        log "already running"
    else
        local drivers=("$STORAGE")
        [[ "$STORAGE" == auto ]] && drivers=(overlay2 vfs)
        local ok=""
        for d in "${drivers[@]}"; do
            if try_start "$state" "$d"; then ok=1; break; fi
            log "dockerd did not start with the $d storage driver"
        done
        [[ -n "$ok" ]] || die "dockerd did not start (see $state/dockerd.log)."
    fi
    if [[ -n "$owner" ]]; then
        # the watcher: when the owner is gone (ended, killed, Ctrl-C), stop the engine; its own session too
        setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -e "$3/launch.pid" ]]; do sleep 1; done
                        [[ -e "$3/launch.pid" ]] && "$2" stop "$3" && rm -rf "$3"' _ "$owner" "$SELF" "$state" \
            >>"$state/watcher.log" 2>&1 </dev/null &
        echo $! >"$state/watcher.pid"
    fi
    log "running: dockerd $(docker -H "unix://$(sock_of "$state")" version -f '{{.Server.Version}} (API {{.Server.APIVersion}})'), $(cat "$state/driver") storage"
    echo "DOCKER_HOST=unix://$(sock_of "$state")"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local state pid i
    state="$(abspath "$1")"
    pid="$(cat "$state/launch.pid" 2>/dev/null || true)"
    if running "$state"; then
        export DOCKER_HOST="unix://$(sock_of "$state")"
        # a private engine: whatever it runs is ours (images stay: they are the cache)
        local ids
        ids="$(docker ps -aq 2>/dev/null || true)"
        [[ -z "$ids" ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
        docker network prune -f >/dev/null 2>&1 || true
        docker volume prune -f >/dev/null 2>&1 || true
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd $pid did not stop within 30 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # the engine's exec root holds its (unmounted by now) runtime state; the folder is the caller's temp dir
    local m
    for m in $(awk -v p="$state/exec/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true   # e.g. exec/netns/default
    done
    rm -f "$state/launch.pid"
    rm -rf "$state/exec" "$state/docker.sock"
    log "stopped"
}

main() {
    [[ $# -ge 1 ]] || usage
    local sub="$1"; shift
    case "$sub" in
        install) cmd_install ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) if running "$(abspath "$1")"; then echo running; else echo stopped; exit 1; fi ;;
        -h|--help|help) usage ;;
        *) echo "engine.sh: unknown subcommand '$sub'" >&2; usage ;;
    esac
}

main "$@"
