"""Integrals of the spline quantile function: mean and moments, CRPS, slope and
partial expectations (pure tensor maths; the spline is described in
:mod:`.core`).

For ``Z = q(U)``, ``U ~ Uniform(0, 1)``:

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

Shapes follow :mod:`.core`: the spline's parameters have batch shape
``batch``; points ``y`` (or levels ``u``) broadcast against it and results have
the broadcast shape.
"""

from __future__ import annotations

from functools import partial
from typing import Union

import torch

from .core import Ends, Spline, ends, locate, on_points, piece_at, tail_levels, take


def left_tail_integral(s: Union[Spline, Ends]) -> torch.Tensor:
    """``int_0^{a_1} q(u) du``; shape: (*batch,) for a spline, (*batch, 1) for ends."""
    return s.u_left * (s.q_left - 1.0 / s.beta_l)


def right_tail_integral(s: Union[Spline, Ends]) -> torch.Tensor:
    """``int_{a_K}^1 q(u) du``; shape: (*batch,) for a spline, (*batch, 1) for ends."""
    return (1.0 - s.u_right) * (s.q_right + 1.0 / s.beta_r)


def moments(s: Spline):
    """Closed-form ``(int q du, int u q du, int q^2 du)`` over (0, 1).

    shape: three tensors of shape (*batch,).
    """
    a, c = s.u_left, 1.0 - s.u_right
    ql, qr, bl, br = s.q_left, s.q_right, s.beta_l, s.beta_r
    u, du, q, dq = s.u, s.du, s.q, s.dq
    m0 = left_tail_integral(s) + (du * (q + 0.5 * dq)).sum(-1) + right_tail_integral(s)
    m1 = (
        0.5 * a**2 * ql
        - 0.25 * a**2 / bl
        + (du * (u * q + 0.5 * (u * dq + q * du) + dq * du / 3.0)).sum(-1)
        + 0.5 * qr * (1.0 - (1.0 - c) ** 2)
        + (c - 0.25 * c**2) / br
    )
    m2 = (
        a * (ql**2 - 2.0 * ql / bl + 2.0 / bl**2)
        + (du * (q**2 + q * dq + dq**2 / 3.0)).sum(-1)
        + c * (qr**2 + 2.0 * qr / br + 2.0 / br**2)
    )
    return m0, m1, m2


