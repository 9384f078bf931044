"""The events a project emits to its observers (the widgets)."""

from __future__ import annotations

from .._events import Events

EVENTS = ("annotation", "stroke", "classes", "images", "prediction", "model", "saved", "error",
          "objects", "settings")
"""Every event a project emits."""

__all__ = ["EVENTS", "Events"]
