"""Service levels, fill rate and the newsvendor from a forecast's quantile function.

For demand ``Y`` over a period and a stocked quantity ``x``:

- the service level of ``x`` is ``P(Y <= x)``; the quantity that reaches level
  ``alpha`` is the quantile ``q(alpha)``, and one more percentage point costs
  about ``q'(alpha) / 100`` more (``q' = 1 / density`` at the quantile);
- expected shortage ``E[(Y - x)+]`` and leftover ``E[(x - Y)+]``;
- fill rate ``1 - E[(Y - x)+] / E[Y]``, the share of demand served from stock
  (undefined, NaN, when ``E[Y] <= 0``);
- with per-unit costs ``c_u`` of a unit short and ``c_o`` of a unit left over,
  the expected cost is ``c_u E[(Y - x)+] + c_o E[(x - Y)+]``, minimised at the
  critical fractile ``alpha* = c_u / (c_u + c_o)``: ``x* = q(alpha*)``.

Every function takes forecasts (or :class:`~.demand.Demand` objects) and a
horizon ``step`` (0 is the first forecast step); exact for IQF forecasts, from
samples otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..checks import check_int, check_levels, check_positive
from .demand import Demand, as_demand

#: hint shown with every cost error
COST_HINT = "costs are per unit, e.g. under_cost=4 (lost margin), over_cost=1 (holding)"


# -- pure maths -------------------------------------------------------------
def check_costs(under_cost: Any, over_cost: Any) -> tuple[float, float]:
    """Both per-unit costs as floats, each finite and > 0."""
    return (
        check_positive("under_cost", under_cost, COST_HINT),
        check_positive("over_cost", over_cost, COST_HINT),
    )


def parse_costs(text: str) -> tuple[float, float]:
    """``"4,1"`` -> ``(4.0, 1.0)``: the under- and over-stock cost per unit."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        under, over = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"costs must be two numbers 'under,over', got {text!r}; e.g. 4,1 for "
            "a unit short costing 4 and a unit left over costing 1."
        ) from None
    return check_costs(under, over)


def critical_fractile(under_cost: float, over_cost: float) -> float:
    """The cost-optimal service level ``c_u / (c_u + c_o)``, in (0, 1)."""
    cu, co = check_costs(under_cost, over_cost)
    return cu / (cu + co)


