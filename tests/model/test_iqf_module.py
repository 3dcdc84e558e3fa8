"""``IQFModel.loss`` by hand: the masked mean CRPS over origins and steps."""

from __future__ import annotations

import torch
from helpers import tiny_encoder_kwargs

from gluonts_qf import IQFOutput
from gluonts_qf.model.iqf import IQFModel
from gluonts_qf.model.iqf.lightning_module import IQFLightningModule

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


def _seasonal_scale(y: torch.Tensor, season: int) -> torch.Tensor:
    """Mean absolute seasonal difference of each fully observed row, by hand."""
    y = y.double().numpy()
    return torch.tensor(abs(y[:, season:] - y[:, :-season]).mean(-1))


def test_scale_weighting_weighs_each_series_loss_in_the_data_s_own_units():
    """``scale_weighting=1``: the batch's loss is the CRPS in the data's units
    summed over series over their scales summed, so a series 1000 times larger
    decides it; 0: the mean of the scaled losses; 0.5: weights ``sqrt(s)``."""
    torch.manual_seed(0)
    module = IQFLightningModule(
        model_kwargs=dict(
            distr_output=IQFOutput(knot_levels=(0.1, 0.5, 0.9)),
            **tiny_encoder_kwargs(
                prediction_length=T, lags_seq=[1, 2], season_length=2
            ),
        )
    )
    model, inputs = module.model, _inputs(B=3)
    g = torch.Generator().manual_seed(4)
    future = 10 + torch.randn(3, T, generator=g)
    inputs["past_target"][2] *= 1000.0
    future[2] *= 1000.0
    batch = dict(inputs, future_target=future, future_observed_values=torch.ones(3, T))
    # the forecast's CRPS in the data's units, and each series' scale by hand
    args, loc, scale = model.forecast(**inputs)
    distr = model.distr_output.distribution(args, loc=loc, scale=scale)
    crps = distr.crps(future).mean(-1).double()  # (B,), the data's units
    s = _seasonal_scale(inputs["past_target"], 2)  # the window the encoder reads
    got = model.series_scale(inputs["past_target"], inputs["past_observed_values"])
    torch.testing.assert_close(got.double(), s, rtol=1e-5, atol=0)
    module.scale_weighting = 1.0
    weighted = module._loss(batch, num_origins=1).double()
    torch.testing.assert_close(weighted, crps.sum() / s.sum(), rtol=1e-5, atol=0)
    # the large series decides it: within 0.5% of its own scaled loss
    alone = crps[2] / s[2]
    assert abs(weighted / alone - 1) < 5e-3
    module.scale_weighting = 0.0
    plain = module._loss(batch, num_origins=1).double()
    torch.testing.assert_close(plain, (crps / s).mean(), rtol=1e-5, atol=0)
    assert abs(plain / alone - 1) > 0.05  # the small series count as much
    module.scale_weighting = 0.5
    half = module._loss(batch, num_origins=1).double()
    w = s.sqrt()
    torch.testing.assert_close(half, (crps / s * w).sum() / w.sum(), rtol=1e-5, atol=0)
