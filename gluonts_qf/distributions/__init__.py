"""Distributions defined by learned quantile functions."""

from .iqf import IQF, IQFOutput

__all__ = ["IQF", "IQFOutput"]
