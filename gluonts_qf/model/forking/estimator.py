"""What every forking-sequence estimator shares: arguments, checks, data, loaders.

:class:`ForkingEstimator` declares (once) the arguments all forking estimators
share, validates them, builds the GluonTS transformation chain, the instance
splitter and the data loaders, and checks datasets before training. A concrete
estimator (IQF, MQF2), decorated with
:func:`~gluonts_qf.model.forking.signature.with_shared_arguments`, adds only
its head's arguments, ``create_lightning_module`` and ``create_predictor``.
"""

import inspect
import itertools
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Type

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cyclic
from gluonts.pydantic import pydantic
from gluonts.time_feature import get_seasonality, time_features_from_frequency_str
from gluonts.torch.distributions import DistributionOutput
from gluonts.torch.model.estimator import PyTorchLightningEstimator, TrainOutput
from gluonts.transform import (
    AddAgeFeature,
    AddObservedValuesIndicator,
    AddTimeFeatures,
    AsNumpyArray,
    Chain,
    ExpectedNumInstanceSampler,
    InstanceSampler,
    InstanceSplitter,
    SelectFields,
    SetField,
    TestSplitSampler,
    Transformation,
    ValidationSplitSampler,
    VstackFeatures,
)
from gluonts.transform.feature import LastValueImputation, MissingValueImputation

from ...checks import (
    check_choice,
    check_int,
    check_interval,
    check_optional_int,
    check_positive,
)
from ..adaptive import choose_settings
from .datachecks import CheckTarget, check_dataset, check_target
from .encoder import ANCHORS, SCALINGS, ForkingEncoder
from .lightning_module import ForkingLightningModule
from .predictor import ForkingPredictor, torch_threads
from .training import RankShard, TrainingEpochs

PREDICTION_INPUT_NAMES = [
    "feat_static_cat",
    "feat_static_real",
    "past_time_feat",
    "past_target",
    "past_observed_values",
    "future_time_feat",
]
TRAINING_INPUT_NAMES = PREDICTION_INPUT_NAMES + [
    "future_target",
    "future_observed_values",
]
#: ``anchor`` values of the estimators: the encoder's, or "auto" (from the data).
ESTIMATOR_ANCHORS = ("auto", *ANCHORS)
#: Forking origins per training window when ``num_origins`` is not given.
DEFAULT_NUM_ORIGINS = 8
#: Series that ``anchor="auto"`` reads to choose its settings (the first ones).
ADAPT_MAX_SERIES = 1000
#: Torch threads while training and forecasting when ``num_threads`` is not given.
DEFAULT_NUM_THREADS = 1
_POSITIVE_INTS = (
    "prediction_length",
    "hidden_size",
    "num_layers",
    "decoder_hidden",
    "embedding_dim",
    "batch_size",
    "num_batches_per_epoch",
)
#: Estimator arguments handed to :class:`ForkingEncoder` unchanged.
_ENCODER_SETTINGS = set(inspect.signature(ForkingEncoder).parameters)


def default_lags(season_length: int) -> List[int]:
    """Seasonal lags ``s, 2s, 3s`` (or ``1, 2, 3`` without a season)."""
    s = max(int(season_length), 1)
    return [s, 2 * s, 3 * s] if s > 1 else [1, 2, 3]


class RowwiseLastValueImputation(MissingValueImputation):
    """GluonTS's last-value imputation applied to each row of a (D, L) target."""

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if values.ndim == 1:
            return LastValueImputation()(values)
        return np.stack([LastValueImputation()(row.copy()) for row in values])


def _as_tensor(x):
    return torch.tensor(np.asarray(x))


def _check_freq(freq: str) -> None:
    try:
        pd.tseries.frequencies.to_offset(freq)
    except ValueError as err:
        raise ValueError(
            f"freq={freq!r} is not a pandas frequency (e.g. 'H', 'D', 'W')."
        ) from err


