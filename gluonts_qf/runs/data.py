"""A run's data: a GluonTS repository dataset, a GluonTS folder, or a user's file.

:func:`load_data` reads what ``--dataset`` names (see :func:`load_data` for
the order) into :class:`Data`: the frequency and horizon, the training series
and the test series (each training series plus the ``prediction_length``
steps the backtest holds out), and a JSON-ready record of where they came
from. Files are read by :mod:`gluonts_qf.runs.files`; GluonTS folders and
repository datasets by GluonTS's own ``load_datasets`` and ``get_dataset``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from gluonts.dataset.common import TrainDatasets

from ..checks import check_int
from .files import (
    Columns,
    check_long_enough,
    json_lines_series,
    kind_of,
    long_series,
    read_long,
)

DATA_ENV = "GLUONTS_QF_DATA"
#: Folders tried, in order, when neither a data dir nor ``$GLUONTS_QF_DATA`` is
#: given: ``../shared/data/gluonts`` from the working directory (the repository
#: root, for the scripts), then the same folder beside the source checkout.
DEFAULT_DATA_DIRS = (
    Path("..") / "shared" / "data" / "gluonts",
    Path(__file__).resolve().parents[3] / "shared" / "data" / "gluonts",
)


@dataclass
class Data:
    """Series to train on and to backtest, with their frequency and horizon.

    Attributes
    ----------
    name
        What the data are called in tables and output folders (the
        repository name, or the folder's or file's name).
    freq, prediction_length
        The pandas frequency and the horizon ``T``.
    train, test
        GluonTS entries (``start``, ``target``, ...); each test series is its
        training series plus the ``T`` steps the backtest forecasts.
    source
        Where they came from (JSON-ready): ``kind`` (``repository``,
        ``folder``, ``file``), ``path``, the columns of a file, whether the
        frequency was inferred.
    """

    name: str
    freq: str
    prediction_length: int
    train: list
    test: list
    source: dict[str, Any] = field(default_factory=dict)


def dataset_label(name: str) -> str:
    """A short name for ``--dataset`` in messages and output folders: a
    repository name itself, a file's or folder's name without its suffixes."""
    path = Path(name)
    if not (path.exists() or os.sep in name or kind_of(path)):
        return name
    label = path.name
    for suffix in (".gz", ".csv", ".parquet", ".jsonl", ".json"):
        label = label.removesuffix(suffix)
    return label or name


def find_data_dir(
    data_dir: Optional[Union[str, Path]] = None, name: Optional[str] = None
) -> Optional[Path]:
    """The folder holding ``<name>/metadata.json`` datasets, or ``None``.

    Order: the argument, then ``$GLUONTS_QF_DATA``, then the first of
    ``DEFAULT_DATA_DIRS`` that holds ``name`` (any dataset when ``name`` is
    ``None``). ``None`` means GluonTS's default location (which downloads when
    online).
    """
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_ENV)
    if chosen not in (None, ""):
        return Path(chosen).expanduser()
    for folder in DEFAULT_DATA_DIRS:
        pattern = f"{name}/metadata.json" if name else "*/metadata.json"
        if next(folder.glob(pattern), None) is not None:
            return folder
    return None


def load_dataset(
    name: str, data_dir: Optional[Union[str, Path]] = None
) -> TrainDatasets:
    """Load a GluonTS dataset by name: from ``data_dir`` (any folder name), or
    GluonTS's repository.

    Parameters
    ----------
    name
        A GluonTS dataset name, e.g. ``"m4_hourly"``, or a folder of ``data_dir``.
    data_dir
        Folder with prepared datasets (``<data_dir>/<name>/metadata.json``);
        default ``$GLUONTS_QF_DATA``, then ``../shared/data/gluonts`` if it
        holds ``name``, else GluonTS's own folder.

    Raises
    ------
    ValueError
        If ``data_dir`` is given but does not hold ``name``; the message lists
        what it does hold.
    """
    from gluonts.dataset.repository import get_dataset

    folder = find_data_dir(data_dir, name)
    if folder is None:
        return get_dataset(name)
    if not (folder / name / "metadata.json").exists():
        have = sorted(p.parent.name for p in folder.glob("*/metadata.json"))
        raise ValueError(
            f"dataset {name!r} not found in {folder} (expected "
            f"{folder / name / 'metadata.json'}); available there: {have}. "
            f"Point --data-dir or ${DATA_ENV} at a folder of GluonTS datasets, "
            "or unset it to download with GluonTS."
        )
    return _gluonts_folder(folder / name)


def _gluonts_folder(path: Path) -> TrainDatasets:
    """A GluonTS dataset folder (``metadata.json``, ``train/``, ``test/``), any name."""
    from gluonts.dataset.common import load_datasets

    if not (path / "metadata.json").is_file():
        raise ValueError(
            f"{path} has no metadata.json: a GluonTS dataset folder holds "
            "metadata.json (freq, prediction_length), train/ and test/ (JSON "
            "lines); for one file of your own series pass the file itself."
        )
    if not (path / "train").is_dir():
        raise ValueError(f"{path} has no train/ folder of series.")
    test = path / "test" if (path / "test").is_dir() else None
    try:
        return load_datasets(path, path / "train", test)
    except Exception as err:  # unreadable metadata or series files
        raise ValueError(f"cannot read the GluonTS folder {path}: {err}") from err


def load_data(
    name: str,
    data_dir: Optional[Union[str, Path]] = None,
    max_series: Optional[int] = None,
    prediction_length: Optional[int] = None,
    freq: Optional[str] = None,
    columns: Columns = Columns(),
) -> Data:
    """The :class:`Data` that ``name`` (the ``--dataset`` option) names.

    ``name`` is, in this order: an existing file (long CSV or parquet, GluonTS
    JSON lines; :mod:`gluonts_qf.runs.files`), an existing GluonTS folder
    (``metadata.json``, ``train/``, ``test/``; any name), a folder of the
    data dir (any name), or a GluonTS repository name. ``prediction_length``
    and ``freq`` override a folder's or dataset's metadata; a file needs
    ``prediction_length`` and takes ``freq`` from its timestamps unless given.
    A file's (or a test-less folder's) series are the test series, and the
    training series are them without their last ``prediction_length`` steps.
    ``max_series`` keeps the first series only.

    Raises
    ------
    ValueError
        For anything that cannot be read or used, saying what to change.
    """
    if prediction_length is not None:
        prediction_length = check_int("prediction_length", prediction_length)
    path = Path(name).expanduser()
    if path.is_file():
        return _file_data(path, max_series, prediction_length, freq, columns)
    if path.is_dir():
        ds = _gluonts_folder(path)
        source = {"kind": "folder", "path": str(path.resolve())}
        return _from_gluonts(path.name, ds, max_series, prediction_length, freq, source)
    if kind_of(path) is not None or os.sep in name:
        raise ValueError(f"no such file or folder: {name}.")
    return _named(name, data_dir, max_series, prediction_length, freq)


def _named(name, data_dir, max_series, prediction_length, freq) -> Data:
    """A folder of the data dir, or a GluonTS repository dataset, by name."""
    from gluonts.dataset.repository import dataset_names

    folder = find_data_dir(data_dir, name)
    if folder is not None and not folder.is_dir():
        raise ValueError(
            f"data dir {folder} does not exist; pass --data-dir (or set "
            f"${DATA_ENV}) with a folder of GluonTS datasets."
        )
    if folder is None and name not in dataset_names:
        raise ValueError(
            f"unknown dataset {name!r}: not a file or folder here, and GluonTS "
            f"knows: {', '.join(dataset_names)}."
        )
    try:
        ds = load_dataset(name, folder)
    except ValueError:
        raise
    except Exception as err:  # download or parse failure inside GluonTS
        raise ValueError(
            f"could not load dataset {name!r} with GluonTS: {err}"
        ) from err
    kind = "repository" if folder is None else "folder"
    source = {"kind": kind, "path": None if folder is None else str(folder / name)}
    return _from_gluonts(name, ds, max_series, prediction_length, freq, source)


def _from_gluonts(name, ds, max_series, prediction_length, freq, source) -> Data:
    """Data of GluonTS ``TrainDatasets`` (metadata overridden where given)."""
    T = prediction_length or ds.metadata.prediction_length
    if T is None:
        raise ValueError(
            f"{name}: its metadata.json gives no prediction_length; pass "
            "--prediction-length."
        )
    train = list(itertools.islice(ds.train, max_series))
    if ds.test is None:  # a folder of whole series only: hold out their ends
        check_long_enough(train, int(T), name)
        test, train = train, [_head(entry, int(T)) for entry in train]
    else:
        test = list(itertools.islice(ds.test, max_series))
    return Data(name, freq or ds.metadata.freq, int(T), train, test, source)


def _head(entry: dict[str, Any], steps: int) -> dict[str, Any]:
    """The entry without its last ``steps`` steps (a training series)."""
    return {**entry, "target": entry["target"][..., :-steps]}


def _file_data(path, max_series, prediction_length, freq, columns) -> Data:
    kind = kind_of(path)
    if kind is None:
        raise ValueError(
            f"{path}: not a data file gluonts-qf reads; use .csv, .csv.gz or "
            ".parquet (one row per series and timestamp), .jsonl, .json or "
            ".json.gz (GluonTS JSON lines), or a GluonTS dataset folder."
        )
    if prediction_length is None:
        raise ValueError(
            f"{path}: a file has no horizon of its own; pass --prediction-length N "
            "(the steps to forecast, and to hold out for the backtest)."
        )
    source: dict[str, Any] = {"kind": "file", "path": str(path.resolve())}
    if kind == "long":
        frame = read_long(path, columns)
        series, used = long_series(path, frame, columns, freq)
        source.update(columns=vars(columns), freq_inferred=freq is None)
        freq = used
    else:
        series = json_lines_series(path, freq)
    series = series[:max_series]
    check_long_enough(series, prediction_length, str(path))
    train = [_head(entry, prediction_length) for entry in series]
    return Data(path.name, freq, prediction_length, train, series, source)
