"""An IQF censored from below: its closed forms against numerical integration over
the levels, in every region the bound can fall (left tail, a piece, right tail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gluonts_qf import IQF
from gluonts_qf.decisions.demand import IQFDemand
from gluonts_qf.distributions.censored import CensoredIQF, censored

LEVELS = torch.tensor([0.05, 0.2, 0.5, 0.8, 0.95], dtype=torch.float64)
# rows: the bound 0 falls in a piece, in a piece, below everything (left tail
# barely), in the right tail (almost all mass on the bound)
VALUES = torch.tensor(
    [
        [-3.0, -1.0, 0.5, 2.0, 4.0],
        [-1.0, 0.2, 0.6, 1.0, 3.0],
        [1.0, 2.0, 3.0, 4.0, 5.0],
        [-9.0, -8.0, -7.0, -6.0, -5.0],
    ],
    dtype=torch.float64,
)
BETA_L = torch.tensor([1.5, 2.0, 0.7, 3.0], dtype=torch.float64)
BETA_R = torch.tensor([0.8, 1.0, 2.0, 0.5], dtype=torch.float64)
N = 400_000  # midpoint levels of the reference integrals (tails: ~1e-5 off)


def _base(**kw) -> IQF:
    return IQF(LEVELS, VALUES, BETA_L, BETA_R, **kw)


def _grid(d: CensoredIQF):
    """Midpoint levels (N, 1) and ``max(q(u), c)`` computed from the plain IQF."""
    u = ((torch.arange(N, dtype=torch.float64) + 0.5) / N).reshape(-1, 1)
    return u, torch.maximum(d.uncensored().icdf(u), d.lower)


@pytest.fixture(params=["standard", "affine", "pieces"])
def dist(request) -> CensoredIQF:
    if request.param == "standard":
        return censored(_base(), 0.0)
    if request.param == "pieces":  # three pieces per knot interval (ISQF)
        g = torch.Generator().manual_seed(0)
        shares = [
            torch.softmax(torch.randn(4, 4, 3, generator=g, dtype=torch.float64), -1)
            for _ in range(2)
        ]
        return censored(_base(level_shares=shares[0], value_shares=shares[1]), 0.0)
    loc, scale = torch.tensor(0.3, dtype=torch.float64), torch.tensor(2.0)
    return censored(_base(loc=loc, scale=scale), 0.0)


def test_the_bound_falls_in_every_region(dist):
    mass = dist.mass.numpy()
    assert 0.05 < mass[0] < 0.95 and 0.05 < mass[1] < 0.95  # inside the knots
    assert mass[2] < 0.05  # left tail
    assert mass[3] > 0.95  # right tail


def test_quantiles_are_the_iqfs_raised_to_the_bound_and_invert_the_cdf(dist):
    u = torch.linspace(0.001, 0.999, 301, dtype=torch.float64).reshape(-1, 1)
    q = dist.icdf(u)
    plain = dist.uncensored().icdf(u)
    torch.testing.assert_close(q, torch.maximum(plain, torch.tensor(0.0)))
    above = u > dist.mass
    torch.testing.assert_close(dist.cdf(q)[above], u.expand_as(q)[above])
    assert (dist.cdf(torch.tensor(-1e-9)) == 0).all()
    torch.testing.assert_close(dist.cdf(torch.tensor(0.0)), dist.mass)
    assert (torch.diff(q, dim=0) >= 0).all()  # never crossing


def test_log_prob_has_the_point_mass_at_the_bound(dist):
    torch.testing.assert_close(dist.log_prob(torch.tensor(0.0)), dist.mass.log())
    assert torch.isinf(dist.log_prob(torch.tensor(-0.5))).all()
    x = torch.tensor(2.5, dtype=torch.float64)
    torch.testing.assert_close(dist.log_prob(x), dist.uncensored().log_prob(x))


def test_mean_and_variance_match_numerical_integration(dist):
    _, q = _grid(dist)
    torch.testing.assert_close(dist.mean, q.mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        dist.variance, q.var(0, unbiased=False), rtol=2e-3, atol=1e-5
    )


@pytest.mark.parametrize("y", [-1.0, 0.0, 0.7, 3.0, 20.0])
def test_crps_matches_the_integrated_pinball_loss(dist, y):
    u, q = _grid(dist)
    err = torch.tensor(y, dtype=torch.float64) - q
    want = 2 * (err * (u - (err < 0).double())).mean(0)
    torch.testing.assert_close(dist.crps(torch.tensor(y)), want, rtol=1e-5, atol=2e-5)


def test_crps_and_every_pinball_loss_fall_for_outcomes_at_or_above_the_bound(dist):
    y = torch.tensor([[0.0], [0.4], [2.0], [9.0]], dtype=torch.float64)
    assert (dist.crps(y) <= dist.uncensored().crps(y) + 1e-12).all()
    u = torch.tensor([0.01, 0.1, 0.5, 0.9], dtype=torch.float64).reshape(-1, 1, 1)
    q, plain = dist.icdf(u), dist.uncensored().icdf(u)

    def pinball(x):
        e = y - x
        return e * (u - (e < 0).double())

    assert (pinball(q) <= pinball(plain) + 1e-12).all()


def test_partial_expectations_and_slope_in_decisions_are_exact(dist):
    demand = IQFDemand(dist)
    assert demand.exact
    _, q = _grid(dist)
    for x in (-0.5, 0.0, 1.1, 4.0):
        below, above = demand.partial_expectations(np.full(4, x))
        np.testing.assert_allclose(below, (x - q).clamp(min=0).mean(0), atol=2e-5)
        np.testing.assert_allclose(above, (q - x).clamp(min=0).mean(0), atol=2e-5)
    levels = [0.1, 0.5, 0.97]
    slope = demand.quantile_slope(levels)
    h = 1e-6
    plain = IQFDemand(dist.uncensored())
    up, down = plain.quantile([u + h for u in levels]), plain.quantile(levels)
    numeric = np.maximum(up, 0) - np.maximum(down, 0)
    np.testing.assert_allclose(slope, numeric / h, rtol=1e-3, atol=1e-6)
    mass = dist.mass.numpy()
    assert (slope[np.array(levels)[:, None] < mass] == 0).all()
    np.testing.assert_allclose(demand.mean, dist.mean.numpy())


def test_samples_are_censored_and_follow_the_point_mass(dist):
    torch.manual_seed(0)
    s = dist.sample(torch.Size((20_000,)))
    assert s.shape == (20_000, 4) and (s >= 0).all()
    share = (s == 0).double().mean(0)
    np.testing.assert_allclose(share, dist.mass, atol=0.012)


def test_replace_and_expand_keep_the_bound(dist):
    wide = dist.expand((3, 4))
    assert isinstance(wide, CensoredIQF) and wide.lower.shape == (3, 4)
    torch.testing.assert_close(wide.mean[1], dist.mean)
    moved = dist.replace(lower=torch.tensor(1.0))
    assert (moved.icdf(torch.tensor(0.001)) == 1.0).all()
