"""What every forking-sequence estimator shares: checks, data pipeline, loaders.

:class:`ForkingEstimator` validates the encoder's hyperparameters, builds the
GluonTS transformation chain, the instance splitter and the data loaders, and
checks datasets before training. A concrete estimator (IQF, MQF2) adds its
head's hyperparameters, ``create_lightning_module`` and ``create_predictor``.
"""

from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import pandas as pd
import torch
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cyclic
from gluonts.time_feature import get_seasonality, time_features_from_frequency_str
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

from .adaptive import choose_settings
from .encoder import SCALINGS

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
ANCHORS = ("auto", "seasonal", "last", "none")


def _positive(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


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


def check_dataset(
    data: Dataset, freq: str, name: str = "data", min_length: int = 0
) -> None:
    """Raise a clear ``ValueError`` for data the estimator cannot train on.

    Checks: the dataset is not empty; the first series' frequency matches
    ``freq``; at least one series is longer than ``min_length`` (the horizon:
    a training window needs one observed step before it).
    """
    first = next(iter(data), None)
    if first is None:
        raise ValueError(f"{name} is empty; pass at least one time series.")
    start = first.get(FieldName.START)
    if isinstance(start, pd.Period):
        want = pd.tseries.frequencies.to_offset(freq)
        if start.freq != want:
            raise ValueError(
                f"{name} has frequency {start.freqstr!r} but the estimator was built "
                f"with freq={freq!r}; use the dataset's metadata.freq."
            )
    if min_length and not any(
        np.shape(entry[FieldName.TARGET])[-1] > min_length for entry in data
    ):
        raise ValueError(
            f"every series in {name} has at most {min_length} steps, so no training "
            f"window fits; use longer series or a shorter prediction_length."
        )


class ForkingEstimator(PyTorchLightningEstimator):
    """Base of the estimators built on :class:`~gluonts_qf.model.encoder.ForkingEncoder`.

    Not ``@validated`` itself: subclasses are, and pass their arguments on.
    ``target_dim=None`` means univariate targets (shape (L,)); an integer means
    multivariate targets of shape (target_dim, L) (e.g. from GluonTS's
    ``MultivariateGrouper``), which reach the network as (B, L, target_dim).
    ``num_origins=None`` means ``min(context_length, default_num_origins)``
    (8 when that is ``None``). See
    :class:`~gluonts_qf.IQFEstimator` for the meaning of every argument.
    """

    def __init__(
        self,
        freq: str,
        prediction_length: int,
        context_length: Optional[int],
        num_origins: Optional[int],
        lags_seq: Optional[List[int]],
        season_length: Optional[int],
        anchor: str,
        scaling: str,
        hidden_size: int,
        num_layers: int,
        decoder_hidden: int,
        embedding_dim: int,
        dropout: float,
        cardinality: Optional[List[int]],
        num_feat_static_real: int,
        num_feat_dynamic_real: int,
        lr: float,
        weight_decay: float,
        batch_size: int,
        num_batches_per_epoch: int,
        trainer_kwargs: Optional[Dict[str, Any]],
        train_sampler: Optional[InstanceSampler],
        validation_sampler: Optional[InstanceSampler],
        default_num_origins: Optional[int] = None,
        cache_data: bool = True,
        target_dim: Optional[int] = None,
    ) -> None:
        trainer_kwargs = {"max_epochs": 100, **(trainer_kwargs or {})}
        self.cache_data = cache_data
        super().__init__(trainer_kwargs=trainer_kwargs)
        try:
            pd.tseries.frequencies.to_offset(freq)
        except ValueError as err:
            raise ValueError(
                f"freq={freq!r} is not a pandas frequency (e.g. 'H', 'D', 'W')."
            ) from err
        for name, value in (
            ("prediction_length", prediction_length),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("decoder_hidden", decoder_hidden),
            ("embedding_dim", embedding_dim),
            ("batch_size", batch_size),
            ("num_batches_per_epoch", num_batches_per_epoch),
            ("lr", lr),
        ):
            _positive(name, value)
        for name, value in (
            ("context_length", context_length),
            ("num_origins", num_origins),
            ("season_length", season_length),
        ):
            _positive(name, value, allow_none=True)
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        if lags_seq is not None and any(lag < 1 for lag in lags_seq):
            raise ValueError(f"lags_seq must hold lags >= 1, got {lags_seq}.")
        if cardinality is not None and any(c < 1 for c in cardinality):
            raise ValueError(
                f"cardinality must hold positive counts, got {cardinality}."
            )
        _positive("target_dim", target_dim, allow_none=True)
        self.target_dim = target_dim
        self.freq = freq
        self.prediction_length = prediction_length
        self.season_length = season_length or get_seasonality(freq)
        # two seasons (and at least the horizon) of context; few forking origins
        # per window keep a training step cheap (more origins: slower, small gain)
        self.context_length = context_length or max(
            prediction_length, 2 * self.season_length
        )
        self.num_origins = num_origins or min(
            self.context_length, default_num_origins or 8
        )
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
            default_num_origins=default_num_origins,
            lags_seq=lags_seq,
            train_sampler=train_sampler,
        )
        self.adaptive_choice: Optional[Dict[str, Any]] = None
        self.anchor = "seasonal" if anchor == "auto" else anchor
        self.time_features = time_features_from_frequency_str(freq)
        self.cardinality = list(cardinality) if cardinality else [1]
        self.use_static_cat = bool(cardinality)
        self.num_feat_static_real = num_feat_static_real
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.model_sizes = dict(
            hidden_size=hidden_size,
            num_layers=num_layers,
            decoder_hidden=decoder_hidden,
            embedding_dim=embedding_dim,
            dropout=dropout,
            scaling=scaling,
        )
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
        choice = choose_settings(
            (entry[FieldName.TARGET] for entry in training_data),
            self.freq,
            self.prediction_length,
            season_length=req["season_length"],
            context_length=req["context_length"],
            lags_seq=req["lags_seq"],
        )
        self.anchor, self.season_length = choice.anchor, choice.season_length
        self.context_length, self.lags_seq = choice.context_length, choice.lags_seq
        self.num_origins = req["num_origins"] or min(
            self.context_length, req["default_num_origins"] or 8
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

    def encoder_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the model's :class:`ForkingEncoder` part."""
        return dict(
            prediction_length=self.prediction_length,
            context_length=self.context_length,
            num_origins=self.num_origins,
            lags_seq=self.lags_seq,
            season_length=self.season_length,
            anchor=self.anchor,
            num_time_feat=len(self.time_features) + 1 + self.num_feat_dynamic_real,
            cardinality=self.cardinality,
            num_feat_static_real=max(self.num_feat_static_real, 1),
            **self.model_sizes,
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
            Cyclic(data).stream(), is_train=True
        )
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            shuffle_buffer_length=shuffle_buffer_length,
            field_names=TRAINING_INPUT_NAMES,
            output_type=_as_tensor,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )

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
        check_dataset(training_data, self.freq, "training_data", self.prediction_length)
        if validation_data is not None:
            check_dataset(validation_data, self.freq, "validation_data")
        # keep transformed series in memory: recomputing time features of long
        # series for every window otherwise costs more than the training step
        kwargs["cache_data"] = kwargs.get("cache_data") or self.cache_data
        if self.requested["anchor"] == "auto":
            self.adapt(training_data)
        return super().train_model(training_data, validation_data, **kwargs)
