"""IQFEstimator end to end: the shared check, exact quantiles, learning, robustness.

Small networks and a few batches keep the module at ~10 s on an idle 2-core box
(a few times that when the box is busy); the longer learning test is marked slow.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from common import LEVELS, StepLosses, check_estimator, trainer_kwargs
from gluonts.dataset.common import ListDataset
from gluonts.evaluation import Evaluator

from gluonts_qf import IQF, IQFEstimator
from gluonts_qf.model.forking import SCALINGS
from gluonts_qf.model.iqf import IQFModel
from gluonts_qf.runs.run import seed_everything

NUM_SERIES = 12
KNOTS = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95)
SMALL = {"hidden_size": 16, "decoder_hidden": 8, "embedding_dim": 2, "batch_size": 16}


def small_estimator(freq: str, prediction_length: int, **kwargs) -> IQFEstimator:
    return IQFEstimator(
        freq=freq,
        prediction_length=prediction_length,
        **{**SMALL, "knot_levels": list(KNOTS), **kwargs},
    )


@pytest.mark.parametrize("num_pieces", [1, 3])
def test_check_estimator(hourly, tmp_path, num_pieces):
    def factory(**common):
        return small_estimator(
            hourly["freq"],
            hourly["H"],
            num_pieces=num_pieces,
            cardinality=[NUM_SERIES],
            **common,
        )

    train = [dict(e, feat_static_cat=[i]) for i, e in enumerate(hourly["train"])]
    test = [dict(e, feat_static_cat=[i]) for i, e in enumerate(hourly["test"])]
    out = check_estimator(factory, train, tmp_path, test_dataset=test)
    for fc in out.forecasts:
        assert isinstance(fc.distribution, IQF)
        assert fc.distribution.num_pieces == num_pieces


def test_quantile_is_exact(hourly):
    """``forecast.quantile(a)`` is the IQF's own quantile, not a sample estimate."""
    seed_everything(0)
    est = small_estimator(hourly["freq"], hourly["H"], num_pieces=3)
    predictor = est.create_predictor(
        est.create_transformation(), est.create_lightning_module()
    )
    for fc in itertools.islice(predictor.predict(hourly["test"]), 3):
        exact = fc.distribution.quantile([0.37])[:, 0].numpy()
        np.testing.assert_array_equal(fc.quantile(0.37), exact)
        assert (fc.quantile(0.3) <= exact).all() and (exact <= fc.quantile(0.4)).all()
        assert (fc.quantile(0.3) < fc.quantile(0.4)).all()
        # the same numbers again: no sampling is involved
        np.testing.assert_array_equal(fc.quantile(0.37), fc.quantile(0.37))


def test_describe_inputs_shapes():
    """Declared shapes drive forward (B, T, ...) and loss (B,) on zeros."""
    est = IQFEstimator(
        freq="h",
        prediction_length=5,
        context_length=7,
        season_length=3,
        knot_levels=list(KNOTS),
        num_pieces=2,
        cardinality=[4, 3],
        num_feat_static_real=2,
        num_feat_dynamic_real=1,
        hidden_size=8,
        decoder_hidden=4,
    )
    model = est.create_lightning_module().model
    assert isinstance(model, IQFModel)
    spec = model.describe_inputs(batch_size=3)
    # past window: max lag 9 + context 7 + (origins min(7, 8) - 1);
    # time features: the frequency's + age + 1 dynamic
    L, T, F = 9 + 7 + 6, 5, len(est.time_features) + 2
    assert spec.shapes == {
        "feat_static_cat": (3, 2),
        "feat_static_real": (3, 2),
        "past_time_feat": (3, L, F),
        "past_target": (3, L),
        "past_observed_values": (3, L),
        "future_time_feat": (3, T, F),
    }
    assert spec.dtypes["feat_static_cat"] == torch.long
    zeros = spec.zeros()
    args, loc, scale = model(**zeros)
    assert args[0].shape == (3, T, len(KNOTS))  # knot values
    assert args[1].shape == args[2].shape == (3, T)  # tail rates
    assert args[3].shape == args[4].shape == (3, T, len(KNOTS) - 1, 2)  # piece shares
    assert loc.shape == (3, T) and scale.shape == (3, 1)
    loss = model.loss(
        **zeros,
        future_target=torch.zeros(3, T),
        future_observed_values=torch.ones(3, T),
    )
    assert loss.shape == (3,) and torch.isfinite(loss).all()


