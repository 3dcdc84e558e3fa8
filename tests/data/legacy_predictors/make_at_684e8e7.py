import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gluonts_qf import IQFEstimator, MQF2Estimator


def data():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    series = [
        10 + 3 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 0.5, 120)
        for i in range(6)
    ]
    return [
        {"start": pd.Period("2020-01", freq="M"), "target": s, "item_id": f"s{i}"}
        for i, s in enumerate(series)
    ]


out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
small = dict(
    freq="M",
    prediction_length=6,
    hidden_size=4,
    decoder_hidden=4,
    embedding_dim=2,
    batch_size=4,
    num_batches_per_epoch=3,
    trainer_kwargs=dict(
        max_epochs=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(out / "ckpt"),
    ),
)
expected = {}
for name, est in {
    "iqf": IQFEstimator(**small),
    "iqf_tails": IQFEstimator(calibration="tails", **small),
    "mqf2": MQF2Estimator(
        picnn_hidden_size=4, es_num_samples=4, num_parallel_samples=8, **small
    ),
}.items():
    torch.manual_seed(0)
    np.random.seed(0)
    pred = est.train(data())
    (out / name).mkdir()
    pred.serialize(out / name)
    torch.manual_seed(1)
    fcs = list(pred.predict(data()))
    expected[name] = (
        [
            np.asarray(
                fc.quantile(0.5)
                if name == "mqf2"
                else fc.distribution.quantile([0.01, 0.5, 0.97])
            ).tolist()
            for fc in fcs[:2]
        ]
        if name != "mqf2"
        else [fc.samples[:3].tolist() for fc in fcs[:2]]
    )
(out / "expected.json").write_text(json.dumps(expected))
