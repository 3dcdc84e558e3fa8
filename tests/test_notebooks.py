"""The quickstart, MQF2 and reproduction notebooks: stored stripped, and they run (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    "quickstart": ["crossing rate, IQF: 0.000", "sorted at every step: True"],
    "mqf2": [
        "std of the 48-hour total, joint / independent",
        "CRPS-Sum",
        "pooled 95% stock, first step: joint",
    ],
    "reproduce": ["cached: [True, True]"],
}


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_is_stored_stripped(name):
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs(name, offline_data, monkeypatch):
    """Tiny budgets: under a minute each on 2 CPU cores."""
    pytest.importorskip("matplotlib")
    nb = run_notebook(ROOT / "notebooks" / f"{name}.ipynb", offline_data, monkeypatch)
    outputs = [out for c in nb.cells if c.cell_type == "code" for out in c.outputs]
    text = "".join(out.get("text", "") for out in outputs)
    for expected in NOTEBOOKS[name]:
        assert expected in text, expected
    assert any("image/png" in out.get("data", {}) for out in outputs)
