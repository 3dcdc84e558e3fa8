"""The spline quantile function itself: its breakpoints, and ``q``, ``F``, ``log f``.

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

Evaluation finds the piece holding each point (a binary search, or a count of
the breakpoints below it when they are few and shared) and reads only that
piece, so a point costs ``O(log M)`` rather than ``O(M)``.
"""

from __future__ import annotations

from typing import NamedTuple

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
    u_left, u_right
        Outer knot levels ``a_1`` and ``a_K`` (may broadcast), where the tails
        start; equal to ``u[..., 0]`` and ``u[..., -1] + du[..., -1]``.
    q_left, q_right
        Outer knot values ``q_1`` and ``q_K``, shape: (*batch,); equal to
        ``q[..., 0]`` and ``q[..., -1] + dq[..., -1]``.
    """

    u: torch.Tensor
    du: torch.Tensor
    q: torch.Tensor
    dq: torch.Tensor
    beta_l: torch.Tensor
    beta_r: torch.Tensor
    u_left: torch.Tensor
    u_right: torch.Tensor
    q_left: torch.Tensor
    q_right: torch.Tensor

    def shifted(self, c: torch.Tensor) -> Spline:
        """The same spline with every value moved by ``-c`` (shape (*batch,))."""
        return self._replace(
            q=self.q - c.unsqueeze(-1), q_left=self.q_left - c, q_right=self.q_right - c
        )


def increments(raw: torch.Tensor, tol: float) -> torch.Tensor:
    """Strictly positive increments ``softplus(raw) + tol`` (same shape)."""
    return F.softplus(raw) + tol


def shares(
    logits: torch.Tensor, tol: float, num_pieces: int | None = None
) -> torch.Tensor:
    """Softmax shares with a floor: ``(softmax + tol) / (1 + P tol)``.

    shape: (..., P) -> (..., P); every share is at least ``tol / (1 + P tol)``
    and the shares sum to one along the last axis. ``num_pieces`` (``P``, as a
    Python int; default ``logits.shape[-1]``) keeps the normaliser a Python
    float under ``torch.jit.trace``, where a shape is a tensor, so a traced
    model computes the same bits as the eager one.
    """
    P = logits.shape[-1] if num_pieces is None else num_pieces
    norm = 1.0 / (1.0 + P * tol)
    # softmax written out: torch.softmax is slow on CPU for a short last axis.
    # Subtracting the (detached) row maximum changes neither value nor gradient.
    e = torch.exp(logits - logits.detach().amax(dim=-1, keepdim=True))
    return e * (norm / e.sum(dim=-1, keepdim=True)) + tol * norm


def knot_values(raw: torch.Tensor, tol: float) -> torch.Tensor:
    """Monotone knot values: ``q_1 = r_1``, ``q_k = q_{k-1} + softplus(r_k) + tol``.

    shape: (*batch, K) -> (*batch, K).
    """
    steps = torch.cat([raw[..., :1], increments(raw[..., 1:], tol)], dim=-1)
    return torch.cumsum(steps, dim=-1)


def floored_tail_rates(
    knot_levels: torch.Tensor, knot_values: torch.Tensor, raw_l, raw_r, *shares
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tail rates whose tails are at least as steep as the pieces next to them.

    The left tail ``q_1 + log(u / a_1) / b_L`` has slope ``1 / (b_L a_1)`` at
    ``a_1``; with ``b_L = 1 / (a_1 s_1 (1 + softplus(raw_l)))``, ``s_1`` the
    slope of the first piece, that slope is ``s_1 (1 + softplus(raw_l)) > s_1``,
    and likewise on the right with the last piece and ``1 - a_K``. So the
    density never jumps up where a tail starts (a too-thin tail), and the
    quantile function stays convex there. ``shares``: none (one piece per
    interval), or the level and the value shares of the pieces. shapes: (K,),
    (*batch, K), (*batch,) x 2[, (*batch, K - 1, P) x 2] -> (*batch,) x 2.
    """
    da = knot_levels[1:] - knot_levels[:-1]
    dv = knot_values[..., 1:] - knot_values[..., :-1]
    first, last = dv[..., 0] / da[0], dv[..., -1] / da[-1]
    if shares:
        level_shares, value_shares = shares
        first = first * value_shares[..., 0, 0] / level_shares[..., 0, 0]
        last = last * value_shares[..., -1, -1] / level_shares[..., -1, -1]
    a_l, c_r = knot_levels[0], 1.0 - knot_levels[-1]
    beta_l = 1.0 / (a_l * first * (1.0 + F.softplus(raw_l)))
    beta_r = 1.0 / (c_r * last * (1.0 + F.softplus(raw_r)))
    return beta_l, beta_r


