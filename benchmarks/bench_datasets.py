"""Every offline dataset x every model at one budget: accuracy and calibration.

Each cell (dataset, model, seed) trains and backtests in its own fresh process
(1 thread) and caches its metrics as ``<out>/<dataset>/<model>-seed<seed>.json``;
a rerun skips cached cells, so the benchmark can be stopped and resumed. Models:

* ``iqf``, ``mqf2``: our estimators at their defaults;
* ``deepar``: GluonTS DeepAR (Student's t); ``deepar_iqf``: DeepAR with ``IQFOutput``;
* ``feedforward``: GluonTS SimpleFeedForward (Student's t);
* ``seasonal_naive``: GluonTS's, at GluonTS's season for the frequency.

Metrics: mean wQL (GluonTS ``Evaluator``, levels 0.1..0.9), MASE, coverage at
0.1 / 0.5 / 0.9 (share of test values at or below the forecast quantile), the
energy score ES of each series' horizon vector, training seconds.

    OMP_NUM_THREADS=1 python benchmarks/bench_datasets.py \\
        --data-dir ../shared/data/gluonts --seeds 0 1 2        # run / resume
    python benchmarks/bench_datasets.py --report                # markdown table
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf, not an installed one
DATASETS = (
    "exchange_rate",
    "exchange_rate_nips",
    "m4_hourly",
    "m4_weekly",
    "tourism_monthly",
    "tourism_yearly",
    "electricity_weekly",
)
MODELS = ("iqf", "mqf2", "deepar", "deepar_iqf", "feedforward", "seasonal_naive")
METRICS = (
    "mean_wQuantileLoss",
    "MASE",
    "Coverage[0.1]",
    "Coverage[0.5]",
    "Coverage[0.9]",
    "ES",
    "train_seconds",
)
COVERAGE_LEVELS = (0.1, 0.5, 0.9)


def _estimator(model, run, root):
    """``deepar_iqf`` here; every other trained model from ``runs.make_estimator``."""
    from gluonts_qf.runs import run as runs

    if model != "deepar_iqf":
        return runs.make_estimator(model, run, root)
    from gluonts.torch.model.deepar import DeepAREstimator

    from gluonts_qf import IQFOutput

    spec = run.spec
    return DeepAREstimator(
        freq=run.freq,
        prediction_length=run.prediction_length,
        distr_output=IQFOutput(knot_levels=(0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98)),
        batch_size=spec.batch_size,
        num_batches_per_epoch=spec.batches_per_epoch,
        lr=float(spec.lr),
        trainer_kwargs={
            "max_epochs": spec.epochs,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root / model),
        },
    )


def coverages(forecasts, series, levels=COVERAGE_LEVELS) -> dict:
    """Share of test values at or below each forecast quantile (all series, steps)."""
    import numpy as np

    from gluonts_qf.evaluation.scores import forecast_quantiles, target_window

    below = {u: [] for u in levels}
    for fc, ts in zip(forecasts, series):
        y = np.asarray(target_window(ts, fc), dtype=float).reshape(-1)
        q = forecast_quantiles(fc, levels)  # (L, T)
        ok = np.isfinite(y)
        for i, u in enumerate(levels):
            below[u].append((y[ok] <= q[i].reshape(-1)[ok]).astype(float))
    return {f"Coverage[{u}]": float(np.concatenate(below[u]).mean()) for u in levels}


def run_cell(dataset, model, seed, args) -> dict:
    """Train and backtest one model on one dataset (this process)."""
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.evaluation import backtest
    from gluonts_qf.runs import RunSpec
    from gluonts_qf.runs import run as runs

    spec = RunSpec(
        dataset=dataset,
        model=model if model in ("iqf", "mqf2") else "iqf",
        data_dir=args.data_dir,
        epochs=args.epochs,
        batches_per_epoch=args.batches_per_epoch,
        batch_size=args.batch_size,
        seed=seed,
        baselines=["seasonal_naive"],  # unused: one model per cell
        estimator=dict(args.settings) if model in ("iqf", "mqf2") else {},
        quiet=True,
    )
    run = runs.prepare(spec)
    with tempfile.TemporaryDirectory() as root:
        if model == "seasonal_naive":
            predictor, seconds = runs.fit(model, run, Path(root))
        else:
            runs.seed_everything(seed)
            est = _estimator(model, run, Path(root))
            start = time.perf_counter()
            predictor = est.train(run.train)
            seconds = time.perf_counter() - start
        res = backtest(predictor, run.test, progress=False)
    out = {k: res[k] for k in ("mean_wQuantileLoss", "MASE", "ES", "wCRPS")}
    out.update(coverages(res.forecasts, res.series))
    out["train_seconds"] = seconds
    choice = getattr(locals().get("est"), "adaptive_choice", None)
    if choice:
        out["adaptive_choice"] = choice
    return out


def ar1_dependence(
    seed: int, steps: int = 180, phi: float = 0.9, **estimator_kwargs
) -> dict:
    """MQF2's neighbouring-step correlation on AR(1) data, against the truth.

    32 hourly series of 600 steps, ``y_t = m + x_t``, ``x_t = phi x_{t-1} + N(0, 1)``;
    horizon 24. Given the past, the errors ``k`` and ``k + 1`` steps ahead have
    correlation ``phi sqrt(v_k / v_{k+1})``, ``v_k = sum_{j<k} phi^(2j)``: 0.870 on
    average over the horizon for ``phi = 0.9``, 0 for ``phi = 0`` (white noise).
    Trains ``steps`` steps (batches of 32) at the estimator's defaults (plus
    ``estimator_kwargs``), forecasts 200 joint samples from the end of each series
    and averages the sample correlation of steps ``k, k + 1`` over steps and series.
    """
    import numpy as np
    import pandas as pd
    import torch
    from gluonts.dataset.common import ListDataset

    from gluonts_qf import MQF2Estimator
    from gluonts_qf.runs.run import seed_everything

    torch.set_num_threads(1)
    H, n, length = 24, 32, 600
    rng = np.random.default_rng(seed)
    start = pd.Period("2021-01-01 00:00", freq="h")
    series = []
    for m in rng.uniform(20, 100, n):
        x = np.zeros(length)
        for t in range(1, length):
            x[t] = phi * x[t - 1] + rng.normal()
        series.append({"start": start, "target": m + x})
    data = ListDataset(series, freq="h")
    v = np.cumsum(phi ** (2 * np.arange(H)))
    truth = float(np.mean(phi * np.sqrt(v[:-1] / v[1:])))
    seed_everything(seed)
    batches = 30
    with tempfile.TemporaryDirectory() as root:
        est = MQF2Estimator(
            freq="h",
            prediction_length=H,
            num_batches_per_epoch=batches,
            trainer_kwargs={
                "max_epochs": max(steps // batches, 1),
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "default_root_dir": root,
            },
            **estimator_kwargs,
        )
        predictor = est.train(data)
        torch.manual_seed(seed)
        forecasts = list(predictor.predict(data, num_samples=200))
    corr = float(
        np.mean([np.mean(np.diag(np.corrcoef(fc.samples.T), 1)) for fc in forecasts])
    )
    return {
        "correlation": corr,
        "truth": truth,
        "steps": max(steps // batches, 1) * batches,
        "phi": phi,
        "adaptive_choice": getattr(est, "adaptive_choice", None),
        **estimator_kwargs,
    }


def cell_path(out: Path, dataset: str, model: str, seed: int) -> Path:
    return out / dataset / f"{model}-seed{seed}.json"


def run_all(args) -> None:
    """Run every missing cell, each in a fresh subprocess; skip cached ones."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for seed in args.seeds:
        for dataset in args.datasets:
            for model in args.models:
                path = cell_path(args.out, dataset, model, seed)
                if path.exists():
                    continue
                cmd = [
                    sys.executable,
                    __file__,
                    "--cell",
                    dataset,
                    model,
                    str(seed),
                    "--out",
                    str(args.out),
                    "--epochs",
                    str(args.epochs),
                    "--batches-per-epoch",
                    str(args.batches_per_epoch),
                    "--batch-size",
                    str(args.batch_size),
                ]
                if args.data_dir:
                    cmd += ["--data-dir", str(args.data_dir)]
                if args.set:
                    cmd += ["--set", *args.set]
                print(f"{dataset} {model} seed {seed} ...", flush=True)
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-3000:], flush=True)


