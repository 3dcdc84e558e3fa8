"""The quantile-space ensemble: exact averages, weights that the held-back windows
choose, and an estimator whose forecasts are IQFs that round trip."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.predictor import Predictor
from helpers import trainer_kwargs
from scipy import stats

from gluonts_qf import IQF, IQFEnsembleEstimator, IQFEstimator
from gluonts_qf import decisions as dec
from gluonts_qf.distributions.censored import CensoredIQF
from gluonts_qf.model.ensemble.combine import (
    SPREADS,
    TAIL_FACTORS,
    combine,
    continued_tails,
    fit_spread,
    fit_tails,
    fit_weights,
    increasing,
    quantiles_at,
    scale_tails,
    simplex_grid,
    stretch,
)
from gluonts_qf.model.ensemble.defaults import SCORED_LEVELS
from gluonts_qf.model.ensemble.neural import NEURAL_SEEDS
from gluonts_qf.model.ensemble.predictor import network_members, statistical_member
from gluonts_qf.model.ensemble.windows import lean, never_negative, validation_windows

LEVELS = np.array([0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95])
U = [0.001, 0.01, 0.05, 0.07, 0.3, 0.42, 0.5, 0.9, 0.93, 0.97, 0.999]


def _iqf(values, bl, br) -> IQF:
    return IQF(
        torch.tensor(LEVELS), torch.tensor(values), torch.tensor(bl), torch.tensor(br)
    )


def test_the_average_of_iqfs_is_the_iqf_of_averaged_knots_and_inverse_rates():
    rng = np.random.default_rng(0)
    members = []
    for _ in range(3):
        v = np.sort(rng.normal(size=(4, len(LEVELS))), -1)
        members.append((v, rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)))
    w = [0.2, 0.5, 0.3]
    values, bl, br = combine(w, *zip(*members))
    ens = _iqf(values, bl, br)
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    want = sum(wm * _iqf(*m).icdf(u) for wm, m in zip(w, members))
    torch.testing.assert_close(ens.icdf(u), want)  # at every level, tails too
    np.testing.assert_allclose(quantiles_at(LEVELS, values, bl, br, U), ens.icdf(u).T)


def test_continued_tails_start_with_the_outer_pieces_slope():
    values = stats.norm.ppf(LEVELS)[None]
    bl, br = continued_tails(LEVELS, values)
    d = _iqf(values, bl, br)
    eps = 1e-7
    for a, b in ((LEVELS[0] - eps, LEVELS[0]), (LEVELS[-1], LEVELS[-1] + eps)):
        tail = (d.icdf(torch.tensor(b)) - d.icdf(torch.tensor(a))) / eps
        j = 0 if a < LEVELS[0] else -2
        piece = (values[0, j + 1] - values[0, j]) / (LEVELS[j + 1] - LEVELS[j])
        assert float(tail) == pytest.approx(piece, rel=1e-4)


def test_increasing_gives_a_constant_member_a_valid_steep_quantile_function():
    v = increasing(np.full((2, len(LEVELS)), 5.0), scale=np.array([1.0, 100.0]))
    assert np.all(np.diff(v, axis=-1) > 0)
    np.testing.assert_allclose(v[:, 0], 5.0)
    assert v[1, -1] - v[1, 0] == pytest.approx(100 * (len(LEVELS) - 1) * 1e-6)


def test_simplex_grid_and_fit_weights_recover_the_right_member():
    grid = simplex_grid(3, 0.25)
    assert len(grid) == 15 and np.allclose(grid.sum(1), 1) and (grid >= 0).all()
    rng = np.random.default_rng(1)
    y = rng.normal(size=4000)
    levels = [0.1, 0.5, 0.9]
    true = np.broadcast_to(stats.norm.ppf(levels), (4000, 3))
    wide, shifted = 3 * true, true + 1.0
    weights, alone = fit_weights(np.stack([wide, true, shifted]), y, levels, 0.1)
    assert weights[1] >= 0.8 and weights.sum() == pytest.approx(1)
    assert alone[1] < alone[0] and alone[1] < alone[2]
    # two halves of a too narrow and a too wide forecast: the blend wins
    narrow, broad = 0.5 * true, 1.5 * true
    weights, alone = fit_weights(np.stack([narrow, broad]), y, levels, 0.05)
    assert 0.3 <= weights[0] <= 0.7


def test_stretch_scales_the_quantile_function_about_its_median_tails_too():
    """At every level, body and tails: q_s(u) = m + s (q(u) - m), s the lower
    factor below the median and the upper one above; still increasing."""
    rng = np.random.default_rng(3)
    values = np.sort(rng.normal(size=(4, len(LEVELS))), -1)
    bl, br = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
    before = _iqf(values, bl, br)
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    q, m = before.icdf(u), before.icdf(torch.tensor(0.5, dtype=torch.float64))
    for lower, upper in ((0.6, 1.7), (1.3, 1.3), (2.0, 0.5)):
        after = _iqf(*stretch(LEVELS, values, bl, br, lower, upper))
        factor = torch.where(u < 0.5, lower, upper)
        torch.testing.assert_close(after.icdf(u), m + factor * (q - m))
        grid = torch.linspace(1e-4, 1 - 1e-4, 999, dtype=torch.float64)[:, None]
        dense = after.icdf(grid)
        assert (dense.diff(dim=0) > 0).all()
    off = np.array([0.1, 0.3, 0.7, 0.9])  # no knot at the median: one factor only
    v = np.sort(rng.normal(size=(2, 4)), -1)
    s_v, s_l, s_r = stretch(off, v, np.ones(2), np.ones(2), 1.5, 1.5)
    med = quantiles_at(off, v, np.ones(2), np.ones(2), [0.5])
    np.testing.assert_allclose(
        quantiles_at(off, s_v, s_l, s_r, U),
        med + 1.5 * (quantiles_at(off, v, np.ones(2), np.ones(2), U) - med),
    )
    with pytest.raises(ValueError, match="need a knot at 0.5"):
        stretch(off, v, np.ones(2), np.ones(2), 1.5, 1.0)
    with pytest.raises(ValueError, match="must be positive"):
        stretch(LEVELS, values, bl, br, 0.0, 1.0)


def test_fit_spread_recovers_the_scale_on_each_side_of_the_median():
    """Outcomes from a split normal (sd 0.7 below 0, 1.5 above), forecast as a
    standard normal: with ``sides`` the pinball loss is least at factors 0.7
    and 1.5, so the grid's nearest, 2^(-1/2) and 2^(5/8), are chosen; one
    factor for both sides recovers a normal's sd 1.5; a right forecast keeps 1."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=200_000)
    y = np.where(z < 0, 0.7 * z, 1.5 * z)
    levels = [0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99]
    q = np.broadcast_to(stats.norm.ppf(levels), (len(y), len(levels)))
    lower, upper = fit_spread(q, y, levels, sides=True)
    assert lower == pytest.approx(2 ** (-4 / 8)) and upper == pytest.approx(
        2 ** (5 / 8)
    )
    assert fit_spread(q, 1.5 * z, levels) == (pytest.approx(2 ** (5 / 8)),) * 2
    assert fit_spread(q, z, levels) == (1.0, 1.0)
    assert fit_spread(q, z, levels, sides=True) == (1.0, 1.0)
    assert fit_spread(q[:3], np.full(3, np.nan), levels) == (1.0, 1.0)  # no data
    assert min(SPREADS) == 0.5 and max(SPREADS) == 2.0 and 1.0 in SPREADS
    with pytest.raises(ValueError, match="needs the level 0.5"):
        fit_spread(q[:, :4], y, levels[:4])


