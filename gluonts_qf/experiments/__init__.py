"""Experiments: run specifications, the model registry, datasets and runs."""

from .runs import prepare, save_run, train_and_backtest
from .spec import RunSpec

__all__ = ["RunSpec", "prepare", "save_run", "train_and_backtest"]
