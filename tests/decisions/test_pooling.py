"""Demand pooled over series: joint draws across series against independence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gluonts.model.forecast import SampleForecast
from oracles import START, iqf_forecast, random_iqf, sample_forecast
from scipy import stats

from gluonts_qf import decisions as dec

IND, JOINT = dec.INDEPENDENT_SERIES, dec.JOINT_SERIES


def _equicorrelated(rho: float, m: int, t: int, s: int, seed: int) -> np.ndarray:
    """(S, T, M) Gaussian draws: unit variances, correlation ``rho`` between series."""
    cov = np.full((m, m), rho) + (1 - rho) * np.eye(m)
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.zeros(m), cov, size=(s, t))


@pytest.mark.parametrize("rho", [0.0, 0.6, -0.2])
def test_joint_total_is_the_gaussian_of_the_sum(rho):
    m, s = 4, 100_000
    fc = SampleForecast(_equicorrelated(rho, m, 3, s, 1) + 10.0, start_date=START)
    pooled = dec.pooled_demand(fc)
    assert pooled.assumption == JOINT and pooled.series == (0, 1, 2, 3)
    sd = math.sqrt(m + m * (m - 1) * rho)  # sqrt(1' Sigma 1)
    np.testing.assert_allclose(pooled.mean, 40.0, atol=5 * sd / math.sqrt(s))
    np.testing.assert_allclose(np.sqrt(pooled.variance), sd, rtol=0.02)
    lv = [0.05, 0.5, 0.95]
    want = stats.norm.ppf(lv, loc=40.0, scale=sd)[:, None]
    np.testing.assert_allclose(
        pooled.quantile(lv), np.repeat(want, 3, 1), atol=0.03 * sd
    )
    # independence on the same draws: sqrt(M), whatever rho is
    apart = dec.pooled_demand(fc, assumption=IND)
    np.testing.assert_allclose(np.sqrt(apart.variance), math.sqrt(m), rtol=0.02)


def test_subset_of_series_and_decisions_take_the_pooled_demand():
    draws = _equicorrelated(0.5, 3, 2, 50_000, 2)
    draws[..., 2] += 100.0
    fc = SampleForecast(draws, start_date=START)
    pooled = dec.pooled_demand(fc, series=[0, 2])
    np.testing.assert_allclose(pooled.mean, 100.0, atol=0.05)
    sd = math.sqrt(2 + 2 * 0.5)
    nv = dec.newsvendor(pooled, 3.0, 1.0)  # critical fractile 0.75
    np.testing.assert_allclose(nv.quantity, 100 + sd * stats.norm.ppf(0.75), atol=0.03)
    total = dec.lead_time_total(pooled, 2)  # joint over steps: the draws as drawn
    assert total.assumption == dec.JOINT
    np.testing.assert_allclose(total.std, math.sqrt(2) * sd, rtol=0.03)


def test_independent_univariate_forecasts_keep_each_series_steps():
    rng = np.random.default_rng(3)
    level = rng.normal(size=(20_000, 1))  # each row constant over the 4 steps
    a = sample_forecast(np.repeat(level, 4, 1))
    b = sample_forecast(np.repeat(2 * rng.normal(size=(20_000, 1)), 4, 1))
    pooled = dec.pooled_demand([a, b], assumption=IND)
    assert pooled.joint and pooled.assumption == IND
    np.testing.assert_allclose(np.sqrt(pooled.variance), math.sqrt(5), rtol=0.02)
    # rows moved whole: the total is still constant over the steps
    assert np.allclose(pooled.samples, pooled.samples[:, :1])


def test_independent_iqf_forecasts_against_closed_form_moments():
    dists = [random_iqf(seed, batch=(5,)) for seed in (4, 5, 6)]
    pooled = dec.pooled_demand(
        [iqf_forecast(d) for d in dists], assumption=IND, num_samples=200_000
    )
    assert not pooled.joint  # IQF steps are independent draws
    mean = sum(d.mean.numpy() for d in dists)
    sd = np.sqrt(sum(d.variance.numpy() for d in dists))
    assert np.all(np.abs(pooled.mean - mean) < 5 * sd / math.sqrt(200_000))
    np.testing.assert_allclose(np.sqrt(pooled.variance), sd, rtol=0.02)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f, u: dec.pooled_demand([u, u]), "needs an assumption"),
        (
            lambda f, u: dec.pooled_demand([u, u], assumption=JOINT),
            "needs an assumption",
        ),
        (lambda f, u: dec.pooled_demand(f, series=[0, 5]), r"positions in 0..2"),
        (lambda f, u: dec.pooled_demand(f, series=[1, 1]), r"distinct positions"),
        (lambda f, u: dec.pooled_demand(f, series=[]), "series is empty"),
        (lambda f, u: dec.pooled_demand(f, assumption="copula"), "assumption must be"),
        (lambda f, u: dec.pooled_demand(u), "or a list of univariate forecasts"),
        (
            lambda f, u: dec.pooled_demand(
                [u, sample_forecast(np.zeros((5, 3)))], assumption=IND
            ),
            "different horizons",
        ),
        (lambda f, u: dec.as_demand(f), "pooled_demand"),
    ],
)
def test_bad_inputs_are_clear_errors(call, message):
    f = SampleForecast(np.zeros((5, 4, 3)), start_date=START)
    u = sample_forecast(np.zeros((5, 4)))
    with pytest.raises(ValueError, match=message):
        call(f, u)
