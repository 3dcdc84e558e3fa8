"""A user's own series in one file: long CSV or parquet, or GluonTS JSON lines.

Long format is one row per series and timestamp, with an id, a timestamp and a
target column (``item_id``, ``timestamp``, ``target`` unless named otherwise),
as GluonTS's ``PandasDataset.from_long_dataframe``, statsforecast's
``unique_id, ds, y`` and AutoGluon's ``TimeSeriesDataFrame`` read them. pandas
reads the file (only the three columns); :func:`long_series` checks it and
builds one GluonTS entry per series (``start``, ``target``, ``item_id``):

- empty cells and NaN are missing observations, and so are timestamps that a
  series skips (its target is NaN there), so every series keeps its own calendar;
- the frequency comes from ``freq`` or, when not given, from the timestamps
  (``pandas.infer_freq`` on the first series);
- anything it cannot use is a ``ValueError`` that names the file and what to
  change: a missing column (listing those present), a non-numeric target (its
  line and value), a timestamp that is not one, the same timestamp twice in a
  series, timestamps off the frequency's grid, an empty or unreadable file.

GluonTS JSON lines (``.jsonl``, ``.json``, ``.json.gz``: one series per line,
``start`` and ``target``) are read by GluonTS's own ``FileDataset``; they carry
no timestamps to infer a frequency from, so ``freq`` is needed.

The whole file is read into memory once, as three columns (ids as categories,
timestamps as ``datetime64``, the target as ``float64``: about 20 bytes a row),
then the series as ``float32`` arrays; ``docs/benchmarks.md`` has the figures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: File suffixes read as long-format tables, and as GluonTS JSON lines.
LONG_SUFFIXES = (".csv", ".csv.gz", ".parquet")
JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
#: Series whose timestamps the frequency is inferred from.
INFER_SERIES = 20


@dataclass(frozen=True)
class Columns:
    """The column names of a long-format file."""

    id: str = "item_id"
    timestamp: str = "timestamp"
    target: str = "target"


def kind_of(path: Path) -> str | None:
    """``"long"``, ``"jsonl"`` or ``None`` (not a data file we read) by suffix."""
    name = path.name.lower()
    if name.endswith(LONG_SUFFIXES):
        return "long"
    if name.endswith(JSON_SUFFIXES):
        return "jsonl"
    return None


def read_long(path: Path, columns: Columns) -> pd.DataFrame:
    """The three columns of a long CSV or parquet file, as pandas reads them."""
    wanted = [columns.id, columns.timestamp, columns.target]
    if len(set(wanted)) < 3:
        raise ValueError(f"{path}: the id, timestamp and target columns must differ.")
    present = _header(path)
    missing = [c for c in wanted if c not in present]
    if missing:
        flags = {columns.id: "--id-column", columns.timestamp: "--timestamp-column"}
        flags[columns.target] = "--target-column"
        hint = ", ".join(f"{flags[c]} for {c!r}" for c in missing)
        raise ValueError(
            f"{path}: no column {', '.join(map(repr, missing))}; the file has "
            f"{', '.join(map(repr, present)) or 'no columns'}: name yours with {hint}."
        )
    try:
        if path.name.lower().endswith(".parquet"):
            frame = pd.read_parquet(path, columns=wanted)
            frame[columns.id] = frame[columns.id].astype("category")
        else:
            # ids as categories and timestamps parsed while reading: a few
            # bytes a row instead of a Python string each
            frame = pd.read_csv(
                path,
                usecols=wanted,
                dtype={columns.id: "category"},
                parse_dates=[columns.timestamp],
            )
    except (OSError, ValueError, ImportError, EOFError) as err:
        raise ValueError(f"cannot read {path}: {_first_line(err)}") from None
    if frame.empty:
        raise ValueError(f"{path} has no rows; it needs one row per series and step.")
    return frame


def _header(path: Path) -> list[str]:
    """The column names of a CSV or parquet file (``ValueError`` if unreadable)."""
    try:
        if path.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; it needs a header row and data.") from None
    except ImportError:
        raise ValueError(
            f"reading {path} needs pyarrow: pip install 'gluonts-qf[files]'."
        ) from None
    except Exception as err:  # a truncated or foreign file: say so, in one line
        raise ValueError(f"cannot read {path}: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return type(err).__name__ + (f": {text.splitlines()[0]}" if text else "")


def _numbers(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The target as float64 (NaN where empty); non-numbers name their line."""
    values = frame[column]
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, line {row + 2}: target {column!r} is {values.iloc[row]!r}, "
            "not a number; leave missing values empty (or NaN)."
        )
    return numeric.to_numpy(dtype=np.float64)


