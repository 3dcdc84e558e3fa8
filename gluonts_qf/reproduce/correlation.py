"""The ``mqf2`` experiment's heatmaps of the correlation between horizon steps.

Per dataset, each model's mean correlation matrix (from its cells' records)
side by side; for a synthetic dataset with a known forecast distribution
(:mod:`gluonts_qf.reproduce.synthetic`), the true matrix first, each model's
error in its title, and ``known_gaussian.png``: true | univariate | MQF2.
For a group of series scored jointly (:mod:`gluonts_qf.reproduce.series`),
``series_correlation.png``: each model's mean correlation between the series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .series import folder_name
from .synthetic import SYNTHETIC, true_horizon_correlation


def correlation_figures(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Per dataset, the horizon correlation of each model's samples side by side."""
    try:
        from ..plotting import plot_correlation_heatmaps
    except ImportError:  # pragma: no cover
        return []
    by_dataset = _seed0_matrices(records, "horizon_correlation")
    across = _seed0_matrices(records, "series_correlation")
    paths = []
    for group, matrices in across.items():
        path = folder / folder_name(group) / "series_correlation.png"
        title = f"{group}: correlation between series"
        try:
            paths.append(
                plot_correlation_heatmaps(matrices, path, title, axis_label="series")
            )
        except ImportError:
            return paths
    for dataset, matrices in by_dataset.items():
        known = dataset in SYNTHETIC
        if known:  # the truth first, each model's mean |error| in its title
            matrices = _against_truth(true_horizon_correlation(dataset), matrices)
        path = folder / dataset / "horizon_correlation.png"
        try:
            paths.append(plot_correlation_heatmaps(matrices, path, title=dataset))
            three = [k for k in matrices if k == "true" or k.split()[0] in KNOWN]
            if known and len(three) == 3:
                paths.append(
                    plot_correlation_heatmaps(
                        {k: matrices[k] for k in three},
                        folder / dataset / "known_gaussian.png",
                        title=f"{dataset}: true vs univariate (iqf) vs MQF2",
                    )
                )
        except ImportError:
            break
    return paths


def _seed0_matrices(
    records: list[dict[str, Any]], key: str
) -> dict[str, dict[str, np.ndarray]]:
    """``{dataset: {label: matrix}}`` of the seed-0 records that hold ``key``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for r in records:
        if r["seed"] == 0 and r.get(key) is not None:
            corr = np.array(r[key], dtype=float)  # None -> nan
            out.setdefault(r["dataset"], {})[r["label"]] = corr
    return out


#: The models of the known-Gaussian figure, beside the truth.
KNOWN = ("iqf", "mqf2")


def correlation_error(true: np.ndarray, corr: np.ndarray) -> float:
    """Mean absolute difference of the off-diagonal correlations (nan skipped)."""
    off = ~np.eye(len(true), dtype=bool)
    return float(np.nanmean(np.abs(np.asarray(corr) - true)[off]))


def _against_truth(
    true: np.ndarray, matrices: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``{"true": true, "<label> (error e)": corr, ...}``, ``e`` the mean |error|."""
    out = {"true": true}
    for label, corr in matrices.items():
        out[f"{label} (error {correlation_error(true, corr):.2f})"] = corr
    return out
