"""The backtest: forecast the test windows, score them, one flat metrics dict.

``backtest`` runs GluonTS's own evaluation (``make_evaluation_predictions`` and
``Evaluator``) and adds the scores of :mod:`gluonts_qf.evaluation.scores` and
:mod:`gluonts_qf.evaluation.joint`, so
every number in a results table comes from one place.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from gluonts.model.forecast import Forecast

from ..checks import check_levels
from .joint import energy_score, variogram_score
from .scores import DEFAULT_QUANTILES, crossing_rate, pit_coverage, weighted_crps

#: The metrics ``backtest`` reports, in table order.
REPORTED = (
    "mean_wQuantileLoss",
    "wCRPS",
    "MASE",
    "ND",
    "NRMSE",
    "Coverage[0.1]",
    "Coverage[0.9]",
    "crossing_rate",
    "ES",
    "VS",
)


class BacktestResult(dict):
    """Flat ``{metric: value}`` dict that also keeps what produced it.

    Attributes
    ----------
    forecasts
        The forecasts, one per test series.
    series
        The true series (history and test window), one per forecast.
    item_metrics
        GluonTS's per-series metrics table.
    aggregate
        Every aggregate metric of GluonTS's ``Evaluator`` (e.g.
        ``wQuantileLoss[0.05]``, ``Coverage[0.95]``, ``MSIS``).
    coverage
        ``{level: share of outcomes at or below the quantile}`` at every level
        of the backtest, ties with a point mass split by the randomized PIT
        (:func:`~gluonts_qf.evaluation.scores.pit_coverage`; GluonTS's own
        ``Coverage[u]`` where no outcome ties a quantile).
    """

    def __init__(
        self,
        metrics: dict[str, float],
        forecasts: list[Forecast],
        series: list[pd.DataFrame],
        item_metrics: pd.DataFrame | None = None,
        aggregate: dict[str, float] | None = None,
        coverage: dict[float, float] | None = None,
    ) -> None:
        super().__init__(metrics)
        self.forecasts = forecasts
        self.series = series
        self.item_metrics = item_metrics
        self.aggregate = dict(aggregate or {})
        self.coverage = dict(coverage or {})

    def interval(self, width: float) -> float:
        """Share of outcomes inside the central ``width`` interval
        ``[q((1 - width) / 2), q((1 + width) / 2)]`` (both levels must be
        among the backtest's), from :attr:`coverage`."""
        lo, hi = round((1 - width) / 2, 10), round((1 + width) / 2, 10)
        return self.coverage[hi] - self.coverage[lo]


def backtest(
    predictor,
    test_dataset,
    num_samples: int = 100,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    progress: bool = True,
    desc: str = "forecasting",
) -> BacktestResult:
    """Forecast the last window of every test series and score it.

    Runs ``gluonts.evaluation.make_evaluation_predictions`` and
    ``gluonts.evaluation.Evaluator(quantiles=..., num_workers=0)``, then adds
    the weighted CRPS (exact for distributions with ``crps`` such as IQF, the
    unbiased estimator from the forecast's samples for sample forecasts, from
    ``max(num_samples, 1000)`` draws for other distribution forecasts; ``nan``
    with a warning for quantile forecasts) and the crossing rate at
    ``quantiles``, and the energy score ``ES`` and variogram score ``VS``
    (order 0.5) of each series' horizon vector, from the forecast's samples
    (``num_samples`` draws for distribution forecasts, whose steps are then
    independent; ``nan`` with a warning for quantile forecasts).

    Parameters
    ----------
    predictor
        Any GluonTS predictor.
    test_dataset
        Series whose last ``prediction_length`` steps are the test window.
    num_samples
        Samples for sampling-based predictors (ignored by exact ones).
    quantiles
        Levels for the quantile losses, coverages and crossing rate.
    progress
        Show tqdm progress bars (forecasting and evaluation).
    desc
        Label of the forecasting progress bar.

    Returns
    -------
    BacktestResult
        ``mean_wQuantileLoss, wCRPS, MASE, ND, NRMSE, Coverage[0.1],
        Coverage[0.9], crossing_rate, ES, VS, predict_seconds, num_series`` (coverages
        at levels not in ``quantiles`` are ``nan``; an outcome on a point mass
        of the forecast, e.g. 0 under a censored one, counts by its randomized
        PIT, see ``.coverage``); ``.forecasts``, ``.series``, ``.item_metrics``,
        ``.aggregate`` (all of the ``Evaluator``'s aggregates, e.g. ``MSIS``)
        and ``.coverage`` (every level's) keep the details.
    """
    from gluonts.env import env
    from gluonts.evaluation import Evaluator, make_evaluation_predictions
    from tqdm.auto import tqdm

    levels = np.sort(check_levels(quantiles, "quantiles"))
    test_dataset = list(test_dataset)
    forecast_it, ts_it = make_evaluation_predictions(
        test_dataset, predictor, num_samples=num_samples
    )
    start = time.perf_counter()
    bar = tqdm(forecast_it, total=len(test_dataset), desc=desc, disable=not progress)
    forecasts = list(bar)
    predict_seconds = time.perf_counter() - start
    series = list(ts_it)

    evaluator = Evaluator(quantiles=levels.tolist(), num_workers=0)
    with env._let(use_tqdm=progress):
        agg, item_metrics = evaluator(series, forecasts, num_series=len(forecasts))
    metrics = {key: float(agg.get(key, float("nan"))) for key in REPORTED}
    coverage = dict(zip(levels.tolist(), pit_coverage(forecasts, series, levels)))
    for u in (0.1, 0.9):  # ties with a point mass split (GluonTS's otherwise)
        metrics[f"Coverage[{u}]"] = float(coverage.get(u, float("nan")))
    try:
        metrics["wCRPS"] = weighted_crps(forecasts, series, max(num_samples, 1000))
    except TypeError as err:  # e.g. QuantileForecast: no samples, no distribution
        warnings.warn(f"wCRPS not computed: {err}", stacklevel=2)
        metrics["wCRPS"] = float("nan")
    metrics["crossing_rate"] = crossing_rate(forecasts, levels)
    try:
        metrics["ES"] = energy_score(forecasts, series, num_samples=num_samples)
        metrics["VS"] = variogram_score(forecasts, series, num_samples=num_samples)
    except TypeError as err:  # quantile forecasts: no joint samples
        warnings.warn(f"ES and VS not computed: {err}", stacklevel=2)
        metrics["ES"] = metrics["VS"] = float("nan")
    metrics["predict_seconds"] = predict_seconds
    metrics["num_series"] = len(forecasts)
    return BacktestResult(metrics, forecasts, series, item_metrics, agg, coverage)


#: The metrics ``multivariate_backtest`` reports, in table order.
MULTIVARIATE_REPORTED = (
    "mean_wQuantileLoss",
    "CRPS_Sum",
    "wCRPS",
    "MSIS",
    "ND",
    "ES",
    "VS",
)


def multivariate_backtest(
    forecasts: Sequence[Forecast],
    series: Sequence[pd.DataFrame],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    num_samples: int = 100,
) -> BacktestResult:
    """Score multivariate forecasts, (S, T, M) samples, of (length, M) series.

    GluonTS's ``MultivariateEvaluator(quantiles=..., target_agg_funcs={"sum":
    np.sum})``: its ``mean_wQuantileLoss`` and ``ND`` (the quantile losses and
    errors of every series and step over the sum of all ``|y|``), ``MSIS``, and ``CRPS_Sum``, the mean weighted quantile loss of the
    total over the ``M`` series at each step (``m_sum_mean_wQuantileLoss``,
    the CRPS-Sum of Rasul et al., 2021, and Kan et al., 2022). Added: the
    weighted CRPS of all coordinates from the samples, and the energy and
    variogram scores of each whole (T, M) window (mean over test dates).

    Returns
    -------
    BacktestResult
        :data:`MULTIVARIATE_REPORTED` plus ``num_series`` (test dates);
        ``.aggregate`` holds every aggregate of the evaluator (per dimension
        ``<i>_<metric>``, the sums ``m_sum_<metric>``).
    """
    from gluonts.evaluation import MultivariateEvaluator

    levels = np.sort(check_levels(quantiles, "quantiles"))
    forecasts, series = list(forecasts), list(series)
    if not forecasts or np.ndim(getattr(forecasts[0], "samples", None)) != 3:
        raise ValueError(
            "multivariate_backtest needs SampleForecasts with (samples, time, "
            "series) samples; stack univariate forecasts first."
        )
    evaluator = MultivariateEvaluator(
        quantiles=levels.tolist(), target_agg_funcs={"sum": np.sum}, num_workers=0
    )
    agg, item_metrics = evaluator(series, forecasts, num_series=len(forecasts))
    metrics = {
        "mean_wQuantileLoss": float(agg["mean_wQuantileLoss"]),
        "CRPS_Sum": float(agg["m_sum_mean_wQuantileLoss"]),
        "wCRPS": weighted_crps(forecasts, series, num_samples),
        "MSIS": float(agg.get("MSIS", float("nan"))),
        "ND": float(agg.get("ND", float("nan"))),
        "ES": energy_score(forecasts, series, num_samples=num_samples),
        "VS": variogram_score(forecasts, series, num_samples=num_samples),
        "num_series": len(forecasts),
    }
    return BacktestResult(metrics, forecasts, series, item_metrics, agg)
