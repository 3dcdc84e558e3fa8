"""The papers' experiments: what each scores, its main metric, its table columns.

``iqf`` (Park et al., 2022), ``mqf2`` (Kan et al., 2022) and ``figures`` (the
illustrations); :func:`cell_metrics` turns one backtest into a cell's row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..evaluation.backtest import BacktestResult
from ..evaluation.scores import DEFAULT_QUANTILES
from .figures import COLUMNS as FIGURE_COLUMNS

#: Levels no model of the ``iqf`` experiment is trained on (Park et al.'s
#: "quantile levels not used in training").
UNTRAINED_LEVELS = (0.01, 0.05, 0.95, 0.99)


@dataclass(frozen=True)
class Experiment:
    """One paper experiment: which scores, which main metric, which figures.

    Attributes
    ----------
    name, description
        The ``--experiment`` name and one line on what it reproduces.
    levels
        Quantile levels GluonTS's ``Evaluator`` scores.
    columns
        The table's metric columns, in order.
    main_metric
        The metric of the progress lines.
    joint
        Also score the dependence between steps (CRPS-Sum, correlation heatmaps).
    """

    name: str
    description: str
    levels: tuple[float, ...]
    columns: tuple[str, ...]
    main_metric: str
    joint: bool


EXPERIMENTS = {
    "iqf": Experiment(
        "iqf",
        "Park et al. (2022): IQF/ISQF heads vs GluonTS's reference models, "
        "scored also at levels not trained on",
        tuple(sorted((*DEFAULT_QUANTILES, *UNTRAINED_LEVELS))),
        (
            "mean_wQuantileLoss",
            "wQL_untrained",
            "wQuantileLoss[0.01]",
            "wQuantileLoss[0.99]",
            "wCRPS",
            "MSIS",
            "Coverage80",
            "Coverage98",
            "crossing_rate",
            "train_seconds",
        ),
        "mean_wQuantileLoss",
        joint=False,
    ),
    "mqf2": Experiment(
        "mqf2",
        "Kan et al. (2022): MQF2's joint horizon vs DeepAR and IQF with "
        "independent steps",
        DEFAULT_QUANTILES,
        (
            "ES",
            "VS",
            "wCRPS",
            "CRPS_Sum",
            "mean_wQuantileLoss",
            "MSIS",
            "train_seconds",
        ),
        "ES",
        joint=True,
    ),
    "figures": Experiment(
        "figures",
        "the illustrations: a three-peaked distribution learned by IQF with 5 "
        "and 20 knots, and MQF2's 2-D gradient map (no datasets, no cells)",
        (),
        FIGURE_COLUMNS,
        "W1",
        joint=False,
    ),
}
#: The issue's names of the experiments.
ALIASES = {"quantile-functions": "iqf", "multivariate": "mqf2"}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (or an alias); ``ValueError`` otherwise."""
    key = ALIASES.get(name, name)
    if key not in EXPERIMENTS:
        known = ", ".join([*EXPERIMENTS, *ALIASES])
        raise ValueError(f"unknown experiment {name!r}; choose from {known}.")
    return EXPERIMENTS[key]


def cell_metrics(exp: Experiment, res: BacktestResult) -> dict[str, float]:
    """The experiment's columns from one backtest (``train_seconds`` added later)."""
    agg = res.aggregate

    def wql(levels: Sequence[float]) -> float:
        return float(np.mean([agg[f"wQuantileLoss[{u}]"] for u in levels]))

    metrics = {
        "mean_wQuantileLoss": wql(DEFAULT_QUANTILES),
        "wCRPS": res["wCRPS"],
        "MSIS": float(agg.get("MSIS", np.nan)),
        "crossing_rate": res["crossing_rate"],
        "ES": res["ES"],
        "VS": res["VS"],
    }
    if not exp.joint:
        metrics["wQL_untrained"] = wql(UNTRAINED_LEVELS)
        for u in (0.01, 0.99):
            metrics[f"wQuantileLoss[{u}]"] = float(agg[f"wQuantileLoss[{u}]"])
        # share of observations inside [q(a), q(1 - a)]: F(q(1 - a)) - F(q(a))
        metrics["Coverage80"] = res.interval(0.8)
        metrics["Coverage98"] = res.interval(0.98)
    return metrics
