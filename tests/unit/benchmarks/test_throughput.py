"""The throughput benchmark's pure parts: own time by category (C functions go to their callers), the ratios
printed against the targets, and the worker's SIGHUP profile switch."""

from __future__ import annotations

import pstats
import signal
from pathlib import Path

from benchmarks.throughput import Figures, ratio, summary
from benchmarks.throughput_profile import OTHER, by_category, category_of
from benchmarks.throughput_worker import ProfileSwitch

STATE = "grid state encode/decode (changelog value)"
DECODE = "event decode (JSON, event_from_wire)"


def test_a_c_function_counts_for_the_callers_that_spent_the_time_in_it() -> None:
    codec = ("/r/fenghuo/core/state.py", 39, "dumps")
    wire = ("/r/fenghuo/runtime/kafka/bus.py", 150, "event_from_wire")
    scan = ("~", 0, "<built-in method _json.scanstring>")
    pack = ("~", 0, "<method 'pack' of 'msgpack._cmsgpack.Packer' objects>")
    raw = {
        codec: (10, 10, 0.5, 3.0, {}),
        wire: (100, 100, 1.0, 2.0, {}),
        pack: (10, 10, 2.0, 2.0, {codec: (10, 10, 2.0, 2.0)}),
        scan: (100, 100, 1.0, 1.0, {wire: (80, 80, 0.75, 0.75), pack: (20, 20, 0.25, 0.25)}),
    }
    cats = by_category(raw)
    assert round(cats[STATE], 6) == 0.5 + 2.0 + 0.25
    assert round(cats[DECODE], 6) == 1.0 + 0.75
    assert round(sum(cats.values()), 6) == 4.5  # every second is somewhere
    assert list(cats) == [STATE, DECODE]  # the largest first


def test_a_c_function_called_from_nowhere_known_is_other() -> None:
    assert by_category({("~", 0, "<built-in method time.sleep>"): (1, 1, 0.3, 0.3, {})}) == {OTHER: 0.3}


def test_a_detectors_state_method_counts_as_state_not_as_the_detector() -> None:
    assert category_of(("/r/detectors/anomaly/detector.py", 147, "live_state")) == STATE
    assert category_of(("/r/detectors/anomaly/detector.py", 90, "process")) == "model detectors"
    assert category_of(("/r/detectors/rules.py", 12, "step")).startswith("rules")
    assert category_of(("<string>", 2, "__init__")).startswith("Event/Signal objects")


def test_the_ratios_name_both_figures_and_say_when_one_is_missing() -> None:
    lines = summary(Figures(plain_decode=40_000.0, worker=8_000.0, per_event=160.0, embedded_models=31_000.0))
    assert "batched worker (rules) / target 50,000: 0.16x (8,000 / 50,000 events/s)" in lines
    assert "batched worker (rules) / per-event agent: 50.0x (8,000 / 160 events/s)" in lines
    assert "embedded pipeline (rules + models) / target 100,000: 0.31x (31,000 / 100,000 events/s)" in lines
    assert "batched worker (rules + models) / target 20,000: n/a (n/a / 20,000 events/s)" in lines
    assert ratio(float("nan"), 1.0) == "n/a"


def busy() -> int:
    return sum(i * i for i in range(20_000))


def test_the_profile_switch_profiles_between_two_signals_only(tmp_path: Path) -> None:
    out = tmp_path / "w.prof"
    switch = ProfileSwitch(out)
    switch(signal.SIGHUP, None)
    busy()
    assert not out.exists()  # running: nothing written yet
    switch(signal.SIGHUP, None)
    names = {func[2] for func in pstats.Stats(str(out)).stats}  # type: ignore[attr-defined]
    assert "busy" in names
    out.unlink()
    switch(signal.SIGHUP, None)  # a third signal changes nothing
    assert not out.exists()


def test_a_failed_workers_report_starts_at_its_first_error_not_the_cascade() -> None:
    from benchmarks.throughput import first_error

    log = ("\x1b[?25l\x1b[?25h[t] [ERROR] [^ProducerBuffer]: Crashed reason=MessageSizeTooLargeError\n"
           "Traceback (most recent call last):\n  File x\n\n[t] [ERROR] Agent crashed reason=CancelledError()\n")
    assert first_error("starting\n" + log, 2).splitlines() == [
        "[t] [ERROR] [^ProducerBuffer]: Crashed reason=MessageSizeTooLargeError", "Traceback (most recent call last):"]
    assert first_error("just\nlines\n", 5) == "just\nlines"  # no error line: the tail
