"""What a run leaves in its output folder: predictor, metrics tables, plots."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..evaluation.backtest import REPORTED, BacktestResult
from ..evaluation.tables import format_markdown, write_csv
from .predictors import save_predictor
from .registry import get_model
from .run import PreparedRun, RunResult

#: Columns of the printed and saved results table, in order.
TABLE_COLUMNS = (*REPORTED, "train_seconds", "predict_seconds")


def save_run(run: PreparedRun, result: RunResult, out: str | Path) -> Path:
    """Write ``predictor/``, ``metrics.{json,csv,md}`` and the plots under ``out``."""
    out = check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    save_predictor(result.predictor, out / "predictor")
    report = {**run.describe(), "models": {m: json_safe(v) for m, v in result.rows}}
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_csv(result.rows, out / "metrics.csv")
    (out / "metrics.md").write_text(format_markdown(result.rows, TABLE_COLUMNS) + "\n")
    try:
        save_plots(run, result.backtest, out)
    except ImportError as err:  # matplotlib is an optional extra
        print(f"skipping plots: {err}", file=sys.stderr)
    return out


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a ``Path``; ``ValueError`` if it (or a parent) is not a folder.

    Called before training, so a bad ``--out`` never costs a trained model.
    """
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"output folder {out}: {folder} exists and is not a folder; "
                "choose another --out."
            )
    return out


def save_plots(run: PreparedRun, res: BacktestResult, out: Path) -> None:
    """``fan_chart.png`` (4 series) and ``quantile_function.png`` (first series).

    The quantile-function plot shows a learned curve, so it is drawn only for
    models with ``exact_quantiles`` in the registry (IQF, not MQF2's samples).
    """
    from ..plotting import plot_backtest

    exact = get_model(run.spec.model).exact_quantiles
    plot_backtest(
        res.forecasts,
        res.series,
        out / "fan_chart.png",
        out / "quantile_function.png" if exact else None,
        title=f"{run.spec.dataset}: {run.spec.model} forecasts",
    )


def json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in metrics.items()
    }
