"""IQFOutput as a drop-in ``distr_output`` for GluonTS 0.17 torch estimators.

End to end on real data (the first series of ``m4_hourly``): train a few
batches, predict, score with GluonTS's evaluators, and round-trip the
predictor through ``serialize``/``deserialize``. See docs/dropin.md for the
estimator-by-estimator table.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from gluonts.evaluation import (
    Evaluator,
    MultivariateEvaluator,
    make_evaluation_predictions,
)
from gluonts.model.forecast import SampleForecast
from gluonts.model.predictor import Predictor
from gluonts.torch.model.d_linear import DLinearEstimator
from gluonts.torch.model.deepar import DeepAREstimator
from gluonts.torch.model.forecast import DistributionForecast
from gluonts.torch.model.i_transformer import ITransformerEstimator
from gluonts.torch.model.lag_tst import LagTSTEstimator
from gluonts.torch.model.patch_tst import PatchTSTEstimator
from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator
from gluonts.torch.model.tft import TemporalFusionTransformerEstimator
from gluonts.torch.model.tide import TiDEEstimator
from helpers import StepLosses, trainer_kwargs

from gluonts_qf import IQF, IQFOutput
from gluonts_qf.runs.run import seed_everything

NUM_SERIES = 40
KNOTS = (0.05, 0.25, 0.5, 0.75, 0.95)
EVAL_QUANTILES = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
BATCHES = 3


def _stack(entries: list[dict], dim: int) -> list[dict]:
    """Group equal-length univariate entries into ``(dim, T)`` targets."""
    groups = [entries[i : i + dim] for i in range(0, len(entries), dim)]
    lengths = {len(e["target"]) for e in entries}
    assert len(lengths) == 1, f"series must share a length, got {lengths}"
    return [
        {
            "start": g[0]["start"],
            "target": np.stack([e["target"] for e in g]),  # (D, T)
            "item_id": f"group{i}",
        }
        for i, g in enumerate(groups)
    ]


def check_forecasts(forecasts, tss, horizon: int, target_dim: int = 1) -> dict:
    """Shapes, finiteness, no crossing; returns GluonTS's aggregate metrics."""
    assert len(forecasts) == len(tss)
    levels = np.asarray(EVAL_QUANTILES)
    for fc in forecasts:
        shape = (horizon,) if target_dim == 1 else (horizon, target_dim)
        assert np.isfinite(fc.mean).all() and fc.mean.shape == shape
        if isinstance(fc, DistributionForecast):
            assert isinstance(fc.distribution, IQF)
            assert fc.distribution.batch_shape == (horizon,)
            # exact quantile grid, shape (T, L): never crossing
            grid = fc.distribution.quantile(levels).numpy()
            assert grid.shape == (horizon, len(levels))
            assert (np.diff(grid, axis=-1) >= 0).all()
            # GluonTS's path: icdf at a shape-(1,) level tensor, per level
            for j, a in enumerate(levels):
                np.testing.assert_allclose(fc.quantile(a), grid[:, j], rtol=1e-6)
        else:
            assert isinstance(fc, SampleForecast)
            assert fc.samples.shape[1:] == shape
            assert np.isfinite(fc.samples).all()
        qs = np.stack([fc.quantile(a) for a in levels])  # (L, T[, D])
        assert qs.shape == (len(levels), *shape)
        assert (np.diff(qs, axis=0) >= 0).all()
    if target_dim == 1:
        evaluator = Evaluator(quantiles=EVAL_QUANTILES, num_workers=0)
    else:
        evaluator = MultivariateEvaluator(quantiles=EVAL_QUANTILES, num_workers=0)
    agg, _ = evaluator(tss, forecasts)
    for key in ("mean_wQuantileLoss", "MASE", "MSE", "Coverage[0.5]"):
        assert np.isfinite(agg[key]), (key, agg[key])
    return agg


