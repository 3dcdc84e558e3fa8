"""The IQF network trained on the logarithm of the data, as a member of the
ensemble (a probe: the default ensemble beside the same ensemble with it).

Non-negative data only. Each series is divided by the mean of its history
``m`` and taken to logs, ``z = log(y / m + delta)``; the IQF network trains and
forecasts ``z``; its quantiles at the knots map back exactly,
``q_y(a) = m (exp(q_z(a)) - delta)``, and each exponential tail starts with
the slope of the back-mapped tail at the outer knot (``b_y = b_z / (m
exp(q_z(a)))``), so the member is an IQF in the data's units that averages
with the others. One cell (dataset, seed) trains the network and the log
networks (one per ``delta`` of :data:`DELTAS`) on the series less their last
window and on all of them, forecasts the held-back window and the test, and
saves every member's quantile function; the report weighs them as the
ensemble does (weights fitted on the window, ``network_prior`` moved to the
trained members, censored at 0), without and with each log member, on the
same trained networks; and with the log networks inside the network member
instead (*in the member*: the network member the equal average of the
network of the window, the one of all the data and the log network of all the
data, the weights those of the default).

    OMP_NUM_THREADS=1 python benchmarks/ensemble_log.py run DATASET SEED --out DIR
    python benchmarks/ensemble_log.py report --out DIR
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

#: Offsets of the logarithm (in units of each series' mean).
DELTAS = (0.1, 1.0)


def _means(entries: list) -> np.ndarray:
    """Each series' mean absolute observed value (1 where it has none): (N,)."""
    out = []
    for e in entries:
        y = np.abs(np.asarray(e["target"], dtype=np.float64))
        m = np.nanmean(y) if np.isfinite(y).any() else 1.0
        out.append(m if m > 0 else 1.0)
    return np.asarray(out)


def to_logs(entries: list, delta: float) -> list:
    """The entries with ``target`` replaced by ``log(y / m + delta)``."""
    m = _means(entries)
    return [
        {**e, "target": np.log(np.asarray(e["target"], np.float64) / s + delta)}
        for e, s in zip(entries, m)
    ]


def from_logs(member: tuple, entries: list, delta: float) -> tuple:
    """A member forecast in logs -> the same quantiles in the data's units."""
    values, left, right = member
    m = _means(entries)[:, None]  # (N, 1)
    e = np.exp(values)  # (N, T, K)
    return (
        m[..., None] * (e - delta),
        left / (m * e[..., 0]),
        right / (m * e[..., -1]),
    )


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    from gluonts_qf.model.ensemble.combine import quantiles_at
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS, VALIDATION_MAX_SERIES
    from gluonts_qf.model.ensemble.predictor import averaged_member, statistical_member
    from gluonts_qf.model.ensemble.windows import cut, held_back, never_negative

    prep, ens = prepared_cell(dataset, seed, data_dir)
    net, T = ens.network, ens.prediction_length
    levels = np.asarray(net.distr_output.knot_levels)
    data = list(prep.train)
    if not never_negative(data):
        print(f"{dataset}: negative values, no log member")
        return

    def trained(part):  # the network, then one log network per delta
        return [net.train(part)] + [net.train(to_logs(part, d)) for d in DELTAS]

    def members(nets, entries, stats=True):
        out = [averaged_member(nets[:1], entries, levels)]
        out += [
            from_logs(averaged_member([n], to_logs(entries, d), levels), entries, d)
            for n, d in zip(nets[1:], DELTAS)
        ]
        if stats:
            out += [
                statistical_member(m, prep.freq, T, entries, levels, ens.member_context)
                for m in ens.statistical
            ]
        return out

    heads, futures = held_back(data, T, VALIDATION_MAX_SERIES)
    first = trained(cut(data, T))
    q = np.stack(
        [quantiles_at(levels, *m, SCORED_LEVELS) for m in members(first, heads)]
    )
    saved = {"window_q": q.reshape(len(q), -1, len(SCORED_LEVELS))}
    saved["window_y"] = np.stack(futures).reshape(-1)
    full = trained(data)
    inputs, labels = held_back(list(prep.test), T)
    saved["test_y"] = np.stack(labels).reshape(-1)
    # on the test: the networks of the window and of all the data, then the stats
    test_members = members(first, inputs, False) + members(full, inputs)
    names = np.array(["network", *(f"log {d:g}" for d in DELTAS), *ens.statistical])
    save_cell(out, dataset, seed, test_members, levels=levels, names=names, **saved)


