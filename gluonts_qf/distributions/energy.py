"""The energy score of joint samples (Gneiting and Raftery, 2007): MQF2's loss.

``ES(F, y) = E||Y - y||^b - E||Y - Y'||^b / 2`` with ``0 < b < 2`` (strictly
proper there), estimated without bias from one set of samples; the numpy score
of :mod:`gluonts_qf.evaluation.joint` is a thin front end to it.
"""

from typing import Optional

import torch
from torch import Tensor

from ..checks import check_interval


def check_beta(beta: float) -> float:
    """Return the energy-score exponent, or raise: it must lie in (0, 2)."""
    return check_interval(
        "beta",
        beta,
        0.0,
        2.0,
        hint="the energy score is strictly proper only there; the usual choice is 1.0.",
    )


def _safe_pow(sq: Tensor, half_beta: float) -> Tensor:
    """``sq ** half_beta`` with a zero (not NaN) gradient where ``sq == 0``."""
    pos = sq > 0
    return torch.where(pos, torch.where(pos, sq, 1.0) ** half_beta, 0.0)


def energy_score_from_samples(
    samples: Tensor, y: Tensor, beta: float = 1.0, observed: Optional[Tensor] = None
) -> Tensor:
    r"""Unbiased energy score of ``y`` from one set of ``n`` i.i.d. samples.

    ``mean_i ||Y_i - y||^b - sum_{i != j} ||Y_i - Y_j||^b / (2 n (n - 1))``,
    an unbiased estimate of ``E||Y - y||^b - E||Y - Y'||^b / 2``. Norms run
    over the observed coordinates only (``observed`` true / 1), also for the
    sample pairs. Pairwise distances use the Gram identity on samples centred
    by their (detached) mean, which leaves them unchanged.

    Shapes: samples (n, *batch, D), y (*yb, D), observed broadcastable to y,
    with ``batch`` and ``yb`` broadcastable (aligned right) -> (*out_batch,).
    ``y`` must be finite where observed.
    """
    n = samples.shape[0]
    if n < 2:
        raise ValueError(f"the energy score needs at least 2 samples, got {n}.")
    w = None if observed is None else observed.to(samples.dtype)
    diff2 = (samples - y) ** 2
    sq = (diff2 if w is None else diff2 * w).sum(-1)  # (n, *out)
    term1 = _safe_pow(sq, beta / 2).mean(0)
    a = (samples - samples.mean(0, keepdim=True).detach()).movedim(0, -2)  # (*b, n, D)
    aw = a if w is None else a * w.unsqueeze(-2)  # (*out, n, D)
    norms = (aw * a).sum(-1)  # (*out, n)
    sq2 = norms.unsqueeze(-1) + norms.unsqueeze(-2) - 2 * aw @ a.transpose(-1, -2)
    off = ~torch.eye(n, dtype=torch.bool, device=samples.device)
    pair = _safe_pow(torch.where(off, sq2.clamp_min(0.0), 0.0), beta / 2)
    term2 = pair.sum((-1, -2)) / (2 * n * (n - 1))
    return term1 - term2
