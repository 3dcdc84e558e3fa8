"""Training data across processes and across restarts.

:class:`RankShard` gives each process of a distributed run (Lightning's
``strategy="ddp"``) its own share of the series; :class:`TrainingEpochs` replays
the epochs a resumed run has already trained on, so it continues with the
batches an uninterrupted run would draw; :class:`ValidationCurve` records the
validation loss of every epoch (early stopping chooses on it).
"""

import itertools
from typing import Iterable, Iterator, Tuple

import lightning.pytorch as pl
import torch


def rank_and_world() -> Tuple[int, int]:
    """``(rank, world size)`` of this training process; ``(0, 1)`` outside DDP."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class RankShard:
    """The series of ``data`` this process trains on: every ``world``-th one.

    Under a distributed strategy (``strategy="ddp"``) each of the ``world``
    processes reads the series whose position ``i`` has ``i % world ==
    rank``, so the ranks draw windows from disjoint series (and, with the
    same seed, still different batches). The rank is looked up when the data
    are read, i.e. inside ``trainer.fit``, once the process group exists.
    """

    def __init__(self, data: Iterable) -> None:
        self.data = data

    def __iter__(self) -> Iterator:
        rank, world = rank_and_world()
        count = 0
        for entry in itertools.islice(self.data, rank, None, world):
            count += 1
            yield entry
        if count == 0:  # else cycling over nothing would never end
            raise ValueError(
                f"process {rank} of {world} got no training series; use fewer "
                "devices or more series."
            )


class TrainingEpochs:
    """The training batches, one pass per epoch; a resumed run replays first.

    On first use (inside ``trainer.fit``, once a checkpoint has been restored,
    and on the right rank) the epochs that ``module``'s trainer has already
    done (``global_step // num_batches_per_epoch``: 0 for a fresh run) are
    drawn and dropped, so the next batches and numpy's random state are those
    of an uninterrupted run; each epoch is one pass over ``epochs``, as in
    training.
    """

    def __init__(self, epochs: Iterable, module, num_batches_per_epoch: int) -> None:
        self.epochs, self.module = epochs, module
        self.num_batches_per_epoch = num_batches_per_epoch
        self.started = False

    def __iter__(self) -> Iterator:
        if not self.started:
            self.started = True
            for _ in range(
                self.module.trainer.global_step // self.num_batches_per_epoch
            ):
                for _ in self.epochs:
                    pass
        return iter(self.epochs)


class ValidationCurve(pl.Callback):
    """Records the validation loss after every epoch: ``scores[e]`` is the
    ``val_loss`` after epoch ``e + 1`` (the sanity check before training is
    left out). :attr:`best_epochs` is the number of epochs of the lowest one,
    the epoch whose weights GluonTS's checkpoint keeps."""

    def __init__(self) -> None:
        self.scores: list = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        self.scores.append(float(trainer.callback_metrics["val_loss"]))

    @property
    def best_epochs(self) -> int:
        if not self.scores:
            raise ValueError("no validation loss was recorded: pass validation_data.")
        return int(min(range(len(self.scores)), key=self.scores.__getitem__)) + 1
