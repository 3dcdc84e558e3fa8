"""Weights per forecast step: the default ensemble's members weighed on the
held-back window step by step instead of once for the whole horizon.

One cell (dataset, seed) trains the default ensemble as ``gluonts-qf train``
does (the run layer's model and budget, 1 torch thread) and saves what its
weights were fitted on (every member's quantiles on the held-back window, at
the scored levels, and the outcomes) and every member's quantile function on
the test windows; the report fits the weights with each rule and scores the
test forecast, so every rule is judged on the same trained networks:

* ``default``: one set of weights for every step, ``network_prior`` moved to
  the trained members (the ensemble as it forecasts: a check);
* ``per step``: one set of weights per step of the horizon, each fitted on
  that step's outcomes of the window, the same prior;
* ``halves``: one set for the first half of the horizon, one for the rest;
* ``shrunk``: the average of the per-step weights and the global ones;
* ``body levels``: global weights fitted on the levels 0.1..0.9 alone;
* ``prior 0`` / ``prior 0.5``: global weights, another ``network_prior``.

Each is again a level-by-level average of the members, so an exact IQF at
every step.

    OMP_NUM_THREADS=1 python benchmarks/ensemble_steps.py run DATASET SEED --out DIR
    python benchmarks/ensemble_steps.py report --out DIR
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT  # noqa: E402
from ensemble_cells import command, summary_lines  # noqa: E402
from ensemble_parts import LEVELS, scores  # noqa: E402


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.model.ensemble import estimator as module
    from gluonts_qf.model.ensemble.defaults import NETWORK_PRIOR
    from gluonts_qf.model.ensemble.predictor import (
        NETWORK,
        averaged_member,
        statistical_member,
    )
    from gluonts_qf.model.ensemble.windows import held_back
    from gluonts_qf.runs import RunSpec, prepare
    from gluonts_qf.runs.run import fit

    seen = {}
    original = module.fit_weights

    def recording(quantiles, y, levels, step=0.05):
        seen.update(quantiles=np.asarray(quantiles), y=np.asarray(y))
        return original(quantiles, y, levels, step)

    spec = RunSpec(dataset=dataset, model="iqf_ensemble", data_dir=data_dir,
                   seed=seed, baselines=[], quiet=True)  # fmt: skip
    prep = prepare(spec)
    module.fit_weights = recording
    try:
        with tempfile.TemporaryDirectory() as root:
            predictor, seconds = fit("iqf_ensemble", prep, Path(root))
    finally:
        module.fit_weights = original
    T, levels = prep.prediction_length, np.asarray(predictor.knot_levels)
    inputs, labels = held_back(list(prep.test), T)
    names = list(predictor.choices["weights"])  # the order of the fit
    trained = predictor._trained()
    parts = [
        averaged_member(trained[name], inputs, levels, name != NETWORK)
        if name in trained
        else statistical_member(
            name,
            prep.freq,
            T,
            inputs,
            levels,
            predictor.member_context,
            predictor.member_seasons.get(name),
        )
        for name in names
    ]
    saved = {
        "window_q": seen["quantiles"],
        "window_y": seen["y"],
        "test_y": np.stack(labels),
        "weights": np.asarray([predictor.weights[n] for n in names]),
        "prior": NETWORK_PRIOR,
        "trained_members": np.asarray([n in trained for n in names]),
        "train_seconds": seconds,
        "T": T,
        "lower_bound": np.nan
        if predictor.lower_bound is None
        else predictor.lower_bound,
    }
    for i, part in enumerate(parts):
        for j, array in enumerate(part):
            saved[f"m{i}_{j}"] = np.asarray(array)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{dataset}-seed{seed}.npz", levels=levels, names=np.array(names), **saved
    )


RULES = (
    "default",
    "per step",
    "halves",
    "shrunk",
    "body levels",
    "prior 0",
    "prior 0.5",
)


def load_cell(path: Path) -> dict:
    """A cell saved by :func:`run`: its arrays, ``floor`` (the lower bound,
    NaN for none) and ``members``, each member's test quantile function
    ``(values (N, T, K), beta_l (N, T), beta_r (N, T))`` in the fit's order."""
    z = np.load(path)
    cell = {k: z[k] for k in z.files}
    cell["floor"] = float(z["lower_bound"])
    cell["members"] = [
        tuple(cell[f"m{i}_{j}"] for j in range(3)) for i in range(len(cell["names"]))
    ]
    return cell


