"""The traditional-ML tier: engineered features feeding a Random Forest pixel classifier."""

from .forest import RandomForestSegmenter

__all__ = ["RandomForestSegmenter"]