class ForkingEstimator(PyTorchLightningEstimator):
    """Base of the estimators built on :class:`~gluonts_qf.model.forking.ForkingEncoder`.

    Its ``__init__`` declares every argument the forking estimators share; a
    subclass decorated with
    :func:`~gluonts_qf.model.forking.signature.with_shared_arguments` exposes
    them in its own ``@validated()`` signature and docstring. ``target_dim``
    (``None``: univariate targets of shape (L,)) is set by subclasses that
    take multivariate targets of shape (target_dim, L), which reach the
    network as (B, L, target_dim).

    Parameters
    ----------
    freq
        Pandas frequency of the data, e.g. ``"H"``.
    prediction_length
        Forecast horizon ``T``.
    context_length
        Steps read before the first origin; default ``max(T, 2 * season)``.
    num_origins
        Forking origins per training window; default ``min(context_length, 8)``.
    lags_seq
        Lags of the target fed to the encoder; default ``s, 2s, 3s``.
    season_length
        Season of the anchor and default lags; default from ``freq``.
    anchor
        ``"auto"`` (default), ``"seasonal"``, ``"last"`` or ``"none"``: what the
        learned forecast is relative to (seasonal naive, the last value, or
        zero). ``"auto"`` picks the last value or the seasonal-naive value (and,
        unless given, the season among the frequency's calendar seasons, e.g.
        52 for weekly data) by backtesting both on held-back ends of the
        first 1000 training series, and caps the default context and lags by
        the history the series have (:mod:`gluonts_qf.model.adaptive`); the
        choice is made in ``train_model``, stored in ``adaptive_choice`` and in
        the predictor.
    scaling
        ``"seasonal"`` (default: centre on the mean, scale by the mean absolute
        seasonal difference, i.e. in units of seasonal naive's in-sample error)
        or ``"mean"`` (mean absolute value, as GluonTS models do).
    hidden_size, num_layers, decoder_hidden, embedding_dim, dropout
        Network sizes: GRU width and depth, decoder MLP width, static
        embedding size, GRU dropout in [0, 1).
    cardinality
        Categories of each ``feat_static_cat`` (e.g. ``[num_series]``); default: none used.
    num_feat_static_real, num_feat_dynamic_real
        How many static / dynamic real features the data carry.
    lr, weight_decay, batch_size, num_batches_per_epoch
        Optimisation settings (Adam).
    trainer_kwargs
        Passed to ``lightning.Trainer`` (e.g. ``max_epochs``, default 100;
        ``accelerator``, ``devices``, ``strategy``, ``num_nodes``: under
        ``strategy="ddp"`` each process trains on its share of the series,
        :class:`~gluonts_qf.model.forking.training.RankShard`). Training keeps
        its full state after every epoch in :meth:`checkpoint_path`
        (``<default_root_dir>/checkpoints/last.ckpt``);
        ``train(data, ckpt_path=...)`` resumes from it.
    train_sampler, validation_sampler
        Where training and validation windows end.
    cache_data
        Keep the transformed training series in memory (default); set ``False``
        for datasets that do not fit in memory.
    num_threads
        Torch intra-op threads while training and forecasting (default 1; the
        previous setting is restored afterwards); ``None`` leaves torch's
        setting alone. Torch's threads wait for each other at every operation,
        so with more threads than idle cores training slows down many times
        over (the main job on 2 shared cores: 14 s with one thread, 139 s
        with two; ``docs/benchmarks.md``).
    """

    #: The Lightning module that trains the model; set by each subclass.
    lightning_module_cls: Type[ForkingLightningModule]
    #: Series of a multivariate target; ``None``: univariate.
    target_dim: Optional[int] = None
    #: The head, set by each subclass's ``__init__``.
    distr_output: DistributionOutput

    def __init__(
        self,
        freq: str,
        prediction_length: pydantic.StrictInt,
        context_length: Optional[pydantic.StrictInt] = None,
        num_origins: Optional[pydantic.StrictInt] = None,
        lags_seq: Optional[List[int]] = None,
        season_length: Optional[pydantic.StrictInt] = None,
        anchor: str = "auto",
        scaling: str = "seasonal",
        hidden_size: pydantic.StrictInt = 64,
        num_layers: pydantic.StrictInt = 1,
        decoder_hidden: pydantic.StrictInt = 32,
        embedding_dim: pydantic.StrictInt = 8,
        dropout: float = 0.0,
        cardinality: Optional[List[int]] = None,
        num_feat_static_real: pydantic.StrictInt = 0,
        num_feat_dynamic_real: pydantic.StrictInt = 0,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        batch_size: pydantic.StrictInt = 32,
        num_batches_per_epoch: pydantic.StrictInt = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        cache_data: bool = True,
        num_threads: Optional[pydantic.StrictInt] = DEFAULT_NUM_THREADS,
    ) -> None:
        given = dict(locals())
        super().__init__(trainer_kwargs={"max_epochs": 100, **(trainer_kwargs or {})})
        if self.trainer_kwargs.get("enable_checkpointing") is False:
            raise ValueError(
                "trainer_kwargs enable_checkpointing=False cannot be used: "
                "training keeps the best model and the resume state in "
                "checkpoints (GluonTS's estimators do too); remove it, and set "
                "default_root_dir to choose where they go."
            )
        _check_freq(freq)
        for name in _POSITIVE_INTS:
            check_int(name, given[name])
        for name in ("context_length", "num_origins", "season_length", "num_threads"):
            check_optional_int(name, given[name])
        for name in ("num_feat_static_real", "num_feat_dynamic_real"):
            check_int(name, given[name], low=0)
        check_positive("lr", lr)
        check_interval("weight_decay", weight_decay, 0.0, float("inf"), True)
        check_interval("dropout", dropout, 0.0, 1.0, closed_low=True)
        check_choice("scaling", scaling, SCALINGS)
        check_choice("anchor", anchor, ESTIMATOR_ANCHORS)
        if lags_seq is not None and any(lag < 1 for lag in lags_seq):
            raise ValueError(f"lags_seq must hold lags >= 1, got {lags_seq}.")
        if cardinality is not None and any(c < 1 for c in cardinality):
            raise ValueError(
                f"cardinality must hold positive counts, got {cardinality}."
            )
        self.freq, self.prediction_length = freq, prediction_length
        self.cache_data = cache_data
        self.num_threads = num_threads
        self.season_length = season_length or get_seasonality(freq)
        # two seasons (and at least the horizon) of context; few forking origins
        # per window keep a training step cheap (more origins: slower, small gain)
        self.context_length = context_length or max(
            prediction_length, 2 * self.season_length
        )
        self.num_origins = num_origins or min(self.context_length, DEFAULT_NUM_ORIGINS)
        self.lags_seq = (
            sorted(set(lags_seq))
            if lags_seq is not None
            else default_lags(self.season_length)
        )
        # anchor="auto": chosen from the training data in train_model (see
        # gluonts_qf.model.adaptive); until then, the seasonal anchor
        self.requested = dict(
            anchor=anchor,
            season_length=season_length,
            context_length=context_length,
            num_origins=num_origins,
            lags_seq=lags_seq,
            train_sampler=train_sampler,
        )
        self.adaptive_choice: Optional[Dict[str, Any]] = None
        self._epochs_done = 0  # resuming: epochs the checkpoint has trained
        self.anchor = "seasonal" if anchor == "auto" else anchor
        self.time_features = time_features_from_frequency_str(freq)
        self.cardinality = list(cardinality) if cardinality else [1]
        self.use_static_cat = bool(cardinality)
        self.num_feat_static_real = num_feat_static_real
        self.num_feat_dynamic_real = num_feat_dynamic_real
        # encoder arguments taken as given (the derived ones: encoder_kwargs)
        self.encoder_settings = {
            k: v for k, v in given.items() if k in _ENCODER_SETTINGS
        }
        self.lr, self.weight_decay = lr, weight_decay
        self.batch_size, self.num_batches_per_epoch = batch_size, num_batches_per_epoch
        self.train_sampler = train_sampler or ExpectedNumInstanceSampler(
            num_instances=1.0, min_future=prediction_length
        )
        self.validation_sampler = validation_sampler or ValidationSplitSampler(
            min_future=prediction_length
        )

    def adapt(self, training_data: Dataset) -> None:
        """Resolve ``anchor="auto"``: anchor, season, context and lags from the data.

        Sets the attributes the network is built from (recorded in the trained
        predictor, so a serialised predictor forecasts the same) and
        ``self.adaptive_choice``; training windows then start late enough for the
        seasonal anchor of every origin to be observed (``min_past``).
        """
        req = self.requested
        # the first ADAPT_MAX_SERIES series decide: memory stays flat when a
        # large dataset streams from files (cache_data=False)
        first = itertools.islice(training_data, ADAPT_MAX_SERIES)
        choice = choose_settings(
            (self._target(entry) for entry in first),
            self.freq,
            self.prediction_length,
            season_length=req["season_length"],
            context_length=req["context_length"],
            lags_seq=req["lags_seq"],
        )
        self.anchor, self.season_length = choice.anchor, choice.season_length
        self.context_length, self.lags_seq = choice.context_length, choice.lags_seq
        self.num_origins = req["num_origins"] or min(
            self.context_length, DEFAULT_NUM_ORIGINS
        )
        if req["train_sampler"] is None and self.season_length > 1:
            # the seasonal anchor of the earliest origin is observed
            min_past = min(
                self.season_length + self.num_origins - 1, choice.room_before_horizon
            )
            self.train_sampler = ExpectedNumInstanceSampler(
                num_instances=1.0, min_future=self.prediction_length, min_past=min_past
            )
        self.adaptive_choice = choice.as_dict()

    def _target(self, entry: Dict[str, Any]):
        check_target(entry, self.target_dim, "training_data")
        return entry[FieldName.TARGET]

    def encoder_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the model's :class:`ForkingEncoder`."""
        return dict(
            self.encoder_settings,
            anchor=self.anchor,
            context_length=self.context_length,
            num_origins=self.num_origins,
            lags_seq=self.lags_seq,
            season_length=self.season_length,
            num_time_feat=len(self.time_features) + 1 + self.num_feat_dynamic_real,
            cardinality=self.cardinality,
            num_feat_static_real=max(self.num_feat_static_real, 1),
        )

    # -- model ------------------------------------------------------------
    def model_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the model (``lightning_module_cls.model_cls``)."""
        return dict(self.encoder_kwargs(), distr_output=self.distr_output)

    def create_lightning_module(self) -> ForkingLightningModule:
        return self.lightning_module_cls(
            model_kwargs=self.model_kwargs(), lr=self.lr, weight_decay=self.weight_decay
        )

    def create_predictor(
        self, transformation: Transformation, module
    ) -> ForkingPredictor:
        return ForkingPredictor(
            input_transform=transformation + self._splitter(module, "test"),
            input_names=PREDICTION_INPUT_NAMES,
            prediction_net=module,
            forecast_generator=self.distr_output.forecast_generator,
            batch_size=self.batch_size,
            prediction_length=self.prediction_length,
            device="auto",
            freq=self.freq,
            num_threads=self.num_threads,
        )

    # -- data -------------------------------------------------------------
    def create_transformation(self) -> Transformation:
        dynamic = (
            [FieldName.FEAT_DYNAMIC_REAL] if self.num_feat_dynamic_real > 0 else []
        )
        steps: List[Transformation] = [
            SelectFields(
                [
                    FieldName.ITEM_ID,
                    FieldName.INFO,
                    FieldName.START,
                    FieldName.TARGET,
                    FieldName.FEAT_STATIC_CAT,
                    FieldName.FEAT_STATIC_REAL,
                    *dynamic,
                ],
                allow_missing=True,
            )
        ]
        if not self.use_static_cat:
            steps.append(SetField(FieldName.FEAT_STATIC_CAT, [0]))
        if self.num_feat_static_real == 0:
            steps.append(SetField(FieldName.FEAT_STATIC_REAL, [0.0]))
        steps += [
            AsNumpyArray(FieldName.FEAT_STATIC_CAT, expected_ndim=1, dtype=int),
            AsNumpyArray(FieldName.FEAT_STATIC_REAL, expected_ndim=1),
            CheckTarget(target_dim=self.target_dim),
            AsNumpyArray(
                FieldName.TARGET, expected_ndim=1 if self.target_dim is None else 2
            ),
            AddObservedValuesIndicator(
                FieldName.TARGET,
                FieldName.OBSERVED_VALUES,
                imputation_method=(
                    LastValueImputation()
                    if self.target_dim is None
                    else RowwiseLastValueImputation()
                ),
            ),
            AddTimeFeatures(
                FieldName.START,
                FieldName.TARGET,
                FieldName.FEAT_TIME,
                self.time_features,
                self.prediction_length,
            ),
            AddAgeFeature(
                FieldName.TARGET,
                FieldName.FEAT_AGE,
                self.prediction_length,
                log_scale=True,
            ),
            VstackFeatures(
                FieldName.FEAT_TIME, [FieldName.FEAT_TIME, FieldName.FEAT_AGE, *dynamic]
            ),
        ]
        return Chain(steps)

    def _splitter(self, module, mode: str) -> InstanceSplitter:
        sampler = {
            "training": self.train_sampler,
            "validation": self.validation_sampler,
            "test": TestSplitSampler(),
        }[mode]
        return InstanceSplitter(
            target_field=FieldName.TARGET,
            is_pad_field=FieldName.IS_PAD,
            start_field=FieldName.START,
            forecast_start_field=FieldName.FORECAST_START,
            instance_sampler=sampler,
            past_length=module.model.past_length,
            future_length=self.prediction_length,
            time_series_fields=[FieldName.FEAT_TIME, FieldName.OBSERVED_VALUES],
            dummy_value=0.0,
        )

    def create_training_data_loader(
        self,
        data: Dataset,
        module,
        shuffle_buffer_length: Optional[int] = None,
        **kwargs,
    ) -> Iterable:
        instances = self._splitter(module, "training").apply(
            Cyclic(RankShard(data)).stream(), is_train=True
        )
        epochs = as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            shuffle_buffer_length=shuffle_buffer_length,
            field_names=TRAINING_INPUT_NAMES,
            output_type=_as_tensor,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )
        return TrainingEpochs(epochs, skip=self._epochs_done)

    def create_validation_data_loader(
        self, data: Dataset, module, **kwargs
    ) -> Iterable:
        instances = self._splitter(module, "validation").apply(data, is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            field_names=TRAINING_INPUT_NAMES,
            output_type=_as_tensor,
        )

    def train_model(
        self,
        training_data: Dataset,
        validation_data: Optional[Dataset] = None,
        **kwargs,
    ) -> TrainOutput:
        check_dataset(
            training_data,
            self.freq,
            "training_data",
            self.prediction_length,
            target_dim=self.target_dim,
        )
        if validation_data is not None:
            check_dataset(
                validation_data,
                self.freq,
                "validation_data",
                target_dim=self.target_dim,
            )
        # keep transformed series in memory: recomputing time features of long
        # series for every window otherwise costs more than the training step
        kwargs["cache_data"] = kwargs.get("cache_data") or self.cache_data
        with torch_threads(self.num_threads):
            if self.requested["anchor"] == "auto":
                self.adapt(training_data)
            return self._fit(training_data, validation_data, **kwargs)

    def checkpoint_path(self) -> Path:
        """Where training keeps its full state after every epoch: ``last.ckpt``.

        ``<trainer_kwargs["default_root_dir"]>/checkpoints/last.ckpt`` (the
        working directory when no root is given). Pass it as ``ckpt_path`` to
        ``train`` to resume an interrupted run.
        """
        root = self.trainer_kwargs.get("default_root_dir") or os.getcwd()
        return Path(root) / "checkpoints" / "last.ckpt"

    def _fit(self, training_data, validation_data, ckpt_path=None, **kwargs):
        """GluonTS's training, plus a full checkpoint each epoch, and resuming.

        From ``ckpt_path`` (a full checkpoint such as :meth:`checkpoint_path`)
        Lightning restores the weights, the optimiser and the epoch; the data
        loader replays the epochs already trained and the module restores
        torch's random state, so with the same seed the run continues as an
        uninterrupted one would (exactly, on CPU, from an end-of-epoch
        checkpoint).
        """
        self._epochs_done = 0
        if ckpt_path is not None:
            ckpt_path = str(ckpt_path)
            if not Path(ckpt_path).is_file():
                raise ValueError(f"no checkpoint to resume from at {ckpt_path}.")
            # our own checkpoint (holds the loop and optimiser state, not only
            # tensors), so not weights_only
            state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
            self._epochs_done = int(state["global_step"]) // self.num_batches_per_epoch
        # no monitor: the latest epoch, always under the same name
        last = pl.callbacks.ModelCheckpoint(
            dirpath=self.checkpoint_path().parent,
            filename=self.checkpoint_path().stem,
            enable_version_counter=False,
        )
        before = self.trainer_kwargs
        callbacks = [*before.get("callbacks", []), last]
        # GluonTS pops "callbacks" from trainer_kwargs: give it a copy
        self.trainer_kwargs = {**before, "callbacks": callbacks}
        try:
            return super().train_model(
                training_data, validation_data, ckpt_path=ckpt_path, **kwargs
            )
        finally:
            self.trainer_kwargs = before