def test_scale_tails_moves_only_the_quantiles_beyond_the_outer_knots():
    """q(u) -> q(a_1) + c_l (q(u) - q(a_1)) below the first knot, likewise above
    the last with c_u; every quantile between the knots is unchanged, and the
    result is still increasing."""
    rng = np.random.default_rng(5)
    values = np.sort(rng.normal(size=(4, len(LEVELS))), -1)
    bl, br = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    q = _iqf(values, bl, br).icdf(u)
    first, last = torch.tensor(values[:, 0]), torch.tensor(values[:, -1])
    for lower, upper in ((0.5, 2.0), (3.0, 0.3), (1.0, 1.0)):
        after = _iqf(values, *scale_tails(bl, br, lower, upper))
        want = torch.where(u < LEVELS[0], first + lower * (q - first), q)
        want = torch.where(u > LEVELS[-1], last + upper * (q - last), want)
        torch.testing.assert_close(after.icdf(u), want)
        grid = torch.linspace(1e-4, 1 - 1e-4, 999, dtype=torch.float64)[:, None]
        assert (after.icdf(grid).diff(dim=0) > 0).all()
    with pytest.raises(ValueError, match="must be positive"):
        scale_tails(bl, br, 1.0, -1.0)


def test_fit_tails_recovers_how_heavy_each_tail_is():
    """Outcomes spread as the forecast's own IQF with its lower tail 2^(-4/8)
    and its upper tail 2^(5/8) times as heavy: the pinball loss beyond the knots
    is least at the true quantiles, so those factors are found; outcomes from
    the forecast itself keep 1 and 1. Censored at a bound, the factor is the
    one a brute-force search over the censored quantiles finds."""
    rng = np.random.default_rng(6)
    n = 100_000
    values = np.broadcast_to(stats.norm.ppf(LEVELS), (n, len(LEVELS)))
    bl, br = continued_tails(LEVELS, values)
    at = [0.005, 0.01, 0.02, 0.03, 0.04, 0.5, 0.96, 0.97, 0.98, 0.99, 0.995]

    def draw(lower, upper):  # the scaled IQF at n evenly spread levels, shuffled
        left, right = scale_tails(bl[:1], br[:1], lower, upper)
        iqf = _iqf(values[:1], left, right)
        u = torch.tensor((np.arange(n) + 0.5) / n)[:, None]
        return rng.permutation(iqf.icdf(u)[:, 0].numpy())

    want = (2 ** (-4 / 8), 2 ** (5 / 8))
    got = fit_tails(LEVELS, values, bl, br, draw(*want), at)
    assert got == pytest.approx(want)
    assert fit_tails(LEVELS, values, bl, br, draw(1.0, 1.0), at) == (1.0, 1.0)
    # censored at -2: the lower side's losses are those of the clipped quantiles
    y = draw(*want)
    got = fit_tails(
        LEVELS, values[:5000], bl[:5000], br[:5000], y[:5000], at, lower_bound=-2.0
    )
    below = [a for a in at if a < LEVELS[0]]
    losses = []
    for c in TAIL_FACTORS:
        q = quantiles_at(LEVELS, values[:1], bl[:1] / c, br[:1], below)
        err = y[:5000, None] - np.maximum(q, -2.0)
        losses.append(float((err * (np.array(below) - (err < 0))).sum()))
    assert got[0] == TAIL_FACTORS[int(np.argmin(losses))]
    # no level beyond a knot, or no finite outcome: the tails are kept
    assert fit_tails(LEVELS, values[:3], bl[:3], br[:3], y[:3], [0.5]) == (1.0, 1.0)
    nan = np.full(3, np.nan)
    assert fit_tails(LEVELS, values[:3], bl[:3], br[:3], nan, at) == (1.0, 1.0)
    assert min(TAIL_FACTORS) == 0.25 and max(TAIL_FACTORS) == 4.0


