"""What torch and GluonTS expect of a distribution and a network, kept by ours.

``validate_args`` checks the parameters (``arg_constraints``) and the values
given to ``cdf``/``log_prob``/``icdf`` against ``support``; ``expand`` broadcasts
a distribution to a larger batch; ``torch.jit.trace`` of a GluonTS model with
our head, and of our own networks, gives bit-identical outputs.
"""

from __future__ import annotations

import pytest
import torch
from gluonts.torch.model.deepar import DeepARModel

from gluonts_qf import IQF, MQF2, IQFEstimator, IQFOutput, MQF2Estimator
from gluonts_qf.distributions.calibrated import LevelMap, with_map
from gluonts_qf.nn import PICNN

F64 = torch.float64
LEVELS = torch.tensor([0.1, 0.5, 0.9], dtype=F64)


def _iqf(pieces: int = 1, **overrides) -> IQF:
    """An IQF of batch (2,), knots (0, 1, 3) and (1, 2, 2.5), loc/scale set."""
    values = torch.tensor([[0.0, 1.0, 3.0], [1.0, 2.0, 2.5]], dtype=F64)
    args = dict(
        knot_levels=LEVELS,
        knot_values=values,
        beta_l=torch.tensor([1.0, 2.0], dtype=F64),
        beta_r=torch.tensor([0.5, 3.0], dtype=F64),
        loc=torch.tensor([10.0, -1.0], dtype=F64),
        scale=torch.tensor([2.0, 0.5], dtype=F64),
    )
    if pieces > 1:
        shares = torch.softmax(torch.randn(2, 2, pieces, dtype=F64), -1)
        args.update(level_shares=shares, value_shares=shares.flip(-1))
    args.update(overrides)
    return IQF(**args)


@pytest.mark.parametrize("pieces", [1, 3])
def test_expand_broadcasts_every_parameter(pieces):
    torch.manual_seed(0)
    d = _iqf(pieces)
    big = d.expand((4, 2))
    assert type(big) is IQF and big.batch_shape == (4, 2)
    u = torch.tensor([0.03, 0.3, 0.7, 0.99], dtype=F64)
    q = d.quantile(u)  # (2, 4)
    torch.testing.assert_close(big.quantile(u), q.expand(4, 2, 4))
    y = torch.tensor([9.0, 0.0], dtype=F64)
    torch.testing.assert_close(big.cdf(y), d.cdf(y).expand(4, 2))
    torch.testing.assert_close(big.crps(y), d.crps(y).expand(4, 2))
    assert big.sample((5,)).shape == (5, 4, 2)


def test_expand_keeps_a_level_map():
    m = LevelMap([0.5], [0.6])
    d = with_map(_iqf(), m).expand((3, 2))
    assert d.level_map is m
    want = _iqf().icdf(torch.tensor(0.6, dtype=F64)).expand(3, 2)
    torch.testing.assert_close(d.icdf(torch.tensor(0.5, dtype=F64)), want)


@pytest.mark.parametrize(
    "bad",
    [
        {"knot_values": torch.tensor([[0.0, 1.0, 0.5], [1.0, 2.0, 3.0]], dtype=F64)},
        {"beta_l": torch.tensor([1.0, -2.0], dtype=F64)},
        {"beta_r": torch.tensor([0.0, 1.0], dtype=F64)},
        {"scale": torch.tensor([1.0, 0.0], dtype=F64)},
        {"loc": torch.tensor([float("nan"), 0.0], dtype=F64)},
        {
            "level_shares": torch.full((2, 2, 2), 0.7, dtype=F64),
            "value_shares": torch.full((2, 2, 2), 0.5, dtype=F64),
        },
    ],
    ids=["knots", "beta_l", "beta_r", "scale", "loc", "shares"],
)
def test_validate_args_rejects_bad_parameters(bad):
    with pytest.raises(ValueError, match="to satisfy the constraint"):
        _iqf(**bad, validate_args=True)
    _iqf(**bad)  # unchecked by default (the head's parameterisation is valid)


def test_validate_args_checks_values_and_levels():
    d = _iqf(validate_args=True)
    nan = torch.tensor([float("nan"), 0.0], dtype=F64)
    for method in (d.cdf, d.log_prob):
        with pytest.raises(ValueError, match="support"):
            method(nan)
    with pytest.raises(ValueError, match=r"levels must lie in \[0, 1\]"):
        d.icdf(torch.tensor(1.5, dtype=F64))
    good = _iqf(pieces=2, validate_args=True)
    assert torch.isfinite(good.log_prob(torch.tensor([10.0, 0.0], dtype=F64))).all()
    assert good.expand((3, 2))._validate_args  # kept by expand


def _mqf2(validate_args: bool = False, scale=1.0) -> MQF2:
    torch.manual_seed(0)
    net = PICNN(3, 4, 8, 2).to(F64)
    context = torch.randn(2, 4, dtype=F64)
    return MQF2(net, context, scale=scale, validate_args=validate_args)


def test_mqf2_expand_and_validate_args():
    d = _mqf2()
    big = d.expand((5, 2))
    assert big.batch_shape == (5, 2) and big.event_shape == (3,)
    assert big.rsample((4,)).shape == (4, 5, 2, 3)
    y = torch.zeros(2, 3, dtype=F64)
    torch.testing.assert_close(big.log_prob(y), d.log_prob(y).expand(5, 2))
    with pytest.raises(ValueError, match="to satisfy the constraint"):
        _mqf2(validate_args=True, scale=-1.0)
    with pytest.raises(ValueError, match="support"):
        _mqf2(validate_args=True).log_prob(torch.full((2, 3), float("nan"), dtype=F64))


def test_jit_trace_of_deepar_with_iqf_output_is_bit_identical():
    """GluonTS's own jit test, with our head (``num_pieces=2``: the shares'
    normaliser must stay a Python float under tracing)."""
    torch.manual_seed(0)
    model = DeepARModel(
        freq="1H",
        context_length=10,
        prediction_length=3,
        num_feat_dynamic_real=1,
        num_feat_static_real=1,
        num_feat_static_cat=1,
        cardinality=[2],
        scaling=True,
        distr_output=IQFOutput(num_pieces=2),
    )
    inputs = tuple(model.describe_inputs().zeros().values())
    torch.manual_seed(0)
    eager = model(*inputs)
    traced = torch.jit.trace(model, inputs)
    torch.manual_seed(0)
    assert torch.equal(eager, traced(*inputs))


@pytest.mark.parametrize("cls", [IQFEstimator, MQF2Estimator])
def test_our_networks_trace_bit_identically(cls):
    est = cls(freq="H", prediction_length=4, hidden_size=8, decoder_hidden=8)
    model = est.create_lightning_module().model.eval()
    inputs = dict(model.describe_inputs(batch_size=2).zeros())
    torch.manual_seed(0)
    inputs["past_target"] = torch.rand_like(inputs["past_target"]) + 1.0
    inputs["past_observed_values"] = torch.ones_like(inputs["past_observed_values"])
    with torch.no_grad():
        torch.manual_seed(1)
        eager = torch.utils._pytree.tree_leaves(model(**inputs))
        traced = torch.jit.trace(model, example_kwarg_inputs=inputs)
        torch.manual_seed(1)
        again = torch.utils._pytree.tree_leaves(traced(**inputs))
    assert len(eager) == len(again)
    for a, b in zip(eager, again):
        assert torch.equal(a, b)
