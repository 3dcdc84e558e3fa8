"""The data pipeline of the forking estimators: transformation, windows, batches.

Plain functions of the settings they need, so the estimator only passes them
on: :func:`transformation` (GluonTS's field conversions, observed-value
indicator, time and age features), :func:`splitter` (past and future windows
of the length the network reads), :func:`training_batches` and
:func:`validation_batches` (stacked tensors named as the network's inputs).
"""

from typing import Iterable, List, Optional

import numpy as np
import torch
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cyclic
from gluonts.transform import (
    AddAgeFeature,
    AddObservedValuesIndicator,
    AddTimeFeatures,
    AsNumpyArray,
    Chain,
    InstanceSampler,
    InstanceSplitter,
    SelectFields,
    SetField,
    Transformation,
    VstackFeatures,
)
from gluonts.transform.feature import LastValueImputation, MissingValueImputation

from .datachecks import CheckCategories, CheckTarget
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


class RowwiseLastValueImputation(MissingValueImputation):
    """GluonTS's last-value imputation applied to each row of a (D, L) target."""

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if values.ndim == 1:
            return LastValueImputation()(values)
        return np.stack([LastValueImputation()(row.copy()) for row in values])


def as_tensor(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x))


def transformation(
    prediction_length: int,
    time_features: list,
    target_dim: Optional[int],
    cardinality: Optional[List[int]],
    num_feat_static_real: int,
    num_feat_dynamic_real: int,
) -> Transformation:
    """Fields, observed-value indicator (missing values: last value), time
    features plus the log age, and the dynamic real features stacked below."""
    dynamic = [FieldName.FEAT_DYNAMIC_REAL] if num_feat_dynamic_real > 0 else []
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
    if not cardinality:
        steps.append(SetField(FieldName.FEAT_STATIC_CAT, [0]))
    if num_feat_static_real == 0:
        steps.append(SetField(FieldName.FEAT_STATIC_REAL, [0.0]))
    steps += [
        *([CheckCategories(cardinality)] if cardinality else []),
        AsNumpyArray(FieldName.FEAT_STATIC_CAT, expected_ndim=1, dtype=int),
        AsNumpyArray(FieldName.FEAT_STATIC_REAL, expected_ndim=1),
        CheckTarget(target_dim=target_dim),
        AsNumpyArray(FieldName.TARGET, expected_ndim=1 if target_dim is None else 2),
        AddObservedValuesIndicator(
            FieldName.TARGET,
            FieldName.OBSERVED_VALUES,
            imputation_method=(
                LastValueImputation()
                if target_dim is None
                else RowwiseLastValueImputation()
            ),
        ),
        AddTimeFeatures(
            FieldName.START,
            FieldName.TARGET,
            FieldName.FEAT_TIME,
            time_features,
            prediction_length,
        ),
        AddAgeFeature(
            FieldName.TARGET, FieldName.FEAT_AGE, prediction_length, log_scale=True
        ),
        VstackFeatures(
            FieldName.FEAT_TIME, [FieldName.FEAT_TIME, FieldName.FEAT_AGE, *dynamic]
        ),
    ]
    return Chain(steps)


def splitter(
    sampler: InstanceSampler, past_length: int, prediction_length: int
) -> InstanceSplitter:
    """Windows of ``past_length`` steps and the ``prediction_length`` after them,
    ending where ``sampler`` says."""
    return InstanceSplitter(
        target_field=FieldName.TARGET,
        is_pad_field=FieldName.IS_PAD,
        start_field=FieldName.START,
        forecast_start_field=FieldName.FORECAST_START,
        instance_sampler=sampler,
        past_length=past_length,
        future_length=prediction_length,
        time_series_fields=[FieldName.FEAT_TIME, FieldName.OBSERVED_VALUES],
        dummy_value=0.0,
    )


def training_batches(
    data: Dataset,
    window: InstanceSplitter,
    module,
    batch_size: int,
    num_batches_per_epoch: int,
    shuffle_buffer_length: Optional[int] = None,
) -> Iterable:
    """Endless training windows of this process's series, ``num_batches_per_epoch``
    batches an epoch (:class:`TrainingEpochs`: a resumed run replays the epochs
    ``module``'s trainer has done)."""
    instances = window.apply(Cyclic(RankShard(data)).stream(), is_train=True)
    epochs = as_stacked_batches(
        instances,
        batch_size=batch_size,
        shuffle_buffer_length=shuffle_buffer_length,
        field_names=TRAINING_INPUT_NAMES,
        output_type=as_tensor,
        num_batches_per_epoch=num_batches_per_epoch,
    )
    return TrainingEpochs(epochs, module, num_batches_per_epoch)


def validation_batches(
    data: Dataset, window: InstanceSplitter, batch_size: int
) -> Iterable:
    """One window per validation series, stacked in batches."""
    return as_stacked_batches(
        window.apply(data, is_train=True),
        batch_size=batch_size,
        field_names=TRAINING_INPUT_NAMES,
        output_type=as_tensor,
    )
