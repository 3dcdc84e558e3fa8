"""``IQFEstimator``: GluonTS estimator for the forking-sequence IQF forecaster."""

from typing import Any, Dict, List, Optional, Sequence

from gluonts.core.component import validated
from gluonts.model.forecast_generator import DistributionForecastGenerator
from gluonts.pydantic import pydantic
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import InstanceSampler, Transformation

from ...distributions.iqf import IQFOutput
from .._base import (  # noqa: F401  (re-exported: the public names of this module)
    ANCHORS,
    PREDICTION_INPUT_NAMES,
    TRAINING_INPUT_NAMES,
    ForkingEstimator,
    check_dataset,
    default_lags,
)
from .lightning_module import IQFLightningModule

CALIBRATIONS = ("none", "auto", "holdout", "insample")
DEFAULT_KNOTS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98)


class IQFEstimator(ForkingEstimator):
    """Direct multi-horizon forecaster whose output is a learned quantile function.

    An MQ-RNN-style forking-sequence encoder (GRU + global/local MLPs) emits one
    IQF per horizon step (Park et al., 2022, Sec. 5), trained with the closed-form
    CRPS on every origin of each window. Forecasts are distribution forecasts:
    ``forecast.quantile(0.37)`` is exact, and samples are available through
    ``forecast.to_sample_forecast()``.

    Parameters
    ----------
    freq
        Pandas frequency of the data, e.g. ``"H"``.
    prediction_length
        Forecast horizon ``T``.
    context_length
        Steps read before the first origin; default ``max(T, 2 * season)``.
    knot_levels, num_pieces, tol
        The IQF head (see :class:`~gluonts_qf.IQFOutput`).
    num_origins
        Forking origins per training window; default ``min(context_length, 8)``.
    lags_seq
        Lags of the target fed to the encoder; default ``s, 2s, 3s``.
    season_length
        Season of the anchor and default lags; default from ``freq``.
    anchor
        ``"auto"`` (default), ``"seasonal"``, ``"last"`` or ``"none"``: what the
        learned quantile function is relative to. ``"auto"`` picks the last
        value or the seasonal-naive value (and, unless given, the season among
        the frequency's calendar seasons, e.g. 52 for weekly data) by backtesting
        both on held-back ends of the training series, and caps the default
        context and lags by the history the series have
        (:mod:`gluonts_qf.model.adaptive`); the choice is made in
        ``train_model``, stored in ``adaptive_choice`` and in the predictor.
    scaling
        ``"seasonal"`` (default: centre on the mean, scale by the mean absolute
        seasonal difference, i.e. in units of seasonal naive's in-sample error)
        or ``"mean"`` (mean absolute value, as GluonTS models do).
    hidden_size, num_layers, decoder_hidden, embedding_dim, dropout
        Network sizes.
    cardinality
        Categories of each ``feat_static_cat`` (e.g. ``[num_series]``); default: none used.
    num_feat_static_real, num_feat_dynamic_real
        How many static / dynamic real features the data carry.
    lr, weight_decay, batch_size, num_batches_per_epoch
        Optimisation settings.
    trainer_kwargs
        Passed to ``lightning.Trainer`` (e.g. ``max_epochs``, ``devices``, ``strategy``).
    train_sampler, validation_sampler
        Where training and validation windows end.
    cache_data
        Keep the transformed training series in memory (default); set ``False``
        for datasets that do not fit in memory.
    calibration
        ``"holdout"``: train without the last horizon of each series, then fit
        a monotone map of the levels to the PIT of the forecasts of those
        held-back horizons (see :mod:`gluonts_qf.calibration`): quantiles stay
        exact and never cross. ``"insample"``: train on everything and fit the
        map on the last horizons (seen in training). ``"auto"``: train on
        everything, fit the map on the second-last horizon of each series and
        keep it (refitted on the last two) only if it lowers the mean wQL of
        the last horizon; ``calibration_info`` says what was done. ``"none"``
        (default).
    """

    @validated()
    def __init__(
        self,
        freq: str,
        prediction_length: pydantic.StrictInt,
        context_length: Optional[pydantic.StrictInt] = None,
        knot_levels: Sequence[float] = DEFAULT_KNOTS,
        num_pieces: pydantic.StrictInt = 1,
        tol: float = 1e-4,
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
        cache_data: bool = True,
        calibration: str = "none",
    ) -> None:
        if calibration not in CALIBRATIONS:
            raise ValueError(
                f"calibration must be one of {CALIBRATIONS}, got {calibration!r}."
            )
        self.calibration = calibration
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
            cache_data=cache_data,
        )
        self.distr_output = IQFOutput(
            knot_levels=knot_levels, num_pieces=num_pieces, tol=tol
        )

    def train_model(self, training_data, validation_data=None, **kwargs):
        """Train; with ``calibration``, fit and install the level map."""
        from ...calibration import auto_recalibrate, holdout_split, recalibrate

        if self.calibration in ("none", "auto"):
            out = super().train_model(training_data, validation_data, **kwargs)
            if self.calibration == "none":
                return out
            predictor, self.calibration_info = auto_recalibrate(
                out.predictor, training_data, self.prediction_length
            )
            return out._replace(predictor=predictor)
        train, past, future = holdout_split(training_data, self.prediction_length)
        if self.calibration == "insample":
            train = training_data
        out = super().train_model(train, validation_data, **kwargs)
        predictor, knots = recalibrate(out.predictor, past, future)
        self.calibration_info = (
            None if knots is None else dict(zip(("levels", "values"), knots))
        )
        return out._replace(predictor=predictor)

    # -- model ------------------------------------------------------------
    def create_lightning_module(self) -> IQFLightningModule:
        model_kwargs = dict(self.encoder_kwargs(), distr_output=self.distr_output)
        return IQFLightningModule(
            model_kwargs=model_kwargs, lr=self.lr, weight_decay=self.weight_decay
        )

    def create_predictor(
        self, transformation: Transformation, module
    ) -> PyTorchPredictor:
        return PyTorchPredictor(
            input_transform=transformation + self._splitter(module, "test"),
            input_names=PREDICTION_INPUT_NAMES,
            prediction_net=module,
            forecast_generator=DistributionForecastGenerator(self.distr_output),
            batch_size=self.batch_size,
            prediction_length=self.prediction_length,
            device="auto",
        )
