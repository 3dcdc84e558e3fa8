"""Small helpers shared by the end-to-end tests (importable as ``helpers``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import numpy as np


class StepLosses(pl.Callback):
    """Records the training loss of every optimisation step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss.detach()))


def trainer_kwargs(root: Path, epochs: int = 1, callbacks: Sequence = ()) -> dict:
    """Quiet CPU training under ``root``.

    GluonTS always adds its own ``ModelCheckpoint`` (to reload the best weights),
    so checkpointing stays on and writes under ``root``.
    """
    return {
        "max_epochs": epochs,
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "default_root_dir": str(root),
        "callbacks": list(callbacks),
    }


def brute_force_energy_score(samples: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Energy score by a double loop over the samples of one observation.

    samples (n, D), y (D,); coordinates where ``y`` is not finite are left out
    of every norm. The unbiased estimate
    ``mean_i ||x_i - y||^b - sum_{i != j} ||x_i - x_j||^b / (2 n (n - 1))``.
    """
    ok = np.isfinite(y)
    x, y = samples[:, ok], y[ok]
    n = len(x)
    term1 = np.mean([np.linalg.norm(xi - y) ** beta for xi in x])
    pairs = sum(
        np.linalg.norm(x[i] - x[j]) ** beta
        for i in range(n)
        for j in range(n)
        if i != j
    )
    return term1 - pairs / (2 * n * (n - 1))


def run_notebook(path: Path, data_dir: Path, monkeypatch):
    """Execute the notebook at ``path`` with nbclient (skip if it is missing).

    The kernel reads the offline data from ``data_dir`` and imports this
    checkout's ``gluonts_qf``, whatever is installed. Returns the executed
    notebook (outputs filled in memory; the file is not written).
    """
    import os

    import pytest

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("GLUONTS_QF_DATA", str(data_dir))
    root = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def tiny_encoder_kwargs(**overrides) -> dict:
    """Arguments of a tiny ``ForkingEncoder`` (horizon 5, 8 context steps, 3
    origins, lag 1, season 3, seasonal scaling); ``overrides`` replace any."""
    return dict(
        dict(
            prediction_length=5,
            context_length=8,
            num_origins=3,
            lags_seq=[1],
            season_length=3,
            anchor="seasonal",
            num_time_feat=1,
            cardinality=[1],
            embedding_dim=2,
            num_feat_static_real=1,
            hidden_size=4,
            num_layers=1,
            decoder_hidden=4,
            dropout=0.0,
            scaling="seasonal",
        ),
        **overrides,
    )
