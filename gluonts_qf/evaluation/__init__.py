"""Evaluation: backtests, crossing rate, exact CRPS and results tables."""

from .metrics import (
    BacktestResult,
    backtest,
    crossing_rate,
    forecast_crps,
    forecast_quantiles,
    sample_crps,
    weighted_crps,
)
from .tables import format_markdown, format_table, write_csv

__all__ = [
    "BacktestResult",
    "backtest",
    "crossing_rate",
    "forecast_crps",
    "forecast_quantiles",
    "format_markdown",
    "format_table",
    "sample_crps",
    "weighted_crps",
    "write_csv",
]
