"""Marginal forecast scores beyond GluonTS's ``Evaluator``, one forecast or a list.

Quantiles of a forecast (exact for IQF), the crossing rate, the weighted
quantile loss, the CRPS (closed form or the unbiased sample estimator) and its
weighted sum. Pure functions of forecasts and observations; the scores of joint
forecasts are in :mod:`gluonts_qf.evaluation.joint`, and
:mod:`gluonts_qf.evaluation.backtest` runs the forecasts and collects both
beside GluonTS's own metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from gluonts.model.forecast import Forecast, SampleForecast

from ..checks import check_levels
from ..distributions.iqf import IQF

#: Quantile levels of the quantile losses, coverages and crossing rate.
DEFAULT_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def forecast_quantiles(forecast: Forecast, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of one forecast at ``levels`` (in the order given).

    A distribution forecast of an :class:`~gluonts_qf.distributions.IQF` is
    evaluated exactly, all levels in one call; any other forecast goes
    through ``forecast.quantile`` per level.

    Returns shape: (L, T) for a univariate forecast (L levels, T steps).
    """
    dist = getattr(forecast, "distribution", None)
    if isinstance(dist, IQF):
        with torch.no_grad():
            q = dist.quantile(list(levels))  # (T, L)
        return np.moveaxis(q.detach().cpu().numpy(), -1, 0)  # (T, L) -> (L, T)
    return np.stack([np.asarray(forecast.quantile(float(u))) for u in levels])


def crossing_rate(
    forecasts: Iterable[Forecast], levels: Sequence[float] = DEFAULT_QUANTILES
) -> float:
    """Fraction of (series, step) pairs whose quantiles cross.

    For each forecast and horizon step, the quantiles at the sorted ``levels``
    should be non-decreasing; a pair counts as crossing when any consecutive
    difference is negative.

    Parameters
    ----------
    forecasts
        GluonTS forecasts (any kind with ``quantile``).
    levels
        Quantile levels in (0, 1); sorted here, at least two needed to cross.

    Returns
    -------
    float
        Crossing pairs over all pairs, in [0, 1]; ``nan`` without forecasts.
    """
    lv = np.sort(check_levels(levels))
    crossed, total = 0, 0
    for forecast in forecasts:
        q = forecast_quantiles(forecast, lv)  # (L, T)
        bad = np.any(np.diff(q, axis=0) < 0, axis=0)  # (T,)
        crossed += int(np.count_nonzero(bad))
        total += bad.size
    return crossed / total if total else float("nan")


#: Levels at which a forecast's left and right limits of the CDF at a tied
#: outcome are read when the forecast has no ``cdf`` (a grid of step 0.005).
TIE_GRID = np.linspace(0.005, 0.995, 199)


