"""Lightning wrapper that trains :class:`IQFModel` with the CRPS."""

from .._lightning import ForkingLightningModule
from .module import IQFModel


class IQFLightningModule(ForkingLightningModule):
    """Train an :class:`IQFModel` by minimising its closed-form CRPS.

    See :class:`~gluonts_qf.model._lightning.ForkingLightningModule` for the arguments.
    """

    model_cls = IQFModel
