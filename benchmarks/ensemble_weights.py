"""How the ensemble's weights are chosen: one held-back window or two, and how
far to lean towards the network (``IQFEnsembleEstimator(network_prior=...)``).

One cell (dataset, seed) trains the networks the ensemble trains (on the
series less their last window, less their last two windows, and on all of
them), scores every member on the two held-back windows and on the test
window, and saves the members' quantile functions; the report combines them
with each weighing rule, so every rule is judged on the same trained networks
(a paired comparison):

* ``prior 0``: the weights fitted on the last window (the ensemble at be10eb0);
* ``prior 0.25`` / ``0.5``: those weights with a quarter / half moved to the
  network (``network_prior``; 0.25 is the default);
* ``2 windows``: weights fitted on the last two windows pooled (``windows=2``);
* ``network alone``: the network trained on all the series;
* ``censored``: the default (prior 0.25) censored at 0 where no training value
  is negative (``lower_bound="auto"``), i.e. its quantiles clipped at 0.

    OMP_NUM_THREADS=1 python benchmarks/ensemble_weights.py run DATASET SEED --out DIR
    python benchmarks/ensemble_weights.py report --out DIR
"""

import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT, TAILS  # noqa: E402
from ensemble_cells import command, geomean_change, prepared_cell  # noqa: E402

STEP = 0.05


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    from gluonts_qf.model.ensemble.combine import quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS, VALIDATION_MAX_SERIES
    from gluonts_qf.model.ensemble.predictor import network_members, statistical_member
    from gluonts_qf.model.ensemble.windows import cut, held_back, validation_windows

    prep, ens = prepared_cell(dataset, seed, data_dir)
    net, T = ens.network, ens.prediction_length
    levels = np.asarray(net.distr_output.knot_levels)
    data = list(prep.train)

    def members(nets, entries):
        ms = network_members(nets, entries, levels)
        return ms + [
            statistical_member(m, prep.freq, T, entries, levels, ens.member_context)
            for m in ens.members
        ]

    saved, first = {}, None
    for k, (heads, futures) in enumerate(
        validation_windows(data, T, 2, VALIDATION_MAX_SERIES)
    ):
        trained = net.train(cut(data, (k + 1) * T))
        first = trained if first is None else first
        q = np.stack(
            [quantiles_at(levels, *m, SCORED_LEVELS) for m in members([trained], heads)]
        )
        saved[f"window{k}_q"] = q.reshape(len(q), -1, len(SCORED_LEVELS))
        saved[f"window{k}_y"] = np.stack(futures).reshape(-1)
    full = net.train(data)
    saved["train_min"] = min(float(np.nanmin(e["target"])) for e in data)
    inputs, labels = held_back(list(prep.test), T)
    saved["test_y"] = np.stack(labels).reshape(-1)
    # members on the test: the last window's network, the full one, the statistical ones
    test_members = network_members([first], inputs, levels) + members([full], inputs)
    for i, member in enumerate(test_members):
        for j, part in enumerate(member):
            saved[f"test_m{i}_{j}"] = part
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"{dataset}-seed{seed}.npz", levels=levels, **saved)


def _rules(z) -> dict:
    from gluonts_qf.evaluation.scores import weighted_quantile_loss
    from gluonts_qf.model.ensemble.combine import combine, fit_weights, quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS

    levels, y = z["levels"], z["test_y"]
    M = len({k.split("_")[1] for k in z.files if k.startswith("test_m")})
    S = M - 2  # statistical members
    parts = [tuple(z[f"test_m{i}_{j}"] for j in range(3)) for i in range(M)]
    windows = [
        (z[f"window{k}_q"], z[f"window{k}_y"])
        for k in range(2)
        if f"window{k}_q" in z.files
    ]

    # cells saved before train_min was: the held-back windows' values stand in
    lowest = (
        float(z["train_min"])
        if "train_min" in z.files
        else min(float(np.nanmin(w[1])) for w in windows)
    )

    def wql(weights, at, floor=-np.inf):
        v, lo, hi = combine(weights, *zip(*parts))
        q = quantiles_at(levels, v, lo, hi, at).reshape(-1, len(at))
        return weighted_quantile_loss([np.maximum(q, floor).T], [y], at)

    w1 = fit_weights(*windows[0], SCORED_LEVELS, STEP)[0]
    pooled = [
        np.concatenate([w[i] for w in windows], axis=-1 if i else 1) for i in (0, 1)
    ]
    w2 = fit_weights(*pooled, SCORED_LEVELS, STEP)[0]

    def member(
        w,
    ):  # the network weight shared by the last window's and the full network
        return [w[0] / 2, w[0] / 2, *w[1:]]

    def prior(w, lam):
        return (1 - lam) * np.asarray(w) + lam * np.r_[1.0, [0.0] * S]

    rules = {
        "prior 0": member(w1),
        "prior 0.25": member(prior(w1, 0.25)),
        "prior 0.5": member(prior(w1, 0.5)),
        "2 windows": member(w2),
        "network alone": [0, 1] + [0] * S,
    }
    res = {k: wql(w, BODY) for k, w in rules.items()}
    res["tails prior 0"] = wql(rules["prior 0"], TAILS)
    res["tails prior 0.25"] = wql(rules["prior 0.25"], TAILS)
    floor = 0.0 if lowest >= 0 else -np.inf
    res["censored"] = wql(rules["prior 0.25"], BODY, floor)
    res["tails censored"] = wql(rules["prior 0.25"], TAILS, floor)
    res["fitted network weight"] = float(w1[0])
    v, lo, hi = combine(rules["prior 0.25"], *zip(*parts))
    q = quantiles_at(levels, v, lo, hi, (0.01, 0.05, 0.95, 0.99)).reshape(-1, 4)
    ok = np.isfinite(y)
    inside = lambda a, b: float(np.mean((y[ok] >= q[ok, a]) & (y[ok] <= q[ok, b])))  # noqa: E731
    res["holds 90"], res["holds 98"] = inside(1, 2), inside(0, 3)
    return res