def pit_coverage(
    forecasts: Iterable[Forecast],
    series: Iterable[pd.DataFrame | pd.Series],
    levels: Sequence[float] = DEFAULT_QUANTILES,
) -> np.ndarray:
    """Share of outcomes at or below each quantile, ties split by the randomized PIT.

    GluonTS's ``Coverage[u]`` counts ``y <= q(u)``. Where the forecast has a
    point mass (a :class:`~gluonts_qf.distributions.CensoredIQF` at its
    bound, a count forecast) and the outcome sits on it, ``y == q(u)`` for
    every level below the mass, and that count calls the outcome covered by
    them all: a calibrated censored forecast of data that are mostly 0 shows
    ``Coverage[0.01]`` near 1 and a "98% interval" holding almost nothing.
    Here an outcome is counted by its randomized PIT ``V ~ U(F(y-), F(y))``
    (Czado, Gneiting and Held, 2009), which is uniform for a calibrated
    forecast, atoms or not: ``1`` where ``y < q(u)``, ``0`` where ``y > q(u)``
    and ``P(V <= u) = (u - F(y-)) / (F(y) - F(y-))`` (clipped to [0, 1]) on
    a tie. ``F(y)`` is the forecast distribution's ``cdf`` where it has one,
    otherwise (like ``F(y-)``) read off its quantiles at :data:`TIE_GRID`.
    Without ties this is GluonTS's coverage exactly.

    Parameters
    ----------
    forecasts
        GluonTS forecasts (univariate, any kind with ``quantile``).
    series
        The true series, one per forecast (as ``make_evaluation_predictions``
        gives them).
    levels
        Quantile levels in (0, 1).

    Returns
    -------
    np.ndarray
        Shape (L,): the mean over every finite (series, step) outcome, in the
        order of ``levels``; ``nan`` without any.
    """
    lv = check_levels(levels)
    total, count = np.zeros(len(lv)), 0
    for forecast, ts in zip(forecasts, series):
        y = target_window(ts, forecast)
        q = forecast_quantiles(forecast, lv)  # (L, T)
        ok = np.isfinite(y)
        covered = (y < q).astype(np.float64)
        tie = (y == q) & ok
        if tie.any():
            grid = forecast_quantiles(forecast, TIE_GRID)  # (G, T)
            g = TIE_GRID[:, None]
            left = np.where(grid < y, g, 0.0).max(0)  # F(y-)
            right = np.where(grid > y, g, 1.0).min(0)  # F(y)
            dist = getattr(forecast, "distribution", None)
            try:  # the exact F(y) where the distribution has a cdf
                with torch.no_grad():
                    value = torch.as_tensor(np.where(ok, y, 0.0), dtype=torch.float32)
                    right = dist.cdf(value).double().cpu().numpy()
            except (AttributeError, NotImplementedError, RuntimeError, ValueError):
                pass
            share = (lv[:, None] - left) / np.maximum(right - left, 1e-12)
            covered = np.where(tie, np.clip(share, 0.0, 1.0), covered)
        total += (covered * ok).sum(-1)
        count += int(ok.sum())
    return total / count if count else np.full(len(lv), np.nan)


def weighted_quantile_loss(
    quantiles: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    levels: Sequence[float] = DEFAULT_QUANTILES,
) -> float:
    """GluonTS's mean weighted quantile loss of quantile forecasts.

    ``mean_u [sum_{i,t} 2 rho_u(y_it - q_it(u)) / sum_{i,t} |y_it|]`` with the
    pinball loss ``rho_u(e) = e (u - 1[e < 0])``, over the finite observations
    (as ``Evaluator``'s ``mean_wQuantileLoss``, whose levels share one
    denominator).

    Shapes: ``quantiles[i]`` (L, T) at ``levels`` (L,), ``targets[i]`` (T,).
    """
    u = np.asarray(levels, dtype=np.float64).reshape(-1, 1)
    loss = total = 0.0
    for q, y in zip(quantiles, targets):
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(y)
        err = np.where(ok, y, 0.0) - np.asarray(q, dtype=np.float64)  # (L, T)
        pin = 2 * err * (u - (err < 0))
        loss += float((pin * ok).sum() / len(u))
        total += float(np.abs(np.where(ok, y, 0.0)).sum())
    return loss / max(total, 1e-12)


def sample_crps(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""Unbiased sample estimate of CRPS, per step.

    ``mean_i |x_i - y| - sum_{i != j} |x_i - x_j| / (2 S (S - 1))``, the
    pairwise sum taken in ``O(S log S)`` from the sorted samples. With a single
    sample the forecast is a point mass and the CRPS is ``|x - y|``.

    Parameters
    ----------
    samples
        shape: (S, *shape).
    y
        Observations, shape: shape.

    Returns shape: shape.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)  # (S, *shape)
    s = x.shape[0]
    spread_to_y = np.abs(x - np.asarray(y, dtype=np.float64)).mean(axis=0)
    if s < 2:
        return spread_to_y
    # sum_{i<j} (x_(j) - x_(i)) = sum_k (2k - S + 1) x_(k), k = 0..S-1
    weights = (2 * np.arange(s) - s + 1).reshape(-1, *([1] * (x.ndim - 1)))
    pair_sum = (weights * x).sum(axis=0)
    return spread_to_y - pair_sum / (s * (s - 1))


