"""PostgreSQL schema: versioned migrations, applied once each and recorded in ``schema_migrations``.

Migration 2 (events) has two flavours, chosen when it is applied:

* TimescaleDB installed and preloaded (:func:`timescale_flavour`): ``events`` is a hypertable on ``at``
  (timestamptz, written beside the float epoch ``ts``), ``events_1m`` a real-time continuous
  aggregate per minute, feed, grid and metric, with compression and retention policies.
* plain PostgreSQL: ``events`` is range-partitioned on ``ts`` (float epoch seconds) into monthly
  partitions that the store creates on demand (see :mod:`fenghuo.core.store.pg_events`) plus a DEFAULT
  partition, with a BRIN index on ``ts``; ``events_1m`` is a plain view with the same columns.

Idempotency of events by id: a UNIQUE constraint on a partitioned table (or a hypertable) must
include the partition key, so ``UNIQUE (id)`` on ``events`` is impossible and ``UNIQUE (id, ts)``
would let an id come back with another ``ts`` (SQLite's ``UNIQUE (id)`` would not). Ids therefore
live in their own narrow table ``event_ids (id PRIMARY KEY)`` (``COLLATE "C"``: byte comparisons,
no locale cost); ``add_events`` claims the ids there with ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` and COPYs only the claimed rows to ``events``. ``events.seq`` defaults to one sequence
``event_seq``, so COPY numbers rows in input order (global, monotonic; writers are serialised by an
advisory lock so a cursor over ``seq`` never skips a transaction that commits late).
"""

from __future__ import annotations

from collections.abc import Callable

from fenghuo.core.store.drill_sql import ddl as drill_ddl
from fenghuo.core.store.risk_sql import ddl as risk_ddl
from fenghuo.core.store.warning_sql import ddl as warning_ddl

# keys for pg_advisory_xact_lock(int, int): (namespace, key)
LOCK_NS = 0x46480000  # "FH"
LOCK_MIGRATE = 1
LOCK_EVENTS = 2
LOCK_RULES = 3  # with hashtext(rule id) as the second key
LOCK_SILENCES = 4  # silences' revisions
LOCK_DRILLS = 5  # drill runs' numbers per scenario

CORE = """
CREATE SEQUENCE event_seq AS bigint;
CREATE TABLE event_ids (id text COLLATE "C" PRIMARY KEY);
CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY, received_at float8 NOT NULL,
    idx integer NOT NULL, error text NOT NULL, record text NOT NULL
);
CREATE TABLE alerts (
    id text PRIMARY KEY, fingerprint text NOT NULL, status text NOT NULL, level integer NOT NULL,
    risk text NOT NULL, feed text NOT NULL, grid text NOT NULL, drill text,
    created_at float8 NOT NULL, updated_at float8 NOT NULL, doc text NOT NULL
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (fingerprint) WHERE status <> 'resolved';
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE TABLE rules (
    id text NOT NULL, version integer NOT NULL, body text, actor text NOT NULL, changed_at float8 NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE audit (
    id bigserial PRIMARY KEY, ts float8 NOT NULL, actor text NOT NULL,
    action text NOT NULL, target text NOT NULL, detail text NOT NULL
);
CREATE TABLE outbox (
    ord bigserial NOT NULL,
    id text PRIMARY KEY, alert_id text NOT NULL, channel text NOT NULL, responder text,
    kind text NOT NULL, tier integer NOT NULL, payload text NOT NULL, created_at float8 NOT NULL,
    status text NOT NULL, attempts integer NOT NULL, next_attempt_at float8 NOT NULL,
    last_error text, delivered_at float8
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_alert ON outbox (alert_id);
CREATE TABLE state (key text PRIMARY KEY, value bytea NOT NULL);
"""

_EVENT_COLUMNS = """
    seq bigint NOT NULL DEFAULT nextval('event_seq'),
    id text NOT NULL, feed text NOT NULL, source text NOT NULL, ts float8 NOT NULL, grid text NOT NULL,
    lat float8, lon float8, metric text, value float8, category text, text text, attrs text, drill text,
    received_at float8 NOT NULL"""

# every feed (complaints and opinions count too; their metric and values are NULL)
_AGG = "count(*) AS n, avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value FROM events"

# to_timestamp(floor(ts / 60) * 60) is UTC-aligned like time_bucket and independent of the session TimeZone
EVENTS_PARTITIONED = f"""
CREATE TABLE events ({_EVENT_COLUMNS}
) PARTITION BY RANGE (ts);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_seq ON events (seq);
CREATE INDEX events_series ON events (feed, grid, ts);
CREATE INDEX events_source ON events (source, metric, ts);
CREATE INDEX events_ts_brin ON events USING brin (ts);
CREATE VIEW events_1m AS
SELECT to_timestamp(floor(ts / 60) * 60) AS bucket, feed, grid, metric, {_AGG}
GROUP BY 1, 2, 3, 4;
"""

EVENTS_TIMESCALE = f"""
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE events ({_EVENT_COLUMNS},
    at timestamptz NOT NULL
);
SELECT create_hypertable('events', 'at', chunk_time_interval => INTERVAL '1 day');
CREATE INDEX events_seq ON events (seq);
CREATE INDEX events_series ON events (feed, grid, ts);
CREATE INDEX events_source ON events (source, metric, ts);
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'feed, grid',
                        timescaledb.compress_orderby = 'at, seq');
SELECT add_compression_policy('events', compress_created_before => INTERVAL '7 days');
SELECT add_retention_policy('events', drop_created_before => INTERVAL '400 days');
CREATE MATERIALIZED VIEW events_1m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', at) AS bucket, feed, grid, metric, {_AGG}
GROUP BY time_bucket(INTERVAL '1 minute', at), feed, grid, metric
WITH NO DATA;
SELECT add_continuous_aggregate_policy('events_1m', start_offset => NULL,
                                       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute');
"""
# The policies count from a chunk's creation (the events' arrival), not from the events' own times: replayed
# history (Storm Gloria, 2020) would otherwise be dropped and compressed by the jobs' first run after loading it.
# The minute view is refreshed over all time (start_offset NULL: only the ranges invalidated by new rows are
# recomputed), so a backfill of old events reaches it at the next run; it has no retention (one row per minute,
# feed, grid and metric; a retention by creation time is not offered for continuous aggregates).