def report(out: Path) -> str:
    doc = (ROOT / "docs" / "benchmarks.md").read_text()
    best = {}  # best peer per dataset, from the table of the full benchmark
    pattern = r"^\| (\w+) \| (?:dev|held out) \| [^|]+ \| (\w+) ([0-9.]+) \|"
    for m in re.finditer(pattern, doc, re.M):
        best.setdefault(m.group(1), (m.group(2), float(m.group(3))))
    res: dict = {}
    for f in sorted(out.glob("*-seed*.npz")):
        name = f.stem.rsplit("-seed", 1)[0]
        res.setdefault(name, []).append(_rules(np.load(f)))
    dev = [d for d in DEVELOPMENT if d in res]
    order = dev + sorted(d for d in res if d not in DEVELOPMENT)

    def mean(d, k):
        return float(np.mean([r[k] for r in res[d]]))

    lines = [
        "| dataset | group | seeds | network weight fitted | prior 0 (be10eb0) "
        "| **prior 0.25 (default)** | prior 0.5 | 2 windows | network alone "
        "| tails: prior 0 / 0.25 | censored at 0: body / tails "
        "| 90% / 98% interval holds (0.25) "
        "| best peer (full benchmark) | prior 0.25 vs best peer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in order:
        bp = best.get(d)
        vs = f"{mean(d, 'prior 0.25') / bp[1] - 1:+.1%}" if bp else "–"
        cells = [
            f"{mean(d, k):.4g}"
            for k in (
                "prior 0",
                "prior 0.25",
                "prior 0.5",
                "2 windows",
                "network alone",
            )
        ]
        cells[1] = f"**{cells[1]}**"
        lines.append(
            f"| {d} | {'dev' if d in DEVELOPMENT else 'held out'} | {len(res[d])} "
            f"| {mean(d, 'fitted network weight'):.2f} | {' | '.join(cells)} "
            f"| {mean(d, 'tails prior 0'):.4g} / {mean(d, 'tails prior 0.25'):.4g} "
            f"| {mean(d, 'censored'):.4g} / {mean(d, 'tails censored'):.4g} "
            f"| {mean(d, 'holds 90'):.2f} / {mean(d, 'holds 98'):.2f} "
            f"| {bp[0] + ' ' + str(bp[1]) if bp else '–'} | {vs} |"
        )
    for group, sel in (
        ("development", dev),
        ("held out", [d for d in order if d not in dev]),
    ):
        if not sel:
            continue

        def g(k, base="prior 0", sel=sel):
            return geomean_change([mean(d, k) / mean(d, base) for d in sel])

        lines.append(
            f"\n{group} ({len(sel)} datasets), geometric mean against prior 0: prior 0.25 "
            f"{g('prior 0.25'):+.1%} (tails {g('tails prior 0.25', 'tails prior 0'):+.1%}), "
            f"censored {g('censored'):+.1%} "
            f"(tails {g('tails censored', 'tails prior 0'):+.1%}), "
            f"prior 0.5 {g('prior 0.5'):+.1%}, 2 windows {g('2 windows'):+.1%}, "
            f"network alone {g('network alone'):+.1%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_weights")
