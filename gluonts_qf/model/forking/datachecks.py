"""Checks of the data a forking estimator trains on and forecasts.

:func:`check_dataset` runs before training (empty data, wrong frequency, series
too short, targets of the wrong shape); :class:`CheckTarget` is a step of the
transformation chain, so every series that training or forecasting reads gets
the same clear error for a target of the wrong shape, instead of an index error
deep inside the network.
"""

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.transform import MapTransformation


def check_target(entry: Dict[str, Any], target_dim: Optional[int], name: str) -> None:
    """``ValueError`` unless ``entry``'s target has the shape the model reads.

    Univariate models (``target_dim=None``) read a target of shape (L,);
    multivariate ones (``joint="series"``) a (target_dim, L) array.
    """
    item = entry.get(FieldName.ITEM_ID)
    where = f"{name}: series {item!r}" if item is not None else f"{name}: a series"
    want = "(length,)" if target_dim is None else f"({target_dim}, length)"
    try:
        shape = np.shape(entry[FieldName.TARGET])
    except ValueError:  # numpy: "inhomogeneous shape"
        raise ValueError(
            f"{where} has a ragged target (rows of different lengths); the model "
            f"reads targets of shape {want}: pad the rows to one length with NaN."
        ) from None
    if len(shape) != (1 if target_dim is None else 2) or (
        target_dim is not None and shape[0] != target_dim
    ):
        raise ValueError(
            f"{where} has a target of shape {shape}, but the model reads {want}"
            + (
                "; build the estimator with the data's target_dim."
                if target_dim is not None and len(shape) == 2
                else "."
            )
        )


class CheckTarget(MapTransformation):
    """Transformation step: :func:`check_target` on every series that passes.

    Parameters
    ----------
    target_dim
        Rows of a multivariate target; ``None`` for univariate targets.
    """

    @validated()
    def __init__(self, target_dim: Optional[int] = None) -> None:
        self.target_dim = target_dim

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        check_target(data, self.target_dim, "data")
        return data


class CheckCategories(MapTransformation):
    """Transformation step: every series' ``feat_static_cat`` holds one id per
    column the model embeds, each in ``0 .. cardinality - 1`` (a clear
    ``ValueError`` instead of an index error inside the embedding).

    Parameters
    ----------
    cardinality
        The number of ids of each column, as the model was built with.
    """

    @validated()
    def __init__(self, cardinality: List[int]) -> None:
        self.cardinality = list(cardinality)

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        item = data.get(FieldName.ITEM_ID)
        where = f"series {item!r}" if item is not None else "a series"
        cats = np.asarray(data.get(FieldName.FEAT_STATIC_CAT, []))
        if cats.shape != (len(self.cardinality),):
            raise ValueError(
                f"{where} has feat_static_cat {cats.tolist()}, but the model embeds "
                f"{len(self.cardinality)} categorical column(s) (cardinality "
                f"{self.cardinality}): give every series one id per column."
            )
        for column, (value, count) in enumerate(zip(cats.tolist(), self.cardinality)):
            if not 0 <= value < count:
                raise ValueError(
                    f"{where} has feat_static_cat[{column}] = {value}, outside the "
                    f"0..{count - 1} the model was trained on; a new series needs "
                    "a model trained with it (or cardinality=None)."
                )
        return data


def check_dataset(
    data: Dataset,
    freq: str,
    name: str = "data",
    min_length: int = 0,
    target_dim: Optional[int] = None,
) -> None:
    """Raise a clear ``ValueError`` for data the estimator cannot train on.

    Checks: the dataset is not empty; the first series' frequency matches
    ``freq``; the targets read (the first, and those up to the first one
    longer than ``min_length``) have the shape of :func:`check_target`; at least
    one series is longer than ``min_length`` (the horizon: a training window
    needs one observed step before it). Every other series is checked as
    training reads it (:class:`CheckTarget`).
    """
    first = next(iter(data), None)
    if first is None:
        raise ValueError(f"{name} is empty; pass at least one time series.")
    check_target(first, target_dim, name)
    start = first.get(FieldName.START)
    if isinstance(start, pd.Period):
        want = pd.tseries.frequencies.to_offset(freq)
        if start.freq != want:
            raise ValueError(
                f"{name} has frequency {start.freqstr!r} but the estimator was built "
                f"with freq={freq!r}; use the dataset's metadata.freq."
            )
    if min_length and not any(
        _long_enough(entry, min_length, target_dim, name) for entry in data
    ):
        raise ValueError(
            f"every series in {name} has at most {min_length} steps, so no training "
            f"window fits; use longer series or a shorter prediction_length."
        )


def _long_enough(entry, min_length: int, target_dim, name: str) -> bool:
    check_target(entry, target_dim, name)
    return np.shape(entry[FieldName.TARGET])[-1] > min_length
