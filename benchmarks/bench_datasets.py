"""Every offline dataset: our default model beside the peers, in the same run.

Each cell (dataset, model, seed) trains and backtests in its own fresh process
(1 torch thread) through the run layer (``gluonts_qf.runs``: the registry's
models, the same budget for every trained one) and caches its metrics as
``<out>/<dataset>/<model>-seed<seed>.json``; a rerun skips cached cells, so the
benchmark can be stopped and resumed. Models (``--models``):

* ``iqf_ensemble``: the default model of ``gluonts-qf train``; ``iqf``: its
  network alone (IQFEstimator at its defaults);
* GluonTS's ``deepar``, ``feedforward`` (Student's t) and ``quantile_head``
  (TFT), trained at the same budget;
* the statistical peers ``naive_intervals``, ``auto_theta``, ``auto_ets``,
  ``auto_arima``, ``drift`` (statsforecast through GluonTS's wrappers;
  deterministic, so seed 0 only).

Metrics: mean wQL over 0.1..0.9 (GluonTS ``Evaluator``), wQL at the untrained
levels 0.01, 0.05, 0.95, 0.99 and their mean, MASE, MSIS, the share of outcomes
in the 90% and 98% central intervals, calibration (mean ``|coverage(u) - u|``
over 0.1..0.9), training and forecasting seconds.

    OMP_NUM_THREADS=1 python benchmarks/bench_datasets.py --parallel 2   # run / resume
    python benchmarks/bench_datasets.py --report                          # markdown
    python benchmarks/bench_datasets.py --targets                         # met / missed
    python benchmarks/bench_datasets.py --tail-rules                      # tail rules
                                       (of cells run with --replay-tails)
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gluonts_qf, not an installed one
#: The datasets the defaults were decided on, and those held out of sight.
DEVELOPMENT = (
    "exchange_rate",
    "exchange_rate_nips",
    "m4_hourly",
    "m4_weekly",
    "tourism_monthly",
    "tourism_yearly",
    "electricity_weekly",
)
HELD_OUT = (
    "m1_monthly",
    "m1_quarterly",
    "m1_yearly",
    "m3_other",
    "m4_yearly",
    "hospital",
    "cif_2016",
    "kdd_cup_2018_without_missing",
    "saugeenday",
    "sunspot_without_missing",
)
OURS = ("iqf_ensemble", "iqf")
NEURAL = ("deepar", "feedforward", "quantile_head")
PEERS = ("naive_intervals", "auto_theta", "auto_ets", "auto_arima", "drift")
BODY = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TAILS = (0.01, 0.05, 0.95, 0.99)
LEVELS = tuple(sorted({*BODY, *TAILS, 0.025, 0.975}))
#: Published foundation-model mean wQL (../shared/BASELINES.md): the stretch goal.
PUBLISHED = {
    "m4_hourly": ("TiRex", 0.0202),
    "m4_weekly": ("TiRex", 0.0367),
    "tourism_monthly": ("TiRex", 0.0749),
    "tourism_yearly": ("TiRex", 0.1561),
    "electricity_weekly": ("Chronos-T5-large", 0.0577),
    "m1_monthly": ("TimesFM", 0.1233),
    "m1_quarterly": ("TimesFM", 0.0871),
    "m1_yearly": ("TiRex", 0.1312),
    "m4_yearly": ("TiRex", 0.1174),
    "hospital": ("TimesFM-2.0", 0.0498),
    "cif_2016": ("TiRex", 0.0107),
}


def run_cell(dataset: str, model: str, seed: int, args) -> dict:
    """Train and backtest one model on one dataset (this process); with
    ``--replay-tails`` an ensemble is scored with every rule of
    :data:`TAIL_RULES` too (``"tail_rules"``: six backtests more, a quarter of
    an hour on m4_yearly), one with a fitted spread unstretched too
    (``"unstretched"``)."""
    import torch

    torch.set_num_threads(1)
    from gluonts_qf.evaluation import backtest
    from gluonts_qf.runs import RunSpec, prepare
    from gluonts_qf.runs.registry import get_model
    from gluonts_qf.runs.run import fit

    budget = {} if args.lr is None else {"lr": args.lr}
    spec = RunSpec(
        dataset=dataset,
        model=model if get_model(model).ours else "iqf",
        data_dir=args.data_dir,
        epochs=args.epochs,
        batches_per_epoch=args.batches_per_epoch,
        batch_size=args.batch_size,
        **budget,
        seed=seed,
        baselines=[],
        estimator=dict(args.settings) if get_model(model).ours else {},
        quiet=True,
    )
    run = prepare(spec)
    with tempfile.TemporaryDirectory() as root:
        predictor, seconds = fit(model, run, Path(root))
    start = time.perf_counter()
    res = backtest(predictor, run.test, quantiles=LEVELS, progress=False)
    out = metrics(res)
    out["train_seconds"], out["predict_seconds"] = seconds, time.perf_counter() - start
    out["num_series"] = len(run.test)
    choices = getattr(predictor, "choices", None)
    if choices:
        out["choices"] = choices
    if args.replay_tails and getattr(predictor, "window_forecast", None) is not None:
        # the forecasts just scored have the averaged tails unless tails were set
        base = res if getattr(predictor, "tails", None) is None else None
        out["tail_rules"] = tail_rules(predictor, run, base)
    if getattr(predictor, "spread", None) is not None:  # the same nets, unstretched
        predictor.spread = None
        out["unstretched"] = scores(predictor, run)
    return out


#: How heavy the ensemble's tails are, each rule scored on the same trained
#: ensemble. ``("window", shared, power)``: the factors :func:`fit_tails` fits
#: on the held-back window's forecast (one for both tails if ``shared``), raised
#: to ``power`` (0.5: half way to 1 on a log scale); ``("floor", c)``: each
#: tail ``c`` times as heavy but never thinner than its outer piece continued
#: (``c = 0``: exactly that); "averaged": as the weighted average makes them.
TAIL_RULES = {
    "averaged": None,
    "sides": ("window", False, 1.0),
    "shared": ("window", True, 1.0),
    "sides_half": ("window", False, 0.5),
    "shared_half": ("window", True, 0.5),
    "floor": ("floor", 0.0),
    "floor_half": ("floor", 0.5),
}


def tail_rules(predictor, run, base=None) -> dict:
    """The metrics of the ensemble's forecasts with each rule's tails: the
    forecasts with the averaged tails are made once (or taken from ``base``,
    a backtest of them), the others from them (each exponential tail's rate
    changed, nothing between the knots)."""
    import numpy as np
    import torch
    from gluonts.model.predictor import Predictor
    from gluonts.torch.model.forecast import DistributionForecast

    from gluonts_qf.evaluation import backtest
    from gluonts_qf.model.ensemble.combine import (
        continued_tails,
        fit_tails,
        scale_tails,
    )
    from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS

    class Replay(Predictor):  # the given forecasts, in the test's order
        def __init__(self, forecasts):
            super().__init__(prediction_length=run.prediction_length)
            self.forecasts = forecasts

        def predict(self, dataset, **kwargs):
            return iter(self.forecasts)

    def tails(d, rule, factors):  # the forecast's new tail rates (numpy)
        if rule[0] == "window":
            return scale_tails(d.beta_l, d.beta_r, *factors)
        # c times as heavy, never thinner than the outer pieces continued
        floor = continued_tails(d.knot_levels, d.knot_values)
        if rule[1] == 0:
            return floor
        heavier = scale_tails(d.beta_l, d.beta_r, rule[1], rule[1])
        return tuple(np.minimum(b, f) for b, f in zip(heavier, floor))

    if base is None:
        kept, predictor.tails = predictor.tails, None
        base = backtest(predictor, run.test, quantiles=LEVELS, progress=False)
        predictor.tails = kept
    levels = np.asarray(predictor.knot_levels)
    out = {}
    for name, rule in TAIL_RULES.items():
        if rule is None:
            out[name] = {**metrics(base), "factors": [1.0, 1.0]}
            continue
        factors = [1.0, 1.0]
        if rule[0] == "window":
            _, shared, power = rule
            fitted = fit_tails(
                levels,
                *predictor.window_forecast,
                SCORED_LEVELS,
                lower_bound=predictor.lower_bound,
                shared=shared,
            )
            factors = [f**power for f in fitted]
        forecasts = []
        for f in base.forecasts:
            d = f.distribution
            left, right = (torch.as_tensor(b) for b in tails(d, rule, factors))
            forecasts.append(
                DistributionForecast(
                    d.replace(beta_l=left, beta_r=right),
                    start_date=f.start_date,
                    item_id=f.item_id,
                )
            )
        res = backtest(Replay(forecasts), run.test, quantiles=LEVELS, progress=False)
        out[name] = {**metrics(res), "factors": factors}
    return out


def scores(predictor, run) -> dict:
    """The backtest's metrics of one predictor on the run's test split."""
    from gluonts_qf.evaluation import backtest

    return metrics(backtest(predictor, run.test, quantiles=LEVELS, progress=False))


def metrics(res) -> dict:
    """The benchmark's metrics of one backtest result."""
    import numpy as np

    agg = res.aggregate

    def wql(levels):
        return float(np.mean([agg[f"wQuantileLoss[{u}]"] for u in levels]))

    return {
        "mean_wQuantileLoss": wql(BODY),
        "wQL_tails": wql(TAILS),
        **{f"wQL[{u}]": wql([u]) for u in TAILS},
        "MASE": float(agg["MASE"]),
        "MSIS": float(agg["MSIS"]),
        # an outcome on a point mass (0 under a censored forecast) counts by
        # its randomized PIT (res.coverage), not as below every level there
        "Coverage90": res.interval(0.9),
        "Coverage98": res.interval(0.98),
        "calibration": float(np.mean([abs(res.coverage[u] - u) for u in BODY])),
        **{f"Coverage[{u}]": float(res.coverage[u]) for u in LEVELS},
    }


