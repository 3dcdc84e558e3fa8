"""The application: what the ``gluonts-qf`` command runs.

``spec`` (a run's settings and config files), ``registry`` (the models a run
trains or compares against), ``data`` (datasets by name or folder), ``run``
(training and backtests), ``outputs`` (what a run writes), ``predictors``
(saving and loading predictors), ``arguments`` and ``commands`` (the
``train``, ``forecast`` and ``decide`` commands).
"""

from .outputs import save_run
from .predictors import load_predictor, save_predictor
from .run import prepare, train_and_backtest
from .spec import RunSpec

__all__ = [
    "RunSpec",
    "load_predictor",
    "prepare",
    "save_predictor",
    "save_run",
    "train_and_backtest",
]
