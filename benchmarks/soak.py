"""Numerical soak: long training on every offline dataset, watching for non-finite values.

Part 1 trains each estimator (float32) for ``--steps`` optimisation steps on each
dataset and reports the steps whose loss or gradient was not finite (target: none)
and the largest gradient norm seen (before any clipping; none is configured).
Part 2 drives the heads (``IQFOutput``, ``MQF2Output``) in float64 with features
and targets from 1e-6 to 1e6 and reports non-finite losses or gradients::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/soak.py --steps 2000 \\
        --data-dir ../shared/data/gluonts
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from gluonts_qf import IQFOutput, MQF2Output
from gluonts_qf.runs.data import find_data_dir, load_data
from gluonts_qf.runs.registry import get_model
from gluonts_qf.runs.run import seed_everything


class Watch(pl.Callback):
    """Counts non-finite losses and gradients; keeps the largest gradient norm."""

    def __init__(self) -> None:
        self.steps = self.bad_loss = self.bad_grad = 0
        self.max_grad_norm = 0.0

    def on_after_backward(self, trainer, module) -> None:
        grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        if math.isfinite(norm):
            self.max_grad_norm = max(self.max_grad_norm, norm)
        else:
            self.bad_grad += 1

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.steps += 1
        if not torch.isfinite(outputs["loss"]).all():
            self.bad_loss += 1


def soak_estimator(model: str, name: str, args, root: Path) -> dict:
    """Train ``model`` on dataset ``name`` for ``args.steps`` steps, watched."""
    data = load_data(name, args.data_dir, args.max_series)
    train = data.train
    watch = Watch()
    epochs = max(1, args.steps // args.batches_per_epoch)
    seed_everything(0)
    est = get_model(model).build(
        data.freq,
        data.prediction_length,
        num_batches_per_epoch=args.batches_per_epoch,
        trainer_kwargs={
            "max_epochs": epochs,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root / f"{model}-{name}"),
            "callbacks": [watch],
        },
    )
    start = time.perf_counter()
    est.train(train)
    return {
        "steps": watch.steps,
        "bad_loss": watch.bad_loss,
        "bad_grad": watch.bad_grad,
        "max_grad_norm": watch.max_grad_norm,
        "seconds": time.perf_counter() - start,
    }


def soak_heads(repeats: int = 20) -> list[tuple[str, float, int]]:
    """``(head, magnitude, non-finite count)`` for float64 heads at each magnitude."""
    torch.manual_seed(0)
    heads = {
        "iqf": IQFOutput(knot_levels=(0.05, 0.25, 0.5, 0.75, 0.95), num_pieces=3),
        "mqf2": MQF2Output(dim=6, hidden_size=16, es_num_samples=16),
    }
    rows = []
    for name, out in heads.items():
        proj = out.get_args_proj(8).double()
        for magnitude in (1e-6, 1e-3, 1.0, 1e3, 1e6):
            bad = 0
            for _ in range(repeats):
                proj.zero_grad()
                x = torch.randn(32, 8, dtype=torch.float64) * magnitude
                shape = (32,) if name == "iqf" else (32, 6)
                target = torch.randn(*shape, dtype=torch.float64) * magnitude
                scale = torch.full((32,) if name == "iqf" else (32, 1), magnitude)
                args = proj(x)
                kwargs = {"picnn": proj.picnn} if name == "mqf2" else {}
                loss = out.loss(target, args, scale=scale.double(), **kwargs).mean()
                loss.backward()
                grads = [p.grad for p in proj.parameters() if p.grad is not None]
                ok = torch.isfinite(loss) and all(
                    torch.isfinite(g).all() for g in grads
                )
                bad += not bool(ok)
            rows.append((name, magnitude, bad))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--models", nargs="+", default=["iqf", "mqf2"])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batches-per-epoch", type=int, default=50)
    parser.add_argument("--max-series", type=int)
    parser.add_argument("--root", type=Path, help="checkpoints (default: a temp dir)")
    args = parser.parse_args()
    args.root = args.root or Path(tempfile.mkdtemp(prefix="gluonts-qf-soak-"))
    folder = find_data_dir(args.data_dir, "m4_hourly")
    names = args.datasets or sorted(
        p.parent.name for p in folder.glob("*/metadata.json")
    )
    print(
        "model  dataset             steps  bad_loss  bad_grad  max_grad_norm  seconds"
    )
    for name in names:
        for model in args.models:
            r = soak_estimator(model, name, args, args.root)
            print(
                f"{model:5s}  {name:18s}  {r['steps']:5d}  {r['bad_loss']:8d}  "
                f"{r['bad_grad']:8d}  {r['max_grad_norm']:13.4g}  {r['seconds']:7.1f}"
            )
            sys.stdout.flush()
    print("\nhead  magnitude  non_finite (of 20 float64 loss+gradient evaluations)")
    for head, magnitude, bad in soak_heads():
        print(f"{head:4s}  {magnitude:9.0e}  {bad}")


if __name__ == "__main__":
    main()
