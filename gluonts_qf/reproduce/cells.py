"""Experiment cells: one YAML file per (dataset, model) of a paper experiment.

``configs/<experiment>/<dataset>-<label>.yaml`` (and the tiny-budget mirror
``configs/smoke/<experiment>/...``) hold one :class:`CellSpec` each::

    experiment: iqf
    dataset: m4_hourly
    model: iqf            # a name of gluonts_qf.runs.registry
    label: isqf           # the row's name (default: the model), the file's suffix
    epochs: 10
    estimator: {num_pieces: 3}

A cell with ``series: M`` scores its model jointly across the first ``M``
series of the dataset (:mod:`gluonts_qf.reproduce.series`); with
``estimator: {joint: series}`` MQF2 also trains on them as one
``M``-dimensional series.

Every file of an experiment is validated before anything trains: an unknown
key or a value of the wrong type is a ``ValueError`` naming the key and the
file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import check_int, check_optional_int, check_positive
from ..runs.registry import REGISTRY
from ..runs.spec import RESERVED, load_config

#: The repository's ``configs/`` folder (cells live in its sub-folders).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class CellSpec:
    """One cell of an experiment table: a model trained and backtested on a dataset.

    Parameters
    ----------
    experiment
        The experiment (the config folder's name), e.g. ``"iqf"``.
    dataset
        GluonTS dataset name.
    model
        A model of :mod:`gluonts_qf.runs.registry`.
    label
        The row's name (default: ``model``); the file is ``<dataset>-<label>.yaml``.
    epochs, batches_per_epoch, batch_size, lr
        Training budget (ignored by untrained models).
    max_series
        Use only the first ``max_series`` series (``None``: all).
    num_samples
        Samples per forecast for sample-based scores.
    series
        Score jointly across the first ``series`` series, grouped into one
        multivariate series (``None``: each series on its own); the table
        shows the cell under :attr:`group`.
    estimator
        Extra estimator arguments; only for our models (``ours`` in the registry).
    trainer
        Extra ``lightning.Trainer`` arguments.
    path
        The file it was read from (not a YAML key).
    """

    experiment: str
    dataset: str
    model: str
    label: str = ""
    epochs: int = 10
    batches_per_epoch: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    max_series: int | None = None
    num_samples: int = 100
    series: int | None = None
    estimator: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    def settings(self) -> dict[str, Any]:
        """The YAML keys and values (JSON-ready), without ``path``."""
        values = dataclasses.asdict(self)
        values.pop("path")
        if values["series"] is None:  # so cells without it keep their fingerprint
            values.pop("series")
        return values

    @property
    def joint_series(self) -> bool:
        """Whether the model itself is joint across series (MQF2, ``joint: series``)."""
        return self.estimator.get("joint") == "series"

    @property
    def group(self) -> str:
        """The table's dataset name: ``dataset``, or ``"<dataset> (<M> series)"``."""
        if self.series is None:
            return self.dataset
        return f"{self.dataset} ({self.series} series)"


#: YAML keys and their validators (:mod:`gluonts_qf.checks`, the same as
#: ``RunSpec``'s, so a value means the same in a cell file and in ``--set``).
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "experiment": lambda k, v: _check_type(k, v, str, "a string"),
    "dataset": lambda k, v: _check_type(k, v, str, "a string"),
    "model": lambda k, v: _check_type(k, v, str, "a string"),
    "label": lambda k, v: _check_type(k, v, str, "a string"),
    "epochs": check_int,
    "batches_per_epoch": check_int,
    "batch_size": check_int,
    "lr": check_positive,
    "max_series": lambda k, v: check_optional_int(k, v, hint="or null for all"),
    "num_samples": check_int,
    "series": lambda k, v: check_optional_int(k, v, hint="or null for none"),
    "estimator": lambda k, v: _check_type(k, v, dict, "a mapping"),
    "trainer": lambda k, v: _check_type(k, v, dict, "a mapping"),
}
_REQUIRED = ("experiment", "dataset", "model")


def _check_type(key: str, value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{key} must be {what}, got {value!r}.")
    return value


def _check_value(path: Path, key: str, value: Any) -> Any:
    """``value`` checked (and normalised: ``3.0`` epochs -> 3) for ``key``."""
    try:
        return _CHECKS[key](key, value)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def load_cell(path: str | Path) -> CellSpec:
    """Read and validate one cell file; ``ValueError`` names the key and the file."""
    path = Path(path)
    values = load_config(path)
    unknown = sorted(set(values) - set(_CHECKS))
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {unknown}; allowed: {sorted(_CHECKS)}."
        )
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}.")
    values = {k: _check_value(path, k, v) for k, v in values.items()}
    values.setdefault("label", values["model"])
    cell = CellSpec(**values, path=path)
    _check_cell(cell, path)
    return cell


def _check_cell(cell: CellSpec, path: Path) -> None:
    if cell.model not in REGISTRY:
        raise ValueError(
            f"{path}: model {cell.model!r} is not in the registry; choose from "
            f"{', '.join(REGISTRY)}."
        )
    if cell.estimator and not REGISTRY[cell.model].ours:
        raise ValueError(
            f"{path}: estimator settings apply to our models only "
            f"({cell.model} is a reference model); remove them."
        )
    for key in cell.estimator:
        if key in RESERVED:
            raise ValueError(
                f"{path}: estimator key {key!r} is not allowed; it comes from "
                f"{RESERVED[key]}."
            )
    if cell.joint_series and cell.series is None:
        raise ValueError(
            f"{path}: estimator joint: series needs the cell key series: M "
            "(how many of the dataset's series to forecast jointly)."
        )
    if "target_dim" in cell.estimator:
        raise ValueError(
            f"{path}: estimator key 'target_dim' is not allowed; it comes from "
            "the cell key series."
        )
    if cell.series is not None and cell.max_series is not None:
        raise ValueError(
            f"{path}: series and max_series cannot both be set; series: M "
            "already takes the first M series."
        )
    if path.name != f"{cell.dataset}-{cell.label}.yaml":
        raise ValueError(
            f"{path}: the file of dataset {cell.dataset!r} and label "
            f"{cell.label!r} must be named {cell.dataset}-{cell.label}.yaml."
        )
    if path.parent.name != cell.experiment:
        raise ValueError(
            f"{path}: experiment {cell.experiment!r} does not match its folder "
            f"{path.parent.name!r}."
        )


def experiment_folder(
    experiment: str, smoke: bool = False, config_dir: str | Path | None = None
) -> Path:
    """``<config_dir>/[smoke/]<experiment>``, the folder of the experiment's cells."""
    root = Path(config_dir) if config_dir is not None else CONFIG_DIR
    return root / "smoke" / experiment if smoke else root / experiment


def load_cells(folder: str | Path) -> list[CellSpec]:
    """Every ``*.yaml`` cell of ``folder``, validated, sorted by file name."""
    folder = Path(folder)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ValueError(f"no cell configs (*.yaml) in {folder}.")
    return [load_cell(f) for f in files]


def fingerprint(cell: CellSpec, seed: int, budget: float) -> str:
    """A hash of everything that decides a cell's result (settings, seed, budget)."""
    text = json.dumps(
        {"cell": cell.settings(), "seed": seed, "budget": budget},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
