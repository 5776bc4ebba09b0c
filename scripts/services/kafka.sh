#!/usr/bin/env bash
# Fetch / start / stop a real single-node Apache Kafka broker (KRaft mode) for fenghuo's tests.
#
#   scripts/services/kafka.sh fetch   CACHE_DIR                  # jars -> CACHE_DIR/libs (once)
#   scripts/services/kafka.sh start   CACHE_DIR DATA_DIR PORT    # format if needed, start, wait, print bootstrap
#   scripts/services/kafka.sh stop    DATA_DIR                   # SIGTERM, wait, then SIGKILL
#   scripts/services/kafka.sh restart CACHE_DIR DATA_DIR PORT    # stop + start, keeping the data
#   scripts/services/kafka.sh status  DATA_DIR                   # exit 0 if running, 1 if not
#
# The broker is one JVM acting as broker and controller, listening on
# 127.0.0.1:PORT (clients) and 127.0.0.1:CONTROLLER_PORT (KRaft controller,
# default PORT+1). Everything it writes goes to DATA_DIR: server.properties,
# the log dirs (DATA_DIR/kraft-logs), the broker log (DATA_DIR/logs/server.log)
# and its stdout/stderr (DATA_DIR/kafka.out).
#
# Environment (all optional):
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version to fetch (default below)
#   KAFKA_CONTROLLER_PORT  controller listener port (default PORT+1)
#   KAFKA_HEAP_OPTS        JVM heap options (default: -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to serve a round trip (default: 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait for a graceful stop before SIGKILL (default: 30)
#   JAVA                   java executable (default: $JAVA_HOME/bin/java, else java on PATH)
#   PYTHON                 python with kafka-python, for the readiness check
#                          (default: <repo>/.venv/bin/python, else python3)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
MAIN_CLASS=kafka.Kafka
STORAGE_TOOL=kafka.tools.StorageTool
READY_TOPIC=fenghuo-readiness-check

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/kafka-pom.xml"

