"""The tables of ``gluonts-qf reproduce``: cells summarised over seeds, published rows.

One row per (dataset, model): the mean of each metric over the seeds that
finished (and, with several seeds, the standard deviation as ``<metric>_std``
in the CSV and ``mean ± std`` in Markdown), the number of seeds, and the
error of a cell that failed. Published numbers come only from a CSV the user
passes (``dataset, model, metric, value, source``); they are added as rows
beside ours, and each of our rows gets ``<metric> - best published``: our
value minus the lowest published value on that dataset.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluation.tables import format_markdown, format_value, write_csv

if TYPE_CHECKING:
    from .experiments import Experiment

Row = tuple[str, dict[str, Any]]
PUBLISHED_COLUMNS = ("dataset", "model", "metric", "value", "source")


def load_published(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a published-results CSV; ``ValueError`` naming the file and line."""
    path = Path(path)
    try:
        with path.open(newline="") as fp:
            reader = csv.DictReader(fp)
            missing = sorted(set(PUBLISHED_COLUMNS) - set(reader.fieldnames or ()))
            if missing:
                raise ValueError(
                    f"{path}: missing column(s) {missing}; a published CSV has "
                    f"the header {','.join(PUBLISHED_COLUMNS)}."
                )
            rows = list(reader)
    except OSError as err:
        raise ValueError(f"cannot read published results {path}: {err}") from err
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            raise ValueError(
                f"{path}, line {line}: value must be a number, got {row['value']!r}."
            ) from None
        out.append({k: row[k] for k in PUBLISHED_COLUMNS} | {"value": value})
    return out


def summarise(
    records: Sequence[dict[str, Any]], columns: Sequence[str], seeds: int
) -> list[Row]:
    """One row per (dataset, label), in the order first seen: mean (and std) over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    rows = []
    for (dataset, label), group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        row: dict[str, Any] = {"dataset": dataset}
        for c in columns:
            values = [r["metrics"].get(c) for r in ok]
            values = [v for v in values if v is not None and math.isfinite(v)]
            row[c] = float(np.mean(values)) if values else float("nan")
            if seeds > 1:
                std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
                row[f"{c}_std"] = std
        row["seeds"] = len(ok)
        errors = [r["error"] for r in group if r["status"] != "ok"]
        row["error"] = errors[0] if errors else ""
        rows.append((label, row))
    return rows


def add_published(rows: list[Row], published: Sequence[dict[str, Any]]) -> list[Row]:
    """Our rows with ``<metric> - best published``, each dataset's published rows after."""
    out: list[Row] = []
    datasets = list(dict.fromkeys(row["dataset"] for _, row in rows))
    for dataset in datasets:
        pub = [p for p in published if p["dataset"] == dataset]
        best: dict[str, float] = {}
        for p in pub:
            best[p["metric"]] = min(best.get(p["metric"], math.inf), p["value"])
        for label, row in rows:
            if row["dataset"] == dataset:
                gaps = {
                    f"{m} - best published": row.get(m, math.nan) - v
                    for m, v in best.items()
                }
                out.append((label, {**row, **gaps}))
        for p in pub:
            name = f"{p['model']} [published]"
            out.append(
                (
                    name,
                    {
                        "dataset": dataset,
                        p["metric"]: p["value"],
                        "source": p["source"],
                    },
                )
            )
    return out


def _markdown_rows(rows: list[Row], columns: Sequence[str]) -> list[Row]:
    """``mean ± std`` strings where a ``<metric>_std`` is present."""
    shown = []
    for label, row in rows:
        cells = dict(row)
        for c in columns:
            std = row.get(f"{c}_std")
            if std is not None and math.isfinite(std):
                cells[c] = f"{format_value(row[c])} ± {format_value(std, 2)}"
        shown.append((label, cells))
    return shown


def write_tables(
    exp: Experiment,
    records: Sequence[dict[str, Any]],
    out: Path,
    seeds: int,
    published: Sequence[dict[str, Any]] | None = None,
) -> tuple[list[Row], list[Path]]:
    """Write ``<out>/<experiment>.csv`` and ``.md``; returns the rows and the paths."""
    rows = summarise(records, exp.columns, seeds)
    gaps: list[str] = []
    if published:
        rows = add_published(rows, published)
        gaps = sorted({c for _, r in rows for c in r if c.endswith("best published")})
    extra = [*gaps, "seeds", "error"] + (["source"] if published else [])
    stds = [f"{c}_std" for c in exp.columns] if seeds > 1 else []
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(
        rows, out / f"{exp.name}.csv", ["dataset", *exp.columns, *stds, *extra]
    )
    table = format_markdown(
        _markdown_rows(rows, exp.columns), ["dataset", *exp.columns, *extra]
    )
    md_path = out / f"{exp.name}.md"
    md_path.write_text(f"# {exp.name}: {exp.description}\n\n{table}\n")
    return rows, [csv_path, md_path]
