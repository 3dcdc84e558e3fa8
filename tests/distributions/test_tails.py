"""Tails you can decide on: tails at least as steep as the outer pieces, and a
cost of one more point of service that rises from 90% to 99% as the data's does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from gluonts_qf import IQF, IQFOutput
from gluonts_qf import decisions as dec
from gluonts_qf.distributions import spline
from gluonts_qf.model.iqf.estimator import DEFAULT_KNOTS
from gluonts_qf.reproduce.figures import Mixture

F64 = torch.float64
SERVICE = [0.90, 0.94, 0.95, 0.97, 0.99]


def _slopes_at_the_outer_knots(d: IQF):
    """``(left tail, first piece, last piece, right tail)`` slopes of q at the
    outer knots, from the spline's own pieces and tail rates."""
    s = d.spline
    first, last = s.dq[..., 0] / s.du[..., 0], s.dq[..., -1] / s.du[..., -1]
    left_tail = 1 / (s.beta_l * s.u_left)
    right_tail = 1 / (s.beta_r * (1 - s.u_right))
    return left_tail, first, last, right_tail


@pytest.mark.parametrize("pieces", [1, 3])
def test_floored_tails_are_never_thinner_than_the_pieces_beside_them(pieces):
    torch.manual_seed(0)
    out = IQFOutput(knot_levels=(0.05, 0.3, 0.5, 0.9, 0.97), num_pieces=pieces)
    proj = out.get_args_proj(4).to(F64)
    with torch.no_grad():
        for p in proj.parameters():
            p.normal_(0, 3)  # far from the Gaussian start: any raw outputs
        d = out.distribution(proj(torch.randn(500, 4, dtype=F64)))
    left_tail, first, last, right_tail = _slopes_at_the_outer_knots(d)
    assert torch.all(left_tail >= first * (1 - 1e-5))
    assert torch.all(right_tail >= last * (1 - 1e-5))
    free = IQFOutput(knot_levels=out.knot_levels, num_pieces=pieces, tail_floor=False)
    loose, kept = free.get_args_proj(4).to(F64), out.get_args_proj(4).to(F64)
    with torch.no_grad():
        for p, q in zip(loose.parameters(), kept.parameters()):
            p.normal_(0, 3)
            q.copy_(p)
        for head in (loose, kept):  # raw right-tail output 50: a large free rate
            head.proj[2].weight.zero_()
            head.proj[2].bias.fill_(50.0)
        x = torch.randn(500, 4, dtype=F64)
        thin, floored = free.distribution(loose(x)), out.distribution(kept(x))
    _, _, last, right_tail = _slopes_at_the_outer_knots(thin)
    assert (right_tail < 0.5 * last).double().mean() > 0.5  # free: mostly too thin
    _, _, last, right_tail = _slopes_at_the_outer_knots(floored)
    assert torch.all(right_tail >= last)  # floored: the same raw output is not


def test_floored_tail_rates_by_hand():
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    values = torch.tensor([[0.0, 1.0, 3.0]], dtype=F64)
    zero = torch.zeros(1, dtype=F64)
    bl, br = spline.floored_tail_rates(levels, values, zero, zero)
    # slopes 2.5 and 5; 1 + softplus(0) = 1 + log 2
    torch.testing.assert_close(
        bl, 1 / (0.1 * 2.5 * (1 + np.log(2))) * torch.ones(1, dtype=F64)
    )
    torch.testing.assert_close(
        br, 1 / (0.1 * 5.0 * (1 + np.log(2))) * torch.ones(1, dtype=F64)
    )


def _fit(samples: np.ndarray, steps: int = 600) -> IQF:
    """The default head (knots, floored tails) fitted to samples by its CRPS."""
    out = IQFOutput(knot_levels=DEFAULT_KNOTS)
    proj = out.get_args_proj(1).to(F64)
    y = torch.as_tensor(samples, dtype=F64)
    loc, scale = float(np.median(samples)), float(np.std(samples))
    x = torch.ones(1, 1, dtype=F64)
    opt = torch.optim.Adam(proj.parameters(), lr=0.05)
    for _ in range(steps):
        loss = out.distribution(proj(x), loc=loc, scale=scale).crps(y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return out.distribution(proj(x), loc=loc, scale=scale)


CASES = {
    "normal": stats.norm(10, 2),
    "student_t3": stats.t(3, loc=10, scale=2),
    "lognormal": stats.lognorm(0.6, scale=10),
    "three_peaks": None,  # the figures experiment's mixture
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_cost_of_one_more_point_rises_from_90_to_99_as_the_datas(name):
    """Fitted to 20,000 draws, the default head's extra quantity per point
    strictly increases over 0.90, 0.94, 0.95, 0.97, 0.99 for light- and
    heavy-tailed data, as ``q'(u) / 100 = 1 / (100 f(q(u)))`` does, and stays
    within a factor 2.5 of it at every level (one exponential tail from 0.9)."""
    rng = np.random.default_rng(0)
    truth = CASES[name]
    if truth is None:
        mix = Mixture()
        draws = mix.sample(20000, rng)
        grid = np.linspace(-15, 15, 200001)
        cdf = mix.cdf(grid)
        exact_q = np.interp(SERVICE, cdf, grid)
        exact = 1 / (100 * mix.density(exact_q))
    else:
        draws = truth.rvs(20000, random_state=rng)
        exact = 1 / (100 * truth.pdf(truth.ppf(SERVICE)))
    d = _fit(draws)
    forecast = _point_forecast(d)
    per_point = dec.service_tradeoff([forecast], SERVICE).extra_per_point[0]
    assert np.all(np.diff(per_point) > 0), per_point
    assert np.all(np.diff(exact) > 0)
    ratio = per_point / exact
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio


def _point_forecast(d: IQF):
    """A one-step IQF forecast of the fitted distribution (batch shape (1,))."""
    import pandas as pd
    from gluonts.torch.model.forecast import DistributionForecast

    one = d.replace(
        knot_values=d.knot_values.reshape(1, -1),
        beta_l=d.beta_l.reshape(1),
        beta_r=d.beta_r.reshape(1),
        loc=torch.as_tensor(d.loc).reshape(1),
        scale=torch.as_tensor(d.scale).reshape(1),
    )
    return DistributionForecast(one, start_date=pd.Period("2024-01-01", "D"))