def round_trip(predictor, folder: Path):
    folder.mkdir()
    predictor.serialize(folder)
    return Predictor.deserialize(folder)


def predict(predictor, dataset, seed: int = 0, num_samples: int = 50):
    torch.manual_seed(seed)
    forecasts, tss = make_evaluation_predictions(dataset, predictor, num_samples)
    return list(forecasts), list(tss)


def test_deepar_trains_predicts_and_round_trips(hourly, tmp_path):
    """Autoregressive sampling: sample forecasts, identical after serde."""
    seed_everything(0)
    steps = StepLosses()
    estimator = DeepAREstimator(
        freq=hourly["freq"],
        prediction_length=hourly["H"],
        context_length=hourly["H"],
        num_layers=1,
        hidden_size=16,
        distr_output=IQFOutput(knot_levels=KNOTS, num_pieces=1),
        batch_size=16,
        num_batches_per_epoch=BATCHES,
        num_parallel_samples=20,
        trainer_kwargs=trainer_kwargs(tmp_path / "pl", callbacks=[steps]),
    )
    predictor = estimator.train(hourly["train"])
    assert len(steps.losses) == BATCHES and np.isfinite(steps.losses).all()

    # autoregressive sampling dominates the run time: keep 20 paths
    forecasts, tss = predict(predictor, hourly["test"], num_samples=20)
    check_forecasts(forecasts, tss, hourly["H"])
    assert forecasts[0].samples.shape == (20, hourly["H"])

    loaded = round_trip(predictor, tmp_path / "model")
    assert isinstance(loaded.prediction_net.model.distr_output, IQFOutput)
    assert loaded.prediction_net.model.distr_output.knot_levels == KNOTS
    again, _ = predict(loaded, hourly["test"], num_samples=20)
    for a, b in zip(forecasts, again):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_simple_feedforward_trains_on_crps_and_round_trips(
    hourly, tmp_path, monkeypatch
):
    """Distribution forecasts with exact quantiles; the loss is the CRPS."""
    # The training objective must be IQFOutput.loss (the closed-form CRPS),
    # never -log_prob. Spy on it and check its value against an independent
    # oracle, 2 * int_0^1 rho_u(y - q(u)) du by the midpoint rule.
    calls = []
    crps_loss = IQFOutput.loss

    def spy(self, target, distr_args, loc=None, scale=None):
        out = crps_loss(self, target, distr_args, loc=loc, scale=scale)
        if not calls:
            distr = self.distribution(
                [a.detach().double() for a in distr_args],
                loc=None if loc is None else loc.double(),
                scale=None if scale is None else scale.double(),
            )
            u = (torch.arange(4000, dtype=torch.float64) + 0.5) / 4000
            q = distr.icdf(u.reshape(-1, *[1] * target.dim()))  # (L, *batch)
            err = target.double() - q
            pinball = err * (
                u.reshape(q.shape[:1] + (1,) * target.dim()) - (err < 0).double()
            )
            oracle = 2 * pinball.mean(0)
            torch.testing.assert_close(
                out.detach().double(), oracle, rtol=5e-3, atol=1e-3
            )
        calls.append(out.shape)
        return out

    def no_log_prob(self, value):
        raise AssertionError("training must not use IQF.log_prob")

    monkeypatch.setattr(IQFOutput, "loss", spy)
    monkeypatch.setattr(IQF, "log_prob", no_log_prob)

    seed_everything(0)
    epochs, batches, steps = 2, 20, StepLosses()
    estimator = SimpleFeedForwardEstimator(
        prediction_length=hourly["H"],
        context_length=2 * hourly["H"],
        hidden_dimensions=[32, 32],
        distr_output=IQFOutput(knot_levels=KNOTS, num_pieces=3),
        lr=1e-2,
        batch_size=32,
        num_batches_per_epoch=batches,
        trainer_kwargs=trainer_kwargs(tmp_path / "pl", epochs, [steps]),
    )
    untrained = estimator.create_predictor(
        estimator.create_transformation(), estimator.create_lightning_module()
    )
    predictor = estimator.train(hourly["train"])
    # every step ran (GluonTS would hide a failure after the first checkpoint)
    assert len(steps.losses) == epochs * batches
    assert np.isfinite(steps.losses).all()
    assert len(calls) == epochs * batches
    assert all(shape == (32, hourly["H"]) for shape in calls)
    monkeypatch.undo()

    forecasts, tss = predict(predictor, hourly["test"])
    agg = check_forecasts(forecasts, tss, hourly["H"])
    base, _ = predict(untrained, hourly["test"])
    agg0 = check_forecasts(base, tss, hourly["H"])
    # 40 CRPS steps take wQL from ~0.2-0.35 (random init) to ~0.08-0.1
    assert agg["mean_wQuantileLoss"] < 0.75 * agg0["mean_wQuantileLoss"]

    loaded = round_trip(predictor, tmp_path / "model")
    again, _ = predict(loaded, hourly["test"], seed=1)
    levels = np.asarray(EVAL_QUANTILES)
    for a, b in zip(forecasts, again):
        assert isinstance(b, DistributionForecast)
        np.testing.assert_array_equal(
            a.distribution.quantile(levels).numpy(),
            b.distribution.quantile(levels).numpy(),
        )
        np.testing.assert_array_equal(a.mean, b.mean)


