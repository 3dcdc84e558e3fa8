"""Slope and partial expectations of the spline quantile function, against oracles.

Oracles: adaptive quadrature of the quantile function (``int (q(u) - y)+ du``)
and of the cdf (``int_y^inf (1 - F)``), Monte Carlo, the model's own density
(``q' = 1 / density``), and the exponential distribution, which the right tail
of an IQF reproduces exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from oracles import exponential_iqf, random_iqf
from scipy import integrate

from gluonts_qf import IQF
from gluonts_qf.distributions.spline import (
    partial_expectations,
    quantile_slope,
)

D = torch.float64


CASES = [(0, (0.1, 0.9), 1), (1, (0.05, 0.3, 0.5, 0.8, 0.95), 3), (2, (0.2, 0.7), 4)]


def probe_values(d: IQF) -> list[float]:
    """Values in both tails (near and far), on a knot and inside pieces."""
    q = lambda u: d.icdf(torch.tensor(u, dtype=D)).item()  # noqa: E731
    knots = d.knot_values.tolist()
    return [
        q(1e-4),
        q(0.5 * d.knot_levels[0].item()),
        knots[0],
        q(0.37),
        knots[len(knots) // 2],
        q(0.61),
        knots[-1],
        q(0.5 + 0.5 * d.knot_levels[-1].item()),
        q(1 - 1e-5),
    ]


def quad_partials(d: IQF, y: float) -> tuple[float, float]:
    """``E[(y - Z)+]`` and ``E[(Z - y)+]`` as integrals of the quantile function."""
    q = lambda u: d.icdf(torch.tensor(u, dtype=D)).item()  # noqa: E731
    v = d.cdf(torch.tensor(y, dtype=D)).item()
    pts = sorted({*d.spline.u.reshape(-1).tolist(), d.knot_levels[-1].item()})
    opts = dict(limit=500, epsabs=1e-13, epsrel=1e-11)
    below = sum(
        integrate.quad(lambda u: y - q(u), a, b, **opts)[0]
        for a, b in _spans(0.0, v, pts)
    )
    above = sum(
        integrate.quad(lambda u: q(u) - y, a, b, **opts)[0]
        for a, b in _spans(v, 1.0, pts)
    )
    return below, above


def _spans(a: float, b: float, pts: list[float]) -> list[tuple[float, float]]:
    """``[a, b]`` cut at the breakpoints inside it (the integrand's kinks)."""
    cuts = [a, *(p for p in pts if a < p < b), b]
    return [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]


@pytest.mark.parametrize("seed,levels,pieces", CASES)
def test_partials_match_quadrature_of_quantile_function(seed, levels, pieces):
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    ys = probe_values(d)
    below, above = partial_expectations(d.spline, torch.tensor(ys, dtype=D))
    for y, b, a in zip(ys, below.tolist(), above.tolist()):
        qb, qa = quad_partials(d, y)
        assert b == pytest.approx(qb, rel=1e-9, abs=1e-11), ("below", y)
        assert a == pytest.approx(qa, rel=1e-9, abs=1e-11), ("above", y)


@pytest.mark.parametrize("seed,levels,pieces", CASES)
def test_partials_match_quadrature_of_cdf(seed, levels, pieces):
    """``E[(Z - y)+] = int_y^inf (1 - F)`` and ``E[(y - Z)+] = int_-inf^y F``."""
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    cdf = lambda t: d.cdf(torch.tensor(t, dtype=D)).item()  # noqa: E731
    sf = lambda t: 1 - cdf(t)  # noqa: E731
    kinks = [*d.spline.q.reshape(-1).tolist(), d.knot_values[-1].item()]  # bends
    lo, hi = d.knot_values[0].item(), d.knot_values[-1].item()
    for y in probe_values(d)[1:-1]:
        below, above = partial_expectations(d.spline, torch.tensor(y, dtype=D))
        # the (exponential) tails to -+inf, the middle piece by piece
        qb = integrate.quad(cdf, -np.inf, min(y, lo))[0] + _quad(cdf, lo, y, kinks)
        qa = _quad(sf, y, hi, kinks) + integrate.quad(sf, max(y, hi), np.inf)[0]
        assert below.item() == pytest.approx(qb, rel=1e-9, abs=1e-11)
        assert above.item() == pytest.approx(qa, rel=1e-9, abs=1e-11)


def _quad(f, a: float, b: float, kinks: list[float]) -> float:
    """``int_a^b f`` (0 when ``b <= a``), split at the kinks inside."""
    opts = dict(limit=500, epsabs=1e-13, epsrel=1e-11)
    return sum(integrate.quad(f, lo, hi, **opts)[0] for lo, hi in _spans(a, b, kinks))


def test_partials_difference_is_mean_minus_value_over_a_batch():
    d = random_iqf(5, batch=(4,))
    y = torch.linspace(-8, 8, 41, dtype=D).reshape(-1, 1)  # (41, 1) vs batch (4,)
    below, above = partial_expectations(d.spline, y)
    assert below.shape == above.shape == (41, 4)
    assert bool((below >= 0).all() and (above >= 0).all())
    torch.testing.assert_close(above - below, d.mean - y, rtol=0, atol=1e-12)
    # monotone: more stock, less shortage and more leftover
    assert bool((above.diff(dim=0) <= 0).all() and (below.diff(dim=0) >= 0).all())


def test_partials_match_monte_carlo():
    d = random_iqf(3, pieces=2)
    torch.manual_seed(0)
    z = d.sample((400_000,))
    for u in (0.03, 0.4, 0.9, 0.99):
        y = d.icdf(torch.tensor(u, dtype=D))
        below, above = partial_expectations(d.spline, y)
        for got, draws in (
            (above, (z - y).clamp(min=0)),
            (below, (y - z).clamp(min=0)),
        ):
            se = draws.std().item() / math.sqrt(len(z))
            assert abs(got.item() - draws.mean().item()) < 5 * se + 1e-12


def test_exponential_right_tail_is_exact():
    rate = 2.0
    d = exponential_iqf(rate)
    u = torch.tensor([0.85, 0.95, 0.999], dtype=D)
    # quantile slope 1 / (rate (1 - u)) = 1 / density of Exp(rate) at its quantile
    torch.testing.assert_close(quantile_slope(d.spline, u), 1 / (rate * (1 - u)))
    # E[(Y - y)+] = exp(-rate y) / rate beyond the last knot (memorylessness)
    y = torch.tensor([1.0, 2.5, 7.0], dtype=D)  # all > q_K = log(5) / 2
    _, above = partial_expectations(d.spline, y)
    torch.testing.assert_close(above, torch.exp(-rate * y) / rate, rtol=1e-12, atol=0)
    # and in the left tail F(y) = a_1 exp(b_L (y - q_1)): E[(y - Y)+] = F(y) / b_L
    y = torch.tensor([-2.0, 0.0, 0.1], dtype=D)
    below, _ = partial_expectations(d.spline, y)
    q1 = d.knot_values[0]
    torch.testing.assert_close(below, 0.2 * torch.exp(3.0 * (y - q1)) / 3.0)


@pytest.mark.parametrize("seed,levels,pieces", CASES)
def test_slope_is_one_over_density(seed, levels, pieces):
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    # levels off the breakpoints: both tails and inside pieces
    u = torch.tensor([1e-3, 0.01, 0.27, 0.43, 0.66, 0.97, 0.9999], dtype=D)
    density = d.log_prob(d.icdf(u)).exp()
    torch.testing.assert_close(
        quantile_slope(d.spline, u), 1 / density, rtol=1e-9, atol=0
    )
    h = 1e-7  # and a central difference of the quantile function
    fd = (d.icdf(u + h) - d.icdf(u - h)) / (2 * h)
    torch.testing.assert_close(quantile_slope(d.spline, u), fd, rtol=1e-5, atol=0)


def test_slope_at_a_breakpoint_is_the_right_derivative():
    d = IQF(
        torch.tensor([0.1, 0.5, 0.9], dtype=D),
        torch.tensor([0.0, 1.0, 4.0], dtype=D),
        torch.tensor(2.0, dtype=D),
        torch.tensor(2.0, dtype=D),
    )
    u = torch.tensor([0.1, 0.5, 0.9], dtype=D)
    # pieces of slope 1 / 0.4 = 2.5 and 3 / 0.4 = 7.5, right tail 1 / (2 * 0.1) = 5
    torch.testing.assert_close(
        quantile_slope(d.spline, u), torch.tensor([2.5, 7.5, 5.0], dtype=D)
    )


def test_far_from_zero_in_float32():
    """Centring keeps float32 accurate for a series whose values are ~1e5."""
    d64 = random_iqf(7, batch=(3,))
    shift = 1e5
    s64 = d64.spline.shifted(torch.full((3,), -shift, dtype=D))
    s32 = type(s64)(*(t.float() for t in s64))
    y = d64.icdf(torch.tensor([[0.3], [0.7]], dtype=D)) + shift  # (2, 3)
    for got, want in zip(
        partial_expectations(s32, y.float()), partial_expectations(s64, y)
    ):
        torch.testing.assert_close(got.double(), want, rtol=0, atol=5e-2)
