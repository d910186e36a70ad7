"""Intervals for comparative numbers: evaluation noise (a paired bootstrap over the evaluated items) and
training noise (a seed study), combined into one 95 % interval per number.

* :func:`resample` draws the bootstrap resamples of one or more item sets (images, queries, nodes, test
  edges …) once, so that every variant and every seed is scored on *the same* resamples (paired).
* :func:`bootstrap` evaluates a statistic on each resample.
* :func:`estimate` turns per-seed point values and their bootstrap draws into an :class:`Estimate`: the mean
  over seeds, and an interval whose lower and upper half-widths add, in quadrature, the percentile bootstrap
  half-width of the seed mean (evaluation noise) and the Student-t half-width of the seed mean (training
  noise). With one seed, the training noise may come from a *shared* seed spread — a task's headline variant
  retrained with several seeds, its standard deviation used for every variant (say so in ``noise``).

Written here, not taken from scipy: ``scipy.stats.bootstrap`` resamples one statistic's data at a time, and
cannot reuse one set of paired resamples across variants, seeds and several item sets (positives and
negatives), nor combine the result with a seed study; the percentile and t quantiles are numpy's / scipy's.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    """A measured number with its interval. ``value``: mean over seeds; [``lo``, ``hi``]: the ``level``
    interval; ``n_seeds``: trained seeds it averages (0 = no training involved: a deterministic computation);
    ``n_items``: the evaluated items resampled (e.g. "2,431 nodes"); ``noise``: what the interval covers."""

    value: float
    lo: float
    hi: float
    n_seeds: int
    n_items: str
    noise: str
    level: float = LEVEL
    per_seed: tuple[float, ...] = field(default_factory=tuple)

    @property
    def half_width(self) -> float:
        return max(self.value - self.lo, self.hi - self.value)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["per_seed"] = list(self.per_seed)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Estimate":
        return cls(**{**d, "per_seed": tuple(d.get("per_seed") or ())})

    def __sub__(self, other):  # not defined: a difference needs its paired draws, see estimate()
        raise TypeError("subtract the per-seed values and bootstrap draws, then call estimate()")


def is_estimate(value) -> bool:
    """An :class:`Estimate` or its ``as_dict`` form (what report JSONs hold)."""
    return isinstance(value, Estimate) or (isinstance(value, dict) and {"value", "lo", "hi"} <= set(value))


def as_interval(x) -> tuple[float, float | None, float | None]:
    """(value, lo, hi) of an :class:`Estimate`, its dict, or a plain number (lo = hi = None: no interval)."""
    if isinstance(x, Estimate):
        return x.value, x.lo, x.hi
    if isinstance(x, dict):
        return x["value"], x["lo"], x["hi"]
    return float(x), None, None


def resample(sizes: int | Sequence[int], n_resamples: int = RESAMPLES, seed: int = 0) -> list[np.ndarray]:
    """One (n_resamples, size) index array per item set, drawn with replacement; the same arrays must be
    used for every variant and seed that a comparison pairs."""
    sizes = [sizes] if isinstance(sizes, int) else list(sizes)
    if any(s < 1 for s in sizes):
        raise ValueError(f"cannot bootstrap an empty item set (sizes {sizes})")
    rng = np.random.default_rng(seed)
    return [rng.integers(0, s, (n_resamples, s)) for s in sizes]


def bootstrap(stat: Callable[..., float], draws: list[np.ndarray]) -> np.ndarray:
    """``stat(*indices)`` on every resample (``indices``: one index array per item set) → (n_resamples,)."""
    return np.asarray([stat(*(d[b] for d in draws)) for b in range(len(draws[0]))], dtype=np.float64)


def t_quantile(df: int, level: float = LEVEL) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def estimate(per_seed: Sequence[float], boot: np.ndarray | None, *, n_items: str, noise: str = "",
             level: float = LEVEL, shared_sd: float | None = None, shared_df: int | None = None,
             trainings: int = 1, trained: bool = True) -> Estimate:
    """Combine evaluation and training noise into an :class:`Estimate`.

    ``per_seed``: the statistic on all items, one value per seed (S ≥ 1). ``boot``: its bootstrap draws,
    (n_resamples, S) on shared paired resamples (or (n_resamples,) for S = 1); ``None`` when the statistic has
    no item noise (e.g. a ratio of wall times: pass the repeats as seeds). Training noise: with S ≥ 2 seeds,
    t_{S−1} · sd / √S; with S = 1 and ``shared_sd`` (the seed standard deviation of the task's headline
    variant, with ``shared_df`` degrees of freedom), t · shared_sd · √``trainings`` (a difference of two
    single-seed variants involves two independent trainings: ``trainings=2``); ``trained=False`` for a
    deterministic statistic (no training noise, ``n_seeds`` 0). One seed and no shared spread: the interval
    covers evaluation noise only, and ``noise`` says so.
    """
    vals = np.asarray(per_seed, dtype=np.float64).ravel()
    if vals.size == 0 or not np.isfinite(vals).all():
        raise ValueError(f"estimate needs finite per-seed values, got {list(vals)}")
    s = vals.size
    value = float(vals.mean())
    lo_e = hi_e = 0.0
    if boot is not None:
        b = np.asarray(boot, dtype=np.float64)
        b = b.reshape(len(b), -1).mean(axis=1)  # the seed mean on each resample
        b = b[np.isfinite(b)]
        if b.size < 10:
            raise ValueError("too few finite bootstrap draws for an interval")
        q_lo, q_hi = np.quantile(b, [0.5 - level / 2, 0.5 + level / 2])
        lo_e, hi_e = max(value - float(q_lo), 0.0), max(float(q_hi) - value, 0.0)
    hw_t, parts = 0.0, []
    if boot is not None:
        parts.append(f"bootstrap over {n_items}")
    if not trained:
        parts.append("deterministic: no training noise")
    elif s >= 2:
        hw_t = t_quantile(s - 1, level) * float(vals.std(ddof=1)) / math.sqrt(s)
        parts.append(f"{s} seeds")
    elif shared_sd is not None:
        if not shared_df or shared_df < 1:
            raise ValueError("a shared seed spread needs its degrees of freedom (seeds − 1 ≥ 1)")
        hw_t = t_quantile(shared_df, level) * shared_sd * math.sqrt(trainings)
        parts.append(f"1 seed + the headline variant's seed spread ({shared_df + 1} seeds)")
    else:
        parts.append("1 seed: training noise not covered")
    lo = value - math.hypot(lo_e, hw_t)
    hi = value + math.hypot(hi_e, hw_t)
    return Estimate(value=value, lo=float(lo), hi=float(hi), n_seeds=s if trained else 0, n_items=n_items,
                    noise="; ".join([p for p in [noise] if p] + parts), level=level,
                    per_seed=tuple(float(v) for v in vals))


def seed_interval(per_seed: Sequence[float], *, what: str, level: float = LEVEL, ratio: bool = False) -> Estimate:
    """Mean and t interval of repeated measurements without item noise (e.g. wall-time ratios over repeats).

    ``ratio=True`` (speed-ups and other positive ratios): the t interval of the *logarithms*, mapped back — a
    geometric mean with a multiplicative interval. A ratio's noise is multiplicative (one slow repeat doubles it,
    it cannot go below 0), and a t interval on the raw ratios of 3 repeats reaches below zero as soon as one repeat
    differs by 2× (seen: 168×, 81×, 383× → [−176, 597])."""
    vals = np.asarray(per_seed, dtype=np.float64).ravel()
    if vals.size < 2:
        raise ValueError(f"an interval over repeats needs at least 2 of them, got {vals.size}")
    if ratio and not (vals > 0).all():
        raise ValueError(f"a ratio interval needs positive values, got {vals.tolist()}")
    x = np.log(vals) if ratio else vals
    hw = t_quantile(vals.size - 1, level) * float(x.std(ddof=1)) / math.sqrt(vals.size)
    mean = float(x.mean())
    lo, hi = mean - hw, mean + hw
    if ratio:
        mean, lo, hi = math.exp(mean), math.exp(lo), math.exp(hi)
    noise = f"{'geometric mean, t interval of the logs' if ratio else 't interval'} over {vals.size} {what}"
    return Estimate(value=mean, lo=lo, hi=hi, n_seeds=vals.size, n_items="—", noise=noise, level=level,
                    per_seed=tuple(float(v) for v in vals))


def seed_spread(per_seed: Sequence[float]) -> tuple[float, int]:
    """(standard deviation, degrees of freedom) of a headline variant's metric over its seeds: the shared training
    noise :func:`estimate` applies to a task's single-seed variants (``shared_sd``, ``shared_df``)."""
    vals = np.asarray(per_seed, dtype=np.float64).ravel()
    if vals.size < 2:
        raise ValueError(f"a seed spread needs at least 2 seeds, got {vals.size}")
    return float(vals.std(ddof=1)), int(vals.size - 1)
