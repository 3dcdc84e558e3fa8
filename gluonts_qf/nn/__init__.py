"""Neural network building blocks."""

from .picnn import PICNN

__all__ = ["PICNN"]
