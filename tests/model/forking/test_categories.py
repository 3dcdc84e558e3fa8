"""Series ids (``feat_static_cat``): ``cardinality="auto"`` and the check of
the ids a model forecasts."""

import numpy as np
import pandas as pd
import pytest
from gluonts.dataset.common import ListDataset
from helpers import trainer_kwargs

from gluonts_qf import IQFEstimator
from gluonts_qf.model.forking.estimator import categories
from gluonts_qf.runs.run import seed_everything

H = 4
START = pd.Period("2021-01-01 00:00", freq="h")


def _series(target, cats=None) -> dict:
    entry = {"start": START, "target": np.asarray(target, dtype=float)}
    if cats is not None:
        entry["feat_static_cat"] = cats
    return entry


@pytest.mark.parametrize(
    "cats, expected",
    [
        ([[0], [3], [1]], [4]),  # the largest id + 1, ids need not all occur
        ([[2, 0], [0, 5], [1, 1]], [3, 6]),  # each column apart
        ([[0], None, [1]], None),  # a series without ids: none are used
        ([[0], [1, 2]], None),  # columns that disagree: none are used
        ([[], []], None),
    ],
)
def test_categories(cats, expected):
    data = [_series([1.0, 2.0], c) for c in cats]
    assert categories(data) == expected


def _wavy(seed: int, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10 + np.sin(np.arange(n) / 3) + 0.3 * rng.normal(size=n)


#: A network small enough to train in a second; embeddings of 3 numbers.
TINY = dict(context_length=8, anchor="last", hidden_size=8, decoder_hidden=4)
TINY.update(embedding_dim=3, batch_size=8, num_batches_per_epoch=4)


def _estimator(tmp_path, **kwargs) -> IQFEstimator:
    return IQFEstimator(
        "h", H, trainer_kwargs=trainer_kwargs(tmp_path, 1), **TINY, **kwargs
    )


def test_auto_embeds_the_ids_of_the_training_data(tmp_path):
    """``cardinality="auto"`` builds one embedding row per id (largest + 1) and
    the forecasts depend on the id: the same history under two ids gives two
    forecasts, under one id the same one; without ids none are used."""
    seed_everything(0)
    train = ListDataset(
        [_series(_wavy(i), [c]) for i, c in enumerate([0, 4, 2])], freq="h"
    )
    est = _estimator(tmp_path, cardinality="auto")
    predictor = est.train(train)
    assert est.__init_args__["cardinality"] == "auto"  # the estimator is unchanged
    (embedding,) = predictor.prediction_net.model.encoder.embeddings
    assert tuple(embedding.weight.shape) == (5, 3)
    history = _wavy(9)
    same = ListDataset([_series(history, [c]) for c in (0, 4, 4)], freq="h")
    a, b, c = (f.quantile(0.5) for f in predictor.predict(same))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(b, c)

    no_ids = ListDataset([_series(_wavy(i)) for i in range(3)], freq="h")
    predictor = _estimator(tmp_path, cardinality="auto").train(no_ids)
    (embedding,) = predictor.prediction_net.model.encoder.embeddings
    assert tuple(embedding.weight.shape) == (1, 3)  # the constant dummy id


@pytest.mark.parametrize(
    "cats, match",
    [
        ([3], r"feat_static_cat\[0\] = 3, outside the 0..2"),
        ([-1], r"feat_static_cat\[0\] = -1, outside the 0..2"),
        ([0, 1], r"the model embeds 1 categorical column"),
        (None, r"the model embeds 1 categorical column"),
    ],
)
def test_an_unknown_id_is_a_clear_error(cats, match):
    """A series whose id the model has no embedding for: ``ValueError`` naming
    it, not an index error inside the embedding."""
    est = IQFEstimator(freq="h", prediction_length=H, cardinality=[3])
    predictor = est.create_predictor(
        est.create_transformation(), est.create_lightning_module()
    )
    data = ListDataset([dict(_series(_wavy(0), cats), item_id="x")], freq="h")
    with pytest.raises(ValueError, match=match):
        list(predictor.predict(data))
    ok = ListDataset([_series(_wavy(0), [2])], freq="h")
    assert len(list(predictor.predict(ok))) == 1