def build_spline(
    knot_levels: torch.Tensor,
    knot_values: torch.Tensor,
    beta_l: torch.Tensor,
    beta_r: torch.Tensor,
    level_shares: torch.Tensor | None = None,
    value_shares: torch.Tensor | None = None,
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
    # the tails start exactly at the outer knots
    ends = (beta_l, beta_r, knot_levels[0], knot_levels[-1])
    ends += (knot_values[..., 0], knot_values[..., -1])
    if level_shares is None:
        return Spline(knot_levels[:-1], da, knot_values[..., :-1], dv, *ends)

    num_pieces = level_shares.shape[-1]

    def per_piece(t: torch.Tensor) -> torch.Tensor:
        """Each interval's value for each of its pieces: (..., K-1) -> (..., M)."""
        return t.unsqueeze(-1).expand(*t.shape, num_pieces).flatten(-2)

    def before(shares: torch.Tensor) -> torch.Tensor:
        """Share of its interval left of each piece: (*batch, K-1, P) -> (*batch, M)."""
        return (torch.cumsum(shares, dim=-1) - shares).flatten(-2)

    # Work on the flat (*batch, M) layout: elementwise ops that broadcast a
    # (K-1, 1)-shaped factor over a short P axis are slow on CPU.
    da_m, dv_m = per_piece(da), per_piece(dv)  # (M,), (*batch, M)
    du = level_shares.flatten(-2) * da_m
    dq = value_shares.flatten(-2) * dv_m
    u = per_piece(knot_levels[:-1]) + da_m * before(level_shares)
    q = per_piece(knot_values[..., :-1]) + dv_m * before(value_shares)
    return Spline(u, du, q, dq, *ends)


def batch_shape(s: Spline) -> torch.Size:
    """Batch shape shared by all parameters of ``s``."""
    return torch.broadcast_shapes(
        s.u.shape[:-1], s.q.shape[:-1], s.beta_l.shape, s.beta_r.shape
    )


def on_points(fn, s: Spline, x: torch.Tensor) -> torch.Tensor:
    """Evaluate ``fn`` at points ``x`` laid out with one point axis last.

    ``fn(s, pts)`` takes points of shape (*batch', E) and returns (*batch', E);
    ``x`` may have any shape that broadcasts against the batch (extra leading
    dimensions included). Its points are moved to a trailing axis, so every
    point meets its own spline row: each point costs a binary search over the
    ``M`` pieces instead of a pass over all of them.
    shape: broadcast(x, batch) -> broadcast(x, batch).
    """
    batch = batch_shape(s)
    out = torch.broadcast_shapes(x.shape, batch)
    lead = len(out) - len(batch)
    # (*extra, *batch') -> (E, *batch') -> (*batch', E)
    pts = x.expand(out).reshape(-1, *out[lead:]).movedim(0, -1).contiguous()
    # (*batch', E) -> (E, *batch') -> (*extra, *batch')
    return fn(s, pts).movedim(-1, 0).reshape(out)


COUNT_MAX = 32  # shared breakpoints up to this many are counted, not searched


def locate(starts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Index of the piece holding each point, clamped to ``[0, M - 1]``.

    starts: sorted left ends, shape (*batch, M) or (M,); x: shape (*batch', E).
    Returns a long tensor of shape (*batch', E) (no gradient). A few shared
    breakpoints (one piece per knot interval) are counted with one
    branch-free comparison pass each, which on CPU is several times faster
    than a binary search of randomly ordered points.
    """
    num = starts.shape[-1]
    starts, x = starts.detach(), x.detach()
    if starts.dim() == 1 and num <= COUNT_MAX:
        inner = starts[1:].reshape(-1, *([1] * x.dim()))  # (M-1, 1, ..., 1)
        return (inner <= x).sum(0, dtype=torch.int16).long()
    if starts.dim() > 1:
        starts = starts.expand(*x.shape[:-1], num).contiguous()
    idx = torch.searchsorted(starts, x.contiguous(), right=True)
    return (idx - 1).clamp_(0, num - 1)


def take(p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Per-piece values at piece indices. p: (*batch, M) or (M,); idx: (*batch', E)."""
    return p.expand(*idx.shape[:-1], p.shape[-1]).gather(-1, idx)


class Ends(NamedTuple):
    """Tail parameters with a trailing point axis, each of shape (*batch, 1)."""

    u_left: torch.Tensor
    u_right: torch.Tensor
    q_left: torch.Tensor
    q_right: torch.Tensor
    beta_l: torch.Tensor
    beta_r: torch.Tensor


def ends(s: Spline) -> Ends:
    """The tail parameters of ``s``, broadcastable against points (*batch, E)."""

    def last(t: torch.Tensor) -> torch.Tensor:  # (*batch,) -> (*batch, 1)
        return t.unsqueeze(-1) if t.dim() else t

    return Ends(
        last(s.u_left),
        last(s.u_right),
        last(s.q_left),
        last(s.q_right),
        s.beta_l.unsqueeze(-1),
        s.beta_r.unsqueeze(-1),
    )


def quantile(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """Quantile function ``q(level)``; shape: broadcast(level, batch)."""
    return on_points(_quantile_points, s, level)


def _quantile_points(s: Spline, level: torch.Tensor) -> torch.Tensor:
    """:func:`quantile` at levels of shape (*batch', E).

    The piece term is evaluated at the level clamped to ``[a_1, a_K]``, so it
    gives ``q_1`` left of ``a_1`` and ``q_K`` right of ``a_K``; the tail adds
    ``log(u / a_1) / b_L`` or ``-log((1 - u) / (1 - a_K)) / b_R``, whose
    argument is clamped to at most 1, which makes it exactly zero between
    the outer knots. No branch is masked and no ``inf`` reaches the gradients.
    """
    e = ends(s)
    inner = torch.maximum(torch.minimum(level, e.u_right), e.u_left)
    idx = locate(s.u, inner)
    u, q, slope = (take(p, idx) for p in (s.u, s.q, s.dq / s.du))
    middle = q + (inner - u) * slope
    is_left = level < e.u_left
    ratio = torch.where(is_left, level / e.u_left, (1.0 - level) / (1.0 - e.u_right))
    rate = torch.where(is_left, e.beta_l, -e.beta_r)
    return middle + torch.log(ratio.clamp(max=1.0)) / rate


def tail_levels(e: Ends, y: torch.Tensor):
    """Left-tail level ``F(y)`` and right-tail ``1 - F(y)``, both finite.

    y: shape (*batch', E); returns two tensors of that shape.
    """
    left = e.u_left * torch.exp(e.beta_l * (y - e.q_left).clamp(max=0.0))
    right = (1.0 - e.u_right) * torch.exp(-e.beta_r * (y - e.q_right).clamp(min=0.0))
    return left, right


def piece_at(s: Spline, y: torch.Tensor):
    """Piece holding each value and how far ``y`` has crossed it.

    y: shape (*batch', E). Returns ``idx`` (long), the piece's ``u, du, q, dq``
    and the fraction ``frac`` in [0, 1], all of shape (*batch', E).
    """
    idx = locate(s.q, y)
    u, du, q, dq = (take(p, idx) for p in (s.u, s.du, s.q, s.dq))
    return idx, u, du, q, dq, ((y - q) / dq).clamp(0.0, 1.0)


def cdf(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """Cumulative distribution ``F(y)``; shape: broadcast(y, batch)."""
    return on_points(_cdf_points, s, y)


def _cdf_points(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """:func:`cdf` at values of shape (*batch', E)."""
    e = ends(s)
    left, right = tail_levels(e, y)
    _, u, du, _, _, frac = piece_at(s, y)
    middle = u + du * frac
    return torch.where(
        y < e.q_left, left, torch.where(y > e.q_right, 1.0 - right, middle)
    )


def log_density(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """Log density: ``log(du / dq)`` on a piece, exponential in the tails."""
    return on_points(_log_density_points, s, y)


def _log_density_points(s: Spline, y: torch.Tensor) -> torch.Tensor:
    """:func:`log_density` at values of shape (*batch', E)."""
    e = ends(s)
    left = torch.log(e.beta_l * e.u_left) + e.beta_l * (y - e.q_left)
    right = torch.log(e.beta_r * (1.0 - e.u_right)) - e.beta_r * (y - e.q_right)
    _, _, du, _, dq, _ = piece_at(s, y)
    middle = torch.log(du) - torch.log(dq)
    return torch.where(y < e.q_left, left, torch.where(y > e.q_right, right, middle))
