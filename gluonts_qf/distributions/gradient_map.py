"""The distribution of the gradient map of a convex potential: MQF2.

Kan, Aubet, Januschowski, Park, Benidis, Ruthotto, Gasthaus (AISTATS 2022),
"Multivariate Quantile Function Forecaster": ``y = loc + scale * grad phi(x; h)``
with ``x ~ N(0, I_D)`` and ``phi`` convex in ``x`` (a PICNN,
:mod:`gluonts_qf.nn.picnn`). Its head, :class:`~gluonts_qf.MQF2Output`, is in
:mod:`gluonts_qf.distributions.mqf2`.
"""

import math
from typing import Optional

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from ..checks import check_int, check_levels
from ..nn.picnn import PICNN
from .energy import check_beta, energy_score_from_samples
from .iqf import Levels


class MQF2(Distribution):
    r"""Joint distribution ``y = loc + scale * grad phi(x; h)``, ``x ~ N(0, I_D)``.

    Kan et al. (2022), the MQF2 model: the multivariate quantile map
    ``Q(u; h) = grad_x phi(Phi^{-1}(u); h)`` of a potential convex in ``x``
    (Brenier map from the standard normal), so ``Q`` is monotone in the
    reference coordinates ``x = Phi^{-1}(u)``:
    ``<Q(u) - Q(v), Phi^{-1}(u) - Phi^{-1}(v)> >= 0``. (In ``u`` itself this
    holds for D = 1 or a diagonal map, not in general.)

    Parameters
    ----------
    picnn
        The potential (a :class:`~gluonts_qf.nn.PICNN`; any object with ``dim``,
        ``gradient``, ``hessian``, ``hessian_logdet`` and ``inverse`` works).
    context
        Context features ``h``, shape: (*batch_shape, C).
    loc, scale
        Optional affine transform, broadcastable to (*batch_shape, D); ``None``
        means 0 and 1.
    validate_args
        Check ``context``, ``loc`` and ``scale`` against :attr:`arg_constraints`
        when built, and the values given to ``log_prob`` (default ``False``).
    """

    arg_constraints = {
        "context": constraints.real_vector,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        picnn: PICNN,
        context: Tensor,
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
        validate_args: Optional[bool] = False,
    ) -> None:
        self.picnn, self.context = picnn, context
        dim = int(picnn.dim)
        zero = context.new_zeros(())
        self.loc = zero if loc is None else torch.as_tensor(loc).to(context)
        self.scale = zero + 1 if scale is None else torch.as_tensor(scale).to(context)
        try:
            shapes = [
                torch.broadcast_shapes(t.shape, (dim,))[:-1]
                for t in (self.loc, self.scale)
            ]
            batch_shape = torch.broadcast_shapes(context.shape[:-1], *shapes)
        except RuntimeError as err:
            raise ValueError(
                f"loc {tuple(self.loc.shape)} and scale {tuple(self.scale.shape)} must "
                f"broadcast to (*batch, D={dim}) with context {tuple(context.shape)}."
            ) from err
        super().__init__(batch_shape, torch.Size([dim]), validate_args=validate_args)

    @property
    def dim(self) -> int:
        return self.event_shape[0]

    def expand(self, batch_shape, _instance=None) -> "MQF2":
        """The same distribution over a larger batch (views, no copies)."""
        shape = torch.Size(batch_shape)
        context = self.context.expand(*shape, self.context.shape[-1])
        loc, scale = (t.expand(*shape, self.dim) for t in (self.loc, self.scale))
        return MQF2(self.picnn, context, loc, scale, self._validate_args)

    def _as_value(self, value: Tensor, name: str = "value") -> Tensor:
        value = torch.as_tensor(value).to(self.context)
        if value.shape[-1:] != self.event_shape:
            raise ValueError(
                f"{name} must have last dimension D={self.dim} (the joint dimension), "
                f"got shape {tuple(value.shape)}."
            )
        return value

    def _affine(self, z: Tensor) -> Tensor:
        return self.loc + self.scale * z

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """Samples, shape: sample_shape + batch_shape + (D,)."""
        shape = self._extended_shape(torch.Size(sample_shape))
        x = torch.randn(shape, dtype=self.context.dtype, device=self.context.device)
        return self._affine(self.picnn.gradient(x, self.context))

    def quantile_map(self, u: Tensor) -> Tensor:
        """The multivariate quantile ``Q(u)`` at level vectors u in (0, 1)^D.

        Shapes: u (..., D) broadcastable with (*batch_shape, D) -> broadcast shape.
        """
        u = self._as_value(u, "u")
        if not ((u > 0) & (u < 1)).all():
            raise ValueError("u must lie strictly between 0 and 1 in every coordinate.")
        x = torch.special.ndtri(u)
        return self._affine(self.picnn.gradient(x, self.context))

    def quantile(self, levels: Levels, num_samples: int = 1000) -> Tensor:
        """Marginal quantiles per coordinate, estimated from ``num_samples`` samples.

        Not ``quantile_map``: for each of the D coordinates separately, the
        empirical quantile (linear interpolation, ``torch.quantile``) of that
        coordinate's samples, so they are Monte Carlo estimates (standard error
        ~ ``sqrt(u (1 - u) / num_samples) / density``), non-decreasing in the level.

        Returns shape: (*batch_shape, L, D).
        """
        lv = torch.as_tensor(check_levels(levels)).to(self.context)
        samples = self.rsample(torch.Size([num_samples]))  # (n, *batch, D)
        q = torch.quantile(samples, lv, dim=0)  # (L, *batch, D)
        return q.movedim(0, -2)

    @property
    def mean(self) -> Tensor:
        """Monte Carlo mean from 1000 samples, shape: (*batch_shape, D)."""
        return self.rsample(torch.Size([1000])).mean(0)

    def energy_score(
        self,
        y: Tensor,
        beta: float = 1.0,
        num_samples: int = 50,
        observed: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Unbiased estimate of ``E||Y - y||^b - E||Y - Y'||^b / 2`` from ``num_samples``.

        See :func:`energy_score_from_samples`. ``observed`` (bool or 0/1,
        broadcastable to ``y``) restricts every norm to the observed
        coordinates; values at unobserved coordinates (NaN allowed) are ignored.
        Shapes: y (*yb, D) with ``yb`` broadcastable to batch_shape -> broadcast of both.
        """
        beta = check_beta(beta)
        num_samples = check_int("num_samples", num_samples, low=2)
        y = self._as_value(y, "y")
        if observed is None:
            if torch.isnan(y).any():
                raise ValueError(
                    "y has NaN values; pass observed=~torch.isnan(y) to mask missing values."
                )
        else:
            observed = torch.as_tensor(observed, device=y.device).to(torch.bool)
            if (torch.isnan(y) & observed).any():
                raise ValueError("y has NaN values where observed is true.")
            y = torch.where(
                observed, y, torch.zeros((), dtype=y.dtype, device=y.device)
            )
        samples = self.rsample(torch.Size([num_samples]))  # (n, *batch, D)
        extra = max(y.dim() - 1 - len(self.batch_shape), 0)
        samples = samples.reshape(samples.shape[:1] + (1,) * extra + samples.shape[1:])
        return energy_score_from_samples(samples, y, beta, observed)

    def log_prob(self, value: Tensor) -> Tensor:
        r"""``log N(x) - log det Hess phi(x) - sum_d log scale_d``, ``grad phi(x) = (y - loc) / scale``.

        Exact change of variables (maximum-likelihood mode), for small D: ``x``
        by Newton's method, the log-determinant from the exact Hessian. The
        gradient flows through ``x`` by the implicit function theorem (one
        differentiable Newton step from the solution with a detached Hessian).
        Shape: (*batch,) for value (*batch, D).
        """
        value = self._as_value(value)
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        x = self.picnn.inverse(z, self.context)
        if torch.is_grad_enabled():
            hess = self.picnn.hessian(x, self.context).detach()
            res = self.picnn.gradient(x, self.context) - z
            x = x - torch.linalg.solve(hess, res.unsqueeze(-1)).squeeze(-1)
        logdet = self.picnn.hessian_logdet(x, self.context)
        log_normal = -0.5 * (x * x).sum(-1) - 0.5 * self.dim * math.log(2 * math.pi)
        log_scale = torch.log(self.scale).expand(*x.shape[:-1], self.dim).sum(-1)
        return log_normal - logdet - log_scale