def _seasonal_series(
    n: int, length: int = 96, freq: str = "h", period: int = 24
) -> list[dict]:
    rng = np.random.default_rng(2)
    t = np.arange(length)
    start = pd.Period("2024-01-01 00:00", freq=freq)
    return [
        {
            "start": start,
            "target": 20
            + i
            + 5 * np.sin(2 * np.pi * t / period)
            + rng.normal(0, 0.2, length),
            "item_id": f"s{i}",
        }
        for i in range(n)
    ]


def _tiny_network(
    root, batches: int, epochs: int = 1, callbacks=(), freq="h", horizon=6, **kwargs
) -> IQFEstimator:
    """An IQF network at the test knots, trained for ``epochs`` of ``batches``."""
    return IQFEstimator(
        freq=freq,
        prediction_length=horizon,
        knot_levels=list(LEVELS),
        hidden_size=4,
        decoder_hidden=4,
        batch_size=4,
        num_batches_per_epoch=batches,
        trainer_kwargs=trainer_kwargs(root, epochs, callbacks),
        **kwargs,
    )


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    est = IQFEnsembleEstimator(
        network=_tiny_network(root, batches=1),
        members=["naive_intervals"],
        step=0.1,
        windows=2,
    )
    data = _seasonal_series(6)
    return est, est.train(data), data, root


def test_the_held_back_windows_choose_the_better_member(ensemble):
    """Nearly periodic series: seasonal naive is almost exact, the network has
    trained one step: the weights go to seasonal naive."""
    _, predictor, _, _ = ensemble
    weights = predictor.choices["weights"]
    assert set(weights) == {"network", "naive_intervals"}
    assert sum(weights.values()) == pytest.approx(1)
    losses = predictor.choices["validation_wql"]
    assert losses["naive_intervals"] < losses["network"]
    assert predictor.choices["fitted_weights"]["naive_intervals"] >= 0.7


def test_the_weights_pool_two_windows_and_lean_towards_the_network(ensemble):
    """Every series holds 96 steps, so both windows are scored; the predictor
    keeps the last window's network and the full-data ones (two by default);
    the weights are the fitted ones with ``network_prior`` (0.25 by default)
    moved to the network."""
    est, predictor, _, _ = ensemble
    assert predictor.choices["validation_windows"] == 2
    assert predictor.choices["validation_series"] == 6
    assert len(predictor.networks) == 1 + est.seeds == 3
    assert est.network_prior == 0.25
    fitted, weights = predictor.choices["fitted_weights"], predictor.choices["weights"]
    assert weights["network"] == pytest.approx(0.25 + 0.75 * fitted["network"])
    assert weights["naive_intervals"] == pytest.approx(0.75 * fitted["naive_intervals"])


def test_validation_windows_are_consecutive_and_never_seen():
    """Window k holds steps [-(k+1)T, -kT) and its past ends right before it;
    a series too short for window k is left out of it, not reused whole."""
    start = pd.Period("2024-01-01", "D")
    data = [
        {"start": start, "target": np.arange(20.0)},
        {"start": start, "target": np.arange(100.0, 107.0)},  # 7 steps: window 0 only
    ]
    got = validation_windows(data, 3, 3)
    assert len(got) == 3
    (p0, w0), (p1, w1), (p2, w2) = got
    np.testing.assert_array_equal(w0[0], [17, 18, 19])
    np.testing.assert_array_equal(p0[0]["target"], np.arange(17.0))
    np.testing.assert_array_equal(w0[1], [104, 105, 106])
    assert len(p1) == len(w1) == 1 and len(p2) == 1
    np.testing.assert_array_equal(w1[0], [14, 15, 16])
    np.testing.assert_array_equal(p1[0]["target"], np.arange(14.0))
    np.testing.assert_array_equal(w2[0], [11, 12, 13])
    np.testing.assert_array_equal(p2[0]["target"], np.arange(11.0))
    # windows that no series is long enough for are left out
    assert len(validation_windows(data, 3, 9)) == 6
    assert len(validation_windows(data[1:], 3, 2)) == 1