die() { echo "kafka.sh: error: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

abspath() { local p="$1"; [[ "$p" = /* ]] || p="$PWD/$p"; echo "$p"; }

check_port() {
    if ! [[ "$1" =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then
        die "$2 must be a number 1-65535, got '$1'."
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

find_java() {
    local j="${JAVA:-}"
    if [[ -z "$j" && -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; fi
    [[ -n "$j" ]] || j="$(command -v java || true)"
    [[ -n "$j" && -x "$(command -v "$j" || echo "$j")" ]] \
        || die "no java found; install a JDK/JRE 17+ (apt-get install -y openjdk-17-jre-headless) or set JAVA/JAVA_HOME."
    local v
    v="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if ! [[ "${v%%.*}" =~ ^[0-9]+$ ]] || (( ${v%%.*} < 17 )); then die "Kafka $KAFKA_VERSION needs Java 17 or newer, but $j is Java '${v:-unknown}'; set JAVA_HOME to a newer JDK."; fi
    echo "$j"
}

find_python() {
    local p="${PYTHON:-}"
    if [[ -z "$p" && -x "$REPO_DIR/.venv/bin/python" ]]; then p="$REPO_DIR/.venv/bin/python"; fi
    [[ -n "$p" ]] || p="$(command -v python3 || true)"
    [[ -n "$p" ]] || die "no python found for the readiness check; set PYTHON to a python that has kafka-python."
    "$p" -c 'import kafka' 2>/dev/null \
        || die "$p cannot import kafka (kafka-python); install it (e.g. $REPO_DIR/.venv/bin/pip install kafka-python) or set PYTHON."
    echo "$p"
}

libs_ok() { # CACHE_DIR
    [[ -f "$1/libs/.complete-$KAFKA_VERSION" ]] && compgen -G "$1/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
}

# ------------------------------------------------------------------- fetch
cmd_fetch() {
    [[ $# -eq 1 ]] || usage
    local cache; cache="$(abspath "$1")"
    if libs_ok "$cache"; then
        log "Kafka $KAFKA_VERSION already fetched in $cache/libs"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found; install Maven (apt-get install -y maven) to fetch Kafka."
    [[ -f "$POM" ]] || die "missing $POM."
    find_java >/dev/null
    log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies via Maven into $cache/libs"
    local tmp="$cache/libs.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$cache"
    if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
        rm -rf "$tmp"
        die "Maven could not resolve Kafka $KAFKA_VERSION (output above); check access to Maven Central or try another KAFKA_VERSION."
    fi
    compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || { rm -rf "$tmp"; die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from the result."; }
    touch "$tmp/.complete-$KAFKA_VERSION"
    rm -rf "$cache/libs"
    mv "$tmp" "$cache/libs"
    log "fetched $(find "$cache/libs" -name '*.jar' | wc -l) jars ($(du -sh "$cache/libs" | cut -f1)) into $cache/libs"
}

# ------------------------------------------------------------ pid handling
read_pid() { # DATA_DIR -> pid of a live broker started from DATA_DIR, or nothing
    local f="$1/kafka.pid" pid
    [[ -f "$f" ]] || return 1
    pid="$(cat "$f" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against pid reuse: it must be our broker for this DATA_DIR.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/server.properties" || return 1
    echo "$pid"
}

alive() { # PID: running and not a zombie
    [[ -e "/proc/$1" ]] && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

# ------------------------------------------------------------------ config
write_config() { # DATA_DIR PORT CONTROLLER_PORT
    local data="$1" port="$2" cport="$3"
    mkdir -p "$data/kraft-logs" "$data/logs"
    cat >"$data/server.properties" <<EOF
# Written by scripts/services/kafka.sh: single-node KRaft test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/kraft-logs

auto.create.topics.enable=true
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

num.network.threads=2
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
    cat >"$data/log4j2.properties" <<EOF
# Written by scripts/services/kafka.sh
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $data/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

jvm_opts() { # DATA_DIR
    # shellcheck disable=SC2086
    echo $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true -Dkafka.logs.dir="$1/logs" \
        -Dlog4j2.configurationFile="$1/log4j2.properties"
}

# Round trip through the broker: produce one message, consume it with a
# consumer *group* (exercises the group coordinator and __consumer_offsets).
READY_PY='
import sys, time, uuid
from kafka import KafkaConsumer, KafkaProducer
bootstrap, topic, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
last = None
while time.time() < deadline:
    producer = consumer = None
    try:
        token = uuid.uuid4().hex.encode()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5,
                                 request_timeout_ms=10000, max_block_ms=10000)
        producer.send(topic, token).get(timeout=15)
        producer.flush()
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap,
                                 group_id="fenghuo-readiness-" + uuid.uuid4().hex[:8],
                                 auto_offset_reset="earliest", enable_auto_commit=True,
                                 consumer_timeout_ms=int(max(1.0, deadline - time.time()) * 1000))
        for msg in consumer:
            if msg.value == token:
                consumer.commit()
                sys.exit(0)
        last = "group consumer did not receive the message"
    except Exception as exc:  # broker still coming up
        last = repr(exc)
        time.sleep(0.5)
    finally:
        for c in (producer, consumer):
            try:
                c and c.close()
            except Exception:
                pass
print(last, file=sys.stderr)
sys.exit(1)
'

# ------------------------------------------------------------------- start
cmd_start() {
    [[ $# -eq 3 ]] || usage
    local cache data port cport java python pid
    cache="$(abspath "$1")"; data="$(abspath "$2")"; port="$3"
    check_port "$port" PORT
    cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
    check_port "$cport" KAFKA_CONTROLLER_PORT
    [[ "$cport" != "$port" ]] || die "the controller port must differ from PORT ($port)."
    libs_ok "$cache" || die "Kafka $KAFKA_VERSION is not fetched into $cache/libs; run: $0 fetch $cache"
    java="$(find_java)"
    python="$(find_python)"
    local t0=$SECONDS

    if pid="$(read_pid "$data")"; then
        grep -q "^listeners=PLAINTEXT://127.0.0.1:$port," "$data/server.properties" \
            || die "a broker from $data is already running (pid $pid) on another port; run: $0 stop $data"
        log "already running (pid $pid)"
    else
        port_open "$port" && die "port $port on 127.0.0.1 is already in use by another process; pick another PORT or stop it (ss -ltnp | grep :$port)."
        port_open "$cport" && die "controller port $cport on 127.0.0.1 is already in use; set KAFKA_CONTROLLER_PORT to a free port or stop that process."
        mkdir -p "$data"
        write_config "$data" "$port" "$cport"
        local cp="$cache/libs/*"
        # shellcheck disable=SC2046
        if [[ ! -f "$data/kraft-logs/meta.properties" ]]; then
            local cluster_id
            cluster_id="-"
            while [[ $cluster_id == -* ]]; do  # an id starting with "-" would be read as an option
                cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
            done
            log "formatting $data/kraft-logs (cluster id $cluster_id)"
            "$java" -Xmx256m -cp "$cp" -Dlog4j2.configurationFile="$data/log4j2.properties" \
                "$STORAGE_TOOL" format -t "$cluster_id" -c "$data/server.properties" >"$data/format.out" 2>&1 \
                || { cat "$data/format.out" >&2; die "formatting the storage dir failed (output above); remove $data and retry."; }
        fi
        log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport, log $data/logs/server.log)"
        # shellcheck disable=SC2046
        nohup setsid "$java" $(jvm_opts "$data") -cp "$cp" "$MAIN_CLASS" "$data/server.properties" \
            >"$data/kafka.out" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$data/kafka.pid"
    fi

    local deadline=$((t0 + KAFKA_START_TIMEOUT))
    until port_open "$port"; do
        # (not read_pid: right after the fork, before exec, the cmdline is still ours)
        if ! alive "$pid"; then
            tail -n 30 "$data/kafka.out" "$data/logs/server.log" >&2 2>/dev/null || true
            die "the broker exited during start-up (last lines above; see $data/kafka.out and $data/logs/server.log)."
        fi
        (( SECONDS < deadline )) || { cmd_stop "$data" || true; die "the broker did not open 127.0.0.1:$port within ${KAFKA_START_TIMEOUT}s; see $data/logs/server.log."; }
        sleep 0.2
    done
    log "port $port open after $((SECONDS - t0))s; checking a produce + group-consume round trip"
    local left=$((deadline - SECONDS)); (( left > 5 )) || left=5
    if ! "$python" -c "$READY_PY" "127.0.0.1:$port" "$READY_TOPIC" "$left" 2>"$data/ready.err"; then
        cat "$data/ready.err" >&2
        cmd_stop "$data" || true
        die "the broker listens on 127.0.0.1:$port but a produce + group-consume round trip failed within ${KAFKA_START_TIMEOUT}s (error above; see $data/logs/server.log). It was stopped."
    fi
    log "ready after $((SECONDS - t0))s"
    echo "127.0.0.1:$port"
}

# -------------------------------------------------------------------- stop
cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local data pid i
    data="$(abspath "$1")"
    if ! pid="$(read_pid "$data")"; then
        rm -f "$data/kafka.pid"
        log "not running ($data)"
        return 0
    fi
    log "stopping broker pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < KAFKA_STOP_TIMEOUT * 5; i++)); do
        alive "$pid" || break
        sleep 0.2
    done
    if alive "$pid"; then
        log "broker $pid did not stop within ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    fi
    alive "$pid" && die "broker $pid is still alive after SIGKILL."
    # Wait (briefly) for init to reap it, so no <defunct> entry is left either.
    for ((i = 0; i < 50; i++)); do [[ -e "/proc/$pid" ]] || break; sleep 0.1; done
    rm -f "$data/kafka.pid"
    log "stopped"
}

cmd_restart() {
    [[ $# -eq 3 ]] || usage
    cmd_stop "$2"
    cmd_start "$@"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    local data pid; data="$(abspath "$1")"
    if pid="$(read_pid "$data")"; then
        local port; port="$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\///p' "$data/server.properties")"
        if port_open "${port##*:}"; then
            echo "running: pid $pid, bootstrap $port"
        else
            echo "starting: pid $pid, $port not open yet"
        fi
        return 0
    fi
    echo "stopped"
    return 1
}

main() {
    [[ $# -ge 1 ]] || usage
    local sub="$1"; shift
    case "$sub" in
        fetch)   cmd_fetch "$@" ;;
        start)   cmd_start "$@" ;;
        stop)    cmd_stop "$@" ;;
        restart) cmd_restart "$@" ;;
        status)  cmd_status "$@" ;;
        -h|--help|help) usage ;;
        *) echo "kafka.sh: unknown subcommand '$sub'" >&2; usage ;;
    esac
}

main "$@"
