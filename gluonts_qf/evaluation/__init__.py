"""Evaluation: backtests, crossing rate, exact CRPS, energy and variogram scores, tables."""

from .backtest import BacktestResult, backtest
from .scores import (
    crossing_rate,
    energy_score,
    forecast_crps,
    forecast_quantiles,
    forecast_samples,
    sample_crps,
    sample_energy_score,
    sample_variogram_score,
    variogram_score,
    weighted_crps,
)
from .tables import format_markdown, format_table, write_csv

__all__ = [
    "BacktestResult",
    "backtest",
    "crossing_rate",
    "energy_score",
    "forecast_crps",
    "forecast_quantiles",
    "forecast_samples",
    "format_markdown",
    "format_table",
    "sample_crps",
    "sample_energy_score",
    "sample_variogram_score",
    "variogram_score",
    "weighted_crps",
    "write_csv",
]