def fill_rate_from(shortage: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``1 - shortage / mean`` (broadcast shapes); NaN where ``mean <= 0``."""
    shortage, mean = np.asarray(shortage, float), np.asarray(mean, float)
    ok = mean > 0
    return np.where(ok, 1.0 - shortage / np.where(ok, mean, 1.0), np.nan)


def cost_from(
    shortage: np.ndarray, leftover: np.ndarray, under_cost: float, over_cost: float
) -> np.ndarray:
    """Expected cost ``c_u shortage + c_o leftover`` (broadcast shapes)."""
    cu, co = check_costs(under_cost, over_cost)
    return cu * np.asarray(shortage) + co * np.asarray(leftover)


def check_step(step: Any, num_steps: int) -> int:
    """``step`` as an index into the horizon, ``0 <= step < num_steps``."""
    step = check_int("step", step, low=0, hint="step 0 is the first forecast step.")
    if step >= num_steps:
        raise ValueError(
            f"step must be < the forecast horizon {num_steps}, got {step}; "
            f"use 0 (first step) to {num_steps - 1} (last)."
        )
    return step


# -- one series -------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What stocking ``quantity`` gives at one step (arrays of its shape)."""

    quantity: np.ndarray
    shortage: np.ndarray  # E[(Y - x)+]
    leftover: np.ndarray  # E[(x - Y)+]
    mean: float  # E[Y]
    exact: bool

    @property
    def fill_rate(self) -> np.ndarray:
        return fill_rate_from(self.shortage, self.mean)

    def cost(self, under_cost: float, over_cost: float) -> np.ndarray:
        return cost_from(self.shortage, self.leftover, under_cost, over_cost)


def outcome(
    forecast: Any, quantity: Any, step: int = 0, exact: bool | None = None
) -> Outcome:
    """Expected shortage, leftover and fill rate of stocking ``quantity``.

    Parameters
    ----------
    forecast
        One forecast (or :class:`~.demand.Demand`).
    quantity
        Stocked quantities, a number or an array of any shape.
    step
        Horizon step, 0 for the first.
    exact
        See :func:`~.demand.as_demand`.
    """
    demand = as_demand(forecast, exact)
    step = check_step(step, demand.num_steps)
    x = np.asarray(quantity, dtype=np.float64)
    # (...) -> (..., T): the same quantity at every step, then keep ``step``
    grid = np.broadcast_to(x[..., None], (*x.shape, demand.num_steps))
    below, above = demand.partial_expectations(grid)
    return Outcome(
        x, above[..., step], below[..., step], float(demand.mean[step]), demand.exact
    )


def expected_shortage(forecast: Any, quantity: Any, step: int = 0) -> np.ndarray:
    """``E[(Y - quantity)+]`` at ``step`` (shape of ``quantity``)."""
    return outcome(forecast, quantity, step).shortage


def expected_leftover(forecast: Any, quantity: Any, step: int = 0) -> np.ndarray:
    """``E[(quantity - Y)+]`` at ``step`` (shape of ``quantity``)."""
    return outcome(forecast, quantity, step).leftover


def fill_rate(forecast: Any, quantity: Any, step: int = 0) -> np.ndarray:
    """``1 - E[(Y - quantity)+] / E[Y]`` at ``step`` (shape of ``quantity``)."""
    return outcome(forecast, quantity, step).fill_rate


def expected_cost(
    forecast: Any, quantity: Any, under_cost: float, over_cost: float, step: int = 0
) -> np.ndarray:
    """``c_u E[(Y - x)+] + c_o E[(x - Y)+]`` at ``step`` (shape of ``quantity``)."""
    check_costs(under_cost, over_cost)
    return outcome(forecast, quantity, step).cost(under_cost, over_cost)


@dataclass(frozen=True)
class Newsvendor:
    """The cost-optimal quantity of one series at one step."""

    level: float  # critical fractile c_u / (c_u + c_o)
    quantity: float  # q(level)
    expected_cost: float
    shortage: float
    leftover: float
    fill_rate: float


def newsvendor(
    forecast: Any,
    under_cost: float,
    over_cost: float,
    step: int = 0,
    exact: bool | None = None,
) -> Newsvendor:
    """Cost-optimal level and quantity for per-unit under- and over-stock costs.

    ``q(c_u / (c_u + c_o))`` minimises ``c_u E[(Y - x)+] + c_o E[(x - Y)+]``
    (set its derivative ``-c_u (1 - F(x)) + c_o F(x)`` to zero).
    """
    level = critical_fractile(under_cost, over_cost)
    demand = as_demand(forecast, exact)
    step = check_step(step, demand.num_steps)
    x = float(demand.quantile([level])[0, step])
    out = outcome(demand, x, step)
    return Newsvendor(
        level,
        x,
        float(out.cost(under_cost, over_cost)),
        float(out.shortage),
        float(out.leftover),
        float(out.fill_rate),
    )


# -- many series: the trade-off table ----------------------------------------
@dataclass(frozen=True)
class TradeOff:
    """Quantity against service level for ``N`` series at one step.

    Row ``i`` is series ``i``, column ``j`` is ``levels[j]``; each series is
    stocked on its own to the level, so the totals over series are sums of the
    per-series quantities (not a quantile of the summed demand).

    Attributes
    ----------
    levels
        Service levels, shape: (L,).
    quantity
        ``q_i(level)``, shape: (N, L).
    extra_per_point
        Extra quantity per extra percentage point, ``q_i'(level) / 100``, (N, L).
    shortage, leftover
        ``E[(Y_i - q_i)+]`` and ``E[(q_i - Y_i)+]`` at that quantity, (N, L).
    mean
        ``E[Y_i]``, shape: (N,).
    exact
        Closed form (all IQF) or estimated from samples.
    costs
        ``(under_cost, over_cost)`` per unit, or ``None``.
    item_ids
        The forecasts' ``item_id``s, length N.
    """

    levels: np.ndarray
    quantity: np.ndarray
    extra_per_point: np.ndarray
    shortage: np.ndarray
    leftover: np.ndarray
    mean: np.ndarray
    exact: bool
    costs: tuple[float, float] | None = None
    item_ids: tuple = ()

    @property
    def fill_rate(self) -> np.ndarray:
        """Fill rate of each series at each level, shape: (N, L)."""
        return fill_rate_from(self.shortage, self.mean[:, None])

    @property
    def expected_cost(self) -> np.ndarray | None:
        """Expected cost of each series at each level, (N, L); ``None`` without costs."""
        if self.costs is None:
            return None
        return cost_from(self.shortage, self.leftover, *self.costs)

    def total(self) -> pd.DataFrame:
        """One row per level, summed over the series (fill rate of the sums)."""
        table = {
            "level": self.levels,
            "quantity": self.quantity.sum(0),
            "extra_per_point": self.extra_per_point.sum(0),
            "fill_rate": fill_rate_from(self.shortage.sum(0), self.mean.sum()),
        }
        if self.costs is not None:
            table["expected_cost"] = self.expected_cost.sum(0)
        table.update(shortage=self.shortage.sum(0), leftover=self.leftover.sum(0))
        return pd.DataFrame(table)

    def per_series(self) -> pd.DataFrame:
        """One row per series and level (``item_id`` or position, then level)."""
        n, num_levels = self.quantity.shape
        ids = list(self.item_ids) if len(self.item_ids) == n else list(range(n))
        table = {
            "item_id": np.repeat(np.asarray(ids, dtype=object), num_levels),
            "level": np.tile(self.levels, n),
            "quantity": self.quantity.ravel(),
            "extra_per_point": self.extra_per_point.ravel(),
            "fill_rate": self.fill_rate.ravel(),
        }
        if self.costs is not None:
            table["expected_cost"] = self.expected_cost.ravel()
        table.update(shortage=self.shortage.ravel(), leftover=self.leftover.ravel())
        return pd.DataFrame(table)


def service_tradeoff(
    forecasts: Sequence[Any] | Any,
    levels: Sequence[float],
    step: int = 0,
    costs: tuple[float, float] | None = None,
    exact: bool | None = None,
) -> TradeOff:
    """Quantity, extra quantity per point, fill rate (and cost) at each level.

    Parameters
    ----------
    forecasts
        One forecast or a list (IQF distribution forecasts, sample forecasts,
        or :class:`~.demand.Demand` objects); one row each.
    levels
        Service levels, strictly inside (0, 1), e.g. ``[0.94, 0.95]``.
    step
        Horizon step, 0 for the first.
    costs
        Optional ``(under_cost, over_cost)`` per unit, each > 0.
    exact
        See :func:`~.demand.as_demand`; ``True`` demands closed forms.
    """
    lv = check_levels(levels)
    costs = None if costs is None else check_costs(*costs)
    if not isinstance(forecasts, Sequence):
        forecasts = [forecasts]
    if len(forecasts) == 0:
        raise ValueError("no forecasts given; pass at least one forecast.")
    demands = [as_demand(f, exact) for f in forecasts]
    rows = [_tradeoff_row(d, lv, step) for d in demands]
    q, slope, short, left, mean = (np.array(col) for col in zip(*rows))
    return TradeOff(
        levels=lv,
        quantity=q,
        extra_per_point=slope / 100.0,
        shortage=short,
        leftover=left,
        mean=mean,
        exact=all(d.exact for d in demands),
        costs=costs,
        item_ids=tuple(d.item_id for d in demands),
    )


def _tradeoff_row(demand: Demand, levels: np.ndarray, step: int) -> tuple:
    """Quantity, slope, shortage, leftover (each (L,)) and mean of one series."""
    step = check_step(step, demand.num_steps)
    q = demand.quantile(levels)  # (L, T)
    slope = demand.quantile_slope(levels)[:, step]  # (L, T) -> (L,)
    below, above = demand.partial_expectations(q)  # (L, T) each
    return q[:, step], slope, above[:, step], below[:, step], demand.mean[step]
