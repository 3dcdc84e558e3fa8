"""One validator per kind of value, used at the package's boundaries.

Constructors (estimators, outputs), data checks and the command line call
these; inner modules trust what they are given. Every failure is a
``ValueError`` that names the setting, shows the value and says how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _hint(hint: str) -> str:
    return f"; {hint}" if hint else "."


def check_int(name: str, value: Any, low: int = 1, hint: str = "") -> int:
    """``value`` as an ``int`` >= ``low`` (bools and non-integral numbers are rejected)."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
        and int(value) == value
        and value >= low
    )
    if not ok:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}, got {value!r}{_hint(hint)}")
    return int(value)


def check_optional_int(
    name: str, value: Any, low: int = 1, hint: str = ""
) -> int | None:
    """As :func:`check_int`, but ``None`` passes (meaning "choose for me")."""
    return None if value is None else check_int(name, value, low, hint)


def check_positive(name: str, value: Any, hint: str = "") -> float:
    """``value`` as a finite ``float`` > 0."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
        and value > 0
    )
    if not ok:
        raise ValueError(
            f"{name} must be a positive number, got {value!r}{_hint(hint)}"
        )
    return float(value)


def check_interval(
    name: str,
    value: Any,
    low: float,
    high: float,
    closed_low: bool = False,
    hint: str = "",
    closed_high: bool = False,
) -> float:
    """``value`` as a ``float`` in ``(low, high)``; ``closed_low`` /
    ``closed_high`` include that end (``[low, high)``, ``[low, high]``, ...)."""
    number = (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(value)
    )
    above = low <= value if closed_low else low < value
    below = value <= high if closed_high else value < high
    if not (number and above and below):
        if closed_low or closed_high:
            where = (
                f"be in {'[' if closed_low else '('}{low:g}, "
                f"{high:g}{']' if closed_high else ')'}"
            )
        else:
            where = f"lie strictly between {low:g} and {high:g}"
        raise ValueError(f"{name} must {where}, got {value!r}{_hint(hint)}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_levels(levels: Iterable[float] | Any, name: str = "levels") -> np.ndarray:
    """Quantile levels as a 1-D float64 array, in the order given.

    Raises a ``ValueError`` when there is none, or one is not strictly inside
    (0, 1). Accepts any iterable of numbers, a numpy array or a torch tensor.
    """
    if hasattr(levels, "detach"):  # a torch tensor
        levels = levels.detach().cpu().numpy()
    try:
        arr = np.asarray(levels, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numbers strictly between 0 and 1, got {levels!r}."
        ) from None
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one level in (0, 1).")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr >= 1):
        raise ValueError(
            f"{name} must lie strictly between 0 and 1, got {arr.tolist()}; "
            "use e.g. 0.05 for the 5% quantile."
        )
    return arr
