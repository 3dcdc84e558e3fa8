"""The model registry: names, look-ups, and capabilities that match real forecasts."""

from __future__ import annotations

import dataclasses

import pytest
from gluonts.model.forecast import SampleForecast
from gluonts.model.seasonal_naive import SeasonalNaivePredictor

from gluonts_qf.distributions.iqf import IQF
from gluonts_qf.runs import RunSpec, prepare, registry
from gluonts_qf.runs.registry import REGISTRY, ModelEntry, get_model
from gluonts_qf.runs.run import fit, make_estimator


@pytest.fixture(scope="module")
def tiny_run(data_dir):
    """Four m4_hourly series, one batch of one epoch: enough to get forecasts."""
    spec = RunSpec(
        dataset="m4_hourly",
        data_dir=data_dir,
        epochs=1,
        batches_per_epoch=1,
        batch_size=8,
        max_series=4,
        baselines=[],
        quiet=True,
    )
    return prepare(spec)


def test_names_and_lookup():
    assert registry.model_names(ours=True) == ("iqf_ensemble", "iqf", "mqf2")
    assert registry.model_names(ours=False) == (
        "seasonal_naive",
        "deepar",
        "feedforward",
        "deepar_iqf",
        "feedforward_iqf",
        "feedforward_sqf",
        "quantile_head",
        "gluonts_isqf",
        "gluonts_mqf2",
        "naive_intervals",
        "auto_theta",
        "auto_ets",
        "auto_arima",
        "auto_ces",
        "dynamic_theta",
        "drift",
    )
    assert get_model("mqf2") is REGISTRY["mqf2"]
    with pytest.raises(ValueError, match="unknown model 'arima'; choose from iqf"):
        get_model("arima")


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if not e.may_fail])
def test_capabilities_match_the_forecasts(name, tiny_run, tmp_path):
    entry = REGISTRY[name]
    predictor, seconds = fit(name, tiny_run, tmp_path)
    assert (seconds > 0) == entry.trained
    forecast = next(iter(predictor.predict(tiny_run.test[:1])))
    assert len(forecast.index) == tiny_run.prediction_length
    exact = isinstance(getattr(forecast, "distribution", None), IQF)
    assert exact == entry.exact_quantiles
    paths = isinstance(forecast, SampleForecast) and forecast.samples.shape[0] > 1
    assert paths == entry.joint_samples


@pytest.mark.parametrize(
    ("name", "error"),
    [("gluonts_isqf", TypeError), ("feedforward_sqf", NotImplementedError)],
)
def test_may_fail_marks_the_gluonts_defects(name, error, tiny_run, tmp_path):
    """GluonTS 0.17's ISQF and SQF outputs cannot train: the entries say so.

    Should a GluonTS release fix them, this fails: drop ``may_fail`` then.
    """
    assert REGISTRY[name].may_fail
    with pytest.raises(error):
        fit(name, tiny_run, tmp_path)


def test_untrained_model_has_no_estimator(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="not trained"):
        make_estimator("seasonal_naive", tiny_run, tmp_path)


def test_one_entry_adds_a_model(tiny_run, tmp_path, monkeypatch):
    """A new baseline is one registry entry: specs accept it, runs build it."""

    def daily_naive(freq: str, prediction_length: int):
        return SeasonalNaivePredictor(prediction_length, season_length=24)

    entry = ModelEntry("daily_naive", daily_naive, ours=False, trained=False)
    monkeypatch.setitem(REGISTRY, "daily_naive", entry)
    spec = RunSpec(dataset="m4_hourly", baselines="daily_naive").validate()
    assert spec.baselines == ["daily_naive"]
    predictor, seconds = fit("daily_naive", tiny_run, tmp_path)
    assert isinstance(predictor, SeasonalNaivePredictor) and seconds == 0.0
    with pytest.raises(ValueError, match="model must be one of"):
        RunSpec(dataset="m4_hourly", model="daily_naive").validate()


def test_the_default_ensembles_network_trains_on_a_falling_rate(tiny_run, tmp_path):
    """``iqf_ensemble``'s network gets the cosine rate unless the run gives one;
    the run's budget reaches it as its epochs."""
    est = make_estimator("iqf_ensemble", tiny_run, tmp_path)
    assert est.network.lr_schedule == "cosine"
    assert est.network.trainer_kwargs["max_epochs"] == tiny_run.spec.epochs
    given = prepare(
        dataclasses.replace(tiny_run.spec, estimator={"lr_schedule": "constant"})
    )
    assert make_estimator("iqf_ensemble", given, tmp_path).network.lr_schedule == (
        "constant"
    )
    assert RunSpec(dataset="m4_hourly").validate().epochs == 30
    settings = [{}, {"scale_weighting": 1.0}]
    given = prepare(
        dataclasses.replace(tiny_run.spec, estimator={"seed_settings": settings})
    )
    assert make_estimator("iqf_ensemble", given, tmp_path).seed_settings == settings


def test_each_model_trains_its_own_default_budget():
    """Without ``epochs`` a run trains the model's own: 30 for the ensemble and
    IQF, 10 for MQF2 (30 made it worse); a given number wins, and validating
    again keeps it."""
    assert RunSpec(dataset="m4_hourly", model="iqf").validate().epochs == 30
    spec = RunSpec(dataset="m4_hourly", model="mqf2").validate()
    assert spec.epochs == 10 and spec.validate().epochs == 10
    assert RunSpec(dataset="m4_hourly", model="mqf2", epochs=7).validate().epochs == 7
