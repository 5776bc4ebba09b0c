"""``fenghuo grafana sync`` against a local fake of Grafana's documented HTTP API, and the
dashboard JSON and provisioning files themselves (their SQL names only tables and columns that exist).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from fenghuo.cli.grafana_sync import (
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    DEFAULT_DASHBOARDS,
    GrafanaSyncError,
    datasource_payload,
    load_dashboards,
    sync,
)
from fenghuo.core.config import Rule
from fenghuo.core.levels import Level
from fenghuo.core.models import Alert, Risk, Status
from fenghuo.core.store.codec import alert_to_doc
from tests.grafana_fake import FakeGrafana, dashboard_problems
from tests.support import ROOT, free_port

TOKEN = "glsa_test_token"
PG_URL = "postgresql://grafana_reader:read%40only@db:5432/fenghuo"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    g = FakeGrafana(TOKEN)
    yield g
    g.close()


def test_sync_creates_datasource_folder_and_dashboards(grafana: FakeGrafana) -> None:
    report = sync(grafana.url, TOKEN, DEFAULT_DASHBOARDS, datasource_payload(PG_URL))
    assert grafana.violations == []
    assert (report.grafana_version, report.datasource, report.folder) == ("11.2.0", "created", "created")
    ds = grafana.datasources[DATASOURCE_UID]
    assert (ds["type"], ds["url"], ds["user"], ds["jsonData"]["database"]) == (DATASOURCE_TYPE, "db:5432",
                                                                                "grafana_reader", "fenghuo")
    assert ds["secureJsonFields"] == {"password": True}
    assert list(grafana.folders) == ["fenghuo"]
    uids = {d["uid"] for d in load_dashboards(DEFAULT_DASHBOARDS)}
    assert set(grafana.dashboards) == uids and "fenghuo-overview" in uids
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"fenghuo"}
    assert [d["status"] for d in report.dashboards] == ["success"] * len(uids)
    assert ("GET", "/api/health") in grafana.requests
    assert "dashboard fenghuo-overview" in str(report)


def test_second_sync_updates_and_does_not_duplicate(grafana: FakeGrafana) -> None:
    sync(grafana.url, TOKEN, DEFAULT_DASHBOARDS, datasource_payload(PG_URL))
    report = sync(grafana.url, TOKEN, DEFAULT_DASHBOARDS, datasource_payload(PG_URL))
    assert grafana.violations == []
    assert (report.datasource, report.folder) == ("updated", "exists")
    assert len(grafana.datasources) == 1 and len(grafana.folders) == 1
    assert len(grafana.dashboards) == len(load_dashboards(DEFAULT_DASHBOARDS))
    assert {d["version"] for d in grafana.dashboards.values()} == {2}
    assert grafana.datasources[DATASOURCE_UID]["version"] == 2
    assert grafana.requests.count(("POST", "/api/folders")) == 1
    assert grafana.requests.count(("POST", "/api/datasources")) == 1


def test_provisioned_datasource_is_left_alone(grafana: FakeGrafana) -> None:
    grafana.datasources[DATASOURCE_UID] = {"uid": DATASOURCE_UID, "id": 7, "name": "fenghuo", "readOnly": True,
                                           "type": DATASOURCE_TYPE, "version": 1}
    report = sync(grafana.url, TOKEN, DEFAULT_DASHBOARDS, datasource_payload(PG_URL))
    assert report.datasource.startswith("provisioned")
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") not in grafana.requests
    report = sync(grafana.url, TOKEN, DEFAULT_DASHBOARDS, None)  # no database URL: datasources untouched
    assert report.datasource == "exists" and report.warnings == []
    assert grafana.violations == []


def test_bad_token_gives_a_clear_error(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaSyncError) as err:
        sync(grafana.url, "glsa_wrong", DEFAULT_DASHBOARDS, datasource_payload(PG_URL))
    message = str(err.value)
    assert "refused the token (401)" in message and "service-account token" in message and "Editor" in message
    assert grafana.dashboards == {} and grafana.violations == []
    with pytest.raises(GrafanaSyncError, match="no token given"):
        sync(grafana.url, "", DEFAULT_DASHBOARDS)


def test_unreachable_grafana_and_bad_inputs() -> None:
    with pytest.raises(GrafanaSyncError, match="cannot reach Grafana .* check --url"):
        sync(f"http://127.0.0.1:{free_port()}", TOKEN, DEFAULT_DASHBOARDS, timeout=2)
    with pytest.raises(GrafanaSyncError, match="postgresql://user:password@host:5432/dbname"):
        datasource_payload("sqlite:///x.db")
    with pytest.raises(GrafanaSyncError, match="no dashboard JSON files"):
        load_dashboards(ROOT / "docs")


# -- the files themselves ------------------------------------------------------------------------------
def test_provisioning_files_match_the_dashboards() -> None:
    ds = yaml.safe_load((PROVISIONING / "datasources" / "fenghuo.yaml").read_text(encoding="utf-8"))
    (entry,) = ds["datasources"]
    assert (entry["uid"], entry["type"], entry["url"]) == (DATASOURCE_UID, DATASOURCE_TYPE, "${FENGHUO_PG_HOST}:5432")
    assert entry["jsonData"]["database"] == "${FENGHUO_PG_DB}" and "password" in entry["secureJsonData"]
    prov = yaml.safe_load((PROVISIONING / "dashboards" / "fenghuo.yaml").read_text(encoding="utf-8"))
    (provider,) = prov["providers"]
    assert (provider["type"], provider["folder"], provider["folderUid"]) == ("file", "fenghuo", "fenghuo")
    for dash in load_dashboards(DEFAULT_DASHBOARDS):
        body = {"dashboard": dash, "folderUid": "fenghuo", "overwrite": True}
        assert dashboard_problems(body, {DATASOURCE_UID}, {"fenghuo"}) == []


COLUMNS = {
    "alerts": {"id", "fingerprint", "status", "level", "risk", "feed", "grid", "drill", "created_at", "updated_at",
               "doc"},
    "events": {"seq", "id", "feed", "source", "ts", "grid", "lat", "lon", "metric", "value", "category", "text",
               "attrs", "drill", "received_at"},
    "events_1m": {"bucket", "grid", "metric", "feed", "n", "avg_value", "max_value"},
    "rules": {"id", "version", "body", "actor", "changed_at"},
}
KEYWORDS = {"select", "from", "where", "and", "or", "not", "is", "null", "as", "group", "by", "order", "desc", "asc",
            "limit", "case", "when", "then", "else", "end", "in", "distinct", "on", "cross", "join", "lateral",
            "values"}
FUNCTIONS = {"count": set(), "avg": set(), "sum": set(), "round": set(), "to_timestamp": set(),
             "json_each_text": {"key", "value"}}


def _sql_names(sql: str) -> tuple[set[str], set[str], list[tuple[str, str]]]:
    """(tables, unexplained identifiers, (column, json key) pairs) of one query."""
    json_keys = re.findall(r"(\w+)::json->>?'(\w+)'", sql)
    s = re.sub(r"'(?:[^']|'')*'", "''", sql)  # string literals
    s = re.sub(r"\$__\w+|\$\w+", " ", s)  # Grafana macros and template variables
    s = re.sub(r"::\s*\w+", " ", s)  # casts
    aliases = {a.lower() for a in re.findall(r"\bAS\s+([A-Za-z_]\w*)", s, re.I)}
    for cols in re.findall(r"\bAS\s+[A-Za-z_]\w*\s*\(([^)]*)\)", s, re.I):
        aliases |= {c.strip().lower() for c in cols.split(",")}
    tables = {t.lower() for t in re.findall(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)", s, re.I)} - {"lateral"}
    known = KEYWORDS | aliases | tables | set(FUNCTIONS) | set().union(*FUNCTIONS.values())
    known |= set().union(*(COLUMNS.get(t, set()) for t in tables))
    unexplained = {tok for tok in re.findall(r"[A-Za-z_]\w*", s) if tok.lower() not in known}
    return tables, unexplained, json_keys


def _queries() -> list[tuple[str, str]]:
    out = []
    for dash in load_dashboards(DEFAULT_DASHBOARDS):
        out += [(f"{dash['uid']}/{p['title']}/{t['refId']}", t["rawSql"]) for p in dash["panels"] for t in p["targets"]]
        out += [(f"{dash['uid']}/${v['name']}", v["query"]) for v in dash.get("templating", {}).get("list", [])]
    return out


def test_dashboard_sql_names_only_existing_tables_columns_and_keys() -> None:
    alert = Alert("A", "fp", Risk.SAFETY, "sensor", "G", "s", "s/m", "r", Level.RED, Status.OPEN, None, 0.0, 0.0)
    doc_keys = set(json.loads(alert_to_doc(alert)))
    rule_keys = set(Rule.model_fields)
    queries = _queries()
    assert len(queries) >= 8
    used: set[str] = set()
    for where, sql in queries:
        tables, unexplained, json_keys = _sql_names(sql)
        assert tables and tables <= set(COLUMNS), f"{where}: unknown tables {tables - set(COLUMNS)}"
        assert not unexplained, f"{where}: names that are no column of {sorted(tables)}: {sorted(unexplained)}"
        for column, key in json_keys:
            allowed: dict[str, Any] = {"doc": doc_keys, "body": rule_keys}
            assert key in allowed[column], f"{where}: {column} has no key {key!r}"
        used |= tables
    assert {"alerts", "events_1m"} <= used


def test_the_checker_catches_a_wrong_column() -> None:
    _, unexplained, _ = _sql_names("SELECT bucket, wrong_col FROM events_1m WHERE $__timeFilter(bucket)")
    assert unexplained == {"wrong_col"}


# -- the dashboard SQL on a real PostgreSQL (skipped without FENGHUO_TEST_PG_DSN) -----------------------
PG_DSN = os.environ.get("FENGHUO_TEST_PG_DSN")
SCHEMA_SQL = """
CREATE TABLE alerts (id text PRIMARY KEY, fingerprint text, status text, level int, risk text, feed text, grid text,
                     drill text, created_at double precision, updated_at double precision, doc text);
