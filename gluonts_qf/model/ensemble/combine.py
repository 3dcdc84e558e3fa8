"""Averaging quantile functions level by level, and choosing the weights.

Members that share the knot levels ``a_1 < ... < a_K`` and have one linear
piece per interval and exponential tails average into one such function
(Vincentization): ``q(u) = sum_m w_m q_m(u)`` at every level, so the knot
values average, and each tail ``q_K - log((1 - u) / (1 - a_K)) / b`` averages
in ``1 / b``. The ensemble is an exact IQF again, with closed-form quantiles,
CRPS and decisions. Pure numpy; shapes name ``M`` members, ``K`` knots, ``T``
steps, ``N`` observations.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: Smallest value step between two knots, relative to the series' spread (a
#: member whose quantiles coincide, e.g. a constant series, gets this much).
MIN_STEP = 1e-6


def increasing(values: np.ndarray, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Knot values made strictly increasing along the last axis (K,).

    Steps below ``MIN_STEP * scale`` are raised to it, so a member with equal
    quantiles (no spread) is still a valid, steep quantile function.
    """
    v = np.asarray(values, dtype=np.float64)
    floor = MIN_STEP * np.maximum(np.asarray(scale, dtype=np.float64), 1e-12)
    floor = np.broadcast_to(np.asarray(floor)[..., None], v[..., 1:].shape)
    steps = np.maximum(np.diff(v, axis=-1), floor)
    return np.concatenate([v[..., :1], v[..., :1] + np.cumsum(steps, -1)], -1)


def continued_tails(
    levels: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tail rates ``(b_L, b_R)`` that continue the outer pieces' slopes.

    For a member known only at the knots (a statistical forecaster's
    quantiles): the exponential tails start with the slope of the piece next
    to them, ``1 / (b_L a_1) = s_1`` and ``1 / (b_R (1 - a_K)) = s_K``.
    shapes: (K,), (..., K) -> (...,) x 2.
    """
    a = np.asarray(levels, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    first = (v[..., 1] - v[..., 0]) / (a[1] - a[0])
    last = (v[..., -1] - v[..., -2]) / (a[-1] - a[-2])
    return 1.0 / (a[0] * first), 1.0 / ((1.0 - a[-1]) * last)


def quantiles_at(
    levels: np.ndarray,
    values: np.ndarray,
    beta_l: np.ndarray,
    beta_r: np.ndarray,
    at: Sequence[float],
) -> np.ndarray:
    """The quantile function (one piece per interval) at the levels ``at``.

    shapes: (K,), (..., K), (...,), (...,) -> (..., L).
    """
    a = np.asarray(levels, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    out = []
    for u in at:
        if u < a[0]:
            out.append(v[..., 0] + np.log(u / a[0]) / beta_l)
        elif u > a[-1]:
            out.append(v[..., -1] - np.log((1 - u) / (1 - a[-1])) / beta_r)
        else:
            j = min(int(np.searchsorted(a, u, side="right")) - 1, len(a) - 2)
            t = (u - a[j]) / (a[j + 1] - a[j])
            out.append(v[..., j] + t * (v[..., j + 1] - v[..., j]))
    return np.stack(out, -1)


def combine(
    weights: Sequence[float],
    values: Sequence[np.ndarray],
    beta_l: Sequence[np.ndarray],
    beta_r: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted average of M members: knot values and tail rates.

    ``values[m]`` (..., K), ``beta_*[m]`` (...,); ``weights`` sum to one.
    """
    w = np.asarray(weights, dtype=np.float64)
    v = sum(wm * np.asarray(vm, np.float64) for wm, vm in zip(w, values))
    inv_l = sum(wm / np.asarray(b, np.float64) for wm, b in zip(w, beta_l))
    inv_r = sum(wm / np.asarray(b, np.float64) for wm, b in zip(w, beta_r))
    return v, 1.0 / inv_l, 1.0 / inv_r


def simplex_grid(members: int, step: float) -> np.ndarray:
    """Every weight vector of ``members`` non-negative multiples of ``step``
    summing to one, shape: (G, members)."""
    n = round(1.0 / step)
    rows = [
        c for c in itertools.product(range(n + 1), repeat=members - 1) if sum(c) <= n
    ]
    grid = np.array([[*c, n - sum(c)] for c in rows], dtype=np.float64) / n
    return grid


def fit_weights(
    quantiles: np.ndarray, y: np.ndarray, levels: Sequence[float], step: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """The weights minimising the mean pinball loss of the averaged quantiles.

    ``quantiles`` (M, N, L): each member's quantiles at ``levels`` (L,) for
    the N held-back observations ``y`` (N,; NaN ones left out). A search over
    :func:`simplex_grid` (the loss is convex in the weights, the grid keeps
    the answer exact to ``step``). Returns ``(weights (M,), loss of each
    member alone (M,))``, losses as mean wQL (pinball sums over ``sum |y|``).
    """
    q = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(q).all(axis=(0, 2))
    q, y = q[:, ok], y[ok]
    u = np.asarray(levels, dtype=np.float64)
    scale = max(float(np.abs(y).sum()), 1e-12) * len(u)

    def loss(qq: np.ndarray) -> np.ndarray:  # (G, N, L) -> (G,)
        err = y[None, :, None] - qq
        return 2 * (err * (u - (err < 0))).sum(axis=(1, 2)) / scale

    alone = loss(q)
    grid = simplex_grid(len(q), step)
    best, best_loss = grid[0], np.inf
    per_chunk = max(1, int(4e6 // max(q[0].size, 1)))  # ~32 MB of averaged quantiles
    for chunk in np.array_split(grid, max(1, -(-len(grid) // per_chunk))):
        losses = loss(np.einsum("gm,mnl->gnl", chunk, q))
        i = int(np.argmin(losses))
        if losses[i] < best_loss:
            best, best_loss = chunk[i], float(losses[i])
    return best, alone
