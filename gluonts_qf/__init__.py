"""gluonts-qf: learned quantile functions for GluonTS."""

from .distributions import IQF, MQF2, IQFOutput, MQF2Output

__version__ = "0.2.0"
__all__ = ["IQF", "IQFOutput", "MQF2", "MQF2Output", "__version__"]

from .model.ensemble import IQFEnsembleEstimator  # noqa: E402
from .model.iqf import IQFEstimator  # noqa: E402
from .model.mqf2 import MQF2Estimator  # noqa: E402

__all__ += ["IQFEnsembleEstimator", "IQFEstimator", "MQF2Estimator"]
