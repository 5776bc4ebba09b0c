"""Silences and maintenance windows in the embedded pipeline on an injected clock: a silenced alert still escalates
in its timeline but notifies nobody until the silence is expired, then the next escalation is sent; a weekly
maintenance window mutes its grid's raise and not another grid's, and the first change after it is sent."""

from __future__ import annotations

from pathlib import Path

from tests.acceptance.test_alert_pipeline import CONFIG, T0, Harness


def test_a_silenced_alert_escalates_in_its_timeline_but_notifies_nobody_until_expired(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    silence = h.p.create_silence({"match": {"grid": "C", "rule": "river"}, "duration_s": 3600, "comment": "works"},
                                 "responder-1")
    h.level(6.5, 0)  # red: deadline 300 s
    h.at(300)
    assert h.sent() == []
    kinds = [(e.kind, e.actor, e.ts - T0) for e in h.alert().timeline]
    assert kinds == [("raised", "threshold", 0), ("muted", f"silence:{silence['id']}", 0),
                     ("escalated", None, 300), ("muted", f"silence:{silence['id']}", 300)]
    h.clock.set(T0 + 400)
    assert h.p.expire_silence(silence["id"], "responder-2")["expired_by"] == "responder-2"
    h.at(600)
    assert h.sent() == [("escalated", "street", 600)]
    h.p.store.close()


def test_a_weekly_maintenance_window_mutes_its_grid_only_and_only_while_it_lasts(tmp_path: Path) -> None:
    # T0 is Wednesday 2020-01-22 00:00 UTC: 08:00 in Shanghai
    window = {"name": "g1-calibration", "match": {"grid": "G1"},
              "weekly": {"days": ["wed"], "start": "08:00", "end": "09:00"}}
    h = Harness(tmp_path, {**CONFIG, "maintenance": {"timezone": "Asia/Shanghai", "windows": [window]}})
    h.level(3.5, 0)  # blue in G1, inside the window
    h.level(3.5, 10, grid="G2")
    assert h.sent("A0") == [] and {k for k, *_ in h.sent("A1")} == {"raised"}
    assert [(e.kind, e.actor) for e in h.alert("A0").timeline] == [("raised", "threshold"),
                                                                   ("muted", "maintenance:g1-calibration")]
    h.level(4.5, 3000)  # an upgrade inside the window: muted too
    assert h.sent("A0") == [] and h.alert("A0").timeline[-1].kind == "muted"
    h.level(6.5, 3600)  # 09:00 local: the window is over: the upgrade is sent
    assert {(k, at) for k, _, at in h.sent("A0")} == {("upgraded", 3600)}
    h.p.store.close()
