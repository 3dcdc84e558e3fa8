"""The arguments every forking estimator shares: their checks and defaults.

:func:`check_arguments` validates them once, at construction (a clear
``ValueError`` for each bad value); :func:`default_lags` and
:data:`DEFAULT_NUM_ORIGINS` are the defaults that depend only on the other
arguments. What depends on the data (``anchor="auto"``) is chosen by
:mod:`gluonts_qf.model.forking.adaptive`.
"""

from typing import Any, Dict, List

import pandas as pd

from ...checks import (
    check_choice,
    check_int,
    check_interval,
    check_optional_int,
    check_positive,
)
from .encoder import ANCHORS, SCALINGS

#: ``anchor`` values of the estimators: the encoder's, or "auto" (from the data).
ESTIMATOR_ANCHORS = ("auto", *ANCHORS)
#: How the learning rate moves during training.
LR_SCHEDULES = ("constant", "cosine")
#: Forking origins per training window when ``num_origins`` is not given.
DEFAULT_NUM_ORIGINS = 8
_POSITIVE_INTS = (
    "prediction_length",
    "hidden_size",
    "num_layers",
    "decoder_hidden",
    "embedding_dim",
    "batch_size",
    "num_batches_per_epoch",
)


def default_lags(season_length: int) -> List[int]:
    """Seasonal lags ``s, 2s, 3s`` (or ``1, 2, 3`` without a season)."""
    s = max(int(season_length), 1)
    return [s, 2 * s, 3 * s] if s > 1 else [1, 2, 3]


def check_arguments(given: Dict[str, Any], trainer_kwargs: Dict[str, Any]) -> None:
    """``ValueError`` naming the first bad shared argument and how to fix it."""
    if trainer_kwargs.get("enable_checkpointing") is False:
        raise ValueError(
            "trainer_kwargs enable_checkpointing=False cannot be used: "
            "training keeps the best model and the resume state in "
            "checkpoints (GluonTS's estimators do too); remove it, and set "
            "default_root_dir to choose where they go."
        )
    try:
        pd.tseries.frequencies.to_offset(given["freq"])
    except ValueError as err:
        raise ValueError(
            f"freq={given['freq']!r} is not a pandas frequency (e.g. 'H', 'D', 'W')."
        ) from err
    for name in _POSITIVE_INTS:
        check_int(name, given[name])
    for name in ("context_length", "num_origins", "season_length", "num_threads"):
        check_optional_int(name, given[name])
    for name in ("num_feat_static_real", "num_feat_dynamic_real"):
        check_int(name, given[name], low=0)
    check_positive("lr", given["lr"])
    check_interval("weight_decay", given["weight_decay"], 0.0, float("inf"), True)
    check_interval("dropout", given["dropout"], 0.0, 1.0, closed_low=True)
    check_choice("scaling", given["scaling"], SCALINGS)
    check_choice("lr_schedule", given["lr_schedule"], LR_SCHEDULES)
    if given["weight_averaging"] is not None:
        check_interval(
            "weight_averaging",
            given["weight_averaging"],
            0.0,
            1.0,
            closed_low=False,
            hint="e.g. 0.99 averages about the last 100 steps; None for no averaging",
        )
    check_interval(
        "scale_weighting",
        given["scale_weighting"],
        0.0,
        1.0,
        closed_low=True,
        closed_high=True,
        hint="0 weighs every window alike, 1 by its series' scale (as the "
        "weighted quantile loss does)",
    )
    epochs = trainer_kwargs.get("max_epochs")
    if given["lr_schedule"] != "constant" and not (
        isinstance(epochs, int) and epochs >= 1
    ):
        raise ValueError(
            f"lr_schedule={given['lr_schedule']!r} spans the epochs of training, "
            f"so trainer_kwargs max_epochs must be a positive integer, got {epochs!r}."
        )
    check_choice("anchor", given["anchor"], ESTIMATOR_ANCHORS)
    lags, cardinality = given["lags_seq"], given["cardinality"]
    if lags is not None and any(lag < 1 for lag in lags):
        raise ValueError(f"lags_seq must hold lags >= 1, got {lags}.")
    if isinstance(cardinality, str):
        if cardinality != "auto":
            raise ValueError(
                f"cardinality must be a list of counts (one per feat_static_cat "
                f"column), 'auto' or None, got {cardinality!r}."
            )
    elif cardinality is not None and any(c < 1 for c in cardinality):
        raise ValueError(f"cardinality must hold positive counts, got {cardinality}.")
