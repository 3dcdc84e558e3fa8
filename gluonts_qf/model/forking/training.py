"""Training data across processes and across restarts.

:class:`RankShard` gives each process of a distributed run (Lightning's
``strategy="ddp"``) its own share of the series; :class:`TrainingEpochs` replays
the epochs a resumed run has already trained on, so it continues with the
batches an uninterrupted run would draw.
"""

import itertools
from typing import Iterable, Iterator, Tuple

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
    """The training batches, one pass per epoch, after ``skip`` replayed epochs.

    A resumed run draws (and drops) the epochs its checkpoint has trained on,
    on first use (inside ``trainer.fit``, so on the right rank), so the next
    batches and numpy's random state are those of an uninterrupted run; each
    epoch is one pass over ``epochs``, as in training.
    """

    def __init__(self, epochs: Iterable, skip: int = 0) -> None:
        self.epochs, self.skip = epochs, skip

    def __iter__(self) -> Iterator:
        while self.skip > 0:
            self.skip -= 1
            for _ in self.epochs:
                pass
        return iter(self.epochs)
