"""Test-window coverage and quantile loss of IQFEstimator per calibration mode.

One IQFEstimator per dataset and mode at the default budget (10 epochs x 50
batches x 32), seed ``$SEED`` (default 0); prints the mean wQL at 0.1..0.9, the
mean wQL at the untrained levels 0.01, 0.05, 0.95, 0.99, and the coverage
(share of test values at or below the quantile) at 0.01, 0.05, 0.1, 0.5, 0.9,
0.95, 0.99::

    SEED=0 OMP_NUM_THREADS=1 python benchmarks/bench_tails.py none,tails \
        electricity_weekly tourism_yearly m4_hourly exchange_rate \
        tourism_monthly m4_weekly

Data from ``$GLUONTS_QF_DATA`` or ``../shared/data/gluonts``.
"""

import logging
import os
import random
import sys
import tempfile
import warnings

import numpy as np
import torch
from gluonts.evaluation import make_evaluation_predictions

from gluonts_qf import IQFEstimator
from gluonts_qf.evaluation.scores import forecast_quantiles, target_window
from gluonts_qf.runs.data import load_data

LEVELS = np.array([0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99])
TRAINED = np.arange(1, 10) / 10
UNTRAINED = np.array([0.01, 0.05, 0.95, 0.99])


def wql(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> float:
    """Mean weighted quantile loss, quantiles ``q`` (L, N) at ``levels``."""
    err = y[None] - q
    loss = 2 * np.abs(err * ((err <= 0) - levels[:, None]))
    return float(loss.sum(1).mean() / np.abs(y).sum())


def evaluate(name: str, calibration: str, seed: int) -> str:
    data = load_data(name)
    train, test = data.train, data.test
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    est = IQFEstimator(
        data.freq,
        data.prediction_length,
        batch_size=32,
        num_batches_per_epoch=50,
        calibration=calibration,
        trainer_kwargs=dict(
            max_epochs=10,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tempfile.mkdtemp(),
        ),
    )
    predictor = est.train(train)
    forecast_it, ts_it = make_evaluation_predictions(test, predictor)
    every = np.concatenate([LEVELS, TRAINED, UNTRAINED])
    ys, qs = [], []
    for fc, ts in zip(forecast_it, ts_it):
        ys.append(target_window(ts, fc))
        qs.append(forecast_quantiles(fc, every))
    y, q = np.concatenate(ys), np.concatenate(qs, axis=1)
    ok = np.isfinite(y)
    y, q = y[ok], q[:, ok]
    k, t = len(LEVELS), len(TRAINED)
    cov = (y[None] <= q[:k]).mean(1)
    return (
        f"seed {seed} {name:18s} {calibration:9s} "
        f"wQL {wql(y, q[k : k + t], TRAINED):.5f} "
        f"untrained {wql(y, q[k + t :], UNTRAINED):.5f} cov "
        + " ".join(f"{c:.2f}" for c in cov)
        + f"  cov98 {cov[-1] - cov[0]:.2f} cov80 {cov[4] - cov[2]:.2f}"
    )


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    seed = int(os.environ.get("SEED", 0))
    modes = sys.argv[1].split(",")
    for name in sys.argv[2:]:
        for mode in modes:
            print(evaluate(name, mode, seed), flush=True)


if __name__ == "__main__":
    main()
