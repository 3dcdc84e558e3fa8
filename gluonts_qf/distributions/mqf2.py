"""The multivariate quantile function forecaster's distribution, MQF2.

Kan, Aubet, Januschowski, Park, Benidis, Ruthotto, Gasthaus (AISTATS 2022),
"Multivariate Quantile Function Forecaster": the quantile map is the gradient
of a convex potential (a PICNN, :mod:`gluonts_qf.nn.picnn`) applied to a
standard normal; training minimises the energy score.
"""

import math
from typing import Callable, Optional, Tuple

import torch
from gluonts.core.component import validated
from gluonts.model.forecast_generator import ForecastGenerator, SampleForecastGenerator
from gluonts.pydantic import pydantic
from gluonts.torch.distributions import DistributionOutput
from torch import Tensor, nn
from torch.distributions import Distribution, constraints

from ..checks import (
    check_choice,
    check_int,
    check_interval,
    check_levels,
    check_positive,
)
from ..nn.picnn import PICNN
from .iqf import Levels

#: Training objectives of :class:`MQF2Output`: the energy score (the paper's
#: default) or maximum likelihood (the negative log-density).
OBJECTIVES = ("energy", "likelihood")


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
    """

    arg_constraints: dict = {}
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


class MQF2ArgsProj(nn.Module):
    """The MQF2 head of a model: features -> ``(context,)``, and the PICNN.

    ``forward`` returns the ``distr_args`` of :class:`MQF2Output`: the context
    ``h``, a linear projection of the features passed through the output's
    ``domain_map`` (a soft clip). The potential ``picnn`` is a submodule, so a
    model that registers this head trains (and saves) it too; pass it to
    :meth:`MQF2Output.distribution` and :meth:`MQF2Output.loss`.
    Shapes: (*batch, in_features) -> ((*batch, C),).
    """

    def __init__(self, in_features: int, picnn: PICNN, domain_map: Callable) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, picnn.context_dim)
        self.picnn = picnn
        self.domain_map = domain_map

    def forward(self, features: Tensor) -> Tuple[Tensor]:
        return self.domain_map(self.proj(features))


class MQF2Output(DistributionOutput):
    r"""GluonTS ``DistributionOutput`` for MQF2, trained by the energy score or likelihood.

    Kan et al. (2022): ``get_args_proj(in_features)`` returns the model's head,
    an :class:`MQF2ArgsProj` that holds the projection to the context and the
    PICNN potential; its output ``(context,)`` are the ``distr_args``.
    ``distribution(distr_args, loc, scale, picnn=head.picnn)`` builds an
    :class:`MQF2` and ``loss`` is its energy score (``objective="energy"``,
    Kan et al., Sec. 4.2) or its negative log-likelihood
    (``objective="likelihood"``, the exact change of variables of
    :meth:`MQF2.log_prob`), shape: (batch,).

    Parameters
    ----------
    dim
        D, the joint dimension (``prediction_length``, or times ``target_dim``).
    hidden_size
        Width H of the PICNN layers.
    num_layers
        Number of convex hidden layers of the PICNN.
    context_dim
        Size C of the context ``h``; ``None`` means ``hidden_size``.
    es_num_samples
        Samples per energy-score estimate (at least 2).
    beta
        Energy-score exponent in (0, 2).
    eps
        Strict convexity of the potential (smallest Hessian eigenvalue).
    threshold_input
        Context features are softly clipped to ``[-threshold_input, threshold_input]``.
    rank
        Rank r of the context-dependent PSD quadratic ``0.5 ||U(h)^T x||^2`` of
        the potential (dependence between coordinates); 0 disables it.
    smooth_start
        Start the quadratic as a smooth, positively correlated map over the
        ``D`` coordinates (default; suits a horizon), or, ``False``, near the
        independent map (for a joint forecast across series, whose flattened
        coordinates have no order; see :class:`~gluonts_qf.nn.picnn.PICNN`).
    objective
        ``"energy"`` (default): the energy score, from ``es_num_samples``
        samples, over the observed coordinates of each target. ``"likelihood"``:
        ``-log p(y)``, exact (one Newton solve and a D x D Hessian per target,
        so meant for moderate D); a density of the observed coordinates alone
        has no closed form, so targets with any missing coordinate are left
        out (loss 0, see :meth:`counted`).
    """

    distr_cls: type = MQF2

    @validated()
    def __init__(
        self,
        dim: pydantic.StrictInt,
        hidden_size: pydantic.StrictInt = 32,
        num_layers: pydantic.StrictInt = 2,
        context_dim: Optional[pydantic.StrictInt] = None,
        es_num_samples: pydantic.StrictInt = 50,
        beta: float = 1.0,
        eps: float = 1e-3,
        threshold_input: float = 100.0,
        rank: pydantic.StrictInt = 4,
        objective: str = "energy",
        smooth_start: bool = True,
    ) -> None:
        super().__init__()
        self.smooth_start = bool(smooth_start)
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.dim = check_int(
            "dim", dim, hint="it is the joint dimension D of a target."
        )
        self.hidden_size = check_int("hidden_size", hidden_size, hint="e.g. 32.")
        self.num_layers = check_int("num_layers", num_layers, hint="e.g. 2.")
        self.context_dim = (
            self.hidden_size
            if context_dim is None
            else check_int("context_dim", context_dim, hint="or None for hidden_size.")
        )
        self.es_num_samples = check_int(
            "es_num_samples", es_num_samples, low=2, hint="e.g. 50."
        )
        self.beta = check_beta(beta)
        self.eps = check_positive("eps", eps, hint="e.g. 1e-3.")
        self.threshold_input = check_positive("threshold_input", threshold_input)
        self.rank = check_int("rank", rank, low=0, hint="e.g. 4, or 0 for none.")
        self.args_dim = {"context": self.context_dim}

    def get_args_proj(self, in_features: int) -> MQF2ArgsProj:
        """A new head (projection + PICNN) for features of size ``in_features``."""
        picnn = PICNN(
            self.dim,
            self.context_dim,
            self.hidden_size,
            self.num_layers,
            self.eps,
            self.rank,
            self.smooth_start,
        )
        return MQF2ArgsProj(in_features, picnn, self.domain_map)

    def domain_map(self, context: Tensor) -> Tuple[Tensor]:  # type: ignore[override]
        """Soft clip of raw context features, shape: (*batch, C) -> (*batch, C)."""
        t = self.threshold_input
        return (t * torch.tanh(context / t),)

    def distribution(
        self,
        distr_args: Tuple[Tensor],
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
        picnn: Optional[PICNN] = None,
    ) -> MQF2:
        """The :class:`MQF2` of ``distr_args == (context,)`` and the head's ``picnn``."""
        if picnn is None or len(distr_args) != 1:
            raise ValueError(
                "MQF2Output expects distr_args == (context,), the output of the head "
                "that get_args_proj returned, and picnn=head.picnn."
            )
        return MQF2(picnn, distr_args[0], loc=loc, scale=scale)

    def counted(self, observed: Tensor) -> Tensor:
        """Which targets enter the loss, shape: (*batch, D) -> (*batch,), bool.

        Energy score: those with at least one observed coordinate (norms run
        over the observed ones). Likelihood: only fully observed ones.
        """
        observed = observed > 0
        return observed.all(-1) if self.objective == "likelihood" else observed.any(-1)

    def loss(
        self,
        target: Tensor,
        distr_args: Tuple[Tensor],
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
        observed: Optional[Tensor] = None,
        picnn: Optional[PICNN] = None,
    ) -> Tensor:
        """The objective at ``target`` (*batch, D), masked by ``observed``; shape: (*batch,).

        Energy score: every norm over the observed coordinates. Likelihood:
        ``-log p(target)`` where every coordinate is observed and 0 elsewhere
        (missing values, NaN allowed, never reach the density or its gradient).
        """
        distr = self.distribution(distr_args, loc=loc, scale=scale, picnn=picnn)
        if self.objective == "energy":
            return distr.energy_score(target, self.beta, self.es_num_samples, observed)
        target = distr._as_value(target, "target")
        if observed is None:
            if torch.isnan(target).any():
                raise ValueError(
                    "target has NaN values; pass observed=~torch.isnan(target) to "
                    "leave targets with missing values out of the likelihood."
                )
            return -distr.log_prob(target)
        observed = torch.as_tensor(observed, device=target.device) > 0
        complete = self.counted(observed.expand_as(target))  # (*batch,)
        # any finite value will do where the target is left out: the mean
        safe = torch.where(complete.unsqueeze(-1), target, distr._affine(0.0))
        nll = -distr.log_prob(safe)
        return torch.where(complete, nll, torch.zeros((), dtype=nll.dtype))

    @property
    def event_shape(self) -> Tuple:
        return (self.dim,)

    @property
    def forecast_generator(self) -> ForecastGenerator:
        return SampleForecastGenerator()

    @property
    def value_in_support(self) -> float:
        return 0.0
