"""Fan charts and quantile-function plots are written as PNG files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import SampleForecast
from gluonts.torch.model.forecast import DistributionForecast

from gluonts_qf import IQFOutput
from gluonts_qf.plotting import plot_fan_chart, plot_quantile_function

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"
START = pd.Period("2020-01-01 00:00", freq="h")


def iqf_forecast(seed: int, steps: int = 8) -> DistributionForecast:
    g = torch.Generator().manual_seed(seed)
    out = IQFOutput(knot_levels=(0.1, 0.5, 0.9))
    raw = [torch.randn(steps, d, generator=g) for d in out.args_dim.values()]
    return DistributionForecast(
        out.distribution(out.domain_map(*raw)), START, item_id=f"s{seed}"
    )


def truth(steps: int = 8, history: int = 30) -> pd.DataFrame:
    index = pd.period_range(START - history, periods=history + steps, freq="h")
    return pd.DataFrame({0: np.sin(np.arange(history + steps) / 3)}, index=index)


def test_fan_chart(tmp_path):
    forecasts = [iqf_forecast(s) for s in range(3)]
    forecasts.append(
        SampleForecast(np.random.default_rng(0).normal(size=(50, 8)), START)
    )
    path = plot_fan_chart(
        forecasts, [truth()] * 4, tmp_path / "sub" / "fan.png", num_series=3
    )
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="between 0 and 1"):
        plot_fan_chart(forecasts, [truth()] * 4, tmp_path / "x.png", levels=(0.1, 1.5))


def test_quantile_function(tmp_path):
    path = plot_quantile_function(iqf_forecast(1), -1, tmp_path / "qf.png", truth=0.3)
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="step"):
        plot_quantile_function(iqf_forecast(1), 8, tmp_path / "qf.png")


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"gluonts-qf\[plots\]"):
        plot_quantile_function(iqf_forecast(1), 0, tmp_path / "qf.png")


def test_correlation_heatmaps(tmp_path):
    pytest.importorskip("matplotlib")
    from gluonts_qf.plotting import plot_correlation_heatmaps

    joint = np.full((4, 4), 0.8) + 0.2 * np.eye(4)
    path = plot_correlation_heatmaps(
        {"MQF2": joint, "IQF": np.eye(4)}, tmp_path / "c.png", title="t"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="must be square"):
        plot_correlation_heatmaps({"x": np.ones((2, 3))}, tmp_path / "d.png")
    with pytest.raises(ValueError, match="empty"):
        plot_correlation_heatmaps({}, tmp_path / "e.png")