def weighed(levels: np.ndarray, members: list, weights) -> np.ndarray:
    """The level-by-level average of ``members`` (quantile functions sharing
    ``levels``) with ``weights``, at :data:`LEVELS`: shape (..., len(LEVELS));
    members of weight 0 are not read."""
    from gluonts_qf.model.ensemble.combine import combine, quantiles_at

    used = [i for i, w in enumerate(weights) if w > 0]
    v = combine([weights[i] for i in used], *zip(*[members[i] for i in used]))
    return quantiles_at(levels, *v, LEVELS)


def rules(cell) -> tuple[dict, np.ndarray, np.ndarray]:
    """Each rule's test quantiles, (N * T, len(LEVELS)), with the global
    weights refitted here and those the predictor recorded (to compare)."""
    from gluonts_qf.model.ensemble.combine import fit_weights
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS
    from gluonts_qf.model.ensemble.windows import lean

    T = int(cell["T"])
    levels = cell["levels"]
    members = cell["members"]
    M = len(members)
    wq, wy = cell["window_q"], cell["window_y"]  # (M, S*T, L), (S*T,)
    S = wy.size // T  # series of the window
    wq = wq.reshape(M, S, T, -1)
    wy = wy.reshape(S, T)
    trained, prior = cell["trained_members"], float(cell["prior"])

    def weights_on(steps, at=SCORED_LEVELS, prior=prior) -> np.ndarray:
        cols = [SCORED_LEVELS.index(u) for u in at]
        q = wq[:, :, steps][..., cols].reshape(M, -1, len(cols))
        fitted = fit_weights(q, wy[:, steps].reshape(-1), at)[0]
        return lean(fitted, int(trained.sum()), prior)  # trained members first

    def forecast(per_step: list) -> np.ndarray:  # T weight vectors -> (N*T, L)
        out = [
            weighed(levels, [tuple(a[:, t] for a in m) for m in members], w)
            for t, w in enumerate(per_step)
        ]  # (N, L) each
        return np.stack(out, 1).reshape(-1, len(LEVELS))

    glob = weights_on(slice(None))
    each = [weights_on([t]) for t in range(T)]
    half = T // 2
    first, second = weights_on(slice(0, max(half, 1))), weights_on(slice(half, T))
    out = {
        "default": forecast([glob] * T),
        "per step": forecast(each),
        "halves": forecast([first if t < half else second for t in range(T)]),
        "shrunk": forecast([(glob + w) / 2 for w in each]),
        "body levels": forecast([weights_on(slice(None), BODY)] * T),
        "prior 0": forecast([weights_on(slice(None), prior=0.0)] * T),
        "prior 0.5": forecast([weights_on(slice(None), prior=0.5)] * T),
    }
    if np.isfinite(cell["floor"]):
        out = {k: np.maximum(q, cell["floor"]) for k, q in out.items()}
    return out, glob, cell["weights"]


def report(out: Path) -> str:
    rows, summary = [], {}
    for path in sorted(out.glob("*.npz")):
        dataset, seed = path.stem.rsplit("-seed", 1)
        cell = load_cell(path)
        res, glob, used = rules(cell)
        y = cell["test_y"].reshape(-1)
        r = {k: scores(q, y) for k, q in res.items()}
        base = r["default"]
        group = "dev" if dataset in DEVELOPMENT else "held out"
        check = "" if np.allclose(glob, used) else " (weights differ!)"
        cells = " | ".join(
            f"{x['body'] / base['body'] - 1:+.1%} / {x['tails'] / base['tails'] - 1:+.1%}"
            for k, x in r.items()
            if k != "default"
        )
        rows.append(
            f"| {dataset} | {seed} | {group} | {base['body']:.4g} / {base['tails']:.4g} | "
            f"{cells} | {base['cov90']:.2f} / {r['per step']['cov90']:.2f} |{check}"
        )
        for k, x in r.items():
            summary.setdefault((group, k), []).append(
                (x["body"] / base["body"], x["tails"] / base["tails"])
            )
    head = " | ".join(RULES)
    lines = [
        f"| dataset | seed | group | {head} | 90% hold: default / per step |",
        "|---|---|---|" + "---|" * (len(RULES) + 1),
        *rows,
        "",
        *summary_lines(summary),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_steps")
