"""Lead-time totals: independent marginals against Monte Carlo and the gamma
distribution, joint samples of a random walk against its closed-form variance,
and what assuming independence does to the spread."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from oracles import START, iqf_forecast, random_iqf, sample_forecast
from scipy import stats

from gluonts_qf import decisions as dec

IND, JOINT = "independent steps", "joint samples"


def random_walk(num: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Paths ``Y_t = e_1 + ... + e_t``, e iid N(0, 1), shape (num, k)."""
    return rng.normal(size=(num, k)).cumsum(axis=1)


def test_independent_iqf_marginals_against_monte_carlo():
    d = random_iqf(8, batch=(6,), pieces=2)
    total = dec.lead_time_total(iqf_forecast(d), 4, IND, num_samples=100_000)
    assert total.assumption == IND and total.cumulative.shape == (100_000, 4)
    # moments: sums of the closed-form marginal moments
    assert total.mean == pytest.approx(d.mean[:4].sum().item(), rel=1e-12)
    assert total.std == pytest.approx(math.sqrt(d.variance[:4].sum().item()))
    # the draws agree with them and with torch's own independent sampler
    se = total.std / math.sqrt(100_000)
    assert abs(total.samples.mean() - total.mean) < 5 * se
    assert total.samples.std() == pytest.approx(total.std, rel=0.02)
    torch.manual_seed(0)
    mc = d.sample((100_000,))[:, :4].sum(-1).numpy()
    lv = [0.05, 0.5, 0.95]
    np.testing.assert_allclose(
        total.quantile(lv), np.quantile(mc, lv), atol=0.05 * total.std
    )


def test_sum_of_independent_exponentials_is_gamma():
    rate, k = 2.0, 5
    rng = np.random.default_rng(3)
    f = sample_forecast(rng.exponential(1 / rate, size=(200_000, 8)))
    lv = np.array([0.05, 0.5, 0.9, 0.99])
    want = stats.gamma.ppf(lv, a=k, scale=1 / rate)
    for assumption in (IND, JOINT):  # iid steps: both are Gamma(k, rate)
        total = dec.lead_time_total(f, k, assumption, seed=1)
        np.testing.assert_allclose(total.quantile(lv), want, rtol=0.02)
    total = dec.lead_time_total(f, k, IND)
    assert total.std == pytest.approx(math.sqrt(k) / rate, rel=0.01)


@pytest.mark.parametrize("k", [2, 6, 12])
def test_random_walk_joint_against_independent(k):
    rng = np.random.default_rng(k)
    f = sample_forecast(random_walk(100_000, 12, rng))
    joint = dec.lead_time_total(f, k)
    assert joint.assumption == JOINT
    # Var(Y_1 + ... + Y_k) = sum_j j^2 = k (k + 1) (2k + 1) / 6
    assert joint.std == pytest.approx(
        math.sqrt(k * (k + 1) * (2 * k + 1) / 6), rel=0.01
    )
    # independence keeps the marginals Var(Y_t) = t: sum = k (k + 1) / 2
    indep = dec.lead_time_total(f, k, IND)
    assert indep.std == pytest.approx(math.sqrt(k * (k + 1) / 2), rel=0.01)
    assert indep.samples.std() == pytest.approx(indep.std, rel=0.02)
    cmp = dec.compare_lead_time_totals([f], k)
    ratio = math.sqrt(3 / (2 * k + 1))  # the understatement, in closed form
    assert cmp.std_ratio[0] == pytest.approx(ratio, rel=0.015)
    assert cmp.width_ratio[0] == pytest.approx(ratio, rel=0.03)  # normal totals
    # lockstep steps: the width is the sum of the steps' widths 2 z sqrt(t)
    lockstep = 2 * stats.norm.ppf(0.95) * np.sqrt(np.arange(1, k + 1)).sum()
    assert cmp.comonotone_width[0] == pytest.approx(lockstep, rel=0.02)
    assert cmp.summary()["share_understated"] == 1.0


def test_negatively_correlated_steps_make_independence_overstate():
    """``Y_t = e_t - e_{t-1}``: the total telescopes to ``e_k - e_0`` (variance 2),
    while independent steps would add to variance ``2 k``."""
    k = 8
    e = np.random.default_rng(5).normal(size=(100_000, k + 1))
    f = sample_forecast(np.diff(e, axis=1))
    cmp = dec.compare_lead_time_totals([f, f], k)
    assert cmp.std_ratio == pytest.approx([math.sqrt(k)] * 2, rel=0.02)
    assert cmp.summary()["share_understated"] == 0.0


