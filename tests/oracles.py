"""Distributions with known answers, as GluonTS forecasts (importable as ``oracles``).

- :func:`random_iqf`: a random IQF built the way a model builds it.
- :func:`exponential_iqf`: an IQF whose right tail *is* Exp(rate).
- :func:`normal_iqf`: a dense IQF through the standard normal's quantiles
  (999 knots), with ``loc``/``scale`` giving N(loc, scale^2) closely.
- :func:`iqf_forecast`, :func:`sample_forecast`: wrap them as forecasts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from gluonts.model.forecast import SampleForecast
from gluonts.torch.model.forecast import DistributionForecast
from scipy import stats

from gluonts_qf import IQF, IQFOutput

D = torch.float64
START = pd.Period("2021-01-01 00:00", freq="h")


def random_iqf(seed, batch=(), knot_levels=(0.05, 0.3, 0.5, 0.8, 0.95), pieces=3):
    """A random IQF built through IQFOutput.domain_map (the model's path)."""
    g = torch.Generator().manual_seed(seed)
    out = IQFOutput(knot_levels=knot_levels, num_pieces=pieces)
    raw = [
        2 * torch.randn(*batch, d, generator=g, dtype=D) for d in out.args_dim.values()
    ]
    return out.distribution(out.domain_map(*raw))


def exponential_iqf(
    rate: float, levels=(0.2, 0.5, 0.8), beta_l: float = 3.0, steps: int | None = None
) -> IQF:
    """Knots on the quantiles ``-log(1 - a) / rate`` of Exp(rate), right tail ``rate``.

    Right of the last knot the IQF is the exponential: ``q(u) = -log(1 - u) / rate``.
    ``steps`` adds a batch (horizon) axis of that length.
    """
    a = torch.tensor(levels, dtype=D)
    values = -torch.log1p(-a) / rate
    bl, br = torch.tensor(beta_l, dtype=D), torch.tensor(rate, dtype=D)
    if steps is not None:
        values, bl, br = values.expand(steps, -1), bl.expand(steps), br.expand(steps)
    return IQF(a, values, bl, br)


def normal_iqf(loc, scale, steps: int = 1, num_knots: int = 999) -> IQF:
    """Knots at ``u_i = i / (num_knots + 1)`` on ``Phi^{-1}(u_i)``, tails of the
    normal's slope at the outer knots; ``loc + scale * Z``, batch shape (steps,)."""
    u = np.arange(1, num_knots + 1) / (num_knots + 1)
    z = stats.norm.ppf(u)
    # tail rates so that q' is continuous: 1 / (b_L a_1) = 1 / phi(z_1)
    bl = stats.norm.pdf(z[0]) / u[0]
    br = stats.norm.pdf(z[-1]) / (1 - u[-1])
    t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))  # noqa: E731
    return IQF(
        t(u),
        t(z).expand(steps, -1),
        t(bl).expand(steps),
        t(br).expand(steps),
        loc=t(loc),
        scale=t(scale),
    )


def iqf_forecast(dist: IQF, item_id=None) -> DistributionForecast:
    """A GluonTS distribution forecast of ``dist`` (batch shape (T,))."""
    return DistributionForecast(dist, start_date=START, item_id=item_id)


def sample_forecast(samples: np.ndarray, item_id=None) -> SampleForecast:
    """A GluonTS sample forecast of draws (S, T)."""
    return SampleForecast(np.asarray(samples), start_date=START, item_id=item_id)
