"""The shared estimator signature: written once, seen everywhere."""

from __future__ import annotations

import inspect
import pydoc

import pytest
from gluonts.core import serde

from gluonts_qf import IQFEstimator, MQF2Estimator
from gluonts_qf.model.forking import ForkingEncoder, ForkingEstimator
from gluonts_qf.model.forking.signature import merged_signature

ESTIMATORS = (IQFEstimator, MQF2Estimator)


def _params(fn) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(fn).parameters.items()
        if name not in ("self", "kwargs")
    }


SHARED = _params(ForkingEstimator.__init__)
OWN = {
    IQFEstimator: {"knot_levels", "num_pieces", "tol", "tail_floor", "calibration"},
    MQF2Estimator: {
        "picnn_hidden_size",
        "picnn_num_layers",
        "picnn_context_dim",
        "picnn_rank",
        "es_num_samples",
        "beta",
        "eps",
        "threshold_input",
        "num_parallel_samples",
        "joint",
        "target_dim",
        "objective",
    },
}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_shared_argument_with_the_same_default_and_type(cls):
    params = _params(cls.__init__)
    assert set(params) == set(SHARED) | OWN[cls]
    for name, shared in SHARED.items():
        assert params[name].default == shared.default, name
        assert params[name].annotation == shared.annotation, name
    # the two required arguments come first, positionally usable
    assert list(params)[:2] == ["freq", "prediction_length"]
    est = cls("h", 6, hidden_size=8) if cls is IQFEstimator else cls("h", 6)
    assert est.freq == "h" and est.prediction_length == 6


def test_both_estimators_share_the_same_arguments():
    iqf, mqf2 = _params(IQFEstimator.__init__), _params(MQF2Estimator.__init__)
    common = set(iqf) & set(mqf2)
    assert common == set(SHARED)
    for name in common:
        assert iqf[name].default == mqf2[name].default, name


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pydantic_model_help_and_docstring_see_every_argument(cls):
    fields = cls.__init__.Model.__fields__
    assert set(fields) == set(SHARED) | OWN[cls]
    with pytest.raises(ValueError):  # pydantic checks the shared arguments too
        cls(freq="h", prediction_length=6, hidden_size=1.5)
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for name in set(SHARED) | OWN[cls]:
        assert name in text, name
    # the docstring documents the shared arguments once, after the own ones
    doc = cls.__doc__
    assert doc.index("cache_data") > doc.index("Parameters")
    assert doc.count("\nscaling\n") == 1


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_serde_round_trip_keeps_shared_and_own_arguments(cls):
    own = {"num_pieces": 2} if cls is IQFEstimator else {"picnn_rank": 2}
    est = cls(freq="h", prediction_length=6, hidden_size=12, cache_data=False, **own)
    again = serde.decode(serde.encode(est))
    assert type(again) is cls
    assert again.__init_args__ == est.__init_args__
    assert again.encoder_kwargs() == est.encoder_kwargs()
    assert again.cache_data is False and again.encoder_settings["hidden_size"] == 12


def test_encoder_settings_reach_the_encoder_unchanged():
    """Every estimator argument the encoder also takes is passed through by name
    (so a new encoder setting needs only the estimator and encoder signatures)."""
    est = IQFEstimator(
        freq="h", prediction_length=6, hidden_size=12, dropout=0.25, scaling="mean"
    )
    kwargs = est.encoder_kwargs()
    assert set(kwargs) == set(inspect.signature(ForkingEncoder).parameters)
    assert (kwargs["hidden_size"], kwargs["dropout"], kwargs["scaling"]) == (
        12,
        0.25,
        "mean",
    )
    ForkingEncoder(**kwargs)  # builds


def test_merged_signature_rejects_clashes_and_missing_kwargs():
    def shared(self, freq: str, size: int = 1):
        pass

    def clash(self, size: int = 2, **kwargs):
        pass

    def closed(self, other: int = 2):
        pass

    def fine(self, other: int = 2, **kwargs):
        pass

    with pytest.raises(TypeError, match="re-declares"):
        merged_signature(clash, shared)
    with pytest.raises(TypeError, match="kwargs"):
        merged_signature(closed, shared)
    assert list(merged_signature(fine, shared).parameters) == [
        "self",
        "freq",
        "other",
        "size",
    ]