# -- learning -----------------------------------------------------------------

NOISE, LEARN_H, LEARN_LEN = 0.2, 12, 240


def _known(num_series: int = 30, seed: int = 0, amplitude: float = 0.0):
    """Series ``m (1 + amplitude sin(2 pi t / 12 + phase) + NOISE eps)``, eps iid N(0, 1).

    Levels ``m`` in [5, 50]; the true predictive quantiles are known. Returns the
    levels (N,), the noise-free paths (N, LEARN_LEN + LEARN_H), train and test data.
    """
    rng = np.random.default_rng(seed)
    levels = rng.uniform(5, 50, size=num_series)
    t = np.arange(LEARN_LEN + LEARN_H)
    noise = [NOISE * rng.normal(size=len(t)) for _ in levels]
    phases = rng.uniform(0, 2 * np.pi, size=num_series)
    means = np.stack(
        [
            m * (1 + amplitude * np.sin(2 * np.pi * t / LEARN_H + p))
            for m, p in zip(levels, phases)
        ]
    )
    full = [mean + m * eps for mean, m, eps in zip(means, levels, noise)]
    start = pd.Period("2021-03-01 00:00", freq="h")
    train = ListDataset(
        [{"start": start, "target": y[:LEARN_LEN]} for y in full], freq="h"
    )
    test = ListDataset([{"start": start, "target": y} for y in full], freq="h")
    return levels, means, train, test


def _wql(forecasts, test, levels=(0.1, 0.5, 0.9)) -> float:
    """GluonTS's mean weighted quantile loss of forecasts for the last LEARN_H steps."""
    tss = [
        pd.Series(
            e["target"], index=pd.period_range(e["start"], periods=len(e["target"]))
        )
        for e in test
    ]
    agg, _ = Evaluator(quantiles=levels, num_workers=0)(tss, forecasts)
    return agg["mean_wQuantileLoss"]


def _oracle_forecasts(levels, means, test):
    """The true predictive quantiles, as forecasts Evaluator can score."""
    from gluonts.model.forecast import QuantileForecast
    from scipy.stats import norm

    qs = (0.1, 0.5, 0.9)
    return [
        QuantileForecast(
            np.stack([mean[LEARN_LEN:] + m * NOISE * norm.ppf(q) for q in qs]),
            start_date=e["start"] + LEARN_LEN,
            forecast_keys=[str(q) for q in qs],
        )
        for m, mean, e in zip(levels, means, test)
    ]


def _learn(tmp_path, epochs: int, batches: int, amplitude: float, seed=0, **kwargs):
    """Train on ``_known`` data; returns (step losses, wQL of trained, oracle, untrained)."""
    levels, means, train, test = _known(seed=seed, amplitude=amplitude)
    seed_everything(seed)
    steps = StepLosses()
    est = IQFEstimator(
        freq="h",
        prediction_length=LEARN_H,
        season_length=LEARN_H,
        knot_levels=list(KNOTS),
        lr=1e-2,
        num_batches_per_epoch=batches,
        trainer_kwargs=trainer_kwargs(tmp_path, epochs, [steps]),
        **{**SMALL, "batch_size": 32, **kwargs},
    )
    untrained = est.create_predictor(
        est.create_transformation(), est.create_lightning_module()
    )
    predictor = est.train(train)
    assert len(steps.losses) == epochs * batches and np.isfinite(steps.losses).all()
    past = ListDataset(
        [{"start": e["start"], "target": e["target"][:LEARN_LEN]} for e in test],
        freq="h",
    )
    return (
        steps.losses,
        _wql(list(predictor.predict(past)), test),
        _wql(_oracle_forecasts(levels, means, test), test),
        _wql(list(untrained.predict(past)), test),
    )


