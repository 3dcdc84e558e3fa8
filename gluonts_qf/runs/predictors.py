"""Saved predictors: save atomically, load with a clear error, check, forecast rows."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..evaluation.scores import forecast_quantiles, target_window
from .legacy import upgraded


def load_predictor(path: str | Path):
    """Deserialize a predictor from ``path`` or from ``path/predictor``.

    Predictors saved by earlier versions load too (:mod:`.legacy`).

    Raises
    ------
    ValueError
        If there is no saved predictor there, or one of its files is corrupt
        or truncated; the message names the file.
    """
    from gluonts.model.predictor import Predictor

    path = Path(path)
    if not (path / "gluonts-config.json").is_file():
        if not (path / "predictor" / "gluonts-config.json").is_file():
            raise ValueError(
                f"no saved predictor in {path} (expected {path}/gluonts-config.json); "
                "create one with `gluonts-qf train`."
            )
        path = path / "predictor"  # the output folder of `gluonts-qf train`
    try:
        with upgraded(path) as readable:  # classes that moved since it was saved
            return Predictor.deserialize(readable)
    except Exception as err:  # any failure: find the file to blame
        raise ValueError(_diagnose_predictor(path, err)) from err


def _diagnose_predictor(path: Path, err: Exception) -> str:
    """Which file of the predictor folder ``path`` made loading fail, in words."""
    import torch

    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        try:
            if file.suffix == ".json":
                json.loads(file.read_text())
            elif file.suffix in (".pt", ".pth"):
                torch.load(file, map_location="cpu", weights_only=True)
            else:
                continue
        except Exception as bad:
            why = _one_line(bad)
            return (
                f"corrupt or truncated predictor file {file} ({why}); "
                "save the predictor again (e.g. rerun `gluonts-qf train`)."
            )
    return f"cannot load the predictor in {path}: {_one_line(err)}"


def _one_line(err: BaseException) -> str:
    """``"EOFError"`` or ``"JSONDecodeError: Expecting value: ..."`` (first line)."""
    text = str(err).strip()
    return type(err).__name__ + (f": {text.splitlines()[0]}" if text else "")


def check_compatible(predictor, freq: str, prediction_length: int, name: str) -> None:
    """``ValueError`` unless ``predictor`` forecasts data of ``freq`` over ``prediction_length``.

    The horizon is every GluonTS predictor's ``prediction_length``; the
    frequency is checked when the predictor records it (ours do, as ``freq``).
    """
    import pandas as pd

    problems = []
    if predictor.prediction_length != prediction_length:
        problems.append(
            f"horizon {predictor.prediction_length} (dataset: {prediction_length})"
        )
    trained = getattr(predictor, "freq", None)
    if trained is not None:
        offset = pd.tseries.frequencies.to_offset
        if offset(trained) != offset(freq):
            problems.append(f"frequency {trained!r} (dataset: {freq!r})")
    if problems:
        raise ValueError(
            f"the predictor does not fit {name!r}: it was trained for "
            f"{' and '.join(problems)}; use one trained on this dataset."
        )


def save_predictor(predictor, folder: str | Path) -> Path:
    """Serialize ``predictor`` into ``folder`` atomically.

    The files go to a temporary folder beside ``folder``, which then replaces
    ``folder`` by a rename; so an interrupted save leaves either the old
    predictor or none (plus, after a hard kill, a ``.<name>.saving-*`` folder
    that nothing loads), never a mix of old and new files.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.saving-", dir=folder.parent))
    try:
        predictor.serialize(tmp)
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            folder.rename(old)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def forecast_rows(
    forecasts: Sequence, levels: Sequence[float], series: Sequence | None = None
) -> Iterator[list]:
    """CSV rows ``item_id, step, timestamp, mean, <one per level>[, target]``.

    ``step`` counts from 1; ``item_id`` falls back to the forecast's position.
    """
    for i, fc in enumerate(forecasts):
        q = forecast_quantiles(fc, levels)  # (L, T)
        mean = np.asarray(fc.mean, dtype=float).reshape(-1)
        truth = None
        if series is not None:
            truth = target_window(series[i], fc)  # (T,)
        item = fc.item_id if fc.item_id is not None else i
        for t, period in enumerate(fc.index):
            row = [item, t + 1, period.to_timestamp().isoformat(), mean[t], *q[:, t]]
            yield row + ([truth[t]] if truth is not None else [])
