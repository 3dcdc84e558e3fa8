"""The ensemble's defaults, each with the measurement that chose it
(docs/benchmarks.md)."""

from .predictor import CONTINUED

#: The members by default: the network at its other naive anchor (left out
#: where the backtest chose the frequency's own season, as on m4_hourly,
#: hospital and tourism_monthly, and on yearly data; elsewhere, at three
#: seeds, m4_weekly -10% to -12%, electricity_weekly -3% to -5%, kdd_cup_2018
#: -9% to -18%, sunspot -2% to -9%, but m1_monthly +1.4% to +2.1%; its
#: networks of all the data as many as the network member's, ``seeds``: a
#: further -0.2% to -0.5% in geometric mean over the 16 datasets, seeds 0-2;
#: docs/benchmarks.md) and three statistical forecasters. AutoARIMA is left
#: out: minutes per dataset where the others take seconds; the "feedforward"
#: member too: it helped much on kdd_cup_2018 only, and hurt five of six
#: development datasets.
DEFAULT_MEMBERS = ("other_anchor", "auto_ets", "auto_theta", "naive_intervals")
#: Steps of a series the statistical members read (the last ones).
MEMBER_CONTEXT = 300
#: Series whose last window chooses the weights (the first ones): the weights
#: are global, and a thousand windows decide them well.
VALIDATION_MAX_SERIES = 1000
#: Held-back windows that choose the weights (pooled): one; two were worse on
#: the held-out datasets (docs/benchmarks.md).
VALIDATION_WINDOWS = 1
#: Share of the fitted weights moved to the network: the network that is
#: weighed trained on less history (every series less a window) than the
#: networks that forecast, so the window underrates it (docs/benchmarks.md).
NETWORK_PRIOR = 0.25
#: Epochs without a lower loss on the held-back window after which the
#: network that is weighed stops (its best epoch is kept, and the networks
#: trained on all the data train as many epochs); ``None``: no early stopping
#: (being measured, docs/benchmarks.md).
PATIENCE = None
#: How the ensemble's spread about its median is set: ``None`` leaves it as
#: the weighted average makes it (being measured, docs/benchmarks.md).
SPREAD = None
#: The values ``spread`` takes.
SPREAD_FITS = (None, "window", "window_sides")
#: How heavy the ensemble's tails beyond the outer knots are: ``None`` as the
#: weighted average makes them (being measured, docs/benchmarks.md).
TAILS = None
#: The values ``tails`` takes.
TAIL_FITS = (None, "window", "window_shared", CONTINUED)
#: Networks trained on all the training series, each from its own
#: initialisation; with the one of the held-back window they make the
#: network member. Two: the tail loss -0.8% / -1.8% / -1.3% on the
#: development datasets (seeds 0-2), the mean wQL -0.9% / +0.4% / -0.3%; held
#: out (seeds 0, 1) -1.6% / -1.6%, tails -0.3% / -1.8%; one training more
#: (docs/benchmarks.md).
SEEDS = 2
#: The season of the seasonal naive member: ``"auto"``, the season of the
#: network's seasonal anchor where its backtest of naive anchors chose one
#: (electricity_weekly: 52 weeks where GluonTS's season for weekly data is 1;
#: the member's test wQL 0.146 -> 0.061, docs/benchmarks.md).
NAIVE_SEASON = "auto"
#: The member that follows ``naive_season``.
NAIVE = "naive_intervals"
#: Levels at which the held-back windows are scored: the body and the tails.
SCORED_LEVELS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SCORED_LEVELS += (0.95, 0.975, 0.99)
