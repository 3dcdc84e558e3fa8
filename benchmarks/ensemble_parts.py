"""How the default ensemble's members are combined, judged on their saved parts.

One cell (dataset, seed) trains the ensemble as ``gluonts-qf train`` does
(the run layer's model and budget, 1 torch thread) with one network of all
the data (``seeds=1``), then one such network more from another seed, and
saves, for the test windows, every member's quantile function at the knots
(each network, and every statistical member, weighted or not), the fitted
weights and the outcomes; the report then scores combination rules on those
parts without training again (a paired comparison on the same networks).

    OMP_NUM_THREADS=1 python benchmarks/ensemble_parts.py run DATASET SEED --out DIR
    python benchmarks/ensemble_parts.py report --out DIR
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT, TAILS  # noqa: E402
from ensemble_cells import command, summary_lines  # noqa: E402

#: Every statistical member whose parts are saved (the default's and more).
STATISTICAL = ("auto_ets", "auto_theta", "naive_intervals")


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.model.ensemble.predictor import network_members, statistical_member
    from gluonts_qf.model.ensemble.windows import held_back
    from gluonts_qf.runs import RunSpec, prepare
    from gluonts_qf.runs.run import fit, make_estimator, seed_everything

    # the ensemble with one network of all the data (seeds=1), as the rules
    # below compare; the extra network is the second one seeds=2 would train
    spec = RunSpec(dataset=dataset, model="iqf_ensemble", data_dir=data_dir,
                   seed=seed, baselines=[], quiet=True,
                   estimator={"seeds": 1})  # fmt: skip
    prep = prepare(spec)
    with tempfile.TemporaryDirectory() as root:
        predictor, seconds = fit("iqf_ensemble", prep, Path(root))
        # one more network on all the training data, another seed (weight 0)
        seed_everything(seed + 1000)
        start = time.perf_counter()
        extra = make_estimator("iqf_ensemble", prep, Path(root)).network.train(
            list(prep.train)
        )
        extra_seconds = time.perf_counter() - start
    T, levels = prep.prediction_length, np.asarray(predictor.knot_levels)
    inputs, labels = held_back(list(prep.test), T)
    saved = {"test_y": np.stack(labels), "train_seconds": seconds}
    saved["extra_seconds"] = extra_seconds
    start = time.perf_counter()
    parts = network_members(predictor.networks, inputs, levels)
    parts += [
        statistical_member(m, prep.freq, T, inputs, levels, predictor.member_context)
        for m in STATISTICAL
    ]
    parts += network_members([extra], inputs, levels)
    saved["predict_seconds"] = time.perf_counter() - start
    for i, part in enumerate(parts):
        for j, array in enumerate(part):
            saved[f"m{i}_{j}"] = array
    names = [f"network{i}" for i in range(len(predictor.networks))] + list(STATISTICAL)
    w = predictor.weights
    each = [w.get("network", 0.0) / len(predictor.networks)] * len(predictor.networks)
    saved["weights"] = np.asarray(each + [w.get(m, 0.0) for m in STATISTICAL] + [0.0])
    names.append("extra")
    saved["lower_bound"] = (
        np.nan if predictor.lower_bound is None else predictor.lower_bound
    )
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{dataset}-seed{seed}.npz", levels=levels, names=np.array(names), **saved
    )


def load(path: Path) -> dict:
    """A cell's parts: ``members`` [(values, beta_l, beta_r)], ``weights``, ``y``."""
    z = np.load(path)
    M = len(z["names"])
    return {
        "levels": z["levels"],
        "names": list(z["names"]),
        "members": [tuple(z[f"m{i}_{j}"] for j in range(3)) for i in range(M)],
        "weights": z["weights"],
        "y": z["test_y"],
        "floor": float(z["lower_bound"]),
    }


def _flat(x: np.ndarray) -> np.ndarray:
    """(N, T, ...) -> (N * T, ...): one row per forecast step."""
    return np.reshape(x, (-1, *np.shape(x)[2:]))


def pooled_quantiles(levels, members, weights, at, iters=60):
    """Quantiles of the linear pool (the weighted mixture of the members'
    distributions) at the levels ``at``, by bisection: (N, L)."""
    import torch

    from gluonts_qf.distributions.iqf import IQF
    from gluonts_qf.model.ensemble.combine import quantiles_at

    used = [(m, w) for m, w in zip(members, weights) if w > 0]
    flat = [tuple(_flat(p) for p in m) for m, _ in used]
    ends = np.stack([quantiles_at(levels, *m, [min(at), max(at)]) for m in flat])
    knots = torch.as_tensor(levels, dtype=torch.float64)
    dists = [
        IQF(knots, *(torch.as_tensor(p, dtype=torch.float64) for p in m)) for m in flat
    ]

    def cdf(x: np.ndarray) -> np.ndarray:  # the pool's CDF, one value per row
        x = torch.from_numpy(x)
        return sum(w * d.cdf(x).numpy() for d, (_, w) in zip(dists, used))

    out = []
    for u in at:
        lo, hi = ends[..., 0].min(0), ends[..., 1].max(0)
        for _ in range(iters):
            mid = (lo + hi) / 2
            below = cdf(mid) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out.append((lo + hi) / 2)
    return np.stack(out, -1)


LEVELS = tuple(sorted({*BODY, *TAILS}))


