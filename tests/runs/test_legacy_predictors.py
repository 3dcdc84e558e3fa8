"""Predictors saved by the previous layout (684e8e7) load and forecast as they did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gluonts_qf.distributions.calibrated import CalibratedIQFOutput
from gluonts_qf.runs.legacy import rewrite
from gluonts_qf.runs.predictors import load_predictor

SAVED = Path(__file__).resolve().parents[1] / "data" / "legacy_predictors"


def _data() -> list[dict]:
    """The six series the predictors were trained on (make_at_684e8e7.py)."""
    rng = np.random.default_rng(0)
    t = np.arange(120)
    series = [
        10 + 3 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 0.5, 120)
        for i in range(6)
    ]
    start = pd.Period("2020-01", freq="M")
    return [
        {"start": start, "target": s, "item_id": f"s{i}"} for i, s in enumerate(series)
    ]


@pytest.mark.parametrize("name", ["iqf", "iqf_tails", "mqf2"])
def test_old_predictors_forecast_as_they_did(name):
    expected = json.loads((SAVED / "expected.json").read_text())[name]
    predictor = load_predictor(SAVED / name)
    torch.manual_seed(1)
    forecasts = list(predictor.predict(_data()))[:2]
    if name == "mqf2":
        got = [fc.samples[:3] for fc in forecasts]
    else:
        got = [fc.distribution.quantile([0.01, 0.5, 0.97]).numpy() for fc in forecasts]
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


def test_the_old_calibrated_head_becomes_todays_wrapping_the_trained_head():
    predictor = load_predictor(SAVED / "iqf_tails")
    head = predictor.forecast_generator.distr_output
    assert isinstance(head, CalibratedIQFOutput)
    old = json.loads((SAVED / "iqf_tails" / "predictor.json").read_text())
    saved = old["kwargs"]["forecast_generator"]["kwargs"]["distr_output"]["kwargs"]
    assert head.distr_output.knot_levels == tuple(saved["knot_levels"]["args"][0])
    assert head.map_values == saved["map_values"]
    # the saved folder itself is left as it was
    assert (
        "gluonts_qf.calibration" in (SAVED / "iqf_tails" / "predictor.json").read_text()
    )


def test_rewrite_leaves_todays_trees_alone_and_renames_moved_classes():
    today = {"__kind__": "instance", "class": "gluonts_qf.IQFOutput", "kwargs": {}}
    assert rewrite(today) == today
    moved = {
        "__kind__": "instance",
        "class": "gluonts_qf.model.forking.estimator.RowwiseLastValueImputation",
        "kwargs": {},
    }
    assert rewrite([moved])[0]["class"] == (
        "gluonts_qf.model.forking.data.RowwiseLastValueImputation"
    )
