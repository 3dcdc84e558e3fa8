"""Decisions from a forecast's quantile function.

"If I guarantee 95% of orders instead of 94%, how much more stock do I need?",
"what level minimises my holding plus stock-out cost?", "how much must I hold
to cover the next 7 days at 98%?", "what fill rate does that stock give?".

IQF forecasts answer exactly (closed-form quantiles, slopes and partial
expectations of the spline quantile function); sample forecasts (MQF2's joint
draws, any GluonTS ``SampleForecast``) answer from their samples.

- :func:`service_tradeoff` -> :class:`TradeOff`: quantity, extra quantity per
  percentage point, fill rate (and expected cost) at service levels, per
  series and summed over series.
- :func:`outcome`, :func:`expected_shortage`, :func:`expected_leftover`,
  :func:`fill_rate`, :func:`expected_cost`: what stocking a quantity gives.
- :func:`critical_fractile`, :func:`newsvendor`: the cost-optimal level and
  quantity for per-unit under- and over-stock costs.
- :func:`lead_time_total` -> :class:`LeadTimeTotal`: demand summed over the
  next ``k`` steps, from joint samples or under the named assumption
  ``"independent steps"``; :func:`compare_lead_time_totals` and
  :func:`lead_time_coverage` show what that assumption costs.
- :func:`pooled_demand` -> :class:`PooledDemand`: demand summed over series
  (one warehouse for many stores), from MQF2's joint draws across series or
  under the named assumption ``"independent series"``; a :class:`Demand`
  that every decision above takes.
- :func:`decide` -> :class:`DecisionReport`: all of it for many series, as
  ``gluonts-qf decide`` prints and plots it.
- :func:`as_demand`, :class:`IQFDemand`, :class:`SampleDemand`: the demand
  distribution behind a forecast.
"""

from .demand import Demand, IQFDemand, SampleDemand, as_demand
from .lead_time import (
    ASSUMPTIONS,
    INDEPENDENT,
    JOINT,
    Coverage,
    LeadTimeTotal,
    TotalsComparison,
    compare_lead_time_totals,
    lead_time_coverage,
    lead_time_total,
)
from .pooling import (
    INDEPENDENT_SERIES,
    JOINT_SERIES,
    POOLING_ASSUMPTIONS,
    PooledDemand,
    pooled_demand,
)
from .report import DecisionReport, decide
from .service import (
    Newsvendor,
    Outcome,
    TradeOff,
    critical_fractile,
    expected_cost,
    expected_leftover,
    expected_shortage,
    fill_rate,
    newsvendor,
    outcome,
    parse_costs,
    service_tradeoff,
)

__all__ = [
    "ASSUMPTIONS",
    "INDEPENDENT",
    "INDEPENDENT_SERIES",
    "JOINT",
    "JOINT_SERIES",
    "POOLING_ASSUMPTIONS",
    "Coverage",
    "DecisionReport",
    "Demand",
    "IQFDemand",
    "LeadTimeTotal",
    "Newsvendor",
    "Outcome",
    "PooledDemand",
    "SampleDemand",
    "TotalsComparison",
    "TradeOff",
    "as_demand",
    "compare_lead_time_totals",
    "critical_fractile",
    "decide",
    "expected_cost",
    "expected_leftover",
    "expected_shortage",
    "fill_rate",
    "lead_time_coverage",
    "lead_time_total",
    "newsvendor",
    "outcome",
    "parse_costs",
    "pooled_demand",
    "service_tradeoff",
]
