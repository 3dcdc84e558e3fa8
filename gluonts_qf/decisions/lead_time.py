"""Demand summed over the next ``k`` steps (the lead time) of one series.

"How much must I hold to cover the next 7 days at 98%?" asks for a quantile
of ``Y_1 + ... + Y_k``, which depends on how the steps move together:

- ``"joint samples"``: from joint draws of the horizon (MQF2's
  ``SampleForecast``s, or any ``SampleForecast``), summed row by row; the
  dependence between steps is the model's.
- ``"independent steps"``: from marginals only (IQF forecasts), by summing
  independent draws of each step. This is an assumption, and it is named in
  every result: positively correlated steps (trends, level shifts) make the
  true total wider than independence says.

:func:`compare_lead_time_totals` measures, on the same joint samples, how much
independence understates or overstates the total's spread;
:func:`lead_time_coverage` checks totals against what was observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_choice, check_int, check_levels
from .demand import Demand, SampleDemand, as_demand

JOINT = "joint samples"
INDEPENDENT = "independent steps"
ASSUMPTIONS = (JOINT, INDEPENDENT)


def check_lead_time(k: Any, horizon: int) -> int:
    """``k`` as an int with ``1 <= k <= horizon``."""
    k = check_int("lead time k", k, low=1, hint="k = 1 is the next step alone.")
    if k > horizon:
        raise ValueError(
            f"lead time k={k} exceeds the forecast horizon {horizon}: a forecast "
            f"says nothing past its last step; use k <= {horizon} or train with "
            f"prediction_length >= {k}."
        )
    return k


def check_interval_levels(interval: Any) -> tuple[float, float]:
    """Two levels ``lo < hi`` in (0, 1), e.g. ``(0.05, 0.95)``."""
    lv = check_levels(interval, "interval")
    if lv.size != 2 or not lv[0] < lv[1]:
        raise ValueError(
            f"interval must be two increasing levels (lo, hi), got {lv.tolist()}; "
            "e.g. (0.05, 0.95) for the central 90%."
        )
    return float(lv[0]), float(lv[1])


def _assumption(assumption: str | None, demand: Demand) -> str:
    """The assumption to use; joint totals need joint samples."""
    joint = isinstance(demand, SampleDemand) and demand.joint
    if assumption is None and joint:
        return JOINT
    if assumption is not None:
        check_choice("assumption", assumption, ASSUMPTIONS)
    if assumption == INDEPENDENT or (assumption == JOINT and joint):
        return assumption
    raise ValueError(
        "this forecast gives each step's distribution but not how steps move "
        "together, so a total over steps needs an assumption: pass "
        f"assumption={INDEPENDENT!r} to sum independent draws of each step "
        "(too narrow when steps are positively correlated), or forecast with "
        "MQF2Estimator for joint samples."
    )


@dataclass(frozen=True)
class LeadTimeTotal:
    """The distribution of ``Y_1 + ... + Y_k`` of one series, by samples.

    Attributes
    ----------
    k
        Lead time in steps.
    assumption
        ``"joint samples"`` or ``"independent steps"``.
    cumulative
        Running totals ``Y_1 + ... + Y_j`` for ``j = 1..k``, shape: (S, k).
    mean, std
        Of the total: with ``"independent steps"`` the sums of the marginal
        means and variances (closed form for IQF); with ``"joint samples"``
        the sample mean and standard deviation of the totals.
    item_id
        The forecast's ``item_id``.
    """

    k: int
    assumption: str
    cumulative: np.ndarray
    mean: float
    std: float
    item_id: Any = None

    @property
    def samples(self) -> np.ndarray:
        """Draws of the total, shape: (S,)."""
        return self.cumulative[:, -1]

    def quantile(self, levels: Sequence[float]) -> np.ndarray:
        """Quantity covering the total at each level, shape: (L,)."""
        return np.quantile(self.samples, check_levels(levels))

    def demand(self) -> SampleDemand:
        """The total as a one-step :class:`~.demand.Demand`, for trade-offs."""
        demand = SampleDemand(self.samples[:, None], joint=self.assumption == JOINT)
        demand.item_id = self.item_id
        return demand


def lead_time_total(
    forecast: Any,
    k: int,
    assumption: str | None = None,
    num_samples: int = 1000,
    seed: int = 0,
) -> LeadTimeTotal:
    """Demand summed over the next ``k`` steps of one forecast.

    Parameters
    ----------
    forecast
        One forecast (or :class:`~.demand.Demand`).
    k
        Lead time, ``1 <= k <= prediction_length``.
    assumption
        ``None`` (joint samples; an IQF forecast then raises a ``ValueError``
        that asks for an explicit assumption, except for ``k = 1``, a single
        step, which needs none), ``"joint samples"`` or
        ``"independent steps"`` (each step's samples are shuffled on their own,
        or drawn independently from IQF marginals).
    num_samples, seed
        Draws taken from a distribution forecast (and the shuffling seed).
    """
    demand = as_demand(forecast, num_samples=num_samples, seed=seed)
    k = check_lead_time(k, demand.num_steps)
    if k == 1 and assumption is None and not getattr(demand, "joint", False):
        assumption = INDEPENDENT  # one step: no dependence to assume
    assumption = _assumption(assumption, demand)
    rng = np.random.default_rng(seed)
    draws = demand.sample(check_int("num_samples", num_samples, low=2), rng)[:, :k]
    if assumption == INDEPENDENT:
        draws = rng.permuted(draws, axis=0)  # same marginals, no dependence
        mean = float(demand.mean[:k].sum())
        std = float(np.sqrt(demand.variance[:k].sum()))
    else:
        mean, std = float(draws.sum(1).mean()), float(draws.sum(1).std(ddof=1))
    return LeadTimeTotal(
        k, assumption, np.cumsum(draws, axis=1), mean, std, demand.item_id
    )


@dataclass(frozen=True)
class TotalsComparison:
    """Spread of ``k``-step totals, joint against independent, for ``N`` series.

    All from the same joint samples: ``joint_*`` from the rows as drawn,
    ``independent_*`` with each step's samples shuffled on their own (same
    marginals, no dependence), ``comonotone_width`` the sum over steps of each
    step's interval width (the width if all steps moved in lockstep).

    Attributes
    ----------
    k, interval
        Lead time and the interval's two levels ``(lo, hi)``.
    joint_std, independent_std
        Standard deviation of the total, shape: (N,); the independent one is
        ``sqrt(sum of the steps' sample variances)``, free of shuffling noise.
    joint_width, independent_width, comonotone_width
        ``q(hi) - q(lo)`` of the total, shape: (N,).
    """

    k: int
    interval: tuple[float, float]
    joint_std: np.ndarray
    independent_std: np.ndarray
    joint_width: np.ndarray
    independent_width: np.ndarray
    comonotone_width: np.ndarray

    @property
    def std_ratio(self) -> np.ndarray:
        """Independent over joint standard deviation, (N,): < 1 understates."""
        return self.independent_std / self.joint_std

    @property
    def width_ratio(self) -> np.ndarray:
        """Independent over joint interval width, shape: (N,)."""
        return self.independent_width / self.joint_width

    def summary(self) -> dict[str, float]:
        """Medians of the ratios and the share of series independence understates."""
        return {
            "series": float(len(self.joint_std)),
            "k": float(self.k),
            "median_std_ratio": float(np.median(self.std_ratio)),
            "median_width_ratio": float(np.median(self.width_ratio)),
            "share_understated": float(np.mean(self.std_ratio < 1.0)),
            "median_comonotone_ratio": float(
                np.median(self.comonotone_width / self.joint_width)
            ),
        }


def compare_lead_time_totals(
    forecasts: Sequence[Any],
    k: int,
    interval: Sequence[float] = (0.05, 0.95),
    seed: int = 0,
) -> TotalsComparison:
    """How much assuming independent steps misstates the spread of ``k``-step totals.

    Parameters
    ----------
    forecasts
        Forecasts with joint samples (e.g. from MQF2Estimator), one per series.
    k
        Lead time, ``1 <= k <= prediction_length``.
    interval
        Levels ``(lo, hi)`` of the interval whose width is compared.
    seed
        Seed of the shuffling that makes the steps independent.
    """
    lo_hi = check_interval_levels(interval)
    rows = []
    for fc in forecasts:
        demand = as_demand(fc)
        if not (isinstance(demand, SampleDemand) and demand.joint):
            raise ValueError(
                "compare_lead_time_totals needs joint samples (e.g. MQF2Estimator "
                f"forecasts), got a {type(fc).__name__} without them; for IQF "
                "forecasts check independent totals against observations with "
                "lead_time_coverage."
            )
        joint = lead_time_total(demand, k, JOINT)
        indep = lead_time_total(demand, k, INDEPENDENT, seed=seed)
        marg = demand.quantile(lo_hi)[:, : joint.k]  # (2, k)
        rows.append(
            (
                joint.std,
                indep.std,
                np.diff(joint.quantile(lo_hi))[0],
                np.diff(indep.quantile(lo_hi))[0],
                (marg[1] - marg[0]).sum(),
            )
        )
    if not rows:
        raise ValueError("no forecasts given; pass at least one forecast.")
    cols = (np.array(c, dtype=np.float64) for c in zip(*rows))
    return TotalsComparison(int(k), lo_hi, *cols)  # k checked by lead_time_total


@dataclass(frozen=True)
class Coverage:
    """How often observed ``k``-step totals fell inside the forecast interval."""

    k: int
    assumption: str
    interval: tuple[float, float]
    inside: float  # share of series whose observed total was inside
    below: float  # share below the lower quantile
    above: float  # share above the upper quantile
    num_series: int

    @property
    def nominal(self) -> float:
        """The share an honest forecast would cover, ``hi - lo``."""
        return self.interval[1] - self.interval[0]


def lead_time_coverage(
    forecasts: Sequence[Any],
    series: Sequence[Any],
    k: int,
    interval: Sequence[float] = (0.05, 0.95),
    assumption: str | None = None,
    num_samples: int = 1000,
    seed: int = 0,
) -> Coverage:
    """Share of observed ``k``-step totals inside each forecast's interval.

    ``forecasts`` and ``series`` as from GluonTS's
    ``make_evaluation_predictions`` (the forecast window hidden, then shown);
    series with a missing value among the ``k`` steps are left out. An
    interval too narrow for the data covers less than ``hi - lo``.
    """
    from ..evaluation.scores import target_window

    lo_hi = check_interval_levels(interval)
    sides, used = [], None  # -1 below the interval, 0 inside, +1 above
    for fc, ts in zip(forecasts, series):
        total = lead_time_total(fc, k, assumption, num_samples, seed)
        used = total.assumption
        observed = float(target_window(ts, fc)[: total.k].sum())
        if np.isfinite(observed):
            lo, hi = total.quantile(lo_hi)
            sides.append(-1 if observed < lo else (1 if observed > hi else 0))
    if not sides:
        raise ValueError(
            "no series with k observed steps to check; pass the series of "
            "make_evaluation_predictions (forecast window included)."
        )
    sides = np.asarray(sides)
    return Coverage(
        int(k),
        used,
        lo_hi,
        inside=float(np.mean(sides == 0)),
        below=float(np.mean(sides < 0)),
        above=float(np.mean(sides > 0)),
        num_series=len(sides),
    )
