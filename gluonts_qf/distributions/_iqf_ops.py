"""Pure tensor maths of the incremental (spline) quantile function.

Everything here is a plain function of tensors, testable without a model.

A quantile function ``q`` is described by ``M + 1`` breakpoints
``(u_0, q_0), ..., (u_M, q_M)`` joined by linear pieces, plus two exponential
tails (Park et al., AISTATS 2022, eq. 6-8)::

    q(u) = q_0 + log(u / u_0) / beta_l                  u <  u_0
    q(u) = q_j + dq_j (u - u_j) / du_j                  u_j <= u < u_j + du_j
    q(u) = q_M - log((1 - u) / (1 - u_M)) / beta_r      u >= u_M

The breakpoints are kept as a start (``u_0``, ``q_0``) and strictly positive
increments (``du``, ``dq``), never as differences of cumulative sums, so a
piece never collapses to zero width in float32.

Shapes: ``(*batch, M)`` for increments and breakpoint starts, ``(*batch,)``
for ``q_0``, ``beta_l`` and ``beta_r``; the levels ``u`` may have fewer leading
dimensions (they broadcast). An evaluation point ``x`` of shape ``S`` must
broadcast against ``batch``; results have the broadcast shape.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F


class Spline(NamedTuple):
    """Breakpoints of a piecewise-linear quantile function with exponential tails.

    Attributes
    ----------
    u
        Left level of each piece, shape: (*batch, M) (may broadcast).
    du
        Level width of each piece, shape: (*batch, M); ``u_0 + sum(du) == a_K``.
    q
        Left value of each piece, shape: (*batch, M).
    dq
        Value width of each piece (strictly positive), shape: (*batch, M).
    beta_l, beta_r
        Tail rates (strictly positive), shape: (*batch,).
    """

    u: torch.Tensor
    du: torch.Tensor
    q: torch.Tensor
    dq: torch.Tensor
    beta_l: torch.Tensor
    beta_r: torch.Tensor

    @property
    def u_left(self) -> torch.Tensor:
        return self.u[..., 0]

    @property
    def u_right(self) -> torch.Tensor:
        return self.u[..., -1] + self.du[..., -1]

    @property
    def q_left(self) -> torch.Tensor:
        return self.q[..., 0]

    @property
    def q_right(self) -> torch.Tensor:
        return self.q[..., -1] + self.dq[..., -1]

    def shifted(self, c: torch.Tensor) -> "Spline":
        """The same spline with every value moved by ``-c`` (shape (*batch,))."""
        return self._replace(q=self.q - c.unsqueeze(-1))


def increments(raw: torch.Tensor, tol: float) -> torch.Tensor:
    """Strictly positive increments ``softplus(raw) + tol`` (same shape)."""
    return F.softplus(raw) + tol


def shares(logits: torch.Tensor, tol: float) -> torch.Tensor:
    """Softmax shares with a floor: ``(softmax + tol) / (1 + P tol)``.

    shape: (..., P) -> (..., P); every share is at least ``tol / (1 + P tol)``
    and the shares sum to one along the last axis.
    """
    num_pieces = logits.shape[-1]
    return (torch.softmax(logits, dim=-1) + tol) / (1.0 + num_pieces * tol)


def knot_values(raw: torch.Tensor, tol: float) -> torch.Tensor:
    """Monotone knot values: ``q_1 = r_1``, ``q_k = q_{k-1} + softplus(r_k) + tol``.

    shape: (*batch, K) -> (*batch, K).
    """
    steps = torch.cat([raw[..., :1], increments(raw[..., 1:], tol)], dim=-1)
    return torch.cumsum(steps, dim=-1)


def build_spline(
    knot_levels: torch.Tensor,
    knot_values: torch.Tensor,
    beta_l: torch.Tensor,
    beta_r: torch.Tensor,
    level_shares: Optional[torch.Tensor] = None,
    value_shares: Optional[torch.Tensor] = None,
) -> Spline:
    """Split each knot interval into pieces and return the flat breakpoints.

    Parameters
    ----------
    knot_levels
        Sorted levels ``a_1 < ... < a_K`` in (0, 1), shape: (K,).
    knot_values
        Increasing knot values ``q_1 < ... < q_K``, shape: (*batch, K).
    beta_l, beta_r
        Tail rates, shape: (*batch,).
    level_shares, value_shares
        Shares of each interval taken by each piece (positive, summing to one
        over the last axis), shape: (*batch, K - 1, P). ``None`` means one piece.

    Returns
    -------
    Spline with ``M = (K - 1) * P`` pieces.
    """
    da = knot_levels[1:] - knot_levels[:-1]  # (K-1,)
    dv = knot_values[..., 1:] - knot_values[..., :-1]  # (*batch, K-1)
    if level_shares is None:
        return Spline(
            knot_levels[:-1], da, knot_values[..., :-1], dv, beta_l, beta_r
        )

    # (*batch, K-1, P): width of each piece, then its left end
    du = level_shares * da.unsqueeze(-1)
    dq = value_shares * dv.unsqueeze(-1)
    u = knot_levels[:-1].unsqueeze(-1) + torch.cumsum(du, dim=-1) - du
    q = knot_values[..., :-1].unsqueeze(-1) + torch.cumsum(dq, dim=-1) - dq
    # (*batch, K-1, P) -> (*batch, M)
    return Spline(
        u.flatten(-2), du.flatten(-2), q.flatten(-2), dq.flatten(-2), beta_l, beta_r
    )


def _inner_fraction(
    x: torch.Tensor, start: torch.Tensor, width: torch.Tensor
) -> torch.Tensor:
    """How far ``x`` has crossed each piece, in [0, 1]. shape: S -> (*S, M)."""
    return ((x.unsqueeze(-1) - start) / width).clamp(0.0, 1.0)


def quantile(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """Quantile function ``q(level)``; shape: broadcast(level, batch)."""
    ul, ur = s.u_left, s.u_right
    # Evaluate each branch only where it is valid, so no inf leaks into grads.
    lev_l = torch.where(level < ul, level, ul)
    lev_r = torch.where(level > ur, level, ur)
    left = s.q_left + torch.log(lev_l / ul) / s.beta_l
    right = s.q_right - torch.log((1.0 - lev_r) / (1.0 - ur)) / s.beta_r
    middle = s.q_left + (s.dq * _inner_fraction(level, s.u, s.du)).sum(-1)
    return torch.where(level < ul, left, torch.where(level > ur, right, middle))


def _tail_levels(s: Spline, y: torch.Tensor):
    """Left-tail level ``F(y)`` and right-tail ``1 - F(y)``, both finite."""
    left = s.u_left * torch.exp(s.beta_l * (y - s.q_left).clamp(max=0.0))
    right = (1.0 - s.u_right) * torch.exp(-s.beta_r * (y - s.q_right).clamp(min=0.0))
    return left, right


def cdf(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """Cumulative distribution ``F(y)``; shape: broadcast(y, batch)."""
    left, right = _tail_levels(s, y)
    middle = s.u_left + (s.du * _inner_fraction(y, s.q, s.dq)).sum(-1)
    return torch.where(
        y < s.q_left, left, torch.where(y > s.q_right, 1.0 - right, middle)
    )


def log_density(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """Log density: ``log(du / dq)`` on a piece, exponential in the tails."""
    left = torch.log(s.beta_l * s.u_left) + s.beta_l * (y - s.q_left)
    right = torch.log(s.beta_r * (1.0 - s.u_right)) - s.beta_r * (y - s.q_right)
    # index of the piece holding y: how many inner breakpoints lie at or below it
    num = s.q.shape[-1]
    idx = (y.unsqueeze(-1) >= s.q[..., 1:]).sum(-1, keepdim=True)  # (*S, 1)
    onehot = idx == torch.arange(num, device=y.device)  # (*S, M)
    slope = torch.log(s.du) - torch.log(s.dq)  # (*batch, M)
    middle = torch.where(onehot, slope, torch.zeros_like(slope)).sum(-1)
    return torch.where(
        y < s.q_left, left, torch.where(y > s.q_right, right, middle)
    )


def _left_tail_integral(s: Spline) -> torch.Tensor:
    """``int_0^{u_0} q(u) du``."""
    return s.u_left * (s.q_left - 1.0 / s.beta_l)


def moments(s: Spline):
    """Closed-form ``(int q du, int u q du, int q^2 du)`` over (0, 1).

    shape: three tensors of shape (*batch,).
    """
    a, c = s.u_left, 1.0 - s.u_right
    ql, qr, bl, br = s.q_left, s.q_right, s.beta_l, s.beta_r
    u, du, q, dq = s.u, s.du, s.q, s.dq
    m0 = (
        _left_tail_integral(s)
        + (du * (q + 0.5 * dq)).sum(-1)
        + c * (qr + 1.0 / br)
    )
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
    s = s.shifted(ref)
    y = y - ref
    m0, m1, _ = moments(s)

    left, right = _tail_levels(s, y)
    frac = _inner_fraction(y, s.q, s.dq)  # (*S, M)
    v_mid = s.u_left + (s.du * frac).sum(-1)
    g_mid = _left_tail_integral(s) + (s.du * frac * (s.q + 0.5 * s.dq * frac)).sum(-1)
    # G(v) in the tails, written so that nothing overflows for distant y
    g_left = left * (y - 1.0 / s.beta_l)
    g_right = m0 - right * (y + 1.0 / s.beta_r)

    is_left, is_right = y < s.q_left, y > s.q_right
    v = torch.where(is_left, left, torch.where(is_right, 1.0 - right, v_mid))
    g = torch.where(is_left, g_left, torch.where(is_right, g_right, g_mid))
    return y * (2.0 * v - 1.0) + 2.0 * (m0 - m1) - 2.0 * g