def test_ensemble_forecasts_are_exact_iqfs_that_round_trip(ensemble, tmp_path):
    _, predictor, data, _ = ensemble
    forecasts = list(predictor.predict(data))
    assert len(forecasts) == len(data)
    for fc, entry in zip(forecasts, data):
        assert isinstance(fc.distribution, IQF) and fc.distribution.batch_shape == (6,)
        assert fc.start_date == entry["start"] + len(entry["target"])
        q = fc.distribution.quantile(np.linspace(0.001, 0.999, 99)).numpy()
        assert np.all(np.diff(q, axis=-1) >= 0) and (q >= 0).all()
        above = q[:, :-1] > 0  # strictly increasing off the point mass at 0
        assert np.all(np.diff(q, axis=-1)[above] > 0)
    tradeoff = dec.service_tradeoff(forecasts, [0.9, 0.95])
    assert tradeoff.exact
    predictor.serialize(tmp_path)
    loaded = Predictor.deserialize(tmp_path)
    again = list(loaded.predict(data))
    for a, b in zip(forecasts, again):
        np.testing.assert_allclose(a.quantile(0.37), b.quantile(0.37), rtol=1e-12)
    assert loaded.choices["weights"] == predictor.choices["weights"]
    assert loaded.lower_bound == predictor.lower_bound == 0.0
    # a predictor saved before neural members existed has no "neural" entry
    settings = json.loads((tmp_path / "ensemble.json").read_text())
    assert settings.pop("neural") == {}
    (tmp_path / "ensemble.json").write_text(json.dumps(settings))
    older = Predictor.deserialize(tmp_path)
    assert older.neural == {}
    for a, b in zip(forecasts, older.predict(data)):
        np.testing.assert_allclose(a.quantile(0.37), b.quantile(0.37), rtol=1e-12)


def test_non_negative_training_data_censor_the_forecasts_at_zero(ensemble):
    """The series are positive, so ``lower_bound="auto"`` censors at 0: a
    series that fell to zero gets quantiles that are 0, never below, at low
    levels, and the same quantile function as the uncensored IQF above it."""
    est, predictor, data, _ = ensemble
    assert est.lower_bound == "auto" and predictor.choices["lower_bound"] == 0.0
    fallen = [{**data[0], "target": np.r_[data[0]["target"][:-24], np.zeros(24)]}]
    (fc,) = predictor.predict(fallen)
    d = fc.distribution
    assert isinstance(d, CensoredIQF)
    u = torch.linspace(0.01, 0.99, 99, dtype=torch.float64).reshape(-1, 1)
    q, plain = d.icdf(u), d.uncensored().icdf(u)
    assert (plain < 0).any(), "the test needs a forecast that dips below zero"
    torch.testing.assert_close(q, plain.clamp(min=0.0))
    assert (fc.quantile(0.05) >= 0).all()


def test_never_negative_reads_every_observed_value():
    start = pd.Period("2024-01-01", "D")
    assert never_negative([{"start": start, "target": np.r_[0.0, 3.0, np.nan]}])
    assert not never_negative(
        [{"start": start, "target": np.ones(5)}, {"start": start, "target": [2, -1e-9]}]
    )
    assert not never_negative([{"start": start, "target": np.full(4, np.nan)}])


def test_bad_ensembles_are_clear_errors(ensemble):
    est, _, _, _ = ensemble
    with pytest.raises(ValueError, match="unknown ensemble member"):
        IQFEnsembleEstimator(network=est.network, members=["prophet"])
    pieces = IQFEstimator(freq="h", prediction_length=6, num_pieces=2)
    with pytest.raises(ValueError, match="one piece per knot interval"):
        IQFEnsembleEstimator(network=pieces)
    short = [{"start": pd.Period("2024-01-01", "D"), "target": np.ones(7)}]
    with pytest.raises(ValueError, match="no training series is longer"):
        est.train(short)
    with pytest.raises(ValueError, match="windows must be a positive integer"):
        IQFEnsembleEstimator(network=est.network, windows=0)
    with pytest.raises(ValueError, match="network_prior must be in .* IQFEstimator"):
        IQFEnsembleEstimator(network=est.network, network_prior=1.0)
    with pytest.raises(ValueError, match="lower_bound must be 'auto', None or a num"):
        IQFEnsembleEstimator(network=est.network, lower_bound="zero")
    with pytest.raises(ValueError, match="lower_bound must be finite"):
        IQFEnsembleEstimator(network=est.network, lower_bound=float("nan"))
    with pytest.raises(ValueError, match="patience must be a positive integer"):
        IQFEnsembleEstimator(network=est.network, patience=0)
    with pytest.raises(ValueError, match="spread must be one of"):
        IQFEnsembleEstimator(network=est.network, spread="wide")
    no_median = IQFEstimator(freq="h", prediction_length=6, knot_levels=[0.1, 0.9])
    with pytest.raises(ValueError, match="needs a knot at 0.5"):
        IQFEnsembleEstimator(network=no_median, spread="window_sides")


