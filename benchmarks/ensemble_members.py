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

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_datasets import BODY, DEVELOPMENT, TAILS  # noqa: E402

#: The candidate neural members, scored beside the network.
CANDIDATES = ("feedforward",)


def run(dataset: str, seed: int, out: Path, data_dir: str) -> None:
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.model.ensemble.combine import combine, quantiles_at
    from gluonts_qf.model.ensemble.estimator import (
        SCORED_LEVELS,
        VALIDATION_MAX_SERIES,
        cut,
        held_back,
    )
    from gluonts_qf.model.ensemble.neural import train_neural
    from gluonts_qf.model.ensemble.predictor import network_members, statistical_member
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
    ens = make_estimator("iqf_ensemble", prep, Path(tempfile.mkdtemp()))
    net, T = ens.network, ens.prediction_length
    levels = np.asarray(net.distr_output.knot_levels)
    data = list(prep.train)
    stats = [m for m in ens.members if m not in CANDIDATES]

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

    def averaged(predictors, entries, float32=True):  # one member of their seeds
        seeds = network_members(predictors, entries, levels, float32)
        return combine([1 / len(seeds)] * len(seeds), *zip(*seeds))

    def neural(nets, entries):
        return [averaged(nets[0], entries, False)] + [
            averaged(n, entries) for n in nets[1:]
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
    full, secs = trained(data)
    saved["seconds"] = np.asarray(secs)  # full-data training of each network
    saved["train_min"] = min(float(np.nanmin(e["target"])) for e in data)
    inputs, labels = held_back(list(prep.test), T)
    saved["test_y"] = np.stack(labels).reshape(-1)
    # on the test: every network of the window and of all the data, then the stats
    test_members = neural(first, inputs) + members(full, inputs)
    for i, member in enumerate(test_members):
        for j, part in enumerate(member):
            saved[f"test_m{i}_{j}"] = part
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{dataset}-seed{seed}.npz",
        levels=levels,
        names=np.array(["network", *CANDIDATES, *stats]),
        **saved,
    )


def _rules(z) -> dict:
    from gluonts_qf.evaluation.scores import weighted_quantile_loss
    from gluonts_qf.model.ensemble.combine import combine, fit_weights, quantiles_at
    from gluonts_qf.model.ensemble.estimator import NETWORK_PRIOR, SCORED_LEVELS, lean

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

    def wql(weights, at):
        used = [(w, p) for w, p in zip(weights, parts) if w > 0]
        v, lo, hi = combine([w for w, _ in used], *zip(*[p for _, p in used]))
        q = quantiles_at(levels, v, lo, hi, at).reshape(-1, len(at))
        return weighted_quantile_loss([np.maximum(q, floor).T], [y], at)

    res = {}
    for rule, keep in (
        ("default", [0, *range(n, len(names))]),
        ("with feedforward", list(range(len(names)))),
    ):
        fitted = fit_weights(z["window_q"][keep], z["window_y"], SCORED_LEVELS)[0]
        networks = sum(1 for k in keep if k < n)
        w = test_weights(lean(fitted, networks, NETWORK_PRIOR), keep)
        res[rule], res[rule + " tails"] = wql(w, BODY), wql(w, TAILS)
        res[rule + " weights"] = dict(zip([names[k] for k in keep], fitted))
    for i, name in enumerate(names[:n]):
        alone = [0.0] * len(parts)
        alone[i] = alone[n + i] = 0.5
        res[name + " alone"] = wql(alone, BODY)
    res["seconds"] = z["seconds"]
    return res


def report(out: Path) -> str:
    res: dict = {}
    for f in sorted(out.glob("*-seed*.npz")):
        name = f.stem.rsplit("-seed", 1)[0]
        res.setdefault(name, []).append(_rules(np.load(f)))
    dev = [d for d in DEVELOPMENT if d in res]
    order = dev + sorted(d for d in res if d not in DEVELOPMENT)

    def mean(d, k):
        return float(np.mean([r[k] for r in res[d]], axis=0))

    lines = [
        "| dataset | group | seeds | default (body / tails) | with feedforward "
        "| change | feedforward weight fitted | network alone | feedforward alone "
        "| seconds: network / feedforward |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in order:
        fw = np.mean([r["with feedforward weights"]["feedforward"] for r in res[d]])
        secs = np.mean([r["seconds"] for r in res[d]], axis=0)
        lines.append(
            f"| {d} | {'dev' if d in DEVELOPMENT else 'held out'} | {len(res[d])} "
            f"| {mean(d, 'default'):.4g} / {mean(d, 'default tails'):.4g} "
            f"| {mean(d, 'with feedforward'):.4g} / "
            f"{mean(d, 'with feedforward tails'):.4g} "
            f"| {mean(d, 'with feedforward') / mean(d, 'default') - 1:+.1%} "
            f"| {fw:.2f} | {mean(d, 'network alone'):.4g} "
            f"| {mean(d, 'feedforward alone'):.4g} | {secs[0]:.0f} / {secs[1]:.0f} |"
        )
    for group, sel in (
        ("development", dev),
        ("held out", [d for d in order if d not in dev]),
    ):
        if not sel:
            continue

        def g(k, base, sel=sel):
            return (
                np.exp(np.mean([np.log(mean(d, k) / mean(d, base)) for d in sel])) - 1
            )

        lines.append(
            f"\n{group} ({len(sel)} datasets), geometric mean of with feedforward "
            f"against the default: {g('with feedforward', 'default'):+.1%} (tails "
            f"{g('with feedforward tails', 'default tails'):+.1%})"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["run", "report"])
    p.add_argument("dataset", nargs="?")
    p.add_argument("seed", nargs="?", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "ensemble_members"
    )
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


if __name__ == "__main__":
    main()
