"""``IQFEnsembleEstimator``: an IQF network and statistical forecasters, weighted
on held-back windows of the training series.

What the strongest forecasting systems do with local and global models
(AutoGluon's weighted ensembles, the M4 winners' blends), in quantile space:

1. hold back the last ``prediction_length`` steps of (up to
   :data:`VALIDATION_MAX_SERIES`) training series;
2. train the network (an :class:`~gluonts_qf.IQFEstimator`) on what is left,
   forecast the held-back windows with it and with every statistical member
   (statsforecast's AutoETS, AutoTheta, a seasonal naive with intervals, ...
   refitted per series, :mod:`gluonts_qf.model.statistical`);
3. choose the weights of the level-by-level average of their quantile
   functions that minimise the quantile loss there (:func:`.combine.fit_weights`);
4. train the network again on the whole training series; the network member
   is the average of both networks (a two-seed ensemble for free).

The forecast is an exact IQF per series (members share the network's knot
levels; the average of such IQFs is one), so quantiles at any level, the CRPS
and every decision stay closed form. Nothing here is tuned per dataset: the
held-back windows choose.
"""

from typing import Any, Optional, Sequence

import numpy as np
from gluonts.core.component import validated
from gluonts.model.estimator import Estimator

from ...checks import check_int, check_interval
from ..iqf.estimator import IQFEstimator
from ..statistical import MODELS
from .combine import fit_weights, quantiles_at
from .predictor import (
    NETWORK,
    QuantileEnsemblePredictor,
    network_members,
    statistical_member,
)

#: The statistical members by default (AutoARIMA is left out: minutes per
#: dataset where the others take seconds; see docs/benchmarks.md).
DEFAULT_MEMBERS = ("auto_ets", "auto_theta", "naive_intervals")
#: Steps of a series the statistical members read (the last ones).
MEMBER_CONTEXT = 300
#: Series whose last window chooses the weights (the first ones): the weights
#: are global, and a thousand windows decide them well.
VALIDATION_MAX_SERIES = 1000
#: Levels at which the held-back windows are scored: the body and the tails.
SCORED_LEVELS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SCORED_LEVELS += (0.95, 0.975, 0.99)


class IQFEnsembleEstimator(Estimator):
    """An IQF network and statistical forecasters, averaged in quantile space.

    Parameters
    ----------
    network
        The IQF network to train (its knot levels are the ensemble's; one
        piece per interval). Its ``freq`` and ``prediction_length`` are the
        ensemble's.
    members
        Statistical members, names of :data:`gluonts_qf.model.statistical.MODELS`.
    step
        Grid step of the weights (each a multiple of it).
    member_context
        The statistical members read the last ``member_context`` steps of a
        series (AutoETS takes 0.76 s a series on m4_hourly's 700 steps, 0.26 s
        on the last 300).
    """

    @validated()
    def __init__(
        self,
        network: IQFEstimator,
        members: Sequence[str] = DEFAULT_MEMBERS,
        step: float = 0.05,
        member_context: int = MEMBER_CONTEXT,
    ) -> None:
        super().__init__()
        unknown = [m for m in members if m not in MODELS]
        if unknown:
            raise ValueError(
                f"unknown ensemble member(s) {unknown}; choose from {list(MODELS)}."
            )
        if network.distr_output.num_pieces != 1:
            raise ValueError(
                "the ensemble's network needs one piece per knot interval "
                "(num_pieces=1): only then is the average an exact IQF."
            )
        self.network = network
        self.members = list(dict.fromkeys(members))
        self.step = check_interval("step", step, 0.0, 1.0, closed_low=False)
        self.member_context = check_int("member_context", member_context)
        self.freq, self.prediction_length = network.freq, network.prediction_length

    def train(
        self, training_data, validation_data=None, **kwargs
    ) -> QuantileEnsemblePredictor:
        """Validate, weigh, retrain; the predictor's ``choices`` say what was chosen."""
        data = list(training_data)
        T = self.prediction_length
        heads, futures = held_back(data, T, VALIDATION_MAX_SERIES)
        train_heads = [
            {**e, "target": np.asarray(e["target"])[..., :-T]}
            if np.shape(e["target"])[-1] > T + 1
            else e
            for e in data
        ]
        first = self.network.train(train_heads, **kwargs)
        levels = np.asarray(self.network.distr_output.knot_levels)
        names = [NETWORK, *self.members]
        members = network_members([first], heads, levels)
        members += [
            statistical_member(m, self.freq, T, heads, levels, self.member_context)
            for m in self.members
        ]
        scored = np.stack(
            [quantiles_at(levels, *m, SCORED_LEVELS) for m in members]
        )  # (M, N, T, L)
        y = np.stack(futures)  # (N, T)
        weights, alone = fit_weights(
            scored.reshape(len(names), -1, len(SCORED_LEVELS)),
            y.reshape(-1),
            SCORED_LEVELS,
            self.step,
        )
        second = self.network.train(data, **kwargs)
        choices = {
            "weights": dict(zip(names, map(float, weights))),
            "validation_wql": dict(zip(names, map(float, alone))),
            "validation_series": len(heads),
            "network": second.choices,
        }
        return QuantileEnsemblePredictor(
            prediction_length=T,
            freq=self.freq,
            knot_levels=levels.tolist(),
            weights=choices["weights"],
            networks=[first, second],
            choices=choices,
            member_context=self.member_context,
        )


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
