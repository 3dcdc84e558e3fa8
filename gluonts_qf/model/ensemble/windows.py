"""The held-back windows of the ensemble, and the helpers its training uses.

:func:`validation_windows` and :func:`held_back` cut the last windows of the
training series (never the test data), :func:`cut` the series before them;
:func:`window_forecast` is the weighted forecast of those windows;
:func:`lean` moves a share of the fitted weights to the trained members;
:func:`with_trainer` and :func:`stopping` copy the network with other trainer
settings (early stopping on the window); :func:`never_negative` decides where
``lower_bound="auto"`` censors; :func:`other_anchor` is the anchor of the
``"other_anchor"`` member.
"""

from dataclasses import replace
from typing import Any, Optional

import numpy as np
from gluonts.time_feature import get_seasonality
from lightning.pytorch.callbacks import EarlyStopping

from ..forking.adaptive import AdaptiveChoice
from ..forking.training import ValidationCurve
from ..iqf.estimator import IQFEstimator
from .combine import combine, stretch


def window_forecast(
    levels: np.ndarray,
    weights: np.ndarray,
    window_members: list,
    observed: list,
    spread: Optional[tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ensemble's forecast of the held-back windows: every window's
    members averaged with ``weights`` (stretched by ``spread`` if given),
    pooled over the windows as ``(values (N, K), beta_l (N,), beta_r (N,),
    outcomes (N,))``, one row per observation."""
    values, left, right = [], [], []
    for members in window_members:
        v, lo, hi = combine(weights, *zip(*members))  # (S, T, K), (S, T) x 2
        if spread is not None:
            v, lo, hi = stretch(levels, v, lo, hi, *spread)
        values.append(v.reshape(-1, len(levels)))
        left.append(lo.reshape(-1))
        right.append(hi.reshape(-1))
    return (
        np.concatenate(values),
        np.concatenate(left),
        np.concatenate(right),
        np.concatenate(observed),
    )


def with_trainer(network: IQFEstimator, **settings: Any) -> IQFEstimator:
    """A copy of ``network`` whose ``trainer_kwargs`` are updated by ``settings``."""
    given = network.__init_args__["trainer_kwargs"] or {}
    return network.resolved(None, trainer_kwargs={**given, **settings})


def stopping(network: IQFEstimator, patience: int) -> tuple[IQFEstimator, Any]:
    """``(copy of network, curve)``: the copy, trained with ``validation_data``,
    stops when the validation loss has not fallen for ``patience`` epochs
    (Lightning's ``EarlyStopping``) and keeps the weights of its best epoch
    (GluonTS's checkpoint); ``curve`` (:class:`ValidationCurve`) records the
    loss of every epoch."""
    curve = ValidationCurve()
    stop = EarlyStopping(monitor="val_loss", mode="min", patience=patience)
    given = network.__init_args__["trainer_kwargs"] or {}
    callbacks = [*given.get("callbacks", []), stop, curve]
    copy = with_trainer(network, callbacks=callbacks, num_sanity_val_steps=0)
    return copy, curve


def lean(fitted: np.ndarray, networks: int, prior: float) -> np.ndarray:
    """The fitted weights with a share ``prior`` moved to the first
    ``networks`` members (the trained ones), in proportion to their fitted
    weights, all of it to the first (the IQF network) when they have none:
    ``(1 - prior) * fitted + prior * target``."""
    fitted = np.asarray(fitted, dtype=np.float64)
    target = np.zeros_like(fitted)
    share = fitted[:networks]
    if share.sum() > 0:
        target[:networks] = share / share.sum()
    else:
        target[0] = 1.0
    return (1 - prior) * fitted + prior * target


def never_negative(data: list) -> bool:
    """Whether no observed training value is negative (and some is observed)."""
    seen = False
    for entry in data:
        target = np.asarray(entry["target"], dtype=np.float64)
        ok = target[np.isfinite(target)]
        if ok.size:
            seen = True
            if ok.min() < 0:
                return False
    return seen


def cut(data: list, steps: int) -> list[dict[str, Any]]:
    """The series less their last ``steps`` steps (those with more than
    ``steps + 1``; shorter ones whole, they are never scored)."""
    return [
        {**e, "target": np.asarray(e["target"])[..., :-steps]}
        if np.shape(e["target"])[-1] > steps + 1
        else e
        for e in data
    ]


def validation_windows(
    data: list, prediction_length: int, windows: int, max_series: Optional[int] = None
) -> list[tuple[list[dict[str, Any]], list[np.ndarray]]]:
    """``[(pasts, windows), ...]`` for the last ``windows`` windows of
    ``prediction_length`` steps, the last one first: window ``k`` (from 0) is
    :func:`held_back` of the series less their last ``k * prediction_length``
    steps, taken from the series long enough to keep a step before it.
    Windows that no series is long enough for are left out."""
    out = [held_back(data, prediction_length, max_series)]
    for k in range(1, windows):
        steps = k * prediction_length
        longer = [
            e for e in data if np.shape(e["target"])[-1] > steps + prediction_length + 1
        ]
        if not longer:
            break
        out.append(held_back(cut(longer, steps), prediction_length, max_series))
    return out


def held_back(
    data: list, prediction_length: int, max_series: Optional[int] = None
) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """``(pasts, windows)``: the last ``prediction_length`` steps of the first
    ``max_series`` series long enough to keep a step before them."""
    pasts, windows = [], []
    for entry in data:
        target = np.asarray(entry["target"], dtype=np.float64)
        if target.shape[-1] > prediction_length + 1:
            pasts.append({**entry, "target": target[:-prediction_length]})
            windows.append(target[-prediction_length:])
            if max_series is not None and len(pasts) >= max_series:
                break
    if not pasts:
        raise ValueError(
            "no training series is longer than the horizon plus one step, so "
            "no window can be held back to weigh the ensemble; use "
            "IQFEstimator, or longer series."
        )
    return pasts, windows


def other_anchor(network: Any, freq: Optional[str] = None) -> Optional[AdaptiveChoice]:
    """Trained ``network``'s ``anchor="auto"`` choice at the other naive
    anchor: the last value where it chose a season (its season, context and
    lags kept), the best-scored season that its context and lags reach where
    it chose the last value; ``None`` where it chose nothing (a fixed anchor),
    where no season was tried or fits (yearly data), and where it chose
    ``freq``'s own season (GluonTS's, 24 for hourly data, 12 for monthly):
    the calendar's season confirmed by the backtest is not hedged (m4_hourly,
    hospital: +7%, +1% with the member, docs/benchmarks.md)."""
    adaptive = (getattr(network, "choices", None) or {}).get("adaptive")
    if adaptive is None:
        return None
    choice = AdaptiveChoice(**adaptive)
    if choice.anchor == "seasonal":
        if freq is not None and choice.season_length == get_seasonality(freq):
            return None
        return replace(choice, anchor="last")
    seasons = {
        int(s): v
        for s, v in choice.scores.items()
        if int(s) > 1
        and np.isfinite(v)
        and int(s) <= choice.context_length + max(choice.lags_seq)
    }
    if not seasons:
        return None
    return replace(
        choice, anchor="seasonal", season_length=min(seasons, key=seasons.get)
    )
