"""The shared direct multi-horizon encoder with forking sequences.

An MQ-RNN-style encoder (Wen et al., 2017, "A Multi-Horizon Quantile Recurrent
Forecaster"; used by Park et al., 2022, Sec. 5): a GRU runs over the scaled
past (target, observed mask, seasonal lags, time features, static embedding)
and every one of the last ``F`` positions is a forecast origin. A global MLP
turns each origin's state into one context per horizon step; a local MLP adds
the known future time features and the anchor of that step (the seasonal-naive
value, the last value or zero).
All origins of a window are trained at once ("forking sequences").
"""

from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import nn


class Encoded(NamedTuple):
    """Encoder outputs.

    Attributes
    ----------
    context
        One vector per origin, shape: (B, F, H).
    horizon
        One vector per origin and horizon step, shape: (B, F, T, H).
    anchor
        Seasonal-naive anchor in scaled units, shape: (B, F, T).
    loc, scale
        Centre and scale of each series (values are ``loc + scale * z``),
        shape: (B, 1) each.
    origins
        Index of each origin in the past window, shape: (F,).
    """

    context: torch.Tensor
    horizon: torch.Tensor
    anchor: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    origins: torch.Tensor


def mean_abs_scale(
    target: torch.Tensor, observed: torch.Tensor, min_scale: float = 1e-10
) -> torch.Tensor:
    """Mean absolute observed value per series; shape: (B, L) -> (B, 1).

    A series with no non-zero observation gets the batch's average scale (or 1),
    so an all-zero or all-missing history never divides by zero.
    """
    total = (target.abs() * observed).sum(-1, keepdim=True)
    count = observed.sum(-1, keepdim=True)
    scale = total / count.clamp(min=1.0)
    ok = scale > min_scale
    default = (scale * ok).sum() / ok.sum().clamp(min=1)
    default = torch.where(default > min_scale, default, torch.ones_like(default))
    return torch.where(ok, scale, default)


