"""Training time of the main job, idle and beside a CPU-bound process, per thread count.

Runs ``gluonts-qf train --model iqf`` on the README's main config (``configs/
main/m4_hourly-iqf_ensemble.yaml``: IQFEstimator, the ensemble's network, baselines
off) in a fresh process for each thread count,
once with the machine as it is and once with ``python -c "while True: pass"``
running beside it, and prints ``train_seconds`` (from ``metrics.json``) with the
1-minute load average seen just before each run::

    PYTHONPATH=. python benchmarks/bench_threads.py --threads 1 2 --data-dir DIR
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "main" / "m4_hourly-iqf_ensemble.yaml"


def train_seconds(threads: int, data_dir: str | None, extra: list[str]) -> float:
    """``train_seconds`` of one main-job run with ``threads`` torch threads."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "gluonts_qf", "train", "--config", str(CONFIG)]
        cmd += ["--model", "iqf", "--baselines", "none", "--quiet"]
        cmd += ["--num-threads", str(threads)]
        cmd += ["--out", out, *extra]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("OMP_NUM_THREADS", None)  # the setting under test decides
        subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
        report = json.loads((Path(out) / "metrics.json").read_text())
    return report["models"]["iqf"]["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "extra", nargs="*", help="more `gluonts-qf train` options (after --)"
    )
    args = parser.parse_args()
    print("threads  condition  load_avg_1min  train_seconds", flush=True)
    for threads in args.threads:
        for busy in (False, True):
            for _ in range(args.repeats):
                hog = None
                if busy:
                    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    time.sleep(1.0)
                load = os.getloadavg()[0]
                try:
                    seconds = train_seconds(threads, args.data_dir, args.extra)
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
                condition = "busy" if busy else "idle"
                print(f"{threads:7d}  {condition:9s}  {load:13.2f}  {seconds:13.1f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