def _rules(z) -> dict:
    from gluonts_qf.model.ensemble.combine import fit_weights
    from gluonts_qf.model.ensemble.defaults import NETWORK_PRIOR, SCORED_LEVELS
    from gluonts_qf.model.ensemble.windows import lean

    levels, y, names = z["levels"], z["test_y"], list(z["names"])
    n = 1 + len(DELTAS)  # networks; the test holds each twice (window, all)
    parts = test_parts(z, n + len(names))

    def test_weights(w, keep):  # weights of the kept members -> the test's parts
        full = np.zeros(len(names))
        full[keep] = w
        nets = [full[i] / 2 for i in range(n)]
        return [*nets, *nets, *full[n:]]

    def wql(weights, at):  # the data are non-negative: censored at 0
        return combined_wql(levels, parts, weights, y, at, 0.0)

    res = {}
    stats = list(range(n, len(names)))
    fitted = fit_weights(z["window_q"][[0, *stats]], z["window_y"], SCORED_LEVELS)[0]
    w = lean(fitted, 1, NETWORK_PRIOR)
    for i in range(1, n):  # the log network of all the data in the member
        weights = [0.0] * (2 * n) + list(w[1:])
        weights[0] = weights[n] = weights[n + i] = w[0] / 3
        member = names[i] + " in the member"
        res[member], res[member + " tails"] = wql(weights, BODY), wql(weights, TAILS)
    rules = {"default": [0, *stats]}
    rules.update({names[i]: [0, i, *stats] for i in range(1, n)})
    rules.update({names[i] + " alone": [i] for i in range(n)})
    for rule, keep in rules.items():
        if len(keep) == 1:
            w = np.ones(1)
        else:
            fitted = fit_weights(z["window_q"][keep], z["window_y"], SCORED_LEVELS)[0]
            w = lean(fitted, sum(1 for k in keep if k < n), NETWORK_PRIOR)
            res[rule + " weight"] = fitted[1] if rule != "default" else fitted[0]
        w = test_weights(w, keep)
        res[rule], res[rule + " tails"] = wql(w, BODY), wql(w, TAILS)
    return res


def report(out: Path) -> str:
    res: dict = {}
    for f in sorted(out.glob("*-seed*.npz")):
        res.setdefault(f.stem.rsplit("-seed", 1)[0], []).append(_rules(np.load(f)))
    order = [d for d in DEVELOPMENT if d in res]
    order += sorted(d for d in res if d not in DEVELOPMENT)
    logs = [f"log {d:g}" for d in DELTAS]
    g = "{:.4g}".format

    def mean(d, k):
        return float(np.mean([r[k] for r in res[d]]))

    head = ["default (body / tails)"]
    head += [f"with {k} (change body / tails; weight)" for k in logs]
    head += [f"{k} in the member" for k in logs]
    head += ["alone: network / " + " / ".join(logs)]
    lines = [
        "| dataset | group | seeds | " + " | ".join(head) + " |",
        "|---" * (3 + len(head)) + "|",
    ]
    ratios: dict = {}
    for d in order:
        group = "dev" if d in DEVELOPMENT else "held out"
        cells = [f"{g(mean(d, 'default'))} / {g(mean(d, 'default tails'))}"]
        for k in logs:
            b = mean(d, k) / mean(d, "default")
            t = mean(d, k + " tails") / mean(d, "default tails")
            ratios.setdefault((group, k), []).append((b, t))
            cells.append(f"{b - 1:+.1%} / {t - 1:+.1%}; {mean(d, k + ' weight'):.2f}")
        for k in logs:
            k = k + " in the member"
            b = mean(d, k) / mean(d, "default")
            t = mean(d, k + " tails") / mean(d, "default tails")
            ratios.setdefault((group, k), []).append((b, t))
            cells.append(f"{b - 1:+.1%} / {t - 1:+.1%}")
        alone = [g(mean(d, k + " alone")) for k in ["network", *logs]]
        cells.append(" / ".join(alone))
        lines.append(f"| {d} | {group} | {len(res[d])} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *summary_lines(ratios)])


if __name__ == "__main__":
    command(__doc__, run, report, "ensemble_log")
