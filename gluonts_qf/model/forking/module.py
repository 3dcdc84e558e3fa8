"""What every forking-sequence network shares: the encoder, its inputs, its targets."""

from typing import Tuple

import torch
from gluonts.model import Input, InputSpec
from torch import nn

from .encoder import Encoded, ForkingEncoder


class ForkingModel(nn.Module):
    """Base ``nn.Module``: a :class:`ForkingEncoder` plus the input description.

    Subclasses add a head, ``forward(**inputs)`` and
    ``loss(future_target, future_observed_values, **inputs)``, where ``inputs``
    are the tensors named by :meth:`describe_inputs` (GluonTS passes them by
    keyword). Arguments are the encoder's (see :class:`ForkingEncoder`).
    """

    def __init__(self, **encoder_kwargs) -> None:
        super().__init__()
        self.encoder = ForkingEncoder(**encoder_kwargs)
        self.prediction_length = encoder_kwargs["prediction_length"]
        self.num_time_feat = encoder_kwargs["num_time_feat"]
        self.num_cat = len(encoder_kwargs["cardinality"])
        self.num_feat_static_real = encoder_kwargs["num_feat_static_real"]

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
