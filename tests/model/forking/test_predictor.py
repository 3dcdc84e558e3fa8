"""Torch threads: set only while training and forecasting, then restored."""

from __future__ import annotations

import pytest
import torch
from gluonts.model.predictor import Predictor
from helpers import StepLosses, trainer_kwargs

from gluonts_qf import IQFEstimator
from gluonts_qf.model.forking.predictor import ForkingPredictor, torch_threads
from gluonts_qf.runs.run import seed_everything

NUM_SERIES = 4  # of m4_hourly, the `hourly` fixture (conftest.py)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_torch_threads_restores_even_after_an_error(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2
    with torch_threads(None):  # leaves torch's setting alone
        assert torch.get_num_threads() == 2


class ThreadsSeen(StepLosses):
    """Also records torch's thread count at every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def on_train_batch_end(self, *args, **kwargs):
        super().on_train_batch_end(*args, **kwargs)
        self.threads.append(torch.get_num_threads())


def test_num_threads_while_training_and_forecasting(
    hourly, two_threads, tmp_path, monkeypatch
):
    seen = ThreadsSeen()
    seed_everything(0)
    est = IQFEstimator(
        freq="H",
        prediction_length=48,
        hidden_size=8,
        batch_size=4,
        num_batches_per_epoch=2,
        trainer_kwargs=trainer_kwargs(tmp_path, 1, [seen]),
    )
    assert est.num_threads == 1  # the default
    predictor = est.train(hourly["train"])
    assert seen.threads == [1, 1] and torch.get_num_threads() == 2
    assert isinstance(predictor, ForkingPredictor) and predictor.freq == "H"

    net = predictor.prediction_net
    during: list[int] = []
    forward = net.forward
    monkeypatch.setattr(
        net,
        "forward",
        lambda *a, **k: during.append(torch.get_num_threads()) or forward(*a, **k),
    )
    forecasts = predictor.predict(hourly["train"])
    next(forecasts)
    assert torch.get_num_threads() == 2  # between two forecasts: ours
    assert len(list(forecasts)) == 3 and during and set(during) == {1}

    # the setting travels with the saved predictor
    folder = tmp_path / "predictor"
    folder.mkdir()
    predictor.serialize(folder)
    loaded = Predictor.deserialize(folder)
    assert (loaded.num_threads, loaded.freq) == (1, "H")


@pytest.mark.parametrize("bad", [0, -1])
def test_num_threads_is_checked(bad):
    with pytest.raises(ValueError, match="num_threads must be a positive integer"):
        IQFEstimator(freq="H", prediction_length=4, num_threads=bad)
