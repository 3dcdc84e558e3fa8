"""IQFEstimator against GluonTS DeepAR, SimpleFeedForward and seasonal naive.

Every trained model gets the same budget (epochs x batches x batch size) and
runs in its own fresh process, so peak memory (max RSS) is per model. Prints a
table per dataset and ratios against IQF; ``--write-docs`` appends the result
to docs/benchmarks.md.

    python benchmarks/bench_iqf_estimator.py --datasets m4_hourly exchange_rate \
        --epochs 10 --batches-per-epoch 50
"""

import argparse
import multiprocessing as mp
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("iqf", "deepar", "feedforward", "seasonal_naive")
COLUMNS = (
    "mean_wQuantileLoss",
    "wCRPS",
    "MASE",
    "ND",
    "Coverage[0.1]",
    "Coverage[0.9]",
    "crossing_rate",
    "train_seconds",
    "seconds_per_epoch",
    "predict_seconds",
    "peak_rss_mb",
)


def _one(model, dataset, args, estimator_kwargs, queue):
    """Train + backtest one model in this (fresh) process and report its metrics."""
    import torch

    torch.set_num_threads(args.threads)
    from gluonts_qf.evaluation.backtest import backtest
    from gluonts_qf.runs import RunSpec, prepare
    from gluonts_qf.runs.registry import get_model
    from gluonts_qf.runs.run import fit

    spec = RunSpec(
        dataset=dataset,
        data_dir=args.data_dir,
        epochs=args.epochs,
        batches_per_epoch=args.batches_per_epoch,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        baselines=None,
        quiet=True,
        estimator=estimator_kwargs,
    )
    run = prepare(spec)
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        predictor, seconds = fit(model, run, Path(root))
    res = backtest(predictor, run.test, progress=False)
    row = {k: float(v) for k, v in res.items() if isinstance(v, (int, float))}
    row["train_seconds"] = seconds
    row["seconds_per_epoch"] = (
        seconds / args.epochs if get_model(model).trained else 0.0
    )
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(row)


def run_model(model, dataset, args, estimator_kwargs):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_one, args=(model, dataset, args, estimator_kwargs, queue)
    )
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(
            f"{model} on {dataset} failed (exit code {proc.exitcode}); see above."
        )
    return queue.get()


def table(dataset, rows):
    from gluonts_qf.evaluation.tables import format_markdown

    base = dict(rows)["iqf"]
    out = format_markdown(
        [(m, {c: r.get(c, float("nan")) for c in COLUMNS}) for m, r in rows]
    )
    ratios = []
    for m, r in rows:
        if m == "iqf":
            continue
        wql = r["mean_wQuantileLoss"] / base["mean_wQuantileLoss"]
        mase = r["MASE"] / base["MASE"]
        ep = (
            (r["seconds_per_epoch"] / base["seconds_per_epoch"])
            if r["seconds_per_epoch"]
            else float("nan")
        )
        ratios.append(
            f"- {m} / iqf: wQL x{wql:.2f}, MASE x{mase:.2f}, time per epoch x{ep:.2f}"
        )
    return f"### {dataset}\n\n{out}\n\n" + "\n".join(ratios) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["m4_hourly", "exchange_rate"])
    p.add_argument(
        "--data-dir", default=str(ROOT.parent / "shared" / "data" / "gluonts")
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batches-per-epoch", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument(
        "--iqf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="IQFEstimator setting, per dataset as DATASET:KEY=VALUE or for all",
    )
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args(argv)
    import yaml

    cmd = "python benchmarks/bench_iqf_estimator.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    sections = []
    for dataset in args.datasets:
        kwargs = {}
        for item in args.iqf:
            scope, _, kv = (
                item.rpartition(":") if ":" in item.split("=")[0] else ("", "", item)
            )
            if scope in ("", dataset):
                k, v = kv.split("=", 1)
                kwargs[k] = yaml.safe_load(v)
        rows = []
        for model in args.models:
            t = time.perf_counter()
            rows.append(
                (
                    model,
                    run_model(model, dataset, args, kwargs if model == "iqf" else {}),
                )
            )
            print(f"{dataset} {model}: {time.perf_counter() - t:.0f}s", flush=True)
        text = table(dataset, rows)
        if kwargs:
            text += f"\nIQF settings: {kwargs}\n"
        print(text, flush=True)
        sections.append(text)
    if args.write_docs:
        import gluonts
        import torch  # noqa: E401

        head = (
            f"\n## IQFEstimator vs GluonTS models, same budget\n\nCommand: `{cmd}`\n\n"
            f"Machine: {platform.processor() or platform.machine()}, "
            f"torch {torch.__version__}, gluonts {gluonts.__version__}, "
            f"{args.threads} threads; budget {args.epochs} epochs x {args.batches_per_epoch} "
            f"batches x {args.batch_size}.\n\n"
        )
        with open(ROOT / "docs" / "benchmarks.md", "a") as f:
            f.write(head + "\n".join(sections))


if __name__ == "__main__":
    main()
