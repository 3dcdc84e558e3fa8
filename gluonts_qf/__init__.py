"""gluonts-qf: learned quantile functions for GluonTS."""

from .distributions import IQF, IQFOutput

__version__ = "0.1.0"
__all__ = ["IQF", "IQFOutput", "__version__"]

from .model.iqf import IQFEstimator  # noqa: E402

__all__ += ["IQFEstimator"]
