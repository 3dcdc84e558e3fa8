"""What a run is: the ``RunSpec`` dataclass, its validation and its config files.

A ``RunSpec`` is what a YAML config file (``gluonts-qf train --config``) holds,
one key per field; ``--set KEY=VALUE`` options add estimator and trainer
keyword arguments. Model names are checked against
:mod:`gluonts_qf.runs.registry`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..checks import check_choice, check_int, check_optional_int, check_positive
from ..threads import DEFAULT_NUM_THREADS
from .data import Data, load_data
from .files import Columns
from .registry import model_names

#: Estimator arguments a run sets itself, and where they come from instead.
RESERVED = {
    "freq": "the dataset",
    "prediction_length": "the dataset",
    "trainer_kwargs": "the trainer settings",
    "lr": "lr (--lr)",
    "batch_size": "batch_size (--batch-size)",
    "num_batches_per_epoch": "batches_per_epoch (--batches-per-epoch)",
    "num_threads": "num_threads (--num-threads)",
}
#: The smallest seed ``torch.manual_seed`` accepts.
MIN_SEED = -(2**63)


#: Epochs a run trains when it does not say, by model (the trained baselines get
#: the same): 30 for the ensemble (its network on a cosine rate: -3.6% mean wQL
#: on the development datasets against 10) and for IQFEstimator (-2.9%, one
#: seed); 10 for MQF2Estimator, which 30 made worse (+3.2%, electricity_weekly
#: +33%; docs/benchmarks.md).
MODEL_EPOCHS = {"iqf_ensemble": 30, "iqf": 30, "mqf2": 10}


@dataclass(kw_only=True)
class Budget:
    """The training settings a run and a reproduction cell share, validated once.

    Parameters
    ----------
    epochs, batches_per_epoch, batch_size, lr
        Training budget, shared by the model and the trained baselines.
    max_series
        Use only the first ``max_series`` train and test series (quick runs).
    estimator
        Extra keyword arguments of the model's estimator (e.g. ``hidden_size``).
    trainer
        Extra ``lightning.Trainer`` arguments (e.g. ``gradient_clip_val``).
    """

    epochs: int = 10
    batches_per_epoch: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    max_series: int | None = None
    estimator: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)

    def validate_budget(self) -> None:
        """Check (and normalise: ``3.0`` epochs -> 3) these fields; ``ValueError``."""
        for name in ("epochs", "batches_per_epoch", "batch_size"):
            setattr(self, name, check_int(name, getattr(self, name)))
        self.max_series = check_optional_int(
            "max_series", self.max_series, hint="or null for all"
        )
        with contextlib.suppress(TypeError, ValueError):
            self.lr = float(self.lr)  # YAML reads 1e-3 (no dot) as a string
        self.lr = check_positive("lr", self.lr)
        for name in ("estimator", "trainer"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(  # noqa: TRY004
                    f"{name} must be a mapping of keyword arguments, "
                    f"got {getattr(self, name)!r}."
                )
        check_trainer_settings(self.trainer)
        for key in self.estimator:
            if key in RESERVED:
                raise ValueError(
                    f"estimator setting {key!r} is not allowed; it comes from "
                    f"{RESERVED[key]}."
                )


@dataclass
class RunSpec(Budget):
    """What to train and compare: dataset, model, budget and baselines.

    Parameters
    ----------
    dataset
        What to train and backtest on: a GluonTS dataset name (e.g.
        ``"m4_hourly"``), a GluonTS dataset folder, or a file of one's own
        series (long CSV or parquet, GluonTS JSON lines): see
        :func:`gluonts_qf.runs.data.load_data`.
    model
        Model to train, one of ours in the registry: ``"iqf_ensemble"``
        (default: the IQF network and statistical forecasters, weighted on
        held-back windows), ``"iqf"`` (the network alone) or ``"mqf2"``.
    data_dir
        Folder of GluonTS datasets; default ``$GLUONTS_QF_DATA``, then
        ``../shared/data/gluonts`` if it holds the dataset, then GluonTS's own
        location (:func:`~gluonts_qf.runs.data.find_data_dir`).
    seed
        Seed set before each model is trained.
    baselines
        Baselines of the registry (``"seasonal_naive"``, ``"deepar"``,
        ``"feedforward"``), in any form :func:`parse_baselines` reads.
    num_threads
        Torch threads while training and forecasting, for the model and the
        baselines (default :data:`gluonts_qf.threads.DEFAULT_NUM_THREADS`).
    quiet
        No progress bars or training logs.
    prediction_length, freq
        Override the dataset's horizon and frequency; a file needs
        ``prediction_length`` and infers ``freq`` from its timestamps.
    id_column, timestamp_column, target_column
        The columns of a long-format file.
    epochs, batches_per_epoch, batch_size, lr, max_series, estimator, trainer
        See :class:`Budget`.
    """

    dataset: str
    model: str = "iqf_ensemble"
    #: ``None``: the model's own (:data:`MODEL_EPOCHS`), set by :meth:`validate`
    epochs: int | None = field(default=None, kw_only=True)
    data_dir: Path | None = None
    seed: int = 0
    baselines: list[str] = field(default_factory=lambda: ["seasonal_naive"])
    num_threads: int = DEFAULT_NUM_THREADS
    quiet: bool = False
    prediction_length: int | None = None
    freq: str | None = None
    id_column: str = Columns.id
    timestamp_column: str = Columns.timestamp
    target_column: str = Columns.target

    def load_data(self) -> Data:
        """The run's data (:func:`gluonts_qf.runs.data.load_data`)."""
        columns = Columns(self.id_column, self.timestamp_column, self.target_column)
        return load_data(
            self.dataset,
            self.data_dir,
            self.max_series,
            self.prediction_length,
            self.freq,
            columns,
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        """Build from a mapping (e.g. a YAML config); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"unknown run setting(s) {unknown}; allowed: {sorted(names)}."
            )
        if "dataset" not in values:
            raise ValueError("a run needs a dataset (e.g. dataset: m4_hourly).")
        return cls(**values)

    def validate(self) -> RunSpec:
        """Check (and normalise) every field; ``ValueError`` says what to fix.

        Idempotent: a validated spec validates again unchanged. Without
        ``epochs``, the model's own (:data:`MODEL_EPOCHS`).
        """
        if self.epochs is None:
            self.epochs = MODEL_EPOCHS.get(self.model, Budget.epochs)
        self.validate_budget()
        if self.num_threads is None:  # a config's "num_threads: null"
            self.num_threads = DEFAULT_NUM_THREADS
        self.num_threads = check_int("num_threads", self.num_threads)
        self.seed = check_int("seed", self.seed, low=MIN_SEED)
        self.model = check_choice("model", self.model, model_names(ours=True))
        self.baselines = parse_baselines(self.baselines)
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir).expanduser()
        return self


def check_trainer_settings(settings: dict[str, Any]) -> None:
    """``ValueError`` for a key that ``lightning.Trainer`` does not take.

    Checked before training, so a typo (``--set trainer.max_epoch=3``) stops
    the run at once instead of after the data are loaded and models built.
    """
    if not settings:
        return
    import inspect

    import lightning.pytorch as pl

    known = [
        p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self"
    ]
    unknown = sorted(str(k) for k in settings if k not in known)
    if unknown:
        close = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        hints = [
            f"{k!r} (did you mean {m[0]!r}?)" if m else repr(k)
            for k, m in close.items()
        ]
        raise ValueError(
            f"unknown trainer setting(s) {', '.join(hints)}; lightning.Trainer "
            f"takes: {', '.join(known)}."
        )


def parse_baselines(value: str | Sequence[str] | None) -> list[str]:
    """Baseline names from ``"seasonal_naive,deepar"`` or a list of names.

    ``None``, ``"none"``, ``["none"]`` and an empty list all mean no baselines;
    repeated names count once. ``ValueError`` for unknown names and for a
    string that names nothing (e.g. ``""``).
    """
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if names == ["none"] or (not names and not isinstance(value, str)):
        return []
    baselines = model_names(ours=False)
    unknown = [n for n in names if n not in baselines]
    if unknown or not names:
        raise ValueError(
            f"unknown baseline(s) {unknown or value!r}; choose from "
            f"{', '.join(baselines)} (comma-separated) or 'none'."
        )
    return list(dict.fromkeys(names))


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set`` options to estimator and trainer keyword arguments.

    ``["hidden_size=32", "trainer.gradient_clip_val=1"]`` ->
    ``{"estimator": {"hidden_size": 32}, "trainer": {"gradient_clip_val": 1}}``;
    each value is read with ``yaml.safe_load``. ``ValueError`` for an item
    without ``=`` or for an estimator argument the run sets itself.
    """
    out: dict[str, dict[str, Any]] = {"estimator": {}, "trainer": {}}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(
                f"--set expects KEY=VALUE, got {item!r} (e.g. hidden_size=32)."
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: the value is not valid YAML.") from err
        if key.startswith("trainer."):
            out["trainer"][key.removeprefix("trainer.")] = value
        elif key in RESERVED:
            raise ValueError(
                f"--set {key}=... is not allowed; {key} comes from {RESERVED[key]}."
            )
        else:
            out["estimator"][key] = value
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of ``RunSpec`` fields (``-`` or ``_`` in keys); ``{}`` if empty."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"cannot read config {path}: {err.strerror}.") from err
    except yaml.YAMLError as err:
        raise ValueError(f"config {path} is not valid YAML: {err}") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"config {path} must be a mapping of run settings.")  # noqa: TRY004
    return {str(k).replace("-", "_"): v for k, v in values.items()}
