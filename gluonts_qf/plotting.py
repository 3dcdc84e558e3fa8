"""PNG plots of forecasts: fan charts and learned quantile functions.

matplotlib is an optional extra (``pip install gluonts-qf[plots]``). Figures
are drawn on the Agg canvas directly, so the user's pyplot backend and state
are never touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from gluonts.model.forecast import Forecast

from .checks import check_levels
from .distributions.iqf import IQF
from .evaluation.scores import forecast_quantiles

PathLike = str | Path
FAN_LEVELS = (0.05, 0.1, 0.25, 0.75, 0.9, 0.95)


def new_figure(width: float, height: float):
    """A matplotlib ``Figure`` on an Agg canvas, or a clear ``ImportError``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib, an optional extra; install it with "
            "`pip install 'gluonts-qf[plots]'` (or `pip install matplotlib`)."
        ) from err
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path


def _timestamps(index: pd.Index) -> pd.Index:
    return index.to_timestamp() if isinstance(index, pd.PeriodIndex) else index


def _intervals(levels: Sequence[float]):
    """Pair the sorted levels outside-in: ``[(0.05, 0.95), (0.1, 0.9), ...]``."""
    lv = np.sort(check_levels(levels)).tolist()
    return [(lv[i], lv[-1 - i]) for i in range(len(lv) // 2)]


def plot_fan_chart(
    forecasts: Sequence[Forecast],
    series: Sequence[pd.DataFrame | pd.Series],
    path: PathLike,
    num_series: int = 4,
    levels: Sequence[float] = FAN_LEVELS,
    history: int | None = None,
    title: str | None = None,
) -> Path:
    """Fan charts of the first ``num_series`` forecasts, saved as a PNG.

    Each panel shows the tail of the history, the truth over the forecast
    window, the median forecast and shaded central intervals (sorted
    ``levels`` paired outside-in, e.g. 5-95%, 10-90%, 25-75%).

    Parameters
    ----------
    forecasts, series
        Forecasts and their true series (history and test window), as kept by
        :func:`~gluonts_qf.evaluation.backtest`.
    path
        Where to write the PNG (folders are created).
    num_series
        Panels to draw (at most the number of forecasts).
    levels
        Quantile levels of the interval bounds, in (0, 1).
    history
        Past steps to show; default ``3 * prediction_length``.
    title
        Optional figure title.

    Returns
    -------
    Path
        ``path``.
    """
    if num_series < 1:
        raise ValueError(f"num_series must be >= 1, got {num_series}.")
    pairs = _intervals(levels)
    n = min(num_series, len(forecasts), len(series))
    if n == 0:
        raise ValueError("no forecasts to plot; pass at least one forecast and series.")
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    fig = new_figure(6.0 * ncols, 3.0 * nrows)
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _draw_fan(ax, forecasts[i], series[i], pairs, history)
        if i == 0:
            ax.legend(loc="upper left", fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _draw_fan(ax, forecast: Forecast, ts, pairs, history: int | None) -> None:
    steps = len(forecast.index)
    history = 3 * steps if history is None else history
    ts = ts.iloc[:, 0] if isinstance(ts, pd.DataFrame) else ts
    first = ts.index.get_loc(forecast.index[0])
    past = ts.iloc[max(first - history, 0) : first]
    truth = ts.iloc[first : first + steps]
    ax.plot(
        _timestamps(past.index), past.to_numpy(), color="black", lw=1, label="history"
    )
    ax.plot(
        _timestamps(truth.index),
        truth.to_numpy(),
        color="black",
        lw=1,
        ls="--",
        label="truth",
    )
    x = _timestamps(forecast.index)
    flat = sorted({u for pair in pairs for u in pair} | {0.5})
    q = dict(zip(flat, forecast_quantiles(forecast, flat)))  # level -> (T,)
    for k, (lo, hi) in enumerate(pairs):
        alpha = 0.15 + 0.5 * (k + 1) / (len(pairs) + 1)
        ax.fill_between(
            x,
            q[lo],
            q[hi],
            color="tab:blue",
            alpha=alpha,
            lw=0,
            label=f"{100 * (hi - lo):.0f}% interval",
        )
    ax.plot(x, q[0.5], color="tab:blue", lw=1.5, label="median")
    item = "" if forecast.item_id is None else f"item {forecast.item_id}"
    ax.set_title(item, fontsize=9)
    ax.tick_params(labelsize=7)


def plot_quantile_function(
    forecast: Forecast,
    step: int,
    path: PathLike,
    num_points: int = 399,
    truth: float | None = None,
) -> Path:
    """Plot the forecast's quantile function ``q(u)``, ``u`` in (0, 1), at one step.

    For an IQF distribution forecast the exact learned curve is drawn and its
    knots are marked; other forecasts show their own ``quantile`` (e.g. the
    empirical quantile function of samples).

    Parameters
    ----------
    forecast
        One forecast.
    step
        Horizon step, ``0 <= step < prediction_length`` (negative counts from
        the end).
    path
        Where to write the PNG.
    num_points
        Levels on the grid ``(0.5 / n, ..., 1 - 0.5 / n)``.
    truth
        Optional observed value, drawn as a horizontal line.
    """
    steps = len(forecast.index)
    if not -steps <= step < steps:
        raise ValueError(f"step must be in [0, {steps}), got {step}.")
    step = step % steps
    grid = (np.arange(num_points) + 0.5) / num_points
    q = forecast_quantiles(forecast, grid)[:, step]  # (N, T) -> (N,)
    fig = new_figure(5.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(grid, q, color="tab:blue", lw=1.5, label="q(u)")
    dist = getattr(forecast, "distribution", None)
    if isinstance(dist, IQF):
        levels = dist.knot_levels.detach().cpu().numpy()  # (K,)
        values = forecast_quantiles(forecast, levels)[:, step]  # (K, T) -> (K,)
        ax.plot(levels, values, "o", color="tab:red", ms=4, label="knots")
    if truth is not None and np.isfinite(truth):
        ax.axhline(truth, color="black", ls="--", lw=1, label="truth")
    ax.set_xlabel("level u")
    ax.set_ylabel("quantile q(u)")
    ax.set_xlim(0, 1)
    item = f"item {forecast.item_id}, " if forecast.item_id is not None else ""
    ax.set_title(f"{item}step {step + 1} ({forecast.index[step]})", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    return save_figure(fig, path)


def plot_backtest(
    forecasts: Sequence[Forecast],
    series: Sequence,
    fan_chart: PathLike,
    quantile_function: PathLike | None = None,
    title: str | None = None,
) -> list[Path]:
    """The two figures of a backtest: its fan chart and a learned quantile function.

    ``fan_chart``: :func:`plot_fan_chart` of the first series; with a
    ``quantile_function`` path (for forecasts whose quantile function is exact,
    e.g. IQF), :func:`plot_quantile_function` of the first series at the
    middle step, with its observed value. Returns the paths written.
    """
    from .evaluation.scores import target_window

    paths = [plot_fan_chart(forecasts, series, fan_chart, title=title)]
    if quantile_function is not None:
        fc, ts = forecasts[0], series[0]
        step = len(fc.index) // 2
        truth = float(np.ravel(target_window(ts, fc))[step])
        paths.append(plot_quantile_function(fc, step, quantile_function, truth=truth))
    return paths


# -- decisions (gluonts_qf.decisions) ----------------------------------------
def plot_service_levels(
    levels: Sequence[float],
    quantity: Sequence[float],
    path: PathLike,
    marks: Sequence[float] = (),
    title: str | None = None,
) -> Path:
    """Service level against the quantity it requires, saved as a PNG.

    Parameters
    ----------
    levels, quantity
        The curve: service levels (increasing, in (0, 1)) and the quantity each
        needs, both shape (L,), e.g. from :class:`~gluonts_qf.decisions.TradeOff`.
    path
        Where to write the PNG.
    marks
        Levels to mark and label with their quantity (read off the curve).
    title
        Optional axes title.
    """
    lv, q = np.asarray(levels, dtype=float), np.asarray(quantity, dtype=float)
    if lv.shape != q.shape or lv.ndim != 1 or lv.size < 2:
        raise ValueError(
            f"levels and quantity must be two 1-D arrays of one length >= 2, got "
            f"shapes {lv.shape} and {q.shape}."
        )
    fig = new_figure(5.5, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(q, 100 * lv, color="tab:blue", lw=1.5)
    for i, u in enumerate(check_levels(marks) if len(marks) else ()):
        x = float(np.interp(u, lv, q))
        ax.plot([x], [100 * u], "o", color="tab:red", ms=4)
        ax.annotate(
            f"{100 * u:g}%: {x:,.0f}" if abs(x) >= 100 else f"{100 * u:g}%: {x:.3g}",
            (x, 100 * u),
            fontsize=7,
            xytext=(4, -10) if i % 2 == 0 else (-4, 4),
            ha="left" if i % 2 == 0 else "right",
            textcoords="offset points",
        )
    ax.set_xlabel("required quantity")
    ax.set_ylabel("service level (%)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_lead_time_fan(
    cumulative: dict[str, np.ndarray],
    path: PathLike,
    levels: Sequence[float] = (0.05, 0.25, 0.75, 0.95),
    title: str | None = None,
) -> Path:
    """Fans of the running total over the next ``k`` steps, one per assumption.

    Parameters
    ----------
    cumulative
        ``{label: running totals}``, each of shape (S, k) (row ``s``: the total
        of steps ``1..j`` of draw ``s``), e.g. ``{"joint samples": ...,
        "independent steps": ...}`` from
        :class:`~gluonts_qf.decisions.LeadTimeTotal`.
    path
        Where to write the PNG.
    levels
        Levels of the interval bounds, paired outside-in.
    title
        Optional axes title.
    """
    if not cumulative:
        raise ValueError("nothing to plot; pass at least one {label: (S, k) array}.")
    pairs = _intervals(levels)
    fig = new_figure(5.5, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for (label, paths), color in zip(cumulative.items(), colors):
        paths = np.asarray(paths, dtype=float)  # (S, k)
        steps = np.arange(1, paths.shape[1] + 1)
        for i, (lo, hi) in enumerate(pairs):
            band = np.quantile(paths, [lo, hi], axis=0)  # (2, k)
            ax.fill_between(
                steps,
                band[0],
                band[1],
                color=color,
                lw=0,
                alpha=0.15 + 0.15 * i,
                label=f"{label}, {100 * (hi - lo):.0f}%" if i == 0 else None,
            )
        ax.plot(steps, np.median(paths, axis=0), color=color, lw=1.2)
    ax.set_xlabel("lead time (steps)")
    ax.set_ylabel("total demand over the lead time")
    ax.legend(loc="upper left", fontsize=7)
    ax.set_title(title or "running total of the next k steps", fontsize=9)
    return save_figure(fig, path)


# -- joint forecasts (gluonts-qf reproduce, notebooks/mqf2.ipynb) -------------
def plot_correlation_heatmaps(
    matrices: dict[str, np.ndarray],
    path: PathLike,
    title: str | None = None,
    axis_label: str = "horizon step",
) -> Path:
    """Correlation matrices between horizon steps as heatmaps, side by side.

    Parameters
    ----------
    matrices
        Panel title -> correlation matrix, shape: (T, T) each (e.g.
        :func:`gluonts_qf.evaluation.joint.horizon_correlation` of MQF2's
        joint samples beside a model with independent steps); ``nan`` cells
        are left blank.
    path
        Where to write the PNG.
    title
        Optional figure title.
    axis_label
        What the rows and columns are (e.g. ``"series"`` for correlations
        between series).
    """
    if not matrices:
        raise ValueError("matrices is empty; pass at least one correlation matrix.")
    for name, corr in matrices.items():
        shape = np.shape(corr)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"matrix {name!r} must be square (T, T), got {shape}.")
    fig = new_figure(3.2 * len(matrices) + 0.8, 3.4)
    axes = fig.subplots(1, len(matrices), squeeze=False)[0]
    image = None
    for ax, (name, corr) in zip(axes, matrices.items()):
        corr = np.asarray(corr, dtype=float)
        extent = (0.5, corr.shape[1] + 0.5, corr.shape[0] + 0.5, 0.5)
        image = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r", extent=extent)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(axis_label)
    axes[0].set_ylabel(axis_label)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="correlation")
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)  # tight_layout fights the colorbar
    return path
