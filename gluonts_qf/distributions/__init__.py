"""Distributions defined by learned quantile functions."""

from .iqf import IQF, IQFOutput
from .mqf2 import MQF2, MQF2Output

__all__ = ["IQF", "IQFOutput", "MQF2", "MQF2Output"]
