"""Training scales out through Lightning: DDP on 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


def test_ddp_on_two_cpu_processes(data_dir, tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = Path(__file__).with_name("ddp_train.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(data_dir), str(out)],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    report = json.loads(out.read_text())
    assert report["world"] == 2
    assert report["num_forecasts"] == 8 and report["finite"]
    losses = np.array(report["losses"]).reshape(3, 8)  # epochs x batches, rank 0
    assert losses[-1].mean() < losses[0].mean(), losses.mean(axis=1)
    # the ranks trained on disjoint halves of the 8 series
    items = [
        set(json.loads(Path(f"{out}.rank{r}").read_text())["items"]) for r in (0, 1)
    ]
    assert items[0] and items[1] and not items[0] & items[1]
    assert items[0] | items[1] <= set(range(8))
