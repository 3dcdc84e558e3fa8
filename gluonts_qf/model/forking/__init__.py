"""The forking-sequence layer shared by the IQF and MQF2 forecasters.

``encoder`` (the network), ``module`` (the ``nn.Module`` base with its inputs and
targets), ``lightning_module`` (training on the model's own loss),
``estimator`` (shared arguments, data checks, training), ``arguments`` (their
validation and defaults), ``adaptive`` (the settings chosen from the data),
``data`` (transformation, windows, batches), ``training`` (data across
processes and restarts), ``predictor`` and ``signature`` (the shared
``@validated()`` signature of every forking estimator).
"""

from .encoder import ANCHORS, SCALINGS, Encoded, ForkingEncoder
from .estimator import ForkingEstimator, check_dataset
from .lightning_module import ForkingLightningModule
from .module import ForkingModel
from .predictor import ForkingPredictor
from .signature import with_shared_arguments

__all__ = [
    "ANCHORS",
    "SCALINGS",
    "Encoded",
    "ForkingEncoder",
    "ForkingEstimator",
    "ForkingLightningModule",
    "ForkingModel",
    "ForkingPredictor",
    "check_dataset",
    "with_shared_arguments",
]
