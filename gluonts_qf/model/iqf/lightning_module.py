"""Lightning wrapper that trains :class:`IQFModel` with the CRPS."""

from ..forking.lightning_module import ForkingLightningModule
from .module import IQFModel


class IQFLightningModule(ForkingLightningModule):
    """Train an :class:`IQFModel` by minimising its closed-form CRPS.

    See :class:`~gluonts_qf.model.forking.ForkingLightningModule` for the arguments.
    """

    model_cls = IQFModel
