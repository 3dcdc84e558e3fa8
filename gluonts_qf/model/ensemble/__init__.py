"""An IQF network and statistical forecasters, averaged level by level in
quantile space with weights chosen on held-back windows (an exact IQF again)."""

from .estimator import IQFEnsembleEstimator
from .predictor import QuantileEnsemblePredictor

__all__ = ["IQFEnsembleEstimator", "QuantileEnsemblePredictor"]
