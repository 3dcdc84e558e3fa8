"""The statistical peers: statsforecast through GluonTS's wrappers, with quantiles
at our levels, a context cap that keeps the calendar, and gaps filled."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from gluonts_qf.model.statistical import _filled, statistical_predictor

LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]


def _entry(n: int = 80, gaps: bool = False) -> dict:
    t = np.arange(n, dtype=float)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 1, n)
    if gaps:
        y[[0, 1, 40]] = np.nan
    return {"start": pd.Period("2020-01", freq="M"), "target": y, "item_id": "a"}


def test_filled_carries_the_last_observation_and_the_first_backwards():
    y = np.array([np.nan, 2.0, np.nan, np.nan, 5.0, np.nan])
    np.testing.assert_array_equal(_filled(y), [2, 2, 2, 2, 5, 5])
    np.testing.assert_array_equal(_filled(np.full(3, np.nan)), [0, 0, 0])


@pytest.mark.parametrize(
    "name",
    ["naive_intervals", "auto_theta", "auto_ets", "auto_ces", "dynamic_theta", "drift"],
)
def test_quantiles_at_our_levels_median_is_the_mean(name):
    p = statistical_predictor(name, "M", 6, LEVELS)
    fc = p.predict_item(_entry(gaps=True))
    assert fc.forecast_keys == ["mean", "0.05", "0.1", "0.5", "0.9", "0.95"]
    q = np.stack([fc.quantile(u) for u in LEVELS])
    assert np.all(np.isfinite(q)) and np.all(np.diff(q, axis=0) >= 0)
    np.testing.assert_array_equal(fc.quantile(0.5), fc.mean)
    assert fc.start_date == pd.Period("2020-01", freq="M") + 80


def test_the_context_cap_keeps_the_calendar_and_the_season():
    """Seasonal naive on the last 24 steps repeats the same last season as on
    all 80, and its forecast starts where the series ends."""
    entry = _entry()
    full = statistical_predictor("naive_intervals", "M", 12, LEVELS, max_context=500)
    cut = statistical_predictor("naive_intervals", "M", 12, LEVELS, max_context=24)
    a, b = full.predict_item(entry), cut.predict_item(entry)
    assert a.start_date == b.start_date == entry["start"] + 80
    np.testing.assert_allclose(a.mean, entry["target"][-12:])
    np.testing.assert_allclose(b.mean, a.mean)


def test_unknown_model_and_missing_statsforecast(monkeypatch):
    with pytest.raises(ValueError, match="unknown statistical model 'prophet'"):
        statistical_predictor("prophet", "M", 6, LEVELS)
    monkeypatch.setitem(sys.modules, "gluonts.ext.statsforecast", None)
    with pytest.raises(ValueError, match=r"pip install 'gluonts-qf\[stats\]'"):
        statistical_predictor("auto_ets", "M", 6, LEVELS)


def test_a_series_the_model_refuses_gets_the_naive_forecast():
    """AutoETS raises on a 4-step series; the peer forecasts it naively."""
    entry = {"start": pd.Period("2020", freq="Y"), "target": np.array([3.0, 4, 5, 6])}
    fc = statistical_predictor("auto_ets", "Y", 2, LEVELS).predict_item(entry)
    np.testing.assert_allclose(fc.mean, [6.0, 6.0])
    q = np.stack([fc.quantile(u) for u in LEVELS])
    assert np.all(np.diff(q, axis=0) >= 0) and np.all(q[-1] > q[0])


def test_drift_continues_the_average_step_of_the_capped_history():
    """Random walk with drift: the mean at step h is the last value plus h times
    the average step over the steps it reads (the last ``max_context``), and
    its intervals widen with h (a random walk's sd grows like sqrt(h))."""
    y = 100 + np.cumsum(np.random.default_rng(3).normal(0.5, 1.0, 60))
    entry = {"start": pd.Period("2020-01", freq="M"), "target": y}
    for cap, first in ((500, y[0]), (20, y[-20])):
        fc = statistical_predictor("drift", "M", 6, LEVELS, max_context=cap)
        fc = fc.predict_item(entry)
        steps = min(cap, len(y)) - 1
        want = y[-1] + np.arange(1, 7) * (y[-1] - first) / steps
        np.testing.assert_allclose(fc.mean, want, rtol=1e-6)
        width = fc.quantile(0.95) - fc.quantile(0.05)
        assert np.all(np.diff(width) > 0)


@pytest.mark.parametrize(
    "name", ["naive_intervals", "auto_theta", "auto_ets", "auto_ces", "dynamic_theta"]
)
def test_a_noiseless_season_is_continued_at_the_frequencys_season(name):
    """Eight years of a pure 12-month sine about 50: at GluonTS's season for
    monthly data each seasonal model continues it; told the season is 1, none
    can (the sine's amplitude is 10)."""
    t = np.arange(108.0)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12)
    entry = {"start": pd.Period("2020-01", freq="M"), "target": y[:96]}
    fc = statistical_predictor(name, "M", 12, LEVELS).predict_item(entry)
    np.testing.assert_allclose(fc.mean, y[96:], atol=1e-2)
    flat = statistical_predictor(name, "M", 12, LEVELS, season_length=1)
    assert np.abs(flat.predict_item(entry).mean - y[96:]).max() > 5
