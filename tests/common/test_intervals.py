"""Intervals (common/evaluate/intervals.py) on hand-made cases with known answers, and the verdict classes at
their edges (common/reports/schema.py)."""
import math

import numpy as np
import pytest

from common.evaluate.intervals import (Estimate, bootstrap, estimate, resample, seed_interval, seed_spread,
                                      t_quantile)
from common.reports.schema import (FAILS, HOLDS, INCONCLUSIVE, NO_INTERVAL, NOT_TESTABLE, PRECONDITION_UNMET, Check,
                                   Claim)


def test_bootstrap_of_a_mean_matches_its_standard_error():
    items = np.r_[np.zeros(50), np.ones(50)]  # mean 0.5, standard error 0.5 / √100 = 0.05
    (idx,) = resample(len(items), n_resamples=4000, seed=1)
    e = estimate([items.mean()], bootstrap(lambda i: items[i].mean(), [idx]), n_items="100 items")
    assert e.value == 0.5 and e.n_seeds == 1
    assert e.lo == pytest.approx(0.5 - 1.96 * 0.05, abs=0.012) and e.hi == pytest.approx(0.5 + 1.96 * 0.05, abs=0.012)
    assert "1 seed: training noise not covered" in e.noise and "bootstrap over 100 items" in e.noise


def test_the_bootstrap_is_paired():
    """Two variants scored on the same resamples: a constant per-item gain has no evaluation noise at all, while
    each variant's own mean does."""
    rng = np.random.default_rng(0)
    a = rng.random(200)
    b = a + 0.1
    (idx,) = resample(200, seed=3)
    gain = estimate([b.mean() - a.mean()], bootstrap(lambda i: b[i].mean() - a[i].mean(), [idx]), n_items="200")
    assert gain.lo == pytest.approx(0.1) and gain.hi == pytest.approx(0.1)
    alone = estimate([a.mean()], bootstrap(lambda i: a[i].mean(), [idx]), n_items="200")
    assert alone.hi - alone.lo > 0.05


def test_two_item_sets_are_resampled_independently():
    pos, neg = resample([30, 70], n_resamples=5, seed=0)
    assert pos.shape == (5, 30) and neg.shape == (5, 70) and pos.max() < 30 and neg.max() < 70


def test_seed_noise_is_a_t_interval_and_adds_in_quadrature():
    e = estimate([1.0, 2.0, 3.0], None, n_items="—")
    hw = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2) · sd / √n
    assert (e.value, e.lo, e.hi) == (2.0, pytest.approx(2 - hw, rel=1e-5), pytest.approx(2 + hw, rel=1e-5))
    boot = np.tile([[1.0, 2.0, 3.0]], (100, 1)) + np.linspace(-0.3, 0.3, 100)[:, None]
    both = estimate([1.0, 2.0, 3.0], boot, n_items="x")
    ql, qh = np.quantile(boot.mean(1), [0.025, 0.975])
    assert both.lo == pytest.approx(2 - math.hypot(2 - ql, hw)) and both.hi == pytest.approx(2 + math.hypot(qh - 2, hw))
    assert "3 seeds" in both.noise


def test_a_shared_seed_spread_covers_single_seed_variants():
    sd, df = seed_spread([0.4, 0.5, 0.6])  # the headline variant's seeds
    assert (sd, df) == (pytest.approx(0.1), 2)
    e = estimate([0.5], None, n_items="—", shared_sd=sd, shared_df=df, trainings=2)
    assert e.hi - e.value == pytest.approx(t_quantile(2) * 0.1 * math.sqrt(2))
    assert "headline variant's seed spread (3 seeds)" in e.noise
    with pytest.raises(ValueError, match="degrees of freedom"):
        estimate([0.5], None, n_items="—", shared_sd=0.1)


def test_deterministic_and_repeat_intervals():
    e = estimate([0.2], np.full(50, 0.2), n_items="10 nodes", trained=False)
    assert (e.lo, e.hi, e.n_seeds) == (0.2, 0.2, 0) and "no training noise" in e.noise
    r = seed_interval([10.0, 12.0, 14.0], what="timing repeats")
    assert r.value == 12.0 and r.hi - r.value == pytest.approx(t_quantile(2) * 2 / math.sqrt(3))
    with pytest.raises(ValueError, match="at least 2"):
        seed_interval([1.0], what="repeats")
    with pytest.raises(ValueError, match="empty item set"):
        resample(0)
    assert Estimate.from_dict(e.as_dict()) == e


