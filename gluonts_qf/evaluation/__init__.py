"""Evaluation: backtests, crossing rate, exact CRPS, quantile loss, joint scores, tables."""

from .backtest import BacktestResult, backtest
from .joint import (
    crps_sum,
    energy_score,
    horizon_correlation,
    sample_energy_score,
    sample_variogram_score,
    series_correlation,
    variogram_score,
)
from .scores import (
    DEFAULT_QUANTILES,
    crossing_rate,
    forecast_crps,
    forecast_quantiles,
    forecast_samples,
    pit_coverage,
    sample_crps,
    weighted_crps,
    weighted_quantile_loss,
)
from .tables import format_markdown, format_table, write_csv

__all__ = [
    "DEFAULT_QUANTILES",
    "BacktestResult",
    "backtest",
    "crossing_rate",
    "crps_sum",
    "energy_score",
    "forecast_crps",
    "forecast_quantiles",
    "forecast_samples",
    "format_markdown",
    "format_table",
    "horizon_correlation",
    "pit_coverage",
    "sample_crps",
    "sample_energy_score",
    "sample_variogram_score",
    "series_correlation",
    "variogram_score",
    "weighted_crps",
    "weighted_quantile_loss",
    "write_csv",
]
