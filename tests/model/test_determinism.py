"""Same seed, same data: the same forecasts, bit for bit, on CPU."""

from __future__ import annotations

import pytest
from common import assert_same_forecasts, predict
from helpers import trainer_kwargs

from gluonts_qf import IQFEstimator, MQF2Estimator
from gluonts_qf.runs.run import seed_everything

NUM_SERIES = 6  # of m4_hourly, the `hourly` fixture (conftest.py)

SMALL = {"hidden_size": 8, "decoder_hidden": 8, "embedding_dim": 2, "batch_size": 8}
OWN = {
    IQFEstimator: {"num_pieces": 2},
    MQF2Estimator: {"picnn_hidden_size": 8, "es_num_samples": 8, "dropout": 0.1},
}


def _train_and_predict(cls, data, root, seed: int):
    seed_everything(seed)
    est = cls(
        freq="H",
        prediction_length=48,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs(root, epochs=2),
        **SMALL,
        **OWN[cls],
    )
    predictor = est.train(data)
    return predict(predictor, data, seed=seed)


@pytest.mark.parametrize("cls", [IQFEstimator, MQF2Estimator])
def test_same_seed_same_forecasts(cls, hourly, tmp_path):
    first = _train_and_predict(cls, hourly["train"], tmp_path / "a", seed=3)
    again = _train_and_predict(cls, hourly["train"], tmp_path / "b", seed=3)
    assert_same_forecasts(first, again)
    other = _train_and_predict(cls, hourly["train"], tmp_path / "c", seed=4)
    with pytest.raises(AssertionError):  # the seed matters: the test can fail
        assert_same_forecasts(first, other)
