"""The ensemble's predictor: IQF networks and statistical forecasters, averaged.

Every member's quantile function at the shared knot levels, with exponential
tails, is averaged level by level (:mod:`.combine`); the forecast is one
exact IQF per series (a ``DistributionForecast``), so it answers
``quantile(u)`` at any level, never crosses, and works with every decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from gluonts.model.predictor import Predictor
from gluonts.torch.model.forecast import DistributionForecast

from ...distributions.censored import CensoredIQF
from ...distributions.iqf import IQF
from ...threads import torch_threads
from ..statistical import statistical_predictor
from .combine import combine, continued_tails, increasing, scale_tails, stretch
from .neural import as_float32

#: The member name of the trained networks (their weight is shared equally).
NETWORK = "network"
#: ``tails`` of a forecast whose tails continue its outer pieces' slopes.
CONTINUED = "continued"


def network_members(
    predictors: list, entries: list, levels: np.ndarray, float32: bool = False
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each network's ``(values (N, T, K), beta_l (N, T), beta_r (N, T))``, in
    data units (``float32``: the entries' targets cast to float32 first)."""
    out = []
    entries = as_float32(entries) if float32 else entries
    for predictor in predictors:
        values, left, right = [], [], []
        with torch.no_grad():
            for fc in predictor.predict(entries):
                d = fc.distribution
                values.append(d.quantile(levels.tolist()).double().numpy())  # (T, K)
                scale = torch.broadcast_to(d.scale, d.batch_shape).double().numpy()
                left.append(d.beta_l.double().numpy() / scale)
                right.append(d.beta_r.double().numpy() / scale)
        out.append((np.stack(values), np.stack(left), np.stack(right)))
    return out


