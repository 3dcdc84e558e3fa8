"""``IQFModel.loss`` by hand: the masked mean CRPS over origins and steps."""

from __future__ import annotations

import torch
from helpers import tiny_encoder_kwargs

from gluonts_qf import IQFOutput
from gluonts_qf.model.iqf import IQFModel

T, L = 4, 24


def _model() -> IQFModel:
    torch.manual_seed(0)
    return IQFModel(
        distr_output=IQFOutput(knot_levels=(0.1, 0.5, 0.9)),
        **tiny_encoder_kwargs(prediction_length=T, lags_seq=[1, 2], season_length=2),
    )


def _inputs(B: int = 2) -> dict:
    g = torch.Generator().manual_seed(1)
    return dict(
        feat_static_cat=torch.zeros(B, 1, dtype=torch.long),
        feat_static_real=torch.zeros(B, 1),
        past_time_feat=torch.zeros(B, L, 1),
        past_target=10 + torch.randn(B, L, generator=g).cumsum(-1),
        past_observed_values=torch.ones(B, L),
        future_time_feat=torch.zeros(B, T, 1),
    )


def test_loss_is_the_mean_crps_over_observed_values_only():
    model, inputs = _model(), _inputs()
    future = 10 + torch.randn(2, T, generator=torch.Generator().manual_seed(2))
    observed = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    loss = model.loss(future, observed, **inputs)
    # garbage where nothing is observed changes nothing
    garbage = torch.where(observed > 0, future, torch.full_like(future, 1e6))
    torch.testing.assert_close(model.loss(garbage, observed, **inputs), loss)
    # by hand: CRPS of every (origin, step) pair, averaged over the observed ones
    enc = model.encoder(**inputs)
    target, mask = model.forking_targets(
        enc, inputs["past_target"], inputs["past_observed_values"], future, observed
    )
    distr = model.distr_output.distribution(
        model.args_proj(enc.horizon), loc=enc.anchor
    )
    crps = distr.crps(torch.where(mask > 0, target, enc.anchor))  # (B, F, T)
    want = torch.stack(
        [crps[b][mask[b] > 0].mean() for b in range(2)]
    )  # the last origin misses the unobserved future step, earlier ones see it too
    torch.testing.assert_close(loss, want)
    assert bool((mask == 0).any()) and loss.shape == (2,)
    # marking the garbage as observed does change the loss
    assert (model.loss(garbage, torch.ones(2, T), **inputs) > 1e3).all()


def test_loss_of_the_last_origin_is_the_crps_of_the_forecast_itself():
    """``num_origins=1`` (what validation scores) is the mean CRPS, in units of
    the series' scale, of the distribution the predictor forecasts."""
    model, inputs = _model(), _inputs()
    future = 10 + torch.randn(2, T, generator=torch.Generator().manual_seed(3))
    loss = model.loss(future, torch.ones(2, T), num_origins=1, **inputs)
    args, loc, scale = model.forecast(**inputs)
    distr = model.distr_output.distribution(args, loc=loc, scale=scale)
    want = (distr.crps(future) / scale).mean(-1)
    torch.testing.assert_close(loss, want)
    # all origins: a different figure (the earlier ones forecast the past)
    assert not torch.allclose(model.loss(future, torch.ones(2, T), **inputs), loss)