def _small(name: str, freq: str) -> dict:
    """Small-model hyperparameters of each other estimator."""
    transformer = {
        "d_model": 16,
        "nhead": 2,
        "dim_feedforward": 16,
        "num_encoder_layers": 1,
    }
    return {
        "d_linear": {"hidden_dimension": 16},
        "patch_tst": dict(patch_len=8, **transformer),
        "lag_tst": dict(freq=freq, **transformer),
        "tide": {
            "freq": freq,
            "feat_proj_hidden_dim": 4,
            "encoder_hidden_dim": 16,
            "decoder_hidden_dim": 16,
            "temporal_hidden_dim": 16,
            "distr_hidden_dim": 4,
        },
        "tft": {"freq": freq, "hidden_dim": 16, "variable_dim": 8, "num_heads": 2},
        "i_transformer": dict(num_parallel_samples=50, **transformer),
    }[name]


ESTIMATORS = {
    "d_linear": DLinearEstimator,
    "patch_tst": PatchTSTEstimator,
    "lag_tst": LagTSTEstimator,
    "tide": TiDEEstimator,
    "tft": TemporalFusionTransformerEstimator,
    "i_transformer": ITransformerEstimator,  # multivariate input
}


@pytest.mark.parametrize(
    "name, pieces",
    [
        ("d_linear", 1),
        ("patch_tst", 2),
        ("lag_tst", 1),
        ("tide", 2),
        ("tft", 1),
        ("i_transformer", 2),
    ],
)
def test_other_estimators_accept_iqf_output(hourly, tmp_path, name, pieces):
    seed_everything(0)
    horizon, steps = hourly["H"], StepLosses()
    train, test, dim = hourly["train"], hourly["test"], 1
    if name == "i_transformer":  # models a (D, T) target: stack 8 series
        dim = 8
        train, test = _stack(train, dim), _stack(test, dim)
    estimator = ESTIMATORS[name](
        prediction_length=horizon,
        context_length=horizon,
        distr_output=IQFOutput(knot_levels=KNOTS, num_pieces=pieces),
        batch_size=16,
        num_batches_per_epoch=BATCHES,
        trainer_kwargs=trainer_kwargs(tmp_path, callbacks=[steps]),
        **_small(name, hourly["freq"]),
    )
    predictor = estimator.train(train)
    assert len(steps.losses) == BATCHES and np.isfinite(steps.losses).all()
    forecasts, tss = predict(predictor, test)
    check_forecasts(forecasts, tss, horizon, target_dim=dim)
