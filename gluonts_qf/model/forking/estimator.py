"""What every forking-sequence estimator shares: arguments, checks, data, loaders.

:class:`ForkingEstimator` declares (once) the arguments all forking estimators
share, validates them, builds the GluonTS transformation chain, the instance
splitter and the data loaders, and checks datasets before training. A concrete
estimator (IQF, MQF2), decorated with
:func:`~gluonts_qf.model.forking.signature.with_shared_arguments`, adds only
its head's arguments, ``create_lightning_module`` and ``create_predictor``.
"""

import inspect
import itertools
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Type, Union

import lightning.pytorch as pl
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.pydantic import pydantic
from gluonts.time_feature import get_seasonality, time_features_from_frequency_str
from gluonts.torch.distributions import DistributionOutput
from gluonts.torch.model.estimator import PyTorchLightningEstimator, TrainOutput
from gluonts.transform import (
    ExpectedNumInstanceSampler,
    InstanceSampler,
    InstanceSplitter,
    TestSplitSampler,
    Transformation,
    ValidationSplitSampler,
)

from ...threads import DEFAULT_NUM_THREADS, torch_threads
from . import data as pipeline
from .adaptive import AdaptiveChoice, as_arguments, choose_settings
from .arguments import DEFAULT_NUM_ORIGINS, check_arguments, default_lags
from .datachecks import check_dataset, check_target
from .encoder import ForkingEncoder
from .lightning_module import ForkingLightningModule
from .predictor import ForkingPredictor

#: Series that ``anchor="auto"`` reads to choose its settings (the first ones).
ADAPT_MAX_SERIES = 1000


def categories(data: Dataset) -> Optional[List[int]]:
    """The cardinality of every ``feat_static_cat`` column of ``data`` (its
    largest value + 1), ``None`` where the series have none."""
    largest: Optional[List[int]] = None
    for entry in data:
        cats = entry.get(FieldName.FEAT_STATIC_CAT)
        if cats is None or len(cats) == 0:
            return None
        values = [int(c) for c in cats]
        if largest is None:
            largest = values
        elif len(values) != len(largest):
            return None
        else:
            largest = [max(a, b) for a, b in zip(largest, values)]
    return None if largest is None else [v + 1 for v in largest]


#: Estimator arguments handed to :class:`ForkingEncoder` unchanged.
_ENCODER_SETTINGS = set(inspect.signature(ForkingEncoder).parameters)


