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


#: Spread factors tried on each side of the median: 2 ** (k / 8), 0.5 to 2.
SPREADS = tuple(2.0 ** (k / 8) for k in range(-8, 9))


def median_index(levels: Sequence[float]) -> int | None:
    """The position of the level 0.5 among ``levels``, ``None`` if absent."""
    at = np.flatnonzero(np.isclose(np.asarray(levels, dtype=np.float64), 0.5))
    return int(at[0]) if len(at) else None


def stretch(
    levels: np.ndarray,
    values: np.ndarray,
    beta_l: np.ndarray,
    beta_r: np.ndarray,
    lower: float,
    upper: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quantile function stretched about its median ``m``.

    ``q(u) -> m - lower * (m - q(u))`` below the median and ``m + upper *
    (q(u) - m)`` above it: the knot values move so, and the exponential tails'
    rates divide by the factors (``b_L / lower``, ``b_R / upper``), so the
    result is again an IQF with the same knots, increasing for positive
    factors. Two different factors need a knot at 0.5 (else the piece across
    the median would bend). shapes: (K,), (..., K), (...,), (...,).
    """
    a = np.asarray(levels, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if not (lower > 0 and upper > 0):
        raise ValueError(f"spread factors must be positive, got {lower}, {upper}.")
    j = median_index(a)
    if j is not None:
        m = v[..., [j]]
    elif lower == upper:
        m = quantiles_at(a, v, beta_l, beta_r, [0.5])
    else:
        raise ValueError(
            "different spread factors below and above the median need a knot "
            f"at 0.5; the knots are {a.tolist()}."
        )
    factor = np.where(a < 0.5, lower, upper)
    return (
        m + factor * (v - m),
        np.asarray(beta_l, np.float64) / lower,
        np.asarray(beta_r, np.float64) / upper,
    )


def fit_spread(
    quantiles: np.ndarray,
    y: np.ndarray,
    levels: Sequence[float],
    spreads: Sequence[float] = SPREADS,
    sides: bool = False,
) -> tuple[float, float]:
    """The factors of :func:`stretch` that minimise the pinball loss.

    ``quantiles`` (N, L): a forecast's quantiles at ``levels`` (L,; 0.5 among
    them) for the N observations ``y`` (NaN ones left out). One factor for both
    sides by default, a search over ``spreads``; with ``sides``, one each: the
    levels below the median depend on the lower factor only and those above on
    the upper one, so each is a search on its own. Returns ``(lower, upper)``
    (equal without ``sides``; 1 and 1 when no observation is finite).
    """
    q = np.asarray(quantiles, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    u = np.asarray(levels, dtype=np.float64)
    j = median_index(u)
    if j is None:
        raise ValueError(f"fit_spread needs the level 0.5 among {u.tolist()}.")
    ok = np.isfinite(y) & np.isfinite(q).all(axis=1)
    q, y = q[ok], y[ok]
    if not len(y):
        return 1.0, 1.0
    m = q[:, [j]]
    s = np.asarray(spreads, dtype=np.float64)[:, None, None]

    def loss(side: np.ndarray) -> np.ndarray:  # (S,): pinball sums at those levels
        err = y[None, :, None] - (m + s * (q[:, side] - m))  # (S, N, L_side)
        return (err * (u[side] - (err < 0))).sum(axis=(1, 2))

    below, above = loss(u < 0.5), loss(u > 0.5)
    if not sides:
        both = float(s[int(np.argmin(below + above)), 0, 0])
        return both, both
    return float(s[int(np.argmin(below)), 0, 0]), float(s[int(np.argmin(above)), 0, 0])


#: Heaviness factors tried for each exponential tail: 2 ** (k / 8), 0.25 to 4.
TAIL_FACTORS = tuple(2.0 ** (k / 8) for k in range(-16, 17))


def scale_tails(
    beta_l: np.ndarray, beta_r: np.ndarray, lower: float, upper: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tail rates whose tails are ``lower`` / ``upper`` times as heavy.

    Beyond the outer knots every quantile moves from the knot value ``lower``
    (``upper``) times as far, ``q(u) -> q(a_1) + lower * (q(u) - q(a_1))``,
    which for an exponential tail divides its rate: ``b_L / lower``, ``b_R /
    upper``. The knots, hence every quantile between them, stay as they are.
    """
    if not (lower > 0 and upper > 0):
        raise ValueError(f"tail factors must be positive, got {lower}, {upper}.")
    return (
        np.asarray(beta_l, np.float64) / lower,
        np.asarray(beta_r, np.float64) / upper,
    )


def fit_tails(
    levels: Sequence[float],
    values: np.ndarray,
    beta_l: np.ndarray,
    beta_r: np.ndarray,
    y: np.ndarray,
    at: Sequence[float],
    factors: Sequence[float] = TAIL_FACTORS,
    lower_bound: float | None = None,
    shared: bool = False,
) -> tuple[float, float]:
    """The factors of :func:`scale_tails` that minimise the pinball loss.

    ``values`` (..., K), ``beta_*`` (...,): quantile functions (one piece per
    interval between the knot ``levels``) of the observations ``y`` (...,;
    NaN ones left out), scored at the levels of ``at`` beyond the outer knots:
    those below ``a_1`` depend on the lower factor only, those above ``a_K`` on
    the upper one, so each side is a search over ``factors`` on its own;
    ``shared``: one factor for both, the least loss of the two sides together
    (ties go to the factor nearest 1). With ``lower_bound`` the quantiles are
    censored there first (as the forecast is). Returns ``(lower, upper)``; 1
    for a side with no level of ``at`` beyond its knot or no observation.
    """
    a = np.asarray(levels, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).reshape(-1, len(a))
    b_l = np.asarray(beta_l, dtype=np.float64).reshape(-1)
    b_r = np.asarray(beta_r, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    ok = np.isfinite(y) & np.isfinite(v).all(axis=1) & np.isfinite(b_l + b_r)
    v, b_l, b_r, y = v[ok], b_l[ok], b_r[ok], y[ok]
    c = np.asarray(factors, dtype=np.float64)
    floor = -np.inf if lower_bound is None else float(lower_bound)
    u = np.asarray(at, dtype=np.float64)

    def losses(side: np.ndarray, knot: np.ndarray, excess: np.ndarray) -> np.ndarray:
        # excess (N, L): q(u) - q(knot) of the unscaled tail at the side's levels
        q = np.maximum(knot[None, :, None] + c[:, None, None] * excess[None], floor)
        err = y[None, :, None] - q  # (F, N, L)
        return (err * (side - (err < 0))).sum(axis=(1, 2))

    def best(loss: np.ndarray) -> float:
        return float(c[min(range(len(c)), key=lambda i: (loss[i], abs(np.log(c[i]))))])

    below, above = u[u < a[0]], u[u > a[-1]]
    if not len(y):
        return 1.0, 1.0
    low = losses(below, v[:, 0], np.log(below / a[0])[None] / b_l[:, None])
    high = losses(
        above, v[:, -1], -np.log((1 - above) / (1 - a[-1]))[None] / b_r[:, None]
    )
    if shared:
        both = best(low + high) if below.size or above.size else 1.0
        return both, both
    return (
        best(low) if below.size else 1.0,
        best(high) if above.size else 1.0,
    )
