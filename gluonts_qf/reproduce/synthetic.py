"""Synthetic datasets with a known forecast distribution (the ``mqf2`` experiment).

``synthetic_ar1``: Gaussian AR(1) series ``y_t = m + x_t``,
``x_t = phi x_{t-1} + sigma eps_t`` (stationary start, a level ``m`` per
series). Given the past, the next ``T`` values are jointly Gaussian with
covariance ``sigma^2 phi^{l - k} (1 - phi^{2k}) / (1 - phi^2)`` between steps
``k <= l`` (Kan et al., 2022, use such a case to show that MQF2 recovers the
dependence between horizon steps that a univariate model, forecasting each
step on its own, cannot). :func:`true_horizon_correlation` is that matrix.

The data are built from a fixed seed, so a name always means the same series;
:func:`load_data` serves them by name, and any other name as
:func:`gluonts_qf.runs.data.load_data` does (so an experiment's cells name them
like the GluonTS datasets; no folder needed).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runs import data as runs_data


@dataclass(frozen=True)
class AR1Data:
    """Gaussian AR(1) series around per-series levels.

    Parameters
    ----------
    phi
        Autoregressive coefficient in (-1, 1).
    sigma
        Innovation standard deviation.
    prediction_length
        Horizon ``T`` of the test window (the last ``T`` steps).
    length
        Steps per series (training series: all but the last ``T``).
    num_series
        Series in the dataset.
    freq
        Pandas frequency of the series (daily: no season).
    seed
        Seed of the data.
    """

    phi: float = 0.8
    sigma: float = 1.0
    prediction_length: int = 8
    length: int = 400
    num_series: int = 64
    freq: str = "D"
    seed: int = 0

    def series(self) -> np.ndarray:
        """The targets, shape: (num_series, length)."""
        rng = np.random.default_rng(self.seed)
        n, L = self.num_series, self.length
        eps = self.sigma * rng.standard_normal((n, L))
        x = np.empty((n, L))
        x[:, 0] = eps[:, 0] / np.sqrt(1 - self.phi**2)  # stationary start
        for t in range(1, L):
            x[:, t] = self.phi * x[:, t - 1] + eps[:, t]
        return rng.uniform(10.0, 50.0, size=(n, 1)) + x

    def horizon_covariance(self) -> np.ndarray:
        """Covariance of the next ``T`` values given the past, shape: (T, T)."""
        k = np.arange(1, self.prediction_length + 1)
        lo, hi = np.minimum.outer(k, k), np.maximum.outer(k, k)
        var = (1 - self.phi ** (2 * lo)) / (1 - self.phi**2)
        return self.sigma**2 * self.phi ** (hi - lo) * var


#: The synthetic datasets by name.
SYNTHETIC = {"synthetic_ar1": AR1Data()}


def true_horizon_correlation(name: str) -> np.ndarray:
    """The true correlation between horizon steps of dataset ``name``, (T, T)."""
    cov = SYNTHETIC[name].horizon_covariance()
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def load_synthetic(name: str):
    """A GluonTS ``TrainDatasets`` of the synthetic dataset ``name``.

    ``train`` holds every series without its last ``prediction_length``
    steps, ``test`` the full series (GluonTS's convention: the test window is
    the end).
    """
    from gluonts.dataset.common import ListDataset, MetaData, TrainDatasets

    spec = SYNTHETIC[name]
    start = pd.Period("2020-01-01", freq=spec.freq)
    values = spec.series()
    T = spec.prediction_length

    def entries(cut: int) -> list[dict]:
        return [
            {"start": start, "target": y[: len(y) - cut], "item_id": str(i)}
            for i, y in enumerate(values)
        ]

    meta = MetaData(freq=spec.freq, prediction_length=T)
    return TrainDatasets(
        metadata=meta,
        train=ListDataset(entries(T), freq=spec.freq),
        test=ListDataset(entries(0), freq=spec.freq),
    )


def load_data(name: str, data_dir=None, max_series=None) -> runs_data.Data:
    """The :class:`~gluonts_qf.runs.data.Data` of a synthetic dataset, or any other.

    A name of :data:`SYNTHETIC` is built in memory; other names go to
    :func:`gluonts_qf.runs.data.load_data`.
    """
    if name not in SYNTHETIC:
        return runs_data.load_data(name, data_dir, max_series)
    ds = load_synthetic(name)
    return runs_data.Data(
        name,
        ds.metadata.freq,
        int(ds.metadata.prediction_length),
        list(itertools.islice(ds.train, max_series)),
        list(itertools.islice(ds.test, max_series)),
        {"kind": "synthetic"},
    )
