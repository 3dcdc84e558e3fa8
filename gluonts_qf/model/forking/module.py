"""What every forking-sequence network shares: the encoder, its inputs, its targets."""

from typing import Tuple

import torch
from gluonts.model import Input, InputSpec
from torch import nn

from .encoder import Encoded, ForkingEncoder


class ForkingModel(nn.Module):
    """Base ``nn.Module``: a :class:`ForkingEncoder` plus the input description.

    Subclasses add a head, ``forecast(**inputs)`` (what :meth:`forward`
    returns) and ``loss(future_target, future_observed_values, **inputs)``,
    where ``inputs`` are the tensors named by :meth:`describe_inputs` (GluonTS
    passes them by keyword). Arguments are the encoder's (see :class:`ForkingEncoder`).
    """

    def __init__(self, **encoder_kwargs) -> None:
        super().__init__()
        self.encoder = ForkingEncoder(**encoder_kwargs)
        self.prediction_length = encoder_kwargs["prediction_length"]
        self.num_time_feat = encoder_kwargs["num_time_feat"]
        self.num_cat = len(encoder_kwargs["cardinality"])
        self.num_feat_static_real = encoder_kwargs["num_feat_static_real"]

    def forward(
        self,
        feat_static_cat: torch.Tensor,
        feat_static_real: torch.Tensor,
        past_time_feat: torch.Tensor,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_time_feat: torch.Tensor,
    ):
        """The forecast of the last origin: each model's :meth:`forecast`.

        The inputs of :meth:`describe_inputs`, named, so GluonTS's predictor
        (which passes them by keyword) and ``torch.jit.trace(model,
        example_kwarg_inputs=...)`` both call it.
        """
        return self.forecast(
            feat_static_cat=feat_static_cat,
            feat_static_real=feat_static_real,
            past_time_feat=past_time_feat,
            past_target=past_target,
            past_observed_values=past_observed_values,
            future_time_feat=future_time_feat,
        )

    def forecast(self, **inputs: torch.Tensor):
        """The model's forecast of the last origin, from the named inputs."""
        raise NotImplementedError

    @property
    def past_length(self) -> int:
        return self.encoder.past_length

    def describe_inputs(self, batch_size: int = 1) -> InputSpec:
        B, L, T = batch_size, self.past_length, self.prediction_length
        return InputSpec(
            {
                "feat_static_cat": Input(shape=(B, self.num_cat), dtype=torch.long),
                "feat_static_real": Input(
                    shape=(B, self.num_feat_static_real), dtype=torch.float
                ),
                "past_time_feat": Input(
                    shape=(B, L, self.num_time_feat), dtype=torch.float
                ),
                "past_target": Input(shape=(B, L), dtype=torch.float),
                "past_observed_values": Input(shape=(B, L), dtype=torch.float),
                "future_time_feat": Input(
                    shape=(B, T, self.num_time_feat), dtype=torch.float
                ),
            },
            torch.zeros,
        )

    def series_scale(
        self, past_target: torch.Tensor, past_observed_values: torch.Tensor
    ) -> torch.Tensor:
        """The encoder's scale of each batch item, shape: (B, L) x 2 -> (B,).

        A loss in scaled units times this scale is in the data's own units.
        """
        return self.encoder.centre_scale(past_target, past_observed_values)[1][:, 0]

    def forking_targets(
        self,
        enc: Encoded,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_target: torch.Tensor,
        future_observed_values: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scaled targets and observed masks of every origin, shape: (B, F, T) each.

        The value ``k`` steps after origin ``o`` is ``(y[o + k] - loc) / scale``.
        """
        T = self.prediction_length
        # (B, L + T) gathered at origin + 1..T -> (B, F, T)
        ahead = enc.origins.unsqueeze(-1) + torch.arange(
            1, T + 1, device=past_target.device
        )
        target = torch.cat([past_target, future_target], dim=1)[:, ahead]
        target = (target - enc.loc.unsqueeze(-1)) / enc.scale.unsqueeze(-1)
        observed = torch.cat([past_observed_values, future_observed_values], dim=1)[
            :, ahead
        ]
        return target, observed
