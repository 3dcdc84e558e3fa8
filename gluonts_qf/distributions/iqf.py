"""The incremental (spline) quantile function as a torch distribution.

Park, Robinson, Aubet, Kan, Gasthaus, Wang (AISTATS 2022), "Learning Quantile
Functions without Quantile Crossing for Distribution-free Time Series
Forecasting", eq. 6-12. The maths lives in :mod:`.spline`.
"""

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from gluonts.core.component import validated
from gluonts.pydantic import pydantic
from gluonts.torch.distributions import DistributionOutput
from torch.distributions import Distribution, constraints

from ..checks import check_int, check_levels, check_positive
from ..nn.init import inv_softplus
from . import spline as ops

Levels = Union[Sequence[float], torch.Tensor]


class _Increasing(constraints.Constraint):
    """Strictly increasing along the last axis (the knot values)."""

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value[..., 1:] > value[..., :-1]).all(-1)


class IQF(Distribution):
    r"""Incremental (spline) quantile function with exponential tails.

    A distribution defined by its quantile function (Park et al., 2022,
    eq. 6-8): linear pieces through increasing knot values at fixed levels,
    exponential tails outside. Quantiles, CDF, density, CRPS, mean and
    variance are closed form. ``y = loc + scale * z`` where ``z`` follows the
    spline.

    Parameters
    ----------
    knot_levels
        Sorted levels ``a_1 < ... < a_K`` in (0, 1), shape: (K,).
    knot_values
        Increasing knot values, shape: (*batch_shape, K).
    beta_l, beta_r
        Positive left and right tail rates, shape: (*batch_shape,).
    level_shares, value_shares
        Optional piece shares of each knot interval (positive, summing to one
        over the last axis), shape: (*batch_shape, K - 1, P). ``None``: ``P == 1``.
    loc, scale
        Optional affine transform of the values, broadcastable to the batch shape.
    validate_args
        Check the parameters against :attr:`arg_constraints` when built, and
        the values given to ``cdf``, ``log_prob`` and ``icdf`` (default
        ``False``: the parameterisation of :class:`IQFOutput` guarantees them,
        and a check per training step costs time).
    """

    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        knot_levels: torch.Tensor,
        knot_values: torch.Tensor,
        beta_l: torch.Tensor,
        beta_r: torch.Tensor,
        level_shares: Optional[torch.Tensor] = None,
        value_shares: Optional[torch.Tensor] = None,
        loc: Optional[torch.Tensor] = None,
        scale: Optional[torch.Tensor] = None,
        validate_args: Optional[bool] = False,
    ) -> None:
        self.knot_levels = torch.as_tensor(knot_levels).to(knot_values)
        self.knot_values = knot_values
        self.beta_l, self.beta_r = beta_l, beta_r
        self.level_shares, self.value_shares = level_shares, value_shares
        self.spline = ops.build_spline(
            self.knot_levels, knot_values, beta_l, beta_r, level_shares, value_shares
        )
        zero = knot_values.new_zeros(())
        self.loc = zero if loc is None else torch.as_tensor(loc).to(knot_values)
        self.scale = (
            zero + 1 if scale is None else torch.as_tensor(scale).to(knot_values)
        )
        batch_shape = torch.broadcast_shapes(
            knot_values.shape[:-1], self.loc.shape, self.scale.shape
        )
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> Dict[str, constraints.Constraint]:
        """Increasing knot values, positive tail rates and scale, shares on a simplex."""
        found = {
            "knot_values": _Increasing(),
            "beta_l": constraints.positive,
            "beta_r": constraints.positive,
            "loc": constraints.real,
            "scale": constraints.positive,
        }
        if self.level_shares is not None:
            found.update(level_shares=constraints.simplex)
            found.update(value_shares=constraints.simplex)
        return found

    def params(self) -> Dict[str, Optional[torch.Tensor]]:
        """The constructor's arguments, ``loc`` and ``scale`` as tensors."""
        return dict(
            knot_levels=self.knot_levels,
            knot_values=self.knot_values,
            beta_l=self.beta_l,
            beta_r=self.beta_r,
            level_shares=self.level_shares,
            value_shares=self.value_shares,
            loc=self.loc,
            scale=self.scale,
        )

    def replace(self, **params: Optional[torch.Tensor]) -> "IQF":
        """The same kind of distribution with the given parameters replaced."""
        args = {**self.params(), **params}
        return type(self)(**args, validate_args=self._validate_args)

    def expand(self, batch_shape, _instance=None) -> "IQF":
        """The same distribution over a larger batch (views, no copies)."""
        shape = torch.Size(batch_shape)

        def grow(t: Optional[torch.Tensor], trailing: int):
            if t is None:
                return None
            return t.expand(*shape, *t.shape[t.dim() - trailing :])

        p = self.params()
        return self.replace(
            knot_values=grow(p["knot_values"], 1),
            beta_l=grow(p["beta_l"], 0),
            beta_r=grow(p["beta_r"], 0),
            level_shares=grow(p["level_shares"], 2),
            value_shares=grow(p["value_shares"], 2),
            loc=grow(p["loc"], 0),
            scale=grow(p["scale"], 0),
        )

    @property
    def num_pieces(self) -> int:
        return 1 if self.level_shares is None else self.level_shares.shape[-1]

    def _standardize(self, value: torch.Tensor) -> torch.Tensor:
        return (torch.as_tensor(value).to(self.knot_values) - self.loc) / self.scale

    def _validate_levels(self, value: torch.Tensor) -> None:
        if self._validate_args and not ((value >= 0) & (value <= 1)).all():
            raise ValueError("quantile levels must lie in [0, 1].")

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        """Quantile function at levels ``value`` (broadcast against the batch)."""
        value = torch.as_tensor(value).to(self.knot_values)
        self._validate_levels(value)
        return self.loc + self.scale * ops.quantile(self.spline, value)

    def quantile(self, levels: Levels) -> torch.Tensor:
        """Exact quantiles at a 1-D list of levels.

        Returns shape: (*batch_shape, L).
        """
        lv = torch.as_tensor(check_levels(levels)).to(self.knot_values)
        # (L,) -> (L, 1, ..., 1), evaluated as (L, *batch_shape) -> (*batch_shape, L)
        lv = lv.reshape(-1, *([1] * len(self.batch_shape)))
        out = self.icdf(lv).expand(-1, *self.batch_shape)
        return out.movedim(0, -1)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(torch.as_tensor(value))
        return ops.cdf(self.spline, self._standardize(value))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(torch.as_tensor(value))
        z = self._standardize(value)
        return ops.log_density(self.spline, z) - torch.log(self.scale)

    def crps(self, value: torch.Tensor) -> torch.Tensor:
        """Closed-form CRPS ``E|Y - y| - E|Y - Y'| / 2`` of the observations."""
        return self.scale * ops.crps(self.spline, self._standardize(value))

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        eps = torch.finfo(self.knot_values.dtype).eps
        u = torch.rand(
            shape, dtype=self.knot_values.dtype, device=self.knot_values.device
        )
        return self.icdf(u.clamp(eps, 1.0 - eps))

    @property
    def mean(self) -> torch.Tensor:
        m0, _, _ = ops.moments(self.spline)
        return (self.loc + self.scale * m0).expand(self.batch_shape)

    @property
    def variance(self) -> torch.Tensor:
        ref = self.spline.q[..., self.spline.q.shape[-1] // 2]
        m0, _, m2 = ops.moments(self.spline.shifted(ref))
        return (self.scale**2 * (m2 - m0**2).clamp(min=0.0)).expand(self.batch_shape)

    @property
    def stddev(self) -> torch.Tensor:
        return self.variance.sqrt()


class IQFOutput(DistributionOutput):
    r"""GluonTS ``DistributionOutput`` for the incremental (spline) quantile function.

    Drop it into any GluonTS torch estimator that takes ``distr_output``; the
    model then learns the whole quantile function, trained with the closed-form
    CRPS (Park et al., 2022, eq. 12).

    Parameters
    ----------
    knot_levels
        Levels of the quantile knots, strictly increasing in (0, 1), at least two.
    num_pieces
        Linear pieces per knot interval; 1 is IQF, more is the spline variant ISQF.
    tol
        Positive floor on increments, shares and tail rates (numerical safety).
    tail_floor
        Tails at least as steep as the piece next to them (default): the
        density never jumps up where a tail starts, so the cost of one more
        point of service keeps rising into the tail
        (:func:`~gluonts_qf.distributions.spline.floored_tail_rates`).
        ``False``: free tail rates (gluonts-qf 0.1; thin tails were common).
    """

    distr_cls: type = IQF

    @validated()
    def __init__(
        self,
        knot_levels: Sequence[float] = (0.1, 0.5, 0.9),
        num_pieces: pydantic.StrictInt = 1,
        tol: float = 1e-4,
        tail_floor: bool = True,
    ) -> None:
        super().__init__()
        levels = [float(a) for a in knot_levels]
        if len(levels) < 2:
            raise ValueError(
                f"knot_levels needs at least 2 levels, got {levels}; "
                "e.g. knot_levels=(0.1, 0.5, 0.9)."
            )
        check_levels(levels, "knot_levels")
        if any(b <= a for a, b in zip(levels, levels[1:])):
            raise ValueError(
                f"knot_levels must be strictly increasing without repeats, got "
                f"{levels}; pass sorted(set(knot_levels))."
            )
        self.knot_levels = tuple(levels)
        self.num_pieces = check_int(
            "num_pieces",
            num_pieces,
            hint="use 1 for IQF or e.g. 5 for the spline variant.",
        )
        self.tol = check_positive("tol", tol, hint="the default is 1e-4.")
        self.tail_floor = bool(tail_floor)
        k, p = len(levels), self.num_pieces
        self.args_dim: Dict[str, int] = {"knot_values": k, "beta_l": 1, "beta_r": 1}
        if p > 1:
            self.args_dim.update(level_logits=(k - 1) * p, value_logits=(k - 1) * p)

    def domain_map(self, knot_values, beta_l, beta_r, *logits):  # type: ignore[override]
        """Map raw network outputs to valid IQF arguments.

        shapes: (*batch, K), (*batch, 1), (*batch, 1)[, (*batch, (K-1) P) x 2]
        -> knot values (*batch, K), tail rates (*batch,), shares (*batch, K-1, P).
        """
        values = ops.knot_values(knot_values, self.tol)
        shape = (*knot_values.shape[:-1], len(self.knot_levels) - 1, self.num_pieces)
        P = self.num_pieces
        shares = tuple(ops.shares(x.reshape(shape), self.tol, P) for x in logits)
        raw_l, raw_r = beta_l.squeeze(-1), beta_r.squeeze(-1)
        if self.tail_floor:
            levels = torch.tensor(self.knot_levels, dtype=values.dtype).to(values)
            tails = ops.floored_tail_rates(levels, values, raw_l, raw_r, *shares)
        else:
            tails = (ops.increments(raw_l, self.tol), ops.increments(raw_r, self.tol))
        return (values, *tails, *shares)

    def distribution(
        self,
        distr_args,
        loc: Optional[torch.Tensor] = None,
        scale: Optional[torch.Tensor] = None,
    ) -> IQF:
        values, beta_l, beta_r, *shares = distr_args
        level_shares, value_shares = shares if shares else (None, None)
        levels = torch.tensor(
            self.knot_levels, dtype=values.dtype, device=values.device
        )
        return IQF(
            levels, values, beta_l, beta_r, level_shares, value_shares, loc, scale
        )

    def loss(
        self,
        target: torch.Tensor,
        distr_args: Tuple[torch.Tensor, ...],
        loc: Optional[torch.Tensor] = None,
        scale: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """CRPS of ``target`` (same shape as ``target``), scale-aware."""
        return self.distribution(distr_args, loc=loc, scale=scale).crps(target)

    def init_args_proj(self, args_proj: torch.nn.Module, spread: float = 0.1) -> None:
        """Start a ``get_args_proj`` head near a Gaussian of std ``spread``.

        Biases are set so that, for small inputs, the knots sit at
        ``spread * Phi^{-1}(a_k)`` and the tails continue the Gaussian's slope;
        output weights are shrunk so the start does not depend on the input much.
        A model whose values are standardised then starts from a sensible,
        centred forecast instead of a wide, shifted one.
        """
        normal = torch.distributions.Normal(0.0, 1.0)
        a = torch.tensor(self.knot_levels, dtype=torch.float64)
        z = normal.icdf(a) * spread
        steps = (z[1:] - z[:-1] - self.tol).clamp(min=1e-6)
        # tail rates continuing the Gaussian slope q'(a) = spread / pdf(z(a))
        pdf = lambda x: normal.log_prob(x).exp()  # noqa: E731
        beta_l = pdf(z[0] / spread) / (a[0] * spread)
        beta_r = pdf(z[-1] / spread) / ((1 - a[-1]) * spread)
        if self.tail_floor:  # the raw tail outputs are how much steeper than a piece
            piece_l = (z[1] - z[0]) / (a[1] - a[0])
            piece_r = (z[-1] - z[-2]) / (a[-1] - a[-2])
            raw_l = inv_softplus((1 / (a[0] * piece_l * beta_l) - 1).clamp(min=1e-3))
            raw_r = inv_softplus(
                (1 / ((1 - a[-1]) * piece_r * beta_r) - 1).clamp(min=1e-3)
            )
        else:
            raw_l, raw_r = (
                inv_softplus(beta_l - self.tol),
                inv_softplus(beta_r - self.tol),
            )
        biases = [
            torch.cat([z[:1], inv_softplus(steps)]),
            raw_l.reshape(1),
            raw_r.reshape(1),
        ]
        with torch.no_grad():
            for i, layer in enumerate(args_proj.proj):
                layer.weight.mul_(0.1)
                if i < len(biases):
                    layer.bias.copy_(biases[i].to(layer.bias))
                else:
                    layer.bias.zero_()

    @property
    def event_shape(self) -> Tuple:
        return ()

    @property
    def value_in_support(self) -> float:
        return 0.0
