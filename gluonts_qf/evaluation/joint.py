"""Scores of joint forecasts: each series' horizon (or series) vector at once.

The energy score (Gneiting and Raftery, 2007), the variogram score (Scheuerer
and Hamill, 2015), the CRPS of the total over the horizon or the series
(CRPS-Sum), and the correlation matrices a forecast's samples imply between
horizon steps and between series. Pure functions of forecasts and observations.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch
from gluonts.model.forecast import Forecast

from ..distributions.energy import check_beta, energy_score_from_samples
from .scores import forecast_samples, sample_crps, target_window


def _observed(samples: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples (S, D) and y (D,) restricted to the finite coordinates of ``y``."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    x = np.asarray(samples, dtype=np.float64).reshape(-1, y.size)
    ok = np.isfinite(y)
    return x[:, ok], y[ok]


def sample_energy_score(samples: np.ndarray, y: np.ndarray, beta: float = 1.0) -> float:
    r"""Unbiased sample estimate of the energy score of one joint forecast.

    ``mean_i ||x_i - y||^b - sum_{i != j} ||x_i - x_j||^b / (2 S (S - 1))``,
    over the coordinates where ``y`` is finite (``nan`` when there are none).
    With one sample it is ``||x - y||^b``. A numpy front end to
    :func:`gluonts_qf.distributions.energy.energy_score_from_samples` (MQF2's
    training loss), computed in float64 on the observed coordinates only.

    Shapes: samples (S, D), y (D,) -> float.
    """
    beta = check_beta(beta)
    x, y = _observed(samples, y)
    if y.size == 0:
        return float("nan")
    if x.shape[0] == 1:  # two equal samples: no pair term, the same first term
        x = np.repeat(x, 2, axis=0)
    with torch.no_grad():
        score = energy_score_from_samples(
            torch.from_numpy(x), torch.from_numpy(y), beta
        )
    return float(score)


def sample_variogram_score(samples: np.ndarray, y: np.ndarray, p: float = 0.5) -> float:
    r"""Variogram score of order ``p`` of one joint forecast, unit weights.

    ``sum_{i < j} (|y_i - y_j|^p - mean_s |x_{s,i} - x_{s,j}|^p)^2`` over the
    pairs of coordinates where ``y`` is finite (0 with fewer than two). It
    rewards forecasts whose dependence between coordinates is right.

    Shapes: samples (S, D), y (D,) -> float.
    """
    if not p > 0:
        raise ValueError(f"p must be > 0, got {p!r}; the usual choice is 0.5.")
    x, y = _observed(samples, y)
    if y.size == 0:
        return float("nan")
    i, j = np.triu_indices(y.size, k=1)
    obs = np.abs(y[i] - y[j]) ** p  # (pairs,)
    expected = (np.abs(x[:, i] - x[:, j]) ** p).mean(0)  # (S, pairs) -> (pairs,)
    return float(np.sum((obs - expected) ** 2))


def _joint_scores(
    score, forecasts: Iterable[Forecast], series: Iterable, num_samples: int
) -> float:
    values = [
        score(forecast_samples(fc, num_samples), target_window(ts, fc))
        for fc, ts in zip(forecasts, series)
    ]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def energy_score(
    forecasts: Iterable[Forecast],
    series: Iterable[pd.DataFrame],
    beta: float = 1.0,
    num_samples: int = 100,
) -> float:
    """Mean over series of the energy score of each forecast's horizon vector.

    Each series' ``T`` test values are scored jointly against the forecast's
    samples (:func:`forecast_samples`, :func:`sample_energy_score`); series
    with no observed test value are skipped. In the data's units, so large
    series weigh more.
    """
    return _joint_scores(
        lambda x, y: sample_energy_score(x, y, beta), forecasts, series, num_samples
    )


def variogram_score(
    forecasts: Iterable[Forecast],
    series: Iterable[pd.DataFrame],
    p: float = 0.5,
    num_samples: int = 100,
) -> float:
    """Mean over series of the variogram score of order ``p`` of each horizon vector.

    See :func:`sample_variogram_score`; series with no observed test value are
    skipped.
    """
    return _joint_scores(
        lambda x, y: sample_variogram_score(x, y, p), forecasts, series, num_samples
    )


def sample_crps_sum(
    samples: np.ndarray, y: np.ndarray, axis: int | tuple[int, ...] = -1
) -> tuple[float, float]:
    r"""CRPS of the sum over ``axis``: ``(sum of CRPS, sum of |summed y|)``.

    The samples and the observation are summed over ``axis`` (the horizon of a
    univariate forecast, the series of a multivariate one) and the unbiased
    sample CRPS (:func:`sample_crps`) of the total is taken at every remaining
    coordinate. The two sums let :func:`crps_sum` weight them over series.

    Shapes: samples (S, *shape), y shape -> two floats. Coordinates where ``y``
    is missing are left out of the totals.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(samples, dtype=np.float64).reshape(-1, *y.shape)  # (S, *shape)
    axes = tuple(a % y.ndim for a in np.atleast_1d(axis))
    ok = np.isfinite(y)
    total_y = np.where(ok, y, 0.0).sum(axis=axes)  # shape without axes
    total_x = np.where(ok, x, 0.0).sum(axis=tuple(a + 1 for a in axes))
    crps = sample_crps(total_x, total_y)
    return float(np.sum(crps)), float(np.sum(np.abs(total_y)))


