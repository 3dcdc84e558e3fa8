"""Cells scored jointly across series: grouping, stacking, GluonTS's multivariate scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gluonts.dataset.common import ListDataset
from gluonts.model.forecast import QuantileForecast, SampleForecast

from gluonts_qf.evaluation.backtest import multivariate_backtest
from gluonts_qf.evaluation.joint import sample_energy_score, series_correlation
from gluonts_qf.evaluation.scores import sample_crps
from gluonts_qf.reproduce.reproduce import reproduce
from gluonts_qf.reproduce.series import (
    folder_name,
    group_series,
    grouped_frames,
    stack_forecasts,
)

FREQ, N, DATES, H, LENGTH = "D", 3, 2, 4, 20
START = pd.Period("2020-01-01", freq=FREQ)


def _split():
    """N series; test = for each of DATES dates, one entry per series (GluonTS's order)."""
    values = np.arange(N)[:, None] * 100.0 + np.arange(LENGTH + DATES * H)  # (N, L)
    train = [{"start": START, "target": values[i, :LENGTH]} for i in range(N)]
    test = [
        {"start": START, "target": values[i, : LENGTH + (d + 1) * H], "item_id": i}
        for d in range(DATES)
        for i in range(N)
    ]
    return train, test


def test_group_series_takes_each_dates_block():
    train, test = _split()
    g = group_series(
        list(ListDataset(train, freq=FREQ)), list(ListDataset(test, freq=FREQ)), 2
    )
    assert (g.dim, g.num_dates) == (2, DATES)
    assert [e["item_id"] for e in g.test] == [0, 1, 0, 1]  # series 2 left out
    assert len(g.grouped_train) == 1 and len(g.grouped_test) == DATES
    np.testing.assert_array_equal(g.grouped_train[0]["target"][1], train[1]["target"])
    for d, entry in enumerate(g.grouped_test):
        assert entry["target"].shape == (2, LENGTH + (d + 1) * H)
        np.testing.assert_array_equal(entry["target"][1], test[d * N + 1]["target"])
    frames = grouped_frames(g.grouped_test, FREQ)
    assert frames[1].shape == (LENGTH + 2 * H, 2)
    assert frames[1].index[0] == START and frames[1].iloc[-1, 1] == 100 + 27


def test_group_series_bad_input():
    train, test = _split()
    with pytest.raises(ValueError, match="more series than the dataset's 3"):
        group_series(train, test, 4)
    with pytest.raises(ValueError, match="not whole blocks of the 3 training series"):
        group_series(train, test[:-1], 2)


def test_stack_forecasts_keeps_each_series_samples():
    rng = np.random.default_rng(0)
    uni = [
        SampleForecast(rng.normal(size=(5, H)) + 10 * i, start_date=START + LENGTH)
        for i in range(4)
    ]
    stacked = stack_forecasts(uni, 2)
    assert len(stacked) == 2 and stacked[1].samples.shape == (5, H, 2)
    np.testing.assert_array_equal(stacked[1].samples[..., 0], uni[2].samples)
    np.testing.assert_array_equal(stacked[1].samples[..., 1], uni[3].samples)
    assert stacked[0].start_date == START + LENGTH
    with pytest.raises(ValueError, match="not whole blocks of 3"):
        stack_forecasts(uni, 3)


def _window(rng, dates=3, m=2, s=400):
    """Correlated (S, H, m) samples and (L, m) frames whose last H rows are scored."""
    forecasts, frames = [], []
    for _ in range(dates):
        y = rng.normal(size=(LENGTH + H, m)) + 50.0
        x = rng.normal(size=(s, H, m)) + 50.0
        forecasts.append(SampleForecast(x, start_date=START + LENGTH))
        frames.append(
            pd.DataFrame(y, index=pd.period_range(START, periods=LENGTH + H, freq=FREQ))
        )
    return forecasts, frames


def _wql(samples, y, levels):
    """Mean weighted quantile loss by hand; a sample forecast's quantile is its
    ``round((S - 1) u)``-th smallest sample (GluonTS's rule)."""
    losses = []
    ordered = np.sort(samples, axis=0)
    for u in levels:
        q = ordered[int(np.round((len(samples) - 1) * u))]
        losses.append(2 * np.sum(np.abs((y - q) * ((y <= q) - u))) / np.sum(np.abs(y)))
    return float(np.mean(losses))


def test_multivariate_backtest_against_hand_computed_scores():
    rng = np.random.default_rng(1)
    forecasts, frames = _window(rng)
    levels = (0.1, 0.5, 0.9)
    res = multivariate_backtest(forecasts, frames, levels, num_samples=400)
    x = np.concatenate([f.samples for f in forecasts], axis=1)  # (S, dates * H, m)
    y = np.concatenate([fr.values[-H:] for fr in frames], axis=0)  # (dates * H, m)
    # CRPS-Sum: GluonTS's wQL of the total over the series
    assert res["CRPS_Sum"] == pytest.approx(_wql(x.sum(-1), y.sum(-1), levels), 1e-6)
    # the dimensions' quantile losses summed, over the sum of all |y|
    flat = _wql(x.reshape(len(x), -1), y.reshape(-1), levels)
    assert res["mean_wQuantileLoss"] == pytest.approx(flat, 1e-6)
    crps = sample_crps(x, y)
    assert res["wCRPS"] == pytest.approx(crps.sum() / np.abs(y).sum(), 1e-9)
    es = [
        sample_energy_score(f.samples.reshape(400, -1), fr.values[-H:].reshape(-1))
        for f, fr in zip(forecasts, frames)
    ]
    assert res["ES"] == pytest.approx(np.mean(es), 1e-9)
    with pytest.raises(ValueError, match="stack univariate forecasts first"):
        multivariate_backtest([SampleForecast(x[:, :H, 0], START)], frames[:1])
    quantiles_only = QuantileForecast(x[:2, :H, 0], START, forecast_keys=["0.1", "0.9"])
    with pytest.raises(ValueError, match="stack univariate forecasts first"):
        multivariate_backtest([quantiles_only], frames[:1])


def test_series_correlation_of_known_gaussians():
    rng = np.random.default_rng(2)
    cov = np.array([[1.0, 0.7, 0.0], [0.7, 1.0, -0.4], [0.0, -0.4, 1.0]])
    x = rng.multivariate_normal(np.zeros(3), cov, size=(4000, H))  # (S, H, 3)
    corr = series_correlation(
        [SampleForecast(x, START), SampleForecast(x[::-1], START)]
    )
    np.testing.assert_allclose(corr, cov, atol=0.05)
    const = x.copy()
    const[..., 2] = 1.0  # no spread: undefined, left out
    assert np.isnan(series_correlation([SampleForecast(const, START)])[0, 2])


def test_folder_name():
    assert folder_name("exchange_rate (8 series)") == "exchange_rate_8_series"


def test_mqf2_smoke_series_cells(data_dir, tmp_path):
    """The grouped rows of the ``mqf2`` experiment: one table group, same scores."""
    result = reproduce(
        "mqf2",
        smoke=True,
        datasets=["exchange_rate"],
        models=["series_mqf2", "series_iqf", "series_seasonal_naive"],
        out=tmp_path,
        data_dir=data_dir,
        log=lambda _: None,
    )
    rows = {label: row for label, row in result.rows}
    assert {r["dataset"] for r in rows.values()} == {"exchange_rate (4 series)"}
    for label, row in rows.items():
        assert row["error"] == "", label
        for column in ("ES", "VS", "wCRPS", "CRPS_Sum", "mean_wQuantileLoss", "MSIS"):
            assert np.isfinite(row[column]), (label, column)
    records = {r["label"]: r for r in result.records}
    joint = np.array(records["series_mqf2"]["series_correlation"], dtype=float)
    assert joint.shape == (4, 4)
    np.testing.assert_allclose(np.diag(joint), 1.0, atol=1e-3)
    indep = np.array(records["series_iqf"]["series_correlation"], dtype=float)
    off = ~np.eye(4, dtype=bool)
    assert np.abs(indep[off]).max() < 0.35  # stacked independently: about 0
    assert (
        tmp_path / "figures" / "exchange_rate_4_series" / "series_correlation.png"
    ).exists()
