"""The statistical forecasters a practitioner compares with, as GluonTS predictors.

statsforecast's ``AutoETS``, ``AutoTheta``, ``AutoARIMA``, ``AutoCES`` (complex
exponential smoothing), ``DynamicOptimizedTheta`` (the M4 benchmark's DOTM:
the one Theta model AutoTheta also chooses among), ``SeasonalNaive`` and
``RandomWalkWithDrift`` (the last value plus the average step) through GluonTS's
own wrappers (``gluonts.ext.statsforecast``), each with its
quantiles at the levels asked for, taken from its central prediction intervals
(the ``u`` and ``1 - u`` quantiles from the ``1 - 2u`` interval; the median is
its mean), at GluonTS's season for the frequency. Three things are added to
the wrappers: a context cap (the last ``max_context`` steps; AutoETS took 8
minutes on exchange_rate's 6,000-step series, and AutoARIMA's search grows
with the length), missing values filled from the last (or the first) observed
one (statsforecast takes none), non-decreasing quantiles, and the naive
forecast with its intervals for a series the model refuses (AutoETS raises on
series of a few steps). statsforecast is
the ``stats`` extra (``pip install 'gluonts-qf[stats]'``).
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Sequence

import numpy as np

#: Model names, their statsforecast class and default context cap.
MODELS = {
    "auto_ets": ("AutoETSPredictor", 2000),
    "auto_theta": ("AutoThetaPredictor", 2000),
    "auto_arima": ("AutoARIMAPredictor", 500),
    "auto_ces": ("AutoCESPredictor", 2000),
    "dynamic_theta": ("DynamicOptimizedThetaPredictor", 2000),
    "naive_intervals": ("SeasonalNaivePredictor", 2000),
    "drift": ("RandomWalkWithDriftPredictor", 2000),
}
#: Models without a season (the others take GluonTS's or the one given).
SEASONLESS = ("drift",)


def _filled(target: np.ndarray) -> np.ndarray:
    """Missing values from the last observed one (leading ones: the first)."""
    y = np.asarray(target, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.all():
        return y
    if not ok.any():
        return np.zeros_like(y)
    idx = np.where(ok, np.arange(len(y)), 0)
    np.maximum.accumulate(idx, out=idx)
    y = y[idx]
    first = np.flatnonzero(ok)[0]
    y[:first] = y[first]
    return y


def statistical_predictor(
    name: str,
    freq: str,
    prediction_length: int,
    levels: Sequence[float],
    max_context: Optional[int] = None,
    season_length: Optional[int] = None,
):
    """The GluonTS predictor of statsforecast model ``name`` (see :data:`MODELS`).

    Forecasts are ``QuantileForecast``s with keys ``mean`` and every level of
    ``levels`` (``0.5`` is the mean). ``ValueError`` naming the extra when
    statsforecast is missing, or for an unknown name.
    """
    if name not in MODELS:
        raise ValueError(
            f"unknown statistical model {name!r}; choose from {list(MODELS)}."
        )
    try:
        wrappers = importlib.import_module("gluonts.ext.statsforecast")
    except ImportError:
        raise ValueError(
            f"the statistical model {name} needs statsforecast: "
            "pip install 'gluonts-qf[stats]'."
        ) from None
    from gluonts.time_feature import get_seasonality

    base = getattr(wrappers, MODELS[name][0])
    cap = max_context or MODELS[name][1]
    season = (
        {}
        if name in SEASONLESS
        else {"season_length": season_length or get_seasonality(freq)}
    )
    tails = sorted({float(u) for u in levels if abs(float(u) - 0.5) > 1e-12})
    return _capped(base)(
        prediction_length=prediction_length,
        quantile_levels=tails,
        max_context=cap,
        **season,
    )


def _capped(base: type) -> type:
    """``base`` (a GluonTS statsforecast predictor) with the three additions."""

    class Capped(base):
        __doc__ = f"{base.__name__} on the last ``max_context`` steps, gaps filled."

        def __init__(self, prediction_length, quantile_levels, max_context, **params):
            super().__init__(
                prediction_length=prediction_length,
                quantile_levels=quantile_levels,
                **params,
            )
            self.max_context = max_context

        def _fallback(self):
            """The naive forecast with its intervals, for series the model refuses."""
            from gluonts.ext.statsforecast import NaivePredictor

            return NaivePredictor(
                prediction_length=self.prediction_length,
                quantile_levels=self.config.quantile_levels,
            )

        def predict_item(self, entry: dict[str, Any]):
            from gluonts.model.forecast import QuantileForecast

            target = np.asarray(entry["target"])
            cut = max(len(target) - self.max_context, 0)
            short = {
                **entry,
                "start": entry["start"] + cut,
                "target": _filled(target[cut:]),
            }
            try:
                fc = super().predict_item(short)
            except Exception:  # e.g. AutoETS's "tiny datasets" on 5 steps
                fc = self._fallback().predict_item(short)
            keys = fc.forecast_keys
            order = sorted(range(1, len(keys)), key=lambda i: float(keys[i]))
            mean = fc.forecast_array[0]
            levels = [float(keys[i]) for i in order]
            rows = [fc.forecast_array[i] for i in order]
            at = np.searchsorted(levels, 0.5)
            levels.insert(at, 0.5)
            rows.insert(at, mean)
            values = np.maximum.accumulate(np.nan_to_num(np.stack(rows)), axis=0)
            return QuantileForecast(
                forecast_arrays=np.concatenate([mean[None], values]),
                forecast_keys=["mean", *(f"{u:g}" for u in levels)],
                start_date=fc.start_date,
                item_id=fc.item_id,
                info=fc.info,
            )

    Capped.__name__ = base.__name__
    Capped.__qualname__ = base.__qualname__
    return Capped
