"""Every panel and variable query of every dashboard in deploy/grafana/dashboards, run as Grafana runs it
(tests/contracts/grafana_support.py expands the template variables, ``$__interval`` and the macros) on a store of
each PostgreSQL flavour holding the demo data: Storm Gloria's river levels (January 2020) and the Boston blizzard's
311 complaints (January 2015) replayed through the embedded pipeline with the example configuration, some of the
flood's alerts then acknowledged and resolved. Each query must return rows, with the columns its panel reads: a
``time`` column in ascending order inside the dashboard's range, a ``metric`` column naming the series and numeric
values for the time-series panels; the named columns of the table and stat panels.

The ``timescaledb`` flavour is queried with the provisioned datasource (``timescaledb: true``: ``$__timeGroup``
becomes ``time_bucket``), the plain one with ``timescaledb: false``, as docs/grafana.md tells a plain PostgreSQL
deployment to set it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contracts.grafana_support import MacroError, Request, panel_interval
from tests.contracts.store_support import fresh_database, pg_params, run_job, server_dsn
from tests.support import ROOT

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "fenghuo.yaml"
EXAMPLE = ROOT / "fenghuo" / "demo" / "fenghuo.example.yaml"
FLOOD = (1579478400.0, 1579910400.0)  # 2020-01-20T00:00Z .. 2020-01-25T00:00Z: Storm Gloria
BLIZZARD = (1422230400.0, 1422576000.0)  # 2015-01-26T00:00Z .. 2015-01-30T00:00Z: the blizzard of 2015
# the columns each panel reads (its field overrides and transformations name them)
COLUMNS = {
    "Open alerts 未解除预警": ["level_name", "open"],
    "MTTA 平均确认时长 (min)": ["mtta_minutes"],
    "MTTR 平均处置时长 (min)": ["mttr_minutes"],
    "MTTA / MTTR by level 按级别": ["level_name", "alerts", "mtta_min", "mttr_min", "resolved_pct"],
    "Alerts raised by level 预警按级别": ["time", "metric", "value"],
    "Events per feed 各类数据接入量": ["time", "metric", "value"],
    "Sensor series and thresholds 监测曲线与阈值": ["time", "metric", "value"],
    "Open alerts 未解除预警列表": ["raised", "level_name", "grid", "risk", "feed", "status", "title", "id"],
}
NUMBER = (int, float, Decimal)


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS]


def queries() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard uid / panel title / refId, panel, target) of every panel query."""
    return [(f"{d['uid']}/{p['title']}/{t['refId']}", p, t) for d in dashboards() for p in d["panels"]
            for t in p.get("targets", [])]


# -- the demo data in a store of each flavour -------------------------------------------------------------------
@pytest.fixture(scope="module", params=pg_params())
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """(flavour, autocommit connection) to a database holding the flood and the blizzard."""
    import psycopg2

    flavour = str(request.param)
    with fresh_database(server_dsn(flavour)) as dsn:
        replay(dsn, tmp_path_factory.mktemp(f"grafana-{flavour}"))
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        try:
            if flavour == "timescaledb":
                run_job(conn, "policy_refresh_continuous_aggregate")  # what its schedule does within a minute
            yield flavour, conn
        finally:
            conn.close()