def seasonal_diff_scaling(
    target: torch.Tensor, observed: torch.Tensor, season_length: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Centre on the observed mean, scale by the mean absolute seasonal difference.

    shape: (B, L) -> loc (B, 1), scale (B, 1). The scale is the in-sample error
    of seasonal naive (MASE's denominator), so the network's outputs are in
    units of that error whatever the level of the series. A series whose
    seasonal differences are all zero (constant) falls back to the mean
    absolute deviation, then to the mean-absolute scale.
    """
    count = observed.sum(-1, keepdim=True)
    loc = (target * observed).sum(-1, keepdim=True) / count.clamp(min=1.0)
    s = min(max(season_length, 1), max(target.shape[-1] - 1, 1))
    both = observed[:, s:] * observed[:, :-s]
    diff = (target[:, s:] - target[:, :-s]).abs()
    scale = (diff * both).sum(-1, keepdim=True) / both.sum(-1, keepdim=True).clamp(
        min=1.0
    )
    dev = ((target - loc).abs() * observed).sum(-1, keepdim=True) / count.clamp(min=1.0)
    fallback = mean_abs_scale(target, observed)
    tiny = 1e-6 * fallback
    scale = torch.where(scale > tiny, scale, torch.where(dev > tiny, dev, fallback))
    return loc, scale


def fill_leading(target: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Give the steps before each series' first observation its first observed value.

    shape: (B, L) -> (B, L). The past window of a series shorter than the window
    is left-padded with zeros; read as data, those zeros would pull the
    seasonal-naive anchor and the lags to 0. Missing values after the first
    observation arrive imputed and are kept; an all-missing row is unchanged.
    """
    seen = observed.cumsum(-1) > 0  # (B, L)
    first = seen.to(torch.int64).argmax(-1, keepdim=True)  # (B, 1); 0 if none
    return torch.where(seen, target, target.gather(-1, first))


def anchor_offsets(prediction_length: int, season_length: int) -> torch.Tensor:
    """Offsets ``k - s * ceil(k / s)`` (<= 0) of the seasonal-naive value for step k."""
    k = torch.arange(1, prediction_length + 1)
    return k - season_length * torch.div(
        k + season_length - 1, season_length, rounding_mode="floor"
    )


#: What the learned quantile function is relative to (see :class:`ForkingEncoder`).
ANCHORS = ("seasonal", "last", "none")
#: How each series is centred and scaled (see :class:`ForkingEncoder`).
SCALINGS = ("mean", "seasonal")


class ForkingEncoder(nn.Module):
    """GRU encoder with a global/local MLP decoder over all forecast origins.

    Parameters
    ----------
    prediction_length
        Horizon ``T``.
    context_length
        Steps the GRU reads before the first origin.
    num_origins
        Forking origins ``F`` per training window (the last ``F`` steps).
    lags_seq
        Lags (>= 1) of the scaled target fed at every step.
    season_length
        Season of the anchor; ``anchor="seasonal"`` repeats the last season,
        ``"last"`` the last value, ``"none"`` uses zero.
    num_time_feat
        Number of time features per step (past and future).
    cardinality, embedding_dim
        Static categorical features and their embedding size.
    num_feat_static_real
        Static real features.
    hidden_size, num_layers, decoder_hidden, dropout
        Network sizes.
    scaling
        ``"mean"``: divide by the mean absolute value (as GluonTS models do);
        ``"seasonal"``: centre on the mean and divide by the mean absolute
        seasonal difference (see :func:`seasonal_diff_scaling`).
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
        scaling: str,
    ) -> None:
        super().__init__()
        self.scaling = scaling
        self.season_length = season_length
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.num_origins = num_origins
        self.lags_seq = list(lags_seq)
        self.max_lag = max(self.lags_seq, default=0)
        self.anchor = anchor
        self.decoder_hidden = decoder_hidden
        self.register_buffer(
            "offsets",
            anchor_offsets(
                prediction_length, season_length if anchor == "seasonal" else 1
            ),
        )
        self.embeddings = nn.ModuleList(
            nn.Embedding(c, embedding_dim) for c in cardinality
        )
        static_dim = embedding_dim * len(cardinality) + num_feat_static_real
        rnn_in = 2 + len(self.lags_seq) + num_time_feat + static_dim + 1
        self.rnn = nn.GRU(
            rnn_in,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.global_mlp = nn.Sequential(
            nn.Linear(
                hidden_size + static_dim, decoder_hidden * (prediction_length + 1)
            ),
            nn.ReLU(),
        )
        self.local_mlp = nn.Sequential(
            nn.Linear(2 * decoder_hidden + num_time_feat + 1, decoder_hidden),
            nn.ReLU(),
            nn.Linear(decoder_hidden, decoder_hidden),
            nn.ReLU(),
        )

    @property
    def past_length(self) -> int:
        """Length of the past window the encoder reads."""
        return self.max_lag + self.context_length + self.num_origins - 1

    def _static(self, feat_static_cat, feat_static_real) -> torch.Tensor:
        parts = [emb(feat_static_cat[:, i]) for i, emb in enumerate(self.embeddings)]
        return torch.cat(parts + [feat_static_real], dim=-1)  # (B, S)

    def centre_scale(
        self, past_target: torch.Tensor, past_observed_values: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Each series' centre and scale (values are ``loc + scale * z``), as
        :meth:`forward` takes them; shape: (B, L) x 2 -> (B, 1) x 2."""
        obs = past_observed_values
        return self._centre_scale(past_target, fill_leading(past_target, obs), obs)

    def _centre_scale(
        self, target: torch.Tensor, filled: torch.Tensor, observed: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`centre_scale` of ``target`` whose leading gap is ``filled``."""
        if self.scaling == "seasonal":
            return seasonal_diff_scaling(filled, observed, self.season_length)
        return torch.zeros_like(observed[:, :1]), mean_abs_scale(target, observed)

    def forward(
        self,
        feat_static_cat: torch.Tensor,
        feat_static_real: torch.Tensor,
        past_time_feat: torch.Tensor,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        future_time_feat: torch.Tensor,
        num_origins: Optional[int] = None,
    ) -> Encoded:
        """Encode; ``num_origins`` (default all) keeps only the last origins."""
        B, L = past_target.shape
        T, lag0 = self.prediction_length, self.max_lag
        obs = past_observed_values
        # (B, L); missing values arrive imputed, the left padding gets the first value
        filled = fill_leading(past_target, obs)
        loc, scale = self._centre_scale(past_target, filled, obs)  # (B, 1) x 2
        y = (filled - loc) / scale
        static = self._static(feat_static_cat.long(), feat_static_real.float())
        steps = torch.arange(lag0, L, device=y.device)  # (N,)
        lags = [y[:, steps - lag] for lag in self.lags_seq]
        seq = torch.stack(
            [y[:, steps], obs[:, steps], *lags], dim=-1
        )  # (B, N, 2 + lags)
        # a per-series magnitude feature: the scale itself, or the level in units of the scale
        level = (
            torch.log1p(scale)
            if self.scaling == "mean"
            else torch.log1p(loc.abs() / scale)
        )
        ytrend = level.expand(B, len(steps)).unsqueeze(-1)
        seq = torch.cat(
            [
                seq,
                past_time_feat[:, lag0:],
                static.unsqueeze(1).expand(-1, len(steps), -1),
                ytrend,
            ],
            dim=-1,
        )
        out, _ = self.rnn(seq)  # (B, N, H)
        n_orig = num_origins or min(self.num_origins, len(steps))
        origins = steps[-n_orig:]  # (F,)
        context = out[:, -n_orig:]  # (B, F, H)

        # (B, F, H + S) -> (B, F, T + 1, Hd): a shared part and one per horizon
        g = self.global_mlp(
            torch.cat([context, static.unsqueeze(1).expand(-1, n_orig, -1)], -1)
        )
        g = g.reshape(B, n_orig, T + 1, self.decoder_hidden)
        shared, per_step = g[:, :, :1].expand(-1, -1, T, -1), g[:, :, 1:]
        # time features and anchors at origin + k, k = 1..T: (F, T) indices
        ahead = origins.unsqueeze(-1) + torch.arange(1, T + 1, device=y.device)
        time_all = torch.cat(
            [past_time_feat, future_time_feat], dim=1
        )  # (B, L + T, Ft)
        anchor = (
            y[:, origins.unsqueeze(-1) + self.offsets]
            if self.anchor != "none"
            else y.new_zeros(B, n_orig, T)
        )
        local_in = torch.cat(
            [shared, per_step, time_all[:, ahead], anchor.unsqueeze(-1)], -1
        )
        return Encoded(context, self.local_mlp(local_in), anchor, loc, scale, origins)
