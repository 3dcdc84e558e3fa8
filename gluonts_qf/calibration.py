"""Recalibration of quantile-function forecasts by a monotone map of the levels.

A forecast with CDF ``F`` is calibrated when its probability integral transform
``PIT = F(y)`` is uniform. Given PIT values of held-back observations, with
empirical CDF ``G``, the forecast ``F' = G o F`` is calibrated on those data; its
quantile function is ``Q'(u) = Q(m(u))`` with ``m = G^{-1}``, the empirical
quantile function of the PIT values (Kuleshov et al., 2018, "Accurate
Uncertainties for Deep Learning Using Calibrated Regression"). ``m`` here is
piecewise linear through ``(0, 0)``, the knots ``(u_j, m_j)`` and ``(1, 1)``,
with ``m_j`` strictly increasing, so ``Q'`` is exact (one call of the IQF's
closed-form quantile function), monotone and never crosses.

:class:`CalibratedIQF` is an :class:`~gluonts_qf.distributions.IQF` whose levels
go through the map; :class:`CalibratedIQFOutput` builds it (and serialises the
map with the predictor); :func:`fit_level_map` fits the map to PIT values and
:func:`recalibrate` fits one for a trained IQF predictor on held-back data.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from gluonts.core.component import validated

from .distributions.iqf import IQF, IQFOutput
from .evaluation.scores import DEFAULT_QUANTILES

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


def fit_level_map(
    pit: np.ndarray,
    levels: Sequence[float] = MAP_LEVELS,
    prior_weight: float = PRIOR_WEIGHT,
    min_gap: float = 1e-4,
) -> Tuple[List[float], List[float]]:
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


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of increasing ``(xp, fp)``, any shape of ``x``."""
    idx = torch.searchsorted(xp, x.contiguous().clamp(xp[0], xp[-1]), right=True)
    idx = idx.clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[idx - 1], xp[idx], fp[idx - 1], fp[idx]
    t = (x - x0) / (x1 - x0)
    return f0 + t * (f1 - f0)


class LevelMap:
    """Monotone piecewise-linear map ``[0, 1] -> [0, 1]`` through the knots.

    ``m(0) = 0``, ``m(1) = 1``; ``inverse`` is its exact inverse.
    """

    def __init__(self, levels: Sequence[float], values: Sequence[float]) -> None:
        x = np.concatenate([[0.0], np.asarray(levels, float), [1.0]])
        y = np.concatenate([[0.0], np.asarray(values, float), [1.0]])
        if np.any(np.diff(x) <= 0) or np.any(np.diff(y) <= 0):
            raise ValueError(
                "level map knots must be strictly increasing inside (0, 1), got "
                f"levels={list(levels)}, values={list(values)}; fit them with "
                "fit_level_map."
            )
        self.x, self.y = torch.tensor(x), torch.tensor(y)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.as_tensor(u)
        return _interp(u, self.x.to(u), self.y.to(u))

    def inverse(self, p: torch.Tensor) -> torch.Tensor:
        p = torch.as_tensor(p)
        return _interp(p, self.y.to(p), self.x.to(p))