@pytest.mark.parametrize("op, lo, hi, expected", [
    (">=", 0.0, 1.0, HOLDS),          # lower end touching the threshold: every value satisfies >=
    (">", 0.0, 1.0, INCONCLUSIVE),    # … but not >
    (">=", -1.0, 0.0, INCONCLUSIVE),  # upper end touching: the threshold itself satisfies >=
    (">", -1.0, 0.0, FAILS),
    (">=", -1.0, -0.1, FAILS),
    (">=", -0.1, 0.1, INCONCLUSIVE),
    ("<=", -1.0, 0.0, HOLDS),
    ("<", -1.0, 0.0, INCONCLUSIVE),
    ("<=", 0.0, 1.0, INCONCLUSIVE),
    ("<", 0.0, 1.0, FAILS),
    ("==", 0.0, 0.0, HOLDS),
    ("==", -1.0, 1.0, INCONCLUSIVE),
    ("==", 0.5, 1.0, FAILS),
])
def test_verdict_classes_at_the_threshold(op, lo, hi, expected):
    assert Check("gain", op, 0.0).interval(lo, hi) == expected


def claim(**kw):
    base = dict(id="c", text="t", metric="gain", op=">=", threshold=0.0, source="s")
    return Claim(**{**base, **kw})


def est(v, lo, hi):
    return {"value": v, "lo": lo, "hi": hi, "n_seeds": 3, "n_items": "n", "noise": ""}


def test_preconditions_decide_before_the_claim():
    pre = [(Check.parse("base_ndcg >= 0.05"), "the baseline learned")]
    c = claim(preconditions=pre)
    ok = {"gain": est(0.1, 0.05, 0.15)}
    assert c.judge({**ok, "base_ndcg": est(0.08, 0.06, 0.1)})["verdict"] == HOLDS
    j = c.judge({**ok, "base_ndcg": est(0.03, 0.02, 0.04)})  # premise false: never holds
    assert j["verdict"] == PRECONDITION_UNMET and "false" in j["reason"] and "the baseline learned" in j["reason"]
    j = c.judge({**ok, "base_ndcg": est(0.05, 0.04, 0.06)})  # premise not established
    assert j["verdict"] == PRECONDITION_UNMET and "not established" in j["reason"]
    assert c.judge(ok)["verdict"] == PRECONDITION_UNMET  # premise not measured
    assert c.judge({**ok, "base_ndcg": 0.2})["verdict"] == HOLDS  # a plain floor: its point decides
    assert c.judge({**ok, "base_ndcg": 0.01})["verdict"] == PRECONDITION_UNMET


def test_not_testable_and_no_interval():
    j = claim(not_testable="compares a network with itself by construction").judge({"gain": est(1, 1, 1)})
    assert j["verdict"] == NOT_TESTABLE and "by construction" in j["reason"]
    j = claim().judge({}, profile="tiny")
    assert j["verdict"] == NOT_TESTABLE and "not measured at profile `tiny`" in j["reason"]
    j = claim().judge({"gain": 0.3})  # a point value never becomes holds
    assert j["verdict"] == NO_INTERVAL and j["point"] == HOLDS and j["reason"] == "point check: holds"


def test_a_ratio_interval_is_multiplicative_and_stays_positive():
    """Speed-ups over 3 repeats (the linkpred FastRP run): the raw t interval reaches below 0, the log one does not."""
    speedups = [168.18, 80.91, 383.12]
    raw = seed_interval(speedups, what="repeats")
    assert raw.lo < 0  # the statistic this replaces for ratios
    r = seed_interval(speedups, what="repeats", ratio=True)
    geo = math.exp(sum(math.log(v) for v in speedups) / 3)
    assert r.value == pytest.approx(geo) and 0 < r.lo < min(speedups) and r.hi > max(speedups)
    assert r.lo * r.hi == pytest.approx(geo ** 2)  # symmetric on the log scale
    assert "geometric mean" in r.noise
    with pytest.raises(ValueError, match="positive"):
        seed_interval([2.0, -1.0], what="repeats", ratio=True)
