"""``IQFEnsembleEstimator``: an IQF network and statistical forecasters, weighted
on held-back windows of the training series.

What the strongest forecasting systems do with local and global models
(AutoGluon's weighted ensembles, the M4 winners' blends), in quantile space:

1. hold back the last ``prediction_length`` steps of (up to
   :data:`VALIDATION_MAX_SERIES`) training series (and, with ``windows > 1``,
   the windows before them);
2. for each window, train the network (an :class:`~gluonts_qf.IQFEstimator`;
   it stops early when its forecast of the window stops improving) on what
   comes before it, forecast the window with it and with every statistical
   member (statsforecast's AutoETS, AutoTheta, a seasonal naive with
   intervals, ... refitted per series, :mod:`gluonts_qf.model.statistical`),
   and, once the networks of step 4 have trained, with the neural members
   (:mod:`.neural`: a feed-forward network with an IQF head, the network at
   its other naive anchor), trained the same way;
3. choose the weights of the level-by-level average of their quantile
   functions that minimise the quantile loss over the windows
   (:func:`.combine.fit_weights`), then move ``network_prior`` of them to the
   trained members (the weighed networks saw a window less than the
   forecasting ones);
4. train the networks again on the whole training series (for as many epochs
   as were best on the window; ``seeds`` of them, each from its own
   initialisation); each trained member is the average of those networks and
   the one of the last window (one seed more for free).

The forecast is an exact IQF per series (members share the network's knot
levels; the average of such IQFs is one), so quantiles at any level, the CRPS
and every decision stay closed form. Nothing here is tuned per dataset: the
held-back windows choose.
"""

from typing import Optional, Sequence, Union

import numpy as np
from gluonts.core.component import validated
from gluonts.model.estimator import Estimator

from ...checks import check_int, check_interval
from ..iqf.estimator import IQFEstimator
from ..statistical import MODELS
from .combine import (
    fit_spread,
    fit_tails,
    fit_weights,
    median_index,
    quantiles_at,
)
from .defaults import (
    DEFAULT_MEMBERS,
    MEMBER_CONTEXT,
    NAIVE,
    NAIVE_SEASON,
    NETWORK_PRIOR,
    PATIENCE,
    SCORED_LEVELS,
    SEEDS,
    SPREAD,
    SPREAD_FITS,
    TAIL_FITS,
    TAILS,
    VALIDATION_MAX_SERIES,
    VALIDATION_WINDOWS,
)
from .neural import NEURAL_MEMBERS, OTHER, train_members
from .predictor import (
    CONTINUED,
    NETWORK,
    QuantileEnsemblePredictor,
    network_members,
    statistical_member,
)
from .windows import (
    cut,
    lean,
    never_negative,
    other_anchor,
    stopping,
    validation_windows,
    window_forecast,
    with_trainer,
)


