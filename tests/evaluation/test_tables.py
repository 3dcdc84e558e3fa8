"""Results tables: aligned text, markdown and CSV."""

from __future__ import annotations

import csv

from gluonts_qf.evaluation import format_markdown, format_table, write_csv
from gluonts_qf.evaluation.tables import format_value

ROWS = [
    (
        "iqf",
        {"mean_wQuantileLoss": 0.04321, "MASE": 1.2345678, "train_seconds": 123.456},
    ),
    ("seasonal_naive", {"mean_wQuantileLoss": 0.048, "MASE": float("nan")}),
]


def test_format_value():
    assert format_value(0.0483412) == "0.04834"
    assert format_value(1.19) == "1.190"
    assert format_value(12345.6) == "12346"
    assert format_value(0.0) == "0"
    assert format_value(float("nan")) == "-"
    assert format_value(None) == "-"
    assert format_value(7) == "7"


def test_format_table_is_aligned():
    text = format_table(ROWS)
    lines = text.splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1
    assert lines[0].split() == ["model", "mean_wQuantileLoss", "MASE", "train_seconds"]
    assert lines[2].split() == ["iqf", "0.04321", "1.235", "123.5"]
    assert lines[3].split() == ["seasonal_naive", "0.04800", "-", "-"]
    assert lines[2].endswith("123.5")  # numbers right-aligned
    only = format_table(ROWS, columns=["MASE"]).splitlines()
    assert only[0].split() == ["model", "MASE"]


def test_format_markdown():
    lines = format_markdown(ROWS).splitlines()
    assert lines[0].startswith("| model") and lines[0].endswith("|")
    assert lines[1].startswith("|---") and lines[1].count(":|") == 3
    assert "| seasonal_naive |" in lines[3]


def test_write_csv(tmp_path):
    path = write_csv(ROWS, tmp_path / "m.csv")
    with path.open() as fp:
        rows = list(csv.DictReader(fp))
    assert [r["model"] for r in rows] == ["iqf", "seasonal_naive"]
    assert float(rows[0]["MASE"]) == 1.2345678 and rows[1]["train_seconds"] == ""