def test_constant_and_missing_histories_still_give_valid_forecasts(ensemble):
    """A constant series and one whose history is all missing: exact, increasing
    quantile functions (the statistical members' equal quantiles are spread)."""
    _, predictor, data, _ = ensemble
    odd = [
        {**data[0], "target": np.full(96, 7.0)},
        {**data[1], "target": np.r_[np.full(95, np.nan), 3.0]},
    ]
    for fc in predictor.predict(odd):
        q = fc.distribution.quantile(np.linspace(0.01, 0.99, 50)).numpy()
        assert np.isfinite(q).all() and np.all(np.diff(q, axis=-1) > 0)


def test_lean_moves_the_prior_to_the_trained_members_in_proportion():
    """``network_prior`` goes to the IQF network and the neural members in
    proportion to their fitted weights; all of it to the IQF network when the
    fit gave them nothing (the rule without neural members)."""
    np.testing.assert_allclose(lean([0.2, 0.2, 0.6], 2, 0.25), [0.275, 0.275, 0.45])
    np.testing.assert_allclose(lean([0.0, 0.0, 1.0], 2, 0.25), [0.25, 0.0, 0.75])
    np.testing.assert_allclose(lean([0.4, 0.6], 1, 0.5), [0.7, 0.3])
    assert lean([0.1, 0.3, 0.6], 2, 0.3).sum() == pytest.approx(1.0)


def trained_with_member(root, name: str, freq: str = "h", period: int = 24):
    """``(predictor, data)``: a tiny ensemble with neural member ``name`` and
    the naive member, trained on five series of frequency ``freq`` with a
    season of ``period`` steps."""
    est = IQFEnsembleEstimator(
        network=_tiny_network(root / "train", batches=2, freq=freq),
        members=[name, "naive_intervals"],
        step=0.1,
    )
    data = _seasonal_series(5, freq=freq, period=period)
    return est.train(data), data


def assert_exact_average(predictor, data, name: str, root) -> None:
    """With every member forced into the average, the forecast is exactly the
    weighted average of the members' quantiles (in the knots' range the
    average commutes with interpolation), an IQF, and so after a round trip."""
    predictor.weights = {"network": 0.3, name: 0.5, "naive_intervals": 0.2}
    u = [0.07, 0.3, 0.5, 0.83]
    got = np.stack(
        [f.distribution.quantile(u).numpy() for f in predictor.predict(data)]
    )
    levels = np.asarray(LEVELS)
    nets = network_members(predictor.networks, data, levels)
    mine = network_members(predictor.neural[name], data, levels, True)
    season = predictor.member_seasons.get("naive_intervals")
    naive = statistical_member(
        "naive_intervals", predictor.freq, 6, data, levels, season_length=season
    )
    want = sum(0.3 / len(nets) * quantiles_at(levels, *m, u) for m in nets)
    want = want + sum(0.5 / len(mine) * quantiles_at(levels, *m, u) for m in mine)
    want = want + 0.2 * quantiles_at(levels, *naive, u)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for fc in predictor.predict(data[:1]):
        assert isinstance(fc.distribution, IQF)
    (root / "saved").mkdir()
    predictor.serialize(root / "saved")
    loaded = Predictor.deserialize(root / "saved")
    assert len(loaded.neural[name]) == len(predictor.neural[name])
    again = np.stack([f.distribution.quantile(u).numpy() for f in loaded.predict(data)])
    np.testing.assert_allclose(again, got, rtol=1e-12)


def test_a_feedforward_member_is_weighed_averaged_exactly_and_round_trips(tmp_path):
    """A feed-forward network with an IQF head at the network's knots joins the
    ensemble: trained per window and on all the data, weighed like the others,
    and the forecast is exactly the weighted average of every member's
    quantiles; the member averages ``NEURAL_SEEDS`` networks of each training."""
    predictor, data = trained_with_member(tmp_path, "feedforward")
    choices = predictor.choices
    assert set(choices["weights"]) == {"network", "feedforward", "naive_intervals"}
    fitted = np.array([choices["fitted_weights"][k] for k in choices["weights"]])
    np.testing.assert_allclose(
        list(choices["weights"].values()), lean(fitted, 2, 0.25), atol=1e-12
    )
    assert np.isfinite(choices["validation_wql"]["feedforward"])
    assert len(predictor.neural["feedforward"]) == 2 * NEURAL_SEEDS
    assert_exact_average(predictor, data, "feedforward", tmp_path)


