"""An IQF read through a monotone map of its levels: a recalibrated forecast.

A forecast with CDF ``F`` is calibrated when its probability integral transform
``PIT = F(y)`` is uniform. Given PIT values of held-back observations, with
empirical CDF ``G``, the forecast ``F' = G o F`` is calibrated on those data; its
quantile function is ``Q'(u) = Q(m(u))`` with ``m = G^{-1}``, the empirical
quantile function of the PIT values (Kuleshov et al., 2018, "Accurate
Uncertainties for Deep Learning Using Calibrated Regression"). ``m`` here is
piecewise linear through ``(0, 0)``, the knots ``(u_j, m_j)`` and ``(1, 1)``,
with ``m_j`` strictly increasing, so ``Q'`` is exact (one call of the IQF's
closed-form quantile function), monotone and never crosses.

:class:`LevelMap` is the map, :class:`CalibratedIQF` an IQF read through it and
:class:`CalibratedIQFOutput` the ``DistributionOutput`` that builds it from any
:class:`~gluonts_qf.IQFOutput` (whose settings it takes whole) and serialises
the map with the predictor. The fitting procedures live beside the IQF model,
in :mod:`gluonts_qf.model.iqf.calibration`.
"""

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from gluonts.core.component import validated
from gluonts.torch.distributions import DistributionOutput

from .iqf import IQF, IQFOutput


def interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
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
                "gluonts_qf.model.iqf.calibration.fit_level_map."
            )
        self.x, self.y = torch.tensor(x), torch.tensor(y)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        u = torch.as_tensor(u)
        return interp(u, self.x.to(u), self.y.to(u))

    def inverse(self, p: torch.Tensor) -> torch.Tensor:
        p = torch.as_tensor(p)
        return interp(p, self.y.to(p), self.x.to(p))


class CalibratedIQF(IQF):
    """An IQF read through a level map: ``Q'(u) = Q(m(u))``, ``F'(y) = m^{-1}(F(y))``.

    Quantiles and the CDF are exact; ``crps``, ``mean`` and ``variance`` use a
    midpoint rule over ``num_levels`` levels (no closed form through the map);
    ``log_prob`` is not available.

    Parameters
    ----------
    level_map
        The map ``m``.
    **params
        The IQF's parameters (see :class:`~gluonts_qf.distributions.IQF`).
    """

    num_levels = 512

    def __init__(self, level_map: LevelMap, **params) -> None:
        super().__init__(**params)
        self.level_map = level_map

    def replace(self, **params) -> "CalibratedIQF":
        args = {**self.params(), **params}
        return CalibratedIQF(self.level_map, **args, validate_args=self._validate_args)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(value).to(self.knot_values)
        self._validate_levels(value)
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


def with_map(dist: IQF, level_map: LevelMap) -> CalibratedIQF:
    """The IQF ``dist`` read through ``level_map``."""
    return CalibratedIQF(level_map, **dist.params())


class CalibratedIQFOutput(DistributionOutput):
    """An IQF head whose distributions go through a level map.

    Everything but the distribution it builds is ``distr_output``'s (the
    arguments it projects, their domain, the loss), so every setting of the
    head is kept as it was trained.

    Parameters
    ----------
    distr_output
        The trained head, an :class:`~gluonts_qf.IQFOutput`.
    map_levels, map_values
        Knots of the level map (from
        :func:`~gluonts_qf.model.iqf.calibration.fit_level_map`); equal lists
        are the identity.
    """

    @validated()
    def __init__(
        self,
        distr_output: IQFOutput = IQFOutput(),
        map_levels: Sequence[float] = (0.5,),
        map_values: Sequence[float] = (0.5,),
    ) -> None:
        super().__init__()
        self.distr_output = distr_output
        self.args_dim = distr_output.args_dim
        self.map_levels = [float(u) for u in map_levels]
        self.map_values = [float(v) for v in map_values]
        self.level_map = LevelMap(self.map_levels, self.map_values)

    def domain_map(self, *args: torch.Tensor):
        return self.distr_output.domain_map(*args)

    def distribution(
        self,
        distr_args,
        loc: Optional[torch.Tensor] = None,
        scale: Optional[torch.Tensor] = None,
    ) -> CalibratedIQF:
        base = self.distr_output.distribution(distr_args, loc=loc, scale=scale)
        return with_map(base, self.level_map)

    def loss(self, target, distr_args, loc=None, scale=None) -> torch.Tensor:
        return self.distribution(distr_args, loc=loc, scale=scale).crps(target)

    @property
    def event_shape(self) -> Tuple:
        return self.distr_output.event_shape

    @property
    def value_in_support(self) -> float:
        return self.distr_output.value_in_support
