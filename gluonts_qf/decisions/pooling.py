"""Demand pooled over several series: one warehouse serving many stores.

"How much must the warehouse hold to serve these eight stores at 95%?" asks
for a quantile of ``Y_1 + ... + Y_M`` at each step, the sum over series. How
much smaller it is than the stores' own stock added up (the pooling gain)
depends on how the series move together:

- ``"joint samples"``: from joint draws across series, an (S, T, M)
  ``SampleForecast`` of :class:`~gluonts_qf.MQF2Estimator` with
  ``joint="series"``, summed row by row; the dependence is the model's.
- ``"independent series"``: from forecasts of each series on its own (IQF,
  any univariate forecast, or the series of a joint forecast shuffled apart),
  by summing independent draws. An assumption, named in the result:
  positively correlated series (a shared trend, weather, holidays) make the
  true total wider than independence says.

The result is a :class:`PooledDemand`, a :class:`~.demand.Demand` of ``T``
steps, so every decision takes it: :func:`~.service.service_tradeoff`,
:func:`~.service.newsvendor`, :func:`~.lead_time.lead_time_total` (the
warehouse's total over a lead time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import check_choice, check_int
from .demand import SampleDemand, as_demand

JOINT_SERIES = "joint samples"
INDEPENDENT_SERIES = "independent series"
POOLING_ASSUMPTIONS = (JOINT_SERIES, INDEPENDENT_SERIES)


class PooledDemand(SampleDemand):
    """Demand summed over series at each step, from samples (S, T).

    Attributes
    ----------
    assumption
        ``"joint samples"`` or ``"independent series"``: how the series'
        draws were combined.
    series
        The positions (in the forecast's series, or in the list of forecasts)
        of the series summed.
    """

    def __init__(
        self,
        samples: Any,
        joint: bool,
        assumption: str,
        series: Sequence[int],
    ) -> None:
        super().__init__(samples, joint=joint)
        self.assumption = assumption
        self.series = tuple(int(i) for i in series)
        self.item_id = f"total of {len(self.series)} series"


def pooled_demand(
    forecasts: Any,
    series: Sequence[int] | None = None,
    assumption: str | None = None,
    num_samples: int = 1000,
    seed: int = 0,
) -> PooledDemand:
    """Demand summed over several series at each step of the horizon.

    Parameters
    ----------
    forecasts
        One multivariate ``SampleForecast`` with samples of shape (S, T, M)
        (MQF2 with ``joint="series"``), or a sequence of univariate forecasts
        of the same horizon (one per series; IQF, sample or other
        distribution forecasts, see :func:`~.demand.as_demand`).
    series
        Positions of the series to sum (default: all).
    assumption
        ``None``: ``"joint samples"`` for a multivariate forecast; a list of
        univariate forecasts then raises a ``ValueError`` asking for
        ``"independent series"``, the only way to combine them.
        ``"independent series"`` on a multivariate forecast shuffles each
        series' draws apart first (each series keeps its own dependence
        between steps), which shows what independence would claim.
    num_samples, seed
        Draws taken from distribution forecasts (and the shuffling seed).

    Returns
    -------
    PooledDemand
        ``T`` steps of the total; its ``joint`` flag says whether the
        dependence between steps is kept (true when every summed forecast has
        joint draws over its horizon).
    """
    if assumption is not None:
        check_choice("assumption", assumption, POOLING_ASSUMPTIONS)
    rng = np.random.default_rng(seed)
    samples = getattr(forecasts, "samples", None)
    if samples is not None and np.ndim(samples) == 3:  # (S, T, M): one forecast
        draws = np.asarray(samples, dtype=np.float64)
        chosen = _check_series(series, draws.shape[2])
        parts = [draws[:, :, i] for i in chosen]
        joint_steps = True
        assumption = assumption or JOINT_SERIES
    else:
        if isinstance(forecasts, (str, bytes)) or not isinstance(forecasts, Sequence):
            raise ValueError(
                "forecasts must be one multivariate SampleForecast (samples of "
                "shape (S, T, M)) or a list of univariate forecasts, got "
                f"{type(forecasts).__name__}."
            )
        if assumption != INDEPENDENT_SERIES:
            raise ValueError(
                "separate forecasts of each series say nothing about how the "
                "series move together, so their total needs an assumption: pass "
                f"assumption={INDEPENDENT_SERIES!r} (too narrow when the series "
                "are positively correlated), or forecast them jointly with "
                "MQF2Estimator(joint='series', target_dim=M)."
            )
        chosen = _check_series(series, len(forecasts))
        n = check_int("num_samples", num_samples, low=2)
        demands = [
            as_demand(forecasts[i], num_samples=n, seed=seed + i) for i in chosen
        ]
        steps = {d.num_steps for d in demands}
        if len(steps) != 1:
            raise ValueError(
                f"the forecasts cover different horizons {sorted(steps)}; pool "
                "forecasts of the same steps."
            )
        parts = [d.sample(n, rng) for d in demands]
        joint_steps = all(getattr(d, "joint", False) for d in demands)
    if assumption == INDEPENDENT_SERIES:  # whole rows: steps keep their dependence
        size = min(len(p) for p in parts)
        parts = [p[rng.permutation(len(p))[:size]] for p in parts]
    return PooledDemand(np.sum(parts, axis=0), joint_steps, assumption, chosen)


def _check_series(series: Sequence[int] | None, count: int) -> list[int]:
    """The positions to sum: all of ``range(count)`` or the valid given ones."""
    if series is None:
        chosen = list(range(count))
    else:
        chosen = [check_int("series position", i, low=0) for i in series]
        bad = [i for i in chosen if i >= count]
        if bad or len(set(chosen)) != len(chosen):
            raise ValueError(
                f"series must be distinct positions in 0..{count - 1}, got "
                f"{list(series)}."
            )
    if len(chosen) < 1:
        raise ValueError("series is empty; name at least one series to pool.")
    return chosen
