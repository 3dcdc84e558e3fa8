"""Slope and partial expectations of the spline quantile function (pure tensor maths).

Companions of :mod:`._iqf_ops` for decisions (service levels, shortage, cost);
the spline, its breakpoints and its tails are described there. For ``Z = q(U)``,
``U ~ Uniform(0, 1)``:

- slope of the quantile function, ``q'(u) = 1 / density(q(u))``: ``dq_j / du_j``
  on piece ``j``, ``1 / (b_L u)`` in the left tail and ``1 / (b_R (1 - u))`` in
  the right tail;
- partial expectations at a value ``y`` with ``v = F(y)``:
  ``E[(y - Z)+] = int_0^v (y - q(u)) du`` (below ``y``, "leftover") and
  ``E[(Z - y)+] = int_v^1 (q(u) - y) du`` (above ``y``, "shortage"); their
  difference is ``E[Z] - y``.

In the left tail ``E[(y - Z)+] = F(y) / b_L``; in the right tail
``E[(Z - y)+] = (1 - F(y)) / b_R`` (the exponential's memorylessness). On a
piece the integral over whole pieces and the tail is exact, and the part of the
piece holding ``y`` is a triangle: ``du dq frac^2 / 2`` below ``y`` and
``du dq (1 - frac)^2 / 2`` above, with ``frac`` the fraction of the piece
below ``y``.

Shapes follow :mod:`._iqf_ops`: the spline's parameters have batch shape
``batch``; points ``y`` (or levels ``u``) broadcast against it and results have
the broadcast shape.
"""

from __future__ import annotations

from functools import partial

import torch

from ._iqf_ops import Spline, _ends, _locate, _on_points, _piece_at, _tail_levels, _take

__all__ = ["quantile_slope", "partial_expectations"]


def quantile_slope(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """Derivative ``q'(u)`` of the quantile function; shape: broadcast(level, batch).

    The quantile function is piecewise linear, so at a breakpoint this is the
    slope of the piece to its right (the right derivative); everywhere else it
    equals ``1 / density(q(u))``.
    """
    return _on_points(_slope_points, s, level)


def _slope_points(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """:func:`quantile_slope` at levels of shape (*batch', E)."""
    e = _ends(s)
    inner = torch.maximum(torch.minimum(level, e.u_right), e.u_left)
    middle = _take(s.dq / s.du, _locate(s.u, inner))
    left = 1.0 / (e.beta_l * level)
    right = 1.0 / (e.beta_r * (1.0 - level))
    return torch.where(
        level < e.u_left, left, torch.where(level >= e.u_right, right, middle)
    )


def partial_expectations(
    s: Spline, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E[(y - Z)+], E[(Z - y)+])``, each of shape broadcast(y, batch).

    Values are centred on the middle breakpoint first (both expectations are
    unchanged by a common shift), which keeps the sums of areas accurate for
    series far from zero.
    """
    ref = s.q[..., s.q.shape[-1] // 2]
    centred, z = s.shifted(ref), y - ref
    below = _on_points(partial(_partial_points, upper=False), centred, z)
    above = _on_points(partial(_partial_points, upper=True), centred, z)
    return below, above


def _partial_points(s: Spline, y: torch.Tensor, upper: bool) -> torch.Tensor:
    """``E[(Z - y)+]`` if ``upper`` else ``E[(y - Z)+]``, at values (*batch', E).

    Whichever of the two is small in a tail is computed from the tail's closed
    form and the other from ``E[(Z - y)+] - E[(y - Z)+] = E[Z] - y``, so neither
    is the small difference of two large numbers.
    """
    e = _ends(s)
    left, right = _tail_levels(e, y)  # F(y) and 1 - F(y) in the tails
    # areas of the pieces, int q du over each, and what lies before / after
    area = s.du * (s.q + 0.5 * s.dq)  # (*batch, M)
    upto = torch.cumsum(area, -1)  # int_{a_1}^{u_j + du_j} q
    total = upto[..., -1:]  # int_{a_1}^{a_K} q, (*batch, 1)
    c = 1.0 - e.u_right
    mean = (
        e.u_left * (e.q_left - 1.0 / e.beta_l) + total + c * (e.q_right + 1 / e.beta_r)
    )
    idx, u, du, _, dq, frac = _piece_at(s, y)
    in_left = left / e.beta_l  # E[(y - Z)+] left of q_1
    in_right = right / e.beta_r  # E[(Z - y)+] right of q_K
    if upper:
        after = total - _take(upto, idx)  # whole pieces right of piece idx
        tail = c * (e.q_right - y + 1.0 / e.beta_r)  # int_{a_K}^1 (q - y)
        width = e.u_right - u - du
        middle = tail + after - y * width + 0.5 * du * dq * (1.0 - frac) ** 2
        in_left = in_left + (mean - y)
    else:
        before = _take(upto - area, idx)  # whole pieces left of piece idx
        tail = e.u_left * (y - e.q_left + 1.0 / e.beta_l)  # int_0^{a_1} (y - q)
        middle = tail + y * (u - e.u_left) - before + 0.5 * du * dq * frac**2
        in_right = in_right - (mean - y)
    return torch.where(
        y < e.q_left, in_left, torch.where(y > e.q_right, in_right, middle)
    )