def replay(dsn: str, tmp: Path) -> None:
    """The demo files through the embedded pipeline (event clock: alerts at the data's times); then the first two
    flood alerts acknowledged 5 and 12 minutes after they were raised, the first resolved 40 minutes after."""
    from fenghuo.core.config import load_config
    from fenghuo.core.settings import Settings
    from fenghuo.core.store.postgres import PostgresStore
    from fenghuo.demo import demo_files
    from fenghuo.ingest.adapters import read_records
    from fenghuo.runtime.embedded import Pipeline

    os.environ.setdefault("FENGHUO_WEBHOOK_SECRET", "grafana-test-secret")
    store = PostgresStore(dsn)
    p = Pipeline(Settings(data_dir=tmp, clock="event"), load_config(EXAMPLE), store,  # type: ignore[call-arg]
                 notifiers={})  # decided, not sent
    try:
        p.recover()
        records = sorted((r for path, fmt in demo_files() for r in read_records(path, fmt=fmt)), key=lambda r: r["ts"])
        for i in range(0, len(records), 200):  # in time order: the blizzard (2015), then the flood (2020)
            p.ingest(records[i:i + 200])
            with p.lock:
                p.alerts.tick(p.clocks.domains())
        flood = sorted((a for a in store.all_alerts(drill=False) if FLOOD[0] <= a.created_at < FLOOD[1]),
                       key=lambda a: a.created_at)
        assert len(flood) >= 2, "the flood raised no alerts: nothing for the alert panels to show"
        for a, ack_after in zip(flood[:2], (300.0, 720.0), strict=True):
            acked = store.get_alert(a.id)
            assert acked is not None
            acked.acked_at = a.created_at + ack_after
            store.save_alerts([acked], [])
        first = store.get_alert(flood[0].id)
        assert first is not None
        first.status, first.resolved_at = "resolved", flood[0].created_at + 2400  # type: ignore[assignment]
        store.save_alerts([first], [])
    finally:
        store.close()


