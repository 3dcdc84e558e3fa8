"""An IQF censored from below: ``Y = max(X, c)``, for data that cannot go under ``c``.

Demand, counts and prices are never negative, yet a quantile function fitted
to them may give negative values at low levels (on series near zero, up to a
third of the 0.1..0.9 quantiles). Read through ``max(q(u), c)`` the forecast
keeps its shape above ``c`` and puts the mass below ``c`` on ``c`` itself: a
point mass ``F(c)`` there. Every pinball loss of an observation ``y >= c``
falls or stays (the value moves towards ``y``), quantiles stay exact and
never cross, and the CRPS, mean, variance and the decisions' partial
expectations stay closed form (:mod:`.spline.censoring`).
"""

from typing import Dict, Optional

import torch

from . import spline as ops
from .iqf import IQF
from .spline.censoring import head, upper_square


class CensoredIQF(IQF):
    """An IQF censored from below at ``lower``: ``Y = max(X, lower)``.

    ``quantile(u) = max(q(u), lower)``; ``cdf`` is 0 below ``lower`` and
    jumps to ``F(lower)`` there; ``log_prob`` is the log density above
    ``lower``, ``log F(lower)`` (the point mass) at it and ``-inf`` below.

    Parameters
    ----------
    lower
        The censoring value in data units, broadcastable to the batch shape.
    **params
        The IQF's parameters (see :class:`~gluonts_qf.distributions.IQF`).
    """

    def __init__(self, lower: torch.Tensor, **params) -> None:
        super().__init__(**params)
        self.lower = (
            torch.as_tensor(lower).to(self.knot_values).expand(self.batch_shape)
        )

    def params(self) -> Dict[str, Optional[torch.Tensor]]:
        return {**super().params(), "lower": self.lower}

    def replace(self, **params: Optional[torch.Tensor]) -> "CensoredIQF":
        args = {**self.params(), **params}
        return CensoredIQF(**args, validate_args=self._validate_args)

    def uncensored(self) -> IQF:
        """The IQF before censoring."""
        p = self.params()
        p.pop("lower")
        return IQF(**p, validate_args=self._validate_args)

    @property
    def _lower_std(self) -> torch.Tensor:
        """``lower`` on the spline's standardised scale, shape: batch shape."""
        return ((self.lower - self.loc) / self.scale).expand(self.batch_shape)

    @property
    def mass(self) -> torch.Tensor:
        """``P(Y = lower) = F(lower)``, shape: batch shape."""
        return super().cdf(self.lower)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        return torch.maximum(super().icdf(value), self.lower)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(value).to(self.knot_values)
        below = value < self.lower
        return torch.where(below, torch.zeros_like(value), super().cdf(value))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(value).to(self.knot_values)
        density = super().log_prob(value)
        at = torch.where(value == self.lower, torch.log(self.mass), density)
        return torch.where(value < self.lower, torch.full_like(at, -torch.inf), at)

    def crps(self, value: torch.Tensor) -> torch.Tensor:
        """Closed form: ``CRPS_X(max(y, c)) - 2 scale head(c) + (c - y)+``."""
        value = torch.as_tensor(value).to(self.knot_values)
        inside = torch.maximum(value, self.lower)
        cut = self.scale * head(self.spline, self._lower_std)
        return super().crps(inside) - 2.0 * cut + (self.lower - value).clamp(min=0.0)

    def partial_expectations(self, value: torch.Tensor):
        """``(E[(y - Y)+], E[(Y - y)+])`` in data units, shape: broadcast(y, batch)."""
        value = torch.as_tensor(value).to(self.knot_values)
        at = torch.maximum(value, self.lower)
        z = (torch.stack([at, self.lower.expand_as(at)]) - self.loc) / self.scale
        below, above = ops.partial_expectations(self.spline, z)
        below = self.scale * (below[0] - below[1])
        above = self.scale * above[0] + (self.lower - value).clamp(min=0.0)
        return below, above

    def quantile_slope(self, level: torch.Tensor) -> torch.Tensor:
        """``dQ/du``: 0 on the point mass, the IQF's slope above it."""
        level = torch.as_tensor(level).to(self.knot_values)
        slope = self.scale * ops.quantile_slope(self.spline, level)
        return torch.where(level < self.mass, torch.zeros_like(slope), slope)

    @property
    def mean(self) -> torch.Tensor:
        """``c + E[(X - c)+]``."""
        zc = self._lower_std
        _, above = ops.partial_expectations(self.spline, zc)
        return self.lower + self.scale * above

    @property
    def variance(self) -> torch.Tensor:
        """``E[(X - c)+^2] - E[(X - c)+]^2``, scaled."""
        zc = self._lower_std
        _, above = ops.partial_expectations(self.spline, zc)
        second = upper_square(self.spline, zc)
        return (self.scale**2 * (second - above**2)).clamp(min=0.0)


def censored(dist: IQF, lower: float | torch.Tensor) -> CensoredIQF:
    """``dist`` censored from below at ``lower``."""
    return CensoredIQF(lower, **dist.params())
