"""MQF2Estimator against GluonTS's MQF2MultiHorizonEstimator, side by side.

Both models get the same data and the same budget (epochs x batches x batch
size), the same number of energy-score samples per training window
(``es_num_samples``) and 100 sample paths per forecast. Each model runs in its
own fresh process (multiprocessing ``spawn``), so the peak memory (max RSS of
that process, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is per model.
Reported per model: seconds per training step (mean over the steps after the
first, timed by a Lightning callback from batch start to batch end, so
forward, backward and optimiser step), total training seconds, seconds to
sample 100 paths for every test series (``predict_seconds`` of
``gluonts_qf.evaluation.backtest``), peak RSS, mean weighted quantile
loss, energy score (ES), variogram score (VS), MASE. Ratios are GluonTS / ours
(above 1: ours is faster / lighter / more accurate). ``--write-docs`` appends
the result to docs/benchmarks.md.

Work per step is not identical even at equal ``es_num_samples``: GluonTS's
MQF2 scores the horizon from every step of its context (context_length =
prediction_length origins per window), ours from ``num_origins`` forking
origins (default 8). ``--origins-as-gluonts`` runs ours with as many origins
as GluonTS (``num_origins = prediction_length``) to separate that effect.

    python benchmarks/bench_mqf2.py --datasets exchange_rate m4_hourly \
        --epochs 3 --batches-per-epoch 20 --batch-size 32

GluonTS side. GluonTS 0.17 vendors the part of CP-Flow that MQF2 uses
(``gluonts/torch/model/mqf2/_cpflows.py``), so ``from gluonts.torch.model.mqf2
import MQF2MultiHorizonEstimator`` works without the ``cpflows`` package.
Older GluonTS versions import ``cpflows``; for those, install it for the
benchmark only and without its dependencies (its normal install pulls in
torchvision and a CUDA build of torch)::

    python -m pip install --no-deps cpflows

``cpflows`` is not, and must not become, a dependency of gluonts-qf. When the
GluonTS model cannot be imported the script says so and runs our side alone.
"""

import argparse
import multiprocessing as mp
import os
import platform
import queue as queue_module
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mqf2", "gluonts_mqf2")
COLUMNS = (
    "mean_wQuantileLoss",
    "ES",
    "VS",
    "MASE",
    "Coverage[0.1]",
    "Coverage[0.9]",
    "steps",
    "seconds_per_step",
    "train_seconds",
    "sample_seconds",
    "peak_rss_mb",
)
# (column, label): GluonTS / ours; above 1 means ours is better.
RATIOS = (
    ("seconds_per_step", "time per training step"),
    ("peak_rss_mb", "peak memory"),
    ("sample_seconds", "sampling time (100 paths)"),
    ("mean_wQuantileLoss", "mean wQL"),
    ("ES", "energy score"),
)


def gluonts_mqf2_missing():
    """``None`` when GluonTS's MQF2 imports, else the reason it does not."""
    try:
        from gluonts.torch.model.mqf2 import MQF2MultiHorizonEstimator  # noqa: F401
    except ImportError as err:
        return (
            f"GluonTS MQF2 unavailable ({err}); install cpflows for the benchmark "
            "only: python -m pip install --no-deps cpflows"
        )
    return None


def _estimator(model, freq, prediction_length, args, trainer_kwargs):
    common = dict(
        freq=freq,
        prediction_length=prediction_length,
        batch_size=args.batch_size,
        num_batches_per_epoch=args.batches_per_epoch,
        lr=args.lr,
        es_num_samples=args.es_num_samples,
        num_parallel_samples=100,
        trainer_kwargs=trainer_kwargs,
    )
    if model == "mqf2":
        from gluonts_qf import MQF2Estimator

        extra = {}
        if args.origins_as_gluonts:  # GluonTS scores every context step
            extra["num_origins"] = prediction_length
        return MQF2Estimator(**common, **extra)
    from gluonts.torch.model.mqf2 import MQF2MultiHorizonEstimator

    return MQF2MultiHorizonEstimator(**common)