def _fmt(values, digits=4) -> str:
    import numpy as np

    v = np.array([x for x in values if x is not None and math.isfinite(x)])
    if v.size == 0:
        return "–"
    if v.size == 1:
        return f"{v[0]:.{digits}g}"
    return f"{v.mean():.{digits}g} ± {v.std(ddof=1):.1g}"


def report(args) -> str:
    """Markdown: one table per dataset, mean ± std over the cached seeds."""
    lines = []
    for dataset in args.datasets:
        rows = []
        for model in args.models:
            cells = sorted((args.out / dataset).glob(f"{model}-seed*.json"))
            if not cells:
                continue
            data = [json.loads(p.read_text()) for p in cells]
            rows.append(
                f"| {model} | {len(data)} | "
                + " | ".join(_fmt([d.get(m) for d in data]) for m in METRICS)
                + " |"
            )
        if rows:
            lines += [
                f"\n**{dataset}**\n",
                "| model | seeds | " + " | ".join(METRICS) + " |",
                "|---|---|" + "---|" * len(METRICS),
                *rows,
            ]
    return "\n".join(lines)


#: Published mean wQL (GluonTS ``evaluations/README.md`` via ../shared/BASELINES.md:
#: MXNet-era models, 30,000 GPU steps, 5 runs): best GluonTS model, best overall.
PUBLISHED = {
    "exchange_rate": (
        "SimpleFeedForward / Transformer 0.009",
        "R ets / auto.arima 0.008",
    ),
    "exchange_rate_nips": ("(as exchange_rate) 0.009", "0.008"),
    "m4_hourly": ("MQ-CNN 0.044", "R auto.arima 0.040"),
    "m4_weekly": ("SimpleFeedForward 0.051", "R auto.arima 0.050"),
}
GLUONTS = ("deepar", "feedforward", "seasonal_naive")


