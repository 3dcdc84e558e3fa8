"""``decide``: the report behind ``gluonts-qf decide``, its files and its plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from oracles import exponential_iqf, iqf_forecast, sample_forecast

from gluonts_qf import decisions as dec
from gluonts_qf.plotting import plot_lead_time_fan, plot_service_levels

PNG = b"\x89PNG\r\n\x1a\n"


def test_one_step_of_iqf_forecasts(tmp_path):
    fs = [iqf_forecast(exponential_iqf(r, steps=3), item_id=r) for r in (0.5, 1.0)]
    report = dec.decide(fs, [0.9, 0.95], costs=(3.0, 1.0))
    table = report.table()
    assert report.lead_time == 1 and report.assumption is None
    assert list(table["level"]) == [0.75, 0.9, 0.95]
    assert list(table["optimal"]) == ["*", "", ""]
    # beyond the last knot (0.8) each series' quantity is -log(1 - a) / rate
    want = -np.log(0.05) * (1 / 0.5 + 1 / 1.0)
    assert table["quantity"].iloc[2] == pytest.approx(want, rel=1e-12)
    assert "exact (IQF closed form)" in report.describe()
    assert "0.95" in report.format() and "*" in report.format()
    paths = report.save(tmp_path)
    assert [p.name for p in paths] == [
        "tradeoff.csv",
        "tradeoff_per_series.csv",
        "service_levels.png",
    ]
    saved = pd.read_csv(tmp_path / "tradeoff.csv")
    np.testing.assert_allclose(saved["quantity"], table["quantity"])
    assert len(pd.read_csv(tmp_path / "tradeoff_per_series.csv")) == 2 * 3
    assert (tmp_path / "service_levels.png").read_bytes().startswith(PNG)


def test_lead_time_of_joint_samples(tmp_path):
    rng = np.random.default_rng(0)
    paths = [100 + rng.normal(size=(2000, 6)).cumsum(1) for _ in range(3)]
    report = dec.decide([sample_forecast(p) for p in paths], [0.5, 0.9], lead_time=4)
    assert report.assumption == "joint samples"
    assert set(report.totals) == {"joint samples", "independent steps"}
    # the median total of each series is about 4 x 100: the sum is about 1200
    assert report.table()["quantity"].iloc[0] == pytest.approx(1200, abs=3)
    assert "independence understates the spread in 100% of series" in (
        report.describe()
    )
    names = [p.name for p in report.save(tmp_path)]
    assert "lead_time_total.png" in names
    assert (tmp_path / "lead_time_total.png").read_bytes().startswith(PNG)


def test_lead_time_of_iqf_forecasts_names_independence():
    fs = [iqf_forecast(exponential_iqf(1.0, steps=3))]
    report = dec.decide(fs, [0.9], lead_time=3, num_samples=500)
    assert report.assumption == "independent steps" and report.comparison is None
    assert "assumption: independent steps" in report.describe()


def test_bad_inputs():
    fs = [iqf_forecast(exponential_iqf(1.0, steps=3))]
    with pytest.raises(ValueError, match="exceeds the forecast horizon 3"):
        dec.decide(fs, [0.9], lead_time=4)
    with pytest.raises(ValueError, match="no forecasts"):
        dec.decide([], [0.9])
    with pytest.raises(ValueError, match="over_cost"):
        dec.decide(fs, [0.9], costs=(1.0, 0.0))
    with pytest.raises(ValueError, match="two 1-D arrays"):
        plot_service_levels([0.5, 0.9], [1.0], "unused.png")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_lead_time_fan({}, "unused.png")
