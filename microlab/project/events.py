"""Events: observers of a project (the widgets) are told what changed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

EVENTS = ("annotation", "stroke", "classes", "images", "prediction", "model", "saved", "error")
"""Every event a project emits."""


class Events:
    """Callbacks per event name, called in the order they were connected.

    Examples
    --------
    >>> events = Events()
    >>> seen = []
    >>> events.on("stroke", seen.append)
    >>> events.emit("stroke", 3)
    >>> events.off("stroke", seen.append)
    >>> events.emit("stroke", 4)
    >>> seen, events.count()
    ([3], 0)
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callable]] = {e: [] for e in EVENTS}

    def on(self, event: str, callback: Callable) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {EVENTS}")
        self._callbacks[event].append(callback)

    def off(self, event: str, callback: Callable) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._callbacks[event].remove(callback)

    def emit(self, event: str, *args) -> None:
        for callback in list(self._callbacks[event]):
            callback(*args)

    def count(self) -> int:
        """How many callbacks are connected (to check that observers disconnect)."""
        return sum(len(c) for c in self._callbacks.values())
