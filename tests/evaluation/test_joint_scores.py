"""Energy and variogram scores of joint (over the horizon) forecasts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import QuantileForecast, SampleForecast
from gluonts.torch.model.forecast import DistributionForecast

from gluonts_qf import IQFOutput
from gluonts_qf.evaluation import (
    backtest,
    energy_score,
    forecast_samples,
    sample_energy_score,
    sample_variogram_score,
    variogram_score,
)

START = pd.Period("2020-01-01 00:00", freq="h")


def brute_energy(x, y, beta):
    """Double loop over sample pairs, observed coordinates only."""
    ok = np.isfinite(y)
    x, y = x[:, ok], y[ok]
    s = len(x)
    term1 = np.mean([np.linalg.norm(xi - y) ** beta for xi in x])
    pairs = sum(
        np.linalg.norm(x[i] - x[j]) ** beta
        for i in range(s)
        for j in range(s)
        if i != j
    )
    return term1 - pairs / (2 * s * (s - 1))


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
        brute_energy(x, y, beta), rel=1e-9
    )
    y[[1, 4]] = np.nan  # missing values drop out of every norm
    assert sample_energy_score(x, y, beta) == pytest.approx(
        brute_energy(x, y, beta), rel=1e-9
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


def test_backtest_reports_es_and_vs(m4_hourly):
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor

    test = list(itertools.islice(m4_hourly.test, 4))
    res = backtest(SeasonalNaivePredictor(48, 24), test, progress=False)
    assert np.isfinite(res["ES"]) and np.isfinite(res["VS"])
    # one sample: the energy score is the Euclidean error of the point forecast
    want = np.mean(
        [
            np.linalg.norm(fc.samples[0] - ts.loc[fc.index].to_numpy().ravel())
            for fc, ts in zip(res.forecasts, res.series)
        ]
    )
    assert res["ES"] == pytest.approx(want, rel=1e-9)
