"""Starting values of the networks' parameters.

The smooth, positively correlated start of the PICNN's low-rank quadratic
(:func:`low_rank_init` on :func:`smooth_basis`), and :func:`inv_softplus`, the
raw parameter that a ``softplus`` maps to a wanted positive value (used by the
PICNN, the IQF head's Gaussian start and the figures' fits).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Initial diagonal quadratic ``q + eps`` with the low-rank term (1 without it):
#: the low-rank part carries the other ``1 - q^2`` of the initial variance.
QUAD_INIT = 0.5


def smooth_basis(dim: int, rank: int) -> Tensor:
    """The first ``rank`` orthonormal DCT-II vectors of length ``dim``, shape: (dim, rank)."""
    d = torch.arange(dim, dtype=torch.float64) + 0.5
    k = torch.arange(rank, dtype=torch.float64)
    basis = torch.cos(math.pi * k * d.unsqueeze(-1) / dim) * math.sqrt(2.0 / dim)
    basis[:, 0] = 1.0 / math.sqrt(dim)
    return basis.float()


def low_rank_init(dim: int, rank: int, quad: float = QUAD_INIT) -> tuple[Tensor, float]:
    """``(U, q + eps)`` at the start: ``U = a B`` (D, r), ``B`` the smooth basis, with
    ``a`` such that the initial map ``(q I + a^2 B B^T) x`` has unit variance on
    average, and ``q = quad``.

    ``U U^T`` is quadratic in ``U``, so its gradient is proportional to ``U``:
    from a small random start (entries ~ N(0, 0.1 / r), ``q + eps = 1``) the
    energy score grew the dependence slowly, and MQF2 learned a neighbouring-step
    correlation of 0.62 / 0.70 / 0.62 on AR(1) data (truth 0.87, seeds 0-2, 180
    steps; ``bench_datasets.py --ar1``; ten times the learning rate for ``U`` and
    ``q``: 0.66). It now starts from a smooth, positively
    correlated map of unit variance (neighbour correlation 0.5-0.7 for D = 8-48;
    what forecast errors over a horizon usually look like), which the energy
    score shapes: 0.84 on the same AR(1) data. With ``D <= r``, ``B B^T = I``:
    the start is the identity map.
    """
    share = min(rank, dim) / dim  # mean diagonal of the projection B B^T
    # q^2 + (2 q a^2 + a^4) * share = 1, solved for a^2 >= 0
    c = max(1.0 - quad * quad, 0.0) / share
    a2 = -quad + math.sqrt(quad * quad + c)
    return math.sqrt(a2) * smooth_basis(dim, rank), quad


def inv_softplus(y: float | Tensor) -> float | Tensor:
    """The ``w`` with ``softplus(w) == y`` (``y > 0``), for a float or a tensor."""
    if isinstance(y, Tensor):
        return y + torch.log(-torch.expm1(-y))
    return y + math.log(-math.expm1(-y))