def _events(timescale: bool) -> str:
    return EVENTS_TIMESCALE if timescale else EVENTS_PARTITIONED


# fenghuo.alerts.notify.priority: 2 x level, one less for a drill; pending rows get their alert's. The partial index
# serves due_notifications' order (priority desc, created_at, ord) and the pending count.
OUTBOX_PRIORITY = """
ALTER TABLE outbox ADD COLUMN priority integer NOT NULL DEFAULT 0;
UPDATE outbox o SET priority = 2 * a.level - (a.drill IS NOT NULL)::int FROM alerts a
WHERE a.id = o.alert_id AND o.status = 'pending';
DROP INDEX outbox_due;
CREATE INDEX outbox_next ON outbox (priority DESC, created_at, ord) WHERE status = 'pending';
"""

def chain_tables(timescale: bool) -> str:
    """The hash chains' tables (fenghuo/core/chain.py): the same DDL as SQLite's."""
    from fenghuo.core.store.chain_sql import TABLES_DDL

    return ";\n".join(TABLES_DDL) + ";"


# Ids are unique per source, so another source cannot squat a gauge's ids: event_ids is keyed by (source, id).
# Claimed ids get their event's source (old rows stay duplicates of themselves); ids whose events are gone
# (retention) are dropped with them.
EVENT_IDS_PER_SOURCE = """
ALTER TABLE event_ids ADD COLUMN source text COLLATE "C";
UPDATE event_ids k SET source = e.source FROM events e WHERE e.id = k.id;
DELETE FROM event_ids WHERE source IS NULL;
ALTER TABLE event_ids ALTER COLUMN source SET NOT NULL;
ALTER TABLE event_ids DROP CONSTRAINT event_ids_pkey;
ALTER TABLE event_ids ADD PRIMARY KEY (source, id);
"""


def event_ids_per_source(timescale: bool) -> str:
    return EVENT_IDS_PER_SOURCE


# silences, the latest version of each; rev orders every change (writers take LOCK_SILENCES)
SILENCES = """
CREATE TABLE silences (id text PRIMARY KEY, rev bigint NOT NULL UNIQUE, doc text NOT NULL);
"""


# incidents (fenghuo/alerts/incidents.py): the latest version of each, written with its alerts' step
INCIDENTS = """
CREATE TABLE incidents (id text PRIMARY KEY, status text NOT NULL, created_at float8 NOT NULL,
                        updated_at float8 NOT NULL, doc text NOT NULL);
CREATE INDEX incidents_status ON incidents (status, updated_at);
"""


# version n is MIGRATIONS[n - 1]; each takes "is TimescaleDB available" and returns its SQL script
MIGRATIONS: list[Callable[[bool], str]] = [
    lambda timescale: CORE,  # 1: everything but events
    _events,  # 2: events, in the flavour this server supports
    lambda timescale: OUTBOX_PRIORITY,  # 3: the outbox delivers by priority, then age
    chain_tables,  # 4: hash chains (the store chains the rows already there in the same transaction)
    event_ids_per_source,  # 5: an event id is unique per source
    lambda timescale: SILENCES,  # 6: silences (fenghuo/alerts/silences.py)
    lambda timescale: INCIDENTS,  # 7: incidents (fenghuo/alerts/incidents.py)
    lambda timescale: drill_ddl("float8"),  # 8: drill runs (fenghuo/drills), numbered per scenario
    lambda timescale: risk_ddl("float8", "bigserial"),  # 9: risk forecasts and watch notices (runtime/risk_job.py)
    lambda timescale: warning_ddl("float8"),  # 10: CAP warnings taken in (fenghuo/alerts/external.py)
]

SCHEMA_MIGRATIONS = ("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "applied_at float8 NOT NULL, flavour text NOT NULL DEFAULT '')")
TIMESCALE_AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
# CREATE EXTENSION timescaledb on a server that did not preload it ends the session (FATAL), so both are checked
TIMESCALE_PRELOADED = "SHOW shared_preload_libraries"


def timescale_flavour(available: bool, preload: str) -> tuple[bool, str]:
    """Whether migration 2 may make ``events`` a hypertable, and why (for the log): TimescaleDB must be
    installed (``pg_available_extensions``) and in ``shared_preload_libraries``.

    >>> timescale_flavour(True, "pg_stat_statements, 'timescaledb'")[0]
    True
    >>> timescale_flavour(True, "")[1].split(":")[0]
    'TimescaleDB is installed but not preloaded'
    >>> timescale_flavour(False, "timescaledb")[0]
    False
    """
    libraries = {name.strip().strip("'\"") for name in preload.split(",")}
    if available and "timescaledb" in libraries:
        return True, "TimescaleDB is installed and preloaded"
    if available:
        return False, ("TimescaleDB is installed but not preloaded: add shared_preload_libraries = 'timescaledb' "
                       "to postgresql.conf and restart the server to use it")
    return False, "TimescaleDB is not installed on this server (pg_available_extensions)"