class CalibratedIQF(IQF):
    """An IQF read through a level map: ``Q'(u) = Q(m(u))``, ``F'(y) = m^{-1}(F(y))``.

    Quantiles and the CDF are exact; ``crps``, ``mean`` and ``variance`` use a
    midpoint rule over ``num_levels`` levels (no closed form through the map);
    ``log_prob`` is not available.
    """

    num_levels = 512

    def __init__(self, level_map: LevelMap, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.level_map = level_map

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(value).to(self.knot_values)
        return super().icdf(self.level_map(value))

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        return self.level_map.inverse(super().cdf(value))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("CalibratedIQF has no density; use crps or cdf.")

    def _grid(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Midpoint levels (M,) and the quantiles there, shape: (M, *batch_shape)."""
        M = self.num_levels
        u = (torch.arange(M, dtype=self.knot_values.dtype) + 0.5) / M
        u = u.to(self.knot_values.device)
        q = self.icdf(u.reshape(-1, *([1] * len(self.batch_shape))))
        return u, q.expand(M, *self.batch_shape)

    def crps(self, value: torch.Tensor) -> torch.Tensor:
        """``2 * integral_0^1 rho_u(y - Q'(u)) du`` by the midpoint rule."""
        u, q = self._grid()
        u = u.reshape(-1, *([1] * len(self.batch_shape)))
        err = torch.as_tensor(value).to(q) - q
        return 2 * (err * (u - (err < 0).to(q))).mean(0)

    @property
    def mean(self) -> torch.Tensor:
        return self._grid()[1].mean(0)

    @property
    def variance(self) -> torch.Tensor:
        return self._grid()[1].var(0, unbiased=False)


class CalibratedIQFOutput(IQFOutput):
    """:class:`~gluonts_qf.IQFOutput` whose distributions go through a level map.

    Parameters
    ----------
    knot_levels, num_pieces, tol
        As in :class:`~gluonts_qf.IQFOutput`.
    map_levels, map_values
        Knots of the level map (from :func:`fit_level_map`); equal lists are
        the identity.
    """

    @validated()
    def __init__(
        self,
        knot_levels: Sequence[float] = (0.1, 0.5, 0.9),
        num_pieces: int = 1,
        tol: float = 1e-4,
        map_levels: Sequence[float] = (0.5,),
        map_values: Sequence[float] = (0.5,),
    ) -> None:
        super().__init__(knot_levels=knot_levels, num_pieces=num_pieces, tol=tol)
        self.map_levels = [float(u) for u in map_levels]
        self.map_values = [float(v) for v in map_values]
        self.level_map = LevelMap(self.map_levels, self.map_values)

    def distribution(self, distr_args, loc=None, scale=None) -> CalibratedIQF:
        base = super().distribution(distr_args, loc=loc, scale=scale)
        return CalibratedIQF(
            self.level_map,
            base.knot_levels,
            base.knot_values,
            base.beta_l,
            base.beta_r,
            base.level_shares,
            base.value_shares,
            loc,
            scale,
        )


def pit_values(
    predictor, past: Sequence[dict], future: Sequence[np.ndarray]
) -> np.ndarray:
    """PIT ``F(y)`` of each held-back value; ``future[i]`` follows ``past[i]``.

    Returns shape: (N, T) (NaN where the value is missing).
    """
    out = []
    with torch.no_grad():
        for fc, y in zip(predictor.predict(past), future):
            y = torch.as_tensor(np.asarray(y, dtype=float))
            p = fc.distribution.cdf(y.to(fc.distribution.knot_values))
            out.append(torch.where(torch.isfinite(y), p.double(), torch.nan).numpy())
    return np.stack(out) if out else np.zeros((0, 0))


def with_map(dist: IQF, level_map: LevelMap) -> CalibratedIQF:
    """The IQF ``dist`` read through ``level_map``."""
    return CalibratedIQF(
        level_map,
        dist.knot_levels,
        dist.knot_values,
        dist.beta_l,
        dist.beta_r,
        dist.level_shares,
        dist.value_shares,
        dist.loc,
        dist.scale,
    )


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


def weighted_quantile_loss(
    dists: Sequence[IQF],
    future: Sequence[np.ndarray],
    level_map: Optional[LevelMap] = None,
    levels: Sequence[float] = DEFAULT_QUANTILES,
) -> float:
    """Mean weighted quantile loss (GluonTS's mean wQL) of the forecasts."""
    u = torch.tensor(levels, dtype=torch.float64)
    loss = total = 0.0
    with torch.no_grad():
        for dist, y in zip(dists, future):
            d = dist if level_map is None else with_map(dist, level_map)
            y = torch.as_tensor(np.asarray(y, dtype=float))
            ok = torch.isfinite(y)
            q = d.icdf(u.reshape(-1, 1).to(d.knot_values)).double()  # (L, T)
            err = torch.where(ok, y, 0.0) - q
            pin = 2 * err * (u.reshape(-1, 1) - (err < 0).double())
            loss += float((pin * ok).sum() / len(levels))
            total += float(torch.where(ok, y, 0.0).abs().sum())
    return loss / max(total, 1e-12)


def _forecast(predictor, past):
    with torch.no_grad():
        return [fc.distribution for fc in predictor.predict(past)]


def _pit(dists, future) -> np.ndarray:
    out = []
    with torch.no_grad():
        for dist, y in zip(dists, future):
            y = torch.as_tensor(np.asarray(y, dtype=float))
            p = dist.cdf(torch.where(torch.isfinite(y), y, 0.0).to(dist.knot_values))
            out.append(torch.where(torch.isfinite(y), p.double(), torch.nan).numpy())
    return np.concatenate([o.ravel() for o in out]) if out else np.zeros(0)


#: Fewest series ``auto_recalibrate`` checks a map on: with few (and usually
#: correlated) series one held-back horizon says little (exchange_rate, 8 series:
#: the check passed and the map raised the test wQL from 0.0073 to 0.0102).
MIN_SERIES = 50


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
    dists_a, dists_b = _forecast(predictor, past_a), _forecast(predictor, past_b)
    pit_a, pit_b = _pit(dists_a, fut_a), _pit(dists_b, fut_b)
    check = LevelMap(*fit_level_map(pit_b))
    before = weighted_quantile_loss(dists_a, fut_a)
    after = weighted_quantile_loss(dists_a, fut_a, check)
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


#: Levels the ``"tails"`` recalibration leaves alone: the body of the
#: distribution, where GluonTS's mean wQL is scored.
BODY = (0.1, 0.9)


def widen_tails(
    levels: Sequence[float], values: Sequence[float], body: Tuple[float, float] = BODY
) -> Tuple[List[float], List[float]]:
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
            pits.append(_pit(_forecast(predictor, past), future))
    pit = np.concatenate(pits) if pits else np.zeros(0)
    if not np.isfinite(pit).any():
        return predictor, {"used": False, "reason": "no series long enough"}
    levels, values = widen_tails(*fit_level_map(pit))
    predictor, knots = install_map(predictor, levels, values)
    return predictor, {"used": True, "levels": knots[0], "values": knots[1]}


def install_map(predictor, levels, values):
    """A copy of an IQF ``predictor`` whose forecasts go through the level map."""
    from gluonts.model.forecast_generator import DistributionForecastGenerator

    out = predictor.forecast_generator.distr_output
    generator = DistributionForecastGenerator(
        CalibratedIQFOutput(
            knot_levels=out.knot_levels,
            num_pieces=out.num_pieces,
            tol=out.tol,
            map_levels=levels,
            map_values=values,
        )
    )
    # a new predictor: serialisation writes the constructor's arguments
    args = {**predictor.__init_args__, "forecast_generator": generator}
    return type(predictor)(**args), (list(levels), list(values))


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


def recalibrate(
    predictor, past: Sequence[dict], future: Sequence[np.ndarray]
) -> Tuple[object, Optional[Tuple[List[float], List[float]]]]:
    """Fit the level map of an IQF ``predictor`` on held-back data.

    Returns ``(predictor, knots)``: a copy of the predictor whose forecast
    generator uses a :class:`CalibratedIQFOutput` (so ``serialize`` saves the
    map), or the predictor itself and ``None`` when there is nothing to fit on.
    """
    if not past:
        return predictor, None
    return install_map(predictor, *fit_level_map(pit_values(predictor, past, future)))