def crps_sum(
    forecasts: Iterable[Forecast],
    series: Iterable[pd.DataFrame],
    num_samples: int = 100,
) -> float:
    r"""CRPS-Sum (Kan et al., 2022; Rasul et al., 2021) of univariate forecasts.

    ``sum_i CRPS(F_i^sum, sum_t y_{i,t}) / sum_i |sum_t y_{i,t}|``: the CRPS
    of each series' total over the horizon, from the forecast's joint samples
    (:func:`forecast_samples`; independent steps for distribution forecasts,
    so the score sees whether the dependence between steps is right),
    weighted like ``wCRPS``. ``nan`` when every total is 0.

    Raises
    ------
    TypeError
        For forecasts without samples or a distribution (``QuantileForecast``).
    """
    num, den = 0.0, 0.0
    for fc, ts in zip(forecasts, series):
        crps, weight = sample_crps_sum(
            forecast_samples(fc, num_samples), target_window(ts, fc), axis=0
        )
        num, den = num + crps, den + weight
    return num / den if den > 0 else float("nan")


def horizon_correlation(
    forecasts: Iterable[Forecast], num_samples: int = 100
) -> np.ndarray:
    """Mean over forecasts of the correlation matrix between horizon steps.

    From each forecast's samples (:func:`forecast_samples`): the Pearson
    correlation of steps ``t`` and ``t'`` across samples, averaged over the
    forecasts where it is defined (steps with no spread are left out).
    Independent steps give about the identity; MQF2's joint samples show the
    learned dependence.

    Returns shape: (T, T); ``nan`` where no forecast had spread at both steps.
    """
    total, count = None, None
    for fc in forecasts:
        x = forecast_samples(fc, num_samples)  # (S, T)
        x = x - x.mean(axis=0)
        sd = np.sqrt((x**2).mean(axis=0))  # (T,)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (x.T @ x) / x.shape[0] / np.outer(sd, sd)  # (T, T)
        ok = np.isfinite(corr)
        if total is None:
            total, count = np.zeros_like(corr), np.zeros_like(corr)
        total += np.where(ok, corr, 0.0)
        count += ok
    if total is None:
        raise ValueError("horizon_correlation needs at least one forecast.")
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def series_correlation(forecasts: Iterable[Forecast]) -> np.ndarray:
    """Mean correlation between the series of multivariate sample forecasts.

    For each (S, T, M) forecast and step, the Pearson correlation of the
    ``M`` series across samples; averaged over steps and forecasts where it
    is defined (a series with no spread at a step is left out there).

    Returns shape: (M, M); ``nan`` where never defined.
    """
    total, count = None, None
    for fc in forecasts:
        x = np.asarray(fc.samples, dtype=np.float64)  # (S, T, M)
        if x.ndim != 3:
            raise ValueError(
                f"series_correlation needs (samples, time, series) samples, got "
                f"shape {x.shape}."
            )
        x = x - x.mean(axis=0)
        cov = np.einsum("stm,stn->tmn", x, x) / x.shape[0]  # (T, M, M)
        sd = np.sqrt(np.einsum("tmm->tm", cov))  # (T, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / (sd[:, :, None] * sd[:, None, :])
        ok = np.isfinite(corr)
        if total is None:
            total = np.zeros(corr.shape[1:])
            count = np.zeros(corr.shape[1:])
        total += np.where(ok, corr, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
    if total is None:
        raise ValueError("series_correlation needs at least one forecast.")
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