class IQFEnsembleEstimator(Estimator):
    """An IQF network and statistical forecasters, averaged in quantile space.

    Parameters
    ----------
    network
        The IQF network to train (its knot levels are the ensemble's; one
        piece per interval). Its ``freq`` and ``prediction_length`` are the
        ensemble's.
    members
        The other members: neural ones (:data:`.neural.NEURAL_MEMBERS`:
        ``"feedforward"``, trained on the network's budget, in seconds;
        ``"other_anchor"``, the IQF network at the anchor its backtest did not
        pick, left out where there is none, as on yearly data, or where it
        picked the frequency's own season) and statistical
        ones, names of :data:`gluonts_qf.model.statistical.MODELS`.
    step
        Grid step of the weights (each a multiple of it).
    member_context
        The statistical members read the last ``member_context`` steps of a
        series (AutoETS takes 0.76 s a series on m4_hourly's 700 steps, 0.26 s
        on the last 300).
    windows
        Held-back windows that choose the weights, the last ones of the
        training series, one after another; each trains the network once
        more. A window needs series longer than ``windows * prediction_length
        + 1`` steps; windows no series is long enough for are left out.
    network_prior
        Share of the weights moved to the trained members after the fit,
        ``w = (1 - network_prior) * w_fit + network_prior * t``, ``t`` the
        fitted weights of the IQF network and the neural members rescaled to
        sum to one (``(1, 0, ..., 0)`` when they have none): a network weighed
        on a window trained on every series less that window, the networks
        that forecast on all of it, so the window underrates the networks
        (on short series most: tourism_yearly's weighed network scores 0.17
        on its window where AutoETS scores 0.11, and 0.129 on the test where
        AutoETS scores 0.157).
    lower_bound
        Forecasts are censored from below at this value (a point mass there,
        :class:`~gluonts_qf.distributions.censored.CensoredIQF`): ``"auto"``
        (default) censors at 0 when no training value is negative (demand,
        counts, prices), ``None`` never, a number at that number. Every
        quantile below the bound moves up to it, so no pinball loss of a
        value at or above it rises (on series near zero, up to a third of
        the network's low quantiles were negative: docs/benchmarks.md).
    patience
        Early stopping on the last held-back window: the network that is
        weighed validates on it after every epoch (the CRPS of its forecast
        of the window, in units of each series' scale), stops once that has
        not fallen for ``patience`` epochs, at most the network's
        ``max_epochs``, and keeps its best epoch; the networks trained on all
        the data train as many epochs as were best. The predictor's
        ``choices["epochs"]`` holds the validation curve and the epochs
        chosen. ``None``: all train ``max_epochs``.
    spread
        ``"window"``: after the weights, stretch the averaged quantile function
        about its median by one factor (:func:`.combine.stretch`, 0.5 to 2),
        the one minimising the quantile loss of the weighted forecast on the
        held-back windows (at the body and tail levels): intervals that were
        too narrow or too wide there widen or narrow. ``"window_sides"``: one
        factor below the median and one above, each so chosen. The forecast
        stays an exact IQF. ``None``: no stretch.
    tails
        ``"window"``: after the weights (and the spread), make each tail of the
        averaged quantile function beyond the outer knots lighter or heavier
        (:func:`.combine.scale_tails`, 0.25 to 4 times as far from the outer
        knot) by the factor minimising the quantile loss of the weighted
        forecast of the held-back windows at the scored levels beyond that knot
        (0.01, 0.025, 0.05 and 0.95, 0.975, 0.99 with knots at 0.1 and 0.9).
        Every quantile between the outer knots, hence the body's loss, stays
        as it is; the forecast stays an exact IQF. ``"window_shared"``: one
        factor for both tails, so chosen. ``"continued"``: each tail continues
        the slope of the averaged quantile function's outer piece (the lightest
        tail that is never thinner than that piece; nothing is fitted).
        ``None``: as the weighted average makes them.
    naive_season
        The season of the seasonal naive member (``"naive_intervals"``):
        ``"auto"`` the season of the network's seasonal anchor where the
        network's ``anchor="auto"`` backtest of naive anchors on the training
        series chose one, including longer calendar seasons than GluonTS's
        (52 for weekly data, 168 for hourly), otherwise GluonTS's season for
        the frequency; a number: that season; ``None``: GluonTS's season.
        AutoETS, AutoTheta and AutoARIMA choose their own seasonal form and
        keep GluonTS's season (AutoETS cannot fit seasons over 24).
    seeds
        How many networks are trained on all the training series, each from
        its own initialisation (the random generators run on, so a seeded
        run is repeatable); the forecast's network member is the equal
        average of them and the network of the held-back window, and so is
        the other anchor's member. Each costs a training (two with it).
    seed_settings
        ``None`` (default): the ``seeds`` networks of all the data train alike.
        Otherwise one dict per such network (``seeds`` of them) of
        :class:`~gluonts_qf.IQFEstimator` arguments that network trains with
        in place of the ensemble network's, e.g. ``[{}, {"scale_weighting":
        1.0}]`` for a network member of networks trained two ways (the
        network of the held-back window and the other anchor's member keep
        the network's own settings). Measured with a second network at
        ``scale_weighting=1`` and at ``scaling="mean"``, not a default: each
        lost on cif_2016 more than it gained elsewhere (docs/benchmarks.md).
    """

    @validated()
    def __init__(
        self,
        network: IQFEstimator,
        members: Sequence[str] = DEFAULT_MEMBERS,
        step: float = 0.05,
        member_context: int = MEMBER_CONTEXT,
        windows: int = VALIDATION_WINDOWS,
        network_prior: float = NETWORK_PRIOR,
        lower_bound: Union[float, str, None] = "auto",
        patience: Optional[int] = PATIENCE,
        spread: Optional[str] = SPREAD,
        tails: Optional[str] = TAILS,
        seeds: int = SEEDS,
        naive_season: Union[int, str, None] = NAIVE_SEASON,
        seed_settings: Optional[Sequence[dict]] = None,
    ) -> None:
        super().__init__()
        known = [*NEURAL_MEMBERS, *MODELS]
        unknown = [m for m in members if m not in known]
        if unknown:
            raise ValueError(
                f"unknown ensemble member(s) {unknown}; choose from {known}."
            )
        if network.distr_output.num_pieces != 1:
            raise ValueError(
                "the ensemble's network needs one piece per knot interval "
                "(num_pieces=1): only then is the average an exact IQF."
            )
        self.network = network
        self.members = list(dict.fromkeys(members))
        self.neural = [m for m in self.members if m in NEURAL_MEMBERS]
        self.statistical = [m for m in self.members if m not in NEURAL_MEMBERS]
        self.step = check_interval("step", step, 0.0, 1.0, closed_low=False)
        self.member_context = check_int("member_context", member_context)
        self.windows = check_int("windows", windows)
        self.network_prior = check_interval(
            "network_prior",
            network_prior,
            0.0,
            1.0,
            closed_low=True,
            hint="for the network alone, train IQFEstimator",
        )
        if isinstance(lower_bound, str) and lower_bound != "auto":
            raise ValueError(
                f"lower_bound must be 'auto', None or a number, got {lower_bound!r}; "
                "e.g. lower_bound=0.0 for data that cannot be negative."
            )
        if not isinstance(lower_bound, str) and lower_bound is not None:
            if not np.isfinite(lower_bound):
                raise ValueError(
                    f"lower_bound must be finite, got {lower_bound}; use None "
                    "for forecasts without a bound."
                )
            lower_bound = float(lower_bound)
        self.lower_bound = lower_bound
        self.patience = None if patience is None else check_int("patience", patience)
        if spread not in SPREAD_FITS:
            raise ValueError(
                f"spread must be one of {SPREAD_FITS}, got {spread!r}; 'window' "
                "fits the forecast's spread on the held-back windows."
            )
        knots = network.distr_output.knot_levels
        if spread == "window_sides" and median_index(knots) is None:
            raise ValueError(
                "spread='window_sides' needs a knot at 0.5 (the median it "
                f"stretches about); the knots are {list(knots)}."
            )
        self.spread = spread
        if tails not in TAIL_FITS:
            raise ValueError(
                f"tails must be one of {TAIL_FITS}, got {tails!r}; 'window' fits "
                "how heavy each tail is on the held-back windows."
            )
        self.tails = tails
        self.seeds = check_int("seeds", seeds)
        if isinstance(naive_season, str) and naive_season != "auto":
            raise ValueError(
                f"naive_season must be 'auto', None or a season length, got "
                f"{naive_season!r}; e.g. naive_season=52 for weekly data."
            )
        if naive_season is not None and not isinstance(naive_season, str):
            naive_season = check_int("naive_season", naive_season)
        self.naive_season = naive_season
        self.seed_settings = _seed_settings(seed_settings, self.seeds, network)
        self.freq, self.prediction_length = network.freq, network.prediction_length

    def train(
        self, training_data, validation_data=None, **kwargs
    ) -> QuantileEnsemblePredictor:
        """Validate, weigh, retrain; the predictor's ``choices`` say what was chosen."""
        data = list(training_data)
        T = self.prediction_length
        levels = np.asarray(self.network.distr_output.knot_levels)
        nets, curves, windows = [], [], []
        for k, (heads, futures) in enumerate(
            validation_windows(data, T, self.windows, VALIDATION_MAX_SERIES)
        ):
            part = cut(data, (k + 1) * T)
            if self.patience is None:
                nets.append(self.network.train(part, **kwargs))
            else:  # stop when the forecast of the window stops getting better
                network, curve = stopping(self.network, self.patience)
                whole = [
                    {**h, "target": np.concatenate([h["target"], f])}
                    for h, f in zip(heads, futures)
                ]
                nets.append(network.train(part, validation_data=whole, **kwargs))
                curves.append(curve)
            if k == 0:  # its choice of anchor sets the naive member's season
                seasons = self._member_seasons(nets[0])
            members = network_members(nets[-1:], heads, levels)
            members += [
                statistical_member(
                    m, self.freq, T, heads, levels, self.member_context, seasons.get(m)
                )
                for m in self.statistical
            ]
            windows.append((part, heads, futures, members))
        final = self.network
        if curves:  # as many epochs as were best on the last window
            final = with_trainer(self.network, max_epochs=curves[0].best_epochs)
        # each from its own initialisation (the generators run on)
        full = [
            (final.resolved(None, **settings) if settings else final).train(
                data, **kwargs
            )
            for settings in self.seed_settings or [{}] * self.seeds
        ]
        # the neural members train after the default's networks, so these
        # are the same networks with them or without
        other = other_anchor(nets[0], self.freq)
        wanted = [n for n in self.neural if other is not None or n != OTHER]
        trained = (self.network, final, self.seeds)  # seeds: the other's too
        neural, window_members = train_members(
            wanted, trained, windows, data, levels, other, **kwargs
        )
        names = [NETWORK, *neural, *self.statistical]
        scored = [
            np.stack(
                [quantiles_at(levels, *m, SCORED_LEVELS) for m in members]
            ).reshape(len(names), -1, len(SCORED_LEVELS))  # (M, N*T, L)
            for members in window_members
        ]
        observed = [np.stack(w[2]).reshape(-1) for w in windows]
        fitted, alone = fit_weights(
            np.concatenate(scored, axis=1),
            np.concatenate(observed),
            SCORED_LEVELS,
            self.step,
        )
        weights = lean(fitted, 1 + len(neural), self.network_prior)
        factors = None
        if self.spread is not None:  # the weighted forecast of the windows
            quantiles = np.einsum("m,mnl->nl", weights, np.concatenate(scored, 1))
            factors = fit_spread(
                quantiles,
                np.concatenate(observed),
                SCORED_LEVELS,
                sides=self.spread == "window_sides",
            )
        lower = self.lower_bound
        if lower == "auto":
            lower = 0.0 if never_negative(data) else None
        # the weighted forecast of the windows, its tails as averaged
        window = window_forecast(levels, weights, window_members, observed, factors)
        heavier = self.tails if self.tails == CONTINUED else None
        if self.tails in ("window", "window_shared"):
            heavier = fit_tails(
                levels,
                *window,
                SCORED_LEVELS,
                lower_bound=lower,
                shared=self.tails == "window_shared",
            )
        choices = {
            "weights": dict(zip(names, map(float, weights))),
            "fitted_weights": dict(zip(names, map(float, fitted))),
            "validation_wql": dict(zip(names, map(float, alone))),
            "validation_series": len(observed[0]) // T,
            "validation_windows": len(observed),
            "lower_bound": lower,
            # the other anchor's choice, None where it is left out
            "other_anchor": None if other is None else other.as_dict(),
            "member_seasons": seasons,
            "spread": None
            if factors is None
            else dict(zip(("lower", "upper"), factors)),
            "tails": heavier
            if heavier is None or heavier == CONTINUED
            else dict(zip(("lower", "upper"), heavier)),
            "network": full[0].choices,
            "epochs": {
                "validation_loss": [c.scores for c in curves],
                "chosen": curves[0].best_epochs if curves else None,
            },
        }
        predictor = QuantileEnsemblePredictor(
            prediction_length=T,
            freq=self.freq,
            knot_levels=levels.tolist(),
            weights=choices["weights"],
            networks=[nets[0], *full],
            choices=choices,
            member_context=self.member_context,
            member_seasons=seasons,
            lower_bound=lower,
            neural=neural,
            spread=factors,
            tails=heavier,
        )
        # kept in memory for diagnostics (not saved): (values, beta_l, beta_r, y)
        predictor.window_forecast = window
        return predictor

    def _member_seasons(self, network) -> dict[str, int]:
        """``{member: season}`` for the statistical members not at GluonTS's
        season: the naive member's, from ``naive_season`` and the trained
        ``network``'s choice of anchor."""
        if NAIVE not in self.statistical or self.naive_season is None:
            return {}
        if self.naive_season != "auto":
            return {NAIVE: self.naive_season}
        adaptive = (getattr(network, "choices", None) or {}).get("adaptive")
        if adaptive is not None and adaptive["anchor"] == "seasonal":
            return {NAIVE: int(adaptive["season_length"])}
        if self.network.anchor == "seasonal":  # fixed, not chosen
            return {NAIVE: int(self.network.season_length)}
        return {}


def _seed_settings(
    settings: Optional[Sequence[dict]], seeds: int, network: IQFEstimator
) -> Optional[list[dict]]:
    """``seed_settings`` checked: one dict per network of all the data, each
    of the network's own arguments (not its frequency or horizon)."""
    if settings is None:
        return None
    settings = [dict(s) for s in settings]
    if len(settings) != seeds:
        raise ValueError(
            f"seed_settings holds {len(settings)} settings for seeds={seeds} "
            "networks; give one dict per network, e.g. [{}, "
            "{'scale_weighting': 1.0}] for seeds=2."
        )
    known = set(network.__init_args__) - {"freq", "prediction_length"}
    unknown = sorted({k for s in settings for k in s} - known)
    if unknown:
        raise ValueError(
            f"seed_settings: {unknown} are not IQFEstimator arguments; choose "
            f"from {sorted(known)}."
        )
    for s in settings:  # a bad value is said now, not after the first training
        network.resolved(None, **s)
    return settings
