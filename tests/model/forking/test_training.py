"""Training data across processes and restarts, and what ``anchor="auto"`` reads."""

from __future__ import annotations

from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import trainer_kwargs

from gluonts_qf import IQFEstimator
from gluonts_qf.model.forking import estimator as est_mod
from gluonts_qf.model.forking import training
from gluonts_qf.model.forking.training import RankShard, TrainingEpochs


def test_rank_shard_splits_series_between_processes(monkeypatch):
    data = list(range(7))
    assert list(RankShard(data)) == data  # not distributed: everything
    shares = []
    for rank in range(3):
        monkeypatch.setattr(training, "rank_and_world", lambda r=rank: (r, 3))
        shares.append(list(RankShard(data)))
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    monkeypatch.setattr(training, "rank_and_world", lambda: (2, 3))
    with pytest.raises(ValueError, match="process 2 of 3 got no training series"):
        list(RankShard([0, 1]))


class Epoch:
    """One pass yields the next ``n`` numbers of a shared counter."""

    def __init__(self, n: int) -> None:
        self.n, self.next = n, 0

    def __iter__(self):
        for _ in range(self.n):
            self.next += 1
            yield self.next


class Module:
    """What ``TrainingEpochs`` reads of a Lightning module: its trainer's step."""

    def __init__(self, global_step: int) -> None:
        self.trainer = SimpleNamespace(global_step=global_step)


def test_training_epochs_replay_the_skipped_epochs_once():
    # a resumed run: the trainer has done 6 steps of 3 batches, i.e. 2 epochs
    epochs = TrainingEpochs(Epoch(3), Module(global_step=6), num_batches_per_epoch=3)
    assert list(epochs) == [7, 8, 9]  # epochs 1 and 2 (1..6) drawn and dropped
    assert list(epochs) == [10, 11, 12]  # then epoch after epoch


def test_training_epochs_of_a_fresh_run_skip_nothing():
    epochs = TrainingEpochs(Epoch(2), Module(global_step=0), num_batches_per_epoch=2)
    assert list(epochs) == [1, 2] and list(epochs) == [3, 4]


class Counted:
    """A dataset that counts the series read from it."""

    def __init__(self, entries: list) -> None:
        self.entries, self.read = entries, 0

    def __iter__(self):
        for entry in self.entries:
            self.read += 1
            yield entry


def test_auto_anchor_reads_a_bounded_number_of_series(monkeypatch):
    monkeypatch.setattr(est_mod, "ADAPT_MAX_SERIES", 5)
    start = pd.Period("2020-01-01", freq="h")
    rng = np.random.default_rng(0)
    data = Counted([{"start": start, "target": rng.random(200)} for _ in range(50)])
    choice = IQFEstimator(freq="H", prediction_length=12).choose(data)
    assert choice is not None
    assert data.read == 5


def _waves() -> list[dict]:
    return [
        {"start": pd.Period("2024-01-01", "h"), "target": np.sin(np.arange(80) / 3) + i}
        for i in range(4)
    ]


def _tiny(root, epochs: int, batches: int, callback, **kwargs) -> IQFEstimator:
    """A tiny hourly IQF network, ``epochs`` of ``batches``, with ``callback``."""
    return IQFEstimator(
        freq="h",
        prediction_length=6,
        hidden_size=4,
        decoder_hidden=4,
        batch_size=4,
        num_batches_per_epoch=batches,
        trainer_kwargs=trainer_kwargs(root, epochs, callbacks=[callback]),
        **kwargs,
    )


class _Rates(pl.Callback):
    """The learning rate of every optimiser step."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_the_learning_rate_follows_its_schedule(tmp_path, schedule):
    """``"cosine"``: step ``k`` of ``n = max_epochs * num_batches_per_epoch``
    trains at ``lr * (1 + cos(pi * k / n)) / 2``; ``"constant"``: at ``lr``."""
    rates, lr, n = _Rates(), 0.01, 3 * 5
    _tiny(tmp_path, 3, 5, rates, lr=lr, lr_schedule=schedule).train(_waves())
    k = np.arange(n)
    want = lr * (1 + np.cos(np.pi * k / n)) / 2 if schedule == "cosine" else lr + 0 * k
    np.testing.assert_allclose(rates.rates, want, rtol=1e-9)


class _Weights(pl.Callback):
    """The trained weights after every optimiser step."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append(
            {k: p.detach().clone() for k, p in pl_module.named_parameters()}
        )


def test_weight_averaging_trains_an_exponential_average_of_the_steps(tmp_path):
    """With ``weight_averaging=d`` the trained module holds ``a_0 = w_0``,
    ``a_t = m a_{t-1} + (1 - m) w_t``, ``m = min(d, (1 + t) / (10 + t))``,
    of the weights ``w_t`` after each step ``t`` from 0 (one epoch,
    so GluonTS's best checkpoint is the last); its checkpoint holds the same
    average and, apart, the last trained weights."""
    seen, d = _Weights(), 0.3  # the warm-up rule for 3 steps, then d
    est = _tiny(tmp_path, 1, 12, seen, lr=0.01, weight_averaging=d)
    module = est.train(_waves()).prediction_net
    want = dict(seen.steps[0])
    for t, w in enumerate(seen.steps[1:], start=1):
        keep = min(d, (1 + t) / (10 + t))
        want = {k: keep * want[k] + (1 - keep) * w[k] for k in want}
    got = dict(module.named_parameters())
    for k in want:
        torch.testing.assert_close(got[k].detach(), want[k], rtol=1e-5, atol=1e-7)
    last = torch.load(est.checkpoint_path(), weights_only=False)
    for k in want:
        torch.testing.assert_close(last["state_dict"][k], want[k], rtol=1e-5, atol=1e-7)
        assert torch.equal(last["current_model_state"][k], seen.steps[-1][k])
    # not vacuous: the average is not the last step
    assert any(not torch.allclose(want[k], seen.steps[-1][k]) for k in want)
