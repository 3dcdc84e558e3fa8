"""More statistical members for the default ensemble, judged on the same networks.

Reads the cells of ``benchmarks/ensemble_steps.py`` (the default ensemble
trained as ``gluonts-qf train`` does: every member's quantiles on the
held-back window and its quantile function on the test windows). ``run``
forecasts the same held-back window and the same test windows with each
candidate statistical member (:data:`CANDIDATES`, the models of
:mod:`gluonts_qf.model.statistical`, at GluonTS's season and the ensemble's
context cap) and saves them beside the cell; ``report`` fits the weights as
``IQFEnsembleEstimator`` does (on the window, ``network_prior`` moved to the
trained members, censored where the ensemble is) with and without each
candidate and scores the test forecast, so the networks are the same in every
column and only the members differ. The candidates' forecasts go to
``DIR/statistical``.

    OMP_NUM_THREADS=1 python benchmarks/ensemble_steps.py run DATASET SEED --out DIR
    OMP_NUM_THREADS=1 python benchmarks/ensemble_statistical.py run DATASET SEED --out DIR
    python benchmarks/ensemble_statistical.py report --out DIR
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import DEVELOPMENT  # noqa: E402
from ensemble_cells import command, summary_lines  # noqa: E402
from ensemble_parts import LEVELS, scores  # noqa: E402
from ensemble_steps import load_cell, weighed  # noqa: E402

#: Candidate members (AutoCES is not one: it took 169 s on hospital's 1,534
#: windows where dynamic Theta took 9 s, too slow for m4_yearly's 23,974).
CANDIDATES = ("dynamic_theta",)
#: The columns of the report: (members taken out, members added).
RULES = {
    "default": ((), ()),
    "+ dynamic_theta": ((), ("dynamic_theta",)),
    "dynamic_theta for auto_theta": (("auto_theta",), ("dynamic_theta",)),
}


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    from gluonts_qf.model.ensemble.defaults import MEMBER_CONTEXT, VALIDATION_MAX_SERIES
    from gluonts_qf.model.ensemble.predictor import statistical_member
    from gluonts_qf.model.ensemble.windows import held_back, validation_windows
    from gluonts_qf.runs import RunSpec, prepare

    cell = np.load(out / f"{dataset}-seed{seed}.npz")
    spec = RunSpec(dataset=dataset, model="iqf_ensemble", data_dir=data_dir,
                   seed=seed, baselines=[], quiet=True)  # fmt: skip
    prep = prepare(spec)
    T, levels = prep.prediction_length, cell["levels"]
    windows = validation_windows(list(prep.train), T, 1, VALIDATION_MAX_SERIES)
    heads, futures = windows[0]
    if not np.allclose(np.stack(futures).reshape(-1), cell["window_y"]):
        raise ValueError(f"{dataset}: the held-back window is not the cell's")
    inputs, _ = held_back(list(prep.test), T)
    path = out / "statistical" / f"{dataset}-seed{seed}.npz"
    path.parent.mkdir(exist_ok=True)
    saved = dict(np.load(path)) if path.exists() else {}
    for name in CANDIDATES:
        if f"{name}_test0" in saved:
            continue
        start = time.perf_counter()
        for tag, entries in (("window", heads), ("test", inputs)):
            part = statistical_member(
                name, prep.freq, T, entries, levels, MEMBER_CONTEXT
            )
            for j, array in enumerate(part):
                saved[f"{name}_{tag}{j}"] = np.asarray(array)
        saved[f"{name}_seconds"] = np.asarray(time.perf_counter() - start)
    np.savez_compressed(path, **saved)


def rules(cell: dict, extra: dict) -> dict:
    """``{rule: (test quantiles (N * T, len(LEVELS)), weights)}`` for the
    rules whose members the cell has."""
    from gluonts_qf.model.ensemble.combine import fit_weights, quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS
    from gluonts_qf.model.ensemble.windows import lean

    names = [str(n) for n in cell["names"]]
    levels = cell["levels"]
    test = dict(zip(names, cell["members"]))
    window = {n: cell["window_q"][i] for i, n in enumerate(names)}
    for name in CANDIDATES:
        if f"{name}_test0" in extra:
            test[name] = tuple(extra[f"{name}_test{j}"] for j in range(3))
            parts = (extra[f"{name}_window{j}"] for j in range(3))
            window[name] = quantiles_at(levels, *parts, SCORED_LEVELS).reshape(
                -1, len(SCORED_LEVELS)
            )
    trained = int(cell["trained_members"].sum())  # the first ones
    out = {}
    for rule, (drop, add) in RULES.items():
        if any(n not in test for n in add):
            continue
        use = [n for n in names if n not in drop] + list(add)
        fitted = fit_weights(
            np.stack([window[n] for n in use]), cell["window_y"], SCORED_LEVELS
        )[0]
        w = lean(fitted, trained, float(cell["prior"]))
        q = weighed(levels, [test[n] for n in use], w).reshape(-1, len(LEVELS))
        if np.isfinite(cell["floor"]):
            q = np.maximum(q, cell["floor"])
        out[rule] = (q, dict(zip(use, w)))
    return out


def report(out: Path) -> str:
    rows, summary, weights = [], {}, []
    for path in sorted((out / "statistical").glob("*.npz")):
        stem = path.stem
        dataset, seed = stem.rsplit("-seed", 1)
        cell = load_cell(out / f"{stem}.npz")
        extra = dict(np.load(path))
        res = rules(cell, extra)
        if not np.allclose(list(res["default"][1].values()), cell["weights"]):
            raise ValueError(f"{stem}: the refitted weights are not the ensemble's")
        y = cell["test_y"].reshape(-1)
        r = {k: scores(q, y) for k, (q, _) in res.items()}
        base = r["default"]
        group = "dev" if dataset in DEVELOPMENT else "held out"
        cells = " | ".join(
            f"{r[k]['body'] / base['body'] - 1:+.1%} / "
            f"{r[k]['tails'] / base['tails'] - 1:+.1%}"
            if k in r
            else "–"
            for k in RULES
            if k != "default"
        )
        seconds = float(extra.get("dynamic_theta_seconds", np.nan))
        rows.append(
            f"| {dataset} | {seed} | {group} | {base['body']:.4g} / "
            f"{base['tails']:.4g} | {cells} | {seconds:.0f} |"
        )
        w = res["+ dynamic_theta"][1] if "+ dynamic_theta" in res else {}
        weights.append(
            f"| {dataset} | {seed} | "
            + ", ".join(f"{n} {v:.2f}" for n, v in w.items() if v > 0)
            + " |"
        )
        for k, x in r.items():
            if k != "default":
                summary.setdefault((group, k), []).append(
                    (x["body"] / base["body"], x["tails"] / base["tails"])
                )
    head = " | ".join(k for k in RULES if k != "default")
    return "\n".join(
        [
            f"| dataset | seed | group | default: body / tails | {head} | "
            "dynamic_theta s |",
            "|---|---|---|---|" + "---|" * len(RULES),
            *rows,
            "",
            *summary_lines(summary),
            "",
            "| dataset | seed | weights with dynamic_theta |",
            "|---|---|---|",
            *weights,
        ]
    )


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_statistical")
