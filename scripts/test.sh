#!/usr/bin/env bash
# make test: start the real services the tests need, run the whole suite, stop them.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHON=$PWD/$BIN/python

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
cleanup() {
  scripts/services/kafka.sh stop "$SERVICES/kafka" >/dev/null 2>&1 || true
  scripts/services/postgres.sh stop "$SERVICES/pg" >/dev/null 2>&1 || true
  rm -rf "$SERVICES"
}
trap cleanup EXIT

PG_PORT=${FENGHUO_TEST_PG_PORT:-55432}
KAFKA_PORT=${FENGHUO_TEST_KAFKA_PORT:-59092}
FENGHUO_TEST_PG_DSN=$(scripts/services/postgres.sh start "$SERVICES/pg" "$PG_PORT") || { echo "PostgreSQL did not start" >&2; exit 1; }
export FENGHUO_TEST_PG_DSN FENGHUO_TEST_PG_DATA=$SERVICES/pg
scripts/services/kafka.sh fetch "$KAFKA_CACHE" >&2 || { echo "could not fetch Apache Kafka" >&2; exit 1; }
FENGHUO_TEST_KAFKA=$(scripts/services/kafka.sh start "$KAFKA_CACHE" "$SERVICES/kafka" "$KAFKA_PORT") || { echo "Kafka did not start" >&2; exit 1; }
export FENGHUO_TEST_KAFKA FENGHUO_TEST_KAFKA_CACHE=$KAFKA_CACHE FENGHUO_TEST_KAFKA_DATA=$SERVICES/kafka

$BIN/python -m pytest "$@"
status=$?
if [ $status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
$BIN/ruff check . || { echo "ruff found problems (make lint)" >&2; [ $status -ne 0 ] || status=1; }
exit $status
