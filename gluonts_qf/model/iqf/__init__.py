"""IQF estimator: direct multi-horizon forecaster with an IQF head."""

from .estimator import IQFEstimator
from .lightning_module import IQFLightningModule
from .module import IQFModel

__all__ = ["IQFEstimator", "IQFLightningModule", "IQFModel"]
