"""Experiments: run specifications, the model registry, datasets and runs."""

from .runs import load_predictor, prepare, save_predictor, save_run, train_and_backtest
from .spec import RunSpec

__all__ = [
    "RunSpec",
    "load_predictor",
    "prepare",
    "save_predictor",
    "save_run",
    "train_and_backtest",
]
