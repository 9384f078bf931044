"""Events: observers are told what changed (the project's and the annotator's alike)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence


class Events:
    """Callbacks per event name, called in the order they were connected.

    Parameters
    ----------
    names : sequence of str
        The events that exist; connecting to another name is an error.

    Examples
    --------
    >>> events = Events(["stroke"])
    >>> seen = []
    >>> events.on("stroke", seen.append)
    >>> events.emit("stroke", 3)
    >>> events.off("stroke", seen.append)
    >>> events.emit("stroke", 4)
    >>> seen, events.count()
    ([3], 0)
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._callbacks: dict[str, list[Callable]] = {e: [] for e in self.names}

    def on(self, event: str, callback: Callable) -> None:
        if event not in self._callbacks:
            raise ValueError(f"unknown event {event!r}; one of {self.names}")
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


class Observable:
    """Gives a class ``on``/``off``/``observers`` over its ``_events`` (an :class:`Events`).

    The class documents its events (names and callback arguments) in its own docstring.
    """

    _events: Events

    def on(self, event: str, callback: Callable) -> None:
        """Call ``callback`` after ``event`` (see the class's list of events)."""
        self._events.on(event, callback)

    def off(self, event: str, callback: Callable) -> None:
        """Stop calling ``callback`` after ``event``."""
        self._events.off(event, callback)

    @property
    def observers(self) -> int:
        """How many callbacks are connected (a closed widget leaves none behind)."""
        return self._events.count()
