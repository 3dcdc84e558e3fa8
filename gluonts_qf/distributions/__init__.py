"""Distributions defined by learned quantile functions."""

from .gradient_map import MQF2
from .iqf import IQF, IQFOutput
from .mqf2 import MQF2Output

__all__ = ["IQF", "IQFOutput", "MQF2", "MQF2Output"]
