"""``IQFEstimator``: GluonTS estimator for the forking-sequence IQF forecaster."""

from typing import Sequence

from gluonts.pydantic import pydantic

from ...distributions.iqf import IQFOutput
from ..forking.estimator import ForkingEstimator
from ..forking.signature import with_shared_arguments
from .lightning_module import IQFLightningModule

DEFAULT_KNOTS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98)


@with_shared_arguments
class IQFEstimator(ForkingEstimator):
    """Direct multi-horizon forecaster whose output is a learned quantile function.

    An MQ-RNN-style forking-sequence encoder (GRU + global/local MLPs) emits one
    IQF per horizon step (Park et al., 2022, Sec. 5), trained with the closed-form
    CRPS on every origin of each window. Forecasts are distribution forecasts:
    ``forecast.quantile(0.37)`` is exact, and samples are available through
    ``forecast.to_sample_forecast()``.

    Parameters
    ----------
    knot_levels, num_pieces, tol
        The IQF head (see :class:`~gluonts_qf.IQFOutput`).
    """

    lightning_module_cls = IQFLightningModule

    def __init__(
        self,
        knot_levels: Sequence[float] = DEFAULT_KNOTS,
        num_pieces: pydantic.StrictInt = 1,
        tol: float = 1e-4,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.distr_output = IQFOutput(
            knot_levels=knot_levels, num_pieces=num_pieces, tol=tol
        )
