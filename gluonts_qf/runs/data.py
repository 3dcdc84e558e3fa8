"""Loading GluonTS datasets from a local folder or GluonTS's own location."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Optional, Union

from gluonts.dataset.common import TrainDatasets

DATA_ENV = "GLUONTS_QF_DATA"
#: Folders tried, in order, when neither a data dir nor ``$GLUONTS_QF_DATA`` is
#: given: ``../shared/data/gluonts`` from the working directory (the repository
#: root, for the scripts), then the same folder beside the source checkout.
DEFAULT_DATA_DIRS = (
    Path("..") / "shared" / "data" / "gluonts",
    Path(__file__).resolve().parents[3] / "shared" / "data" / "gluonts",
)


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
    """Load a GluonTS repository dataset by name.

    Parameters
    ----------
    name
        A GluonTS dataset name, e.g. ``"m4_hourly"``.
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
    return get_dataset(name, path=folder, regenerate=False)


def load_data(
    name: str,
    data_dir: Optional[Union[str, Path]] = None,
    max_series: Optional[int] = None,
) -> tuple[TrainDatasets, list, list]:
    """``(dataset, train series, test series)``, the lists cut at ``max_series``.

    Raises
    ------
    ValueError
        If the data folder is missing, the dataset is unknown or not in it, or
        GluonTS fails to load it; the message says how to fix it.
    """
    from gluonts.dataset.repository import dataset_names

    folder = find_data_dir(data_dir, name)
    if folder is not None and not folder.is_dir():
        raise ValueError(
            f"data dir {folder} does not exist; pass --data-dir (or set "
            f"${DATA_ENV}) with a folder of GluonTS datasets."
        )
    if folder is None and name not in dataset_names:
        raise ValueError(
            f"unknown dataset {name!r}; GluonTS knows: {', '.join(dataset_names)}."
        )
    try:
        ds = load_dataset(name, folder)
    except ValueError:
        raise
    except Exception as err:  # download or parse failure inside GluonTS
        raise ValueError(
            f"could not load dataset {name!r} with GluonTS: {err}"
        ) from err
    train = list(itertools.islice(ds.train, max_series))
    test = list(itertools.islice(ds.test, max_series))
    return ds, train, test
