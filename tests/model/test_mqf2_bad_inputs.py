"""MQF2Estimator on bad inputs: IQF's matrix, and wrong multivariate targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from common import LEVELS, trainer_kwargs
from test_iqf_estimator import CASES, H, _dataset, _wavy, train_robust

from gluonts_qf import MQF2Estimator
from gluonts_qf.model.forking import SCALINGS

SMALL = {
    "hidden_size": 8,
    "decoder_hidden": 8,
    "picnn_hidden_size": 8,
    "es_num_samples": 8,
    "batch_size": 8,
    "num_parallel_samples": 200,
}


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_robust_data_trains_and_predicts(case, scaling, tmp_path):
    targets = CASES[case]
    predictor = train_robust(MQF2Estimator, targets, tmp_path, scaling=scaling, **SMALL)
    torch.manual_seed(0)
    forecasts = list(predictor.predict(_dataset(targets)))
    assert len(forecasts) == len(targets)
    for fc, target in zip(forecasts, targets):
        assert fc.samples.shape == (200, H) and np.isfinite(fc.samples).all(), case
        qs = np.stack([fc.quantile(a) for a in LEVELS])  # (L, T)
        assert (np.diff(qs, axis=0) >= 0).all()
        observed = target[np.isfinite(target)]
        if observed.size and np.ptp(observed) == 0 and observed[0] != 0:
            # a constant history is forecast near its constant
            np.testing.assert_allclose(
                fc.quantile(0.5), observed[0], atol=0.25 * abs(observed[0])
            )


def _series_est(tmp_path, anchor: str = "seasonal") -> MQF2Estimator:
    return MQF2Estimator(
        anchor=anchor,
        freq="h",
        prediction_length=4,
        season_length=2,
        joint="series",
        target_dim=2,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs(tmp_path, 1),
        **SMALL,
    )


START = pd.Period("2021-03-01 00:00", freq="h")
RNG = np.random.default_rng(0)
GOOD = {"start": START, "target": RNG.random((2, 40)), "item_id": "good"}


@pytest.mark.parametrize(
    "target, message",
    [
        (RNG.random((3, 40)), r"shape \(3, 40\), but the model reads \(2, length\); "),
        (RNG.random(40), r"shape \(40,\), but the model reads \(2, length\)"),
        ([list(RNG.random(40)), list(RNG.random(30))], "ragged target"),
    ],
    ids=["wrong target_dim", "univariate", "ragged"],
)
@pytest.mark.parametrize("where", ["first", "later", "later, anchor auto"])
def test_wrong_multivariate_target_is_a_clear_error(target, message, where, tmp_path):
    bad = {"start": START, "target": target, "item_id": "bad"}
    data = [bad, GOOD] if where == "first" else [GOOD, GOOD, bad]
    # the first is checked before training, later ones as anchor="auto" reads
    # them or, with a fixed anchor, as training reads them (CheckTarget)
    est = _series_est(tmp_path, "auto" if "auto" in where else "seasonal")
    with pytest.raises(ValueError, match=f"series 'bad' has .*{message}"):
        est.train(data)


def test_univariate_model_on_a_multivariate_target(tmp_path):
    est = MQF2Estimator(freq="h", prediction_length=4, season_length=2, **SMALL)
    with pytest.raises(
        ValueError, match=r"shape \(2, 40\), but the model reads \(length,\)"
    ):
        est.train([GOOD])


def test_shorter_series_than_the_horizon_wrong_freq(tmp_path):
    est = MQF2Estimator(freq="D", prediction_length=H, **SMALL)
    with pytest.raises(ValueError, match=r"frequency.*'h'.*freq='D'"):
        est.train(_dataset([_wavy(80)], freq="h"))
    est = MQF2Estimator(freq="h", prediction_length=H, **SMALL)
    with pytest.raises(ValueError, match=f"at most {H} steps"):
        est.train(_dataset([_wavy(H), _wavy(H - 2)], freq="h"))
