"""Predictors saved by earlier versions of gluonts-qf, read by today's classes.

A saved predictor names the classes it is built from (``predictor.json``).
Classes that moved since are rewritten here before GluonTS reads the file, so
an old predictor loads and forecasts as it did (:func:`upgraded`):

- ``gluonts_qf.calibration.CalibratedIQFOutput(knot_levels, num_pieces, tol,
  map_levels, map_values)`` (before 0.2) is now
  ``gluonts_qf.distributions.calibrated.CalibratedIQFOutput(distr_output,
  map_levels, map_values)``, wrapping the trained ``IQFOutput``;
- ``gluonts_qf.model.forking.estimator.RowwiseLastValueImputation`` is now in
  ``gluonts_qf.model.forking.data``;
- an ``IQFOutput`` saved without ``tail_floor`` learned free tail rates, so it
  is read with ``tail_floor=False`` (today's default floors them).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_OLD_CALIBRATED = "gluonts_qf.calibration.CalibratedIQFOutput"
_IQF_OUTPUT = "gluonts_qf.distributions.iqf.IQFOutput"
_IMPUTATION = "RowwiseLastValueImputation"
RENAMED = {
    f"gluonts_qf.model.forking.estimator.{_IMPUTATION}": (
        f"gluonts_qf.model.forking.data.{_IMPUTATION}"
    ),
}


def _calibrated(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The old calibrated head's arguments as today's (the head made explicit)."""
    head = {k: kwargs[k] for k in ("knot_levels", "num_pieces", "tol") if k in kwargs}
    return {
        "distr_output": {
            "__kind__": "instance",
            "args": [],
            "class": _IQF_OUTPUT,
            "kwargs": {**head, "tail_floor": False},
        },
        "map_levels": kwargs.get("map_levels", [0.5]),
        "map_values": kwargs.get("map_values", [0.5]),
    }


def rewrite(node: Any) -> Any:
    """The serialised tree ``node`` with every moved class written as today's."""
    if isinstance(node, list):
        return [rewrite(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: rewrite(v) for k, v in node.items()}
    cls = node.get("class")
    if node.get("__kind__") == "instance" and cls == _OLD_CALIBRATED:
        node["class"] = "gluonts_qf.distributions.calibrated.CalibratedIQFOutput"
        node["kwargs"] = _calibrated(node.get("kwargs", {}))
    elif cls in RENAMED:
        node["class"] = RENAMED[cls]
    elif cls == _IQF_OUTPUT and "tail_floor" not in node.get("kwargs", {}):
        node["kwargs"] = {**node.get("kwargs", {}), "tail_floor": False}
    return node


@contextlib.contextmanager
def upgraded(path: Path) -> Iterator[Path]:
    """``path`` itself, or a temporary copy whose ``predictor.json`` names
    today's classes when it named moved ones (unreadable JSON: ``path``)."""
    file = path / "predictor.json"
    try:
        text = file.read_text()
        tree = json.loads(text)
    except (OSError, ValueError):  # missing or corrupt: the loader says which
        yield path
        return
    new = rewrite(tree)
    if new == tree:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="gluonts-qf-legacy-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copytree(path, copy)
        (copy / "predictor.json").write_text(json.dumps(new))
        yield copy
