"""The demand distribution behind a forecast, as decisions need it.

A :class:`Demand` answers, for each of ``T`` steps, the four questions every
decision here reduces to: the quantity at a service level (the quantile), how
fast it grows with the level (the quantile's slope), the expected shortage and
leftover at a quantity (partial expectations), and the mean.

- :class:`IQFDemand` answers them exactly from an IQF distribution forecast
  (closed forms of the spline quantile function, in float64).
- :class:`SampleDemand` estimates them from samples of shape (S, T): an MQF2
  ``SampleForecast``'s joint draws, any GluonTS ``SampleForecast``, or draws of
  another distribution forecast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from statistics import NormalDist
from typing import Any

import numpy as np
import torch

from ..checks import check_int, check_levels
from ..distributions.calibrated import CalibratedIQF
from ..distributions.censored import CensoredIQF
from ..distributions.iqf import IQF
from ..distributions.spline import partial_expectations, quantile_slope


class Demand(ABC):
    """Demand at each of ``T`` steps of one series.

    Attributes
    ----------
    exact
        ``True`` when the answers are closed form (IQF), ``False`` when they
        are estimated from samples.
    num_steps
        ``T``.
    item_id
        The forecast's ``item_id`` (``None`` when unknown).
    """

    exact: bool
    num_steps: int
    item_id: Any = None

    @abstractmethod
    def quantile(self, levels: Any) -> np.ndarray:
        """Quantity needed for each service level, shape: (L,) -> (L, T)."""

    @abstractmethod
    def quantile_slope(self, levels: Any) -> np.ndarray:
        """Derivative of the quantile in the level, shape: (L,) -> (L, T)."""

    @abstractmethod
    def partial_expectations(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(E[(x - Y)+], E[(Y - x)+])`` (leftover, shortage) at quantities ``x``.

        ``x`` has shape (..., T) (or broadcasts to it); both results have the
        broadcast shape.
        """

    @property
    @abstractmethod
    def mean(self) -> np.ndarray:
        """``E[Y]``, shape: (T,)."""

    @property
    @abstractmethod
    def variance(self) -> np.ndarray:
        """``Var[Y]``, shape: (T,)."""

    @abstractmethod
    def sample(self, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Draws of the ``T`` steps, shape: (S, T)."""


def slope_bandwidth(levels: np.ndarray, num_samples: int) -> np.ndarray:
    """Hall and Sheather's (1988) bandwidth for a quantile's slope from samples.

    ``h = S^(-1/3) z^(2/3) (1.5 phi(x)^2 / (2 x^2 + 1))^(1/3)`` with
    ``x = Phi^{-1}(u)`` and ``z = Phi^{-1}(0.975)`` (Koenker, "Quantile
    Regression", 2005, Sec. 3.4): it shrinks with the sample size and towards
    the tails, where the slope changes fastest. shape: (L,) -> (L,).
    """
    normal = NormalDist()
    x = np.array([normal.inv_cdf(float(u)) for u in levels])
    density = np.exp(-0.5 * x**2) / np.sqrt(2.0 * np.pi)
    shape = (1.5 * density**2 / (2.0 * x**2 + 1.0)) ** (1.0 / 3.0)
    return num_samples ** (-1.0 / 3.0) * normal.inv_cdf(0.975) ** (2.0 / 3.0) * shape


def _float64(d: IQF) -> IQF:
    """The same IQF with every parameter in float64 (and no gradient)."""

    def f(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(torch.float64)

    return d.replace(**{k: f(v) for k, v in d.params().items()})


class IQFDemand(Demand):
    """Exact answers from an IQF whose batch shape is the horizon, (T,).

    ``Y = loc + scale * Z`` with ``Z`` following the spline, so quantiles and
    slopes scale by ``scale``, and ``E[(Y - x)+] = scale * E[(Z - z)+]`` with
    ``z = (x - loc) / scale``. A :class:`~gluonts_qf.distributions.censored.CensoredIQF`
    (a forecast that cannot go below a bound) answers from its own closed forms.
    """

    exact = True

    def __init__(self, distribution: IQF) -> None:
        if len(distribution.batch_shape) != 1:
            raise ValueError(
                "an IQF forecast has batch shape (T,) (one distribution per step), "
                f"got {tuple(distribution.batch_shape)}; pass one series' forecast."
            )
        self.distribution = _float64(distribution)
        self.num_steps = int(distribution.batch_shape[0])

    def _levels(self, levels: Any) -> torch.Tensor:
        """Checked levels as a (L, 1) column that broadcasts against (T,)."""
        return torch.as_tensor(check_levels(levels)).reshape(-1, 1)

    def quantile(self, levels: Any) -> np.ndarray:
        return self.distribution.icdf(self._levels(levels)).numpy()

    def quantile_slope(self, levels: Any) -> np.ndarray:
        d = self.distribution
        if isinstance(d, CensoredIQF):
            return d.quantile_slope(self._levels(levels)).numpy()
        return (d.scale * quantile_slope(d.spline, self._levels(levels))).numpy()

    def partial_expectations(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        d = self.distribution
        x = torch.from_numpy(np.array(x, dtype=np.float64))
        if isinstance(d, CensoredIQF):
            return tuple(t.numpy() for t in d.partial_expectations(x))
        z = (x - d.loc) / d.scale
        below, above = partial_expectations(d.spline, z)
        return (d.scale * below).numpy(), (d.scale * above).numpy()

    @property
    def mean(self) -> np.ndarray:
        return self.distribution.mean.numpy()

    @property
    def variance(self) -> np.ndarray:
        return self.distribution.variance.numpy()

    def sample(self, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Independent draws of each step by inverting ``q`` at uniform levels."""
        tiny = np.finfo(np.float64).eps
        u = rng.uniform(tiny, 1.0 - tiny, size=(num_samples, self.num_steps))
        return self.distribution.icdf(torch.as_tensor(u)).numpy()


class SampleDemand(Demand):
    """Answers estimated from samples of shape (S, T).

    Parameters
    ----------
    samples
        Draws of the ``T`` steps, shape: (S, T), ``S >= 2``.
    joint
        Whether each row is one joint draw of all steps (an MQF2 or any
        ``SampleForecast``), so that sums over steps keep their dependence.
    """

    exact = False

    def __init__(self, samples: Any, joint: bool = True) -> None:
        arr = np.asarray(samples, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] < 2:
            raise ValueError(
                "samples must have shape (S, T) with S >= 2 draws of a univariate "
                f"horizon, got shape {arr.shape}; for a multivariate forecast "
                "select one series with forecast.copy_dim(i), or sum series "
                "with decisions.pooled_demand."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("samples contain NaN or inf; drop or impute them first.")
        self.samples, self.joint = arr, bool(joint)
        self.num_steps = arr.shape[1]

    def quantile(self, levels: Any) -> np.ndarray:
        return np.quantile(self.samples, check_levels(levels), axis=0)

    def quantile_slope(self, levels: Any) -> np.ndarray:
        """Difference quotient of the empirical quantile over ``[u - h, u + h]``.

        ``h`` is Hall and Sheather's bandwidth (:func:`slope_bandwidth`); the
        interval is cut to ``[1 / (2S), 1 - 1 / (2S)]``, which makes the
        difference one-sided next to 0 and 1.
        """
        lv = check_levels(levels)
        n = self.samples.shape[0]
        h = slope_bandwidth(lv, n)
        lo = np.maximum(lv - h, 0.5 / n)
        hi = np.minimum(lv + h, 1.0 - 0.5 / n)
        q = np.quantile(self.samples, np.concatenate([lo, hi]), axis=0)  # (2L, T)
        return (q[len(lv) :] - q[: len(lv)]) / (hi - lo)[:, None]

    def partial_expectations(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        gap = self.samples - x[..., None, :]  # (..., S, T)
        below = np.maximum(-gap, 0.0).mean(axis=-2)
        above = np.maximum(gap, 0.0).mean(axis=-2)
        return below, above

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def variance(self) -> np.ndarray:
        return self.samples.var(axis=0, ddof=1)

    def sample(self, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """The samples themselves (``num_samples`` is ignored: they are fixed)."""
        return self.samples


def as_demand(
    forecast: Any, exact: bool | None = None, num_samples: int = 1000, seed: int = 0
) -> Demand:
    """The :class:`Demand` of one forecast.

    Parameters
    ----------
    forecast
        A GluonTS forecast of one univariate series: an IQF
        ``DistributionForecast`` (from :class:`~gluonts_qf.IQFEstimator` or any
        model with :class:`~gluonts_qf.IQFOutput`), a ``SampleForecast`` (e.g.
        from :class:`~gluonts_qf.MQF2Estimator`), another distribution forecast,
        or a :class:`Demand` (returned as is).
    exact
        ``True``: closed-form answers, only possible for IQF forecasts (anything
        else raises a ``ValueError``); ``False``: from samples (an IQF forecast
        then draws ``num_samples``); ``None`` (default): exact when possible.
    num_samples, seed
        Draws taken from a distribution forecast when samples are needed.
    """
    if isinstance(forecast, Demand):
        if exact and not forecast.exact:
            raise _not_exact(forecast)
        return forecast
    demand = _demand_of(forecast, exact, num_samples, seed)
    demand.item_id = getattr(forecast, "item_id", None)
    return demand


def _demand_of(forecast: Any, exact: bool | None, num_samples: int, seed: int):
    """:func:`as_demand` of a GluonTS forecast (no ``item_id`` yet)."""
    dist = getattr(forecast, "distribution", None)
    # read through a level map, the quantile function has no closed-form
    # slope or partial expectations here: a recalibrated IQF answers from samples
    calibrated = isinstance(dist, CalibratedIQF)
    if isinstance(dist, IQF) and not (calibrated and exact):
        demand = IQFDemand(dist)
        if exact is False or calibrated:
            n = check_int("num_samples", num_samples, low=2)
            draws = demand.sample(n, np.random.default_rng(seed))
            return SampleDemand(draws, joint=False)
        return demand
    if exact:
        raise _not_exact(forecast)
    samples = getattr(forecast, "samples", None)
    if samples is not None:
        return SampleDemand(samples, joint=True)
    if dist is not None and hasattr(forecast, "to_sample_forecast"):
        n = check_int("num_samples", num_samples, low=2)
        return SampleDemand(forecast.to_sample_forecast(n).samples, joint=False)
    raise ValueError(
        f"decisions need an IQF distribution forecast or samples, got a "
        f"{type(forecast).__name__}; use IQFEstimator or MQF2Estimator."
    )


def _not_exact(forecast: Any) -> ValueError:
    dist = getattr(forecast, "distribution", None)
    kind = type(forecast).__name__ + (
        f" of {type(dist).__name__}" if dist is not None else ""
    )
    return ValueError(
        f"exact (closed-form) answers need an IQF distribution forecast (from "
        f"IQFEstimator or IQFOutput), got a {kind}; pass exact=None or "
        "exact=False to estimate them from its samples."
    )
