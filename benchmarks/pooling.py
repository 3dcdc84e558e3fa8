"""How much does the dependence between series change a pooled stock?

One warehouse serves the first ``M`` series of a dataset. ``MQF2Estimator(
joint="series")`` is trained on them as one ``M``-dimensional series and
forecasts each test date; ``gluonts_qf.decisions.pooled_demand`` sums its joint
draws over the series (``"joint samples"``) and, on the same draws shuffled
apart, under ``"independent series"``. Reported per dataset: the median over
test dates and steps of the ratio of the total's standard deviation
(independent / joint: below 1, independence understates the spread), the
95% stock of the total each way summed over steps, and the share of observed
totals (dates x steps) inside each central 90% interval. A univariate
``IQFEstimator`` on the same series, pooled under independence, is the row a
user without a joint model would get.

    OMP_NUM_THREADS=1 python benchmarks/pooling.py --datasets exchange_rate \
        electricity_weekly --series 8 32 --data-dir ../shared/data/gluonts
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from gluonts_qf import IQFEstimator, MQF2Estimator
from gluonts_qf import decisions as dec
from gluonts_qf.reproduce.series import group_series, grouped_frames
from gluonts_qf.runs.data import load_data


def _budget(args) -> dict:
    return dict(
        batch_size=32,
        num_batches_per_epoch=args.batches,
        trainer_kwargs={
            "max_epochs": args.epochs,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": tempfile.mkdtemp(prefix="pooling-"),
        },
    )


def _summary(pooled: list, totals: np.ndarray) -> dict:
    """Std, 95% stock and 90%-interval coverage of pooled demands (one per date)."""
    std = np.stack([np.sqrt(p.variance) for p in pooled])  # (dates, T)
    q = np.stack([p.quantile([0.05, 0.95]) for p in pooled])  # (dates, 2, T)
    inside = (totals >= q[:, 0]) & (totals <= q[:, 1])
    return {"std": std, "stock95": q[:, 1].sum(), "coverage90": inside.mean()}


def run(name: str, dim: int, args) -> list[tuple]:
    data = load_data(name, args.data_dir)
    train, test = data.train, data.test
    freq, horizon = data.freq, data.prediction_length
    groups = group_series(train, test, dim)
    frames = grouped_frames(groups.grouped_test, freq)
    totals = np.stack([f.values[-horizon:].sum(1) for f in frames])  # (dates, T)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    mqf2 = MQF2Estimator(
        freq, horizon, joint="series", target_dim=dim, **_budget(args)
    ).train(groups.grouped_train)
    seconds = time.perf_counter() - start
    fcs = list(mqf2.predict(groups.grouped_test, num_samples=args.samples))
    joint = _summary([dec.pooled_demand(f) for f in fcs], totals)
    apart = _summary(
        [dec.pooled_demand(f, assumption=dec.INDEPENDENT_SERIES) for f in fcs], totals
    )
    torch.manual_seed(args.seed)
    iqf = IQFEstimator(freq, horizon, **_budget(args)).train(groups.train)
    uni = list(iqf.predict(groups.test))
    pooled_iqf = [
        dec.pooled_demand(
            uni[d * dim : (d + 1) * dim],
            assumption=dec.INDEPENDENT_SERIES,
            num_samples=args.samples,
        )
        for d in range(groups.num_dates)
    ]
    iqf_row = _summary(pooled_iqf, totals)
    ratio = float(np.median(apart["std"] / joint["std"]))
    print(
        f"{name}: {dim} series, {groups.num_dates} test dates x {horizon} steps, "
        f"MQF2 trained in {seconds:.0f} s; median std ratio independent/joint "
        f"{ratio:.2f}"
    )
    return [
        (name, "mqf2 joint samples", joint),
        (name, "mqf2 independent series", apart),
        (name, "iqf independent series", iqf_row),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["exchange_rate"])
    parser.add_argument("--series", nargs="+", type=int, default=[8])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if len(args.series) != len(args.datasets):
        parser.error("give one --series per dataset")
    rows = []
    for name, dim in zip(args.datasets, args.series):
        rows += run(name, dim, args)
    print(
        "\n| dataset | pooled how | median std of the total | 95% stock, summed over steps and dates | 90% interval coverage of observed totals |"
    )
    print("|---|---|---|---|---|")
    for name, how, r in rows:
        print(
            f"| {name} | {how} | {np.median(r['std']):.4g} | {r['stock95']:.5g} | "
            f"{r['coverage90']:.2f} |"
        )


if __name__ == "__main__":
    main()
