"""The IQF forecaster as a plain ``nn.Module`` (Park et al., 2022, Sec. 5)."""

from typing import List, Optional, Tuple

import torch

from ...distributions.iqf import IQFOutput
from .._module import ForkingModel


class IQFModel(ForkingModel):
    """Forking-sequence encoder + IQF head.

    The quantile function of step ``k`` is learned relative to the seasonal-naive
    anchor, in units of the series' mean absolute value, so an untrained model
    already forecasts around seasonal naive.

    Parameters
    ----------
    freq
        Not used by the network; kept for describing inputs.
    prediction_length, context_length, num_origins, lags_seq, season_length,
    anchor, num_time_feat, cardinality, embedding_dim, num_feat_static_real,
    hidden_size, num_layers, decoder_hidden, dropout
        See :class:`~gluonts_qf.model.encoder.ForkingEncoder`.
    distr_output
        The quantile-function head.
    """

    def __init__(
        self,
        prediction_length: int,
        context_length: int,
        num_origins: int,
        lags_seq: List[int],
        season_length: int,
        anchor: str,
        num_time_feat: int,
        cardinality: List[int],
        embedding_dim: int,
        num_feat_static_real: int,
        hidden_size: int,
        num_layers: int,
        decoder_hidden: int,
        dropout: float,
        distr_output: Optional[IQFOutput] = None,
        scaling: str = "mean",
    ) -> None:
        super().__init__(
            prediction_length,
            context_length,
            num_origins,
            lags_seq,
            season_length,
            anchor,
            num_time_feat,
            cardinality,
            embedding_dim,
            num_feat_static_real,
            hidden_size,
            num_layers,
            decoder_hidden,
            dropout,
            scaling,
        )
        self.distr_output = distr_output or IQFOutput()
        self.args_proj = self.distr_output.get_args_proj(decoder_hidden)
        self.distr_output.init_args_proj(self.args_proj)

    def forward(
        self,
        feat_static_cat: torch.Tensor,
        feat_static_real: torch.Tensor,
        past_time_feat: torch.Tensor,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_time_feat: torch.Tensor,
    ) -> Tuple[Tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        """IQF arguments for the next ``T`` steps of the last origin.

        Returns ``(distr_args, loc, scale)``: args of batch shape (B, T),
        loc (B, T), scale (B, 1), as GluonTS's distribution forecast generator expects.
        """
        enc = self.encoder(
            feat_static_cat,
            feat_static_real,
            past_time_feat,
            past_target,
            past_observed_values,
            future_time_feat,
            num_origins=1,
        )
        args = self.args_proj(enc.horizon[:, 0])  # (B, 1, T, H) -> (B, T, ...)
        return args, enc.loc + enc.anchor[:, 0] * enc.scale, enc.scale

    def loss(
        self,
        feat_static_cat: torch.Tensor,
        feat_static_real: torch.Tensor,
        past_time_feat: torch.Tensor,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_time_feat: torch.Tensor,
        future_target: torch.Tensor,
        future_observed_values: torch.Tensor,
    ) -> torch.Tensor:
        """Mean CRPS in scaled units over all origins and steps; shape: (B,)."""
        enc = self.encoder(
            feat_static_cat,
            feat_static_real,
            past_time_feat,
            past_target,
            past_observed_values,
            future_time_feat,
        )
        target, observed = self.forking_targets(
            enc,
            past_target,
            past_observed_values,
            future_target,
            future_observed_values,
        )  # (B, F, T) each
        distr = self.distr_output.distribution(
            self.args_proj(enc.horizon), loc=enc.anchor
        )
        crps = distr.crps(torch.where(observed > 0, target, enc.anchor))  # (B, F, T)
        return (crps * observed).sum((-1, -2)) / observed.sum((-1, -2)).clamp(min=1.0)
