"""Properties of the IQF distribution, checked against independent oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from oracles import random_iqf
from scipy import integrate

from gluonts_qf import IQF, IQFOutput

D = torch.float64


def hand_iqf(**kw) -> IQF:
    """One piece, knots (0.1, 0.9) at values (0, 1), both tail rates 2."""
    t = lambda x: torch.tensor(x, dtype=D)  # noqa: E731
    return IQF(t([0.1, 0.9]), t([0.0, 1.0]), t(2.0), t(2.0), **kw)


CASES = [
    (s, kl, p)
    for s in range(4)
    for kl, p in [
        ((0.1, 0.9), 1),
        ((0.05, 0.3, 0.5, 0.8, 0.95), 3),
        (tuple(np.linspace(0.1, 0.9, 9)), 5),
    ]
]


def test_hand_values():
    d = hand_iqf()
    got = d.quantile([0.05, 0.3, 0.7, 0.99])
    want = torch.tensor(
        [0.5 * math.log(0.5), 0.25, 0.75, 1 + 0.5 * math.log(10)], dtype=D
    )
    torch.testing.assert_close(got, want)
    # mean: tails a q1 - a/b and (1-a) qK + (1-a)/b, middle trapezoid 0.8 * 0.5
    assert d.mean.item() == pytest.approx(0.1 * (0 - 0.5) + 0.8 * 0.5 + 0.1 * (1 + 0.5))
    # cdf in the left tail: a1 exp(b (y - q1))
    assert d.cdf(torch.tensor(-1.0, dtype=D)).item() == pytest.approx(
        0.1 * math.exp(-2)
    )
    # density: 1 / slope on the piece, b (1 - F) in the right tail
    assert d.log_prob(torch.tensor(0.5, dtype=D)).item() == pytest.approx(math.log(0.8))
    y = torch.tensor(2.0, dtype=D)
    assert d.log_prob(y).exp().item() == pytest.approx(2 * 0.1 * math.exp(-2))


def pinball_crps(d: IQF, y: float, points) -> float:
    """2 int_0^1 rho_u(y - q(u)) du by adaptive quadrature (independent of the closed form)."""

    def f(u):
        q = d.icdf(torch.tensor(u, dtype=D)).item()
        return 2 * (y - q) * (u - float(y < q))

    pts = sorted(set(points) | {d.cdf(torch.tensor(y, dtype=D)).item()})
    pts = [p for p in pts if 0 < p < 1]
    return integrate.quad(f, 0, 1, points=pts, limit=500, epsabs=1e-12, epsrel=1e-10)[0]


@pytest.mark.parametrize("seed,levels,pieces", CASES)
def test_crps_matches_numerical_integral(seed, levels, pieces):
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    lo, hi = (
        d.icdf(torch.tensor(1e-3, dtype=D)).item(),
        d.icdf(torch.tensor(0.999, dtype=D)).item(),
    )
    ys = [lo - 3, lo, *np.linspace(lo, hi, 7), hi, hi + 3]
    brk = list(d.spline.u.reshape(-1).tolist()) + [d.spline.u_right.item()]
    for y in ys:
        closed = d.crps(torch.tensor(y, dtype=D)).item()
        assert closed == pytest.approx(pinball_crps(d, y, brk), rel=1e-6, abs=1e-8)


def test_crps_matches_monte_carlo():
    torch.manual_seed(0)
    d = random_iqf(7, batch=(3,))
    y = torch.tensor([-1.0, 0.3, 2.5], dtype=D)
    x, x2 = d.sample((200_000,)), d.sample((200_000,))
    mc = (x - y).abs().mean(0) - 0.5 * (x - x2).abs().mean(0)
    torch.testing.assert_close(d.crps(y), mc, rtol=2e-2, atol=1e-2)


@pytest.mark.parametrize("seed,levels,pieces", CASES)
def test_no_crossing_and_cdf_inverts_quantile(seed, levels, pieces):
    d = random_iqf(seed, batch=(4, 2), knot_levels=levels, pieces=pieces)
    u = torch.linspace(1e-4, 1 - 1e-4, 2001, dtype=D)
    q = d.quantile(u)  # (4, 2, L)
    assert q.shape == (4, 2, 2001)
    assert (q.diff(dim=-1) > 0).all()
    back = d.cdf(q.movedim(-1, 0))  # (L, 4, 2)
    torch.testing.assert_close(
        back, u.reshape(-1, 1, 1).expand_as(back), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("seed,levels,pieces", CASES[:6])
def test_density_integrates_to_one_and_is_cdf_derivative(seed, levels, pieces):
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    brk = d.spline.q.reshape(-1).tolist() + [d.spline.q_right.item()]
    dens = lambda y: d.log_prob(torch.tensor(y, dtype=D)).exp().item()  # noqa: E731
    total = sum(
        integrate.quad(dens, a, b, limit=200)[0]
        for a, b in zip([-np.inf] + brk, brk + [np.inf])
    )
    assert total == pytest.approx(1.0, abs=1e-8)
    y = torch.linspace(brk[0] - 2, brk[-1] + 2, 301, dtype=D)
    h = 1e-6
    fd = (d.cdf(y + h) - d.cdf(y - h)) / (2 * h)
    near_break = (y.unsqueeze(-1) - torch.tensor(brk, dtype=D)).abs().min(
        -1
    ).values < 1e-5
    torch.testing.assert_close(
        fd[~near_break], d.log_prob(y).exp()[~near_break], rtol=1e-5, atol=1e-8
    )


@pytest.mark.parametrize("seed,levels,pieces", CASES[:6])
def test_mean_and_variance_match_integrals_of_q(seed, levels, pieces):
    d = random_iqf(seed, knot_levels=levels, pieces=pieces)
    q = lambda u: d.icdf(torch.tensor(u, dtype=D)).item()  # noqa: E731
    # integrate piece by piece: [0, u_0], each linear piece, [u_M, 1]
    edges = [0.0, *d.spline.u.reshape(-1).tolist(), d.spline.u_right.item(), 1.0]

    def integral(f):
        return sum(
            integrate.quad(f, a, b, limit=200)[0] for a, b in zip(edges, edges[1:])
        )

    m, m2 = integral(q), integral(lambda u: q(u) ** 2)
    assert d.mean.item() == pytest.approx(m, rel=1e-7, abs=1e-9)
    assert d.variance.item() == pytest.approx(m2 - m**2, rel=1e-6)


def test_loc_scale_rules():
    base = random_iqf(3, batch=(5,))
    loc = torch.tensor([0.0, 1.0, -2.0, 1e3, 5.0], dtype=D)
    scale = torch.tensor([1.0, 2.0, 0.5, 10.0, 3.0], dtype=D)
    out = IQFOutput(knot_levels=(0.05, 0.3, 0.5, 0.8, 0.95), num_pieces=3)
    args = (
        base.knot_values,
        base.beta_l,
        base.beta_r,
        base.level_shares,
        base.value_shares,
    )
    d = out.distribution(args, loc=loc, scale=scale)
    u = torch.tensor([0.01, 0.2, 0.5, 0.97], dtype=D)
    torch.testing.assert_close(
        d.quantile(u), loc[:, None] + scale[:, None] * base.quantile(u)
    )
    y = torch.tensor([0.3, 1.7, -3.0, 1012.0, 4.0], dtype=D)
    z = (y - loc) / scale
    torch.testing.assert_close(d.crps(y), scale * base.crps(z))
    torch.testing.assert_close(d.cdf(y), base.cdf(z))
    torch.testing.assert_close(d.log_prob(y), base.log_prob(z) - scale.log())
    torch.testing.assert_close(d.mean, loc + scale * base.mean)
    torch.testing.assert_close(d.variance, scale**2 * base.variance)
    torch.testing.assert_close(out.loss(y, args, loc=loc, scale=scale), d.crps(y))
    # None for either is the identity
    torch.testing.assert_close(
        out.distribution(args, scale=scale).mean, scale * base.mean
    )
    torch.testing.assert_close(out.distribution(args, loc=loc).mean, loc + base.mean)


@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
@pytest.mark.parametrize("sample_shape", [(), (7,), (2, 3)])
def test_shapes(batch, sample_shape):
    d = random_iqf(0, batch=batch)
    assert d.batch_shape == batch and d.event_shape == ()
    s = d.sample(sample_shape)
    assert s.shape == (*sample_shape, *batch)
    assert d.rsample(sample_shape).shape == (*sample_shape, *batch)
    assert d.log_prob(s).shape == s.shape and d.crps(s).shape == s.shape
    assert d.cdf(s).shape == s.shape
    assert d.quantile([0.1, 0.5, 0.9]).shape == (*batch, 3)
    assert d.mean.shape == batch and d.variance.shape == batch
    # a single level as GluonTS's DistributionForecast passes it
    assert d.icdf(torch.tensor([0.3], dtype=D)).shape == (batch if batch else (1,))


def test_samples_follow_the_cdf():
    torch.manual_seed(1)
    d = random_iqf(11)
    s = d.sample((100_000,))
    grid = d.quantile(torch.linspace(0.01, 0.99, 99, dtype=D))
    emp = (s.unsqueeze(-1) <= grid).double().mean(0)
    assert (emp - torch.linspace(0.01, 0.99, 99, dtype=D)).abs().max() < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_for_extreme_targets(dtype):
    out = IQFOutput(knot_levels=(0.1, 0.3, 0.5, 0.7, 0.9), num_pieces=4)
    torch.manual_seed(0)
    raw = [
        torch.randn(6, d, dtype=dtype, requires_grad=True)
        for d in out.args_dim.values()
    ]
    y = torch.tensor([-1e6, -1e3, 0.0, 0.5, 1e3, 1e6], dtype=dtype)
    loss = out.loss(y, out.domain_map(*raw))
    assert torch.isfinite(loss).all()
    # far away, CRPS ~ |y - median| up to O(1) terms
    assert loss[0].item() == pytest.approx(1e6, rel=1e-3)
    loss.sum().backward()
    for r in raw:
        assert torch.isfinite(r.grad).all()
    d = out.distribution(out.domain_map(*raw))
    assert torch.isfinite(d.log_prob(y)).all() and torch.isfinite(d.cdf(y)).all()


def test_crps_gradient_matches_finite_differences():
    out = IQFOutput(knot_levels=(0.1, 0.5, 0.9), num_pieces=2)
    torch.manual_seed(2)
    raw = tuple(
        torch.randn(4, d, dtype=D, requires_grad=True) for d in out.args_dim.values()
    )
    y = torch.tensor([-2.0, 0.1, 0.4, 3.0], dtype=D)
    fn = lambda *r: out.loss(y, out.domain_map(*r))  # noqa: E731
    assert torch.autograd.gradcheck(fn, raw)


def test_float32_crps_accurate_far_from_zero():
    d64 = random_iqf(5)
    shift = 1e4
    args = [
        d64.knot_values + shift,
        d64.beta_l,
        d64.beta_r,
        d64.level_shares,
        d64.value_shares,
    ]
    d32 = IQF(d64.knot_levels.float(), *[a.float() for a in args])
    y = torch.tensor([shift - 1, shift + 0.5, shift + 2])
    torch.testing.assert_close(
        d32.crps(y).double(), d64.crps(y.double() - shift), rtol=1e-3, atol=1e-3
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(knot_levels=(0.5,)), "at least 2"),
        (dict(knot_levels=(0.0, 0.5)), "between 0 and 1"),
        (dict(knot_levels=(0.1, 1.2)), "between 0 and 1"),
        (dict(knot_levels=(0.5, 0.1)), "strictly increasing"),
        (dict(knot_levels=(0.1, 0.1, 0.9)), "strictly increasing"),
        (dict(num_pieces=0), "num_pieces"),
        (dict(num_pieces=1.5), "num_pieces"),
        (dict(tol=0.0), "tol"),
        (dict(tol=-1e-3), "tol"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IQFOutput(**kwargs)


@pytest.mark.parametrize("levels", [[0.0, 0.5], [1.0], [0.5, float("nan")], [-0.1], []])
def test_bad_levels(levels):
    with pytest.raises(ValueError, match="level"):
        hand_iqf().quantile(levels)


def test_output_serde_round_trip():
    from gluonts.core import serde

    out = IQFOutput(knot_levels=(0.05, 0.5, 0.95), num_pieces=3, tol=1e-3)
    back = serde.decode(serde.encode(out))
    assert isinstance(back, IQFOutput)
    assert (back.knot_levels, back.num_pieces, back.tol) == (out.knot_levels, 3, 1e-3)
    assert back.args_dim == out.args_dim
