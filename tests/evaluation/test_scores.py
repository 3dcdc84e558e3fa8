"""Scores of forecasts: crossing rate, sample/closed-form CRPS, energy and variogram scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import QuantileForecast, SampleForecast
from gluonts.torch.model.forecast import DistributionForecast
from helpers import brute_force_energy_score
from scipy.stats import norm

from gluonts_qf import IQFOutput
from gluonts_qf.distributions.censored import censored
from gluonts_qf.evaluation import (
    BacktestResult,
    crossing_rate,
    energy_score,
    forecast_crps,
    forecast_samples,
    pit_coverage,
    sample_crps,
    sample_energy_score,
    sample_variogram_score,
    variogram_score,
    weighted_crps,
)

START = pd.Period("2020-01-01 00:00", freq="h")


def quantile_forecast(rows) -> QuantileForecast:
    """Forecast with quantiles 0.1, 0.5, 0.9 given as rows, shape: (3, T)."""
    return QuantileForecast(np.asarray(rows, float), START, ["0.1", "0.5", "0.9"])


def iqf_forecast(seed: int, steps: int = 6) -> DistributionForecast:
    g = torch.Generator().manual_seed(seed)
    out = IQFOutput(knot_levels=(0.1, 0.5, 0.9), num_pieces=2)
    raw = [3 * torch.randn(steps, d, generator=g) for d in out.args_dim.values()]
    return DistributionForecast(out.distribution(out.domain_map(*raw)), START)


def normal_crps(mu, sigma, y):
    """Closed-form CRPS of N(mu, sigma^2) (Gneiting and Raftery, 2007)."""
    z = (np.asarray(y) - mu) / sigma
    return sigma * (
        z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi)
    )


# -- crossing rate ----------------------------------------------------------
def test_crossing_rate_counts_crossing_steps():
    ok = quantile_forecast([[0, 1, 2, 3], [1, 1, 3, 4], [2, 5, 3, 9]])  # ties allowed
    bad = quantile_forecast([[0, 5, 2, 3], [1, 1, 3, 2], [2, 5, 3, 9]])  # steps 1, 3
    assert crossing_rate([ok], (0.1, 0.5, 0.9)) == 0.0
    assert crossing_rate([bad], (0.1, 0.5, 0.9)) == pytest.approx(2 / 4)
    assert crossing_rate([ok, bad], (0.9, 0.1, 0.5)) == pytest.approx(2 / 8)  # sorted
    assert crossing_rate([bad], (0.5,)) == 0.0  # one level cannot cross
    assert math.isnan(crossing_rate([], (0.1, 0.9)))


def test_crossing_rate_is_zero_for_iqf_and_samples():
    levels = np.linspace(0.01, 0.99, 50)
    assert crossing_rate([iqf_forecast(s) for s in range(5)], levels) == 0.0
    samples = np.random.default_rng(0).normal(size=(50, 6))
    assert crossing_rate([SampleForecast(samples, START)], levels) == 0.0


@pytest.mark.parametrize(
    "levels", [(0.0, 0.5), (0.5, 1.0), (-0.1,), (), (0.5, float("nan"))]
)
def test_crossing_rate_rejects_bad_levels(levels):
    with pytest.raises(ValueError, match="between 0 and 1|empty"):
        crossing_rate([iqf_forecast(0)], levels)


# -- CRPS -------------------------------------------------------------------
def test_sample_crps_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=3)
    pairs = np.abs(x[:, None] - x[None]).sum(axis=(0, 1))
    want = np.abs(x - y).mean(0) - pairs / (2 * 7 * 6)
    np.testing.assert_allclose(sample_crps(x, y), want, rtol=1e-12)
    np.testing.assert_allclose(sample_crps(x[:1], y), np.abs(x[0] - y))  # point mass


def test_sample_crps_is_unbiased():
    # 4 samples per step, 200k steps: the mean matches the closed form; the
    # biased (V-statistic) estimator would be ~0.14 lower.
    rng = np.random.default_rng(2)
    est = sample_crps(rng.normal(size=(4, 200_000)), np.zeros(200_000)).mean()
    assert est == pytest.approx(normal_crps(0.0, 1.0, 0.0), abs=0.005)


def test_weighted_crps_of_samples_matches_closed_form():
    rng = np.random.default_rng(3)
    forecasts, series, num, den = [], [], 0.0, 0.0
    for i in range(3):
        mu, sigma = 10.0 * (i + 1), 1.0 + i
        y = rng.normal(mu, sigma, size=5)
        history = np.full(10, mu)
        index = pd.period_range(START - 10, periods=15, freq="h")
        series.append(pd.DataFrame({0: np.concatenate([history, y])}, index=index))
        forecasts.append(SampleForecast(rng.normal(mu, sigma, size=(20_000, 5)), START))
        num += normal_crps(mu, sigma, y).sum()
        den += np.abs(y).sum()
    assert weighted_crps(forecasts, series) == pytest.approx(num / den, rel=0.02)


def test_forecast_crps_uses_closed_form_and_marks_missing():
    fc = iqf_forecast(4)
    y = np.array([0.0, 1.0, np.nan, -2.0, 3.0, 0.5])
    got = forecast_crps(fc, y)
    want = fc.distribution.crps(torch.tensor(np.nan_to_num(y), dtype=torch.float32))
    assert np.isnan(got[2])
    np.testing.assert_allclose(np.delete(got, 2), np.delete(want.numpy(), 2), rtol=1e-6)
    with pytest.raises(TypeError, match="QuantileForecast"):
        forecast_crps(quantile_forecast(np.zeros((3, 6))), y)


# -- joint scores: energy and variogram --------------------------------------
def brute_variogram(x, y, p):
    total = 0.0
    for i in range(len(y)):
        for j in range(i + 1, len(y)):
            if np.isfinite(y[i]) and np.isfinite(y[j]):
                expected = np.mean([abs(xs[i] - xs[j]) ** p for xs in x])
                total += (abs(y[i] - y[j]) ** p - expected) ** 2
    return total


@pytest.mark.parametrize("beta", [0.5, 1.0, 1.7])
def test_energy_score_matches_brute_force(beta):
    rng = np.random.default_rng(0)
    x = 1e3 + rng.normal(size=(40, 7)) * np.arange(1, 8)
    y = 1e3 + rng.normal(size=7)
    assert sample_energy_score(x, y, beta) == pytest.approx(
        brute_force_energy_score(x, y, beta), rel=1e-9
    )
    y[[1, 4]] = np.nan  # missing values drop out of every norm
    assert sample_energy_score(x, y, beta) == pytest.approx(
        brute_force_energy_score(x, y, beta), rel=1e-9
    )


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0])
def test_variogram_score_matches_brute_force(p):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=6)
    assert sample_variogram_score(x, y, p) == pytest.approx(
        brute_variogram(x, y, p), rel=1e-9
    )
    y[2] = np.nan
    assert sample_variogram_score(x, y, p) == pytest.approx(
        brute_variogram(x, y, p), rel=1e-9
    )


def test_edge_cases():
    x = np.array([[1.0, 2.0, 3.0]])
    y = np.array([1.0, 0.0, 3.0])
    assert sample_energy_score(x, y) == pytest.approx(2.0)  # one sample: ||x - y||
    assert np.isnan(sample_energy_score(x, np.full(3, np.nan)))
    assert np.isnan(sample_variogram_score(x, np.full(3, np.nan)))
    assert sample_variogram_score(x, np.array([np.nan, 1.0, np.nan])) == 0.0
    with pytest.raises(ValueError, match="beta must lie strictly between 0 and 2"):
        sample_energy_score(x, y, beta=2.0)
    with pytest.raises(ValueError, match="p must be > 0"):
        sample_variogram_score(x, y, p=0.0)


def _series(y: np.ndarray) -> pd.DataFrame:
    index = pd.period_range(START - 3, periods=3 + len(y), freq="h")
    return pd.DataFrame({0: np.concatenate([np.zeros(3), y])}, index=index)


def test_scores_reward_the_right_dependence():
    """Perfectly correlated truth: correlated samples beat independent ones with
    the same marginals in both scores (the variogram score far more clearly)."""
    rng = np.random.default_rng(2)
    T, S, n = 6, 200, 40
    common = rng.normal(size=(n, 1)) * np.ones((1, T))  # each truth: one level
    truths = [_series(c) for c in common]
    joint = [
        SampleForecast(rng.normal(size=(S, 1)) * np.ones((1, T)), START)
        for _ in range(n)
    ]
    indep = [SampleForecast(rng.normal(size=(S, T)), START) for _ in range(n)]
    assert energy_score(joint, truths) < energy_score(indep, truths)
    assert variogram_score(joint, truths) < 0.1 * variogram_score(indep, truths)


def test_mean_over_series_and_sample_sources():
    rng = np.random.default_rng(3)
    fcs = [SampleForecast(rng.normal(size=(50, 4)), START) for _ in range(3)]
    ys = [rng.normal(size=4) for _ in range(3)]
    want = np.mean([sample_energy_score(f.samples, y) for f, y in zip(fcs, ys)])
    assert energy_score(fcs, [_series(y) for y in ys]) == pytest.approx(want)
    want = np.mean([sample_variogram_score(f.samples, y) for f, y in zip(fcs, ys)])
    assert variogram_score(fcs, [_series(y) for y in ys]) == pytest.approx(want)
    # distribution forecasts are sampled; quantile forecasts cannot be
    out = IQFOutput(knot_levels=(0.1, 0.5, 0.9))
    raw = [torch.randn(4, d) for d in out.args_dim.values()]
    dist_fc = DistributionForecast(out.distribution(out.domain_map(*raw)), START)
    assert forecast_samples(dist_fc, 17).shape == (17, 4)
    qf = QuantileForecast(np.zeros((3, 4)), START, ["0.1", "0.5", "0.9"])
    with pytest.raises(TypeError, match="QuantileForecast"):
        forecast_samples(qf)


# -- coverage with ties: the randomized PIT -----------------------------------
def _frame(y, history=4):
    """A series whose last ``len(y)`` steps (from START) are ``y``."""
    index = pd.period_range(START - history, periods=history + len(y), freq="h")
    return pd.DataFrame({0: np.concatenate([np.zeros(history), y])}, index=index)


LEVELS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def test_pit_coverage_of_a_calibrated_censored_forecast_is_uniform():
    """Outcomes drawn from a censored IQF with 40% of its mass on the bound: the
    split ties give coverage(u) = u (within Monte Carlo error) and the 98%
    interval holds 98%; counting ``y <= q(u)`` says 40% at every level below
    the mass and an interval that holds 59%."""
    base = iqf_forecast(5).distribution
    with torch.no_grad():
        bound = base.icdf(torch.full((6,), 0.4))
        dist = censored(base, bound)
        rng = np.random.default_rng(0)
        forecasts, series, naive = [], [], []
        q = dist.icdf(torch.tensor(LEVELS).reshape(-1, 1)).numpy()  # (L, T)
        for _ in range(500):
            y = dist.icdf(torch.as_tensor(rng.uniform(size=6), dtype=torch.float32))
            forecasts.append(DistributionForecast(dist, START))
            series.append(_frame(y.numpy()))
            naive.append(y.numpy() <= q)
    got = pit_coverage(forecasts, series, LEVELS)
    np.testing.assert_allclose(got, LEVELS, atol=0.025)
    naive = np.mean(naive, axis=(0, 2))
    assert naive[0] == pytest.approx(0.4, abs=0.03)  # the plain count is wrong
    res = BacktestResult({}, forecasts, series, coverage=dict(zip(LEVELS, got)))
    assert res.interval(0.98) == pytest.approx(0.98, abs=0.02)
    assert naive[-1] - naive[0] == pytest.approx(0.59, abs=0.03)


def test_pit_coverage_splits_ties_of_sample_forecasts_by_their_quantiles():
    """Counts: Poisson(2) outcomes under Poisson(2) samples (no ``cdf``: the
    limits are read off the quantiles) are calibrated, ties and all."""
    rng = np.random.default_rng(1)
    samples = rng.poisson(2.0, size=(4000, 5)).astype(float)
    forecasts = [SampleForecast(samples, START) for _ in range(400)]
    series = [_frame(rng.poisson(2.0, size=5).astype(float)) for _ in range(400)]
    np.testing.assert_allclose(
        pit_coverage(forecasts, series, LEVELS), LEVELS, atol=0.03
    )


def test_pit_coverage_without_ties_is_the_plain_count():
    rng = np.random.default_rng(2)
    forecasts, series, want = [], [], []
    for _ in range(30):
        rows = np.sort(rng.normal(size=(3, 4)), axis=0)
        y = rng.normal(size=4)
        y[np.isin(np.arange(4), rng.integers(0, 4, 1))] = np.nan  # a missing step
        forecasts.append(quantile_forecast(rows))
        series.append(_frame(y))
        want.append(np.where(np.isfinite(y), y <= rows, np.nan))
    got = pit_coverage(forecasts, series, (0.1, 0.5, 0.9))
    np.testing.assert_allclose(got, np.nanmean(np.stack(want), axis=(0, 2)), rtol=1e-12)
