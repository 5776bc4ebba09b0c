#!/usr/bin/env bash
# make test: start the real services the tests need, run the whole suite, stop them.
# One Ctrl-C (SIGINT) or a SIGTERM stops the tests and every process they started, stops PostgreSQL and
# Kafka and removes their temporary folder (exit 130 / 143). A busy port is named with the variable to set.
set -uo pipefail
set -m  # the tests run as a job of their own process group: a signal reaches all of them, and the trap runs
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHON=$PWD/$BIN/python

PG_PORT=${FENGHUO_TEST_PG_PORT:-55432}
TSDB_PORT=${FENGHUO_TEST_TSDB_PORT:-55433}  # the second PostgreSQL, with TimescaleDB preloaded
KAFKA_PORT=${FENGHUO_TEST_KAFKA_PORT:-59092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy=0
refuse() {  # PORT WHAT VARIABLE SUGGESTION
  echo "make test: port $1 ($2) is in use by another process: set $3 to a free port, e.g." \
       "$3=$4 make test (or stop that process: ss -ltnp | grep :$1)" >&2
  busy=1
}
port_busy "$PG_PORT" && refuse "$PG_PORT" "the test PostgreSQL" FENGHUO_TEST_PG_PORT $((PG_PORT + 100))
port_busy "$TSDB_PORT" && refuse "$TSDB_PORT" "the test PostgreSQL with TimescaleDB" FENGHUO_TEST_TSDB_PORT \
  $((TSDB_PORT + 100))
port_busy "$KAFKA_PORT" && refuse "$KAFKA_PORT" "the test Kafka" FENGHUO_TEST_KAFKA_PORT $((KAFKA_PORT + 100))
port_busy "$KAFKA_CONTROLLER_PORT" && refuse "$KAFKA_CONTROLLER_PORT" \
  "the test Kafka's controller, on FENGHUO_TEST_KAFKA_PORT + 1" FENGHUO_TEST_KAFKA_PORT $((KAFKA_PORT + 100))
[ $busy -eq 0 ] || exit 1

# Chromium and a Chinese font for the board's browser tests (Debian's packages; never a downloaded browser)
if { [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; } && command -v apt-get >/dev/null \
   && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium and fonts-wqy-microhei for the browser tests..." >&2
  pkgs="chromium fonts-wqy-microhei"
  (apt-get install -y -q $pkgs >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; }) \
    || echo "could not install chromium: the browser tests will be skipped" >&2
fi

# the services keep their state in a throwaway folder the postgres user can reach
SERVICES=$(mktemp -d /tmp/fenghuo-services.XXXXXX)
chmod 755 "$SERVICES"
KAFKA_CACHE=${FENGHUO_KAFKA_CACHE:-$HOME/.cache/fenghuo/kafka}
TESTS=""  # the pytest jobs' pids (= their process groups)
TESTS2=""
cleanup() {
  local job
  for job in $TESTS $TESTS2; do  # the tests and every process they started
    kill -0 "$job" 2>/dev/null && kill -INT -- "-$job" 2>/dev/null
  done
  for job in $TESTS $TESTS2; do
    for _ in $(seq 100); do kill -0 "$job" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$job" 2>/dev/null && { kill -TERM -- "-$job" 2>/dev/null; sleep 1; kill -KILL -- "-$job" 2>/dev/null; }
  done
  scripts/services/kafka.sh stop "$SERVICES/kafka" >/dev/null 2>&1 || true
  scripts/services/postgres.sh stop "$SERVICES/pg" >/dev/null 2>&1 || true
  scripts/services/postgres.sh stop "$SERVICES/tsdb" >/dev/null 2>&1 || true
  # a server's last writes can race the removal on a loaded machine ("Directory not empty"): try again
  for _ in 1 2 3 4 5 6 7 8 9 10; do rm -rf "$SERVICES" 2>/dev/null; [ -e "$SERVICES" ] || break; sleep 1; done
}
stop() {  # SIGINT / SIGTERM: stop everything once, then exit with the signal's code
  trap - INT TERM EXIT
  echo "make test: $1: stopping the tests, PostgreSQL and Kafka" >&2
  cleanup
  exit "$2"
}
trap cleanup EXIT
trap 'stop interrupted 130' INT
trap 'stop terminated 143' TERM

FENGHUO_TEST_PG_DSN=$(scripts/services/postgres.sh start "$SERVICES/pg" "$PG_PORT") || { echo "PostgreSQL did not start" >&2; exit 1; }
export FENGHUO_TEST_PG_DSN FENGHUO_TEST_PG_DATA=$SERVICES/pg
# TimescaleDB 2.28.3, built once from ../shared/vendor into ~/.cache/fenghuo/timescaledb, then a second server with
# it preloaded. Without it the tests of the timescaledb flavour fail (FENGHUO_TEST_TSDB_ERROR), they do not skip.
scripts/services/timescaledb.sh install 2>"$SERVICES/timescaledb.log"
tsdb_installed=$?
cat "$SERVICES/timescaledb.log" >&2
if [ $tsdb_installed -ne 0 ]; then
  export FENGHUO_TEST_TSDB_ERROR="scripts/services/timescaledb.sh install failed: $(tail -n 1 "$SERVICES/timescaledb.log")"
elif FENGHUO_TEST_TSDB_DSN=$(PG_PRELOAD=timescaledb scripts/services/postgres.sh start "$SERVICES/tsdb" "$TSDB_PORT"); then
  export FENGHUO_TEST_TSDB_DSN FENGHUO_TEST_TSDB_DATA=$SERVICES/tsdb
else
  export FENGHUO_TEST_TSDB_ERROR="the PostgreSQL server with TimescaleDB preloaded did not start on port $TSDB_PORT"
fi
[ -z "${FENGHUO_TEST_TSDB_ERROR:-}" ] || echo "make test: $FENGHUO_TEST_TSDB_ERROR: the timescaledb tests will fail" >&2
scripts/services/kafka.sh fetch "$KAFKA_CACHE" >&2 || { echo "could not fetch Apache Kafka" >&2; exit 1; }
FENGHUO_TEST_KAFKA=$(scripts/services/kafka.sh start "$KAFKA_CACHE" "$SERVICES/kafka" "$KAFKA_PORT") || { echo "Kafka did not start" >&2; exit 1; }
export FENGHUO_TEST_KAFKA FENGHUO_TEST_KAFKA_CACHE=$KAFKA_CACHE FENGHUO_TEST_KAFKA_DATA=$SERVICES/kafka

# Two pytest processes side by side (FENGHUO_TEST_WORKERS=1, or any argument, runs one): the tests of the shared
# Kafka broker (marker shared_kafka, tests/conftest.py) one after another in one process, as two of them stop or
# pause that broker; every other test in the other. The second one's output is kept in a file and shown after.
WORKERS=${FENGHUO_TEST_WORKERS:-2}
status2=0
if [ "$WORKERS" = 2 ] && [ $# -eq 0 ]; then
  KAFKA_LOG=$SERVICES/shared-kafka-tests.log
  echo "make test: the shared-Kafka tests run beside the others; their output follows at the end" >&2
  $BIN/python -m pytest --durations=10 -p no:cacheprovider -m shared_kafka >"$KAFKA_LOG" 2>&1 &
  TESTS2=$!
  $BIN/python -m pytest --durations=15 -m "not shared_kafka" &
  TESTS=$!
  wait "$TESTS"
  status=$?
  TESTS=""
  wait "$TESTS2"
  status2=$?
  TESTS2=""
  echo
  echo "======================== the shared-Kafka tests (pytest -m shared_kafka) ========================"
  cat "$KAFKA_LOG"
else
  $BIN/python -m pytest --durations=15 "$@" &
  TESTS=$!
  wait "$TESTS"
  status=$?
  TESTS=""
fi
if [ $status -eq 5 ] || [ $status2 -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
[ $status -ne 0 ] || status=$status2
$BIN/ruff check . || { echo "ruff found problems (make lint)" >&2; [ $status -ne 0 ] || status=1; }
exit $status