def cell_path(out: Path, dataset: str, model: str, seed: int) -> Path:
    return out / dataset / f"{model}-seed{seed}.json"


def _cells(args) -> list:
    """The missing cells, quickest answers first: our models and the quick peers
    at the first seed, then GluonTS's networks, the other seeds, AutoARIMA last
    (minutes a dataset where the others take seconds)."""
    cells = []
    for seed in args.seeds:
        for dataset in args.datasets:
            for model in args.models:
                if model in PEERS and seed != args.seeds[0]:
                    continue  # deterministic: one seed
                if not cell_path(args.out, dataset, model, seed).exists():
                    cells.append((dataset, model, seed))

    def order(cell):
        _, model, seed = cell
        return (model == "auto_arima", seed != args.seeds[0], model in NEURAL)

    return sorted(cells, key=order)


def _run_one(cell, args) -> None:
    dataset, model, seed = cell
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--cell", dataset, model, str(seed)]
    cmd += ["--out", str(args.out), "--data-dir", str(args.data_dir)]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    cmd += ["--batches-per-epoch", str(args.batches_per_epoch)]
    cmd += ["--batch-size", str(args.batch_size)]
    if args.lr is not None:
        cmd += ["--lr", str(args.lr)]
    if args.set:
        cmd += ["--set", *args.set]
    if args.replay_tails:
        cmd += ["--replay-tails"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    status = "ok" if done.returncode == 0 else "FAILED\n" + done.stderr[-2000:]
    print(f"{dataset} {model} seed {seed}: {took:.0f} s {status}", flush=True)


def run_all(args) -> None:
    """Every missing cell, each in a fresh subprocess, ``--parallel`` at a time."""
    cells = _cells(args)
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        list(pool.map(lambda c: _run_one(c, args), cells))


def _values(args, dataset, model, metric) -> list:
    out = []
    for path in sorted((args.out / dataset).glob(f"{model}-seed*.json")):
        v = json.loads(path.read_text()).get(metric)
        if v is not None and math.isfinite(v):
            out.append(float(v))
    return out


def _mean(args, dataset, model, metric) -> float:
    v = _values(args, dataset, model, metric)
    return sum(v) / len(v) if v else float("nan")


def _fmt(values, digits=4) -> str:
    if not values:
        return "–"
    m = sum(values) / len(values)
    if len(values) == 1:
        return f"{m:.{digits}g}"
    sd = (sum((x - m) ** 2 for x in values) / (len(values) - 1)) ** 0.5
    return f"{m:.{digits}g} ± {sd:.1g}"


COLUMNS = (
    "mean_wQuantileLoss",
    "wQL_tails",
    "wQL[0.01]",
    "wQL[0.05]",
    "wQL[0.95]",
    "wQL[0.99]",
    "Coverage90",
    "Coverage98",
    "calibration",
    "MSIS",
    "MASE",
    "train_seconds",
    "predict_seconds",
)


def report(args) -> str:
    """Markdown: the summary, then one table per dataset (mean ± std over seeds)."""
    lines = [summary(args), ""]
    for dataset in args.datasets:
        rows = []
        for model in args.models:
            n = len(_values(args, dataset, model, "mean_wQuantileLoss"))
            if n:
                cells = [_fmt(_values(args, dataset, model, m)) for m in COLUMNS]
                rows.append(f"| {model} | {n} | " + " | ".join(cells) + " |")
        if rows:
            group = "development" if dataset in DEVELOPMENT else "held out"
            lines += [
                f"\n**{dataset}** ({group})\n",
                "| model | seeds | " + " | ".join(COLUMNS) + " |",
                "|---|---|" + "---|" * len(COLUMNS),
                *rows,
            ]
    return "\n".join(lines)


def _best(args, dataset, models, metric):
    found = [(_mean(args, dataset, m, metric), m) for m in models]
    found = [(v, m) for v, m in found if math.isfinite(v)]
    return min(found) if found else (float("nan"), "–")


def summary(args) -> str:
    """One row per dataset: our default against the lowest of every peer."""
    head = (
        "| dataset | group | ours: mean wQL | best peer (statistical or neural) | "
        "ours vs best | tails: ours / best statistical | 90% / 98% interval holds | "
        "calibration: ours / best statistical | train s | published foundation model |"
    )
    lines = [head, "|" + "---|" * 10]
    ours = args.models[0]
    for d in args.datasets:
        v = _mean(args, d, ours, "mean_wQuantileLoss")
        if not math.isfinite(v):
            continue
        others = [m for m in args.models if m not in OURS]
        best, name = _best(args, d, others, "mean_wQuantileLoss")
        stat = [m for m in others if m in PEERS]
        tails_best, tails_name = _best(args, d, stat, "wQL_tails")
        cal_best, cal_name = _best(args, d, stat, "calibration")
        pub = PUBLISHED.get(d)
        lines.append(
            f"| {d} | {'dev' if d in DEVELOPMENT else 'held out'} | "
            f"{_fmt(_values(args, d, ours, 'mean_wQuantileLoss'))} | {name} {best:.4g} | "
            f"{100 * (v / best - 1):+.1f}% | "
            f"{_mean(args, d, ours, 'wQL_tails'):.4g} / {tails_best:.4g} ({tails_name}) | "
            f"{_mean(args, d, ours, 'Coverage90'):.2f} / "
            f"{_mean(args, d, ours, 'Coverage98'):.2f} | "
            f"{_mean(args, d, ours, 'calibration'):.3f} / {cal_best:.3f} ({cal_name}) | "
            f"{_mean(args, d, ours, 'train_seconds'):.0f} | "
            + (f"{pub[0]} {pub[1]}" if pub else "–")
            + " |"
        )
    return "\n".join(lines)


def targets(args) -> str:
    """Markdown: each target of the default model, met or missed, per dataset.

    Accuracy: mean wQL at or below every peer's (statistical and GluonTS's
    networks); calibration at or below the best statistical peer's; tails: the
    98% and 90% central intervals hold at least 93% and 85% of outcomes, and
    wQL at each of 0.01, 0.05, 0.95, 0.99 at or below the best statistical
    peer's there. A "no" carries the figures.
    """
    ours = args.models[0]
    stat = [m for m in args.models if m in PEERS]
    others = [m for m in args.models if m not in OURS]
    head = (
        "| dataset | group | wQL ≤ every peer | calibration ≤ best statistical | "
        "98% holds ≥ 0.93 | 90% holds ≥ 0.85 | tail levels at or below the best statistical |"
    )
    lines = [head, "|" + "---|" * 7]
    tally = {k: 0 for k in ("wql", "cal", "c98", "c90", "tails")}
    counted = 0
    for d in args.datasets:
        v = _mean(args, d, ours, "mean_wQuantileLoss")
        if not math.isfinite(v):
            continue
        counted += 1
        best, name = _best(args, d, others, "mean_wQuantileLoss")
        cal, cal_best = (
            _mean(args, d, ours, "calibration"),
            _best(args, d, stat, "calibration"),
        )
        c98, c90 = (
            _mean(args, d, ours, "Coverage98"),
            _mean(args, d, ours, "Coverage90"),
        )
        missed = []
        for u in TAILS:
            mine = _mean(args, d, ours, f"wQL[{u}]")
            theirs, who = _best(args, d, stat, f"wQL[{u}]")
            if mine > theirs:
                missed.append(f"{u}: {mine:.3g} vs {theirs:.3g} {who}")
        ok = {
            "wql": v <= best,
            "cal": cal <= cal_best[0],
            "c98": c98 >= 0.93,
            "c90": c90 >= 0.85,
            "tails": not missed,
        }
        for k, hit in ok.items():
            tally[k] += hit
        lines.append(
            f"| {d} | {'dev' if d in DEVELOPMENT else 'held out'} | "
            + ("yes" if ok["wql"] else f"no: {v:.4g} vs {name} {best:.4g}")
            + " | "
            + (
                "yes"
                if ok["cal"]
                else f"no: {cal:.3f} vs {cal_best[1]} {cal_best[0]:.3f}"
            )
            + f" | {'yes' if ok['c98'] else 'no'} ({c98:.2f}) | "
            + f"{'yes' if ok['c90'] else 'no'} ({c90:.2f}) | "
            + (
                f"{len(TAILS)} of {len(TAILS)}"
                if not missed
                else f"{len(TAILS) - len(missed)} of {len(TAILS)} ("
                + "; ".join(missed)
                + ")"
            )
            + " |"
        )
    lines.append(
        f"| **met on** | {counted} datasets | {tally['wql']} | {tally['cal']} | "
        f"{tally['c98']} | {tally['c90']} | {tally['tails']} (all four levels) |"
    )
    return "\n".join(lines)


def tail_rules_report(args) -> str:
    """Markdown: every rule of :data:`TAIL_RULES` on the same trained ensembles,
    per dataset (seed means): the factors, the mean wQL at the tail levels and
    the share of outcomes in the 90% and 98% intervals; then per group the
    geometric mean change of the tail wQL against the averaged tails and how
    many datasets meet each tail target (peers: the statistical ones in
    ``--out``)."""
    import numpy as np

    ours = args.models[0]
    rules = list(TAIL_RULES)
    per: dict = {}
    for d in args.datasets:
        cells = [
            json.loads(f.read_text()).get("tail_rules")
            for f in sorted((args.out / d).glob(f"{ours}-seed*.json"))
        ]
        cells = [c for c in cells if c]
        if cells:
            per[d] = cells

    def mean(d, rule, key):
        return float(np.mean([c[rule][key] for c in per[d]]))

    head = "| dataset | group | seeds | " + " | ".join(rules) + " |"
    lines = [
        "Cells: factors (lower, upper) / mean wQL at 0.01, 0.05, 0.95, 0.99 / "
        "90% / 98% interval holds.",
        "",
        head,
        "|---|---|---|" + "---|" * len(rules),
    ]
    for d, cells in per.items():
        row = []
        for r in rules:
            f = np.mean([c[r]["factors"] for c in cells], axis=0)
            row.append(
                f"({f[0]:.2f}, {f[1]:.2f}) / {mean(d, r, 'wQL_tails'):.4g} / "
                f"{mean(d, r, 'Coverage90'):.2f} / {mean(d, r, 'Coverage98'):.2f}"
            )
        group = "dev" if d in DEVELOPMENT else "held out"
        lines.append(f"| {d} | {group} | {len(cells)} | " + " | ".join(row) + " |")
    stat = [
        m for m in PEERS if any(_values(args, d, m, "mean_wQuantileLoss") for d in per)
    ]
    lines += [
        "",
        "| group | rule | tails: geometric mean change | 98% holds ≥ 0.93 "
        "| 90% holds ≥ 0.85 | all four tail levels ≤ best statistical |",
        "|---|---|---|---|---|---|",
    ]
    for group in ("dev", "held out"):
        names = [d for d in per if (d in DEVELOPMENT) == (group == "dev")]
        if not names:
            continue
        for r in rules:
            ratio = [
                mean(d, r, "wQL_tails") / mean(d, "averaged", "wQL_tails")
                for d in names
            ]
            c98 = sum(mean(d, r, "Coverage98") >= 0.93 for d in names)
            c90 = sum(mean(d, r, "Coverage90") >= 0.85 for d in names)
            level = sum(
                all(
                    mean(d, r, f"wQL[{u}]") <= _best(args, d, stat, f"wQL[{u}]")[0]
                    for u in TAILS
                )
                for d in names
            )
            lines.append(
                f"| {group} ({len(names)}) | {r} | {geomean(ratio) - 1:+.1%} | "
                f"{c98} | {c90} | {level if stat else '–'} |"
            )
    return "\n".join(lines)


def geomean(values) -> float:
    import numpy as np

    return float(np.exp(np.mean(np.log(values))))


def ar1_dependence(
    seed: int, steps: int = 180, phi: float = 0.9, **estimator_kwargs
) -> dict:
    """MQF2's neighbouring-step correlation on AR(1) data, against the truth.

    32 hourly series of 600 steps, ``y_t = m + x_t``, ``x_t = phi x_{t-1} + N(0, 1)``;
    horizon 24. Given the past, the errors ``k`` and ``k + 1`` steps ahead have
    correlation ``phi sqrt(v_k / v_{k+1})``, ``v_k = sum_{j<k} phi^(2j)``: 0.870 on
    average over the horizon for ``phi = 0.9``, 0 for ``phi = 0`` (white noise).
    Trains ``steps`` steps (batches of 32) at the estimator's defaults (plus
    ``estimator_kwargs``), forecasts 200 joint samples from the end of each series
    and averages the sample correlation of steps ``k, k + 1`` over steps and series.
    """
    import numpy as np
    import pandas as pd
    import torch
    from gluonts.dataset.common import ListDataset

    from gluonts_qf import MQF2Estimator
    from gluonts_qf.runs.run import seed_everything

    torch.set_num_threads(1)
    H, n, length = 24, 32, 600
    rng = np.random.default_rng(seed)
    start = pd.Period("2021-01-01 00:00", freq="h")
    series = []
    for m in rng.uniform(20, 100, n):
        x = np.zeros(length)
        for t in range(1, length):
            x[t] = phi * x[t - 1] + rng.normal()
        series.append({"start": start, "target": m + x})
    data = ListDataset(series, freq="h")
    v = np.cumsum(phi ** (2 * np.arange(H)))
    truth = float(np.mean(phi * np.sqrt(v[:-1] / v[1:])))
    seed_everything(seed)
    batches = 30
    with tempfile.TemporaryDirectory() as root:
        est = MQF2Estimator(
            freq="h",
            prediction_length=H,
            num_batches_per_epoch=batches,
            trainer_kwargs={
                "max_epochs": max(steps // batches, 1),
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "default_root_dir": root,
            },
            **estimator_kwargs,
        )
        predictor = est.train(data)
        torch.manual_seed(seed)
        forecasts = list(predictor.predict(data, num_samples=200))
    corr = float(
        np.mean([np.mean(np.diag(np.corrcoef(fc.samples.T), 1)) for fc in forecasts])
    )
    return {
        "correlation": corr,
        "truth": truth,
        "steps": max(steps // batches, 1) * batches,
        "phi": phi,
        "choices": predictor.choices,
        **estimator_kwargs,
    }


def parse_settings(items) -> dict:
    """``["key=value", ...]`` -> ``{key: YAML value}``."""
    import yaml

    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=[*DEVELOPMENT, *HELD_OUT])
    p.add_argument("--models", nargs="+", default=[*OURS, *NEURAL, *PEERS])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/gluonts")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/datasets")
    p.add_argument(
        "--epochs", type=int, default=None, help="default: the model's (as train)"
    )
    p.add_argument("--batches-per-epoch", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default: as train")
    p.add_argument("--parallel", type=int, default=1, help="cells at a time")
    p.add_argument("--cell", nargs=3, metavar=("DATASET", "MODEL", "SEED"))
    p.add_argument(
        "--set",
        nargs="+",
        metavar="KEY=VALUE",
        help="estimator settings of our models (YAML values); use a separate --out",
    )
    p.add_argument("--report", action="store_true", help="print the markdown tables")
    p.add_argument(
        "--targets", action="store_true", help="print each target, met or missed"
    )
    p.add_argument(
        "--tail-rules",
        action="store_true",
        help="print the tail rules scored on the same ensembles",
    )
    p.add_argument(
        "--replay-tails",
        action="store_true",
        help="score an ensemble's cells with every tail rule too (for --tail-rules)",
    )
    p.add_argument(
        "--ar1",
        nargs="*",
        metavar="KEY=VALUE",
        help="measure MQF2's neighbouring-step correlation on AR(1) data",
    )
    args = p.parse_args()
    args.settings = parse_settings(args.set or [])
    if args.cell:
        import warnings

        warnings.filterwarnings("ignore")
        dataset, model, seed = args.cell[0], args.cell[1], int(args.cell[2])
        result = run_cell(dataset, model, seed, args)
        path = cell_path(args.out, dataset, model, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(json.dumps(result, default=str))
    elif args.ar1 is not None:
        import warnings

        warnings.filterwarnings("ignore")
        for seed in args.seeds:
            print(json.dumps(ar1_dependence(seed, **parse_settings(args.ar1))))
    elif args.report:
        print(report(args))
    elif args.targets:
        print(targets(args))
    elif args.tail_rules:
        print(tail_rules_report(args))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
