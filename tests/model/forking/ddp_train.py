"""Train IQFEstimator with DDP on 2 CPU processes (gloo); rank 0 writes a report.

Run as a script (Lightning's DDP launcher starts rank 1 by running this file
again): ``python ddp_train.py DATA_DIR OUT_JSON``. Used by test_ddp.py.
"""

import itertools
import json
import os
import sys

import lightning.pytorch as pl
import numpy as np
import torch

from gluonts_qf import IQFEstimator
from gluonts_qf.model.forking.training import rank_and_world
from gluonts_qf.runs.data import load_dataset


class Record(pl.Callback):
    """Per-step losses, and the series ids each rank trained on."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.items: set[int] = set()
        self.world = (0, 1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"].detach()))
        self.items.update(int(i) for i in batch["feat_static_cat"][:, 0])
        self.world = rank_and_world()


def main(data_dir: str, out: str) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    ds = load_dataset("m4_hourly", data_dir)
    train = list(itertools.islice(ds.train, 8))
    record = Record()
    est = IQFEstimator(
        freq="H",
        prediction_length=48,
        hidden_size=16,
        batch_size=16,
        num_batches_per_epoch=8,
        lr=1e-2,
        cardinality=[414],  # the series' ids reach the batches
        trainer_kwargs={
            "max_epochs": 3,
            "accelerator": "cpu",
            "strategy": "ddp",
            "devices": 2,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": os.path.dirname(out),
            "callbacks": [record],
        },
    )
    predictor = est.train(train)
    rank, world = record.world
    with open(f"{out}.rank{rank}", "w") as fp:
        json.dump({"items": sorted(record.items), "world": world}, fp)
    if rank != 0:
        return
    forecasts = list(predictor.predict(train))
    quantiles = np.stack([fc.quantile(0.9) for fc in forecasts])
    report = {
        "world": world,
        "losses": record.losses,
        "num_forecasts": len(forecasts),
        "finite": bool(np.isfinite(quantiles).all()),
    }
    with open(out, "w") as fp:
        json.dump(report, fp)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
