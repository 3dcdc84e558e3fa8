"""Pure tensor helpers of the shared encoder."""

import math

import pytest
import torch
from helpers import tiny_encoder_kwargs

from gluonts_qf.model.forking import ForkingEncoder, ForkingModel
from gluonts_qf.model.forking.encoder import anchor_offsets, fill_leading


def test_fill_leading_hand_values():
    # rows: left padding then data; a missing value after the first observation
    # (already imputed upstream, kept); nothing observed (unchanged)
    target = torch.tensor(
        [[0.0, 0.0, 5.0, 6.0], [3.0, 3.0, 4.0, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    observed = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    )
    expected = torch.tensor(
        [[5.0, 5.0, 5.0, 6.0], [3.0, 3.0, 4.0, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    torch.testing.assert_close(fill_leading(target, observed), expected)


def test_anchor_offsets_hand_values():
    # step k repeats the value s * ceil(k / s) steps before it (seasonal naive)
    assert anchor_offsets(5, 3).tolist() == [-2, -1, 0, -2, -1]
    assert anchor_offsets(4, 1).tolist() == [0, 0, 0, 0]  # last value
    assert anchor_offsets(2, 24).tolist() == [-23, -22]


def _kwargs(anchor: str = "seasonal", season: int = 3) -> dict:
    """A tiny encoder: horizon 5, 8 context steps, 3 origins, one lag."""
    return tiny_encoder_kwargs(anchor=anchor, season_length=season)


def _series(start: int, stop: int) -> torch.Tensor:
    """``t ** 1.5`` for t in [start, stop): distinct, non-periodic values."""
    return torch.arange(start, stop, dtype=torch.float64).pow(1.5).float()


def _inputs(L: int = 20, T: int = 5) -> dict:
    """The GluonTS inputs of one series y_t = t ** 1.5, t = 1..L."""
    return dict(
        feat_static_cat=torch.zeros(1, 1, dtype=torch.long),
        feat_static_real=torch.zeros(1, 1),
        past_time_feat=torch.zeros(1, L, 1),
        past_target=_series(1, L + 1).unsqueeze(0),
        past_observed_values=torch.ones(1, L),
        future_time_feat=torch.zeros(1, T, 1),
    )


@pytest.mark.parametrize("anchor, season", [("seasonal", 3), ("last", 3)])
def test_anchor_is_the_naive_forecast_from_each_origin(anchor, season):
    torch.manual_seed(0)
    inputs = _inputs()
    out = ForkingEncoder(**_kwargs(anchor, season))(**inputs)
    raw = out.loc.unsqueeze(-1) + out.scale.unsqueeze(-1) * out.anchor  # (1, F, T)
    y, s = inputs["past_target"][0], season if anchor == "seasonal" else 1
    assert out.origins.tolist() == [17, 18, 19]  # the last F positions of the past
    for f, o in enumerate(out.origins.tolist()):
        for k in range(1, 6):
            # the naive forecast from origin o for step o + k: y[o + k - s ceil(k / s)]
            want = y[o + k - s * math.ceil(k / s)]
            assert raw[0, f, k - 1].item() == pytest.approx(want.item(), rel=1e-5)


def test_forking_targets_are_the_values_after_each_origin():
    torch.manual_seed(0)
    model, inputs = ForkingModel(**_kwargs()), _inputs()
    out = model.encoder(**inputs)
    future = _series(21, 26).unsqueeze(0)  # the 5 steps after the past window
    target, observed = model.forking_targets(
        out,
        inputs["past_target"],
        inputs["past_observed_values"],
        future,
        torch.ones(1, 5),
    )
    full = torch.cat([inputs["past_target"][0], future[0]])
    for f, o in enumerate(out.origins.tolist()):
        want = (full[o + 1 : o + 6] - out.loc[0]) / out.scale[0]
        torch.testing.assert_close(target[0, f], want)
    assert observed.shape == (1, 3, 5) and bool((observed == 1).all())
