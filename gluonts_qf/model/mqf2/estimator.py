"""``MQF2Estimator``: GluonTS estimator for the forking-sequence MQF2 forecaster."""

from typing import Any, Dict, Optional

from gluonts.pydantic import pydantic

from ...checks import check_choice, check_int
from ...distributions.mqf2 import DEFAULTS, MQF2Output
from ..forking.estimator import ForkingEstimator
from ..forking.signature import with_shared_arguments
from .lightning_module import MQF2LightningModule

JOINTS = ("horizon", "series")


@with_shared_arguments
class MQF2Estimator(ForkingEstimator):
    """Direct multi-horizon forecaster with a joint (over the horizon) quantile map.

    The forking-sequence encoder of :class:`~gluonts_qf.IQFEstimator` feeds an
    MQF2 head (Kan et al., 2022): per series, the ``T`` future values are
    ``loc + scale * grad phi(x; h)``, ``x ~ N(0, I_T)``, with ``phi`` a PICNN
    convex in ``x``, relative to a naive anchor (by default, ``anchor="auto"``,
    the last or the seasonal-naive value, whichever backtests better on the
    training data). Trained with the
    energy score (or, with ``objective="likelihood"``, maximum likelihood)
    on every origin of each window; forecasts are
    ``SampleForecast``s whose samples (S, T) are joint draws, so dependence
    between horizon steps is kept. Each origin costs ``es_num_samples`` passes
    through the PICNN.

    With ``joint="series"`` the target is multivariate, shape (target_dim, L)
    (e.g. a dataset grouped by GluonTS's ``MultivariateGrouper``): each series
    is encoded on its own (with its index as a static category) and one MQF2
    of dimension ``D = prediction_length * target_dim`` covers all series and
    steps; samples have shape (S, T, target_dim), as GluonTS's
    ``MultivariateEvaluator`` expects.

    Parameters
    ----------
    picnn_hidden_size, picnn_num_layers, picnn_context_dim, picnn_rank
        The PICNN potential (see :class:`~gluonts_qf.MQF2Output`; ``picnn_rank``
        is its ``rank``, the low-rank quadratic for dependence, 0 for none).
        Defaults here and in ``MQF2Output`` are the same
        (:data:`gluonts_qf.distributions.mqf2.DEFAULTS`).
    objective
        ``"energy"`` (default: the energy score) or ``"likelihood"`` (the exact
        negative log-likelihood, Kan et al.'s maximum-likelihood mode; each
        origin costs a Newton solve and a ``D x D`` Hessian, and origins with
        any missing future value are left out of the loss).
    es_num_samples, beta
        Samples per energy-score estimate and the energy-score exponent in (0, 2).
    eps, threshold_input
        Strict convexity of the potential and the soft clip of its context.
    num_parallel_samples
        Samples per forecast.
    joint, target_dim
        ``"horizon"`` (default; univariate target) or ``"series"`` (a
        multivariate target with ``target_dim`` series, joint over series and
        steps).
    """

    lightning_module_cls = MQF2LightningModule

    def __init__(
        self,
        picnn_hidden_size: pydantic.StrictInt = DEFAULTS.hidden_size,
        picnn_num_layers: pydantic.StrictInt = DEFAULTS.num_layers,
        picnn_context_dim: Optional[pydantic.StrictInt] = DEFAULTS.context_dim,
        picnn_rank: pydantic.StrictInt = DEFAULTS.rank,
        es_num_samples: pydantic.StrictInt = DEFAULTS.es_num_samples,
        beta: float = DEFAULTS.beta,
        eps: float = DEFAULTS.eps,
        threshold_input: float = DEFAULTS.threshold_input,
        num_parallel_samples: pydantic.StrictInt = 100,
        joint: str = "horizon",
        target_dim: Optional[pydantic.StrictInt] = None,
        objective: str = "energy",
        **kwargs,
    ) -> None:
        check_choice("joint", joint, JOINTS)
        if (joint == "series") != (target_dim is not None):
            raise ValueError(
                "joint='series' needs target_dim (the number of series of the "
                "multivariate target) and joint='horizon' takes none, got "
                f"joint={joint!r}, target_dim={target_dim!r}."
            )
        super().__init__(**kwargs)
        self.target_dim = (
            None if target_dim is None else check_int("target_dim", target_dim)
        )
        self.num_parallel_samples = check_int(
            "num_parallel_samples", num_parallel_samples
        )
        self.distr_output = MQF2Output(
            dim=self.prediction_length * (target_dim or 1),
            hidden_size=picnn_hidden_size,
            num_layers=picnn_num_layers,
            context_dim=picnn_context_dim,
            es_num_samples=es_num_samples,
            beta=beta,
            eps=eps,
            threshold_input=threshold_input,
            rank=picnn_rank,
            objective=objective,
            # series flattened with the steps have no order: no smooth prior
            smooth_start=joint == "horizon",
        )

    def model_kwargs(self) -> Dict[str, Any]:
        return dict(
            super().model_kwargs(),
            num_parallel_samples=self.num_parallel_samples,
            target_dim=self.target_dim,
        )