def _one(model, dataset, args, queue):
    """Train + backtest one model in this (fresh) process and report its metrics."""
    import os
    import random
    import tempfile

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import lightning.pytorch as pl

    from gluonts_qf.evaluation.backtest import backtest
    from gluonts_qf.runs.data import load_dataset

    class StepTimer(pl.Callback):
        def __init__(self):
            self.seconds = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self._t = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.seconds.append(time.perf_counter() - self._t)

    ds = load_dataset(dataset, args.data_dir)
    train, test = list(ds.train), list(ds.test)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as root:
        trainer_kwargs = {
            "max_epochs": args.epochs,
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": [timer],
            "default_root_dir": os.path.join(root, model),
        }
        estimator = _estimator(
            model,
            ds.metadata.freq,
            int(ds.metadata.prediction_length),
            args,
            trainer_kwargs,
        )
        start = time.perf_counter()
        predictor = estimator.train(train)
        train_seconds = time.perf_counter() - start
    res = backtest(predictor, test, num_samples=100, progress=False)
    row = {k: float(v) for k, v in res.items() if isinstance(v, (int, float))}
    steps = timer.seconds[1:] or timer.seconds
    row["steps"] = len(timer.seconds)
    row["seconds_per_step"] = sum(steps) / len(steps)
    row["train_seconds"] = train_seconds
    row["sample_seconds"] = row["predict_seconds"]
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(row)


def run_model(model, dataset, args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_one, args=(model, dataset, args, queue))
    proc.start()
    while proc.is_alive() or not queue.empty():
        try:  # read before join: a full pipe would otherwise block the child
            row = queue.get(timeout=1.0)
        except queue_module.Empty:
            continue
        proc.join()
        return row
    proc.join()
    raise RuntimeError(
        f"{model} on {dataset} failed (exit code {proc.exitcode}); see above."
    )


def _cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _code_version():
    """Commit of the checkout and whether gluonts_qf/ has uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "gluonts_qf"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" + uncommitted changes in gluonts_qf/" if dirty else "")


def table(dataset, rows):
    from gluonts_qf.evaluation.tables import format_markdown

    out = format_markdown(
        [(m, {c: r.get(c, float("nan")) for c in COLUMNS}) for m, r in rows]
    )
    found = dict(rows)
    lines = []
    if "mqf2" in found and "gluonts_mqf2" in found:
        ours, ref = found["mqf2"], found["gluonts_mqf2"]
        lines.append("Ratios GluonTS MQF2 / ours (above 1: ours better):")
        for col, label in RATIOS:
            lines.append(f"- {label}: x{ref[col] / ours[col]:.2f}")
    return f"### {dataset}\n\n{out}\n\n" + "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["exchange_rate", "m4_hourly"])
    p.add_argument(
        "--data-dir", default=str(ROOT.parent / "shared" / "data" / "gluonts")
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batches-per-epoch", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--es-num-samples", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument(
        "--origins-as-gluonts",
        action="store_true",
        help="ours scores as many forking origins per window as GluonTS's MQF2 "
        "(its context length, = prediction_length) instead of the default 8",
    )
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args(argv)

    args.code_version = _code_version()
    print(f"gluonts_qf: {args.code_version}", flush=True)
    cmd = "python benchmarks/bench_mqf2.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    models = list(args.models)
    missing = gluonts_mqf2_missing() if "gluonts_mqf2" in models else None
    if missing:
        print(missing, flush=True)
        models.remove("gluonts_mqf2")
    sections = []
    for dataset in args.datasets:
        rows = []
        for model in models:
            t = time.perf_counter()
            rows.append((model, run_model(model, dataset, args)))
            print(f"{dataset} {model}: {time.perf_counter() - t:.0f}s", flush=True)
        text = table(dataset, rows)
        if args.origins_as_gluonts:
            text = text.replace(f"### {dataset}", f"### {dataset}, equal origins", 1)
        print(text, flush=True)
        sections.append(text)
    if args.write_docs:
        import gluonts
        import torch

        head = (
            "\n## MQF2Estimator vs GluonTS MQF2\n\n"
            f"Command: `{cmd}`\n\n"
            f"Machine: {_cpu()}, {os.cpu_count()} logical CPUs, "
            f"{platform.system()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}, gluonts {gluonts.__version__}, "
            f"gluonts-qf {args.code_version}, "
            f"{args.threads} thread(s); budget {args.epochs} epochs x "
            f"{args.batches_per_epoch} batches x {args.batch_size} windows, "
            f"es_num_samples={args.es_num_samples} for both, 100 sample paths "
            f"per forecast, seed {args.seed}, default model sizes otherwise"
            + (
                "; ours with as many forking origins as GluonTS"
                if args.origins_as_gluonts
                else ""
            )
            + ".\n\n"
        )
        if missing:
            head += f"{missing}\n\n"
        with open(ROOT / "docs" / "benchmarks.md", "a") as f:
            f.write(head + "\n".join(sections))


if __name__ == "__main__":
    main()
