"""A partially input-convex potential, its gradient (the MQF2 quantile map) and Hessian.

Amos, Xu, Kolter (ICML 2017), "Input Convex Neural Networks", section 3.2
(the partially input-convex network, PICNN); Kan et al. (AISTATS 2022),
"Multivariate Quantile Function Forecaster" (the quantile map as the gradient of
a PICNN potential).

The gradient and the Hessian in ``x`` are written out by hand (a backward and a
forward-mode pass through the layers), so a quantile map costs one forward and
one backward sweep, builds no second-order autograd graph, and works the same
under ``torch.no_grad()``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .init import inv_softplus, low_rank_init


def _act(a: Tensor) -> Tensor:
    """softplus, linear only beyond 30 (where ``1 - sigmoid < 1e-13``, so the
    hand-written derivative ``sigmoid`` matches autograd to rounding)."""
    return F.softplus(a, threshold=30.0)


class _Context(NamedTuple):
    """Context-only terms of the potential, each shape: (*context_batch, .)."""

    x_scales: list[Tensor]  # per layer, (.., D): multiplies x before W_x
    biases: list[Tensor]  # per layer, (.., H)
    z_gates: list[Tensor | None]  # per layer, (.., H) >= 0; None for layer 0
    out_weight: Tensor  # (.., H) >= 0: phi_net = <out_weight, z_L>
    linear: Tensor  # (.., D): linear term <c, x>
    quad: Tensor  # (.., D) >= eps: 0.5 sum_d quad_d x_d^2
    low_rank: Tensor | None  # (.., D, r): 0.5 ||U^T x||^2; None when r = 0


class PICNN(nn.Module):
    r"""Potential ``phi(x; h)``, convex in ``x`` in R^D for every context ``h``.

    With ``u_0 = h``, ``u_{k+1} = tanh(A_k u_k + a_k)`` (context path,
    unconstrained) and ``k = 0, ..., L - 1``::

        a_k = W_x[k] (x * m_k(u_k)) + b_k(u_k) + [k > 0] W_z[k]^+ (z_{k-1} * g_k(u_k))
        z_k = softplus(a_k)
        phi = <w(u_L), z_{L-1}> + <c(u_L), x> + 0.5 sum_d (q_d(u_L) + eps) x_d^2
              + 0.5 ||U(u_L)^T x||^2

    ``m_k, b_k, c`` are affine in the context state; ``W_z^+ = softplus(W_z)``,
    the gates ``g_k`` and the output weights ``w`` are non-negative, and softplus
    is convex and non-decreasing, so every ``z_k`` and ``phi`` are convex in
    ``x`` (Amos et al., 2017, eq. 3 with multiplicative context on the inputs of
    both paths). The diagonal quadratic ``q >= 0`` (plus ``eps``) makes ``phi``
    strictly convex. The low-rank term, ``U`` of shape (D, r) affine in the
    context state, adds ``U U^T x`` to the map and ``U U^T`` (PSD for any ``U``)
    to the Hessian: a context-dependent linear map with off-diagonal structure,
    i.e. correlation between the coordinates, which the diagonal quadratic and
    the softplus network express only poorly. At initialisation the network part
    is small; without the low-rank term ``q + eps = 1`` and the map ``grad phi``
    starts near the identity (a standard normal); with it, ``q + eps =
    QUAD_INIT`` and a smooth ``U`` (:func:`low_rank_init`): a Gaussian of unit
    variance with positively correlated coordinates.

    Parameters
    ----------
    dim
        D, the dimension of ``x``.
    context_dim
        C, the dimension of the context ``h``.
    hidden_size
        H, the width of every layer.
    num_layers
        L >= 1, the number of convex hidden layers.
    eps
        Strict convexity: the Hessian is at least ``eps * I``.
    rank
        r >= 0, the rank of the quadratic ``0.5 ||U^T x||^2``; 0 disables it.
    smooth_start
        Start ``U`` smooth and large (:func:`low_rank_init`: neighbouring
        coordinates positively correlated, what suits a forecast horizon);
        ``False``: small and random (``U ~ N(0, 0.1 / r)``, ``q + eps = 1``),
        about the independent map, for coordinates without an order (series
        of a joint forecast across series, flattened as (step, series)).
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        hidden_size: int = 32,
        num_layers: int = 2,
        eps: float = 1e-3,
        rank: int = 0,
        smooth_start: bool = True,
    ) -> None:
        super().__init__()
        D, C, H, L = int(dim), int(context_dim), int(hidden_size), int(num_layers)
        self.dim, self.context_dim, self.hidden_size, self.num_layers = D, C, H, L
        self.rank = int(rank)
        self.smooth_start = bool(smooth_start)
        self.eps = float(eps)
        ins = [C] + [H] * L  # width of u_k
        self.context_layers = nn.ModuleList(nn.Linear(ins[k], H) for k in range(L))
        # per layer: x scales (D), biases (H), z gates (H, layers k > 0)
        self.heads = nn.ModuleList(
            nn.Linear(ins[k], D + H + (H if k else 0)) for k in range(L)
        )
        self.out_head = nn.Linear(H, H + 2 * D)  # output weights, linear, quad
        self.x_weights = nn.ParameterList(
            nn.Parameter(torch.empty(H, D)) for _ in range(L)
        )
        self.z_weights_raw = nn.ParameterList(
            nn.Parameter(torch.empty(H, H)) for _ in range(L - 1)
        )
        self.out_weight_raw = nn.Parameter(torch.empty(H))
        # U(u_L), flattened (D * r); None when rank == 0
        self.low_rank_head = nn.Linear(H, D * self.rank) if self.rank else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start near ``phi = 0.5 x^T (q I + U U^T) x`` (the identity map without the
        low-rank term) with a small convex network."""
        D, H = self.dim, self.hidden_size
        gate0 = inv_softplus(1.0)
        with torch.no_grad():
            for layer in list(self.heads) + [self.out_head]:
                layer.reset_parameters()
                layer.weight.mul_(0.1)
            for head in self.heads:
                head.bias[:D].fill_(1.0)  # x scales start at 1
                head.bias[D + H :].fill_(gate0)  # gates start at 1
            self.out_head.bias[:H].fill_(gate0)
            self.out_head.bias[H : H + D].zero_()
            u0, quad = None, 1.0
            if self.rank and self.smooth_start:
                u0, quad = low_rank_init(D, self.rank)
            elif self.rank:
                u0 = torch.randn(D, self.rank) * math.sqrt(0.1 / self.rank)
            self.out_head.bias[H + D :].fill_(inv_softplus(max(quad - self.eps, 1e-3)))
            for w in self.x_weights:
                nn.init.normal_(w, std=1.0 / math.sqrt(D))
            for w in self.z_weights_raw:
                nn.init.normal_(w, mean=inv_softplus(1.0 / H), std=0.3)
            self.out_weight_raw.fill_(inv_softplus(0.5 / H))
            if self.low_rank_head is not None:
                # U starts smooth and large (low_rank_init), not near 0 (a
                # stationary point, U U^T being quadratic in U)
                self.low_rank_head.reset_parameters()
                self.low_rank_head.weight.mul_(0.1)
                self.low_rank_head.bias.copy_(u0.flatten())

    # ---------------------------------------------------------------- internals
    def _context(self, h: Tensor) -> _Context:
        """Context terms from ``h``, shape: (*hb, C) -> each (*hb, .)."""
        if h.shape[-1] != self.context_dim:
            raise ValueError(
                f"context has last dimension {h.shape[-1]}, expected "
                f"context_dim={self.context_dim}."
            )
        D, H = self.dim, self.hidden_size
        scales, biases, gates = [], [], []
        u = h
        for k in range(self.num_layers):
            out = self.heads[k](u)
            scales.append(out[..., :D])
            biases.append(out[..., D : D + H])
            gates.append(F.softplus(out[..., D + H :]) if k else None)
            u = torch.tanh(self.context_layers[k](u))
        out = self.out_head(u)
        w = F.softplus(out[..., :H]) * F.softplus(self.out_weight_raw)
        quad = F.softplus(out[..., H + D :]) + self.eps
        low_rank = None
        if self.low_rank_head is not None:
            low_rank = self.low_rank_head(u).unflatten(-1, (D, self.rank))
        return _Context(scales, biases, gates, w, out[..., H : H + D], quad, low_rank)

    @staticmethod
    def _low_rank_coords(x: Tensor, ctx: _Context) -> Tensor:
        """``U^T x``, shape: (*batch, r)."""
        return (x.unsqueeze(-1) * ctx.low_rank).sum(-2)

    def _z_weights(self) -> list[Tensor]:
        return [F.softplus(w) for w in self.z_weights_raw]

    def _preactivations(
        self, x: Tensor, ctx: _Context, wz: list[Tensor]
    ) -> list[Tensor]:
        """Pre-activations ``a_k``, each shape: (*batch, H) for x: (*batch, D)."""
        pre: list[Tensor] = []
        for k in range(self.num_layers):
            a = (x * ctx.x_scales[k]) @ self.x_weights[k].t() + ctx.biases[k]
            if k:
                a = a + (_act(pre[-1]) * ctx.z_gates[k]) @ wz[k - 1].t()
            pre.append(a)
        return pre

    def _phi(self, x: Tensor, ctx: _Context, pre: list[Tensor]) -> Tensor:
        net = (ctx.out_weight * _act(pre[-1])).sum(-1)
        phi = net + (ctx.linear * x).sum(-1) + 0.5 * (ctx.quad * x * x).sum(-1)
        if ctx.low_rank is not None:
            phi = phi + 0.5 * self._low_rank_coords(x, ctx).square().sum(-1)
        return phi

    def _backward(
        self, x: Tensor, ctx: _Context, pre: list[Tensor], wz: list[Tensor]
    ) -> tuple[Tensor, list[Tensor]]:
        """``grad_x phi`` (*batch, D) and ``dphi/dz_k`` per layer (*batch, H), all >= 0."""
        delta = ctx.out_weight  # dphi / dz_{L-1}
        grad = ctx.linear + ctx.quad * x
        if ctx.low_rank is not None:  # + U U^T x
            v = self._low_rank_coords(x, ctx).unsqueeze(-2)  # (.., 1, r)
            grad = grad + (v * ctx.low_rank).sum(-1)
        deltas: list[Tensor] = [delta] * self.num_layers
        for k in reversed(range(self.num_layers)):
            deltas[k] = delta
            e = delta * torch.sigmoid(pre[k])  # dphi / da_k; softplus' = sigmoid
            grad = grad + (e @ self.x_weights[k]) * ctx.x_scales[k]
            if k:
                delta = (e @ wz[k - 1]) * ctx.z_gates[k]
        return grad, deltas

    def _hessian(
        self,
        x: Tensor,
        ctx: _Context,
        pre: list[Tensor],
        deltas: list[Tensor],
        wz: list[Tensor],
    ) -> Tensor:
        """Exact Hessian (*batch, D, D): ``diag(q) + U U^T + sum_k J_k^T diag(d_k s''(a_k)) J_k``.

        ``J_k = da_k / dx`` (forward mode); the layers are linear in
        ``(z_{k-1}, x)`` and the output is linear in ``z``, so the only curvature
        is the activations' (``softplus'' = s (1 - s)`` with ``s = sigmoid``).
        """
        batch = torch.broadcast_shapes(x.shape[:-1], pre[0].shape[:-1])
        hess = torch.diag_embed(ctx.quad.expand(*batch, self.dim))
        if ctx.low_rank is not None:
            hess = hess + ctx.low_rank @ ctx.low_rank.transpose(-1, -2)
        jac: Tensor | None = None
        for k in range(self.num_layers):
            j = self.x_weights[k] * ctx.x_scales[k].unsqueeze(-2)  # (.., H, D)
            if k:
                s_prev = torch.sigmoid(pre[k - 1]) * ctx.z_gates[k]  # (.., H)
                j = j + wz[k - 1] @ (s_prev.unsqueeze(-1) * jac)
            s = torch.sigmoid(pre[k])
            curv = deltas[k] * s * (1.0 - s)  # (.., H) >= 0
            hess = hess + j.transpose(-1, -2) @ (curv.unsqueeze(-1) * j)
            jac = j
        return hess

    def _check_x(self, x: Tensor, name: str = "x") -> None:
        if x.shape[-1:] != (self.dim,):
            raise ValueError(
                f"{name} must have last dimension D={self.dim}, got shape {tuple(x.shape)}."
            )

    # ------------------------------------------------------------------- public
    def potential(self, x: Tensor, h: Tensor) -> Tensor:
        """``phi(x; h)``; x: (*batch, D), h: (*hb, C) broadcastable -> (*batch,)."""
        self._check_x(x)
        ctx = self._context(h)
        return self._phi(x, ctx, self._preactivations(x, ctx, self._z_weights()))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        """Same as :meth:`potential`."""
        return self.potential(x, h)

    def gradient(
        self, x: Tensor, h: Tensor, create_graph: bool | None = None
    ) -> Tensor:
        """The quantile map ``grad_x phi(x; h)``, shape: (*batch, D).

        Computed explicitly (no autograd in ``x``). Rule for the graph: the
        result is differentiable (w.r.t. parameters, ``x`` and ``h``) iff
        ``create_graph``, which defaults to ``torch.is_grad_enabled()``. So
        inside ``torch.no_grad()`` it just returns values, in training it is
        an ordinary first-order graph (no double backward), and
        ``create_graph=False`` skips the graph even when gradients are on.
        """
        self._check_x(x)
        if create_graph is None:
            create_graph = torch.is_grad_enabled()
        with torch.set_grad_enabled(create_graph):
            ctx, wz = self._context(h), self._z_weights()
            pre = self._preactivations(x, ctx, wz)
            return self._backward(x, ctx, pre, wz)[0]

    def hessian(self, x: Tensor, h: Tensor) -> Tensor:
        """Exact Hessian ``d^2 phi / dx^2``, shape: (*batch, D, D); symmetric, >= eps I.

        Costs O(L H^2 D + L H D^2) per point: meant for small or moderate D.
        Differentiable when gradients are enabled.
        """
        self._check_x(x)
        ctx, wz = self._context(h), self._z_weights()
        pre = self._preactivations(x, ctx, wz)
        _, deltas = self._backward(x, ctx, pre, wz)
        return self._hessian(x, ctx, pre, deltas, wz)

    def hessian_logdet(self, x: Tensor, h: Tensor) -> Tensor:
        """``log det`` of the exact Hessian, shape: (*batch,) (via Cholesky)."""
        chol = torch.linalg.cholesky(self.hessian(x, h))
        return 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)

    def inverse(
        self, y: Tensor, h: Tensor, tol: float | None = None, max_iter: int = 100
    ) -> Tensor:
        """The ``x`` with ``grad phi(x; h) = y``: argmin of ``phi(x) - <x, y>``.

        Damped Newton with the exact Hessian and a backtracking (Armijo) line
        search per point; the objective is strictly convex, so the solution is
        unique. Starts from the inverse of the quadratic part (diagonal plus
        low rank). Stops when every
        residual ``|grad phi(x) - y|`` is below ``tol * (1 + |y|)`` (default
        ``100 * machine epsilon``) or after ``max_iter`` steps. Never builds a
        graph; the result is detached. Shapes: y (*batch, D), h (*hb, C) -> (*batch, D).
        """
        self._check_x(y, "y")
        finfo = torch.finfo(y.dtype)
        tol = 100 * finfo.eps if tol is None else float(tol)
        with torch.no_grad():
            ctx, wz = self._context(h), self._z_weights()
            if ctx.low_rank is None:
                x = (y - ctx.linear) / ctx.quad
            else:
                u = ctx.low_rank
                quad = torch.diag_embed(ctx.quad) + u @ u.transpose(-1, -2)
                x = torch.linalg.solve(quad, (y - ctx.linear).unsqueeze(-1))
                x = x.squeeze(-1)
            y = y.expand_as(x)
            for _ in range(max_iter):
                pre = self._preactivations(x, ctx, wz)
                grad, deltas = self._backward(x, ctx, pre, wz)
                res = grad - y
                if (res.abs() <= tol * (1 + y.abs())).all():
                    break
                hess = self._hessian(x, ctx, pre, deltas, wz)
                step = torch.linalg.solve(hess, res.unsqueeze(-1)).squeeze(-1)
                x = self._line_search(x, y, step, res, ctx, wz, pre, finfo.eps)
        return x

    def _line_search(self, x, y, step, res, ctx, wz, pre, machine_eps: float) -> Tensor:
        """Backtracking ``x - t * step`` with Armijo's rule, ``t`` halved per point."""
        phi0, xy0 = self._phi(x, ctx, pre), (x * y).sum(-1)
        f0 = phi0 - xy0
        decrease = (step * res).sum(-1)  # >= 0: Newton step on a convex objective
        # rounding in f: relative to its terms, which can cancel near the optimum
        slack = 10 * machine_eps * (1 + phi0.abs() + xy0.abs())
        t = torch.ones_like(f0)
        for _ in range(40):
            x_new = x - t.unsqueeze(-1) * step
            f_new = self._phi(x_new, ctx, self._preactivations(x_new, ctx, wz))
            ok = f_new - (x_new * y).sum(-1) <= f0 - 1e-4 * t * decrease + slack
            if ok.all():
                break
            t = torch.where(ok, t, 0.5 * t)
        return x_new
