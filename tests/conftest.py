"""Shared fixtures: the offline GluonTS datasets in ../shared/data/gluonts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(
    os.environ.get("GLUONTS_QF_DATA", ROOT.parent / "shared" / "data" / "gluonts")
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder of GluonTS datasets; fails (never skips) when it is missing."""
    if not (DATA_DIR / "m4_hourly" / "metadata.json").exists():
        pytest.fail(
            f"offline GluonTS datasets expected in {DATA_DIR} (with "
            "m4_hourly/metadata.json); set GLUONTS_QF_DATA to their folder."
        )
    return DATA_DIR


@pytest.fixture(scope="session")
def m4_hourly(data_dir):
    from gluonts_qf.runs.data import load_dataset

    return load_dataset("m4_hourly", data_dir)


@pytest.fixture(scope="module")
def hourly(request, m4_hourly):
    """The first ``NUM_SERIES`` series of m4_hourly (the test module's constant,
    default 8): train and test lists, horizon ``H`` and ``freq``."""
    import itertools

    n = getattr(request.module, "NUM_SERIES", 8)
    meta = m4_hourly.metadata
    return {
        "train": list(itertools.islice(m4_hourly.train, n)),
        "test": list(itertools.islice(m4_hourly.test, n)),
        "H": meta.prediction_length,
        "freq": meta.freq,
    }


@pytest.fixture(scope="session")
def offline_data() -> Path:
    """Folder of GluonTS datasets; skips the test when it is missing."""
    if not (DATA_DIR / "m4_hourly" / "metadata.json").exists():
        pytest.skip(f"offline GluonTS datasets not found in {DATA_DIR}")
    return DATA_DIR
