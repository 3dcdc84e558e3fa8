"""Forecasting models built on learned quantile functions."""
