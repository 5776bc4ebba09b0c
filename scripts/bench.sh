#!/usr/bin/env bash
# make bench: every benchmark that prints figures (none of them asserts anything).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHON=$PWD/$BIN/python
SERVICES=$(mktemp -d /tmp/fenghuo-bench.XXXXXX)
chmod 755 "$SERVICES"
trap 'scripts/services/postgres.sh stop "$SERVICES/pg" >/dev/null 2>&1
      scripts/services/postgres.sh stop "$SERVICES/tsdb" >/dev/null 2>&1
      scripts/services/kafka.sh stop "$SERVICES/kafka" >/dev/null 2>&1; rm -rf "$SERVICES"' EXIT

echo "== embedded pipeline"
$BIN/python -m benchmarks.embedded
echo "== throughput side by side (issue 19, item 4): plain kafka-python consumer, batched worker (rules, then models),"
echo "   per-event agent on one topic of real events; embedded with and without models; ratios to the targets (~5 min)"
KAFKA_CACHE=${FENGHUO_KAFKA_CACHE:-$HOME/.cache/fenghuo/kafka}
if scripts/services/kafka.sh fetch "$KAFKA_CACHE" >&2 \
   && KAFKA=$(scripts/services/kafka.sh start "$KAFKA_CACHE" "$SERVICES/kafka" "${FENGHUO_BENCH_KAFKA_PORT:-59492}"); then
  $BIN/python -W ignore::DeprecationWarning -m benchmarks.throughput --bootstrap "$KAFKA"
  scripts/services/kafka.sh stop "$SERVICES/kafka" >/dev/null 2>&1
else
  echo "Kafka did not start (port FENGHUO_BENCH_KAFKA_PORT, default 59492, and +1): the embedded part only"
  $BIN/python -m benchmarks.throughput
fi
echo "== each detector alone"
$BIN/python -m benchmarks.detectors_speed
if [ -f benchmarks/bursts_boston.py ]; then echo "== complaint bursts on Boston 311"; $BIN/python -m benchmarks.bursts_boston; fi
echo "== per-grid risk forecast: rolling-origin backtest on Boston 311 against two baselines (issue 17, about a minute)"
$BIN/python -m benchmarks.risk_boston
echo "== delivery: outbox to a local webhook receiver (deliveries/s, red behind 10,000 blues)"
$BIN/python -m benchmarks.delivery
echo "== Kafka worker: state read and write per grid batch (versioned msgpack; the previous release pickled)"
$BIN/python -m benchmarks.state_codec
echo "== capacity: a 1/1000 synthetic day of a 20-million city through one detector worker's batch path (about 2 minutes)"
$BIN/python -m benchmarks.capacity
echo "== threshold backtests (vectorised)"
$BIN/python -m benchmarks.backtest_bench
echo "== one table per feed: complaints, sensors, text (issue 12, item 8; about 4 minutes)"
$BIN/python -m benchmarks.feeds
echo "== PostgreSQL COPY ingest"
DSN=$(scripts/services/postgres.sh start "$SERVICES/pg" "${FENGHUO_BENCH_PG_PORT:-55442}") && $BIN/python -m benchmarks.store_copy --dsn "$DSN"
echo "== TimescaleDB against plain partitions: COPY, aggregates through events_1m, compression (a few minutes)"
if scripts/services/timescaledb.sh install >&2 \
   && TSDB=$(PG_PRELOAD=timescaledb scripts/services/postgres.sh start "$SERVICES/tsdb" "${FENGHUO_BENCH_TSDB_PORT:-55443}") \
   && [ -n "${DSN:-}" ]; then
  $BIN/python -m benchmarks.timescale --plain-dsn "$DSN" --tsdb-dsn "$TSDB"
else
  echo "skipped: no TimescaleDB server (scripts/services/timescaledb.sh install or the plain PostgreSQL failed, above)"
fi
