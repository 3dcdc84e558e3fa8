"""The ensemble's network member with networks trained two ways (a probe):
the default's networks of all the data beside one trained with each series'
loss weighed by its scale (``scale_weighting=1``, the loss in the data's units).

One cell (dataset, seed) trains the network on the series less their last
window (the one the weights are fitted on) and three networks on all of them:
two at the default (``seeds=2``) and one at ``scale_weighting=1``; it saves the
members' quantile functions on the held-back window and the test. The report
weighs them as the ensemble does (weights fitted on the window,
``network_prior`` moved to the network, censored at 0 where no training value
is negative): *default* (the window's network and the two default ones
averaged into the network member), *mixed* (the second default network
replaced by the weighted one), *four* (all of them), on the same networks;
and the default with the weights fitted on the window's loss with each series
weighed by its scale to the power ``-p`` (*fit p=0.5*, *fit p=1*: in units
of each series' mean absolute value in the window, as the network trains,
rather than in the data's units, as the metric weighs).

    OMP_NUM_THREADS=1 python benchmarks/ensemble_mixed.py run DATASET SEED --out DIR
    python benchmarks/ensemble_mixed.py report --out DIR
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT, TAILS  # noqa: E402
from ensemble_cells import (  # noqa: E402
    combined_wql,
    command,
    prepared_cell,
    save_cell,
    summary_lines,
    test_parts,
)

#: The network member of each rule: indices of the networks saved (0: the
#: window's, 1 and 2: the default ones of all the data, 3: the weighted one).
RULES = {"default": (0, 1, 2), "mixed": (0, 1, 3), "four": (0, 1, 2, 3)}
#: The networks saved, in that order (each scored alone).
ALONE = ("window net", "default net", "default net 2", "weighted net")


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    from gluonts_qf.model.ensemble.combine import quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS, VALIDATION_MAX_SERIES
    from gluonts_qf.model.ensemble.predictor import network_members, statistical_member
    from gluonts_qf.model.ensemble.windows import cut, held_back, never_negative

    prep, ens = prepared_cell(dataset, seed, data_dir)
    net, T = ens.network, ens.prediction_length
    levels = np.asarray(net.distr_output.knot_levels)
    data = list(prep.train)
    heads, futures = held_back(data, T, VALIDATION_MAX_SERIES)
    window_net = net.train(cut(data, T))
    stats = [
        statistical_member(m, prep.freq, T, heads, levels, ens.member_context)
        for m in ens.statistical
    ]
    members = network_members([window_net], heads, levels) + stats
    q = np.stack([quantiles_at(levels, *m, SCORED_LEVELS) for m in members])
    saved = {"window_q": q.reshape(len(q), -1, len(SCORED_LEVELS))}
    saved["window_y"] = np.stack(futures).reshape(-1)
    weighted = net.resolved(None, scale_weighting=1.0)
    full = [net.train(data), net.train(data), weighted.train(data)]
    inputs, labels = held_back(list(prep.test), T)
    saved["test_y"] = np.stack(labels).reshape(-1)
    saved["floor"] = 0.0 if never_negative(data) else -np.inf
    test = network_members([window_net, *full], inputs, levels)
    test += [
        statistical_member(m, prep.freq, T, inputs, levels, ens.member_context)
        for m in ens.statistical
    ]
    names = np.array(["network", *ens.statistical])
    save_cell(out, dataset, seed, test, levels=levels, names=names, **saved)


def _rules(z) -> dict:
    from gluonts_qf.model.ensemble.combine import fit_weights
    from gluonts_qf.model.ensemble.defaults import NETWORK_PRIOR, SCORED_LEVELS
    from gluonts_qf.model.ensemble.windows import lean

    levels, y, names = z["levels"], z["test_y"], list(z["names"])
    nets, floor = 4, float(z["floor"])
    parts = test_parts(z, nets + len(names) - 1)
    wq, wy = z["window_q"], z["window_y"]
    T = parts[0][0].shape[1]
    s = np.nanmean(np.abs(wy.reshape(-1, T)), 1)  # each series' scale
    s = np.repeat(np.where(s > 0, s, np.nanmean(s[s > 0])), T)
    fits = {p: fit_weights(wq / s[None, :, None] ** p, wy / s**p, SCORED_LEVELS)[0]
            for p in (0.0, 0.5, 1.0)}  # fmt: skip
    w = lean(fits[0.0], 1, NETWORK_PRIOR)
    res = {"network weight": w[0]}
    rules = {rule: (used, w) for rule, used in RULES.items()}
    for p in (0.5, 1.0):
        rules[f"fit p={p:g}"] = (RULES["default"], lean(fits[p], 1, NETWORK_PRIOR))
    for rule, (used, w) in rules.items():
        weights = [w[0] / len(used) if i in used else 0.0 for i in range(nets)]
        weights += list(w[1:])
        for name, at in (("", BODY), (" tails", TAILS)):
            res[rule + name] = combined_wql(levels, parts, weights, y, at, floor)
    for i, name in enumerate(ALONE):
        alone = [1.0 if k == i else 0.0 for k in range(len(parts))]
        res[name] = combined_wql(levels, parts, alone, y, BODY, floor)
    return res


def report(out: Path) -> str:
    res: dict = {}
    for f in sorted(out.glob("*-seed*.npz")):
        res.setdefault(f.stem.rsplit("-seed", 1)[0], []).append(_rules(np.load(f)))
    order = [d for d in DEVELOPMENT if d in res]
    order += sorted(d for d in res if d not in DEVELOPMENT)
    g = "{:.4g}".format

    def mean(d, k):
        return float(np.mean([r[k] for r in res[d]]))

    lines = [
        "| dataset | group | default (body / tails) | mixed | four | fit p=0.5 | "
        "fit p=1 | network weight | alone: " + " / ".join(ALONE) + " |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ratios: dict = {}
    for d in order:
        group = "dev" if d in DEVELOPMENT else "held out"
        cells = [f"{g(mean(d, 'default'))} / {g(mean(d, 'default tails'))}"]
        for rule in ("mixed", "four", "fit p=0.5", "fit p=1"):
            b = mean(d, rule) / mean(d, "default")
            t = mean(d, rule + " tails") / mean(d, "default tails")
            ratios.setdefault((group, rule), []).append((b, t))
            cells.append(f"{b - 1:+.1%} / {t - 1:+.1%}")
        cells.append(f"{mean(d, 'network weight'):.2f}")
        cells.append(" / ".join(g(mean(d, k)) for k in ALONE))
        lines.append(f"| {d} | {group} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *summary_lines(ratios)])


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_mixed")
