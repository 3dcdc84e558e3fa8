"""One shared end-to-end check for every estimator the package ships.

``check_estimator`` trains a few batches, checks the network's declared inputs
against real batches, predicts, checks every forecast, round-trips the
predictor through ``serialize``/``Predictor.deserialize`` and scores it with
GluonTS's ``Evaluator``. It works for distribution forecasts (IQF: exact
quantiles) and sample forecasts (MQF2: joint samples) alike.

Import it from a test module next to this file: ``from common import check_estimator``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helpers
import numpy as np
import pandas as pd
import torch
from gluonts.evaluation import Evaluator, make_evaluation_predictions
from gluonts.model.forecast import Forecast, SampleForecast
from gluonts.model.predictor import Predictor
from gluonts.torch.model.estimator import PyTorchLightningEstimator
from gluonts.torch.model.forecast import DistributionForecast
from helpers import StepLosses

from gluonts_qf.runs.run import seed_everything

EPOCHS, BATCHES = 2, 3
LEVELS = (0.01, 0.05, 0.1, 0.3, 0.37, 0.5, 0.7, 0.9, 0.95, 0.99)
METRICS = ("mean_wQuantileLoss", "MASE", "ND", "RMSE", "Coverage[0.5]")

EstimatorOrFactory = (
    PyTorchLightningEstimator | Callable[..., PyTorchLightningEstimator]
)


def trainer_kwargs(root: Path, epochs: int = EPOCHS, callbacks: Sequence = ()) -> dict:
    """Quiet CPU training under ``root`` (``EPOCHS`` epochs unless told)."""
    return helpers.trainer_kwargs(root, epochs, callbacks)


def make_estimator(
    estimator_or_factory: EstimatorOrFactory,
    root: Path,
    epochs: int,
    batches: int,
    steps: StepLosses,
) -> PyTorchLightningEstimator:
    """Build (factory) or adjust (instance) an estimator to train ``epochs x batches``.

    A factory is called as ``factory(num_batches_per_epoch=..., trainer_kwargs=...)``.
    An instance keeps its own trainer settings but gets ours on top.
    """
    ours = trainer_kwargs(root, epochs, [steps])
    if isinstance(estimator_or_factory, PyTorchLightningEstimator):
        est = estimator_or_factory
        callbacks = list(est.trainer_kwargs.get("callbacks", [])) + [steps]
        est.trainer_kwargs = {**est.trainer_kwargs, **ours, "callbacks": callbacks}
        est.num_batches_per_epoch = batches
        return est
    return estimator_or_factory(num_batches_per_epoch=batches, trainer_kwargs=ours)


@dataclass
class Checked:
    """What ``check_estimator`` produced, for further model-specific checks."""

    predictor: Predictor
    forecasts: list[Forecast]
    losses: list[float]
    metrics: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


def _tensors(out) -> list[torch.Tensor]:
    """All tensors in a (nested) network output."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []


def check_inputs(predictor: Predictor, dataset, batch_size: int = 2) -> None:
    """``describe_inputs`` matches the predictor's real batches and runs forward.

    The module behind the predictor (``prediction_net.model``) declares its
    inputs; the names must be the predictor's input names, each declared shape
    (batch dimension aside) must be the shape the input transformation produces,
    and the forward pass on zeros of those shapes must give finite tensors with
    the batch dimension first.
    """
    model = predictor.prediction_net.model
    spec = model.describe_inputs(batch_size)
    assert list(spec) == list(predictor.input_names), (
        list(spec),
        predictor.input_names,
    )
    entries = list(
        predictor.input_transform.apply(list(dataset)[:batch_size], is_train=False)
    )
    assert len(entries) == batch_size
    for name, inp in spec.items():
        real = np.stack([np.asarray(e[name]) for e in entries])
        assert real.shape == tuple(inp.shape), (name, real.shape, inp.shape)
        floating = torch.empty((), dtype=inp.dtype).is_floating_point()
        assert (real.dtype.kind == "f") == floating, (name, real.dtype, inp.dtype)

    model.eval()
    with torch.no_grad():
        out = model(**spec.zeros())
    tensors = _tensors(out)
    assert tensors, f"forward returned no tensors: {type(out)}"
    for t in tensors:
        assert t.shape[0] == batch_size and torch.isfinite(t).all(), t.shape