def _timestamps(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The timestamps as datetime64[ns]; a bad or empty one names its line."""
    text = frame[column]
    stamps = text
    if not pd.api.types.is_datetime64_any_dtype(text):  # pandas could not parse all
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = stamps.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = text.iloc[row]
        what = "empty or cut short" if pd.isna(value) else repr(value)
        last = " (the last row: is the file truncated?)" if row == len(text) - 1 else ""
        raise ValueError(
            f"{path}, line {row + 2}: timestamp {column!r} is {what}, not a date "
            f"or time (e.g. 2024-01-31 or 2024-01-31 13:00){last}."
        )
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    return stamps.to_numpy(dtype="datetime64[ns]")


def infer_freq(path: Path, stamps: np.ndarray, starts: np.ndarray) -> str:
    """The pandas frequency of the timestamps, from the first series.

    Sorted timestamps, ``starts``: where each series begins. ``pandas.infer_freq``
    on the first timestamps of up to :data:`INFER_SERIES` series; the most
    common answer wins (a gap at the start of one series does not decide).
    """
    ends = np.r_[starts[1:], len(stamps)]
    found = Counter()
    for a, b in list(zip(starts, ends))[:INFER_SERIES]:
        first = pd.DatetimeIndex(stamps[a : min(b, a + 12)])
        if len(first) < 3:
            continue
        for k in range(len(first) - 2):  # the first run of three that says
            guess = pd.infer_freq(first[k : k + 3])
            if guess is not None:
                found[guess] += 1
                break
    if not found:
        raise ValueError(
            f"{path}: cannot infer the frequency of the timestamps (every series "
            "needs three evenly spaced ones to begin with); pass --freq "
            "(e.g. h, D, W, MS, QS)."
        )
    return found.most_common(1)[0][0]


_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()


def period_freq(freq: str) -> str:
    """The period frequency of a pandas frequency: ``MS`` -> ``M``, ``QS-JAN`` ->
    ``Q-DEC``, ``YS`` -> ``Y`` (GluonTS's series start at periods); others as given.

    ``ValueError`` for a string that is no pandas frequency.
    """
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise ValueError(
            f"--freq {freq!r} is not a pandas frequency (e.g. h, D, W, M)."
        ) from None
    try:
        pd.Period("2000-01-01", freq=offset)
        return freq
    except (ValueError, TypeError):
        pass
    base, _, month = offset.name.partition("-")
    n = "" if offset.n == 1 else str(offset.n)
    if base in ("MS", "BMS", "SMS"):
        return f"{n}M"
    if base in ("QS", "BQS", "YS", "AS", "BYS", "BAS"):
        end = _MONTHS[(_MONTHS.index(month or "JAN") - 1) % 12]
        return f"{n}{'Q' if base.endswith('QS') else 'Y'}-{end}"
    raise ValueError(f"--freq {freq!r} has no period form; use e.g. h, D, W, M, Q, Y.")


def long_series(
    path: Path, frame: pd.DataFrame, columns: Columns, freq: str | None
) -> tuple[list[dict[str, Any]], str]:
    """``(entries, freq)``: one GluonTS entry per series of a long frame.

    Gaps in a series' timestamps become missing values (NaN); see the module.
    """
    target = _numbers(path, frame, columns.target)
    stamps = _timestamps(path, frame, columns.timestamp)
    ids = frame[columns.id]
    codes = ids.cat.codes.to_numpy()
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"{path}, line {row + 2}: the id {columns.id!r} is empty.")
    order = np.lexsort((stamps, codes))  # by series, then time
    codes, stamps, target = codes[order], stamps[order], target[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    freq = period_freq(freq or infer_freq(path, stamps, starts))
    periods = pd.PeriodIndex(pd.DatetimeIndex(stamps), freq=freq)
    ordinal = periods.asi8
    names = ids.cat.categories
    entries = []
    for i, a in enumerate(starts):
        b = starts[i + 1] if i + 1 < len(starts) else len(codes)
        steps = ordinal[a:b] - ordinal[a]
        item = names[codes[a]]
        _check_grid(path, item, steps, periods[a:b], order[a:b], freq)
        values = np.full(int(steps[-1]) + 1, np.nan, dtype=np.float32)
        values[steps] = target[a:b]
        entries.append({"start": periods[a], "target": values, "item_id": item})
    return entries, freq


def _check_grid(
    path: Path,
    item: Any,
    steps: np.ndarray,
    periods: pd.PeriodIndex,
    rows: np.ndarray,
    freq: str,
) -> None:
    """Distinct periods, and not all a multiple of the frequency apart."""
    same = np.flatnonzero(np.diff(steps) == 0)
    if same.size:
        j = same[0]
        lines = sorted(int(r) + 2 for r in rows[j : j + 2])
        raise ValueError(
            f"{path}: series {item!r} has two rows for {periods[j]} (lines "
            f"{lines[0]} and {lines[1]}): the same timestamp twice, or timestamps "
            f"finer than --freq {freq}; keep one row per step, or pass the data's "
            "frequency."
        )
    gaps = np.diff(steps)
    if gaps.size and (step := math.gcd(*map(int, gaps))) > 1:
        raise ValueError(
            f"{path}: the timestamps of series {item!r} are {step} x {freq} apart, "
            f"so they disagree with the frequency {freq}; pass --freq {step}{freq} "
            "(or the data's own frequency)."
        )


def json_lines_series(path: Path, freq: str | None) -> list[dict[str, Any]]:
    """The series of a GluonTS JSON lines file, read by GluonTS's ``FileDataset``."""
    from gluonts.dataset.common import FileDataset

    if freq is None:
        raise ValueError(
            f"{path} is GluonTS JSON lines (a start per series, no timestamps to "
            "infer a frequency from): pass --freq (e.g. h, D, W, MS)."
        )
    try:
        entries = list(FileDataset(path, freq=freq))
    except Exception as err:  # truncated gzip, bad JSON, missing fields
        raise ValueError(f"cannot read {path}: {_first_line(err)}") from None
    if not entries:
        raise ValueError(f"{path} has no series; it needs one JSON object a line.")
    for entry in entries:
        entry["target"] = np.asarray(entry["target"], dtype=np.float32)
    return entries


def check_long_enough(
    entries: Sequence[dict[str, Any]], prediction_length: int, where: str
) -> None:
    """Every series has more steps than the horizon (the backtest holds it out)."""
    for i, entry in enumerate(entries):
        n = np.shape(entry["target"])[-1]
        if n <= prediction_length:
            item = entry.get("item_id", i)
            raise ValueError(
                f"{where}: series {item!r} has {n} steps; the backtest holds out the "
                f"last {prediction_length} (--prediction-length) and needs at least "
                "one step before them: drop the series or shorten the horizon."
            )
