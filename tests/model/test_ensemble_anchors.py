"""The ensemble's member of networks at the other anchor (``"other_anchor"``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_ensemble import (
    _seasonal_series,
    _tiny_network,
    assert_exact_average,
    trained_with_member,
)

from gluonts_qf import IQFEnsembleEstimator
from gluonts_qf.model.ensemble.windows import other_anchor
from gluonts_qf.model.forking.adaptive import AdaptiveChoice
from gluonts_qf.runs.run import seed_everything


class _Trained:
    """A stand-in for a trained network: only its recorded choice."""

    def __init__(self, adaptive) -> None:
        self.choices = {"adaptive": adaptive}


def _choice(anchor, season, context, lags, scores) -> dict:
    return AdaptiveChoice(anchor, season, context, lags, scores, 500).as_dict()


def test_other_anchor_of_each_choice():
    """A seasonal pick gets the last value (its season, context and lags
    kept); a last-value pick the best-scored season that its context and lags
    reach; nothing where no season was tried or none fits, or nothing was
    chosen."""
    seasonal = _choice("seasonal", 24, 168, [24, 48, 72], {1: 0.2, 24: 0.05, 168: 0.06})
    other = other_anchor(_Trained(seasonal))
    assert (other.anchor, other.season_length) == ("last", 24)
    assert (other.context_length, other.lags_seq) == (168, [24, 48, 72])

    last = _choice("last", 1, 52, [1, 2, 3], {1: 0.06, 13: 0.09, 52: 0.08})
    other = other_anchor(_Trained(last))
    assert (other.anchor, other.season_length) == ("seasonal", 52)  # 0.08 < 0.09
    assert (other.context_length, other.lags_seq) == (52, [1, 2, 3])

    short = _choice("last", 1, 20, [1, 2, 3], {1: 0.06, 13: 0.09, 52: 0.08})
    assert other_anchor(_Trained(short)).season_length == 13  # 52 > 20 + 3
    assert other_anchor(_Trained(_choice("last", 1, 4, [1, 2, 3], {1: 0.2}))) is None
    assert other_anchor(_Trained(None)) is None
    assert other_anchor(object()) is None


def test_no_other_anchor_where_the_calendar_season_was_chosen():
    """A seasonal pick at the frequency's own season (GluonTS's: 24 for
    hourly data) is not hedged; one at a longer season (52 for weekly data,
    whose GluonTS season is 1), or without a frequency, is."""
    hourly = _choice("seasonal", 24, 168, [24, 48, 72], {1: 0.2, 24: 0.05})
    assert other_anchor(_Trained(hourly), "h") is None
    assert other_anchor(_Trained(hourly), "D").anchor == "last"
    assert other_anchor(_Trained(hourly)).anchor == "last"
    weekly = _choice("seasonal", 52, 208, [1, 52], {1: 0.2, 52: 0.05})
    assert other_anchor(_Trained(weekly), "W").anchor == "last"
    last = _choice("last", 1, 48, [1, 2, 3], {1: 0.05, 24: 0.06})
    assert other_anchor(_Trained(last), "h").season_length == 24


def test_the_other_anchor_member_is_weighed_averaged_exactly_and_round_trips(
    tmp_path,
):
    """On daily data with a weekly season (GluonTS's season for daily data
    is 1) the network's anchor is the weekly one, so the member's two
    networks (the held-back window's, all the data's) forecast from the last
    value; it is weighed like every member and the forecast is the weighted
    average of the members' quantiles, after a round trip too."""
    predictor, data = trained_with_member(tmp_path, "other_anchor", "D", 7)
    adaptive = predictor.choices["network"]["adaptive"]
    assert (adaptive["anchor"], adaptive["season_length"]) == ("seasonal", 7)
    assert set(predictor.choices["weights"]) == {
        "network",
        "other_anchor",
        "naive_intervals",
    }
    # the window's network and as many of all the data as the network member's
    others = predictor.neural["other_anchor"]
    assert len(others) == len(predictor.networks) == 3
    for net in others:
        assert net.prediction_net.model.encoder.anchor == "last"
    assert_exact_average(predictor, data, "other_anchor", tmp_path)


def test_no_other_anchor_without_a_season(tmp_path):
    """Yearly data try no season: the member is left out (no training for it,
    no weight), and the ensemble is the one without it."""
    rng = np.random.default_rng(0)
    data = [
        {
            "start": pd.Period("1990", freq="Y"),
            "target": 50 + np.cumsum(rng.normal(size=30)),
            "item_id": f"y{i}",
        }
        for i in range(4)
    ]
    est = IQFEnsembleEstimator(
        network=_tiny_network(tmp_path, batches=1, freq="Y", horizon=3),
        members=["other_anchor", "naive_intervals"],
        step=0.1,
    )
    predictor = est.train(data)
    assert set(predictor.choices["weights"]) == {"network", "naive_intervals"}
    assert predictor.neural == {}
    assert len(list(predictor.predict(data))) == 4


def _forecasts(predictor, data, networks=None) -> np.ndarray:
    if networks is not None:
        predictor = networks
    u = [0.05, 0.5, 0.95]
    return np.stack(
        [f.distribution.quantile(u).numpy() for f in predictor.predict(data)]
    )


@pytest.mark.parametrize("freq, period", [("h", 24), ("D", 7)])
def test_the_member_leaves_the_default_networks_as_they_are(tmp_path, freq, period):
    """The member trains after the default's networks, so they are the same
    networks with it or without (a seeded run); on hourly data with a daily
    season, the calendar's own, it is left out and the forecast is the
    default's to every digit."""
    data = _seasonal_series(5, freq=freq, period=period)
    trained = []
    for k, members in enumerate(
        [["naive_intervals"], ["other_anchor", "naive_intervals"]]
    ):
        est = IQFEnsembleEstimator(
            network=_tiny_network(tmp_path / str(k), batches=2, freq=freq),
            members=members,
            step=0.1,
        )
        seed_everything(0)
        trained.append(est.train(data))
    without, with_member = trained
    assert len(with_member.networks) == len(without.networks) == 3
    for a, b in zip(without.networks, with_member.networks):
        np.testing.assert_array_equal(_forecasts(a, data), _forecasts(b, data))
    if freq == "h":
        assert with_member.choices["other_anchor"] is None
        assert "other_anchor" not in with_member.choices["weights"]
        np.testing.assert_array_equal(
            _forecasts(without, data), _forecasts(with_member, data)
        )
    else:
        assert "other_anchor" in with_member.choices["weights"]
        assert with_member.choices["other_anchor"]["anchor"] == "last"


@pytest.mark.parametrize("members", [["other_anchor"], ["feedforward", "other_anchor"]])
def test_other_anchor_members_are_known(tmp_path, members):
    est = IQFEnsembleEstimator(network=_tiny_network(tmp_path, 1), members=members)
    assert "other_anchor" in est.neural