def test_learns_a_known_distribution(tmp_path):
    """From an uninformative start (mean scaling and ``anchor="none"``: all
    quantiles start at 0) the CRPS falls to a fraction of its start and the
    forecasts approach the true quantiles.

    Over seeds 0-5 the last epoch's loss is 0.14-0.16 of the first batch's and the
    wQL 1.02-1.30x the oracle's; a model that does not learn stays at 1x and ~9x
    (and 3 epochs x 6 batches, or lr=3e-3, leave some seeds at 0.7-0.9x and 5-8x).
    """
    epochs, batches = 4, 8
    losses, trained, oracle, before = _learn(
        tmp_path, epochs, batches, 0.0, anchor="none", scaling="mean"
    )
    assert np.mean(losses[-batches:]) < 0.4 * losses[0], losses
    assert trained < 1.6 * oracle and 3 * oracle < before, (trained, oracle, before)


@pytest.mark.slow
def test_beats_its_seasonal_naive_start(tmp_path):
    """Default ``anchor="seasonal"`` on seasonal data whose last season is a noisy
    guess: training improves on the (seasonal-naive) untrained model.

    Over seeds 0-5 (80 steps, seasonal scaling): wQL 0.50-0.58x the untrained
    model's and 1.07-1.28x the oracle's (0.72-0.74x and 1.2-1.3x with mean scaling).
    """
    epochs, batches = 8, 10
    _, trained, oracle, before = _learn(tmp_path, epochs, batches, 0.3)
    assert trained < 0.85 * before and trained < 1.5 * oracle, (trained, oracle, before)


# -- robustness ---------------------------------------------------------------

H, SEASON = 6, 4