CREATE TABLE events (seq bigserial PRIMARY KEY, id text, feed text, source text, ts double precision, grid text,
                     lat double precision, lon double precision, metric text, value double precision, category text,
                     text text, attrs text, drill text, received_at double precision);
CREATE TABLE rules (id text, version int, body text, actor text, changed_at double precision);
CREATE VIEW events_1m AS
  SELECT date_trunc('minute', to_timestamp(ts)) AS bucket, grid, metric, feed, count(*) AS n,
         avg(value) AS avg_value, max(value) AS max_value
  FROM events GROUP BY 1, 2, 3, 4;
"""
def expand(sql: str) -> str:
    """Grafana's PostgreSQL macros and the dashboard's variables, as Grafana expands them (plain PostgreSQL:
    the datasource without ``timescaledb``; tests/contracts/grafana_support.py)."""
    from tests.contracts.grafana_support import Request

    day = Request(1_579_651_200.0, 1_579_737_600.0, timescaledb=False, interval="1m",  # 2020-01-22, a day
                  variables={"grid": ["G1", "G2"], "metric": ["water_level_m"]})
    return day.expand(sql)


@pytest.mark.skipif(not PG_DSN, reason="FENGHUO_TEST_PG_DSN is not set; start PostgreSQL with "
                    "scripts/services/postgres.sh start DIR PORT and export the DSN it prints")
def test_dashboard_sql_runs_on_postgresql() -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    t0 = 1_579_651_200.0 + 3600
    a = Alert("A1", "fp1", Risk.SAFETY, "sensor", "G1", "s", "s/water_level_m", "river", Level.ORANGE,
              Status.RESOLVED, None, t0, t0 + 900, acked_at=t0 + 120, resolved_at=t0 + 900, title_zh="一号网格")
    b = Alert("A2", "fp2", Risk.SAFETY, "sensor", "G2", "s", "s/water_level_m", "river", Level.RED, Status.OPEN,
              None, t0 + 60, t0 + 60)
    rule = Rule(id="river", metric="water_level_m", levels={"blue": 3, "yellow": 4, "orange": 5, "red": 6})
    schema = f"grafana_{os.getpid()}"
    conn = psycopg2.connect(PG_DSN, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema};" + SCHEMA_SQL)
            for x in (a, b):
                cur.execute("INSERT INTO alerts VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                            (x.id, x.fingerprint, str(x.status), int(x.level), str(x.risk), x.feed, x.grid, x.drill,
                             x.created_at, x.updated_at, alert_to_doc(x)))
            for i in range(30):
                cur.execute("INSERT INTO events (id, feed, source, ts, grid, metric, value, received_at) "
                            "VALUES (%s, 'sensor', 's', %s, %s, 'water_level_m', %s, %s)",
                            (f"e{i}", t0 + 20 * i, "G1" if i % 2 else "G2", 3.0 + i / 10, t0))
            cur.execute("INSERT INTO rules VALUES ('river', 1, %s, 'test', 0)", (rule.model_dump_json(),))
            results = {}
            for where, sql in _queries():
                cur.execute(expand(sql))
                results[where] = cur.fetchall()
            cur.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        conn.close()
    by_title = {w.split("/")[1] + "/" + w.split("/")[-1]: rows for w, rows in results.items()}
    assert by_title["MTTA 平均确认时长 (min)/A"] == [(2.0,)]
    assert by_title["MTTR 平均处置时长 (min)/A"] == [(15.0,)]
    assert by_title["Open alerts 未解除预警/A"] == [("red 红色", 1)]
    assert sum(r[2] for r in by_title["Events per feed 各类数据接入量/A"]) == 30
    assert {r[1] for r in by_title["Sensor series and thresholds 监测曲线与阈值/B"]} == {
        "river blue", "river yellow", "river orange", "river red"}
    assert all(rows for rows in results.values()), [w for w, rows in results.items() if not rows]
