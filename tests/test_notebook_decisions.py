"""``notebooks/decisions.ipynb``: stored without outputs, and it runs (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "decisions.ipynb"


def test_notebook_is_stored_stripped():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_notebook_runs(offline_data, monkeypatch):
    """About 40 s on 2 CPU cores: two brief trainings on m4_hourly."""
    nb = run_notebook(NOTEBOOK, offline_data, monkeypatch)
    text = "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "94% -> 95% for the next hour of 414 series" in text
    assert "critical fractile: 0.8" in text
    assert "assumption='independent steps'" in text  # the API asked for it
    assert "MQF2, 24-hour totals: independence / joint std" in text
