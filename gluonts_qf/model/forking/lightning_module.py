"""One Lightning wrapper for every forking-sequence model: train on ``model.loss``."""

from typing import Dict, Optional

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
    weight_averaging
        ``None`` (default), or the decay ``d`` of an exponential moving
        average of the weights: after optimiser step ``t`` (from 0) the
        average moves to ``a <- m a + (1 - m) w`` with ``m = min(d, (1 + t) /
        (10 + t))`` (so the first steps are not averaged with the random
        start). Validation, every checkpoint's ``state_dict`` and the trained
        module hold the average; the weights being trained travel in the
        checkpoint's ``"current_model_state"``, so a resumed run continues
        from them.
    scale_weighting
        Exponent ``p`` of each series' scale (:meth:`ForkingModel.series_scale`)
        weighing its loss in a batch: ``sum(s^p l) / sum(s^p)``. 0 (default):
        every window counts alike, in scaled units; 1: the loss in the data's
        own units, as the weighted quantile loss and the CRPS summed over
        series weigh them. Validation is weighed the same way.
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
        weight_averaging: Optional[float] = None,
        scale_weighting: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = self.model_cls(**model_kwargs)
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule, self.total_steps = lr_schedule, total_steps
        self.weight_averaging = weight_averaging
        self.scale_weighting = scale_weighting
        self.inputs = self.model.describe_inputs()
        #: the average of the weights (names as in ``state_dict``), once trained
        self.averaged: Optional[Dict[str, torch.Tensor]] = None

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def _loss(self, batch, num_origins=None) -> torch.Tensor:
        loss = self.model.loss(
            **select(self.inputs, batch),
            future_target=batch["future_target"],
            future_observed_values=batch["future_observed_values"],
            num_origins=num_origins,
        )  # (B,)
        if not self.scale_weighting:
            return loss.mean()
        with torch.no_grad():
            weight = self.model.series_scale(
                batch["past_target"], batch["past_observed_values"]
            ).pow(self.scale_weighting)
        return (loss * weight).sum() / weight.sum()

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

    # -- weight averaging ----------------------------------------------------
    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.weight_averaging is None:
            return
        params = dict(self.named_parameters())
        if self.averaged is None:
            self.averaged = {k: p.detach().clone() for k, p in params.items()}
            return
        t = self.trainer.global_step - 1  # the step just taken, from 0
        keep = min(self.weight_averaging, (1 + t) / (10 + t))
        for k, p in params.items():
            self.averaged[k].lerp_(p.detach(), 1 - keep)

    @torch.no_grad()
    def _swap_average(self) -> None:
        """Exchange the trained weights and their average (no-op without one)."""
        if self.averaged is None:
            return
        for k, p in self.named_parameters():
            held = p.detach().clone()
            p.copy_(self.averaged[k])
            self.averaged[k] = held

    def on_validation_epoch_start(self) -> None:
        self._swap_average()

    def on_validation_epoch_end(self) -> None:
        self._swap_average()

    def on_train_end(self) -> None:
        """The trained module holds the average."""
        if self.averaged is not None:
            self._swap_average()
            self.averaged = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep torch's random state, so a resumed run draws what this one would;
        with weight averaging, the average is the checkpoint's ``state_dict``
        and the trained weights its ``"current_model_state"``."""
        checkpoint["torch_rng_state"] = torch.get_rng_state()
        if self.averaged is not None:
            trained = checkpoint["state_dict"]
            checkpoint["current_model_state"] = trained
            checkpoint["state_dict"] = {**trained, **self.averaged}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A resumed run trains on from the weights being trained (Lightning
        loads ``state_dict`` after this hook) and keeps averaging."""
        if "torch_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng_state"])
        if "current_model_state" in checkpoint:
            names = dict(self.named_parameters())
            average = checkpoint["state_dict"]
            self.averaged = {k: average[k].clone() for k in names}
            checkpoint["state_dict"] = checkpoint["current_model_state"]

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
