"""Resume after SIGKILL: the same weights as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import trainer_kwargs

from gluonts_qf import IQFEstimator, MQF2Estimator
from gluonts_qf.runs.run import seed_everything

ROOT = Path(__file__).resolve().parents[3]
EPOCHS, KILLED_AT = 4, 2
SMALL = {"hidden_size": 8, "decoder_hidden": 8, "embedding_dim": 2, "batch_size": 8}
# dropout between two GRU layers (IQF) and the energy score's samples (MQF2)
# draw from torch's generator, so the resumed run must restore its state
OWN = {
    "IQFEstimator": {"num_layers": 2, "dropout": 0.2},
    "MQF2Estimator": {"picnn_hidden_size": 8, "es_num_samples": 8},
}

CHILD = """
import itertools, os, signal, sys
import lightning.pytorch as pl
from test_resume import make
from gluonts_qf.runs.data import load_dataset

class Kill(pl.Callback):
    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == {killed_at}:
            os.kill(os.getpid(), signal.SIGKILL)

data = list(itertools.islice(load_dataset("m4_hourly", {data!r}).train, 6))
make({cls!r}, {root!r}, [Kill()], **{extra!r}).train(data)
"""


def make(cls: str, root, callbacks=(), **extra):
    """The estimator of every run here, seeded first; ``extra``: more arguments."""
    seed_everything(0)
    est_cls = {"IQFEstimator": IQFEstimator, "MQF2Estimator": MQF2Estimator}[cls]
    return est_cls(
        freq="H",
        prediction_length=48,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs(Path(root), EPOCHS, callbacks),
        **SMALL,
        **OWN[cls],
        **extra,
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    "cls, extra",
    [
        ("IQFEstimator", {}),
        ("MQF2Estimator", {}),
        # the average of the weights and the cosine's step travel too
        ("IQFEstimator", {"weight_averaging": 0.9, "lr_schedule": "cosine"}),
    ],
)
def test_resume_after_sigkill_reaches_the_same_weights(
    cls, extra, m4_hourly, data_dir, tmp_path
):
    data = list(m4_hourly.train)[:6]
    killed = tmp_path / "killed"
    code = CHILD.format(
        killed_at=KILLED_AT,
        data=str(data_dir),
        cls=cls,
        root=str(killed),
        extra=extra,
    )
    path = [ROOT, ROOT / "tests", Path(__file__).parent]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    resumed_est = make(cls, killed, **extra)
    last = resumed_est.checkpoint_path()
    assert torch.load(last, weights_only=False)["global_step"] == KILLED_AT * 3
    at_kill = _weights(last)
    resumed = resumed_est.train(data, ckpt_path=last)

    whole_est = make(cls, tmp_path / "whole", **extra)
    whole = whole_est.train(data)
    # the last epoch's weights and optimiser step, and the predictor's weights
    _assert_equal(_weights(last), _weights(whole_est.checkpoint_path()))
    _assert_equal(
        resumed.prediction_net.state_dict(), whole.prediction_net.state_dict()
    )
    # not vacuous: training went on after the kill
    assert torch.load(last, weights_only=False)["global_step"] == EPOCHS * 3
    assert any(not torch.equal(at_kill[k], w) for k, w in _weights(last).items())


def test_missing_checkpoint_is_a_clear_error(m4_hourly, tmp_path):
    data = list(m4_hourly.train)[:2]
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        make("IQFEstimator", tmp_path).train(data, ckpt_path=tmp_path / "no.ckpt")