def run(conn: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return [c.name for c in cur.description], cur.fetchall()


def request_for(conn: Any, flavour: str, start: float, end: float) -> Request:
    """The panel request of that range, the variables at their defaults (All: every value their query gives)."""
    req = Request(start, end, timescaledb=flavour == "timescaledb")
    for dash in dashboards():
        for var in dash.get("templating", {}).get("list", []):
            _, rows = run(conn, req.expand(var["query"]))
            current = var.get("current", {}).get("value")
            chosen = [str(r[0]) for r in rows] if current in ("$__all", ["$__all"]) else list(current or [])
            req.variables[var["name"]] = chosen
    return req


# -- the files ------------------------------------------------------------------------------------------------
def test_every_panel_query_is_one_the_checks_below_know() -> None:
    found = {title for _, panel, _ in [(w, p, t) for w, p, t in queries()] for title in [panel["title"]]}
    assert found == set(COLUMNS), "a panel was added or renamed: say which columns it reads in COLUMNS"


def test_the_provisioned_datasource_is_the_timescaledb_one_compose_runs() -> None:
    (ds,) = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"]
    assert ds["jsonData"]["timescaledb"] is True  # time_bucket in $__timeGroup: docker-compose runs TimescaleDB
    assert ds["jsonData"]["timeInterval"] == "1m"  # the minute view's step: $__interval never goes below it
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    image = compose["services"]["db"]["image"]  # ${FENGHUO_DB_IMAGE:-default}: the default is what users run
    default = image.split(":-", 1)[1].rstrip("}") if image.startswith("${") else image
    assert default.startswith("timescale/timescaledb:2.")  # a pinned 2.x, as tested


def test_grafana_would_expand_every_query_without_a_macro_error() -> None:
    for flavour in (True, False):
        req = Request(*FLOOD, timescaledb=flavour, variables={"grid": ["G"], "metric": ["m"]})
        for where, _, target in queries():
            try:
                req.expand(target["rawSql"])
            except MacroError as exc:  # e.g. $__timeFilter(to_timestamp(x)): Grafana's regex stops at the first ")"
                pytest.fail(f"{where}: {exc}")


def test_the_expansion_follows_grafana() -> None:
    req = Request(1579478400.0, 1579478400.0 + 7 * 86400, timescaledb=True, variables={"grid": ["G-1", "O'x"]})
    assert req.expand("WHERE $__timeFilter(bucket) AND grid IN ($grid)") == (
        "WHERE bucket BETWEEN '2020-01-20T00:00:00Z' AND '2020-01-27T00:00:00Z' AND grid IN ('G-1','O''x')")
    assert req.expand("SELECT $__timeGroupAlias(bucket, $__interval)") == (
        "SELECT time_bucket('600.000s',bucket) AS \"time\"")  # 7 days / 1000 points: 10 minutes
    req.timescaledb = False
    assert req.expand("SELECT $__timeGroup(bucket, '5m'), 1") == (
        "SELECT floor(extract(epoch from bucket)/300)*300 AS \"time\", 1")  # the pre-5.3 form: a comma follows
    assert req.expand("$__unixEpochGroupAlias(created_at, 1h) $__unixEpochFilter(created_at)") == (
        'floor((created_at)/3600)*3600 AS "time" created_at >= 1579478400 AND created_at <= 1580083200')
    assert req.expand("$__timeFilter(to_timestamp(created_at))") == (  # what Grafana does with nested parentheses
        "to_timestamp(created_at BETWEEN '2020-01-20T00:00:00Z' AND '2020-01-27T00:00:00Z')")
    with pytest.raises(MacroError, match="needs time column and interval"):
        req.expand("$__timeGroupAlias(to_timestamp(created_at), $__interval)")
    assert [panel_interval(0, d) for d in (3600, 86400, 7 * 86400, 30 * 86400)] == ["1m", "1m", "10m", "30m"]


# -- the queries on the data ----------------------------------------------------------------------------------
@pytest.mark.parametrize("window", ["flood", "blizzard"])
def test_every_panel_returns_the_columns_it_reads(loaded: tuple[str, Any], window: str) -> None:
    flavour, conn = loaded
    start, end = FLOOD if window == "flood" else BLIZZARD
    req = request_for(conn, flavour, start, end)
    assert req.variables["grid"] and req.variables["metric"] == ["water_level_m"]
    empty = []
    for where, panel, target in queries():
        columns, rows = run(conn, req.expand(target["rawSql"]))
        assert columns == COLUMNS[panel["title"]], where
        if all(v is None for r in rows for v in r):  # no rows, or an aggregate over none (a NULL): "No data"
            empty.append(where)
            continue
        if target["format"] == "time_series":
            times = [r[0] if isinstance(r[0], NUMBER) else r[0].timestamp() for r in rows]
            assert times == sorted(times), f"{where}: Grafana needs the rows in time order"
            assert all(start <= float(t) <= end for t in times), f"{where}: a time outside the range"
            assert all(isinstance(r[1], str) for r in rows), f"{where}: metric names the series"
            assert all(isinstance(r[2], NUMBER) for r in rows), f"{where}: numeric values"
        elif panel["type"] == "stat":
            assert all(isinstance(r[-1], NUMBER) for r in rows), f"{where}: a stat shows a number"
    if window == "flood":
        assert empty == [], f"no rows over Storm Gloria: {empty}"
    else:  # the blizzard has complaints and (bursts) alerts, no river level
        assert "fenghuo-overview/Events per feed 各类数据接入量/A" not in empty
        assert {w for w in empty} <= {w for w, p, _ in queries() if p["title"].startswith(("MTT", "Sensor"))}


def test_the_panels_show_what_happened(loaded: tuple[str, Any]) -> None:
    """The figures an operator reads over Storm Gloria: the events per feed add up to the readings stored that
    week, and MTTA is the mean of the two acknowledgements (5 and 12 minutes), MTTR the one resolution (40)."""
    flavour, conn = loaded
    req = request_for(conn, flavour, *FLOOD)
    sql = {panel["title"] + "/" + t["refId"]: t["rawSql"] for _, panel, t in queries()}
    _, rows = run(conn, req.expand(sql["Events per feed 各类数据接入量/A"]))
    _, (stored,) = run(conn, f"SELECT count(*) FROM events WHERE ts >= {FLOOD[0]} AND ts <= {FLOOD[1]}")
    assert sum(r[2] for r in rows) == stored[0] > 5000
    _, mtta = run(conn, req.expand(sql["MTTA 平均确认时长 (min)/A"]))
    _, mttr = run(conn, req.expand(sql["MTTR 平均处置时长 (min)/A"]))
    assert [round(float(mtta[0][0]), 6), round(float(mttr[0][0]), 6)] == [8.5, 40.0]
