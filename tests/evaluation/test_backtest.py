"""The backtest: GluonTS's metrics plus our scores, on real test windows."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gluonts_qf.evaluation import backtest


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