def scores(q: np.ndarray, y: np.ndarray, at=LEVELS) -> dict:
    """wQL per level (GluonTS's, :func:`weighted_quantile_loss`), coverage per level,
    and the benchmark's summaries; ``q`` (N, L), ``y`` (N,)."""
    from gluonts_qf.evaluation.scores import weighted_quantile_loss

    ok = np.isfinite(y)
    q, y = q[ok], y[ok]
    r = {u: weighted_quantile_loss([q[:, [j]].T], [y], [u]) for j, u in enumerate(at)}
    cov = (y[:, None] <= q).mean(0)
    c = dict(zip(at, cov))
    return {
        "body": float(np.mean([r[x] for x in BODY])),
        "tails": float(np.mean([r[x] for x in TAILS])),
        "cov90": c[0.95] - c[0.05],
        "cov98": c[0.99] - c[0.01],
        "calibration": float(np.mean([abs(c[x] - x) for x in BODY])),
        **{f"wQL[{x}]": r[x] for x in TAILS},
        **{f"cov[{x}]": c[x] for x in at},
    }


def rules(cell: dict) -> dict:
    """Each combination rule's quantiles (N * T, len(LEVELS)) of one cell.

    ``default``: the ensemble as it forecasts (the fitted weights; the network
    weight split between the network of the held-back window and the one of
    all the data); ``full only``: that weight on the latter alone; ``two full``
    / ``three``: split between the networks of all the data (two seeds) / all
    three; ``pool``: the linear pool (mixture) of the members with the fitted
    weights; ``half pool``: the average of it and the default's quantiles;
    ``disagreement``: the default stretched about its median by ``sqrt(1 +
    between / within)`` (the weighted variance of the members' medians over
    the average's (q(0.9) - q(0.1)) / 2.563 squared); ``oracle``: the weights
    best on the test itself (headroom, not a rule); then each member alone.
    """
    from gluonts_qf.model.ensemble.combine import combine, fit_weights, quantiles_at

    levels, members, w, names = (
        cell[k] for k in ("levels", "members", "weights", "names")
    )
    net0, net1, extra = (names.index(k) for k in ("network0", "network1", "extra"))
    stats = [i for i, n in enumerate(names) if i not in (net0, net1, extra)]

    def average(weights: dict) -> np.ndarray:  # member index -> weight
        used = {i: x for i, x in weights.items() if x > 0}
        v = combine(list(used.values()), *zip(*[members[i] for i in used]))
        return quantiles_at(levels, *(_flat(p) for p in v), LEVELS)

    fitted = {i: float(w[i]) for i in range(len(w))}
    wn = fitted[net0] + fitted[net1]
    moved = {**fitted, net0: 0.0, net1: 0.0}
    out = {
        "default": average(fitted),
        "full only": average({**moved, net1: wn}),
        "two full": average({**moved, net1: wn / 2, extra: wn / 2}),
        "three": average({**moved, net0: wn / 3, net1: wn / 3, extra: wn / 3}),
    }
    out["pool"] = pooled_quantiles(levels, members, w, LEVELS)
    out["half pool"] = (out["default"] + out["pool"]) / 2
    med = np.stack(
        [_flat(quantiles_at(levels, *members[i], [0.5]))[:, 0] for i in fitted]
    )
    wm = np.asarray(list(fitted.values()))[:, None]
    between = (wm * (med - (wm * med).sum(0)) ** 2).sum(0)
    q = out["default"]
    lo, mid, hi = (q[:, LEVELS.index(u)] for u in (0.1, 0.5, 0.9))
    stretch = np.sqrt(1 + between / np.maximum(((hi - lo) / 2.5631) ** 2, 1e-300))
    out["disagreement"] = mid[:, None] + stretch[:, None] * (q - mid[:, None])
    groups = [[net0, net1], *[[i] for i in stats]]
    alone = [average({i: 1 / len(g) for i in g}) for g in groups]
    body = [LEVELS.index(u) for u in BODY]
    best = fit_weights(
        np.stack([a[:, body] for a in alone]), cell["y"].reshape(-1), BODY
    )[0]
    out["oracle"] = average({i: b / len(g) for g, b in zip(groups, best) for i in g})
    out["network"] = alone[0]
    out.update((names[i], a) for i, a in zip(stats, alone[1:]))
    if np.isfinite(cell["floor"]):
        out = {k: np.maximum(q, cell["floor"]) for k, q in out.items()}
    return out


def report(out: Path) -> str:
    rows, summary = [], {}
    for path in sorted(out.glob("*.npz")):
        dataset = path.name.rsplit("-seed", 1)[0]
        cell = load(path)
        y = cell["y"].reshape(-1)
        res = {k: scores(q, y) for k, q in rules(cell).items()}
        base = res["default"]
        group = "dev" if dataset in DEVELOPMENT else "held out"
        for k, r in res.items():
            rows.append(
                f"| {dataset} | {group} | {k} | {r['body']:.4g} | {r['tails']:.4g} | "
                f"{r['cov90']:.2f} / {r['cov98']:.2f} | {r['calibration']:.3f} | "
                f"{r['cov[0.1]']:.2f} / {r['cov[0.5]']:.2f} / {r['cov[0.9]']:.2f} |"
            )
            summary.setdefault((group, k), []).append(
                (r["body"] / base["body"], r["tails"] / base["tails"])
            )
    lines = [
        "| dataset | group | rule | body | tails | 90% / 98% hold | calibration | cov 0.1 / 0.5 / 0.9 |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *summary_lines(summary),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_parts")
