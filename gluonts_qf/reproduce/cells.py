"""Experiment cells: one YAML file per paper experiment, a datasets x models matrix.

``configs/<experiment>.yaml`` holds every :class:`CellSpec` of an experiment::

    experiment: iqf
    defaults: {epochs: 10, batches_per_epoch: 50, batch_size: 32, lr: 1.0e-3}
    smoke: {epochs: 1, batches_per_epoch: 2, batch_size: 8, max_series: 8}
    models:                     # row label -> a model of gluonts_qf.runs.registry
      iqf: {model: iqf, estimator: {knot_levels: [0.1, 0.5, 0.9]}}
      isqf: {model: iqf, estimator: {num_pieces: 3}}
      deepar: {model: deepar}
    matrix:                     # blocks of datasets x rows
      - datasets: [m4_hourly, tourism_monthly]
        models: [iqf, isqf, deepar]
      - datasets: {exchange_rate: {series: 8}}   # with the dataset's own settings
        models: [iqf]
        smoke: {series: 4, max_series: null}

A cell's settings are the ``defaults``, then its row's, then its dataset's;
``--smoke`` lays the file's ``smoke`` and then its block's ``smoke`` on top
(tiny budgets: seconds, used by the tests). A cell with ``series: M`` scores
its model jointly across the first ``M`` series of the dataset
(:mod:`gluonts_qf.reproduce.series`); with ``estimator: {joint: series}``
MQF2 also trains on them as one ``M``-dimensional series.

Every cell of an experiment is validated before anything trains: an unknown
key or a value of the wrong type is a ``ValueError`` naming the key, the cell
and the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import check_int, check_optional_int
from ..runs.registry import REGISTRY
from ..runs.spec import Budget, load_config

#: The repository's ``configs/`` folder (one ``<experiment>.yaml`` each).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class CellSpec(Budget):
    """One cell of an experiment table: a model trained and backtested on a dataset.

    Parameters
    ----------
    experiment
        The experiment (the config file's name), e.g. ``"iqf"``.
    dataset
        GluonTS dataset name.
    model
        A model of :mod:`gluonts_qf.runs.registry`.
    label
        The row's name (default: ``model``).
    num_samples
        Samples per forecast for sample-based scores.
    series
        Score jointly across the first ``series`` series, grouped into one
        multivariate series (``None``: each series on its own); the table
        shows the cell under :attr:`group`.
    path
        The file it was read from (not a YAML key).
    epochs, batches_per_epoch, batch_size, lr, max_series, estimator, trainer
        As for a run (:class:`~gluonts_qf.runs.spec.Budget`); ``estimator``
        only for our models (``ours`` in the registry).
    """

    experiment: str
    dataset: str
    model: str
    label: str = ""
    num_samples: int = 100
    series: int | None = None
    path: Path | None = dataclasses.field(default=None, compare=False)

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

    def validate(self) -> CellSpec:
        """Check every setting; ``ValueError`` naming what to fix."""
        self.validate_budget()
        self.num_samples = check_int("num_samples", self.num_samples)
        self.series = check_optional_int("series", self.series, hint="or null for none")
        if self.model not in REGISTRY:
            raise ValueError(
                f"model {self.model!r} is not in the registry; choose from "
                f"{', '.join(REGISTRY)}."
            )
        if self.estimator and not REGISTRY[self.model].ours:
            raise ValueError(
                f"estimator settings apply to our models only ({self.model} is a "
                "reference model); remove them."
            )
        if self.joint_series and self.series is None:
            raise ValueError(
                "estimator joint: series needs the cell key series: M (how many "
                "of the dataset's series to forecast jointly)."
            )
        if "target_dim" in self.estimator:
            raise ValueError(
                "estimator key 'target_dim' is not allowed; it comes from the "
                "cell key series."
            )
        if self.series is not None and self.max_series is not None:
            raise ValueError(
                "series and max_series cannot both be set; series: M already "
                "takes the first M series."
            )
        return self


#: The keys a cell's settings may have (those of :class:`CellSpec` but the
#: ones the file's structure gives: experiment, dataset, label, path).
SETTINGS = {f.name for f in dataclasses.fields(CellSpec)} - {
    "experiment",
    "dataset",
    "label",
    "path",
}
_FILE_KEYS = {"experiment", "defaults", "smoke", "models", "matrix"}
_BLOCK_KEYS = {"datasets", "models", "smoke"}


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping, got {value!r}.")  # noqa: TRY004
    unknown = sorted(set(value) - SETTINGS)
    if unknown:
        raise ValueError(
            f"{what}: unknown key(s) {unknown}; allowed: {sorted(SETTINGS)}."
        )
    return value


def _names(value: Any, what: str) -> dict[str, dict[str, Any]]:
    """A block's ``datasets`` or ``models``: a list of names, or names -> settings."""
    if isinstance(value, list):
        value = dict.fromkeys(value)
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{what} must be a non-empty list or mapping, got {value!r}.")
    return {str(k): _mapping(v, f"{what} {k}") for k, v in value.items()}


def _cells(config: dict[str, Any], smoke: bool) -> list[CellSpec]:
    """Every cell of a parsed experiment file, in file order."""
    unknown = sorted(set(config) - _FILE_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; allowed: {sorted(_FILE_KEYS)}.")
    experiment = config.get("experiment")
    if not isinstance(experiment, str):
        raise ValueError(
            f"experiment must be the experiment's name, got {experiment!r}."
        )
    defaults = _mapping(config.get("defaults"), "defaults")
    overlay = _mapping(config.get("smoke"), "smoke") if smoke else {}
    rows = _names(config.get("models"), "models")
    blocks = config.get("matrix")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("matrix must be a list of blocks (datasets x models).")
    cells, seen = [], set()
    for i, block in enumerate(blocks):
        where = f"matrix block {i + 1}"
        if not isinstance(block, dict) or set(block) - _BLOCK_KEYS:
            raise ValueError(f"{where} takes the keys {sorted(_BLOCK_KEYS)}.")
        block_smoke = _mapping(block.get("smoke"), f"{where} smoke") if smoke else {}
        labels = _names(block.get("models"), f"{where} models")
        for dataset, own in _names(block.get("datasets"), f"{where} datasets").items():
            for label in labels:
                if label not in rows:
                    raise ValueError(
                        f"{where}: row {label!r} is not in models; define it there."
                    )
                if (dataset, label) in seen:
                    raise ValueError(f"cell ({dataset}, {label}) is given twice.")
                seen.add((dataset, label))
                values = {**defaults, **rows[label], **own, **overlay, **block_smoke}
                values.setdefault("model", label)
                cell = CellSpec(
                    experiment=experiment, dataset=dataset, label=label, **values
                )
                try:
                    cells.append(cell.validate())
                except ValueError as err:
                    raise ValueError(f"cell ({dataset}, {label}): {err}") from None
    return cells


def experiment_file(experiment: str, config_dir: str | Path | None = None) -> Path:
    """``<config_dir>/<experiment>.yaml``, the file of the experiment's cells."""
    root = Path(config_dir) if config_dir is not None else CONFIG_DIR
    return root / f"{experiment}.yaml"


def load_cells(path: str | Path, smoke: bool = False) -> list[CellSpec]:
    """Every cell of the experiment file ``path`` (``smoke``: with its overlay),
    sorted by dataset and row label (the order of the tables).

    ``ValueError`` naming the file (and the cell and key) for a missing file,
    an unknown key, a bad value or an experiment name that is not the file's.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no experiment config at {path}.")
    try:
        config = load_config(path)
        cells = _cells(config, smoke)
    except ValueError as err:
        text = str(err)
        raise ValueError(
            text if text.startswith(str(path)) else f"{path}: {text}"
        ) from None
    if cells[0].experiment != path.stem:
        raise ValueError(
            f"{path}: experiment {cells[0].experiment!r} does not match the file's "
            f"name {path.stem!r}."
        )
    cells.sort(key=lambda c: (c.dataset, c.label))  # the tables' order
    return [dataclasses.replace(c, path=path) for c in cells]


def fingerprint(cell: CellSpec, seed: int, budget: float) -> str:
    """A hash of everything that decides a cell's result (settings, seed, budget)."""
    text = json.dumps(
        {"cell": cell.settings(), "seed": seed, "budget": budget},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
