"""Neural members beside the IQF network, trained on the network's budget.

``"feedforward"``: GluonTS's ``SimpleFeedForwardEstimator`` (a direct MLP on
the last ``10 * prediction_length`` steps, mean-scaled) with an
:class:`~gluonts_qf.distributions.iqf.IQFOutput` head at the network's knot
levels, so its forecasts are exact IQFs that average with the others. It
trains in seconds where the network takes minutes, and it reads a context ten
horizons long: on long series with little seasonality the network's two seasons
of context miss what it sees (kdd_cup_2018: 0.30-0.33 where the network scores
0.40, docs/benchmarks.md). One such network varies much from seed to seed, so
the member is the level-by-level average of :data:`NEURAL_SEEDS` of them (on
kdd_cup_2018 five seeds range over 0.298-0.335, their average scores 0.308).
The held-back windows weigh it like every other member.

``"other_anchor"``: the ensemble's IQF network at the naive anchor its
``anchor="auto"`` backtest did not pick (the last value where it picked a
season, the best season where it picked the last value), one network per
window and as many of all the data as the ensemble's own: the backtest's
margin picks one anchor for the whole dataset, the held-back window weighs
both (m4_weekly: mean wQL -12%, kdd_cup_2018 -15%, docs/benchmarks.md).
Where the backtest chose the frequency's own season (GluonTS's: 24 for hourly
data, 12 for monthly) it is left out.

Neural members train after the ensemble's networks, so those are the same
networks with the members or without, and a member the windows give no
weight leaves the forecast as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...threads import torch_threads

#: The member of IQF networks at the other naive anchor than the network's
#: own (:func:`.windows.other_anchor`).
OTHER = "other_anchor"
#: Members that are trained networks (the others are statistical forecasters).
NEURAL_MEMBERS = ("feedforward", OTHER)
#: Networks (one after another, so each starts from other weights) averaged
#: into a neural member.
NEURAL_SEEDS = 4


def neural_estimator(name: str, network: Any):
    """The estimator of neural member ``name``, on ``network``'s budget and knots.

    ``network`` is the ensemble's :class:`~gluonts_qf.IQFEstimator`: its batch
    size, batches per epoch, learning rate, weight decay and trainer settings
    (checkpoints in a ``name`` folder under its ``default_root_dir``).
    """
    if name != "feedforward":
        raise ValueError(
            f"unknown neural member {name!r}; choose from {NEURAL_MEMBERS}."
        )
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

    trainer = dict(network.trainer_kwargs)
    if trainer.get("default_root_dir"):
        trainer["default_root_dir"] = str(Path(trainer["default_root_dir"]) / name)
    return SimpleFeedForwardEstimator(
        prediction_length=network.prediction_length,
        distr_output=network.distr_output,  # the network's own head: its knots
        lr=network.lr,
        weight_decay=network.weight_decay,
        batch_size=network.batch_size,
        num_batches_per_epoch=network.num_batches_per_epoch,
        trainer_kwargs=trainer,
    )


def train_neural(
    name: str,
    network: Any,
    data: list,
    other: Any = None,
    count: int = 1,
    **kwargs: Any,
) -> list:
    """The trained networks of neural member ``name`` on ``data``: for
    ``"other_anchor"`` ``count``, ``network`` at the anchor ``other`` (an
    :class:`~gluonts_qf.model.forking.adaptive.AdaptiveChoice`), one after
    another; otherwise :data:`NEURAL_SEEDS`, one after another with the
    network's threads."""
    if name == OTHER:
        return [network.resolved(other).train(data, **kwargs) for _ in range(count)]
    data = as_float32(data)
    with torch_threads(network.num_threads):
        return [
            neural_estimator(name, network).train(data, **kwargs)
            for _ in range(NEURAL_SEEDS)
        ]


def train_members(
    names: list,
    networks: tuple,
    windows: list,
    data: list,
    levels: np.ndarray,
    other: Any = None,
    **kwargs: Any,
) -> tuple[dict[str, list], list[list]]:
    """The neural members ``names`` of an ensemble whose network has trained:
    ``({name: its trained networks}, window members)``. Each trains on the
    series before each window of ``windows`` (``(part, heads, futures,
    members)``, ``members`` the network's forecast of the window and then the
    statistical members') and forecasts it, then on all of ``data``; its
    networks are the window's first and those of all the data. ``networks``:
    the ensemble's network, the one trained on all the data (whose epochs the
    other anchor's network takes) and how many of those the ensemble trains
    (the other anchor's member trains as many). The window members are
    ``members`` with the neural ones after the network's."""
    from .predictor import averaged_member

    network, final, seeds = networks
    trained, members = {}, [[w[3][0]] for w in windows]
    for name in names:
        per_window = [
            train_neural(name, network, part, other, **kwargs) for part, *_ in windows
        ]
        for nets, w, into in zip(per_window, windows, members):
            into.append(averaged_member(nets, w[1], levels, True))
        again = train_neural(
            name, final if name == OTHER else network, data, other, seeds, **kwargs
        )
        trained[name] = [*per_window[0], *again]
    return trained, [[*m, *w[3][1:]] for m, w in zip(members, windows)]


def as_float32(entries: list) -> list[dict[str, Any]]:
    """The entries with float32 targets (GluonTS's feed-forward network takes
    its input as given, and its weights are float32)."""
    return [{**e, "target": np.asarray(e["target"], dtype=np.float32)} for e in entries]
