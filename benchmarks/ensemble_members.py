"""Which members the ensemble should hold: the default ensemble beside the same
ensemble with a feed-forward member (``members=["feedforward", ...]``).

One cell (dataset, seed) trains what the ensemble trains with every candidate
member (the IQF network and the feed-forward network with an IQF head, each on
the series less their last window and on all of them), scores every member on
the held-back window and on the test window, and saves their quantile
functions; the report weighs them as ``IQFEnsembleEstimator`` does (weights
fitted on the window, ``network_prior`` 0.25 moved to the trained members,
censored at 0 where no training value is negative), once without and once with
the feed-forward member, so both are judged on the same trained networks
(the feed-forward member is the average of its ``NEURAL_SEEDS`` networks, as
in the ensemble).

    OMP_NUM_THREADS=1 python benchmarks/ensemble_members.py run DATASET SEED --out DIR
    python benchmarks/ensemble_members.py report --out DIR
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT, TAILS  # noqa: E402
from ensemble_cells import (  # noqa: E402
    command,
    geomean_change,
    prepared_cell,
    save_cell,
)

#: The candidate neural members, scored beside the network.
CANDIDATES = ("feedforward",)


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    from gluonts_qf.model.ensemble.combine import quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS, VALIDATION_MAX_SERIES
    from gluonts_qf.model.ensemble.neural import train_neural
    from gluonts_qf.model.ensemble.predictor import averaged_member, statistical_member
    from gluonts_qf.model.ensemble.windows import cut, held_back

    prep, ens = prepared_cell(dataset, seed, data_dir)
    net, T = ens.network, ens.prediction_length
    levels = np.asarray(net.distr_output.knot_levels)
    data = list(prep.train)
    stats = ens.statistical

    def trained(part):  # the network, then each candidate's seeds; their seconds
        nets, secs = [], []
        for name in ("network", *CANDIDATES):
            t = time.perf_counter()
            nets.append(
                [net.train(part)]
                if name == "network"
                else train_neural(name, net, part)
            )
            secs.append(time.perf_counter() - t)
        return nets, secs

    def neural(nets, entries):  # each trained member, its seeds averaged
        return [averaged_member(nets[0], entries, levels)] + [
            averaged_member(n, entries, levels, True) for n in nets[1:]
        ]

    def members(nets, entries):
        return neural(nets, entries) + [
            statistical_member(m, prep.freq, T, entries, levels, ens.member_context)
            for m in stats
        ]

    heads, futures = held_back(data, T, VALIDATION_MAX_SERIES)
    first, _ = trained(cut(data, T))
    q = np.stack(
        [quantiles_at(levels, *m, SCORED_LEVELS) for m in members(first, heads)]
    )
    saved = {"window_q": q.reshape(len(q), -1, len(SCORED_LEVELS))}
    saved["window_y"] = np.stack(futures).reshape(-1)
    # the network once more, on the series less their last two windows, on the
    # same window: what one window less of training does to its weight
    stale = averaged_member([net.train(cut(cut(data, T), T))], heads, levels)
    saved["window_q_stale"] = quantiles_at(levels, *stale, SCORED_LEVELS).reshape(
        1, -1, len(SCORED_LEVELS)
    )
    full, secs = trained(data)
    saved["seconds"] = np.asarray(secs)  # full-data training of each network
    saved["train_min"] = min(float(np.nanmin(e["target"])) for e in data)
    inputs, labels = held_back(list(prep.test), T)
    saved["test_y"] = np.stack(labels).reshape(-1)
    # on the test: every network of the window and of all the data, then the stats
    test_members = neural(first, inputs) + members(full, inputs)
    names = np.array(["network", *CANDIDATES, *stats])
    save_cell(out, dataset, seed, test_members, levels=levels, names=names, **saved)


def _rules(z) -> dict:
    from gluonts_qf.evaluation.scores import weighted_quantile_loss
    from gluonts_qf.model.ensemble.combine import combine, fit_weights, quantiles_at
    from gluonts_qf.model.ensemble.defaults import NETWORK_PRIOR, SCORED_LEVELS
    from gluonts_qf.model.ensemble.windows import lean

    levels, y, names = z["levels"], z["test_y"], list(z["names"])
    n = 1 + len(CANDIDATES)  # networks; the test holds each twice (window, all)
    parts = [
        tuple(z[f"test_m{i}_{j}"] for j in range(3)) for i in range(n + len(names))
    ]
    floor = 0.0 if float(z["train_min"]) >= 0 else -np.inf

    def test_weights(w, keep):  # weights of the kept members -> the test's parts
        full = np.zeros(len(names))
        full[keep] = w
        nets = [full[i] / 2 for i in range(n)]
        return [*nets, *nets, *full[n:]]

    def wql(weights, at, tail_weights=None):
        tail_weights = weights if tail_weights is None else tail_weights
        used = [i for i, w in enumerate(zip(weights, tail_weights)) if max(w) > 0]
        members = list(zip(*[parts[i] for i in used]))
        v = combine([weights[i] for i in used], *members)[0]
        lo, hi = combine([tail_weights[i] for i in used], *members)[1:]
        q = quantiles_at(levels, v, lo, hi, at).reshape(-1, len(at))
        return weighted_quantile_loss([np.maximum(q, floor).T], [y], at)

    def fit(keep, stale=False):
        q = z["window_q"][keep]
        if stale:  # the network trained on a window less
            q = np.concatenate([z["window_q_stale"], q[1:]])
        return fit_weights(q, z["window_y"], SCORED_LEVELS)[0]

    res = {}
    for rule, keep in (
        ("default", [0, *range(n, len(names))]),
        ("with feedforward", list(range(len(names)))),
    ):
        fitted = fit(keep)
        networks = sum(1 for k in keep if k < n)
        w = test_weights(lean(fitted, networks, NETWORK_PRIOR), keep)
        res[rule], res[rule + " tails"] = wql(w, BODY), wql(w, TAILS)
        res[rule + " weights"] = dict(zip([names[k] for k in keep], fitted))
    if "window_q_stale" in z.files:
        keep = [0, *range(n, len(names))]
        w1, w2 = fit(keep), fit(keep, stale=True)
        # one window more of training moved the weights from w2 to w1: one more
        extra = np.clip(2 * w1 - w2, 0, None)
        # only the network's weight extrapolated, the others scaled down
        step = max(w1[0] - w2[0], 0.0)
        p = min(step / (1 - w1[0]), 1.0) if w1[0] < 1 else 0.0
        for rule, w in (
            ("prior 0", w1),
            ("extrapolated", extra / extra.sum()),
            ("extrapolated network", lean(w1, 1, p)),
        ):
            w = test_weights(w, keep)
            res[rule], res[rule + " tails"] = wql(w, BODY), wql(w, TAILS)
        res["network weight"] = np.array([w2[0], w1[0]])
    keep = [0, *range(n, len(names))]
    body = lean(fit(keep), 1, NETWORK_PRIOR)
    tails = lean(_fit_tails(z, keep, body, levels), 1, NETWORK_PRIOR)
    res["body network weight"], res["tail network weight"] = body[0], tails[0]
    body, tails = test_weights(body, keep), test_weights(tails, keep)
    res["separate tails"] = wql(body, TAILS, tails)
    for i, name in enumerate(names[:n]):
        alone = [0.0] * len(parts)
        alone[i] = alone[n + i] = 0.5
        res[name + " alone"] = wql(alone, BODY)
    res["seconds"] = z["seconds"]
    return res


def _fit_tails(z, keep: list, body: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Weights of the tail rates (``1 / b`` averages with them), fitted on the
    window's levels outside the knots with the knot values' weights ``body``
    fixed: beyond its outer knot ``a``, a member's quantile is its knot value
    plus ``c(u) / b``, so the average is ``sum body_m q_m(a) + sum t_m (q_m(u) -
    q_m(a))``, searched over the same grid as the weights."""
    from gluonts_qf.model.ensemble.combine import simplex_grid
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS

    u = np.asarray(SCORED_LEVELS)
    q, y = z["window_q"][keep], z["window_y"]
    ok = np.isfinite(y) & np.isfinite(q).all(axis=(0, 2))
    q, y = q[:, ok], y[ok]
    outside = np.flatnonzero((u < levels[0]) | (u > levels[-1]))
    knot = [
        int(np.argmin(abs(u - (levels[0] if u[i] < levels[0] else levels[-1]))))
        for i in outside
    ]
    ends, beyond = q[:, :, knot], q[:, :, outside] - q[:, :, knot]  # (M, N, L)
    base = np.einsum("m,mnl->nl", body, ends)
    at = u[outside]
    grid = simplex_grid(len(keep), 0.05)
    losses = []
    for chunk in np.array_split(grid, max(1, grid.size * y.size // 10**7)):
        err = y[None, :, None] - (base + np.einsum("gm,mnl->gnl", chunk, beyond))
        losses.append((err * (at - (err < 0))).sum(axis=(1, 2)))
    return grid[int(np.argmin(np.concatenate(losses)))]


def report(out: Path) -> str:
    res: dict = {}
    for f in sorted(out.glob("*-seed*.npz")):
        name = f.stem.rsplit("-seed", 1)[0]
        res.setdefault(name, []).append(_rules(np.load(f)))
    order = [d for d in DEVELOPMENT if d in res]
    order += sorted(d for d in res if d not in DEVELOPMENT)

    def mean(d, k):
        return np.mean([r[k] for r in res[d]], axis=0)

    def fw(d):
        return np.mean([r["with feedforward weights"]["feedforward"] for r in res[d]])

    g = "{:.4g}".format
    members = _table(
        res,
        order,
        {
            "default (body / tails)": lambda d: (
                f"{g(mean(d, 'default'))} / {g(mean(d, 'default tails'))}"
            ),
            "with feedforward": lambda d: (
                f"{g(mean(d, 'with feedforward'))} / "
                f"{g(mean(d, 'with feedforward tails'))}"
            ),
            "change": lambda d: (
                f"{mean(d, 'with feedforward') / mean(d, 'default') - 1:+.1%}"
            ),
            "feedforward weight fitted": lambda d: f"{fw(d):.2f}",
            "network alone": lambda d: g(mean(d, "network alone")),
            "feedforward alone": lambda d: g(mean(d, "feedforward alone")),
            "seconds: network / feedforward": lambda d: "{:.0f} / {:.0f}".format(
                *mean(d, "seconds")
            ),
        },
        {"with feedforward": "default", "with feedforward tails": "default tails"},
    )
    rules = ("prior 0", "default", "extrapolated", "extrapolated network")
    prior = _table(
        res,
        [d for d in order if all("prior 0" in r for r in res[d])],
        {
            "network weight fitted: trained on a window less / the weighed one": (
                lambda d: "{:.2f} / {:.2f}".format(*mean(d, "network weight"))
            ),
            **{
                ("**prior 0.25 (default)**" if k == "default" else k): (
                    lambda d, k=k: g(mean(d, k))
                )
                for k in rules
            },
            "tails: prior 0.25 / extrapolated network": lambda d: (
                f"{g(mean(d, 'default tails'))} / "
                f"{g(mean(d, 'extrapolated network tails'))}"
            ),
        },
        {k: "default" for k in rules if k != "default"},
    )
    tails = _table(
        res,
        order,
        {
            "tails: the knots' weights (default)": lambda d: g(
                mean(d, "default tails")
            ),
            "separate tail weights": lambda d: g(mean(d, "separate tails")),
            "change": lambda d: (
                f"{mean(d, 'separate tails') / mean(d, 'default tails') - 1:+.1%}"
            ),
            "network weight: knots / tails": lambda d: "{:.2f} / {:.2f}".format(
                mean(d, "body network weight"), mean(d, "tail network weight")
            ),
        },
        {"separate tails": "default tails"},
    )
    return "\n\n".join([members, prior, tails])


def _table(res: dict, order: list, columns: dict, changes: dict) -> str:
    """A markdown table, a row per dataset of ``order`` (``columns``: header ->
    cell of a dataset), then per group the geometric mean of each ``changes``
    rule against its base."""
    lines = [
        "| dataset | group | seeds | " + " | ".join(columns) + " |",
        "|---" * (3 + len(columns)) + "|",
    ]
    for d in order:
        group = "dev" if d in DEVELOPMENT else "held out"
        cells = " | ".join(cell(d) for cell in columns.values())
        lines.append(f"| {d} | {group} | {len(res[d])} | {cells} |")
    for group, sel in (
        ("development", [d for d in order if d in DEVELOPMENT]),
        ("held out", [d for d in order if d not in DEVELOPMENT]),
    ):
        if not sel:
            continue

        def mean(d, k):
            return float(np.mean([r[k] for r in res[d]]))

        changes_here = ", ".join(
            f"{k} {geomean_change([mean(d, k) / mean(d, b) for d in sel]):+.1%}"
            for k, b in changes.items()
        )
        lines.append(
            f"\n{group} ({len(sel)} datasets), geometric mean against the default: "
            + changes_here
        )
    return "\n".join(lines)


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_members")
