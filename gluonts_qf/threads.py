"""Torch's intra-op threads: the default for training and forecasting, and a
context manager that sets them for a block.

Torch's intra-op threads wait for each other at every operation, so with more
threads than idle cores a training step slows down many times over (the main
job on 2 shared cores: 14 s with one thread, 139 s with two;
``docs/benchmarks.md``). The estimators, their predictors and the runs of the
command line all use :data:`DEFAULT_NUM_THREADS` and :func:`torch_threads`.
"""

import contextlib
from collections.abc import Iterator
from typing import Optional

import torch

#: Torch threads while training and forecasting when ``num_threads`` is not given.
DEFAULT_NUM_THREADS = 1


@contextlib.contextmanager
def torch_threads(num_threads: Optional[int]) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore.

    ``None`` leaves torch's setting alone.
    """
    before = torch.get_num_threads()
    if num_threads is not None and num_threads != before:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