class ForkingEstimator(PyTorchLightningEstimator):
    """Base of the estimators built on :class:`~gluonts_qf.model.forking.ForkingEncoder`.

    Its ``__init__`` declares every argument the forking estimators share; a
    subclass decorated with
    :func:`~gluonts_qf.model.forking.signature.with_shared_arguments` exposes
    them in its own ``@validated()`` signature and docstring. ``target_dim``
    (``None``: univariate targets of shape (L,)) is set by subclasses that
    take multivariate targets of shape (target_dim, L), which reach the
    network as (B, L, target_dim).

    Parameters
    ----------
    freq
        Pandas frequency of the data, e.g. ``"H"``.
    prediction_length
        Forecast horizon ``T``.
    context_length
        Steps read before the first origin; default ``max(T, 2 * season)``.
    num_origins
        Forking origins per training window; default ``min(context_length, 8)``.
    lags_seq
        Lags of the target fed to the encoder; default ``s, 2s, 3s``.
    season_length
        Season of the anchor and default lags; default from ``freq``.
    anchor
        ``"auto"`` (default), ``"seasonal"``, ``"last"`` or ``"none"``: what the
        learned forecast is relative to (seasonal naive, the last value, or
        zero). ``"auto"`` picks the last value or the seasonal-naive value (and,
        unless given, the season among the frequency's calendar seasons, e.g.
        52 for weekly data) by backtesting both on held-back ends of the
        first 1000 training series, and caps the default context and lags by
        the history the series have (:mod:`gluonts_qf.model.forking.adaptive`);
        the choice is made in ``train_model`` and recorded in the trained
        predictor's ``choices["adaptive"]``; the estimator itself is unchanged.
    scaling
        ``"seasonal"`` (default: centre on the mean, scale by the mean absolute
        seasonal difference, i.e. in units of seasonal naive's in-sample error)
        or ``"mean"`` (mean absolute value, as GluonTS models do).
    hidden_size, num_layers, decoder_hidden, embedding_dim, dropout
        Network sizes: GRU width and depth, decoder MLP width, static
        embedding size, GRU dropout in [0, 1).
    cardinality
        Categories of each ``feat_static_cat`` column (e.g. ``[num_series]``),
        each embedded in ``embedding_dim`` numbers; ``"auto"``: from the
        training data when training starts (the largest id of each column + 1;
        none used where the series carry no ``feat_static_cat``); default:
        none used. Forecasting a series whose id the model has not seen is a
        clear ``ValueError``.
    num_feat_static_real, num_feat_dynamic_real
        How many static / dynamic real features the data carry.
    lr, weight_decay, batch_size, num_batches_per_epoch
        Optimisation settings (Adam).
    lr_schedule
        ``"constant"`` (default): the learning rate stays ``lr``;
        ``"cosine"``: it falls from ``lr`` to 0 along a half cosine over the
        ``max_epochs * num_batches_per_epoch`` steps of training.
    weight_averaging
        ``None`` (default), or the decay in (0, 1) of an exponential moving
        average of the weights over the optimiser steps (e.g. 0.99: about the
        last 100 steps); the trained model, its validation and its
        checkpoints use the average
        (:class:`~gluonts_qf.model.forking.ForkingLightningModule`).
    scale_weighting
        Exponent ``p`` in [0, 1] of each series' scale weighing its training
        (and validation) loss: 0 (default) counts every window alike in
        scaled units, as GluonTS's models do; 1 weighs them as the weighted
        quantile loss does, in the data's own units, so large series count
        more (:class:`~gluonts_qf.model.forking.ForkingLightningModule`).
    trainer_kwargs
        Passed to ``lightning.Trainer`` (e.g. ``max_epochs``, default 100;
        ``accelerator``, ``devices``, ``strategy``, ``num_nodes``: under
        ``strategy="ddp"`` each process trains on its share of the series,
        :class:`~gluonts_qf.model.forking.training.RankShard`). Training keeps
        its full state after every epoch in :meth:`checkpoint_path`
        (``<default_root_dir>/checkpoints/last.ckpt``);
        ``train(data, ckpt_path=...)`` resumes from it.
    train_sampler, validation_sampler
        Where training and validation windows end.
    cache_data
        Keep the transformed training series in memory (default); set ``False``
        for datasets that do not fit in memory.
    num_threads
        Torch intra-op threads while training and forecasting (default
        :data:`gluonts_qf.threads.DEFAULT_NUM_THREADS`, 1; the previous setting
        is restored afterwards); ``None`` leaves torch's setting alone. With
        more threads than idle cores training slows down many times over
        (:mod:`gluonts_qf.threads`).
    """

    #: The Lightning module that trains the model; set by each subclass.
    lightning_module_cls: Type[ForkingLightningModule]
    #: Series of a multivariate target; ``None``: univariate.
    target_dim: Optional[int] = None
    #: The head, set by each subclass's ``__init__``.
    distr_output: DistributionOutput

    def __init__(
        self,
        freq: str,
        prediction_length: pydantic.StrictInt,
        context_length: Optional[pydantic.StrictInt] = None,
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
        cardinality: Optional[Union[List[int], str]] = None,
        num_feat_static_real: pydantic.StrictInt = 0,
        num_feat_dynamic_real: pydantic.StrictInt = 0,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        lr_schedule: str = "constant",
        weight_averaging: Optional[float] = None,
        scale_weighting: float = 0.0,
        batch_size: pydantic.StrictInt = 32,
        num_batches_per_epoch: pydantic.StrictInt = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        cache_data: bool = True,
        num_threads: Optional[pydantic.StrictInt] = DEFAULT_NUM_THREADS,
    ) -> None:
        given = dict(locals())
        super().__init__(trainer_kwargs={"max_epochs": 100, **(trainer_kwargs or {})})
        check_arguments(given, self.trainer_kwargs)
        self.freq, self.prediction_length = freq, prediction_length
        self.cache_data = cache_data
        self.num_threads = num_threads
        self.season_length = season_length or get_seasonality(freq)
        # two seasons (and at least the horizon) of context; few forking origins
        # per window keep a training step cheap (more origins: slower, small gain)
        self.context_length = context_length or max(
            prediction_length, 2 * self.season_length
        )
        self.num_origins = num_origins or min(self.context_length, DEFAULT_NUM_ORIGINS)
        self.lags_seq = (
            sorted(set(lags_seq))
            if lags_seq is not None
            else default_lags(self.season_length)
        )
        self.anchor = anchor
        self.time_features = time_features_from_frequency_str(freq)
        # "auto": resolved from the training data when training starts
        fixed = cardinality if cardinality != "auto" else None
        self.cardinality = list(fixed) if fixed else [1]
        self.use_static_cat = bool(fixed)
        self.num_feat_static_real = num_feat_static_real
        self.num_feat_dynamic_real = num_feat_dynamic_real
        # encoder arguments taken as given (the derived ones: encoder_kwargs)
        self.encoder_settings = {
            k: v for k, v in given.items() if k in _ENCODER_SETTINGS
        }
        self.lr, self.weight_decay = lr, weight_decay
        self.lr_schedule = lr_schedule
        self.weight_averaging = weight_averaging
        self.scale_weighting = scale_weighting
        self.batch_size, self.num_batches_per_epoch = batch_size, num_batches_per_epoch
        self.train_sampler = train_sampler or ExpectedNumInstanceSampler(
            num_instances=1.0, min_future=prediction_length
        )
        self.validation_sampler = validation_sampler or ValidationSplitSampler(
            min_future=prediction_length
        )

    # -- the data's choices -------------------------------------------------
    def choose(self, training_data: Dataset) -> Optional[AdaptiveChoice]:
        """What ``anchor="auto"`` picks for ``training_data`` (``None`` otherwise).

        The anchor, season, context and lags of
        :func:`~gluonts_qf.model.forking.adaptive.choose_settings`, from the
        first :data:`ADAPT_MAX_SERIES` series (so memory stays flat when a large
        dataset streams from files, ``cache_data=False``); arguments the user
        gave are kept. Nothing of the estimator changes.
        """
        if self.anchor != "auto":
            return None
        given = self.__init_args__
        first = itertools.islice(training_data, ADAPT_MAX_SERIES)
        return choose_settings(
            (self._target(entry) for entry in first),
            self.freq,
            self.prediction_length,
            season_length=given["season_length"],
            context_length=given["context_length"],
            lags_seq=given["lags_seq"],
        )

    def resolved(self, choice: Optional[AdaptiveChoice], **overrides) -> Any:
        """A new estimator whose data-chosen settings are explicit arguments.

        ``choice`` (from :meth:`choose`) sets the anchor, season, context,
        lags, the default number of origins and, for a seasonal anchor with
        the default sampler, training windows that start late enough for the
        seasonal anchor of every origin to be observed (``min_past``).
        ``overrides`` replace any other argument. This estimator is unchanged.
        """
        args = dict(self.__init_args__)
        if choice is not None:
            args.update(as_arguments(choice, args))
        args.update(overrides)
        return type(self)(**args)

    def _target(self, entry: Dict[str, Any]):
        check_target(entry, self.target_dim, "training_data")
        return entry[FieldName.TARGET]

    def encoder_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the model's :class:`ForkingEncoder`.

        Before training, ``anchor="auto"`` builds the seasonal anchor (what
        :meth:`choose` decides is built by :meth:`train_model`).
        """
        return dict(
            self.encoder_settings,
            anchor="seasonal" if self.anchor == "auto" else self.anchor,
            context_length=self.context_length,
            num_origins=self.num_origins,
            lags_seq=self.lags_seq,
            season_length=self.season_length,
            num_time_feat=len(self.time_features) + 1 + self.num_feat_dynamic_real,
            cardinality=self.cardinality,
            num_feat_static_real=max(self.num_feat_static_real, 1),
        )

    # -- model ------------------------------------------------------------
    def model_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the model (``lightning_module_cls.model_cls``)."""
        return dict(self.encoder_kwargs(), distr_output=self.distr_output)

    def create_lightning_module(self) -> ForkingLightningModule:
        steps = None
        if self.lr_schedule != "constant":
            steps = self.trainer_kwargs["max_epochs"] * self.num_batches_per_epoch
        return self.lightning_module_cls(
            model_kwargs=self.model_kwargs(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            total_steps=steps,
            weight_averaging=self.weight_averaging,
            scale_weighting=self.scale_weighting,
        )

    def create_predictor(
        self, transformation: Transformation, module
    ) -> ForkingPredictor:
        return ForkingPredictor(
            input_transform=transformation + self._splitter(module, "test"),
            input_names=pipeline.PREDICTION_INPUT_NAMES,
            prediction_net=module,
            forecast_generator=self.distr_output.forecast_generator,
            batch_size=self.batch_size,
            prediction_length=self.prediction_length,
            device="auto",
            freq=self.freq,
            num_threads=self.num_threads,
        )

    # -- data -------------------------------------------------------------
    def create_transformation(self) -> Transformation:
        return pipeline.transformation(
            self.prediction_length,
            self.time_features,
            self.target_dim,
            self.cardinality if self.use_static_cat else None,
            self.num_feat_static_real,
            self.num_feat_dynamic_real,
        )

    def _splitter(self, module, mode: str) -> InstanceSplitter:
        sampler = {
            "training": self.train_sampler,
            "validation": self.validation_sampler,
            "test": TestSplitSampler(),
        }[mode]
        return pipeline.splitter(
            sampler, module.model.past_length, self.prediction_length
        )

    def create_training_data_loader(
        self,
        data: Dataset,
        module,
        shuffle_buffer_length: Optional[int] = None,
        **kwargs,
    ) -> Iterable:
        return pipeline.training_batches(
            data,
            self._splitter(module, "training"),
            module,
            self.batch_size,
            self.num_batches_per_epoch,
            shuffle_buffer_length,
        )

    def create_validation_data_loader(
        self, data: Dataset, module, **kwargs
    ) -> Iterable:
        window = self._splitter(module, "validation")
        return pipeline.validation_batches(data, window, self.batch_size)

    # -- training ---------------------------------------------------------
    def train_model(
        self,
        training_data: Dataset,
        validation_data: Optional[Dataset] = None,
        **kwargs,
    ) -> TrainOutput:
        """Check the data, resolve ``anchor="auto"``, train, and record the choice.

        Training runs on :meth:`resolved` (this estimator with the data's
        choices as arguments and a checkpoint of the full state after every
        epoch), so this estimator is unchanged and training it again, or on
        other data, is the same as training a fresh one. The predictor's
        ``choices["adaptive"]`` records what ``anchor="auto"`` picked and the
        scores it picked it on (``None`` for a fixed anchor).
        """
        check_dataset(
            training_data,
            self.freq,
            "training_data",
            self.prediction_length,
            target_dim=self.target_dim,
        )
        if validation_data is not None:
            check_dataset(
                validation_data,
                self.freq,
                "validation_data",
                target_dim=self.target_dim,
            )
        # keep transformed series in memory: recomputing time features of long
        # series for every window otherwise costs more than the training step
        kwargs["cache_data"] = kwargs.get("cache_data") or self.cache_data
        ckpt_path = kwargs.pop("ckpt_path", None)
        if ckpt_path is not None and not Path(ckpt_path).is_file():
            raise ValueError(f"no checkpoint to resume from at {ckpt_path}.")
        with torch_threads(self.num_threads):
            choice = self.choose(training_data)
            settings = {}
            if self.__init_args__["cardinality"] == "auto":
                settings["cardinality"] = categories(training_data)
            worker = self.resolved(
                choice, trainer_kwargs=self._with_last_checkpoint(), **settings
            )
            out = PyTorchLightningEstimator.train_model(
                worker,
                training_data,
                validation_data,
                ckpt_path=None if ckpt_path is None else str(ckpt_path),
                **kwargs,
            )
        adaptive = None if choice is None else choice.as_dict()
        return out._replace(predictor=out.predictor.with_choices(adaptive=adaptive))

    def checkpoint_path(self) -> Path:
        """Where training keeps its full state after every epoch: ``last.ckpt``.

        ``<trainer_kwargs["default_root_dir"]>/checkpoints/last.ckpt`` (the
        working directory when no root is given). Pass it as ``ckpt_path`` to
        ``train`` to resume an interrupted run.
        """
        root = self.trainer_kwargs.get("default_root_dir") or os.getcwd()
        return Path(root) / "checkpoints" / "last.ckpt"

    def _with_last_checkpoint(self) -> Dict[str, Any]:
        """The trainer settings plus a checkpoint of the full state every epoch.

        From such a checkpoint (``ckpt_path``, e.g. :meth:`checkpoint_path`)
        Lightning restores the weights, the optimiser and the step; the data
        loader replays the epochs already trained
        (:class:`~gluonts_qf.model.forking.training.TrainingEpochs`) and the
        module restores torch's random state, so with the same seed the run
        continues as an uninterrupted one would (exactly, on CPU, from an
        end-of-epoch checkpoint).
        """
        # no monitor: the latest epoch, always under the same name
        last = pl.callbacks.ModelCheckpoint(
            dirpath=self.checkpoint_path().parent,
            filename=self.checkpoint_path().stem,
            enable_version_counter=False,
        )
        given = self.__init_args__["trainer_kwargs"] or {}
        return {**given, "callbacks": [*given.get("callbacks", []), last]}
