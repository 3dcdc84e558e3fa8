"""Lightning wrapper that trains :class:`MQF2Model` on its head's objective."""

from ..forking.lightning_module import ForkingLightningModule
from .module import MQF2Model


class MQF2LightningModule(ForkingLightningModule):
    """Train an :class:`MQF2Model` by minimising its energy score or NLL (Kan et al., 2022).

    See :class:`~gluonts_qf.model.forking.ForkingLightningModule` for the arguments.
    """

    model_cls = MQF2Model
