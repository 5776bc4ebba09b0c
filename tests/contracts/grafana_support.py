"""Grafana's PostgreSQL datasource, the part that turns a panel's raw SQL into the SQL the database runs, rewritten
from Grafana's source (pkg/tsdb/grafana-postgresql-datasource/macros.go and sqleng's ``Interpolate``) so that the
dashboards' queries can be run in tests exactly as Grafana would send them:

1. the dashboard's template variables (``$grid``, ``${grid}``, ``[[grid]]``): a multi-value variable becomes its
   values single-quoted and comma-separated (SQL datasources quote each value, doubling quotes inside it);
2. ``$__interval_ms``, ``$__interval`` (the panel's interval: time range / max data points, rounded as Grafana
   rounds it, never under the datasource's ``timeInterval``), ``$__unixEpochFrom()``, ``$__unixEpochTo()``;
3. the macros, found with Grafana's own regular expression ``\\$(\\w+)\\(([^)]*)\\)``, so an argument holding a
   parenthesis breaks here as it breaks in Grafana (``$__timeFilter(to_timestamp(x))`` is expanded inside
   ``to_timestamp(``): ``$__time``, ``$__timeEpoch``, ``$__timeFilter``, ``$__timeFrom``, ``$__timeTo``,
   ``$__timeGroup`` (``time_bucket('Ns', col)`` when the datasource has ``timescaledb: true``, else
   ``floor(extract(epoch from col)/N)*N``), ``$__timeGroupAlias``, ``$__unixEpochFilter``,
   ``$__unixEpochGroup``, ``$__unixEpochGroupAlias``; an unknown macro is an error, as in Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")  # Grafana's sExpr
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Grafana's rangeutil.roundInterval: (upper bound of the raw interval in ms, the interval it becomes)
_ROUND = [(10, "1ms"), (15, "10ms"), (35, "20ms"), (75, "50ms"), (150, "100ms"), (350, "200ms"), (750, "500ms"),
          (1500, "1s"), (3500, "2s"), (7500, "5s"), (12500, "10s"), (17500, "15s"), (25000, "20s"), (45000, "30s"),
          (90000, "1m"), (210000, "2m"), (450000, "5m"), (750000, "10m"), (1050000, "15m"), (1500000, "20m"),
          (2700000, "30m"), (5400000, "1h"), (9000000, "2h"), (16200000, "3h"), (24300000, "6h"),
          (54000000, "12h"), (129600000, "1d"), (604800000, "7d")]


class MacroError(ValueError):
    """Grafana would refuse the query (its panel shows this error)."""


def seconds(interval: str) -> float:
    """``gtime.ParseInterval`` for the forms dashboards use: ``30s``, ``5m``, ``1h``, ``1d``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", interval.strip())
    if not m:
        raise MacroError(f"error parsing interval {interval}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def panel_interval(start: float, end: float, max_data_points: int = 1000, min_interval: str = "1m") -> str:
    """The ``$__interval`` Grafana gives a panel: the range over its data points, rounded, at least the
    datasource's ``timeInterval``."""
    raw_ms = (end - start) * 1000 / max_data_points
    text = next((t for bound, t in _ROUND if raw_ms <= bound), "7d")
    return text if seconds(text) >= seconds(min_interval) else min_interval


def _rfc3339(ts: float) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC time (no trailing zeros in the fraction, ``Z``)."""
    dt = datetime.fromtimestamp(ts, UTC)
    frac = f"{dt.microsecond:06d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _num(x: float) -> str:
    """Go's ``%v`` of a float64 (``300``, ``0.5``)."""
    return repr(int(x)) if x == int(x) else repr(x)


@dataclass
class Request:
    """One panel query as Grafana's backend receives it."""

    start: float  # epoch seconds
    end: float
    timescaledb: bool  # the datasource's jsonData.timescaledb
    variables: dict[str, list[str]] = field(default_factory=dict)  # current values of the dashboard's variables
    interval: str = ""  # $__interval; "" = what Grafana computes for the range

    def expand(self, sql: str) -> str:
        interval = self.interval or panel_interval(self.start, self.end)
        sql = self._variables(sql)
        sql = sql.replace("$__interval_ms", str(int(seconds(interval) * 1000))).replace("$__interval", interval)
        sql = sql.replace("$__unixEpochFrom()", str(int(self.start))).replace("$__unixEpochTo()", str(int(self.end)))
        errors: list[str] = []

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "__timeGroup":  # followed by a comma: the pre-5.3 form, which adds AS "time"
                index = sql.find(m.group(0))
                if index >= 0 and sql[index + len(m.group(0)):index + len(m.group(0)) + 1] == ",":
                    name = "__timeGroupAlias"
            try:
                return self._macro(name, [a.strip() for a in m.group(2).split(",")])
            except MacroError as exc:
                errors.append(str(exc))
                return "macro_error()"

        out = _MACRO.sub(one, sql)
        if errors:
            raise MacroError(errors[0])
        return out

    def _variables(self, sql: str) -> str:
        for name, values in sorted(self.variables.items(), key=lambda kv: -len(kv[0])):  # $grid before $g
            text = ",".join("'" + v.replace("'", "''") + "'" for v in values)
            sql = sql.replace(f"${{{name}}}", text).replace(f"[[{name}]]", text)
            sql = re.sub(rf"\${name}\b", text.replace("\\", "\\\\"), sql)
        return sql

    def _macro(self, name: str, args: list[str]) -> str:
        frm, to = _rfc3339(self.start), _rfc3339(self.end)
        col = args[0] if args and args[0] else ""
        need_col: dict[str, Callable[[], str]] = {
            "__time": lambda: f'{col} AS "time"',
            "__timeEpoch": lambda: f'extract(epoch from {col}) as "time"',
            "__timeFilter": lambda: f"{col} BETWEEN '{frm}' AND '{to}'",
            "__unixEpochFilter": lambda: f"{col} >= {int(self.start)} AND {col} <= {int(self.end)}",
        }
        if name in need_col:
            if not col:
                raise MacroError(f"missing time column argument for macro {name}")
            return need_col[name]()
        if name == "__timeFrom":
            return f"'{frm}'"
        if name == "__timeTo":
            return f"'{to}'"
        if name in ("__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"):
            if len(args) < 2:
                raise MacroError(f"macro {name} needs time column and interval and optional fill value")
            step = seconds(args[1].strip("'"))
            if name.startswith("__unixEpoch"):
                group = f"floor(({col})/{_num(step)})*{_num(step)}"
            elif self.timescaledb:
                group = f"time_bucket('{step:.3f}s',{col})"
            else:
                group = f"floor(extract(epoch from {col})/{_num(step)})*{_num(step)}"
            return group + (' AS "time"' if name.endswith("Alias") else "")
        raise MacroError(f"unknown macro {name!r}")
