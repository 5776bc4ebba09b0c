"""A drill run on the embedded pipeline built in-process: with a speed, its clock follows the (injected) wall
clock, keeps running after the last record until the run's end, and a person's acknowledgement during the run is
timed on the run's clock; at full speed, simulated responders act at their exact scenario times; after the last
record the sources end, not the sensors (no silent-sensor alert while the clock runs on)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fenghuo.core.clock import FixedClock
from fenghuo.core.config import parse_config
from fenghuo.core.models import Alert, Status
from fenghuo.core.settings import Settings
from fenghuo.core.store import AlertQuery
from fenghuo.core.store.sqlite import SqliteStore
from fenghuo.drills.inject import plan
from fenghuo.drills.runner import DrillRun
from fenghuo.drills.scenario import NoAck, Responders
from fenghuo.runtime.embedded import Pipeline

T = 1_800_000_000.0  # scenario time zero
WALL0 = 5_000_000.0  # the wall clock when the run starts
SPEED = 3600.0  # one scenario hour per wall second
CONFIG: dict[str, Any] = {
    "timezone": "UTC",
    "nodes": [{"id": "D", "name": "区", "kind": "district"},
              {"id": "C", "name": "社区", "kind": "community", "parent": "D"},
              {"id": "G", "name": "网格", "kind": "grid", "parent": "C", "centroid": [30.0, 114.0]}],
    "channels": [{"name": "drill-log", "type": "log"}],
    "drills": {"channels": ["drill-log"]},
    "responders": [{"id": "c-drill", "name": "演练", "node": "C", "channels": ["drill-log"], "drill": True},
                   {"id": "d-drill", "name": "演练区", "node": "D", "channels": ["drill-log"], "drill": True}],
    "rules": [{"id": "river", "metric": "water_level_m", "levels": {"yellow": 4, "red": 6}}],
    "escalation": {"deadlines": {"red": 3600, "orange": 3600, "yellow": 3600, "blue": 3600}},
    "detectors": {"health": {"silent_after": 5, "silent_min_s": 60}},
}


class Wall:
    """An injected wall clock: ``sleep`` moves it on; ``at`` runs a callback once the wall reaches a time (at the
    start of the first sleep from then on, right after the run moved its clock)."""

    def __init__(self) -> None:
        self.now = WALL0
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        for item in [p for p in self.pending if p[0] <= self.now]:
            self.pending.remove(item)
            item[1]()
        self.now += max(seconds, 0.001)  # as a real clock does, time passes (the wait's rounding never stalls it)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(Settings(data_dir=tmp_path), parse_config(CONFIG), SqliteStore(tmp_path / "db.sqlite"),  # type: ignore[call-arg]
                 clock=FixedClock(T + 30 * 86400))  # the service's wall clock: the drill's history is past
    p.recover()
    yield p
    p.delivery.close()
    p.store.close()


def river(run: str) -> list[Any]:
    """Readings every 10 minutes for 2 hours: quiet, red from +1 h."""
    records = [{"feed": "sensor", "source": "gauge-1", "grid": "G", "metric": "water_level_m",
                "ts": T + k * 600, "value": 6.5 if k >= 6 else 1.0 + k % 2 / 10} for k in range(13)]
    return plan(records, [], start=T, run=run).deliveries


def drill_run(p: Pipeline, run: str, *, speed: float | None, responders: Responders, wall: Wall,
              no_ack: list[NoAck] | None = None) -> DrillRun:
    kinds = {n.id: n.kind for n in p.config.nodes}
    return DrillRun(run, p, river(run), start=T, end=T + 4 * 3600, speed=speed, responders=responders,
                    no_ack=no_ack or [], tiers=lambda a: [(n, kinds[n]) for n in p.tree.chain_ids(a.grid)],
                    wall=wall, sleep=wall.sleep)


def alerts_of(p: Pipeline, run: str) -> list[Alert]:
    return p.store.list_alerts(AlertQuery(drill=run, limit=100))


def test_with_a_speed_the_clock_runs_on_after_the_last_record_until_the_end(pipeline: Pipeline) -> None:
    wall = Wall()
    runner = drill_run(pipeline, "flood-r1", speed=SPEED, responders=Responders(human=True), wall=wall)
    seen: list[tuple[float, float]] = []  # (wall, the run's clock) every half wall second
    for k in range(1, 9):
        wall.pending.append((WALL0 + k / 2, lambda: seen.append((wall.now, runner.clock))))
    runner.run_loop()
    assert runner.error is None and runner.done
    assert runner.progress.sent == runner.progress.accepted == 13
    assert runner.last_record == T + 7200 and runner.clock == T + 4 * 3600
    assert wall.now - WALL0 == pytest.approx(4.0, abs=0.26)  # 4 scenario hours at 3600 x
    after = [(w, c) for w, c in seen if c > runner.last_record]
    assert len(after) >= 3 and all(c == pytest.approx(T + (w - WALL0) * SPEED, abs=0.26 * SPEED) for w, c in seen)
    assert runner.wall_of(T + 3 * 3600) == pytest.approx(WALL0 + 3.0, abs=0.26)
    # the gauge's records end at +2 h, the clock runs 2 h more: its silence is the scenario's end, not news
    assert [a.rule for a in alerts_of(pipeline, "flood-r1")] == ["river"]


def test_an_acknowledgement_during_the_run_is_timed_on_the_runs_clock(pipeline: Pipeline) -> None:
    wall = Wall()
    runner = drill_run(pipeline, "flood-r2", speed=SPEED, responders=Responders(human=True), wall=wall)
    acked: list[float] = []

    def person_acknowledges() -> None:  # 1.5 wall seconds in: scenario +1.5 h, half an hour after the red reading
        (alert,) = runner.host.drill_open_alerts("flood-r2")
        acked.append(runner.clock)
        pipeline.ack(alert.id, "李值班", "on my way")

    wall.pending.append((WALL0 + 1.5, person_acknowledges))
    runner.run_loop()
    (alert,) = alerts_of(pipeline, "flood-r2")
    assert alert.created_at == T + 3600  # the red reading's time
    assert alert.acked_at == acked[0] and T + 5400 <= alert.acked_at <= T + 5400 + 0.25 * SPEED
    assert alert.acked_by == "李值班" and alert.status == Status.ACKNOWLEDGED  # people: nobody resolves it for them


def test_at_full_speed_simulated_responders_act_at_their_scenario_times(pipeline: Pipeline) -> None:
    wall = Wall()
    runner = drill_run(pipeline, "flood-r3", speed=None, responders=Responders(ack_after=600, resolve_after=1800),
                       wall=wall)
    runner.run_loop()
    (alert,) = alerts_of(pipeline, "flood-r3")
    assert (alert.acked_at, alert.resolved_at) == (T + 3600 + 600, T + 3600 + 600 + 1800)
    assert alert.acked_by == "drill-responder@C" and runner.progress.acks == runner.progress.resolves == 1
    assert wall.now == WALL0  # never waited


def test_a_silent_tier_is_escalated_past_at_its_deadline(pipeline: Pipeline) -> None:
    wall = Wall()
    runner = drill_run(pipeline, "flood-r4", speed=None, responders=Responders(ack_after=600, resolve_after=None),
                       wall=wall, no_ack=[NoAck(kind="no_ack", tier="community")])
    runner.run_loop()
    (alert,) = alerts_of(pipeline, "flood-r4")
    escalated = [e for e in alert.timeline if e.kind == "escalated"]
    assert [e.ts for e in escalated] == [T + 3600 + 3600]  # the red deadline at the community passed
    assert "(D)" in (escalated[0].detail or "")
    assert alert.acked_at == T + 7200 + 600 and alert.acked_by == "drill-responder@D"


def test_runs_beyond_the_bound_are_refused_and_an_ended_run_leaves_memory(pipeline: Pipeline) -> None:
    from fenghuo.drills import control as drill_control
    from fenghuo.drills.control import DrillRefused

    spec = {"scenario": "slow-river", "speed": 1.0, "start": "2027-01-15T08:00:00Z",
            "sources": [{"synthetic": {"source": "gauge-1", "grid": "G", "metric": "water_level_m", "every": "10m",
                                       "from": "2027-01-15T08:00:00Z", "to": "2027-01-15T12:00:00Z", "base": 1.0}}]}
    started = [pipeline.drills.start(spec=spec, actor="analyst")["run"] for _ in range(drill_control.MAX_ACTIVE)]
    assert started == [f"slow-river-r{i}" for i in range(1, drill_control.MAX_ACTIVE + 1)]
    with pytest.raises(DrillRefused) as refused:
        pipeline.drills.start(spec=spec, actor="analyst")
    assert refused.value.status == 429 and pipeline.drills._starting == 0
    for run in started:
        assert pipeline.drills.end(run, "analyst")["status"] == "ended"
    assert pipeline.drills.active == {}  # the ended runs (and their planned deliveries) left memory
    assert [r["status"] for r in pipeline.drills.runs()] == ["ended"] * drill_control.MAX_ACTIVE
    assert pipeline.drills.start(spec=spec, actor="analyst")["run"] == "slow-river-r5"  # a slot is free again
    pipeline.drills.end("slow-river-r5", "analyst")