def _wavy(n: int, level: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + np.sin(2 * np.pi * np.arange(n) / SEASON) + 0.3 * rng.normal(size=n)


def _with_nans(n: int) -> np.ndarray:
    x = _wavy(n)
    x[[0, 7, 30, 31, 32, n - 3, n - 1]] = np.nan  # start, middle, and the horizon
    return x


CASES = {
    "nan_past_and_future": [_with_nans(80), _wavy(80, seed=1)],
    "shorter_than_context": [
        _wavy(9, seed=2),
        _wavy(14, seed=3),
        _wavy(3, seed=4),
        _wavy(1),
    ],
    "all_zero": [np.zeros(60), _wavy(60)],
    "only_zeros": [np.zeros(60), np.zeros(30)],
    "constant": [np.full(60, 7.0), np.full(40, 7.0)],
    "all_missing": [np.full(60, np.nan), _wavy(60)],
    "only_missing": [np.full(60, np.nan), np.full(20, np.nan)],
    "huge": [1e9 * _wavy(60), -1e9 * _wavy(60, seed=5)],
    "mixed_magnitudes": [1e9 * _wavy(60), 1e-3 * _wavy(60, seed=6), _wavy(60, seed=7)],
}


def _dataset(targets, freq: str = "h") -> ListDataset:
    start = pd.Period("2021-03-01 00:00", freq=freq)
    return ListDataset(
        [
            {"start": start, "target": t, "item_id": f"s{i}"}
            for i, t in enumerate(targets)
        ],
        freq=freq,
    )


def train_robust(cls, targets, tmp_path, **kwargs):
    """``cls`` trained 2 epochs x 3 batches on ``targets``; every loss finite.

    Shared with the MQF2 bad-input tests (one matrix, ``CASES``, for both).
    """
    seed_everything(0)
    steps = StepLosses()
    est = cls(
        freq="h",
        prediction_length=H,
        season_length=SEASON,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs(tmp_path, 2, [steps]),
        **kwargs,
    )
    predictor = est.train(_dataset(targets))
    assert len(steps.losses) == 6 and np.isfinite(steps.losses).all(), steps.losses
    return predictor


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_robust_data_trains_and_predicts(case, scaling, tmp_path):
    targets = CASES[case]
    predictor = train_robust(
        IQFEstimator,
        targets,
        tmp_path,
        knot_levels=list(KNOTS),
        hidden_size=8,
        decoder_hidden=8,
        batch_size=8,
        scaling=scaling,
    )
    forecasts = list(predictor.predict(_dataset(targets)))
    values = np.abs(np.concatenate(targets))
    typical = (
        np.nanmean(np.where(values > 0, values, np.nan))
        if np.nanmax(values, initial=0) > 0
        else 1.0
    )
    assert len(forecasts) == len(targets)
    for fc, target in zip(forecasts, targets):
        qs = np.stack([fc.quantile(a) for a in LEVELS])  # (L, T)
        assert np.isfinite(qs).all() and np.isfinite(fc.mean).all(), (case, qs)
        assert (np.diff(qs, axis=0) >= 0).all()
        observed = target[np.isfinite(target)]
        if observed.size and np.ptp(observed) == 0:
            # a constant history is forecast near its constant; an all-zero one
            # borrows the scale of the other series (GluonTS's mean scaling)
            level = abs(observed[0]) or typical
            np.testing.assert_allclose(fc.quantile(0.5), observed[0], atol=0.25 * level)


def test_check_estimator_with_missing_values(tmp_path):
    """NaNs in the history and in the evaluated horizon: the whole pipeline holds."""

    def factory(**common):
        return IQFEstimator(
            freq="h",
            prediction_length=H,
            season_length=SEASON,
            knot_levels=list(KNOTS),
            hidden_size=8,
            decoder_hidden=8,
            batch_size=8,
            **common,
        )

    data = _dataset(CASES["nan_past_and_future"] + [_wavy(50, seed=8)])
    check_estimator(
        factory, data, tmp_path, metrics=("mean_wQuantileLoss", "ND", "RMSE")
    )


def test_wrong_freq_is_a_clear_error(tmp_path):
    est = IQFEstimator(
        freq="D",
        prediction_length=H,
        hidden_size=8,
        num_batches_per_epoch=1,
        trainer_kwargs=trainer_kwargs(tmp_path, 1),
    )
    with pytest.raises(ValueError, match=r"frequency.*'h'.*freq='D'"):
        est.train(_dataset([_wavy(80)], freq="h"))


def test_series_all_shorter_than_the_horizon_is_a_clear_error(tmp_path):
    est = IQFEstimator(
        freq="h",
        prediction_length=H,
        hidden_size=8,
        num_batches_per_epoch=1,
        trainer_kwargs=trainer_kwargs(tmp_path, 1),
    )
    with pytest.raises(ValueError, match=f"at most {H} steps"):
        est.train(_dataset([_wavy(H), _wavy(H - 2)], freq="h"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prediction_length": 0}, "prediction_length must be a positive"),
        ({"context_length": -3}, "context_length must be a positive"),
        ({"scaling": "foo"}, "scaling must be one of"),
        (
            {"anchor": "foo"},
            r"anchor must be one of \('auto', 'seasonal', 'last', 'none'\)",
        ),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\)"),
        ({"lags_seq": [0]}, "lags_seq must hold lags >= 1"),
        ({"lags_seq": [1, -2]}, "lags_seq must hold lags >= 1"),
        ({"cardinality": "all"}, "cardinality must be a list of counts"),
        ({"cardinality": [3, 0]}, "cardinality must hold positive counts"),
        ({"knot_levels": [0.0, 0.5]}, "knot_levels must lie strictly between 0 and 1"),
        ({"knot_levels": [0.5, 1.2]}, "knot_levels must lie strictly between 0 and 1"),
        ({"knot_levels": [0.9, 0.1]}, "strictly increasing"),
        ({"num_pieces": 0}, "num_pieces must be a positive integer"),
        ({"freq": "not-a-freq"}, "is not a pandas frequency"),
        ({"hidden_size": 0}, "hidden_size must be a positive"),
        ({"lr": -1.0}, "lr must be a positive"),
        ({"lr_schedule": "linear"}, "lr_schedule must be one of"),
        ({"scale_weighting": 1.5}, r"scale_weighting must be in \[0, 1\], got 1.5"),
        ({"scale_weighting": -0.5}, r"scale_weighting must be in \[0, 1\]"),
        (
            {"lr_schedule": "cosine", "trainer_kwargs": {"max_epochs": -1}},
            "max_epochs must be a positive integer, got -1",
        ),
        (
            {"trainer_kwargs": {"enable_checkpointing": False}},
            "enable_checkpointing=False cannot be used",
        ),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IQFEstimator(**{"freq": "h", "prediction_length": H, **kwargs})


def test_scale_weighting_reaches_the_trained_module_and_its_serde():
    from gluonts.core import serde

    est = IQFEstimator(freq="h", prediction_length=H, scale_weighting=0.5)
    assert est.create_lightning_module().scale_weighting == 0.5
    back = serde.decode(serde.encode(est))
    assert (
        back.scale_weighting == 0.5
        and IQFEstimator(freq="h", prediction_length=H).scale_weighting == 0.0
    )