def _mean(args, dataset, model, metric):
    import numpy as np

    cells = sorted((args.out / dataset).glob(f"{model}-seed*.json"))
    vals = [json.loads(p.read_text()).get(metric) for p in cells]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return (float(np.mean(vals)), len(vals)) if vals else (float("nan"), 0)


def summary(args) -> str:
    """One row per dataset: the targets of issue 10, seed means."""
    head = (
        "| dataset | IQF wQL | MQF2 wQL | best GluonTS here (wQL) | target wQL | "
        "IQF MASE / naive | target MASE | IQF coverage 0.1 / 0.5 / 0.9 | "
        "target coverage | published best GluonTS / overall |"
    )
    lines = [head, "|" + "---|" * 10]
    for d in args.datasets:
        iqf, n = _mean(args, d, "iqf", "mean_wQuantileLoss")
        mqf2, _ = _mean(args, d, "mqf2", "mean_wQuantileLoss")
        best = min(
            (_mean(args, d, m, "mean_wQuantileLoss")[0], m)
            for m in GLUONTS
            if _mean(args, d, m, "mean_wQuantileLoss")[1]
        )
        mase, naive = (
            _mean(args, d, "iqf", "MASE")[0],
            _mean(args, d, "seasonal_naive", "MASE")[0],
        )
        cov = [_mean(args, d, "iqf", f"Coverage[{u}]")[0] for u in COVERAGE_LEVELS]
        cov_ok = all(abs(c - u) <= 0.05 for c, u in zip(cov, COVERAGE_LEVELS))
        pub = PUBLISHED.get(d, ("–", "–"))
        lines.append(
            f"| {d} ({n} seeds) | {iqf:.4g} | {mqf2:.4g} | {best[1]} {best[0]:.4g} | "
            f"{'met' if iqf <= best[0] else 'missed'} | {mase:.3f} / {naive:.3f} | "
            f"{'met' if mase < naive else 'missed'} | "
            f"{' / '.join(f'{c:.2f}' for c in cov)} | {'met' if cov_ok else 'missed'} | "
            f"{pub[0]} / {pub[1]} |"
        )
    return "\n".join(lines)


def parse_settings(items) -> dict:
    """``["key=value", ...]`` -> ``{key: YAML value}``."""
    import yaml

    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/gluonts")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/datasets")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batches-per-epoch", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cell", nargs=3, metavar=("DATASET", "MODEL", "SEED"))
    p.add_argument(
        "--set",
        nargs="+",
        metavar="KEY=VALUE",
        help="estimator settings of iqf and mqf2 (YAML values, e.g. "
        "objective=likelihood); use a separate --out for such cells",
    )
    p.add_argument("--report", action="store_true", help="print the markdown table")
    p.add_argument("--summary", action="store_true", help="print the targets table")
    p.add_argument(
        "--ar1",
        nargs="*",
        metavar="KEY=VALUE",
        help="measure MQF2's neighbouring-step correlation on AR(1) data "
        "(seeds from --seeds; optional estimator settings, e.g. anchor=seasonal)",
    )
    args = p.parse_args()
    args.settings = parse_settings(args.set or [])
    if args.cell:
        dataset, model, seed = args.cell[0], args.cell[1], int(args.cell[2])
        import warnings

        warnings.filterwarnings("ignore")
        result = run_cell(dataset, model, seed, args)
        path = cell_path(args.out, dataset, model, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result))
    elif args.ar1 is not None:
        import warnings

        warnings.filterwarnings("ignore")
        kwargs = parse_settings(args.ar1)
        for seed in args.seeds:
            print(json.dumps(ar1_dependence(seed, **kwargs)), flush=True)
    elif args.report:
        print(report(args))
    elif args.summary:
        print(summary(args))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
