"""Fitting the level map of a trained IQF predictor (``IQFEstimator(calibration=...)``).

The map and the calibrated distribution are
:class:`~gluonts_qf.distributions.calibrated.LevelMap` and
:class:`~gluonts_qf.distributions.calibrated.CalibratedIQF`. Here:
:func:`fit_level_map` fits the map's knots to PIT values; :func:`recalibrate`
fits it on held-back data (``"holdout"``, ``"insample"``),
:func:`auto_recalibrate` keeps it only where it helps out of sample on the
training data (``"auto"``) and :func:`recalibrate_tails` keeps only its
widening of the tails (``"tails"``). Each returns a new predictor whose
forecast generator reads the trained head through the map
(:func:`install_map`), so ``serialize`` saves the map with it.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...distributions.calibrated import CalibratedIQFOutput, LevelMap, with_map
from ...distributions.iqf import IQF
from ...evaluation.scores import DEFAULT_QUANTILES, weighted_quantile_loss

#: Levels at which the map is fitted (its knots).
MAP_LEVELS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.98,
    0.99,
)
#: Pseudo-observations of a calibrated forecast the fit is shrunk towards.
PRIOR_WEIGHT = 20.0
#: Fewest series ``auto_recalibrate`` checks a map on: with few (and usually
#: correlated) series one held-back horizon says little (exchange_rate, 8 series:
#: the check passed and the map raised the test wQL from 0.0073 to 0.0102).
MIN_SERIES = 50
#: Levels the ``"tails"`` recalibration leaves alone: the body of the
#: distribution, where GluonTS's mean wQL is scored.
BODY = (0.1, 0.9)

Knots = Tuple[List[float], List[float]]


def fit_level_map(
    pit: np.ndarray,
    levels: Sequence[float] = MAP_LEVELS,
    prior_weight: float = PRIOR_WEIGHT,
    min_gap: float = 1e-4,
) -> Knots:
    """Knots ``(u_j, m_j)`` of the level map from PIT values.

    ``m_j`` is the empirical ``u_j``-quantile of the (finite) PIT values, shrunk
    towards ``u_j`` with weight ``prior_weight / (n + prior_weight)``, then made
    strictly increasing (gaps of at least ``min_gap``) inside (0, 1).
    Returns ``(levels, values)`` as lists.
    """
    u = np.asarray(levels, dtype=float)
    pit = np.asarray(pit, dtype=float).ravel()
    pit = pit[np.isfinite(pit)]
    if pit.size == 0:
        return u.tolist(), u.tolist()
    w = pit.size / (pit.size + prior_weight)
    m = w * np.quantile(np.clip(pit, 0.0, 1.0), u) + (1 - w) * u
    m = np.clip(m, min_gap, 1 - min_gap * (len(u) + 1))
    for j in range(1, len(m)):  # strictly increasing, left to right
        m[j] = max(m[j], m[j - 1] + min_gap)
    return u.tolist(), m.tolist()


def forecast_distributions(predictor, past: Sequence[dict]) -> List[IQF]:
    """The IQF forecast of each series in ``past`` (one per entry)."""
    with torch.no_grad():
        return [fc.distribution for fc in predictor.predict(past)]


def pit(dists: Sequence[IQF], future: Sequence[np.ndarray]) -> np.ndarray:
    """PIT ``F(y)`` of every held-back value, flattened (NaN where ``y`` is missing).

    ``future[i]`` holds the values that follow ``dists[i]``'s history, shape (T,).
    """
    out = []
    with torch.no_grad():
        for dist, y in zip(dists, future):
            y = torch.as_tensor(np.asarray(y, dtype=float))
            ok = torch.isfinite(y)
            p = dist.cdf(torch.where(ok, y, 0.0).to(dist.knot_values))
            out.append(torch.where(ok, p.double(), torch.nan).numpy().ravel())
    return np.concatenate(out) if out else np.zeros(0)


def mean_wql(
    dists: Sequence[IQF],
    future: Sequence[np.ndarray],
    level_map: Optional[LevelMap] = None,
) -> float:
    """GluonTS's mean wQL of the forecasts (through ``level_map`` if given)."""
    quantiles = []
    with torch.no_grad():
        for dist in dists:
            d = dist if level_map is None else with_map(dist, level_map)
            quantiles.append(d.quantile(DEFAULT_QUANTILES).double().numpy().T)
    return weighted_quantile_loss(quantiles, future, DEFAULT_QUANTILES)


def window_split(data, prediction_length: int, window: int, min_past: int = 1):
    """``(past, future)`` of the ``window``-th last horizon (1: the last) of
    each series with more than ``window * prediction_length + min_past`` steps."""
    H, past, future = prediction_length, [], []
    for entry in data:
        target = np.asarray(entry["target"])
        n = target.shape[-1]
        if n > window * H + min_past:
            end = n - (window - 1) * H
            past.append({**entry, "target": target[..., : end - H]})
            future.append(target[..., end - H : end])
    return past, future


