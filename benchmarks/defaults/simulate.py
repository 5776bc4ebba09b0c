"""Score streams and alert levels of the ``anomaly`` detector, as the service computes them, made affordable.

The model's score of a reading depends on the alerting settings only through the learning freeze
(``max_freeze``: a raised series does not learn). With the freeze off (``max_freeze=0``) the score stream of a
series is the same under every level/hold/confirm setting, so it is computed once per model
(:func:`score_streams`, cached on disk by the models' source) and replayed through the real
:class:`fenghuo.detectors.timebase.ScoreLevels` for each setting (:func:`replay`). The replay skips the runs
of readings that cannot change anything (no level raised and a score below blue: the state machine only
counts them), so it returns exactly what ``ScoreLevels.step`` returns reading by reading.

:func:`run_service` runs a setting through :class:`fenghuo.detectors.anomaly.detector.AnomalyExtra` on
``Event`` objects, freeze included, as the service runs it (used for the finalists, and to check that the
replay matches the service with the freeze off).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.defaults.data import Dataset, Series
from fenghuo.core.models import Event
from fenghuo.detectors.anomaly import make_detector
from fenghuo.detectors.anomaly.detector import GLITCH_RETURN, AnomalyExtra, AnomalyParams
from fenghuo.detectors.timebase import Cadence, ScoreLevels, Timing

REPO = Path(__file__).resolve().parents[2]
CACHE = Path.home() / ".cache" / "fenghuo" / "bench-defaults"
METRIC = "value"
BASE = AnomalyParams()  # the settings the candidates do not vary (clear, hysteresis, cooldown)
Change = tuple[float, int]


def levels_for(blue: float) -> tuple[float, float, float, float]:
    """Blue..red spaced as today's default (0.6, 0.75, 0.9, 0.98): yellow, orange and red sit at the same
    fractions (0.375, 0.75, 0.95) of the way from blue to a score of 1.

    >>> levels_for(0.6)
    (0.6, 0.75, 0.9, 0.98)
    >>> levels_for(0.5)
    (0.5, 0.6875, 0.875, 0.975)
    """
    return tuple(round(blue + f * (1.0 - blue), 6) for f in (0.0, 0.375, 0.75, 0.95))  # type: ignore[return-value]


def code_version() -> str:
    """A hash of the models' and the level machine's source: a cached score stream is stale when it changes."""
    h = hashlib.sha1()
    for path in sorted((REPO / "detectors" / "anomaly").glob("*.py")) + [REPO / "detectors" / "base.py"]:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _stream(model: str, s: Series, seed: int = 0) -> np.ndarray:
    det = make_detector(model, seed)
    out = np.empty(len(s.ts))
    score, learn = det.score_one, det.learn_one
    for i, (t, v) in enumerate(zip(s.ts.tolist(), s.values.tolist(), strict=True)):
        out[i] = score(t, v)
        learn(t, v)
    return out


def score_streams(model: str, data: Dataset, use_cache: bool = True, blue: float | None = None,
                  max_freeze: int = 0, warmup: int = 0) -> tuple[dict[str, np.ndarray], float]:
    """Per series key, the model's score of every reading (scored before learnt; never frozen, or with the
    service's freeze at ``blue`` when ``max_freeze`` > 0: :func:`stream_frozen`); and the seconds spent
    computing (0 when read from the cache)."""
    tag = f"-freeze{max_freeze}-blue{blue:g}-warmup{warmup}" if max_freeze else ""
    path = CACHE / f"{data.name}-{model}{tag}-{code_version()}.npz"
    if use_cache and path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}, 0.0
    started = time.perf_counter()
    if max_freeze and blue is not None:
        out = {s.key: stream_frozen(model, s, blue, max_freeze, warmup) for u in data.units for s in u.series}
    else:
        out = {s.key: _stream(model, s) for u in data.units for s in u.series}
    spent = time.perf_counter() - started
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **out)
        tmp.replace(path)
    return out, spent


def stream_frozen(model: str, s: Series, blue: float, max_freeze: int, warmup: int, seed: int = 0) -> np.ndarray:
    """The model's scores with the service's learning freeze: a reading scoring at blue or above after the
    warm-up is not learnt, unless ``max_freeze`` readings in a row were not (as ``AnomalyExtra`` learns)."""
    det = make_detector(model, seed)
    out = np.empty(len(s.ts))
    score, learn = det.score_one, det.learn_one
    skipped = 0
    for i, (t, v) in enumerate(zip(s.ts.tolist(), s.values.tolist(), strict=True)):
        x = out[i] = score(t, v)
        if x < blue or skipped >= max_freeze or i < warmup:
            learn(t, v)
            skipped = 0
        else:
            skipped += 1
    return out


def judge(scores: np.ndarray, values: np.ndarray, blue: float) -> np.ndarray:
    """The score the level machine sees: 0 for a reading that contradicts a one-sample spike scored at blue
    or above just before it (``AnomalyExtra``'s glitch rule, :func:`contradicts`), else the model's score.

    >>> judge(np.array([0.1, 0.1, 0.9, 0.2, 0.1]), np.array([1.0, 1.0, 6.0, 1.02, 1.0]), 0.6).tolist()
    [0.1, 0.1, 0.9, 0.0, 0.1]
    """
    out = scores.copy()
    if len(scores) < 3:
        return out
    before, spike, value = values[:-2], values[1:-1], values[2:]
    high = scores[1:-1] >= blue
    back = (spike != before) & (np.abs(value - before) <= GLITCH_RETURN * np.abs(spike - before))
    out[2:][high & back] = 0.0
    return out


def intervals(ts: np.ndarray) -> list[float]:
    """The series' learned interval at each reading (:class:`Cadence`, as the service learns it)."""
    c = Cadence()
    out = []
    for t in ts.tolist():
        c.observe(t)
        out.append(c.interval)
    return out


@dataclass(frozen=True)
class Setting:
    """One candidate: a model and the alerting settings that vary (the rest as :class:`AnomalyParams`)."""

    model: str
    blue: float
    hold: float
    confirm: int
    max_freeze: int = 0  # 0: the model learns every reading (the cached score streams)

    @property
    def name(self) -> str:
        tail = f" freeze{self.max_freeze}" if self.max_freeze else ""
        return f"{self.model} blue{self.blue:g} hold{self.hold:g} confirm{self.confirm}{tail}"

    def params(self, warmup: int) -> AnomalyParams:
        return AnomalyParams(detector=self.model, levels=levels_for(self.blue), warmup=warmup, confirm=self.confirm,
                             hold=self.hold, max_freeze=self.max_freeze)


def replay(scores: np.ndarray, ts: Sequence[float], gaps: Sequence[float], levels: ScoreLevels,
           above: np.ndarray | None = None) -> list[Change]:
    """The level changes ``ScoreLevels.step`` returns over a score stream (``ts`` and ``gaps`` as lists).

    ``above``: the indices where the score reaches blue (computed when not given).

    >>> from fenghuo.detectors.timebase import Timing
    >>> s = np.array([0.1, 0.1, 0.1, 0.99, 0.99, 0.1, 0.1, 0.1, 0.1, 0.1])
    >>> replay(s, [60.0 * i for i in range(10)], [60.0] * 10,
    ...        ScoreLevels((0.6, 0.75, 0.9, 0.98), 0.05, Timing(warmup=3, confirm=2, hold=2, clear=2)))
    [(180.0, 1), (240.0, 4), (420.0, 0)]
    """
    if above is None:
        above = np.flatnonzero(scores >= levels.levels[0])
    n = len(ts)
    out: list[Change] = []
    i = min(levels.timing.warmup, n)
    levels.seen = i
    step, sc = levels.step, scores.tolist()
    k = 0
    n_above = len(above)
    while i < n:
        if levels.level == 0:
            k = int(np.searchsorted(above, i)) if k < n_above and above[k] < i else k
            j = int(above[k]) if k < n_above else n
            if j > i:  # readings below blue with nothing raised: only counted
                levels.seen += j - i
                levels.below += j - i
                levels.streak = [0, 0, 0, 0, 0]
                i = j
                if i >= n:
                    break
        changed = step(ts[i], sc[i], gaps[i])
        if changed is not None:
            out.append((ts[i], changed))
        i += 1
    return out


def run_service(setting: Setting, data: Dataset, warmup: int) -> tuple[dict[str, list[Change]], float]:
    """Every series through one ``AnomalyExtra`` as ``Event`` objects; the level changes per series key
    (the signals' levels, 0 for a clear) and the seconds spent."""
    extra = AnomalyExtra(setting.params(warmup))
    out: dict[str, list[Change]] = {}
    started = time.perf_counter()
    for u in data.units:
        for s in u.series:
            changes: list[Change] = []
            key = s.key
            for i, (t, v) in enumerate(zip(s.ts.tolist(), s.values.tolist(), strict=True)):
                e = Event(feed="sensor", source=key, ts=t, grid=data.name, id=f"{key}:{i}", metric=METRIC, value=v)
                for sig in extra(e):
                    changes.append((t, int(sig.level) if sig.level is not None else 0))
            out[key] = changes
    return out, time.perf_counter() - started


def replay_all(setting: Setting, judged: dict[str, np.ndarray], gaps: dict[str, list[float]],
               ts: dict[str, list[float]], above: dict[str, np.ndarray], warmup: int) -> dict[str, list[Change]]:
    """:func:`replay` over every series of a data set for one setting; ``judged``: :func:`judge`'s scores
    (of the stream that matches the setting's freeze), ``above``: where they reach blue."""
    lv = levels_for(setting.blue)
    timing = Timing(warmup, setting.confirm, setting.hold, BASE.clear, BASE.cooldown, setting.max_freeze)
    return {key: replay(judged[key], ts[key], gaps[key], ScoreLevels(lv, BASE.hysteresis, timing),
                        above[key]) for key in judged}


def series_keys(data: Dataset) -> Iterable[str]:
    return (s.key for u in data.units for s in u.series)
