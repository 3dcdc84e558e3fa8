"""The synthetic known-Gaussian dataset of the ``mqf2`` experiment and its figure."""

from __future__ import annotations

import numpy as np
import pytest

from gluonts_qf.reproduce.correlation import correlation_error
from gluonts_qf.reproduce.reproduce import reproduce
from gluonts_qf.reproduce.synthetic import (
    SYNTHETIC,
    AR1Data,
    load_data,
    true_horizon_correlation,
)


def test_ar1_series_have_the_stated_dynamics():
    """Pooled over series: lag-1 autocorrelation phi, variance sigma^2 / (1 - phi^2)."""
    spec = AR1Data(phi=0.6, sigma=2.0, num_series=200, length=300)
    y = spec.series()
    x = y - y.mean(axis=1, keepdims=True)
    lag1 = (x[:, 1:] * x[:, :-1]).sum() / (x * x).sum()
    assert lag1 == pytest.approx(0.6, abs=0.02)
    assert x.var() == pytest.approx(4.0 / (1 - 0.36), rel=0.05)


def test_horizon_covariance_is_the_conditional_covariance():
    """Simulate from one known state: the next T values' covariance matches."""
    spec = AR1Data(phi=0.8, sigma=1.5, prediction_length=5)
    rng = np.random.default_rng(1)
    x, paths = np.full(200_000, 3.0), []
    for _ in range(spec.prediction_length):
        x = spec.phi * x + spec.sigma * rng.standard_normal(x.size)
        paths.append(x)
    empirical = np.cov(np.stack(paths))
    np.testing.assert_allclose(empirical, spec.horizon_covariance(), rtol=0.03)
    corr = true_horizon_correlation("synthetic_ar1")
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert corr[0, 1] > corr[0, 2] > 0  # dependence decays with the lag


def test_load_data_serves_the_synthetic_dataset_without_a_folder(tmp_path):
    spec = SYNTHETIC["synthetic_ar1"]
    data = load_data("synthetic_ar1", tmp_path / "nowhere", max_series=3)
    train, test = data.train, data.test
    assert data.prediction_length == spec.prediction_length
    assert len(train) == len(test) == 3
    T = spec.prediction_length
    assert len(test[0]["target"]) == len(train[0]["target"]) + T == spec.length
    np.testing.assert_array_equal(test[1]["target"][:-T], train[1]["target"])


def test_mqf2_smoke_draws_the_known_gaussian_figure(data_dir, tmp_path):
    """Smoke budget: the figure (true | iqf | mqf2) and the table rows exist;
    IQF's independent steps are uncorrelated, so its error is the truth's mean
    off-diagonal correlation (about 0.5)."""
    result = reproduce(
        "mqf2",
        smoke=True,
        datasets=["synthetic_ar1"],
        models=["iqf", "mqf2"],
        out=tmp_path,
        data_dir=data_dir,
        log=lambda _: None,
    )
    figure = tmp_path / "figures" / "synthetic_ar1" / "known_gaussian.png"
    assert figure in result.files and figure.stat().st_size > 0
    assert {label for label, _ in result.rows} == {"iqf", "mqf2"}
    true = true_horizon_correlation("synthetic_ar1")
    iqf = next(r for r in result.records if r["label"] == "iqf")
    corr = np.array(iqf["horizon_correlation"], dtype=float)
    off = ~np.eye(len(true), dtype=bool)
    assert np.abs(corr[off]).max() < 0.3
    assert correlation_error(true, corr) == pytest.approx(true[off].mean(), abs=0.05)