def forecast_crps(
    forecast: Forecast, y: np.ndarray, num_samples: int = 1000
) -> np.ndarray:
    """CRPS of one forecast at the observations ``y``, per step.

    Exact for distribution forecasts whose distribution has ``crps`` (IQF);
    the unbiased sample estimator for ``SampleForecast``, and for other
    distribution forecasts (e.g. Student's t) after drawing ``num_samples``
    samples. Missing observations (``nan``) give ``nan``.

    Returns shape: (T,) (like ``y``).

    Raises
    ------
    TypeError
        For forecasts with neither samples nor a distribution (e.g.
        ``QuantileForecast``).
    """
    y = np.asarray(y, dtype=np.float64)
    missing = ~np.isfinite(y)
    y_filled = np.where(missing, 0.0, y)
    dist = getattr(forecast, "distribution", None)
    if dist is not None and hasattr(dist, "crps"):
        with torch.no_grad():  # the distribution casts y to its dtype and device
            value = dist.crps(torch.as_tensor(y_filled))
        out = value.detach().cpu().numpy().astype(np.float64)
    elif isinstance(forecast, SampleForecast):
        out = sample_crps(forecast.samples, y_filled)
    elif dist is not None and hasattr(forecast, "to_sample_forecast"):
        samples = forecast.to_sample_forecast(num_samples).samples
        out = sample_crps(samples, y_filled)
    else:
        raise TypeError(
            f"CRPS needs a distribution forecast with .crps or a SampleForecast, "
            f"got {type(forecast).__name__}; convert with to_sample_forecast()."
        )
    return np.where(missing, np.nan, out)


def weighted_crps(
    forecasts: Iterable[Forecast],
    series: Iterable[pd.DataFrame],
    num_samples: int = 1000,
) -> float:
    """Weighted CRPS: sum of CRPS over series and steps divided by sum of ``|y|``.

    Parameters
    ----------
    forecasts
        Forecasts of the test windows.
    series
        The matching true series (as yielded by ``make_evaluation_predictions``),
        indexed by period; only the forecast's steps are scored.
    num_samples
        Samples drawn from distribution forecasts without a closed-form CRPS.

    Raises
    ------
    TypeError
        For forecasts whose CRPS cannot be computed (see :func:`forecast_crps`).
    """
    num, den = 0.0, 0.0
    for forecast, ts in zip(forecasts, series):
        y = target_window(ts, forecast)
        crps = forecast_crps(forecast, y, num_samples)
        ok = np.isfinite(y)
        num += float(np.sum(crps[ok]))
        den += float(np.sum(np.abs(y[ok])))
    return num / den if den > 0 else float("nan")


def target_window(ts: pd.DataFrame | pd.Series, forecast: Forecast) -> np.ndarray:
    """The observations of ``ts`` on the forecast's steps.

    Returns shape: (T,) for a univariate series, (T, M) for a frame of ``M``
    series (a multivariate forecast's target).
    """
    values = ts.loc[forecast.index]
    values = np.asarray(values, dtype=np.float64).reshape(len(forecast.index), -1)
    return values[:, 0] if values.shape[1] == 1 else values


def forecast_samples(forecast: Forecast, num_samples: int = 100) -> np.ndarray:
    """Joint samples of one forecast's horizon, shape: (S, T).

    A ``SampleForecast`` gives its own samples (jointly drawn for MQF2); a
    distribution forecast (e.g. IQF, whose steps are independent) draws
    ``num_samples`` through ``to_sample_forecast``.

    Raises
    ------
    TypeError
        For forecasts with neither samples nor a distribution (``QuantileForecast``).
    """
    if isinstance(forecast, SampleForecast):
        return np.asarray(forecast.samples, dtype=np.float64)
    if getattr(forecast, "distribution", None) is not None and hasattr(
        forecast, "to_sample_forecast"
    ):
        samples = forecast.to_sample_forecast(num_samples).samples
        return np.asarray(samples, dtype=np.float64)
    raise TypeError(
        f"joint scores need samples or a distribution, got {type(forecast).__name__}."
    )
