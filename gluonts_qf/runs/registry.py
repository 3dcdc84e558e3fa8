"""The models a run can train or compare against, by name, with what they can do.

Runs, the command line and the plots look a model up here instead of testing
its name, so adding a model is adding one :class:`ModelEntry` to ``REGISTRY``.
Model code is imported only when a model is built, so listing the names is
cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..evaluation.scores import DEFAULT_QUANTILES


@dataclass(frozen=True)
class ModelEntry:
    """One model: how to build it and what its forecasts offer.

    Attributes
    ----------
    name
        The name runs and the command line use (``--model``, ``--baselines``).
    build
        ``build(freq, prediction_length, **kwargs)``. For a trained model, its
        GluonTS estimator, ``kwargs`` being the run's budget (``trainer_kwargs``,
        ``batch_size``, ``num_batches_per_epoch``, ``lr``) and, for one of ours,
        the run's ``estimator`` settings. For an untrained model, its predictor
        (no ``kwargs``).
    ours
        A gluonts-qf model (a run's ``model``, configured by its ``estimator``
        settings) rather than a baseline (one of a run's ``baselines``).
    trained
        Whether ``build`` returns an estimator to train (else a predictor).
    exact_quantiles
        Forecasts carry a quantile function evaluated exactly at any level, so
        a run also plots that function (``quantile_function.png``).
    joint_samples
        Forecasts are sample paths drawn jointly over the horizon, so the
        energy and variogram scores measure the dependence between steps;
        otherwise the steps are sampled independently or the forecast is one
        point.
    may_fail
        A reference model known to fail in some settings (a GluonTS defect or
        a missing optional dependency); ``gluonts-qf reproduce`` reports its
        error as a row instead of hiding it.
    """

    name: str
    build: Callable[..., Any]
    ours: bool
    trained: bool = True
    exact_quantiles: bool = False
    joint_samples: bool = False
    may_fail: bool = False


def _iqf(freq: str, prediction_length: int, **kwargs: Any):
    from ..model.iqf import IQFEstimator

    return IQFEstimator(freq=freq, prediction_length=prediction_length, **kwargs)


def _mqf2(freq: str, prediction_length: int, **kwargs: Any):
    from ..model.mqf2 import MQF2Estimator

    return MQF2Estimator(freq=freq, prediction_length=prediction_length, **kwargs)


def _iqf_ensemble(freq: str, prediction_length: int, **kwargs: Any):
    """IQFEstimator and statistical members, weighted on held-back windows.

    ``members``, ``step``, ``member_context``, ``windows``, ``network_prior``,
    ``lower_bound``, ``patience``, ``spread``, ``tails``, ``seeds``,
    ``naive_season`` and ``seed_settings`` go to the ensemble, everything else
    (the run's budget and ``estimator`` settings) to its IQF network, whose
    ``lr_schedule`` is ``"cosine"`` unless given.
    """
    from ..model.ensemble import IQFEnsembleEstimator

    own = (
        "members",
        "step",
        "member_context",
        "windows",
        "network_prior",
        "lower_bound",
        "patience",
        "spread",
        "tails",
        "seeds",
        "naive_season",
        "seed_settings",
    )
    own = {k: kwargs.pop(k) for k in own if k in kwargs}
    # the rate falls to 0 over the run (with 30 epochs: docs/benchmarks.md)
    kwargs.setdefault("lr_schedule", "cosine")
    network = _iqf(freq, prediction_length, **kwargs)
    return IQFEnsembleEstimator(network=network, **own)


def _seasonal_naive(freq: str, prediction_length: int):
    """Repeat the last season (of the frequency's usual length)."""
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor
    from gluonts.time_feature import get_seasonality

    return SeasonalNaivePredictor(prediction_length, get_seasonality(freq))


def _deepar(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's DeepAR with its default Student's t output."""
    from gluonts.torch.model.deepar import DeepAREstimator

    return DeepAREstimator(freq=freq, prediction_length=prediction_length, **kwargs)


def _feedforward(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's SimpleFeedForward (Student's t output; it takes no ``freq``)."""
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

    return SimpleFeedForwardEstimator(prediction_length=prediction_length, **kwargs)


def _iqf_output():
    from ..distributions.iqf import IQFOutput

    # the papers' training levels, and their free exponential tails
    return IQFOutput(knot_levels=DEFAULT_QUANTILES, tail_floor=False)


def _deepar_iqf(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's DeepAR with our ``IQFOutput`` as a drop-in (Park et al., Sec. 5)."""
    return _deepar(freq, prediction_length, distr_output=_iqf_output(), **kwargs)


def _feedforward_iqf(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's SimpleFeedForward with our ``IQFOutput`` as a drop-in."""
    return _feedforward(freq, prediction_length, distr_output=_iqf_output(), **kwargs)


def _feedforward_sqf(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's SimpleFeedForward with its spline quantile function (SQF).

    Fails in GluonTS 0.17: ``PiecewiseLinear`` has no ``log_prob`` and the
    output's ``loss`` falls back to it (``NotImplementedError``).
    """
    from gluonts.torch.distributions import PiecewiseLinearOutput

    sqf = PiecewiseLinearOutput(num_pieces=10)
    return _feedforward(freq, prediction_length, distr_output=sqf, **kwargs)


def _quantile_head(freq: str, prediction_length: int, **kwargs: Any):
    """Fixed-level quantile regression that can cross (the MQ-RNN-style baseline).

    GluonTS's Temporal Fusion Transformer with its quantile head at
    :data:`DEFAULT_QUANTILES`: one output per level, trained on the pinball loss,
    nothing keeps them ordered; other levels are interpolated by GluonTS's
    ``QuantileForecast``.
    """
    from gluonts.torch.model.tft import TemporalFusionTransformerEstimator

    return TemporalFusionTransformerEstimator(
        freq=freq,
        prediction_length=prediction_length,
        quantiles=list(DEFAULT_QUANTILES),
        **kwargs,
    )


def _gluonts_isqf(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's own ``ISQFOutput`` in DeepAR (fails in GluonTS 0.17: loc=None)."""
    from gluonts.torch.distributions import ISQFOutput

    isqf = ISQFOutput(num_pieces=3, qk_x=list(DEFAULT_QUANTILES))
    return _deepar(freq, prediction_length, distr_output=isqf, **kwargs)


def _gluonts_mqf2(freq: str, prediction_length: int, **kwargs: Any):
    """GluonTS's ``MQF2MultiHorizonEstimator``, the reference MQF2 (Kan et al.)."""
    from gluonts.torch.model.mqf2 import MQF2MultiHorizonEstimator

    return MQF2MultiHorizonEstimator(
        freq=freq, prediction_length=prediction_length, **kwargs
    )


#: Levels at which the statistical peers report quantiles: the papers' training
#: levels and the untrained tail levels the backtests score.
PEER_LEVELS = (0.01, 0.025, 0.05, *DEFAULT_QUANTILES, 0.95, 0.975, 0.99)


def _peer(name: str) -> Callable[..., Any]:
    """statsforecast's model ``name`` through GluonTS's wrapper (untrained)."""

    def build(freq: str, prediction_length: int):
        from ..model.statistical import statistical_predictor

        return statistical_predictor(name, freq, prediction_length, PEER_LEVELS)

    build.__doc__ = f"statsforecast's {name} (gluonts_qf.model.statistical)."
    return build


REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry("iqf_ensemble", _iqf_ensemble, ours=True, exact_quantiles=True),
        ModelEntry("iqf", _iqf, ours=True, exact_quantiles=True),
        ModelEntry("mqf2", _mqf2, ours=True, joint_samples=True),
        ModelEntry("seasonal_naive", _seasonal_naive, ours=False, trained=False),
        ModelEntry("deepar", _deepar, ours=False, joint_samples=True),
        ModelEntry("feedforward", _feedforward, ours=False),
        ModelEntry("deepar_iqf", _deepar_iqf, ours=False, joint_samples=True),
        ModelEntry(
            "feedforward_iqf", _feedforward_iqf, ours=False, exact_quantiles=True
        ),
        ModelEntry("feedforward_sqf", _feedforward_sqf, ours=False, may_fail=True),
        ModelEntry("quantile_head", _quantile_head, ours=False),
        ModelEntry("gluonts_isqf", _gluonts_isqf, ours=False, may_fail=True),
        ModelEntry("gluonts_mqf2", _gluonts_mqf2, ours=False, joint_samples=True),
        *(
            ModelEntry(name, _peer(name), ours=False, trained=False)
            for name in (
                "naive_intervals",
                "auto_theta",
                "auto_ets",
                "auto_arima",
                "auto_ces",
                "dynamic_theta",
                "drift",
            )
        ),
    )
}


def model_names(ours: bool) -> tuple[str, ...]:
    """Our models (``ours=True``) or the baselines, in registry order."""
    return tuple(name for name, entry in REGISTRY.items() if entry.ours == ours)


def get_model(name: str) -> ModelEntry:
    """The entry of ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(REGISTRY)}.")
    return REGISTRY[name]
