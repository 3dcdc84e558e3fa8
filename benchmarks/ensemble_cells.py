"""What the ensemble benchmarks share (``ensemble_weights.py``,
``ensemble_members.py``): a cell's prepared run and default ensemble, geometric
means of changes, and their command line (``run DATASET SEED`` / ``report``)."""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf


def prepared_cell(dataset: str, seed: int, data_dir: str):
    """``(prepared run, default IQFEnsembleEstimator)`` of one cell: the run
    layer's dataset and budget (10 epochs x 50 batches x 32), 1 torch thread,
    every generator seeded with ``seed``."""
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.runs import RunSpec, prepare
    from gluonts_qf.runs.run import make_estimator, seed_everything

    spec = RunSpec(
        dataset=dataset,
        model="iqf_ensemble",
        data_dir=data_dir,
        epochs=10,
        batches_per_epoch=50,
        batch_size=32,
        seed=seed,
        baselines=[],
        quiet=True,
    )
    prep = prepare(spec)
    seed_everything(seed)
    return prep, make_estimator("iqf_ensemble", prep, Path(tempfile.mkdtemp()))


def geomean_change(ratios: list) -> float:
    """The geometric mean of ``ratios`` (new / old), as a change (-0.02: 2% lower)."""
    return float(np.exp(np.mean(np.log(ratios))) - 1)


def summary_lines(summary: dict) -> list:
    """The geometric-mean table of ``{(group, rule): [(body ratio, tails
    ratio), ...]}``, one row per group and rule."""
    lines = ["| group | rule | body change | tails change |", "|---|---|---|---|"]
    for (group, k), r in sorted(summary.items()):
        b, t = zip(*r)
        lines.append(
            f"| {group} | {k} | {geomean_change(b):+.1%} | {geomean_change(t):+.1%} |"
        )
    return lines


def command(doc: str, run: Callable, report: Callable, name: str) -> None:
    """The benchmark's command line; cells go under ``benchmarks/results/name``."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("what", choices=["run", "report"])
    p.add_argument("dataset", nargs="?")
    p.add_argument("seed", nargs="?", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / name)
    p.add_argument(
        "--data-dir", default=str(ROOT.parent / "shared" / "data" / "gluonts")
    )
    args = p.parse_args()
    if args.what == "run":
        if not args.dataset:
            p.error("run needs a DATASET")
        run(args.dataset, args.seed, args.out, args.data_dir)
    else:
        print(report(args.out))


def save_cell(out: Path, dataset: str, seed: int, test_members: list, **arrays) -> None:
    """Save a cell as ``out/DATASET-seedSEED.npz``: ``arrays`` and each test
    member's ``(values, beta_l, beta_r)`` as ``test_m{i}_{j}``."""
    for i, member in enumerate(test_members):
        for j, part in enumerate(member):
            arrays[f"test_m{i}_{j}"] = part
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"{dataset}-seed{seed}.npz", **arrays)


def test_parts(z, count: int) -> list:
    """The first ``count`` test members of a cell saved by :func:`save_cell`."""
    return [tuple(z[f"test_m{i}_{j}"] for j in range(3)) for i in range(count)]


def combined_wql(levels, parts: list, weights: list, y, at, floor: float) -> float:
    """GluonTS's weighted quantile loss at the levels ``at`` of the members
    ``parts`` averaged with ``weights`` (level by level), censored at ``floor``."""
    from gluonts_qf.evaluation.scores import weighted_quantile_loss
    from gluonts_qf.model.ensemble.combine import combine, quantiles_at

    used = [i for i, w in enumerate(weights) if w > 0]
    v, lo, hi = combine([weights[i] for i in used], *zip(*[parts[i] for i in used]))
    q = quantiles_at(levels, v, lo, hi, at).reshape(-1, len(at))
    return weighted_quantile_loss([np.maximum(q, floor).T], [y], at)