def test_total_as_demand_gives_its_tradeoff():
    f = sample_forecast(random_walk(20_000, 5, np.random.default_rng(7)) + 50)
    total = dec.lead_time_total(f, 5)
    tr = dec.service_tradeoff([total.demand()], [0.5, 0.98])
    np.testing.assert_allclose(tr.quantity[0], total.quantile([0.5, 0.98]))
    np.testing.assert_allclose(tr.mean[0], total.samples.mean())
    one = dec.lead_time_total(f, 1)  # k = 1 is the first step itself
    np.testing.assert_array_equal(one.samples, f.samples[:, 0])


def test_one_step_of_an_iqf_forecast_needs_no_assumption():
    d = random_iqf(3, batch=(4,))
    one = dec.lead_time_total(iqf_forecast(d), 1, num_samples=50_000)
    assert one.assumption == IND  # named, though nothing was assumed
    assert one.mean == pytest.approx(d.mean[0].item(), rel=1e-12)
    assert one.std == pytest.approx(math.sqrt(d.variance[0].item()), rel=1e-12)
    lv = [0.1, 0.5, 0.9]
    want = d.icdf(torch.tensor(lv, dtype=d.knot_values.dtype)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(one.quantile(lv), want, atol=0.03 * one.std)
    with pytest.raises(ValueError, match="needs an assumption|assumption="):
        dec.lead_time_total(iqf_forecast(d), 2)  # two steps still do


def _backtest(num: int, k: int, rng: np.random.Generator):
    """Random-walk series (10 past steps, then ``k`` observed) and joint forecasts
    of the same process: observed totals drawn from the forecast distribution."""
    forecasts, series = [], []
    index = pd.period_range(START - 10, periods=10 + k, freq=START.freq)
    for i in range(num):
        path = random_walk(1, k, rng)[0]
        series.append(pd.Series(np.r_[np.zeros(10), path], index=index))
        forecasts.append(sample_forecast(random_walk(1000, k, rng), item_id=i))
    return forecasts, series


def test_coverage_of_observed_totals():
    k, rng = 6, np.random.default_rng(11)
    forecasts, series = _backtest(400, k, rng)
    joint = dec.lead_time_coverage(forecasts, series, k)
    indep = dec.lead_time_coverage(forecasts, series, k, assumption=IND)
    assert joint.nominal == pytest.approx(0.9) and joint.num_series == 400
    assert joint.inside == pytest.approx(0.9, abs=0.05)
    # independence's interval is sqrt(3 / (2k + 1)) as wide: it covers less
    want = 2 * stats.norm.cdf(stats.norm.ppf(0.95) * math.sqrt(3 / (2 * k + 1))) - 1
    assert indep.inside == pytest.approx(want, abs=0.06)
    assert indep.below + indep.above + indep.inside == pytest.approx(1.0)
    assert indep.assumption == IND


BAD = [
    (lambda f, g: dec.lead_time_total(g, 3), "assumption='independent steps'"),
    (lambda f, g: dec.lead_time_total(g, 3, JOINT), "MQF2Estimator for joint"),
    (lambda f, g: dec.lead_time_total(f, 3, "sum"), "assumption must be one of"),
    (lambda f, g: dec.lead_time_total(f, 0), "lead time k must be a positive integer"),
    (lambda f, g: dec.lead_time_total(f, 5), "exceeds the forecast horizon 4"),
    (lambda f, g: dec.lead_time_total(g, 9, IND), "use k <= 4"),
    (lambda f, g: dec.compare_lead_time_totals([g], 2), "needs joint samples"),
    (lambda f, g: dec.compare_lead_time_totals([f], 2, (0.9, 0.1)), "increasing"),
    (lambda f, g: dec.compare_lead_time_totals([], 2), "no forecasts"),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_inputs_are_clear_errors(call, message):
    f = sample_forecast(random_walk(50, 4, np.random.default_rng(0)))
    g = iqf_forecast(random_iqf(0, batch=(4,)))
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call(f, g)
