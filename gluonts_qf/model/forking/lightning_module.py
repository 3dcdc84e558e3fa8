"""One Lightning wrapper for every forking-sequence model: train on ``model.loss``."""

from typing import Optional

import lightning.pytorch as pl
import torch
from gluonts.core.component import validated
from gluonts.itertools import select


class ForkingLightningModule(pl.LightningModule):
    """Train ``model_cls(**model_kwargs)`` by minimising the mean of its ``loss``.

    Subclasses only name their model class (``model_cls``); the objective
    belongs to the model (CRPS for IQF, energy score for MQF2).

    Parameters
    ----------
    model_kwargs
        Keyword arguments of ``model_cls``.
    lr, weight_decay
        Adam's learning rate and weight decay.
    lr_schedule, total_steps
        ``"constant"``: the rate stays ``lr``; ``"cosine"``: it falls to 0
        along a half cosine over ``total_steps`` optimiser steps.
    """

    model_cls: type

    @validated()
    def __init__(
        self,
        model_kwargs: dict,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        lr_schedule: str = "constant",
        total_steps: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.model = self.model_cls(**model_kwargs)
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule, self.total_steps = lr_schedule, total_steps
        self.inputs = self.model.describe_inputs()

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def _loss(self, batch, num_origins=None) -> torch.Tensor:
        return self.model.loss(
            **select(self.inputs, batch),
            future_target=batch["future_target"],
            future_observed_values=batch["future_observed_values"],
            num_origins=num_origins,
        ).mean()

    def training_step(self, batch, batch_idx: int):  # type: ignore[override]
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int):  # type: ignore[override]
        # the forecast of the validation window only, as the predictor makes
        # it (the earlier origins' targets lie in the window's past)
        loss = self._loss(batch, num_origins=1)
        self.log("val_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep torch's random state, so a resumed run draws what this one would."""
        checkpoint["torch_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "torch_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng_state"])

    def configure_optimizers(self):
        adam = torch.optim.Adam(
            self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        if self.lr_schedule == "constant":
            return adam
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
            adam, T_max=max(int(self.total_steps), 1)
        )
        return {
            "optimizer": adam,
            "lr_scheduler": {"scheduler": cosine, "interval": "step"},
        }
