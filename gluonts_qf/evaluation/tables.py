"""Results tables: one row per model, one column per metric."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

Row = tuple[str, Mapping[str, float]]


def format_value(value, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, never in scientific notation
    unless it is tiny; ``nan``/missing as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, (bool, int, str)):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "-"
    if math.isinf(value) or value == 0:
        return f"{value:g}" if value else "0"
    exponent = math.floor(math.log10(abs(value)))
    if exponent < -digits:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(digits - 1 - exponent, 0)}f}"


def _columns(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for _, metrics in rows:
        seen.update(dict.fromkeys(metrics))
    return list(seen)


def _cells(
    rows: Sequence[Row], columns: Sequence[str] | None, digits: int
) -> tuple[list[str], list[list[str]]]:
    cols = _columns(rows, columns)
    body = [
        [str(name)] + [format_value(metrics.get(c), digits) for c in cols]
        for name, metrics in rows
    ]
    return ["model"] + cols, body


def format_table(
    rows: Sequence[Row],
    columns: Sequence[str] | None = None,
    digits: int = 4,
    markdown: bool = False,
) -> str:
    """Format ``(model name, metrics)`` pairs as an aligned table.

    Parameters
    ----------
    rows
        One ``(name, {metric: value})`` per model.
    columns
        Metrics to show, in order; default: every metric, in order of first
        appearance. Missing values show as ``-``.
    digits
        Significant digits of each number.
    markdown
        A GitHub-flavoured markdown table instead of plain text.

    Returns
    -------
    str
        The table, without a trailing newline: model names left-aligned,
        numbers right-aligned.
    """
    header, body = _cells(rows, columns, digits)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |" if markdown else "  ".join(padded)

    if markdown:
        rule = (
            "|"
            + "|".join(
                "-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)
            )
            + "|"
        )
    else:
        rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def format_markdown(
    rows: Sequence[Row], columns: Sequence[str] | None = None, digits: int = 4
) -> str:
    """``format_table(..., markdown=True)``."""
    return format_table(rows, columns, digits, markdown=True)


def write_csv(
    rows: Sequence[Row],
    path: str | Path,
    columns: Sequence[str] | None = None,
) -> Path:
    """Write one line per model (full precision) to ``path``; returns the path."""
    cols = _columns(rows, columns)
    path = Path(path)
    with path.open("w", newline="") as fp:
        writer = csv.writer(fp)
        writer.writerow(["model", *cols])
        for name, metrics in rows:
            writer.writerow([name, *(metrics.get(c, "") for c in cols)])
    return path
