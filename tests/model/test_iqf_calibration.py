"""Recalibration by a level map (``gluonts_qf.distributions.calibrated`` and
``gluonts_qf.model.iqf.calibration``): monotone, exact, and it calibrates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.dataset.common import ListDataset
from gluonts.model.predictor import Predictor
from helpers import trainer_kwargs
from scipy import stats

from gluonts_qf import IQFEstimator
from gluonts_qf.distributions.calibrated import (
    CalibratedIQF,
    CalibratedIQFOutput,
    LevelMap,
)
from gluonts_qf.distributions.iqf import IQFOutput
from gluonts_qf.model.iqf.calibration import (
    fit_level_map,
    holdout_split,
    mean_wql,
    widen_tails,
    window_split,
)

LEVELS = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95)


def _normal_iqf(n: int, spread: float) -> tuple:
    """IQF args whose knots sit at ``spread * Phi^{-1}(a_k)``, batch (n,)."""
    out = IQFOutput(knot_levels=LEVELS)
    a = torch.tensor(LEVELS, dtype=torch.float64)
    z = torch.distributions.Normal(0.0, 1.0).icdf(a) * spread
    values = z.expand(n, -1).clone()
    beta = torch.full((n,), 1.0 / spread, dtype=torch.float64)
    return out, (values, beta, beta)


def test_fit_level_map_is_strictly_monotone_even_for_degenerate_pits():
    for pit in [np.zeros(500), np.ones(500), np.r_[np.zeros(50), np.ones(50)]]:
        levels, values = fit_level_map(pit)
        assert np.all(np.diff(values) > 0) and 0 < values[0] and values[-1] < 1
        m = LevelMap(levels, values)
        u = torch.linspace(0, 1, 1001, dtype=torch.float64)
        mu = m(u)
        assert torch.all(torch.diff(mu) > 0) and mu[0] == 0 and mu[-1] == 1
        torch.testing.assert_close(m.inverse(mu), u)


def test_uniform_pits_give_nearly_the_identity():
    pit = np.random.default_rng(0).uniform(size=20000)
    levels, values = fit_level_map(pit)
    np.testing.assert_allclose(values, levels, atol=0.01)


def test_calibrated_quantiles_are_exact_and_do_not_cross():
    out, args = _normal_iqf(4, 1.0)
    cal = CalibratedIQFOutput(
        IQFOutput(knot_levels=LEVELS),
        map_levels=[0.1, 0.5, 0.9],
        map_values=[0.03, 0.5, 0.97],
    )
    dist = cal.distribution(args)
    assert isinstance(dist, CalibratedIQF)
    base = out.distribution(args)
    u = torch.tensor([0.1, 0.3, 0.5, 0.9], dtype=torch.float64)
    # Q'(0.1) = Q(0.03), Q'(0.3) = Q(0.03 + 0.2 / 0.4 * 0.47), Q'(0.5) = Q(0.5)
    want = base.icdf(
        torch.tensor([0.03, 0.265, 0.5, 0.97], dtype=torch.float64)[:, None]
    )
    torch.testing.assert_close(dist.icdf(u[:, None]), want)
    q = dist.quantile(np.linspace(0.01, 0.99, 99))
    assert torch.all(torch.diff(q, dim=-1) > 0)
    y = dist.icdf(u[:, None])
    torch.testing.assert_close(dist.cdf(y), u[:, None].expand(-1, 4))


def test_numerical_crps_matches_the_closed_form_for_the_identity_map():
    out, args = _normal_iqf(3, 2.0)
    ident = CalibratedIQFOutput(
        IQFOutput(knot_levels=LEVELS), map_levels=[0.5], map_values=[0.5]
    ).distribution(args)
    y = torch.tensor([-1.0, 0.3, 4.0], dtype=torch.float64)
    torch.testing.assert_close(
        ident.crps(y), out.distribution(args).crps(y), rtol=1e-3, atol=1e-4
    )
    torch.testing.assert_close(
        ident.mean, out.distribution(args).mean, rtol=1e-3, atol=1e-3
    )


def test_map_fixes_a_miscalibrated_forecast():
    """Data are N(0, 2^2); the forecast says N(0, 1) (far too narrow). Fitted on
    one sample, the map brings the coverage at 0.1, 0.5, 0.9 of a fresh sample
    from (0.24, 0.5, 0.76) to within 0.03 of the levels."""
    rng = np.random.default_rng(0)
    out, args = _normal_iqf(2000, 1.0)
    forecast = out.distribution(args)
    fit_y, test_y = (torch.tensor(2.0 * rng.normal(size=2000)) for _ in range(2))
    levels, values = fit_level_map(forecast.cdf(fit_y).numpy())
    cal = CalibratedIQFOutput(
        IQFOutput(knot_levels=LEVELS), map_levels=levels, map_values=values
    ).distribution(args)
    targets = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    before = torch.stack(
        [(test_y <= forecast.icdf(u)).double().mean() for u in targets]
    )
    after = torch.stack([(test_y <= cal.icdf(u)).double().mean() for u in targets])
    assert (before - targets).abs().max() > 0.1, before
    assert (after - targets).abs().max() < 0.03, after
    # and the CRPS of the fresh sample improves
    assert cal.crps(test_y).mean() < 0.95 * forecast.crps(test_y).mean()


def _walks(n: int, length: int) -> ListDataset:
    rng = np.random.default_rng(1)
    start = pd.Period("2021-01-01 00:00", freq="h")
    return ListDataset(
        [
            {"start": start, "target": 50 + np.cumsum(rng.normal(size=length))}
            for _ in range(n)
        ],
        freq="h",
    )


def _tiny_estimator(tmp_path, calibration: str, **kwargs) -> IQFEstimator:
    """A seconds-to-train IQFEstimator (horizon 5, width 8, one epoch)."""
    return IQFEstimator(
        freq="h",
        prediction_length=5,
        hidden_size=8,
        decoder_hidden=8,
        batch_size=8,
        calibration=calibration,
        trainer_kwargs=trainer_kwargs(tmp_path, 1),
        **kwargs,
    )


def test_holdout_split_keeps_short_series_whole():
    data = [{"target": np.arange(10.0)}, {"target": np.arange(3.0)}]
    train, past, future = holdout_split(data, 4)
    assert [len(e["target"]) for e in train] == [6, 3]
    assert len(past) == 1 and future[0].tolist() == [6, 7, 8, 9]


@pytest.mark.parametrize("calibration", ["holdout", "insample", "tails"])
def test_estimator_calibration_round_trips(calibration, tmp_path):
    data = _walks(6, 80)
    est = _tiny_estimator(
        tmp_path, calibration, num_batches_per_epoch=3, knot_levels=list(LEVELS)
    )
    predictor = est.train(data)
    assert isinstance(predictor.forecast_generator.distr_output, CalibratedIQFOutput)
    assert np.all(np.diff(predictor.choices["calibration"]["values"]) > 0)
    (tmp_path / "p").mkdir()
    predictor.serialize(tmp_path / "p")
    loaded = Predictor.deserialize(tmp_path / "p")
    a = [fc.quantile(0.1) for fc in predictor.predict(data)]
    b = [fc.quantile(0.1) for fc in loaded.predict(data)]
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_window_split_takes_the_requested_horizon():
    data = [{"target": np.arange(12.0)}, {"target": np.arange(5.0)}]
    past, future = window_split(data, 3, 2)
    assert len(past) == 1 and past[0]["target"].tolist() == list(range(6))
    assert future[0].tolist() == [6, 7, 8]


def test_weighted_quantile_loss_is_smaller_after_fixing_a_narrow_forecast():
    """The score ``auto_recalibrate`` decides on prefers the calibrated forecast."""
    rng = np.random.default_rng(1)
    out, args = _normal_iqf(500, 1.0)
    dist = out.distribution(args)
    fit_y, test_y = (2.0 * rng.normal(size=500) + 10.0 for _ in range(2))
    # shift the forecast by 10 too (loc), so the weights |y| are positive
    dists = [
        out.distribution(tuple(a[i : i + 1] for a in args), loc=10.0)
        for i in range(500)
    ]
    pit = np.concatenate(
        [d.cdf(torch.tensor([y])).numpy() for d, y in zip(dists, fit_y)]
    )
    m = LevelMap(*fit_level_map(pit))
    fut = [np.array([y]) for y in test_y]
    assert mean_wql(dists, fut, m) < 0.95 * mean_wql(dists, fut)
    assert dist.batch_shape == (500,)


def test_auto_calibration_skips_few_series(tmp_path):
    """With fewer than MIN_SERIES series the check is too noisy: no map."""
    est = _tiny_estimator(tmp_path, "auto", num_batches_per_epoch=2)
    predictor = est.train(_walks(6, 60))
    assert not predictor.choices["calibration"]["used"]
    assert type(predictor.forecast_generator.distr_output) is not CalibratedIQFOutput


def test_widen_tails_by_hand():
    levels = [0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99]
    values = [0.005, 0.08, 0.2, 0.6, 0.85, 0.97, 0.985]
    # below 0.1: min(m, u); body: u; above 0.9: max(m, u)
    assert widen_tails(levels, values) == (
        levels,
        [0.005, 0.05, 0.1, 0.5, 0.9, 0.97, 0.99],
    )
    m = LevelMap(*widen_tails(levels, values))
    u = torch.tensor([0.1, 0.3, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(m(u), u)  # the body is the identity


def test_tail_map_fixes_thin_tails_and_keeps_the_body():
    """Data are Student's t (2 df); the forecast is the normal of the same
    interquartile range, right in the middle and far too thin in the tails:
    about 3% of a fresh sample falls below its 1% quantile. The tail map
    (fitted on one sample) brings the 1% and 99% coverage within 0.01 and
    leaves every quantile in [0.1, 0.9] exactly as it was."""
    rng = np.random.default_rng(2)
    iqr = stats.t.ppf(0.75, 2) / stats.norm.ppf(0.75)
    out, args = _normal_iqf(4000, iqr)
    forecast = out.distribution(args)
    fit_y, test_y = (torch.tensor(rng.standard_t(2, size=4000)) for _ in range(2))
    levels, values = widen_tails(*fit_level_map(forecast.cdf(fit_y).numpy()))
    cal = CalibratedIQFOutput(
        IQFOutput(knot_levels=LEVELS), map_levels=levels, map_values=values
    ).distribution(args)
    tails = torch.tensor([0.01, 0.99], dtype=torch.float64)
    before = torch.stack([(test_y <= forecast.icdf(u)).double().mean() for u in tails])
    after = torch.stack([(test_y <= cal.icdf(u)).double().mean() for u in tails])
    assert (before - tails).abs().min() > 0.015, before
    assert (after - tails).abs().max() < 0.01, after
    body = torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9], dtype=torch.float64)[:, None]
    torch.testing.assert_close(cal.icdf(body), forecast.icdf(body))