def check_forecasts(
    forecasts: Sequence[Forecast], dataset, prediction_length: int, levels=LEVELS
) -> None:
    """One forecast per series, at the right start and id, finite, never crossing."""
    entries = list(dataset)
    assert len(forecasts) == len(entries)
    for fc, entry in zip(forecasts, entries):
        start = pd.Period(entry["start"])
        assert fc.start_date == start + len(entry["target"]), (fc.start_date, start)
        # GluonTS's own transformations may turn an integer id into a string
        assert str(fc.item_id) == str(entry.get("item_id")), (
            fc.item_id,
            entry.get("item_id"),
        )
        assert fc.prediction_length == prediction_length
        assert fc.mean.shape == (prediction_length,) and np.isfinite(fc.mean).all()
        if isinstance(fc, SampleForecast):
            assert fc.samples.ndim == 2 and fc.samples.shape[1] == prediction_length
            assert np.isfinite(fc.samples).all()
        else:
            assert isinstance(fc, DistributionForecast), type(fc)
            assert tuple(fc.distribution.batch_shape) == (prediction_length,)
        qs = np.stack([fc.quantile(a) for a in levels])  # (L, T)
        assert qs.shape == (len(levels), prediction_length)
        assert np.isfinite(qs).all()
        assert (np.diff(qs, axis=0) >= 0).all(), "quantiles cross"


def assert_same_forecasts(
    a: Sequence[Forecast], b: Sequence[Forecast], levels=LEVELS
) -> None:
    """Bit-identical forecasts (samples, or quantiles and mean)."""
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert type(fa) is type(fb)
        assert fa.start_date == fb.start_date and fa.item_id == fb.item_id
        if isinstance(fa, SampleForecast):
            np.testing.assert_array_equal(fa.samples, fb.samples)
        for q in levels:
            np.testing.assert_array_equal(fa.quantile(q), fb.quantile(q))
        np.testing.assert_array_equal(fa.mean, fb.mean)


def predict(predictor: Predictor, dataset, seed: int = 0) -> list[Forecast]:
    """Forecasts with torch seeded first, so sample forecasts are reproducible."""
    torch.manual_seed(seed)
    return list(predictor.predict(dataset))


def check_estimator(
    estimator_or_factory: EstimatorOrFactory,
    dataset,
    tmp_path: Path,
    *,
    test_dataset=None,
    prediction_length: int | None = None,
    epochs: int = EPOCHS,
    batches: int = BATCHES,
    levels: Sequence[float] = LEVELS,
    metrics: Sequence[str] = METRICS,
    num_samples: int = 100,
    seed: int = 0,
) -> Checked:
    """Train, check inputs, predict, round-trip and evaluate one estimator.

    Parameters
    ----------
    estimator_or_factory
        An estimator, or a callable taking ``num_batches_per_epoch`` and
        ``trainer_kwargs`` and returning one (preferred).
    dataset
        Training data; also the prediction data unless ``test_dataset`` is given.
    tmp_path
        Folder for checkpoints and the serialised predictor.
    test_dataset
        Data whose last ``prediction_length`` steps are held out for evaluation.
    prediction_length
        Horizon; default the estimator's ``prediction_length``.
    epochs, batches
        Training budget: exactly ``epochs * batches`` optimisation steps.
    levels, metrics
        Quantile levels checked, and Evaluator metrics that must be finite.
    num_samples
        Samples per forecast in ``make_evaluation_predictions``.
    """
    tmp_path = Path(tmp_path)
    test_dataset = dataset if test_dataset is None else test_dataset
    seed_everything(seed)
    steps = StepLosses()
    estimator = make_estimator(
        estimator_or_factory, tmp_path / "lightning", epochs, batches, steps
    )
    horizon = prediction_length or estimator.prediction_length
    predictor = estimator.train(dataset)
    # every step ran and was finite (GluonTS would hide a failure after a checkpoint)
    assert len(steps.losses) == epochs * batches, steps.losses
    assert np.isfinite(steps.losses).all(), steps.losses

    check_inputs(predictor, test_dataset)
    forecasts = predict(predictor, test_dataset, seed)
    check_forecasts(forecasts, test_dataset, horizon, levels)

    folder = tmp_path / "predictor"
    folder.mkdir()
    predictor.serialize(folder)
    loaded = Predictor.deserialize(folder)
    assert type(loaded) is type(predictor)
    assert_same_forecasts(forecasts, predict(loaded, test_dataset, seed), levels)

    torch.manual_seed(seed)
    fc_it, ts_it = make_evaluation_predictions(
        test_dataset, loaded, num_samples=num_samples
    )
    evaluated, tss = list(fc_it), list(ts_it)
    assert len(evaluated) == len(tss) == len(list(test_dataset))
    evaluator = Evaluator(quantiles=[q for q in levels], num_workers=0)
    agg, _ = evaluator(tss, evaluated)
    for key in metrics:
        assert np.isfinite(agg[key]), (key, agg[key])
    return Checked(predictor, forecasts, steps.losses, dict(agg))
