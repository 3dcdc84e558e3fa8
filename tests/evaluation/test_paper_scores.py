"""The papers' extra scores: CRPS-Sum, MSIS (GluonTS's), horizon correlation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from gluonts.model.forecast import SampleForecast

from gluonts_qf.evaluation import backtest
from gluonts_qf.evaluation.joint import crps_sum, horizon_correlation, sample_crps_sum

START = pd.Period("2020-01-01 00:00", freq="h")


def brute_force_crps(x: np.ndarray, y: float) -> float:
    """``mean_i |x_i - y| - sum_{i != j} |x_i - x_j| / (2 S (S - 1))``, by loops."""
    s = len(x)
    pairs = sum(abs(x[i] - x[j]) for i in range(s) for j in range(s) if i != j)
    return float(np.mean(np.abs(x - y)) - pairs / (2 * s * (s - 1)))


def test_crps_sum_hand_value():
    # totals 3 and 7 against 10: mean |x - y| = 5, pair term 2 * 4 / 4 = 2
    samples = np.array([[1.0, 2.0], [3.0, 4.0]])  # (S, T)
    assert sample_crps_sum(samples, np.array([5.0, 5.0]), axis=0) == (3.0, 10.0)


def test_crps_sum_over_series_matches_brute_force():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(7, 5, 3))  # (S, T, D): sum over the D series
    y = rng.normal(size=(5, 3))
    crps, weight = sample_crps_sum(samples, y, axis=-1)
    totals = samples.sum(-1)  # (S, T)
    want = sum(brute_force_crps(totals[:, t], y[t].sum()) for t in range(5))
    assert crps == pytest.approx(want, rel=1e-12)
    assert weight == pytest.approx(np.abs(y.sum(-1)).sum())


def test_crps_sum_of_forecasts_weights_and_skips_missing():
    rng = np.random.default_rng(1)
    forecasts, series, num, den = [], [], 0.0, 0.0
    for i in range(3):
        x = rng.normal(10, 2, size=(9, 4))  # (S, T)
        y = rng.normal(10, 2, size=4)
        y[i] = np.nan  # one missing step per series: left out of both sums
        fc = SampleForecast(x, START)
        forecasts.append(fc)
        series.append(pd.Series(y, index=fc.index))
        ok = np.isfinite(y)
        num += brute_force_crps(x[:, ok].sum(1), y[ok].sum())
        den += abs(y[ok].sum())
    assert crps_sum(forecasts, series) == pytest.approx(num / den, rel=1e-12)


def test_horizon_correlation_sees_dependence():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4000, 1))
    steps = np.arange(1.0, 6.0)
    joint = SampleForecast(z * steps, START)  # every step a multiple of one draw
    independent = SampleForecast(rng.normal(size=(4000, 5)), START)
    np.testing.assert_allclose(horizon_correlation([joint]), np.ones((5, 5)))
    corr = horizon_correlation([independent])
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.abs(corr - np.eye(5)).max() < 0.1
    mixed = horizon_correlation([joint, independent])
    assert mixed[0, 4] == pytest.approx((1 + corr[0, 4]) / 2)


def test_msis_is_reported_by_gluonts_evaluator(m4_hourly):
    """A point forecast has l = u = f, so MSIS = (2 / alpha) MASE = 40 MASE."""
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor

    test = list(itertools.islice(m4_hourly.test, 5))
    res = backtest(SeasonalNaivePredictor(48, 24), test, progress=False)
    assert res.aggregate["MSIS"] == pytest.approx(40 * res["MASE"], rel=1e-9)
    assert "wQuantileLoss[0.5]" in res.aggregate
