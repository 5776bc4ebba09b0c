"""A streaming multivariate model of an asset's channels: PCA T-squared and Q on detrended readings, and
per-channel evidence combined with a correction for testing many channels at once.

One row is the asset's channels at one time (a vector of ``k`` readings). The model

1. follows each channel's slow drift with a **local linear trend** fitted on the last ``window`` *learned*
   rows (a pump warming up drifts several of its own sigmas in minutes; a baseline of fixed means alarms
   on that drift): a row's residual is its distance from the trend extrapolated to its time, in units of
   the window's residual scale;
2. fits a scikit-learn PCA on the window's standardised residuals (components up to ``variance`` of the
   variance) and scores each row by Hotelling's T-squared on the components and Q (the squared
   prediction error) off them, and each channel by its squared standardised residual; refits every
   ``refit_every`` learned rows;
3. smooths every statistic with an EWMA of ``span`` rows (a collective anomaly lasting minutes moves the
   average of many rows, one noisy row barely does);
4. turns each smoothed statistic into a tail probability against its own out-of-sample values on the last
   ``calibration`` learned rows (empirical below their 95 % quantile; above it an exponential tail,
   :class:`fenghuo.detectors.anomaly.calibrate.TailCalibrator`, or with ``tail="hill"`` a power law,
   :class:`HillTail`, which errs towards fewer alarms), and combines the probabilities of the tests in use
   with **Simes' correction** (``min_i m p_(i) / i`` over ``m`` tests: never above Bonferroni's
   ``m min p``, so eight channels do not mean eight times the false alarms); the score is
   ``-log10(p) / decades`` in [0, 1] (with the defaults the service's blue, 0.6, is a family-wise
   probability of 10**-4.8 a row).

It does not learn the anomaly: a row is learned only when the caller lets it (``learn``) and its score is
below ``gate`` (0.3: a family-wise probability of 10**-2.4, so a change is kept out of the baseline from its
first clearly unusual rows, long before it raises anything); after ``max_skip`` rows in a row left
unlearned, the change is taken as the new normal and the model starts afresh (its warm-up again). Memory
is bounded: ``window`` rows and ``calibration`` values per test.

``model`` picks the tests: ``"pca"`` (T-squared and Q), ``"channels"`` (one test per channel) or
``"both"`` (all of them under one correction). Figures on SKAB: docs/benchmarks-skab.md.

>>> import random
>>> rng = random.Random(1)
>>> m = MultivariateModel(train_rows=200, window=200)
>>> for i in range(400):
...     a = rng.gauss(0.0, 1.0)
...     _ = m.step(float(i), [a, a + rng.gauss(0.0, 0.3), rng.gauss(5.0, 1.0)])
>>> m.step(400.0, [0.0, 0.1, 5.0]) < 0.6
True
>>> max(m.step(401.0 + i, [3.0, -3.0, 5.0]) for i in range(30)) >= 0.6  # the two channels disagree
True
>>> m.top_channels(1)
[1]
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from fenghuo.core import state as saved
from fenghuo.detectors.anomaly._window import RollingSorted
from fenghuo.detectors.anomaly.calibrate import TailCalibrator as ExpTail

MODELS = ("pca", "channels", "both")
TAILS = ("exp", "hill")


class HillTail:
    """Tail probabilities of a positive statistic from its recent values: empirical below the ``q`` quantile,
    a power law above it with Hill's estimate of the tail index (``xi = mean(log(x_i / u))`` over the values
    above the quantile ``u``). A power law is heavier than the exponential tail of a light-tailed statistic,
    so it errs on the side of fewer false alarms for heavy-tailed sensor noise and for smoothed statistics
    whose far tail is one large reading.

    >>> h = HillTail(size=1000, min_count=20)
    >>> for i in range(1000):
    ...     h.learn(1.0 + (i % 100) / 100.0)
    >>> h.tail_probability(1.5) > h.tail_probability(2.0) > h.tail_probability(4.0) > 0.0
    True
    """

    def __init__(self, size: int = 1000, q: float = 0.95, min_count: int = 50) -> None:
        self.size = size
        self.q = q
        self.min_count = min_count
        self._window = RollingSorted(size)

    def __len__(self) -> int:
        return len(self._window)

    def tail_probability(self, x: float) -> float:
        """Estimated probability of a value at least ``x`` (1.0 before ``min_count`` values)."""
        w = self._window
        n = len(w)
        if n < self.min_count:
            return 1.0
        u = w.quantile(self.q)
        if x <= u:
            return max(1.0 - w.rank(x), 1.0 - self.q)
        if u <= 0.0:  # a statistic mostly zero: the empirical tail only
            return max(1.0 - w.rank(x), 1.0 / n)
        k = max(1, int(n * (1.0 - self.q)))
        top = w._sorted[n - k:]
        xi = max(sum(math.log(v / u) for v in top) / k, 1e-3)
        return (1.0 - self.q) * (x / u) ** (-1.0 / xi)

    def learn(self, x: float) -> None:
        self._window.add(x)


def simes(ps: list[float]) -> float:
    """Simes' combined p-value of ``m`` tests: ``min_i m p_(i) / i`` (capped at 1).

    >>> simes([0.01, 0.5, 0.5, 0.5]), simes([0.02, 0.02, 0.02, 0.02])
    (0.04, 0.02)
    """
    m = len(ps)
    if m == 0:
        return 1.0
    return min(1.0, min(m * p / i for i, p in enumerate(sorted(ps), start=1)))


class MultivariateModel:
    """The streaming model of one asset (see the module doc).

    Parameters
    ----------
    model
        ``"pca"``, ``"channels"`` or ``"both"``: the tests combined into the score.
    train_rows
        Learned rows before the model scores anything (SKAB's protocol: 400).
    window
        Learned rows the trend and the PCA are fitted on (the most recent ones).
    refit_every
        Learned rows between refits.
    min_fit
        Learned rows of the first fit; the calibrators learn from the rows after it (out of sample).
    variance
        Share of the residuals' variance the PCA components keep (the rest is Q).
    span
        EWMA span, in rows, of the statistics.
    decades
        ``-log10`` of the family-wise tail probability that maps to score 1.
    gate
        A row scoring at or above this is not learned.
    max_skip
        Rows in a row left unlearned after which the model starts afresh (0: never).
    calibration
        Out-of-sample statistics each calibrator keeps.
    tail
        ``"exp"`` (an exponential tail above the 95 % quantile) or ``"hill"`` (a power law: fewer alarms).
    """

    def __init__(self, model: str = "both", train_rows: int = 400, window: int = 1000, refit_every: int = 50,
                 min_fit: int = 100, variance: float = 0.9, span: float = 30.0, decades: float = 8.0,
                 gate: float = 0.3, max_skip: int = 400, calibration: int = 5000, tail: str = "exp") -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
        if not (2 <= min_fit <= window and min_fit <= train_rows and refit_every >= 1 and 0.0 < variance <= 1.0
                and span >= 1.0 and decades > 0.0 and max_skip >= 0 and calibration >= 20 and tail in TAILS):
            raise ValueError("multivariate model: need 2 <= min_fit <= window, min_fit <= train_rows, "
                             "refit_every >= 1, 0 < variance <= 1, span >= 1, decades > 0, max_skip >= 0, "
                             f"calibration >= 20, tail one of {', '.join(TAILS)}")
        self.model = model
        self.train_rows = train_rows
        self.window = window
        self.refit_every = refit_every
        self.min_fit = min_fit
        self.variance = variance
        self.span = span
        self.decades = decades
        self.gate = gate
        self.max_skip = max_skip
        self.calibration = calibration
        self.tail = tail
        self.reset()

    def reset(self) -> None:
        """Forget everything learned (the next rows warm up again)."""
        self.dim = 0
        self.rows: deque[tuple[float, np.ndarray]] = deque(maxlen=self.window)
        self.learned = 0
        self.since_fit = 0
        self.skipped = 0
        self.fit: dict[str, np.ndarray] | None = None
        self.smooth: np.ndarray | None = None  # EWMA of [T2, Q, z_1^2 .. z_k^2]
        self.calibrators: list[ExpTail | HillTail] = []
        self.last_p: list[float] = []

    # -- fitting -----------------------------------------------------------------------------------------
    def _refit(self) -> None:
        from sklearn.decomposition import PCA

        ts = np.array([t for t, _ in self.rows])
        xs = np.vstack([x for _, x in self.rows])
        t_ref = float(ts[-1])
        tc = ts - t_ref
        tm = float(tc.mean())
        dt = tc - tm
        sxx = float(dt @ dt)
        means = xs.mean(axis=0)
        slope = (dt @ (xs - means)) / sxx if sxx > 0.0 else np.zeros(self.dim)
        level = means - slope * tm  # the trend's value at t_ref
        resid = xs - (level + np.outer(tc, slope))
        scale = resid.std(axis=0)
        floor = 1e-6 * (1.0 + np.abs(means))
        scale = np.maximum(scale, floor)
        z = resid / scale
        if self.dim > 1:
            pca = PCA(svd_solver="full").fit(z)
            ratio = np.cumsum(pca.explained_variance_ratio_)
            k = int(min(np.searchsorted(ratio, self.variance - 1e-12) + 1, self.dim))
            comps = pca.components_[:k].T.copy()
            lam = np.maximum(pca.explained_variance_[:k], 1e-9)
            centre = pca.mean_.copy()
        else:
            comps, lam, centre = np.ones((1, 1)), np.maximum(z.var(axis=0), 1e-9), z.mean(axis=0)
        self.fit = {"t_ref": np.array([t_ref]), "level": level, "slope": slope, "scale": scale, "centre": centre,
                    "comps": comps, "lam": lam}
        self.since_fit = 0

    def _residual(self, ts: float, x: np.ndarray) -> np.ndarray:
        """The row's standardised distance from each channel's trend."""
        f = self.fit
        assert f is not None
        return (x - (f["level"] + f["slope"] * (ts - float(f["t_ref"][0])))) / f["scale"]

    def _stats(self, z: np.ndarray) -> np.ndarray:
        """``[T2, Q, z_1^2 .. z_k^2]`` of a (smoothed) residual vector."""
        f = self.fit
        assert f is not None
        zc = z - f["centre"]
        proj = zc @ f["comps"]
        t2 = float(np.sum(proj * proj / f["lam"]))
        r = zc - proj @ f["comps"].T
        q = float(r @ r)
        return np.concatenate(([t2, q], z * z))

    # -- streaming ---------------------------------------------------------------------------------------
    def _tests(self) -> range:
        k = self.dim
        if self.model == "pca":
            return range(0, 2)
        if self.model == "channels":
            return range(2, 2 + k)
        return range(0, 2 + k)

    def step(self, ts: float, values: list[float] | np.ndarray, learn: bool = True) -> float:
        """Score one row (the channels' readings at ``ts``, in a fixed order) in [0, 1], then learn it when
        ``learn`` and its score is below ``gate``. A row of another length starts the model afresh."""
        x = np.asarray(values, dtype=float)
        if x.ndim != 1 or not np.all(np.isfinite(x)):
            raise ValueError("a row must be a flat vector of finite numbers")
        if x.shape[0] != self.dim:
            self.reset()
            self.dim = int(x.shape[0])
        score = 0.0
        if self.fit is not None:
            z = self._residual(ts, x)
            a = 2.0 / (self.span + 1.0)
            st = self._stats(z)
            self.smooth = st if self.smooth is None else a * st + (1.0 - a) * self.smooth
            tests = self._tests()
            ps = [self.calibrators[i].tail_probability(float(self.smooth[i])) for i in tests]
            self.last_p = ps
            if self.learned >= self.train_rows and all(len(self.calibrators[i]._window) >= self.calibrators[i].min_count
                                                        for i in tests):
                p = simes(ps)
                score = 1.0 if p <= 0.0 else min(1.0, max(0.0, -math.log10(p) / self.decades))
        if learn and score < self.gate:
            self._learn(ts, x)
            self.skipped = 0
        else:
            self.skipped += 1
            if self.max_skip and self.skipped >= self.max_skip:
                self.reset()  # a change that lasted this long is the new normal: learn it afresh
                self.dim = int(x.shape[0])
        return score

    def _learn(self, ts: float, x: np.ndarray) -> None:
        self.rows.append((ts, x))
        self.learned += 1
        if self.fit is None:
            if len(self.rows) >= self.min_fit:
                self._refit()
                self.calibrators = [HillTail(size=self.calibration) if self.tail == "hill" else
                                    ExpTail(size=self.calibration, min_count=50) for _ in range(2 + self.dim)]
            return
        assert self.smooth is not None
        for cal, s in zip(self.calibrators, self.smooth.tolist(), strict=True):
            cal.learn(s)
        self.since_fit += 1
        if self.since_fit >= self.refit_every:
            self._refit()

    @property
    def ready(self) -> bool:
        """Whether the model scores (warm-up done)."""
        return self.fit is not None and self.learned >= self.train_rows

    def top_channels(self, n: int = 3) -> list[int]:
        """The indices of the ``n`` channels whose smoothed squared residuals are largest (most surprising first)."""
        if self.smooth is None:
            return []
        z2 = self.smooth[2:]
        return [int(i) for i in np.argsort(-z2, kind="stable")[:n]]

    def channel_z(self) -> list[float]:
        """Each channel's smoothed residual in sigmas (root of the EWMA of its squared standardised residual)."""
        if self.smooth is None:
            return []
        return [float(v) for v in np.sqrt(self.smooth[2:])]

    def statistics(self) -> dict[str, Any]:
        """The smoothed T-squared and Q of the last row (None before the first fit)."""
        if self.smooth is None:
            return {"t2": None, "q": None}
        return {"t2": float(self.smooth[0]), "q": float(self.smooth[1])}


saved.register("anomaly.multivariate", MultivariateModel)
saved.register("anomaly.hill-tail", HillTail)
