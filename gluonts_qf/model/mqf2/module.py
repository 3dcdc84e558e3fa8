"""The MQF2 forecaster as a plain ``nn.Module`` (Kan et al., 2022, Sec. 4)."""

from typing import List, Optional

import torch

from ...distributions.mqf2 import MQF2, MQF2Output
from .._module import ForkingModel
from ..encoder import Encoded


class MQF2Model(ForkingModel):
    """Forking-sequence encoder + MQF2 head, joint over the horizon of each series.

    Kan et al. (2022), Eq. (5)-(7): ``y = loc + scale * grad phi(x; h)``,
    ``x ~ N(0, I_T)``, with a PICNN potential ``phi`` whose context ``h``
    comes from the encoder (the origin's state and its per-step features,
    flattened over the horizon). As in :class:`~gluonts_qf.model.iqf.IQFModel`,
    values are in the encoder's scaled units relative to the seasonal-naive
    anchor: ``y_k = loc + scale * (anchor_k + z_k)``. Trained with the energy
    score on every forking origin.

    Parameters
    ----------
    prediction_length, context_length, num_origins, lags_seq, season_length,
    anchor, num_time_feat, cardinality, embedding_dim, num_feat_static_real,
    hidden_size, num_layers, decoder_hidden, dropout, scaling
        See :class:`~gluonts_qf.model.encoder.ForkingEncoder`.
    distr_output
        The MQF2 head; its ``dim`` must be ``prediction_length``.
    num_parallel_samples
        Samples per series that ``forward`` draws.
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
        distr_output: Optional[MQF2Output] = None,
        scaling: str = "mean",
        num_parallel_samples: int = 100,
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
        self.distr_output = distr_output or MQF2Output(dim=prediction_length)
        if self.distr_output.dim != prediction_length:
            raise ValueError(
                f"MQF2Output(dim={self.distr_output.dim}) does not match "
                f"prediction_length={prediction_length}; the joint dimension D of "
                "one series' forecast is its horizon."
            )
        if num_parallel_samples < 1:
            raise ValueError(
                f"num_parallel_samples must be >= 1, got {num_parallel_samples!r}."
            )
        self.num_parallel_samples = int(num_parallel_samples)
        self.args_proj = self.distr_output.get_args_proj(
            hidden_size + prediction_length * decoder_hidden
        )

    def _args(self, enc: Encoded):
        """``(context, picnn)`` per origin: context shape (B, F, C)."""
        B, F, T, Hd = enc.horizon.shape
        # (B, F, H) + (B, F, T, Hd) -> (B, F, H + T * Hd)
        features = torch.cat([enc.context, enc.horizon.reshape(B, F, T * Hd)], -1)
        return self.args_proj(features)

    def forward(
        self,
        feat_static_cat: torch.Tensor,
        feat_static_real: torch.Tensor,
        past_time_feat: torch.Tensor,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_time_feat: torch.Tensor,
        num_samples: Optional[int] = None,
    ) -> torch.Tensor:
        """Joint samples of the next ``T`` steps of the last origin, shape: (B, S, T).

        ``S`` is ``num_samples`` (default ``num_parallel_samples``).
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
        loc = enc.loc + enc.scale * enc.anchor[:, 0]  # (B, T)
        distr: MQF2 = self.distr_output.distribution(
            self._args(enc),
            loc=loc.unsqueeze(1),
            scale=enc.scale.unsqueeze(1),
        )  # batch (B, 1), event (T,)
        S = num_samples or self.num_parallel_samples
        samples = distr.rsample(torch.Size([S]))  # (S, B, 1, T)
        return samples[:, :, 0].transpose(0, 1)  # (S, B, T) -> (B, S, T)

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
        """Mean energy score in scaled units over the origins; shape: (B,).

        Norms run over the observed steps of each origin's horizon; origins
        with no observed step are left out of the mean.
        """
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
        observed = observed > 0
        target = torch.where(observed, target, enc.anchor)
        es = self.distr_output.loss(
            target, self._args(enc), loc=enc.anchor, observed=observed
        )  # (B, F)
        counted = observed.any(-1).to(es.dtype)  # (B, F)
        return (es * counted).sum(-1) / counted.sum(-1).clamp(min=1.0)
