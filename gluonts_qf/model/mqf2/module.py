"""The MQF2 forecaster as a plain ``nn.Module`` (Kan et al., 2022, Sec. 4)."""

from typing import Optional, Tuple

import torch
from gluonts.model import Input, InputSpec

from ...distributions.mqf2 import MQF2, MQF2Output
from ..forking.encoder import Encoded
from ..forking.module import ForkingModel


def fold_series(x: torch.Tensor) -> torch.Tensor:
    """A multivariate batch's series into the batch, series-major within each
    item: (B, L, M) -> (B, M, L) -> (B * M, L)."""
    B, L, M = x.shape
    return x.transpose(1, 2).reshape(B * M, L)


class MQF2Model(ForkingModel):
    """Forking-sequence encoder + MQF2 head, joint over the horizon of each series.

    Kan et al. (2022), Eq. (5)-(7): ``y = loc + scale * grad phi(x; h)``,
    ``x ~ N(0, I_T)``, with a PICNN potential ``phi`` whose context ``h``
    comes from the encoder (the origin's state and its per-step features,
    flattened over the horizon). As in :class:`~gluonts_qf.model.iqf.IQFModel`,
    values are in the encoder's scaled units relative to its anchor:
    ``y_k = loc + scale * (anchor_k + z_k)``. Trained on every forking origin
    with the head's objective (energy score or likelihood).

    Parameters
    ----------
    distr_output
        The MQF2 head; its ``dim`` must be ``prediction_length`` x series.
    num_parallel_samples
        Samples per series that ``forward`` draws.
    target_dim
        Series of a multivariate target (``joint="series"``); ``None``: univariate.
    **encoder_kwargs
        The encoder's arguments (see :class:`~gluonts_qf.model.forking.ForkingEncoder`).
    """

    def __init__(
        self,
        distr_output: Optional[MQF2Output] = None,
        num_parallel_samples: int = 100,
        target_dim: Optional[int] = None,
        **encoder_kwargs,
    ) -> None:
        # each series of a multivariate target gets its own embedding
        cardinality = list(encoder_kwargs.pop("cardinality")) + (
            [target_dim] if target_dim else []
        )
        super().__init__(cardinality=cardinality, **encoder_kwargs)
        prediction_length = self.prediction_length
        hidden_size = encoder_kwargs["hidden_size"]
        decoder_hidden = encoder_kwargs["decoder_hidden"]
        self.target_dim = target_dim
        self.num_series = target_dim or 1
        dim = prediction_length * self.num_series
        # the estimator builds distr_output with this dim
        self.distr_output = distr_output or MQF2Output(dim=dim)
        self.num_parallel_samples = num_parallel_samples
        self.args_proj = self.distr_output.get_args_proj(
            self.num_series * (hidden_size + prediction_length * decoder_hidden)
        )

    def describe_inputs(self, batch_size: int = 1) -> InputSpec:
        spec = super().describe_inputs(batch_size)
        if self.target_dim is None:
            return spec
        B, L, M = batch_size, self.past_length, self.target_dim
        inputs = dict(spec.items())
        for name in ("past_target", "past_observed_values"):
            inputs[name] = Input(shape=(B, L, M), dtype=torch.float)
        return InputSpec(inputs, torch.zeros)

    def _encode(
        self, num_origins: Optional[int] = None, **inputs: torch.Tensor
    ) -> Tuple[Encoded, torch.Tensor, torch.Tensor]:
        """Encode each series; returns ``(enc, past_target, past_observed)``.

        ``inputs``: the tensors of :meth:`describe_inputs`, by name. A
        multivariate target (B, L, M) is folded into the batch: every output
        has batch B * M (series-major within each item), and the series index
        is one more static category.
        """
        if self.target_dim is None:
            enc = self.encoder(**inputs, num_origins=num_origins)
            return enc, inputs["past_target"], inputs["past_observed_values"]
        B, _, M = inputs["past_target"].shape
        target, observed = (
            fold_series(inputs[name])
            for name in ("past_target", "past_observed_values")
        )
        series = torch.arange(M, device=target.device).repeat(B).unsqueeze(-1)
        cat = inputs["feat_static_cat"].repeat_interleave(M, 0)
        enc = self.encoder(
            feat_static_cat=torch.cat([cat, series], -1),
            feat_static_real=inputs["feat_static_real"].repeat_interleave(M, 0),
            past_time_feat=inputs["past_time_feat"].repeat_interleave(M, 0),
            past_target=target,
            past_observed_values=observed,
            future_time_feat=inputs["future_time_feat"].repeat_interleave(M, 0),
            num_origins=num_origins,
        )
        return enc, target, observed

    def series_scale(
        self, past_target: torch.Tensor, past_observed_values: torch.Tensor
    ) -> torch.Tensor:
        """The encoder's scale of each batch item, shape: (B,); of a
        multivariate item (B, L, M), the mean of its M series' scales."""
        if self.target_dim is None:
            return super().series_scale(past_target, past_observed_values)
        B, _, M = past_target.shape
        _, scale = self.encoder.centre_scale(
            fold_series(past_target), fold_series(past_observed_values)
        )
        return scale.reshape(B, M).mean(-1)

    def _joint(self, x: torch.Tensor) -> torch.Tensor:
        """Per-series values to joint vectors: (B * M, F, T) -> (B, F, T * M)."""
        M = self.num_series
        if M == 1:
            return x
        BM, F, T = x.shape
        # (B, M, F, T) -> (B, F, T, M) -> (B, F, T * M): step-major, series-minor
        return x.reshape(BM // M, M, F, T).permute(0, 2, 3, 1).reshape(-1, F, T * M)

    def _args(self, enc: Encoded) -> Tuple[torch.Tensor]:
        """``(context,)`` per origin: context shape (B, F, C)."""
        BM, F, T, Hd = enc.horizon.shape
        M = self.num_series
        # (BM, F, H) + (BM, F, T, Hd) -> (BM, F, X = H + T * Hd)
        features = torch.cat([enc.context, enc.horizon.reshape(BM, F, T * Hd)], -1)
        # (B, M, F, X) -> (B, F, M, X) -> (B, F, M * X)
        features = features.reshape(BM // M, M, F, -1).transpose(1, 2)
        return self.args_proj(features.reshape(BM // M, F, -1))

    def forecast(
        self, num_samples: Optional[int] = None, **inputs: torch.Tensor
    ) -> torch.Tensor:
        """Joint samples of the next ``T`` steps of the last origin.

        Shape: (B, S, T), or (B, S, T, M) for a multivariate target; ``S`` is
        ``num_samples`` (default ``num_parallel_samples``); ``inputs``: the
        tensors of :meth:`describe_inputs`, by name.
        """
        enc, _, _ = self._encode(num_origins=1, **inputs)
        loc = self._joint(enc.loc.unsqueeze(-1) + enc.scale.unsqueeze(-1) * enc.anchor)
        scale = self._joint(enc.scale.unsqueeze(-1).expand_as(enc.anchor))
        distr: MQF2 = self.distr_output.distribution(
            self._args(enc), loc=loc, scale=scale, picnn=self.args_proj.picnn
        )  # batch (B, 1), event (T * M,)
        S = num_samples or self.num_parallel_samples
        samples = distr.rsample(torch.Size([S]))[:, :, 0]  # (S, B, T * M)
        samples = samples.transpose(0, 1)  # (B, S, T * M)
        if self.target_dim is None:
            return samples
        return samples.reshape(*samples.shape[:2], -1, self.target_dim)

    def loss(
        self,
        future_target: torch.Tensor,
        future_observed_values: torch.Tensor,
        num_origins: Optional[int] = None,
        **inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Mean objective in scaled units over the origins; shape: (B,).

        The head's objective (:class:`~gluonts_qf.MQF2Output`): the energy
        score, whose norms run over the observed values of each origin's joint
        vector (origins with nothing observed are left out of the mean), or the
        negative log-likelihood, of the origins whose joint vector is fully
        observed only (the others are left out of the mean).
        ``future_target`` and ``future_observed_values``: (B, T), or (B, T, M)
        for a multivariate target; ``inputs``: the tensors of
        :meth:`describe_inputs`, by name; ``num_origins`` (default all) scores
        the last origins only (1: the forecast of ``future_target`` alone).
        """
        enc, target, observed = self._encode(num_origins=num_origins, **inputs)
        if self.target_dim is not None:  # (B, T, M) -> (B * M, T)
            T = future_target.shape[1]
            future_target = future_target.transpose(1, 2).reshape(-1, T)
            future_observed_values = future_observed_values.transpose(1, 2).reshape(
                -1, T
            )
        target, observed = self.forking_targets(
            enc, target, observed, future_target, future_observed_values
        )  # (B * M, F, T) each
        observed = self._joint((observed > 0).to(target.dtype)) > 0  # (B, F, T * M)
        anchor = self._joint(enc.anchor)
        target = torch.where(observed, self._joint(target), anchor)
        loss = self.distr_output.loss(
            target,
            self._args(enc),
            loc=anchor,
            observed=observed,
            picnn=self.args_proj.picnn,
        )  # (B, F)
        counted = self.distr_output.counted(observed).to(loss.dtype)  # (B, F)
        return (loss * counted).sum(-1) / counted.sum(-1).clamp(min=1.0)