def crps(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """Closed-form CRPS ``2 int_0^1 rho_u(y - q(u)) du``; shape: broadcast(y, batch).

    With ``v = F(y)`` and ``G(v) = int_0^v q``, splitting the pinball integral
    at ``v`` gives ``CRPS = y (2 v - 1) + 2 int (1 - u) q du - 2 G(v)``.
    Values are centred on the median knot first, which keeps float32 accurate
    for series far from zero.
    """
    ref = s.q[..., s.q.shape[-1] // 2].detach()
    return on_points(_crps_points, s.shifted(ref), y - ref)


def _one_minus_u_integral(s: Spline, g_end: torch.Tensor) -> torch.Tensor:
    """``int_0^1 (1 - u) q(u) du`` from the running sum of the piece areas.

    By parts, on ``[a_1, a_K]`` the integral is ``(1 - a_K) A + int G~`` where
    ``G~(u) = int_{a_1}^u q`` and ``A = G~(a_K)``; on piece ``j`` (with ``E_j``
    the running sum of the areas up to and including it)
    ``int G~ = du_j (E_j - du_j (q_j / 2 + dq_j / 3))``. The tails add
    ``q_1 (a - a^2 / 2) - (a - a^2 / 4) / b_L`` and ``c^2 (q_K / 2 + 1 / (4 b_R))``
    with ``a = a_1``, ``c = 1 - a_K``. shapes: (*batch, M) -> (*batch,).
    """
    a, c = s.u_left, 1.0 - s.u_right
    inner = s.du * (g_end - s.du * (0.5 * s.q + s.dq / 3.0))
    left = s.q_left * (a - 0.5 * a**2) - (a - 0.25 * a**2) / s.beta_l
    right = c**2 * (0.5 * s.q_right + 0.25 / s.beta_r)
    return left + c * g_end[..., -1] + inner.sum(-1) + right


def _crps_points(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """:func:`crps` at values of shape (*batch', E) (already centred)."""
    e = ends(s)
    left, right = tail_levels(e, y)
    idx, u, du, q, dq, frac = piece_at(s, y)
    # running sum of the piece areas: int_{a_1}^{u_j + du_j} q, (*batch, M)
    area = s.du * (s.q + 0.5 * s.dq)
    g_end = torch.cumsum(area, -1)
    g_a1 = left_tail_integral(e)  # int_0^{a_1} q, (*batch, 1)
    g_one = g_a1 + g_end[..., -1:] + right_tail_integral(e)
    v_mid = u + du * frac
    # G(v): G at the piece's right end minus the part of the piece above v
    rest = du * (1.0 - frac) * (q + 0.5 * dq * (1.0 + frac))
    g_mid = g_a1 + take(g_end, idx) - rest
    # G(v) in the tails, written so that nothing overflows for distant y
    g_left = left * (y - 1.0 / e.beta_l)
    g_right = g_one - right * (y + 1.0 / e.beta_r)

    is_left, is_right = y < e.q_left, y > e.q_right
    v = torch.where(is_left, left, torch.where(is_right, 1.0 - right, v_mid))
    g = torch.where(is_left, g_left, torch.where(is_right, g_right, g_mid))
    weighted = _one_minus_u_integral(s, g_end).unsqueeze(-1)
    return y * (2.0 * v - 1.0) + 2.0 * weighted - 2.0 * g


def quantile_slope(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """Derivative ``q'(u)`` of the quantile function; shape: broadcast(level, batch).

    The quantile function is piecewise linear, so at a breakpoint this is the
    slope of the piece to its right (the right derivative); everywhere else it
    equals ``1 / density(q(u))``.
    """
    return on_points(_slope_points, s, level)


def _slope_points(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """:func:`quantile_slope` at levels of shape (*batch', E)."""
    e = ends(s)
    inner = torch.maximum(torch.minimum(level, e.u_right), e.u_left)
    middle = take(s.dq / s.du, locate(s.u, inner))
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
    below = on_points(partial(_partial_points, upper=False), centred, z)
    above = on_points(partial(_partial_points, upper=True), centred, z)
    return below, above


def _partial_points(s: Spline, y: torch.Tensor, upper: bool) -> torch.Tensor:
    """``E[(Z - y)+]`` if ``upper`` else ``E[(y - Z)+]``, at values (*batch', E).

    Whichever of the two is small in a tail is computed from the tail's closed
    form and the other from ``E[(Z - y)+] - E[(y - Z)+] = E[Z] - y``, so neither
    is the small difference of two large numbers.
    """
    e = ends(s)
    left, right = tail_levels(e, y)  # F(y) and 1 - F(y) in the tails
    # areas of the pieces, int q du over each, and what lies before / after
    area = s.du * (s.q + 0.5 * s.dq)  # (*batch, M)
    upto = torch.cumsum(area, -1)  # int_{a_1}^{u_j + du_j} q
    total = upto[..., -1:]  # int_{a_1}^{a_K} q, (*batch, 1)
    c = 1.0 - e.u_right
    mean = (
        e.u_left * (e.q_left - 1.0 / e.beta_l) + total + c * (e.q_right + 1 / e.beta_r)
    )
    idx, u, du, _, dq, frac = piece_at(s, y)
    in_left = left / e.beta_l  # E[(y - Z)+] left of q_1
    in_right = right / e.beta_r  # E[(Z - y)+] right of q_K
    if upper:
        after = total - take(upto, idx)  # whole pieces right of piece idx
        tail = c * (e.q_right - y + 1.0 / e.beta_r)  # int_{a_K}^1 (q - y)
        width = e.u_right - u - du
        middle = tail + after - y * width + 0.5 * du * dq * (1.0 - frac) ** 2
        in_left = in_left + (mean - y)
    else:
        before = take(upto - area, idx)  # whole pieces left of piece idx
        tail = e.u_left * (y - e.q_left + 1.0 / e.beta_l)  # int_0^{a_1} (y - q)
        middle = tail + y * (u - e.u_left) - before + 0.5 * du * dq * frac**2
        in_right = in_right - (mean - y)
    return torch.where(
        y < e.q_left, in_left, torch.where(y > e.q_right, in_right, middle)
    )
