"""``MQF2Estimator``: GluonTS estimator for the forking-sequence MQF2 forecaster."""

from typing import Any, Dict, List, Optional

from gluonts.core.component import validated
from gluonts.model.forecast_generator import SampleForecastGenerator
from gluonts.pydantic import pydantic
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import InstanceSampler, Transformation

from ...distributions.mqf2 import MQF2Output
from .._base import PREDICTION_INPUT_NAMES, ForkingEstimator, _positive
from .lightning_module import MQF2LightningModule

DEFAULT_NUM_ORIGINS = 8
JOINTS = ("horizon", "series")


class MQF2Estimator(ForkingEstimator):
    """Direct multi-horizon forecaster with a joint (over the horizon) quantile map.

    The forking-sequence encoder of :class:`~gluonts_qf.IQFEstimator` feeds an
    MQF2 head (Kan et al., 2022): per series, the ``T`` future values are
    ``loc + scale * grad phi(x; h)``, ``x ~ N(0, I_T)``, with ``phi`` a PICNN
    convex in ``x``, relative to a naive anchor (by default, ``anchor="auto"``,
    the last or the seasonal-naive value, whichever backtests better on the
    training data; see :class:`~gluonts_qf.IQFEstimator`). Trained with the
    energy score on every origin of each window; forecasts are
    ``SampleForecast``s whose samples (S, T) are joint draws, so dependence
    between horizon steps is kept.

    With ``joint="series"`` the target is multivariate, shape (target_dim, L)
    (e.g. a dataset grouped by GluonTS's ``MultivariateGrouper``): each series
    is encoded on its own (with its index as a static category) and one MQF2
    of dimension ``D = prediction_length * target_dim`` covers all series and
    steps; samples have shape (S, T, target_dim), as GluonTS's
    ``MultivariateEvaluator`` expects.

    Parameters
    ----------
    freq, prediction_length, context_length, lags_seq, season_length, anchor,
    scaling, hidden_size, num_layers, decoder_hidden, embedding_dim, dropout,
    cardinality, num_feat_static_real, num_feat_dynamic_real, lr, weight_decay,
    batch_size, num_batches_per_epoch, trainer_kwargs, train_sampler,
    validation_sampler
        As in :class:`~gluonts_qf.IQFEstimator`.
    num_origins
        Forking origins per training window; default ``min(context_length, 8)``
        (each origin costs ``es_num_samples`` passes through the PICNN).
    picnn_hidden_size, picnn_num_layers, picnn_context_dim, picnn_rank
        The PICNN potential (see :class:`~gluonts_qf.MQF2Output`; ``picnn_rank``
        is its ``rank``, the low-rank quadratic for dependence, 0 for none).
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

    @validated()
    def __init__(
        self,
        freq: str,
        prediction_length: pydantic.StrictInt,
        context_length: Optional[pydantic.StrictInt] = None,
        picnn_hidden_size: pydantic.StrictInt = 32,
        picnn_num_layers: pydantic.StrictInt = 2,
        picnn_context_dim: Optional[pydantic.StrictInt] = None,
        picnn_rank: pydantic.StrictInt = 4,
        es_num_samples: pydantic.StrictInt = 50,
        beta: float = 1.0,
        eps: float = 1e-3,
        threshold_input: float = 100.0,
        num_parallel_samples: pydantic.StrictInt = 100,
        joint: str = "horizon",
        target_dim: Optional[pydantic.StrictInt] = None,
        num_origins: Optional[pydantic.StrictInt] = None,
        lags_seq: Optional[List[int]] = None,
        season_length: Optional[pydantic.StrictInt] = None,
        anchor: str = "auto",
        scaling: str = "seasonal",
        hidden_size: pydantic.StrictInt = 64,
        num_layers: pydantic.StrictInt = 1,
        decoder_hidden: pydantic.StrictInt = 32,
        embedding_dim: pydantic.StrictInt = 8,
        dropout: float = 0.0,
        cardinality: Optional[List[int]] = None,
        num_feat_static_real: pydantic.StrictInt = 0,
        num_feat_dynamic_real: pydantic.StrictInt = 0,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        batch_size: pydantic.StrictInt = 32,
        num_batches_per_epoch: pydantic.StrictInt = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
    ) -> None:
        if joint not in JOINTS:
            raise ValueError(f"joint must be one of {JOINTS}, got {joint!r}.")
        if (joint == "series") != (target_dim is not None):
            raise ValueError(
                "joint='series' needs target_dim (the number of series of the "
                "multivariate target) and joint='horizon' takes none, got "
                f"joint={joint!r}, target_dim={target_dim!r}."
            )
        super().__init__(
            freq=freq,
            prediction_length=prediction_length,
            context_length=context_length,
            num_origins=num_origins,
            lags_seq=lags_seq,
            season_length=season_length,
            anchor=anchor,
            scaling=scaling,
            hidden_size=hidden_size,
            num_layers=num_layers,
            decoder_hidden=decoder_hidden,
            embedding_dim=embedding_dim,
            dropout=dropout,
            cardinality=cardinality,
            num_feat_static_real=num_feat_static_real,
            num_feat_dynamic_real=num_feat_dynamic_real,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            num_batches_per_epoch=num_batches_per_epoch,
            trainer_kwargs=trainer_kwargs,
            train_sampler=train_sampler,
            validation_sampler=validation_sampler,
            default_num_origins=DEFAULT_NUM_ORIGINS,
            target_dim=target_dim,
        )
        _positive("num_parallel_samples", num_parallel_samples)
        self.distr_output = MQF2Output(
            dim=prediction_length * (target_dim or 1),
            hidden_size=picnn_hidden_size,
            num_layers=picnn_num_layers,
            context_dim=picnn_context_dim,
            es_num_samples=es_num_samples,
            beta=beta,
            eps=eps,
            threshold_input=threshold_input,
            rank=picnn_rank,
        )
        self.num_parallel_samples = num_parallel_samples

    def create_lightning_module(self) -> MQF2LightningModule:
        model_kwargs = dict(
            self.encoder_kwargs(),
            distr_output=self.distr_output,
            num_parallel_samples=self.num_parallel_samples,
            target_dim=self.target_dim,
        )
        return MQF2LightningModule(
            model_kwargs=model_kwargs, lr=self.lr, weight_decay=self.weight_decay
        )

    def create_predictor(
        self, transformation: Transformation, module
    ) -> PyTorchPredictor:
        return PyTorchPredictor(
            input_transform=transformation + self._splitter(module, "test"),
            input_names=PREDICTION_INPUT_NAMES,
            prediction_net=module,
            forecast_generator=SampleForecastGenerator(),
            batch_size=self.batch_size,
            prediction_length=self.prediction_length,
            device="auto",
        )
