"""MQF2 estimator: forking-sequence encoder with an MQF2 head joint over the horizon."""

from .estimator import MQF2Estimator
from .lightning_module import MQF2LightningModule
from .module import MQF2Model

__all__ = ["MQF2Estimator", "MQF2LightningModule", "MQF2Model"]
