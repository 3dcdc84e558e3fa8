"""Integrals of the spline below and above a value: what censoring at it needs.

A variable censored from below at ``c``, ``Y = max(Z, c)`` with ``Z = q(U)``,
has the quantile function ``max(q(u), c)``: a point mass ``v = F(c)`` at ``c``
and ``Z``'s law above it. Its CRPS and variance need two integrals of ``q``
that the whole-line moments do not give, both unchanged by a common shift of
``q`` and ``c``, so they are computed on the spline shifted to ``c = 0``:

- ``head(s, c) = int_0^v u (c - q(u)) du`` (>= 0): the CRPS of ``Y`` at
  ``y >= c`` is ``CRPS_Z(y) - 2 head``, since on ``u < v`` the pinball loss of
  ``c`` is ``u (y - c)`` where that of ``q(u)`` is ``u (y - q(u))``;
- ``upper_square(s, c) = E[(Z - c)+^2] = int_v^1 (q(u) - c)^2 du``.

In the tails both follow from the exponential's memorylessness: left of
``q_1``, ``head = v^2 / (4 b_L)``; right of ``q_K`` (``r = 1 - v``)
``E[(Z - c)+^2] = 2 r / b_R^2``. On a piece, the part above ``c`` is a
triangle of level width ``(1 - frac) du`` rising from 0, whose square
integrates to ``(1 - frac) du (q_j + dq_j)^2 / 3``. Shapes: the spline's batch
shape for ``c`` and the results.
"""

from __future__ import annotations

import torch

from .core import Spline, batch_shape, ends, piece_at, tail_levels, take
from .expectations import moments


def _at_zero(s: Spline, c: torch.Tensor):
    """The spline shifted so ``c`` is 0, its ends, and where 0 falls in it."""
    c = torch.as_tensor(c).to(s.q).expand(batch_shape(s))
    z = s.shifted(c)
    zero = torch.zeros_like(c).unsqueeze(-1)  # (*batch, 1): one point per row
    return z, ends(z), zero


def head(s: Spline, c: torch.Tensor) -> torch.Tensor:
    """``int_0^{F(c)} u (c - q(u)) du``, shape: (*batch,)."""
    z, e, y = _at_zero(s, c)
    left, right = tail_levels(e, y)
    idx, u, du, q, dq, frac = piece_at(z, y)
    # int_0^v u q du, from below: the left tail, whole pieces, part of one
    a = e.u_left
    below_left = 0.5 * a**2 * e.q_left - 0.25 * a**2 / e.beta_l
    whole = z.du * (z.u * z.q + 0.5 * (z.u * z.dq + z.q * z.du) + z.dq * z.du / 3.0)
    before = take(torch.cumsum(whole, -1) - whole, idx)
    part = du * frac
    inside = part * (u * q + 0.5 * (u * frac * dq + q * part) + frac * dq * part / 3.0)
    middle = -(below_left + before + inside)
    in_left = left**2 / (4.0 * e.beta_l)
    # right of q_K: int_v^1 u q du = (r - r^2 / 4) / b_R, the rest is m1
    m1 = moments(z)[1].unsqueeze(-1)
    in_right = (right - 0.25 * right**2) / e.beta_r - m1
    out = torch.where(
        y < e.q_left, in_left, torch.where(y > e.q_right, in_right, middle)
    )
    return out.squeeze(-1)


def upper_square(s: Spline, c: torch.Tensor) -> torch.Tensor:
    """``E[(Z - c)+^2]``, shape: (*batch,)."""
    z, e, y = _at_zero(s, c)
    left, right = tail_levels(e, y)
    idx, _, du, q, dq, frac = piece_at(z, y)
    whole = z.du * (z.q**2 + z.q * z.dq + z.dq**2 / 3.0)  # int q^2 over each piece
    after = take(torch.cumsum(whole.flip(-1), -1).flip(-1) - whole, idx)
    cc = 1.0 - e.u_right
    tail = cc * (e.q_right**2 + 2.0 * e.q_right / e.beta_r + 2.0 / e.beta_r**2)
    middle = tail + after + (1.0 - frac) * du * (q + dq) ** 2 / 3.0
    m2 = moments(z)[2].unsqueeze(-1)
    in_left = m2 - 2.0 * left / e.beta_l**2
    in_right = 2.0 * right / e.beta_r**2
    out = torch.where(
        y < e.q_left, in_left, torch.where(y > e.q_right, in_right, middle)
    )
    return out.squeeze(-1)
