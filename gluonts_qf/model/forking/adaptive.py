"""Settings chosen from the training data: anchor, season, context and lags.

``anchor="auto"`` (the default of the forking estimators) asks
:func:`choose_settings` at the start of ``train_model``. It backtests the
candidate naive anchors on held-back ends of the training series (the last
``num_windows`` horizons of each series, never the test data): the last value
(season 1) and the seasonal-naive value for each candidate season of the
frequency (GluonTS's default season, and the longer calendar seasons that
GluonTS's default misses, e.g. 52 weeks for weekly data). The candidate with
the smallest pooled absolute error wins; a longer season must win by
``MARGIN`` (10%).
Context length and lags are then capped by the history the series have, so a
52-week season on three years of data does not feed lags that are all padding.
Whichever anchor wins, the context spans the longest calendar season tried
(where the history has room), so the encoder sees a whole year of weekly data
even though the last-value anchor ignores it, and a whole week of hourly data
beside the 24-hour anchor; a seasonal anchor's context spans at least
``SEASONS_OF_CONTEXT`` (4) of its seasons.

Everything here is plain numpy on the training targets; no model is trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, List, Optional, Sequence

import numpy as np
import pandas as pd
from gluonts.time_feature import get_seasonality

#: Longer calendar seasons tried besides GluonTS's default, by offset name.
EXTRA_SEASONS = {
    "W": (52,),
    "D": (7,),
    "B": (5,),
    "H": (24, 168),
    "M": (12,),
    "MS": (12,),
    "ME": (12,),
    "Q": (4,),
    "QS": (4,),
    "QE": (4,),
}
#: A longer season must beat the best shorter one by this relative margin: it
#: costs a longer context and lags, and fewer windows with a full history.
MARGIN = 0.1
#: Seasons a seasonal anchor's context spans at least (where the history has
#: room): two (the old rule) left tourism_monthly's network 3% behind four.
SEASONS_OF_CONTEXT = 4


@dataclass
class AdaptiveChoice:
    """What :func:`choose_settings` picked, and the scores it was picked on.

    ``scores`` maps each candidate season (1: the last value) to its pooled
    relative absolute error ``sum |y - anchor| / sum |y|`` on the held-back ends.
    """

    anchor: str
    season_length: int
    context_length: int
    lags_seq: List[int]
    scores: dict
    #: steps before the last horizon of a typical (median-length) series
    room_before_horizon: int = 0

    def as_dict(self) -> dict:
        """JSON-ready (the seasons of ``scores`` as strings), as predictors record it."""
        out = asdict(self)
        out["scores"] = {str(s): v for s, v in self.scores.items()}
        return out


def candidate_seasons(freq: str, season_length: Optional[int] = None) -> List[int]:
    """Seasons to try: 1, the given or default season, and longer calendar ones."""
    if season_length:
        return sorted({1, int(season_length)})
    offset = pd.tseries.frequencies.to_offset(freq)
    name = offset.name.split("-")[0].upper()
    extra = [s // max(offset.n, 1) for s in EXTRA_SEASONS.get(name, ())]
    return sorted({1, get_seasonality(freq), *[s for s in extra if s > 1]})


def naive_errors(
    series: Sequence[np.ndarray],
    prediction_length: int,
    seasons: Sequence[int],
    num_windows: int = 8,
) -> dict:
    """Pooled relative absolute error of each seasonal-naive anchor.

    For each series and each of its last ``num_windows`` horizons, the anchor of
    step ``k`` is the value ``s * ceil(k / s)`` steps before it (the last value
    for ``s = 1``). Only windows where every season in ``seasons`` has a full
    past are used, so all candidates are scored on the same values. Missing
    values (NaN) are left out. Returns ``{season: error}`` (``nan`` without
    any usable window).
    """
    H, top = prediction_length, max(seasons)
    k = np.arange(1, H + 1)
    num = dict.fromkeys(seasons, 0.0)
    den = 0.0
    for y in series:
        y = np.asarray(y, dtype=float)
        for w in range(num_windows):
            cut = len(y) - (w + 1) * H
            if cut < top:
                break
            future = y[cut : cut + H]
            keep = np.isfinite(future)
            anchors = {
                s: y[cut - 1 + k - s * np.ceil(k / s).astype(int)] for s in seasons
            }
            for a in anchors.values():
                keep &= np.isfinite(a)
            if not keep.any():
                continue
            den += np.abs(future[keep]).sum()
            for s, a in anchors.items():
                num[s] += np.abs(future[keep] - a[keep]).sum()
    if den <= 0:
        return {s: float("nan") for s in seasons}
    return {s: num[s] / den for s in seasons}


def choose_season(
    series: Sequence[np.ndarray],
    prediction_length: int,
    seasons: Sequence[int],
    num_windows: int = 8,
    min_share: float = 0.5,
) -> tuple:
    """``(season, scores)``: the candidate with the smallest held-back error.

    Seasons longer than the history of more than ``1 - min_share`` of the
    series (``len < season + prediction_length``) are not tried. A longer season
    replaces a shorter one only when its error is lower by ``MARGIN``.
    """
    lengths = np.array([len(y) for y in series])
    usable = [
        s
        for s in sorted(set(seasons))
        if s == 1 or np.mean(lengths >= s + prediction_length) >= min_share
    ]
    scores = naive_errors(series, prediction_length, usable, num_windows)
    best = 1
    for s in usable:
        if np.isfinite(scores[s]) and (
            not np.isfinite(scores[best]) or scores[s] < (1 - MARGIN) * scores[best]
        ):
            best = s
    return best, scores


def capped_context(
    prediction_length: int, season_length: int, typical_length: int
) -> int:
    """``max(T, 2 s)``; ``max(T, s)`` when two seasons and a seasonal lag do not
    fit in the typical history before a horizon; never longer than that history."""
    s, room = season_length, max(typical_length - prediction_length, 1)
    want = max(prediction_length, 2 * s)
    if want + s > room:
        want = max(prediction_length, s)
    return int(max(min(want, room), 1))


def capped_lags(
    season_length: int,
    typical_length: int,
    prediction_length: int,
    context_length: int = 0,
) -> List[int]:
    """Lags ``s, 2s, 3s`` (``1, 2, 3`` for ``s = 1``) that, with the context,
    fit in the typical history before a horizon (at least the first)."""
    s = max(int(season_length), 1)
    lags = [s, 2 * s, 3 * s] if s > 1 else [1, 2, 3]
    room = max(typical_length - prediction_length, 1)
    return [lag for lag in lags if lag + context_length <= room] or lags[:1]


def choose_settings(
    targets: Iterable[np.ndarray],
    freq: str,
    prediction_length: int,
    season_length: Optional[int] = None,
    context_length: Optional[int] = None,
    lags_seq: Optional[Sequence[int]] = None,
    num_windows: int = 8,
) -> AdaptiveChoice:
    """Anchor, season, context length and lags for these training targets.

    Arguments given (not ``None``) are kept: a given ``season_length`` is only
    compared with the last value; a given ``context_length`` or ``lags_seq`` is
    used as is. Multivariate targets (D, L) count each row as a series.
    """
    series = []
    for t in targets:
        t = np.asarray(t, dtype=float)
        series.extend(t if t.ndim == 2 else [t])
    seasons = candidate_seasons(freq, season_length)
    season, scores = choose_season(series, prediction_length, seasons, num_windows)
    typical = int(np.median([len(y) for y in series])) if series else 0
    if season == 1:
        # the last value wins: keep the season of the scaling and lags short too
        anchor = "last"
    else:
        anchor = "seasonal"
    context = capped_context(prediction_length, season, typical)
    # the encoder sees one whole calendar season (the longest candidate tried)
    # where the history has room, whichever anchor won, and with a seasonal
    # anchor at least SEASONS_OF_CONTEXT of its seasons (the lags s, 2s, 3s
    # keeping their room before the context). m4_weekly (last value, season 52
    # tried): IQF mean wQL 0.0517 -> 0.0491 over seeds 0-2 with context 52
    # instead of 13; m4_hourly (seasonal 24, season 168 tried): the default
    # ensemble 0.0310 -> 0.0276 over seeds 0-2 with context 168 instead of 48;
    # tourism_monthly (seasonal 12): 0.0863 -> 0.0835 with 48 instead of 24
    # (docs/benchmarks.md).
    room = max(typical - prediction_length, 1)
    want = max(scores)
    if season > 1:
        room -= 3 * season
        want = max(want, SEASONS_OF_CONTEXT * season)
    context = max(context, min(want, room))
    context = int(context_length or context)
    return AdaptiveChoice(
        anchor=anchor,
        season_length=season,
        context_length=context,
        lags_seq=sorted(set(lags_seq))
        if lags_seq is not None
        else capped_lags(season, typical, prediction_length, context),
        scores={int(s): float(v) for s, v in scores.items()},
        room_before_horizon=max(typical - prediction_length, 0),
    )


def as_arguments(choice: AdaptiveChoice, given: dict) -> dict:
    """The estimator arguments that build what ``choice`` picked.

    ``given``: the estimator's arguments as passed (its ``__init_args__``);
    its own ``num_origins`` and ``train_sampler`` are kept. Otherwise the
    number of origins follows the chosen context, and with a seasonal anchor
    training windows start late enough for the seasonal anchor of every origin
    to be observed (``min_past``).
    """
    from gluonts.transform import ExpectedNumInstanceSampler

    from .arguments import DEFAULT_NUM_ORIGINS

    num_origins = given["num_origins"] or min(
        choice.context_length, DEFAULT_NUM_ORIGINS
    )
    args = dict(
        anchor=choice.anchor,
        season_length=choice.season_length,
        context_length=choice.context_length,
        lags_seq=choice.lags_seq,
        num_origins=num_origins,
    )
    if given["train_sampler"] is None and choice.season_length > 1:
        min_past = min(
            choice.season_length + num_origins - 1, choice.room_before_horizon
        )
        args["train_sampler"] = ExpectedNumInstanceSampler(
            num_instances=1.0,
            min_future=given["prediction_length"],
            min_past=min_past,
        )
    return args
