"""Cells scored jointly across series: the ``mqf2`` experiment's multivariate rows.

A cell with ``series: M`` takes the first ``M`` series of a dataset as one
``M``-dimensional series (GluonTS's ``MultivariateGrouper``) and scores every
model of that group the same way, with GluonTS's ``MultivariateEvaluator``:

- ``MQF2Estimator(joint="series", target_dim=M)`` trains on the grouped
  series and draws (S, T, M) samples, joint over steps and series;
- a univariate model (IQF, DeepAR, MQF2 over the horizon, seasonal naive)
  trains on the ``M`` series one by one; its forecasts of the ``M`` series at
  one test date are stacked into one (S, T, M) ``SampleForecast``, independent
  across series by construction.

So ``CRPS_Sum`` (the CRPS of the total over the series at each step, GluonTS's
``m_sum_mean_wQuantileLoss``), the energy and the variogram score of the
whole (T, M) window mean the same in every row of the group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from gluonts.model.forecast import Forecast, SampleForecast

from ..evaluation.scores import forecast_samples


def folder_name(name: str) -> str:
    """``name`` as a file-system friendly folder name (``a (8 series)`` -> ``a_8_series``)."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


@dataclass
class SeriesData:
    """The first ``dim`` series of a dataset, one by one and grouped.

    Attributes
    ----------
    train, test
        The univariate series: ``train`` the first ``dim`` training series,
        ``test`` their test entries date by date (``dim`` entries per date).
    grouped_train, grouped_test
        The same as one ``dim``-dimensional series: one training entry and one
        test entry per test date (targets of shape (dim, length)).
    dim, num_dates
        Number of series and of test dates.
    """

    train: list
    test: list
    grouped_train: list
    grouped_test: list
    dim: int
    num_dates: int


def group_series(train: list, test: list, dim: int) -> SeriesData:
    """Group the first ``dim`` series of a GluonTS dataset's ``train`` and ``test``.

    GluonTS's test split holds, for each test date in turn, one entry per
    training series (e.g. exchange_rate: 8 series x 5 dates); the entries of
    the first ``dim`` series are taken from each date's block.

    Raises
    ------
    ValueError
        If ``dim`` exceeds the number of series, or the test split is not
        ``num_dates`` whole blocks of the training series.
    """
    from gluonts.dataset.multivariate_grouper import MultivariateGrouper

    n = len(train)
    if not 1 <= dim <= n:
        raise ValueError(
            f"series: {dim} asks for more series than the dataset's {n}; "
            f"choose at most {n}."
        )
    if len(test) % n:
        raise ValueError(
            f"cannot group the test split: {len(test)} entries are not whole "
            f"blocks of the {n} training series (one block per test date)."
        )
    num_dates = len(test) // n
    uni_train = list(train[:dim])
    uni_test = [test[d * n + i] for d in range(num_dates) for i in range(dim)]
    grouped_train = list(MultivariateGrouper(max_target_dim=dim)(uni_train))
    grouped_test = list(
        MultivariateGrouper(max_target_dim=dim, num_test_dates=num_dates)(uni_test)
    )
    return SeriesData(uni_train, uni_test, grouped_train, grouped_test, dim, num_dates)


def grouped_frames(grouped_test: list, freq: str) -> list[pd.DataFrame]:
    """Each grouped test entry as a (length, dim) frame indexed by period."""
    frames = []
    for entry in grouped_test:
        target = np.asarray(entry["target"], dtype=np.float64)  # (dim, length)
        start = pd.Period(entry["start"], freq=freq)
        index = pd.period_range(start, periods=target.shape[1], freq=freq)
        frames.append(pd.DataFrame(target.T, index=index))
    return frames


def stack_forecasts(
    forecasts: list[Forecast], dim: int, num_samples: int = 100
) -> list[SampleForecast]:
    """Stack univariate forecasts, ``dim`` per test date, into (S, T, dim) ones.

    ``forecasts`` are ordered date by date (as :func:`group_series`'s
    ``test``); each block of ``dim`` becomes one ``SampleForecast`` whose
    series are independent (each forecast's own samples, or ``num_samples``
    draws from a distribution forecast). A point forecast (one sample, e.g.
    seasonal naive) stays one sample.
    """
    if len(forecasts) % dim:
        raise ValueError(
            f"{len(forecasts)} forecasts are not whole blocks of {dim} series."
        )
    out = []
    for d in range(len(forecasts) // dim):
        block = forecasts[d * dim : (d + 1) * dim]
        samples = [forecast_samples(fc, num_samples) for fc in block]
        size = min(len(s) for s in samples)
        stacked = np.stack([s[:size] for s in samples], axis=-1)  # (S, T, dim)
        out.append(SampleForecast(samples=stacked, start_date=block[0].start_date))
    return out


def backtest_series(
    predictor,
    groups: SeriesData,
    freq: str,
    joint: bool,
    num_samples: int = 100,
    quantiles=None,
):
    """Forecast the group's test dates with ``predictor`` and score them jointly.

    ``joint``: the predictor forecasts the grouped series (MQF2 with
    ``joint="series"``); otherwise it forecasts the series one by one and its
    forecasts are stacked (:func:`stack_forecasts`). Scores:
    :func:`gluonts_qf.evaluation.backtest.multivariate_backtest`.
    """
    from gluonts.evaluation import make_evaluation_predictions

    from ..evaluation.backtest import multivariate_backtest
    from ..evaluation.scores import DEFAULT_QUANTILES

    data = groups.grouped_test if joint else groups.test
    forecast_it, _ = make_evaluation_predictions(
        data, predictor, num_samples=num_samples
    )
    forecasts = list(forecast_it)
    if not joint:
        forecasts = stack_forecasts(forecasts, groups.dim, num_samples)
    return multivariate_backtest(
        forecasts,
        grouped_frames(groups.grouped_test, freq),
        quantiles if quantiles is not None else DEFAULT_QUANTILES,
        num_samples,
    )