def holdout_split(
    data, prediction_length: int, min_past: int = 1
) -> Tuple[List[dict], List[dict], List[np.ndarray]]:
    """``(train, past, future)``: every series without its last horizon, and the
    held-back horizons with their pasts (series with more than
    ``prediction_length + min_past`` steps); other series are kept whole in ``train``.
    """
    train, past, future = [], [], []
    for entry in data:
        target = np.asarray(entry["target"])
        if target.shape[-1] > prediction_length + min_past:
            head = {**entry, "target": target[..., :-prediction_length]}
            train.append(head)
            past.append(head)
            future.append(target[..., -prediction_length:])
        else:
            train.append(entry)
    return train, past, future


def install_map(predictor, levels: Sequence[float], values: Sequence[float]):
    """``(predictor, knots)``: a copy of an IQF ``predictor`` whose forecasts go
    through the level map with these knots."""
    from gluonts.model.forecast_generator import DistributionForecastGenerator

    head = predictor.forecast_generator.distr_output
    generator = DistributionForecastGenerator(
        CalibratedIQFOutput(head, map_levels=levels, map_values=values)
    )
    # a new predictor: serialisation writes the constructor's arguments
    args = {**predictor.__init_args__, "forecast_generator": generator}
    return type(predictor)(**args), (list(levels), list(values))


def recalibrate(
    predictor, past: Sequence[dict], future: Sequence[np.ndarray]
) -> Tuple[object, Optional[Knots]]:
    """Fit the level map of an IQF ``predictor`` on held-back data.

    Returns ``(predictor, knots)``: a copy of the predictor whose forecast
    generator uses a :class:`CalibratedIQFOutput` (so ``serialize`` saves the
    map), or the predictor itself and ``None`` when there is nothing to fit on.
    """
    if not past:
        return predictor, None
    dists = forecast_distributions(predictor, past)
    return install_map(predictor, *fit_level_map(pit(dists, future)))


def auto_recalibrate(
    predictor,
    data,
    prediction_length: int,
    margin: float = 0.01,
    min_series: int = MIN_SERIES,
):
    """Recalibrate only where it helps out of sample on the training data.

    Fits the level map on the PIT of the second-last horizon of each training
    series and scores it on the last horizon: only when the mean wQL there
    drops by more than ``margin`` (relative) is a map, fitted on both horizons,
    installed; never with fewer than ``min_series`` series long enough.
    Returns ``(predictor, info)`` with the two scores.
    """
    windows = [window_split(data, prediction_length, w) for w in (1, 2)]
    if min(len(past) for past, _ in windows) < min_series:
        return predictor, {"used": False, "reason": f"fewer than {min_series} series"}
    (past_a, fut_a), (past_b, fut_b) = windows
    dists_a = forecast_distributions(predictor, past_a)
    dists_b = forecast_distributions(predictor, past_b)
    pit_a, pit_b = pit(dists_a, fut_a), pit(dists_b, fut_b)
    check = LevelMap(*fit_level_map(pit_b))
    before = mean_wql(dists_a, fut_a)
    after = mean_wql(dists_a, fut_a, check)
    info = {
        "used": after < (1 - margin) * before,
        "wql_before": before,
        "wql_after": after,
    }
    if not info["used"]:
        return predictor, info
    predictor, knots = install_map(predictor, *fit_level_map(np.r_[pit_a, pit_b]))
    info["levels"], info["values"] = knots
    return predictor, info


def widen_tails(
    levels: Sequence[float], values: Sequence[float], body: Tuple[float, float] = BODY
) -> Knots:
    """Keep only the part of a level map that widens the tails.

    ``m(u) = u`` on ``body``; below it ``m(u) = min(m(u), u)`` and above it
    ``m(u) = max(m(u), u)``, so the quantiles in ``body`` are unchanged and
    those outside move outwards or stay. The knots stay strictly increasing
    (the minimum, or maximum, of two strictly increasing sequences is).
    """
    lo, hi = body
    out = []
    for u, m in zip(levels, values):
        if u < lo:
            m = min(m, u)
        elif u > hi:
            m = max(m, u)
        else:
            m = u
        out.append(float(m))
    return list(levels), out


def recalibrate_tails(predictor, data, prediction_length: int, windows: int = 2):
    """Widen the tails of an IQF ``predictor`` where the training data say so.

    The PIT of the last ``windows`` horizons of each training series (seen in
    training, so if anything they understate how far outcomes stray) gives a
    level map (:func:`fit_level_map`), of which only the widening of the
    levels outside :data:`BODY` is kept (:func:`widen_tails`): quantiles in
    ``[0.1, 0.9]`` are exactly those of the trained model. Returns
    ``(predictor, info)``; no map when no series is long enough.
    """
    pits = []
    for w in range(1, windows + 1):
        past, future = window_split(data, prediction_length, w)
        if past:
            pits.append(pit(forecast_distributions(predictor, past), future))
    values = np.concatenate(pits) if pits else np.zeros(0)
    if not np.isfinite(values).any():
        return predictor, {"used": False, "reason": "no series long enough"}
    levels, mapped = widen_tails(*fit_level_map(values))
    predictor, knots = install_map(predictor, levels, mapped)
    return predictor, {"used": True, "levels": knots[0], "values": knots[1]}
