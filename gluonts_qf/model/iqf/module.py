"""The IQF forecaster as a plain ``nn.Module`` (Park et al., 2022, Sec. 5)."""

from typing import Optional, Tuple

import torch

from ...distributions.iqf import IQFOutput
from ..forking.module import ForkingModel


class IQFModel(ForkingModel):
    """Forking-sequence encoder + IQF head.

    The quantile function of step ``k`` is learned relative to the encoder's
    anchor (seasonal naive by default), in the encoder's scaled units (see
    :class:`~gluonts_qf.model.forking.ForkingEncoder`), so an untrained model
    already forecasts around the anchor.

    Parameters
    ----------
    distr_output
        The quantile-function head.
    **encoder_kwargs
        The encoder's arguments (see :class:`~gluonts_qf.model.forking.ForkingEncoder`).
    """

    def __init__(
        self, distr_output: Optional[IQFOutput] = None, **encoder_kwargs
    ) -> None:
        super().__init__(**encoder_kwargs)
        self.distr_output = distr_output or IQFOutput()
        self.args_proj = self.distr_output.get_args_proj(self.encoder.decoder_hidden)
        self.distr_output.init_args_proj(self.args_proj)

    def forecast(
        self, **inputs: torch.Tensor
    ) -> Tuple[Tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        """IQF arguments for the next ``T`` steps of the last origin.

        ``inputs``: the tensors of :meth:`describe_inputs`, by name. Returns
        ``(distr_args, loc, scale)``: args of batch shape (B, T), loc (B, T),
        scale (B, 1), as GluonTS's distribution forecast generator expects.
        """
        enc = self.encoder(**inputs, num_origins=1)
        args = self.args_proj(enc.horizon[:, 0])  # (B, 1, T, H) -> (B, T, ...)
        return args, enc.loc + enc.anchor[:, 0] * enc.scale, enc.scale

    def loss(
        self,
        future_target: torch.Tensor,
        future_observed_values: torch.Tensor,
        num_origins: Optional[int] = None,
        **inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Mean CRPS in scaled units over the origins and steps; shape: (B,).

        ``future_target`` and ``future_observed_values``: (B, T); ``inputs``:
        the tensors of :meth:`describe_inputs`, by name; ``num_origins``
        (default all) scores the last origins only (1: the forecast of
        ``future_target`` alone, as the predictor makes it).
        """
        enc = self.encoder(**inputs, num_origins=num_origins)
        target, observed = self.forking_targets(
            enc,
            inputs["past_target"],
            inputs["past_observed_values"],
            future_target,
            future_observed_values,
        )  # (B, F, T) each
        distr = self.distr_output.distribution(
            self.args_proj(enc.horizon), loc=enc.anchor
        )
        crps = distr.crps(torch.where(observed > 0, target, enc.anchor))  # (B, F, T)
        return (crps * observed).sum((-1, -2)) / observed.sum((-1, -2)).clamp(min=1.0)
