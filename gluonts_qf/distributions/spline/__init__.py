"""Pure tensor maths of the incremental (spline) quantile function: public.

Everything here is a plain function of tensors, testable without a model; the
distribution :class:`~gluonts_qf.distributions.IQF`, the decisions and the
figures are built on it. :mod:`.core` holds the spline (its breakpoints and
tails, ``quantile``, ``cdf``, ``log_density``), :mod:`.expectations` its
integrals (``moments``, the closed-form ``crps``, ``quantile_slope`` and the
``partial_expectations`` that decisions need).
"""

from .core import (
    Spline,
    build_spline,
    cdf,
    floored_tail_rates,
    increments,
    knot_values,
    log_density,
    quantile,
    shares,
)
from .expectations import crps, moments, partial_expectations, quantile_slope

__all__ = [
    "Spline",
    "build_spline",
    "cdf",
    "crps",
    "floored_tail_rates",
    "increments",
    "knot_values",
    "log_density",
    "moments",
    "partial_expectations",
    "quantile",
    "quantile_slope",
    "shares",
]
