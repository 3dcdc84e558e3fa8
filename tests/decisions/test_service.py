"""Service levels, fill rate and the newsvendor, against analytic answers.

Normal demand: ``q(a) = mu + sigma z``, ``q'(a) = sigma / phi(z)``, expected
shortage ``sigma (phi(z) - z (1 - Phi(z)))`` (the normal loss function), optimal
cost ``(c_u + c_o) sigma phi(z*)``. Exponential demand: ``q'(a) = 1 / (rate (1 - a))``,
shortage ``(1 - a) / rate`` (memorylessness), optimal cost ``c_o x*``. IQF forecasts
also against quadrature of ``loc + scale q(u)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from oracles import (
    exponential_iqf,
    iqf_forecast,
    normal_iqf,
    random_iqf,
    sample_forecast,
)
from scipy import integrate, stats

from gluonts_qf import IQF
from gluonts_qf import decisions as dec
from gluonts_qf.distributions.calibrated import LevelMap, with_map

MU, SIGMA = 10.0, 2.0
LEVELS = np.array([0.3, 0.5, 0.8, 0.9, 0.94, 0.95, 0.99])


def normal_loss(z):
    """``E[(Z - z)+]`` of the standard normal."""
    return stats.norm.pdf(z) - z * stats.norm.sf(z)


@pytest.fixture(scope="module")
def normal_samples():
    """200,000 draws of N(MU, SIGMA^2) at each of 2 steps, as a SampleForecast."""
    rng = np.random.default_rng(0)
    return sample_forecast(rng.normal(MU, SIGMA, size=(200_000, 2)), item_id="n")


def test_normal_from_samples(normal_samples):
    tr = dec.service_tradeoff(normal_samples, LEVELS, step=1)
    z = stats.norm.ppf(LEVELS)
    assert not tr.exact and tr.item_ids == ("n",)
    np.testing.assert_allclose(tr.quantity[0], MU + SIGMA * z, atol=0.03)
    # derivative of the quantile function = 1 / density at the quantile
    want = SIGMA / stats.norm.pdf(z) / 100
    np.testing.assert_allclose(tr.extra_per_point[0], want, rtol=0.08)
    # expected shortage at each quantity: the normal loss function
    short = dec.expected_shortage(normal_samples, tr.quantity[0], step=1)
    np.testing.assert_allclose(short, SIGMA * normal_loss(z), atol=0.01)
    np.testing.assert_allclose(tr.shortage[0], short)
    np.testing.assert_allclose(tr.fill_rate[0], 1 - short / MU, atol=1e-3)


def test_normal_from_dense_iqf_is_exact():
    f = iqf_forecast(normal_iqf(MU, SIGMA, steps=3))
    tr = dec.service_tradeoff([f], LEVELS, step=2)
    z = stats.norm.ppf(LEVELS)
    assert tr.exact
    # the levels lie on knots: the quantiles are the normal's, to rounding
    np.testing.assert_allclose(tr.quantity[0], MU + SIGMA * z, rtol=0, atol=1e-12)
    # expected shortage: the loss function (999 linear pieces: within 1e-4 sigma)
    np.testing.assert_allclose(
        tr.shortage[0], SIGMA * normal_loss(z), rtol=0, atol=1e-4 * SIGMA
    )
    # leftover from the identity E[(x - Y)+] = x - mu + E[(Y - x)+]
    np.testing.assert_allclose(
        tr.leftover[0], tr.quantity[0] - MU + tr.shortage[0], atol=1e-4 * SIGMA
    )
    # q' = 1 / density: at the middle of each piece the chord is the tangent
    mid = (np.arange(50, 950) + 0.5) / 1000
    slope = dec.as_demand(f).quantile_slope(mid)[:, 2]
    want = SIGMA / stats.norm.pdf(stats.norm.ppf(mid))
    np.testing.assert_allclose(slope, want, rtol=2e-4)


@pytest.mark.parametrize("under,over", [(4.0, 1.0), (1.0, 3.0), (19.0, 1.0)])
def test_critical_fractile_recovers_normal_optimum(under, over):
    f = iqf_forecast(normal_iqf(MU, SIGMA))
    nv = dec.newsvendor(f, under, over)
    z = stats.norm.ppf(under / (under + over))
    assert nv.level == pytest.approx(under / (under + over), rel=1e-15)
    assert nv.quantity == pytest.approx(MU + SIGMA * z, abs=2e-5)
    cost = (under + over) * SIGMA * stats.norm.pdf(z)
    assert nv.expected_cost == pytest.approx(cost, rel=1e-3)
    # and a brute-force search over quantities lands on it
    grid = np.linspace(MU - 4 * SIGMA, MU + 4 * SIGMA, 8001)
    costs = dec.expected_cost(f, grid, under, over)
    assert abs(grid[np.argmin(costs)] - nv.quantity) <= grid[1] - grid[0]
    assert costs.min() >= nv.expected_cost - 1e-9


def test_exponential_from_samples():
    rate, under, over = 0.5, 9.0, 1.0
    rng = np.random.default_rng(1)
    f = sample_forecast(rng.exponential(1 / rate, size=(400_000, 1)))
    nv = dec.newsvendor(f, under, over)
    x = math.log((under + over) / over) / rate  # q(0.9) = -log(0.1) / rate
    assert nv.quantity == pytest.approx(x, rel=0.01)
    assert nv.expected_cost == pytest.approx(over * x, rel=0.01)  # c_o x*
    tr = dec.service_tradeoff(f, [0.5, 0.9])
    np.testing.assert_allclose(
        tr.extra_per_point[0], 1 / (rate * (1 - np.array([0.5, 0.9]))) / 100, rtol=0.05
    )


def test_exponential_tail_of_iqf_is_exact():
    """Beyond the last knot an IQF with an Exp(rate) tail gives the exponential's
    answers exactly: slope ``1 / (rate (1 - a))`` and shortage ``(1 - a) / rate``."""
    rate = 0.25
    f = iqf_forecast(exponential_iqf(rate, steps=2))
    a = np.array([0.85, 0.95, 0.995])
    tr = dec.service_tradeoff(f, a, step=1)
    np.testing.assert_allclose(tr.quantity[0], -np.log1p(-a) / rate, rtol=1e-13)
    np.testing.assert_allclose(tr.extra_per_point[0], 1 / (rate * (1 - a)) / 100)
    np.testing.assert_allclose(tr.shortage[0], (1 - a) / rate, rtol=1e-12)
    mean = exponential_iqf(rate).mean.item()
    np.testing.assert_allclose(tr.fill_rate[0], 1 - (1 - a) / rate / mean)


def scaled(d: IQF, loc: float, scale: float) -> IQF:
    """``d`` with its location and scale replaced."""
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return IQF(*_args(d)[:6], t(loc), t(scale))


@pytest.mark.parametrize("pieces", [1, 3])
def test_iqf_with_loc_scale_against_quadrature(pieces):
    loc, scale = 250.0, 7.0
    d = scaled(random_iqf(4, batch=(3,), pieces=pieces), loc, scale)
    f = iqf_forecast(d)
    q = lambda u: d.icdf(torch.tensor(u, dtype=torch.float64))[1].item()  # noqa: E731
    x = np.array([q(u) for u in (0.01, 0.05, 0.21, 0.5, 0.77, 0.95, 0.999)])
    out = dec.outcome(f, x, step=1)
    for xi, short, left in zip(x, out.shortage, out.leftover):
        v = d.cdf(torch.tensor(xi, dtype=torch.float64))[1].item()
        pts = [p for p in d.spline.u.reshape(-1).tolist() if 0 < p < 1]
        opts = dict(points=pts, limit=500, epsabs=1e-11, epsrel=1e-11)
        want_s = integrate.quad(lambda u, x=xi: q(u) - x, v, 1, **opts)[0]
        want_l = integrate.quad(lambda u, x=xi: x - q(u), 0, v, **opts)[0]
        assert short == pytest.approx(want_s, rel=1e-8, abs=1e-9)
        assert left == pytest.approx(want_l, rel=1e-8, abs=1e-9)
    # quantities and slopes map affinely
    lv = [0.02, 0.4, 0.97]
    demand = dec.as_demand(f)
    base = dec.as_demand(iqf_forecast(scaled(d, 0.0, 1.0)))
    np.testing.assert_allclose(demand.quantile(lv), loc + scale * base.quantile(lv))
    np.testing.assert_allclose(
        demand.quantile_slope(lv), scale * base.quantile_slope(lv)
    )


def test_exact_and_sampled_iqf_agree():
    d = scaled(random_iqf(2, batch=(2,), pieces=2), 30.0, 4.0)
    f = iqf_forecast(d)
    exact = dec.service_tradeoff(f, [0.2, 0.6, 0.9])
    mc = dec.service_tradeoff(f, [0.2, 0.6, 0.9], exact=False)
    assert exact.exact and not mc.exact
    np.testing.assert_allclose(mc.quantity, exact.quantity, rtol=0.05, atol=0.1)
    np.testing.assert_allclose(mc.shortage, exact.shortage, rtol=0.15, atol=0.1)


def test_float32_forecast_matches_float64():
    d64 = scaled(random_iqf(6, batch=(4,)), 5000.0, 300.0)
    d32 = IQF(*(None if t is None else t.float() for t in _args(d64)))
    x = np.array([4800.0, 5000.0, 5600.0])
    got = dec.outcome(iqf_forecast(d32), x, step=3)
    want = dec.outcome(iqf_forecast(d64), x, step=3)
    np.testing.assert_allclose(got.shortage, want.shortage, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(got.leftover, want.leftover, rtol=1e-4, atol=1e-2)


def _args(d: IQF) -> tuple:
    """The arguments that rebuild ``d``."""
    return (
        d.knot_levels,
        d.knot_values,
        d.beta_l,
        d.beta_r,
        d.level_shares,
        d.value_shares,
        d.loc,
        d.scale,
    )


def test_tradeoff_totals_and_94_vs_95():
    fs = [
        iqf_forecast(scaled(random_iqf(s, batch=(2,)), 100.0 * s + 50, 3.0 + s), s)
        for s in range(3)
    ]
    tr = dec.service_tradeoff(fs, [0.9, 0.94, 0.95], costs=(4.0, 1.0))
    total = tr.total()
    np.testing.assert_allclose(total["quantity"], tr.quantity.sum(0))
    np.testing.assert_allclose(total["extra_per_point"], tr.extra_per_point.sum(0))
    np.testing.assert_allclose(
        total["fill_rate"], 1 - tr.shortage.sum(0) / tr.mean.sum()
    )
    np.testing.assert_allclose(
        total["expected_cost"], (4 * tr.shortage + tr.leftover).sum(0)
    )
    assert np.all(np.diff(tr.quantity, axis=1) > 0)
    assert np.all(np.diff(tr.fill_rate, axis=1) > 0)
    # going from 94% to 95% costs the integral of q' over [0.94, 0.95]
    for i, f in enumerate(fs):
        demand = dec.as_demand(f)
        extra = integrate.quad(
            lambda u, d=demand: d.quantile_slope([u])[0, 0], 0.94, 0.95, limit=200
        )[0]
        assert tr.quantity[i, 2] - tr.quantity[i, 1] == pytest.approx(extra, rel=1e-7)
    rows = tr.per_series()
    assert len(rows) == 9 and list(rows["item_id"][:3]) == [0, 0, 0]


def test_fill_rate_is_nan_for_non_positive_mean():
    f = sample_forecast(np.random.default_rng(2).normal(-5.0, 1.0, size=(1000, 1)))
    assert np.isnan(dec.fill_rate(f, 0.0))


BAD = [
    (lambda f: dec.service_tradeoff(f, [0.5, 1.0]), "strictly between 0 and 1"),
    (lambda f: dec.service_tradeoff(f, [0.0]), "strictly between 0 and 1"),
    (lambda f: dec.service_tradeoff(f, []), "is empty"),
    (
        lambda f: dec.newsvendor(f, 0, 1),
        "under_cost must be a positive number, got 0",
    ),
    (
        lambda f: dec.newsvendor(f, 4, -1),
        "over_cost must be a positive number, got -1",
    ),
    (lambda f: dec.expected_cost(f, 1.0, float("nan"), 1), "under_cost"),
    (lambda f: dec.service_tradeoff(f, [0.5], costs=(1, 0)), "costs are per unit"),
    (lambda f: dec.parse_costs("4"), "two numbers 'under,over'"),
    (lambda f: dec.parse_costs("4,x"), "two numbers 'under,over'"),
    (lambda f: dec.parse_costs("0,1"), "under_cost must be"),
    (lambda f: dec.outcome(f, 1.0, step=3), "step must be < the forecast horizon 3"),
    (lambda f: dec.outcome(f, 1.0, step=-1), "step must be an integer >= 0"),
]


@pytest.mark.parametrize("call,message", BAD)
def test_bad_inputs_are_clear_errors(call, message):
    f = iqf_forecast(exponential_iqf(1.0, steps=3))
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        call(f)


def test_exact_answers_need_an_iqf_forecast():
    f = sample_forecast(np.zeros((10, 3)) + np.arange(10)[:, None])
    with pytest.raises(
        ValueError, match="need an IQF distribution forecast.*exact=False"
    ):
        dec.service_tradeoff(f, [0.9], exact=True)
    with pytest.raises(ValueError, match="copy_dim"):
        dec.as_demand(sample_forecast(np.zeros((10, 3, 2))))


def test_a_recalibrated_forecast_is_decided_through_its_level_map():
    """A level map that moves 0.9 to 0.97: the 90% stock is the base IQF's
    97% quantile (from samples; the map leaves no closed form here)."""
    base = normal_iqf(MU, SIGMA, steps=1)
    calibrated = with_map(base, LevelMap([0.9], [0.97]))
    demand = dec.as_demand(iqf_forecast(calibrated), num_samples=20000)
    tr = dec.service_tradeoff([demand], [0.9])
    assert not tr.exact
    want = MU + SIGMA * stats.norm.ppf(0.97)
    assert tr.quantity[0, 0] == pytest.approx(want, abs=0.1 * SIGMA)  # 3 s.e.
    with pytest.raises(ValueError, match="exact"):
        dec.as_demand(iqf_forecast(calibrated), exact=True)
