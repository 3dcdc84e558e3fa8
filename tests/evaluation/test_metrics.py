"""Crossing rate, sample/closed-form CRPS, backtest and results tables."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import QuantileForecast, SampleForecast
from gluonts.torch.model.forecast import DistributionForecast
from scipy.stats import norm

from gluonts_qf import IQFOutput
from gluonts_qf.evaluation import (
    backtest,
    crossing_rate,
    forecast_crps,
    format_markdown,
    format_table,
    sample_crps,
    weighted_crps,
    write_csv,
)
from gluonts_qf.evaluation.tables import format_value

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


# -- backtest ----------------------------------------------------------------
def test_backtest_seasonal_naive(m4_hourly):
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor

    test = list(itertools.islice(m4_hourly.test, 5))
    res = backtest(SeasonalNaivePredictor(48, 24), test, progress=False)
    for key in ("mean_wQuantileLoss", "wCRPS", "MASE", "ND", "NRMSE", "crossing_rate"):
        assert math.isfinite(res[key]), key
    assert res["crossing_rate"] == 0.0 and res["num_series"] == 5
    # one sample = a point forecast: CRPS is the absolute error, so wCRPS == ND
    assert res["wCRPS"] == pytest.approx(res["ND"], rel=1e-9)
    assert len(res.forecasts) == len(res.series) == 5


# -- tables -------------------------------------------------------------------
ROWS = [
    (
        "iqf",
        {"mean_wQuantileLoss": 0.04321, "MASE": 1.2345678, "train_seconds": 123.456},
    ),
    ("seasonal_naive", {"mean_wQuantileLoss": 0.048, "MASE": float("nan")}),
]


def test_format_value():
    assert format_value(0.0483412) == "0.04834"
    assert format_value(1.19) == "1.190"
    assert format_value(12345.6) == "12346"
    assert format_value(0.0) == "0"
    assert format_value(float("nan")) == "-"
    assert format_value(None) == "-"
    assert format_value(7) == "7"


def test_format_table_is_aligned():
    text = format_table(ROWS)
    lines = text.splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1
    assert lines[0].split() == ["model", "mean_wQuantileLoss", "MASE", "train_seconds"]
    assert lines[2].split() == ["iqf", "0.04321", "1.235", "123.5"]
    assert lines[3].split() == ["seasonal_naive", "0.04800", "-", "-"]
    assert lines[2].endswith("123.5")  # numbers right-aligned
    only = format_table(ROWS, columns=["MASE"]).splitlines()
    assert only[0].split() == ["model", "MASE"]


def test_format_markdown():
    lines = format_markdown(ROWS).splitlines()
    assert lines[0].startswith("| model") and lines[0].endswith("|")
    assert lines[1].startswith("|---") and lines[1].count(":|") == 3
    assert "| seasonal_naive |" in lines[3]


def test_write_csv(tmp_path):
    path = write_csv(ROWS, tmp_path / "m.csv")
    with path.open() as fp:
        rows = list(csv.DictReader(fp))
    assert [r["model"] for r in rows] == ["iqf", "seasonal_naive"]
    assert float(rows[0]["MASE"]) == 1.2345678 and rows[1]["train_seconds"] == ""
