"""``check_estimator`` itself on sample forecasts (GluonTS's DeepAR).

The IQF tests exercise its distribution-forecast path; this one its
sample-forecast path (seeded sampling, bit-identical after serde), which the
MQF2 estimator will rely on.
"""

import numpy as np
import pandas as pd
from common import check_estimator
from gluonts.dataset.common import ListDataset
from gluonts.model.forecast import SampleForecast
from gluonts.torch.model.deepar import DeepAREstimator


def test_check_estimator_on_sample_forecasts(tmp_path):
    rng = np.random.default_rng(0)
    start = pd.Period("2021-03-01 00:00", freq="h")
    data = ListDataset(
        [
            {
                "start": start,
                "target": 5 + np.sin(np.arange(60)) + rng.normal(size=60),
                "item_id": i,
            }
            for i in range(4)
        ],
        freq="h",
    )

    def factory(**common):
        return DeepAREstimator(
            freq="h",
            prediction_length=6,
            context_length=6,
            hidden_size=4,
            num_layers=1,
            num_parallel_samples=10,
            batch_size=4,
            **common,
        )

    out = check_estimator(factory, data, tmp_path, num_samples=10)
    assert all(isinstance(fc, SampleForecast) for fc in out.forecasts)
    assert out.forecasts[0].samples.shape == (10, 6)
