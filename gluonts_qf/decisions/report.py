"""One decision report for many series: what ``gluonts-qf decide`` prints and plots."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_levels
from .demand import SampleDemand, as_demand
from .lead_time import (
    INDEPENDENT,
    JOINT,
    LeadTimeTotal,
    TotalsComparison,
    check_lead_time,
    compare_lead_time_totals,
    lead_time_total,
)
from .service import TradeOff, check_costs, critical_fractile, service_tradeoff

#: levels of the service-level curve that the plot draws
CURVE_LEVELS = np.linspace(0.5, 0.995, 100)


@dataclass(frozen=True)
class DecisionReport:
    """Trade-off of ``N`` series over the next ``lead_time`` steps.

    Attributes
    ----------
    lead_time
        Steps covered (1: the next step alone).
    assumption
        How steps were summed (``"joint samples"``, ``"independent steps"``),
        ``None`` for one step.
    tradeoff
        At the requested levels, plus the critical fractile when costs are given.
    optimal_level
        ``c_u / (c_u + c_o)``, or ``None`` without costs.
    curve
        ``(levels (100,), total quantity (100,))`` for the service-level plot.
    totals
        The first series' totals under each assumption available (for its fan).
    comparison
        Independence against joint samples, when the forecasts have joint samples
        and ``lead_time > 1``.
    """

    lead_time: int
    assumption: str | None
    tradeoff: TradeOff
    optimal_level: float | None
    curve: tuple[np.ndarray, np.ndarray]
    totals: dict[str, LeadTimeTotal]
    comparison: TotalsComparison | None

    def table(self) -> pd.DataFrame:
        """The trade-off summed over series, the cost-optimal row marked ``*``."""
        table = self.tradeoff.total()
        mark = np.isclose(table["level"], self.optimal_level or -1.0, rtol=0)
        table.insert(1, "optimal", np.where(mark, "*", ""))
        return table

    def format(self, digits: int = 6) -> str:
        """:meth:`table` as aligned text, ``digits`` significant digits."""
        from ..evaluation.tables import format_value

        table = self.table()
        cols = table.columns.drop(["level", "optimal"])
        formatters = {c: partial(format_value, digits=digits) for c in cols}
        formatters["level"] = "{:g}".format
        return table.to_string(index=False, formatters=formatters)

    def describe(self) -> str:
        """Lines saying what the table covers and, if any, the comparison."""
        how = "exact (IQF closed form)" if self.tradeoff.exact else "from samples"
        span = (
            "the next step"
            if self.lead_time == 1
            else f"the total of the next {self.lead_time} steps, "
            f"assumption: {self.assumption}"
        )
        lines = [f"{len(self.tradeoff.mean)} series, {span}; {how}"]
        if self.optimal_level is not None:
            lines.append(
                f"cost-optimal level c_u / (c_u + c_o) = {self.optimal_level:.4g} "
                "(row marked *)"
            )
        if self.comparison is not None:
            s = self.comparison.summary()
            lo, hi = self.comparison.interval
            lines.append(
                f"independent steps vs joint samples (same draws): median ratio of "
                f"the total's std {s['median_std_ratio']:.3f}, of its {lo:g}-{hi:g} "
                f"width {s['median_width_ratio']:.3f}; independence understates "
                f"the spread in {100 * s['share_understated']:.0f}% of series"
            )
        return "\n".join(lines)

    def save(self, out: Path) -> list[Path]:
        """Write ``tradeoff.csv``, ``tradeoff_per_series.csv`` and the plots.

        Plots need matplotlib; without it only the CSVs are written.
        """
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "tradeoff.csv", out / "tradeoff_per_series.csv"]
        self.table().to_csv(paths[0], index=False)
        self.tradeoff.per_series().to_csv(paths[1], index=False)
        try:
            paths += self._plots(out)
        except ImportError as err:  # matplotlib is an optional extra
            print(f"skipping plots: {err}", file=sys.stderr)
        return paths

    def _plots(self, out: Path) -> list[Path]:
        from ..plotting import plot_lead_time_fan, plot_service_levels

        title = f"required quantity, {len(self.tradeoff.mean)} series"
        marks = self.tradeoff.levels
        paths = [
            plot_service_levels(*self.curve, out / "service_levels.png", marks, title)
        ]
        if self.lead_time > 1:
            cumulative = {k: t.cumulative for k, t in self.totals.items()}
            title = f"item {self.totals[self.assumption].item_id}: running total"
            paths.append(
                plot_lead_time_fan(cumulative, out / "lead_time_total.png", title=title)
            )
        return paths


def decide(
    forecasts: Sequence[Any],
    levels: Sequence[float],
    costs: tuple[float, float] | None = None,
    lead_time: int = 1,
    num_samples: int = 1000,
    seed: int = 0,
) -> DecisionReport:
    """Trade-off, cost-optimal level and lead-time totals of many forecasts.

    One step is answered exactly for IQF forecasts. Over ``lead_time > 1``
    steps, forecasts with joint samples (MQF2) are summed row by row and
    compared with independent steps; IQF forecasts (marginals only) are
    summed under the assumption ``"independent steps"``, which the report
    names.
    """
    levels = check_levels(levels)
    if not forecasts:
        raise ValueError("no forecasts given; pass at least one forecast.")
    costs = None if costs is None else check_costs(*costs)
    optimal = None if costs is None else critical_fractile(*costs)
    if optimal is not None:
        levels = np.unique(np.append(levels, optimal))
    demands = [as_demand(f, num_samples=num_samples, seed=seed) for f in forecasts]
    lead_time = check_lead_time(lead_time, min(d.num_steps for d in demands))
    joint = all(isinstance(d, SampleDemand) and d.joint for d in demands)
    assumption, totals, comparison = None, {}, None
    if lead_time > 1:
        assumption = JOINT if joint else INDEPENDENT
        sums = [
            lead_time_total(d, lead_time, assumption, num_samples, seed)
            for d in demands
        ]
        totals = {assumption: sums[0]}
        if joint:
            totals[INDEPENDENT] = lead_time_total(
                demands[0], lead_time, INDEPENDENT, seed=seed
            )
            comparison = compare_lead_time_totals(demands, lead_time, seed=seed)
        demands = [t.demand() for t in sums]
    # (N, 100, T) -> (100,): each series' quantity at its first (or only) step
    curve = np.sum([d.quantile(CURVE_LEVELS)[:, 0] for d in demands], axis=0)
    return DecisionReport(
        lead_time,
        assumption,
        service_tradeoff(demands, levels, costs=costs),
        optimal,
        (CURVE_LEVELS, curve),
        totals,
        comparison,
    )