def averaged_member(
    predictors: list, entries: list, levels: np.ndarray, float32: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equal-weight average of :func:`network_members` (one member of
    several trained networks, e.g. a neural member's seeds)."""
    nets = network_members(predictors, entries, levels, float32)
    return combine([1 / len(nets)] * len(nets), *zip(*nets))


def statistical_member(
    name: str,
    freq: str,
    prediction_length: int,
    entries: list,
    levels: np.ndarray,
    max_context: Optional[int] = None,
    season_length: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A statsforecast model's quantiles at the knots, its tails continued
    (at ``season_length``, GluonTS's season for ``freq`` if ``None``)."""
    predictor = statistical_predictor(
        name, freq, prediction_length, levels.tolist(), max_context, season_length
    )
    keys = [f"{u:g}" for u in levels]
    values = []
    for entry in entries:
        fc = predictor.predict_item(entry)
        rows = np.stack([fc.forecast_array[fc.forecast_keys.index(k)] for k in keys])
        target = np.asarray(entry["target"], dtype=np.float64)
        spread = np.nanstd(target) if np.isfinite(target).any() else 0.0
        spread = spread if spread > 0 else 1.0  # constant or empty history
        values.append(increasing(rows.T, spread))  # (T, K)
    values = np.stack(values)
    return (values, *continued_tails(levels, values))


class QuantileEnsemblePredictor(Predictor):
    """Forecasts of a weighted, level-by-level average of quantile functions.

    Parameters
    ----------
    prediction_length, freq
        The horizon and frequency every member forecasts.
    knot_levels
        The shared knot levels ``a_1 < ... < a_K`` (the networks' IQF head's).
    weights
        Member name -> weight (summing to one): :data:`NETWORK` for the
        networks, a key of ``neural``, else a model of
        :mod:`gluonts_qf.model.statistical`.
        Members of weight 0 are not computed.
    networks
        The trained IQF predictors, averaged into the ``network`` member.
    neural
        Neural member name -> its trained predictors (averaged into it), e.g.
        ``"feedforward"`` (:mod:`.neural`).
    choices
        What training chose and why (validation losses of every member);
        recorded with the predictor.
    member_context
        Steps of a series the statistical members read (the last ones).
    member_seasons
        Statistical member name -> the season it forecasts at (GluonTS's
        season for ``freq`` for a member not named).
    lower_bound
        Censor the forecasts from below at this value (``None``: not).
    spread
        ``(lower, upper)``: stretch the average about its median by these
        factors below and above it (:func:`.combine.stretch`); ``None``: not.
    tails
        ``(lower, upper)``: then make the tails beyond the outer knots this many
        times as heavy (:func:`.combine.scale_tails`); ``"continued"``: each
        tail continues the slope of the average's outer piece
        (:func:`.combine.continued_tails`); ``None``: as averaged.
    """

    def __init__(
        self,
        prediction_length: int,
        freq: str,
        knot_levels: list[float],
        weights: dict[str, float],
        networks: list,
        choices: Optional[dict[str, Any]] = None,
        member_context: Optional[int] = None,
        member_seasons: Optional[dict[str, int]] = None,
        lower_bound: Optional[float] = None,
        neural: Optional[dict[str, list]] = None,
        spread: Optional[Sequence[float]] = None,
        tails: Union[Sequence[float], str, None] = None,
    ) -> None:
        super().__init__(prediction_length=prediction_length)
        self.neural = {k: list(v) for k, v in (neural or {}).items()}
        self.lower_bound = None if lower_bound is None else float(lower_bound)
        self.member_context = member_context
        self.member_seasons = {k: int(v) for k, v in (member_seasons or {}).items()}
        self.freq = freq
        self.knot_levels = [float(a) for a in knot_levels]
        self.weights = {k: float(v) for k, v in weights.items()}
        self.networks = list(networks)
        self.choices = choices or {}
        self.spread = None if spread is None else tuple(float(s) for s in spread)
        if isinstance(tails, str) and tails != CONTINUED:
            raise ValueError(
                f"tails must be (lower, upper) factors, {CONTINUED!r} or None, "
                f"got {tails!r}."
            )
        self.tails = (
            tails
            if tails is None or isinstance(tails, str)
            else tuple(float(t) for t in tails)
        )

    def predict(self, dataset, num_samples: Optional[int] = None, **kwargs) -> Iterator:
        """One IQF ``DistributionForecast`` per series, in chunks of 512 series."""
        entries: list = []
        for entry in dataset:
            entries.append(entry)
            if len(entries) == 512:
                yield from self._forecast(entries)
                entries = []
        if entries:
            yield from self._forecast(entries)

    def _forecast(self, entries: list) -> Iterator[DistributionForecast]:
        levels = np.asarray(self.knot_levels)
        used = {k: w for k, w in self.weights.items() if w > 0}
        parts, weights = [], []
        threads = getattr(self.networks[0], "num_threads", None)
        for name, predictors in self._trained().items():
            if name not in used:
                continue
            with torch_threads(threads):  # the neural members' are GluonTS's own
                nets = network_members(predictors, entries, levels, name != NETWORK)
            parts += nets
            weights += [used.pop(name) / len(nets)] * len(nets)
        for name, w in used.items():
            member = statistical_member(
                name,
                self.freq,
                self.prediction_length,
                entries,
                levels,
                self.member_context,
                self.member_seasons.get(name),
            )
            parts.append(member)
            weights.append(w)
        values, left, right = combine(weights, *zip(*parts))
        if self.spread is not None:
            values, left, right = stretch(levels, values, left, right, *self.spread)
        if self.tails == CONTINUED:
            left, right = continued_tails(levels, values)
        elif self.tails is not None:
            left, right = scale_tails(left, right, *self.tails)
        knots = torch.tensor(levels)
        for i, entry in enumerate(entries):
            dist = IQF(
                knots,
                torch.from_numpy(values[i]),
                torch.from_numpy(left[i]),
                torch.from_numpy(right[i]),
            )
            if self.lower_bound is not None:
                dist = CensoredIQF(torch.tensor(self.lower_bound), **dist.params())
            yield DistributionForecast(
                dist,
                start_date=_forecast_start(entry),
                item_id=entry.get("item_id"),
                info=entry.get("info"),
            )

    # -- saving -----------------------------------------------------------
    def serialize(self, path: Path) -> None:
        """``ensemble.json`` and each network under ``network-<i>/``."""
        super().serialize(path)
        settings = {
            "prediction_length": self.prediction_length,
            "freq": self.freq,
            "knot_levels": self.knot_levels,
            "weights": self.weights,
            "choices": self.choices,
            "networks": len(self.networks),
            "member_context": self.member_context,
            "member_seasons": self.member_seasons,
            "lower_bound": self.lower_bound,
            "neural": {k: len(v) for k, v in self.neural.items()},
            "spread": self.spread,
            "tails": self.tails,
        }
        (path / "ensemble.json").write_text(json.dumps(settings, indent=1) + "\n")
        for name, nets in self._trained().items():
            for i, net in enumerate(nets):
                folder = path / f"{name}-{i}"
                folder.mkdir(exist_ok=True)
                net.serialize(folder)

    def _trained(self) -> dict[str, list]:
        """Trained member name -> its predictors, the IQF networks first."""
        return {NETWORK: self.networks, **self.neural}

    @classmethod
    def deserialize(cls, path: Path, **kwargs) -> QuantileEnsemblePredictor:
        settings = json.loads((Path(path) / "ensemble.json").read_text())
        counts = {NETWORK: settings.pop("networks"), **settings.pop("neural", {})}
        trained = {
            name: [
                Predictor.deserialize(Path(path) / f"{name}-{i}", **kwargs)
                for i in range(n)
            ]
            for name, n in counts.items()
        }
        return cls(**settings, networks=trained.pop(NETWORK), neural=trained)


def _forecast_start(entry: dict[str, Any]):
    """The first period after the entry's target."""
    return entry["start"] + np.shape(entry["target"])[-1]
