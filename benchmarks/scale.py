"""Scale in data: 1x, 10x, 100x synthetic series streamed from files.

For each scale, writes ``base x scale`` synthetic hourly series to a GluonTS
jsonl folder, then, in a fresh process per model, trains IQFEstimator (with
``cache_data=False``) and GluonTS's DeepAR on a ``FileDataset`` of that folder for
a fixed budget (epochs x batches x batch size) and reports the peak memory (max
RSS of the process), the time per epoch and the prediction throughput (series
per second over the first 500 series)::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/scale.py --scales 1 10 100
"""

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np

FREQ, HORIZON, PREDICTED = "H", 24, 500


def write_series(folder: Path, num_series: int, length: int, seed: int = 0) -> None:
    """Daily-seasonal series with a random level, trend and noise, as jsonl."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(length)
    with (folder / "data.json").open("w") as fp:
        for i in range(num_series):
            level = rng.lognormal(3, 1)
            season = 1 + 0.5 * np.sin(2 * np.pi * (t + rng.integers(24)) / 24)
            noise = rng.normal(1, 0.1, length)
            y = level * season * noise * (1 + rng.normal(0, 1e-3) * t)
            entry = {"start": "2020-01-01 00:00", "target": np.round(y, 3).tolist()}
            fp.write(json.dumps({**entry, "item_id": i}) + "\n")


class EpochTimer(pl.Callback):
    """Seconds per training epoch."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def one(model: str, folder: str, args) -> dict:
    """Train and predict ``model`` on the files in ``folder``; in this process."""
    from gluonts.dataset.common import FileDataset

    data = FileDataset(Path(folder), freq=FREQ)
    timer = EpochTimer()
    common = dict(
        freq=FREQ,
        prediction_length=HORIZON,
        batch_size=args.batch_size,
        num_batches_per_epoch=args.batches,
        trainer_kwargs={
            "max_epochs": args.epochs,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": [timer],
            "default_root_dir": tempfile.mkdtemp(),
        },
    )
    if model == "iqf":
        from gluonts_qf import IQFEstimator

        est = IQFEstimator(cache_data=False, **common)
    else:
        from gluonts.torch.model.deepar import DeepAREstimator

        est = DeepAREstimator(**common)
    predictor = est.train(data)
    subset = list(itertools.islice(data, PREDICTED))
    start = time.perf_counter()
    n = sum(1 for _ in predictor.predict(subset))
    throughput = n / (time.perf_counter() - start)
    return {
        "seconds_per_epoch": float(np.mean(timer.seconds[1:] or timer.seconds)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "series_per_second": throughput,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--base", type=int, default=100, help="series at scale 1")
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--models", nargs="+", default=["iqf", "deepar"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--one", nargs=2, metavar=("MODEL", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args)))
        return
    print("series  file_mb  model   seconds_per_epoch  peak_rss_mb  series_per_second")
    with tempfile.TemporaryDirectory() as root:
        for scale in args.scales:
            n = args.base * scale
            folder = Path(root) / f"x{scale}"
            write_series(folder, n, args.length)
            size = (folder / "data.json").stat().st_size / 2**20
            for model in args.models:
                cmd = [sys.executable, __file__, "--one", model, str(folder)]
                cmd += ["--epochs", str(args.epochs), "--batches", str(args.batches)]
                cmd += ["--batch-size", str(args.batch_size)]
                out = subprocess.run(
                    cmd, check=True, capture_output=True, text=True, env=os.environ
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{n:6d}  {size:7.1f}  {model:6s}  {r['seconds_per_epoch']:17.2f}  "
                    f"{r['peak_rss_mb']:11.0f}  {r['series_per_second']:17.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
