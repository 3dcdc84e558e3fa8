"""A large file of one's own series: time and peak memory to read it and to train.

Writes a synthetic long CSV (``--series`` x ``--steps`` rows of ``item_id,
timestamp, target``: hourly series with a daily cycle and noise), then, each in
a fresh process so the peak memory is that step's alone, measures

- ``read``: ``gluonts_qf.runs.data.load_data`` (pandas reads the three columns,
  the checks, one float32 array per series, the training copies);
- ``train``: the same plus ``IQFEstimator`` (defaults) for ``--epochs`` x 50
  batches on all series, 1 torch thread;

and prints a Markdown table with the file size, wall seconds and peak resident
memory (``ru_maxrss``) of each, and their ratio to the file size. Run from the
repository root::

    OMP_NUM_THREADS=1 python benchmarks/own_data.py --series 10000 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_csv(path: Path, series: int, steps: int, seed: int = 0) -> None:
    """``series`` x ``steps`` rows, written in chunks of 500 series."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2020-01-01", periods=steps, freq="h")
    text = stamps.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    hours = np.arange(steps)
    with path.open("w") as fp:
        fp.write("item_id,timestamp,target\n")
        for a in range(0, series, 500):
            n = min(500, series - a)
            level = rng.uniform(10, 100, size=(n, 1))
            y = level * (1 + 0.3 * np.sin(2 * np.pi * hours / 24)) + rng.normal(
                0, 1, size=(n, steps)
            )
            ids = np.repeat([f"series_{a + i}" for i in range(n)], steps)
            frame = pd.DataFrame(
                {"item_id": ids, "timestamp": np.tile(text, n), "target": y.ravel()}
            )
            frame.to_csv(fp, header=False, index=False, float_format="%.3f")


def measure(step: str, path: str, horizon: int, epochs: int) -> dict:
    """One step in this process: seconds and peak memory."""
    start = time.perf_counter()
    from gluonts_qf.runs.data import load_data

    data = load_data(path, prediction_length=horizon)
    out = {"series": len(data.test), "freq": data.freq}
    if step == "train":
        from gluonts_qf import IQFEstimator

        est = IQFEstimator(
            freq=data.freq,
            prediction_length=horizon,
            trainer_kwargs={
                "max_epochs": epochs,
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "default_root_dir": tempfile.mkdtemp(),
            },
        )
        est.train(data.train)
    out["seconds"] = time.perf_counter() - start
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1_000)
    p.add_argument("--horizon", type=int, default=24)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--csv", type=Path, help="reuse (or keep) the file here")
    p.add_argument("--step", choices=["read", "train"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step:  # a child process
        print(json.dumps(measure(args.step, str(args.csv), args.horizon, args.epochs)))
        return
    folder = tempfile.TemporaryDirectory()
    path = args.csv or Path(folder.name) / "long.csv"
    if not path.exists():
        start = time.perf_counter()
        write_csv(path, args.series, args.steps)
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    size = path.stat().st_size / 2**20
    rows = []
    for step in ("read", "train"):
        child = [sys.executable, __file__, "--step", step, "--csv", str(path)]
        child += ["--horizon", str(args.horizon), "--epochs", str(args.epochs)]
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        rows.append((step, json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"file: {args.series} series x {args.steps} steps, {size:.0f} MiB\n")
    print("| step | seconds | peak memory (MiB) | peak / file size |")
    print("|---|---:|---:|---:|")
    for step, r in rows:
        print(
            f"| {step} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
            f"{r['peak_mib'] / size:.1f}x |"
        )


if __name__ == "__main__":
    main()
