"""The multivariate quantile function forecaster's head, MQF2Output.

Kan, Aubet, Januschowski, Park, Benidis, Ruthotto, Gasthaus (AISTATS 2022),
"Multivariate Quantile Function Forecaster": the quantile map is the gradient
of a convex potential (a PICNN, :mod:`gluonts_qf.nn.picnn`) applied to a
standard normal (the distribution :class:`~gluonts_qf.distributions.MQF2`, in
:mod:`.gradient_map`); training minimises the energy score or, optionally, the
negative log-likelihood.
"""

from typing import Callable, NamedTuple, Optional, Tuple

import torch
from gluonts.core.component import validated
from gluonts.model.forecast_generator import ForecastGenerator, SampleForecastGenerator
from gluonts.pydantic import pydantic
from gluonts.torch.distributions import DistributionOutput
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_positive
from ..nn.picnn import PICNN
from .energy import check_beta
from .gradient_map import MQF2

#: Training objectives of :class:`MQF2Output`: the energy score (the paper's
#: default) or maximum likelihood (the negative log-density).
OBJECTIVES = ("energy", "likelihood")


class MQF2Defaults(NamedTuple):
    """The defaults of :class:`MQF2Output`'s settings, in one place.

    :class:`~gluonts_qf.MQF2Estimator` takes the same defaults for its
    ``picnn_*``, energy-score and clip arguments.
    """

    hidden_size: int = 32
    num_layers: int = 2
    context_dim: Optional[int] = None
    es_num_samples: int = 50
    beta: float = 1.0
    eps: float = 1e-3
    threshold_input: float = 100.0
    rank: int = 4


#: :class:`MQF2Output`'s (and :class:`~gluonts_qf.MQF2Estimator`'s) defaults.
DEFAULTS = MQF2Defaults()


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
        hidden_size: pydantic.StrictInt = DEFAULTS.hidden_size,
        num_layers: pydantic.StrictInt = DEFAULTS.num_layers,
        context_dim: Optional[pydantic.StrictInt] = DEFAULTS.context_dim,
        es_num_samples: pydantic.StrictInt = DEFAULTS.es_num_samples,
        beta: float = DEFAULTS.beta,
        eps: float = DEFAULTS.eps,
        threshold_input: float = DEFAULTS.threshold_input,
        rank: pydantic.StrictInt = DEFAULTS.rank,
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