class _EpochCounter(pl.Callback):
    """Epochs trained by each ``trainer.fit`` it is passed to."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.epochs.append(0)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.epochs[-1] += 1


def _stops(curve: list[float], patience: int, cap: int) -> bool:
    """Whether early stopping ends after ``curve``: the cap is reached, or the
    last ``patience`` epochs did not go below the best before them."""
    if len(curve) == cap:
        return True
    return len(curve) > patience and min(curve[-patience:]) >= min(curve[:-patience])


@pytest.mark.parametrize("patience", [2, None])
def test_the_window_stops_the_network_and_sets_the_final_networks_epochs(
    tmp_path, patience
):
    """The weighed network trains until the held-back window's loss has not
    fallen for ``patience`` epochs (at most the cap) and keeps its best epoch;
    each network trained on all the data (``seeds`` of them) trains that many
    epochs. Without ``patience`` all train the cap."""
    counter, cap = _EpochCounter(), 8
    network = _tiny_network(tmp_path, 2, cap, [counter], lr=0.05)
    est = IQFEnsembleEstimator(
        network=network, members=["naive_intervals"], step=0.1, patience=patience
    )
    epochs = est.train(_seasonal_series(6)).choices["epochs"]
    if patience is None:
        assert epochs == {"validation_loss": [], "chosen": None}
        assert counter.epochs == [cap] * (1 + est.seeds)
        return
    (curve,) = epochs["validation_loss"]
    assert epochs["chosen"] == int(np.argmin(curve)) + 1
    assert counter.epochs == [len(curve)] + [epochs["chosen"]] * est.seeds
    assert _stops(curve, patience, cap)
    assert not any(_stops(curve[:n], patience, cap) for n in range(1, len(curve)))
    assert np.isfinite(curve).all()


def _with_and_without(predictor, setting: str, data, tmp_path):
    """``(forecast, forecast without the setting, forecast of the reloaded
    predictor)`` per series; the setting survives the round trip."""
    forecasts = list(predictor.predict(data))
    (tmp_path / "saved").mkdir()
    predictor.serialize(tmp_path / "saved")
    loaded = Predictor.deserialize(tmp_path / "saved")
    assert getattr(loaded, setting) == getattr(predictor, setting)
    setattr(predictor, setting, None)
    return zip(forecasts, list(predictor.predict(data)), loaded.predict(data))


def _small_ensemble(tmp_path, data=None, batches=1, **kwargs):
    """``(estimator, predictor, data)``: a seeded tiny ensemble with the naive
    member and ``kwargs``, trained on ``data`` (six seasonal series), its
    network for ``batches``."""
    pl.seed_everything(0)
    est = IQFEnsembleEstimator(
        network=_tiny_network(tmp_path, batches=batches),
        members=["naive_intervals"],
        step=0.1,
        **kwargs,
    )
    data = _seasonal_series(6) if data is None else data
    return est, est.train(data), data


@pytest.mark.parametrize("fit", ["window", "window_sides"])
def test_a_spread_fitted_on_the_windows_stretches_the_forecast(tmp_path, fit):
    """``spread="window"`` (one factor) or ``"window_sides"``: the factors are
    those :func:`fit_spread` chooses for the weighted forecast of the held-back
    window, the forecast is the unstretched one stretched by them, and the
    predictor round trips."""
    _, predictor, data = _small_ensemble(tmp_path, spread=fit)
    factors = predictor.choices["spread"]
    assert factors != {"lower": 1.0, "upper": 1.0}, "the test needs a stretch"
    assert predictor.spread == (factors["lower"], factors["upper"])
    assert factors["lower"] in SPREADS and factors["upper"] in SPREADS
    if fit == "window":
        assert factors["lower"] == factors["upper"]
    # the same factors from the window's forecast, rebuilt from its members
    (heads, futures), *_ = validation_windows(data, 6, 1, 1000)
    weights = predictor.choices["weights"]
    nets = network_members(predictor.networks[:1], heads, LEVELS)
    naive = statistical_member("naive_intervals", "h", 6, heads, LEVELS, 300)
    window = sum(
        w * quantiles_at(LEVELS, *m, SCORED_LEVELS).reshape(-1, len(SCORED_LEVELS))
        for w, m in ((weights["network"], nets[0]), (weights["naive_intervals"], naive))
    )
    want = fit_spread(
        window,
        np.stack(futures).reshape(-1),
        SCORED_LEVELS,
        sides=fit == "window_sides",
    )
    assert predictor.spread == want
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    lower, upper = factors["lower"], factors["upper"]
    for a, b, c in _with_and_without(predictor, "spread", data, tmp_path):
        q, m = b.distribution.icdf(u), b.distribution.icdf(torch.tensor(0.5))
        want = m + torch.where(u < 0.5, lower, upper) * (q - m)
        want = want.clamp(min=0.0)  # positive series: censored at 0
        torch.testing.assert_close(a.distribution.icdf(u), want)
        torch.testing.assert_close(c.distribution.icdf(u), want)


def test_tails_fitted_on_the_window_scale_only_the_forecasts_tails(tmp_path):
    """``tails="window"``: the factors are those :func:`fit_tails` chooses for
    the weighted forecast of the held-back window (censored at 0, as the
    forecast is), the forecast is the one with the averaged tails, scaled
    beyond the outer knots only, and the predictor round trips."""
    est, predictor, data = _small_ensemble(tmp_path, tails="window")
    factors = predictor.choices["tails"]
    assert predictor.tails == (factors["lower"], factors["upper"])
    assert factors != {"lower": 1.0, "upper": 1.0}, "the test needs a scaling"
    (heads, futures), *_ = validation_windows(data, 6, 1, 1000)
    weights = predictor.choices["weights"]
    members = [
        network_members(predictor.networks[:1], heads, LEVELS)[0],
        statistical_member("naive_intervals", "h", 6, heads, LEVELS, 300),
    ]
    window = combine([weights["network"], weights["naive_intervals"]], *zip(*members))
    want = fit_tails(LEVELS, *window, np.stack(futures), SCORED_LEVELS, lower_bound=0.0)
    assert predictor.tails == want
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    lower, upper = predictor.choices["tails"].values()
    for a, b, c in _with_and_without(predictor, "tails", data, tmp_path):
        q = b.distribution.icdf(u)
        first, last = b.distribution.icdf(torch.tensor([[LEVELS[0]], [LEVELS[-1]]]))
        want = torch.where(u < LEVELS[0], first + lower * (q - first), q)
        want = torch.where(u > LEVELS[-1], last + upper * (q - last), want)
        want = want.clamp(min=0.0)  # positive series: censored at 0
        torch.testing.assert_close(a.distribution.icdf(u), want)
        torch.testing.assert_close(c.distribution.icdf(u), want)
    with pytest.raises(ValueError, match="tails must be one of"):
        IQFEnsembleEstimator(network=est.network, tails="heavy")


def test_continued_tails_continue_the_forecasts_outer_pieces(tmp_path):
    """``tails="continued"``: between the outer knots the forecast is the one
    with the averaged tails; beyond them each tail starts with the slope of
    the piece next to it (``q'(a_1-) = q'(a_1+)``) and is an exponential tail,
    ``q(u) = q(a_1) + s_1 a_1 log(u / a_1)``; the predictor round trips."""
    _, predictor, data = _small_ensemble(tmp_path, tails="continued", lower_bound=None)
    assert predictor.tails == "continued" == predictor.choices["tails"]
    u = torch.tensor(U, dtype=torch.float64)[:, None]
    inside = (u >= LEVELS[0]) & (u <= LEVELS[-1])
    a = torch.tensor(LEVELS)
    for got, plain, loaded in _with_and_without(predictor, "tails", data, tmp_path):
        q, p = got.distribution.icdf(u), plain.distribution.icdf(u)
        torch.testing.assert_close(torch.where(inside, q, p), p)
        v = plain.distribution.knot_values  # (T, K)
        s_1 = (v[:, 1] - v[:, 0]) / (a[1] - a[0])
        s_k = (v[:, -1] - v[:, -2]) / (a[-1] - a[-2])
        below = v[:, 0] + s_1 * a[0] * torch.log(u / a[0])
        above = v[:, -1] - s_k * (1 - a[-1]) * torch.log((1 - u) / (1 - a[-1]))
        want = torch.where(u < a[0], below, torch.where(u > a[-1], above, p))
        assert not torch.allclose(p, want), "the test needs other averaged tails"
        torch.testing.assert_close(q, want)
        torch.testing.assert_close(loaded.distribution.icdf(u), want)
    with pytest.raises(ValueError, match="tails must be"):
        type(predictor)(6, "h", list(LEVELS), {"network": 1.0}, [], tails="thin")


def test_more_seeds_average_more_networks_trained_on_all_the_data(tmp_path):
    """``seeds=2`` (the default): two networks trained on all the series, from
    different initialisations, beside the one of the held-back window; the
    forecast is the weighted average of the equal average of the three
    networks and the naive member (rebuilt here from the members), the same
    after a round trip; the first network and the weights are those of
    ``seeds=1`` with the same seed (the extra network trains after
    everything else)."""
    _, one, _ = _small_ensemble(tmp_path / "one", seeds=1, lower_bound=None)
    _, predictor, data = _small_ensemble(tmp_path / "two", seeds=2, lower_bound=None)
    assert len(one.networks) == 2 and len(predictor.networks) == 3
    assert predictor.choices["weights"] == one.choices["weights"]
    _, second, third = predictor.networks
    for a, b in zip(one.networks[1].predict(data), second.predict(data)):
        torch.testing.assert_close(a.distribution.icdf(0.3), b.distribution.icdf(0.3))
    c, d = (next(iter(n.predict(data))).distribution.icdf(0.3) for n in (second, third))
    assert not torch.allclose(c, d), "the two full-data networks should differ"
    w = predictor.choices["weights"]
    nets = network_members(predictor.networks, data, LEVELS)
    naive = statistical_member("naive_intervals", "h", 6, data, LEVELS, 300)
    want = sum(
        wm * quantiles_at(LEVELS, *m, U)
        for wm, m in [
            *((w["network"] / 3, n) for n in nets),
            (w["naive_intervals"], naive),
        ]
    )
    (tmp_path / "saved").mkdir()
    predictor.serialize(tmp_path / "saved")
    loaded = Predictor.deserialize(tmp_path / "saved")
    for got in (predictor.predict(data), loaded.predict(data)):
        q = np.stack(
            [f.distribution.icdf(torch.tensor(U)[:, None]).T.numpy() for f in got]
        )
        np.testing.assert_allclose(q, want, rtol=1e-6)
    with pytest.raises(ValueError, match="seeds"):
        IQFEnsembleEstimator(network=_tiny_network(tmp_path, 1), seeds=0)


def test_seed_settings_train_the_networks_of_all_the_data_their_own_way(tmp_path):
    """``seed_settings=[{}, {"scale_weighting": 1.0}]``: the first network of
    all the data and the weights are those of the default ``seeds=2`` with the
    same seed, the second is trained with each series' loss weighed by its
    scale (so it differs from the default's second), and the window's network
    keeps the network's settings. The series' scales differ (by up to 16
    times) and the networks train for 8 steps (Adam's first step goes by the
    gradient's signs alone), so the weighing changes the training."""
    weighted = [{}, {"scale_weighting": 1.0}]
    data = [
        {**e, "target": (1 + 3 * i) * e["target"]}
        for i, e in enumerate(_seasonal_series(6))
    ]
    est, plain, _ = _small_ensemble(tmp_path / "plain", data, 8, lower_bound=None)
    mixed_est, mixed, _ = _small_ensemble(
        tmp_path / "mixed", data, 8, lower_bound=None, seed_settings=weighted
    )
    assert est.seed_settings is None and mixed_est.seed_settings == weighted
    assert mixed.choices["weights"] == plain.choices["weights"]

    def icdf(net):
        return next(iter(net.predict(data))).distribution.icdf(0.3)

    for same in (0, 1):  # the window's network and the first of all the data
        torch.testing.assert_close(
            icdf(plain.networks[same]), icdf(mixed.networks[same])
        )
    assert not torch.allclose(icdf(plain.networks[2]), icdf(mixed.networks[2]))


@pytest.mark.parametrize(
    "settings, message",
    [
        ([{}], r"1 settings for seeds=2"),
        ([{}, {"hidden_sise": 8}], r"\['hidden_sise'\] are not IQFEstimator arguments"),
        ([{}, {"freq": "D"}], r"\['freq'\] are not IQFEstimator arguments"),
        ([{}, {"scale_weighting": 2.0}], r"scale_weighting must be in \[0, 1\]"),
    ],
)
def test_bad_seed_settings_are_said_before_training(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message):
        IQFEnsembleEstimator(network=_tiny_network(tmp_path, 1), seed_settings=settings)


def _yearly_weekly_series(n: int, weeks: int = 170) -> list[dict]:
    """Weekly series whose pattern repeats every 52 weeks and jumps week to
    week, so the 52-week anchor beats the last value by far."""
    rng = np.random.default_rng(5)
    pattern = rng.uniform(10, 30, 52)
    start = pd.Period("2020-01-05", freq="W")
    return [
        {
            "start": start,
            "target": (1 + 0.1 * i) * pattern[np.arange(weeks) % 52]
            + rng.normal(0, 0.1, weeks),
            "item_id": f"w{i}",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("naive_season", ["auto", None, 13])
def test_the_naive_member_forecasts_at_the_season_the_network_chose(
    tmp_path, naive_season
):
    """Weekly data with a 52-week pattern: GluonTS's season for weekly data is 1,
    the network's backtest of naive anchors picks 52, and with
    ``naive_season="auto"`` (the default) the seasonal naive member forecasts
    the same weeks of last year; ``None`` keeps GluonTS's season (the last
    value), a number is that season. Checked on the member's median (its
    mean), which is the seasonal naive value, in the forecast of the
    predictor and of its reloaded copy."""
    pl.seed_everything(0)
    network = _tiny_network(tmp_path, batches=1, freq="W", horizon=4)
    est = IQFEnsembleEstimator(
        network=network,
        members=["naive_intervals"],
        seeds=1,
        lower_bound=None,
        naive_season=naive_season,
    )
    data = _yearly_weekly_series(4)
    predictor = est.train(data)
    adaptive = predictor.networks[0].choices["adaptive"]
    assert (adaptive["anchor"], adaptive["season_length"]) == ("seasonal", 52)
    season = {"auto": 52, None: 1, 13: 13}[naive_season]
    seasons = {} if naive_season is None else {"naive_intervals": season}
    assert predictor.choices["member_seasons"] == seasons
    predictor.weights = {"naive_intervals": 1.0}  # the member alone
    (tmp_path / "saved").mkdir()
    predictor.serialize(tmp_path / "saved")
    loaded = Predictor.deserialize(tmp_path / "saved")
    assert loaded.member_seasons == seasons
    for got in (predictor.predict(data), loaded.predict(data)):
        for entry, forecast in zip(data, got):
            y = entry["target"]
            want = y[len(y) - season + np.arange(4) % season]
            median = forecast.distribution.icdf(torch.tensor(0.5)).numpy()
            np.testing.assert_allclose(median, want, rtol=1e-5)
    with pytest.raises(ValueError, match="naive_season"):
        IQFEnsembleEstimator(network=network, naive_season="yearly")


def test_a_fixed_seasonal_anchor_gives_the_naive_member_its_season(tmp_path):
    """Without ``anchor="auto"`` the network's own seasonal anchor sets the
    naive member's season (``"auto"``); a last-value anchor leaves it at
    GluonTS's."""
    data = _yearly_weekly_series(4)
    for anchor, seasons in (("seasonal", {"naive_intervals": 52}), ("last", {})):
        pl.seed_everything(0)
        network = _tiny_network(
            tmp_path / anchor, 1, freq="W", horizon=4, anchor=anchor, season_length=52
        )
        est = IQFEnsembleEstimator(
            network=network, members=["naive_intervals", "auto_theta"], seeds=1
        )
        predictor = est.train(data)
        assert predictor.networks[0].choices["adaptive"] is None
        assert predictor.member_seasons == seasons
