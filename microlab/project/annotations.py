"""The annotation layers of a project: the one place that changes them.

The brush and the eraser, a whole-layer replacement, undo and redo all go through
:class:`Annotations`, which records what each change did (for undo), counts versions (for
the autosave) and tells observers through the project's events.
"""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..labels import paint_disk
from .events import Events

UNDO_STEPS = 200
"""Strokes kept for undo."""


@dataclass
class Change:
    """One painted segment: flat indices into a layer, their previous values, the new value."""

    index: int
    flat: np.ndarray
    before: np.ndarray
    value: int


class Annotations:
    """Sparse annotation layers (0 = unlabelled, 1..C), painted with undo/redo.

    Parameters
    ----------
    lock : threading.RLock
        Shared with the project (and its autosave thread).
    events : Events
        Where ``"annotation"`` and ``"stroke"`` are emitted.
    load : callable
        ``load(index) -> ndarray``: the layer of image ``index`` as saved (or zeros).
    classes : callable
        ``classes() -> int``: the number of classes (painted values are 1..that).
    axes : callable
        ``axes(index) -> str``: the layer's axes (for messages).
    touched : callable
        Called with no argument after every change (wakes the autosave).
    """

    def __init__(self, *, lock: threading.RLock, events: Events,
                 load: Callable[[int], np.ndarray], classes: Callable[[], int],
                 axes: Callable[[int], str], touched: Callable[[], None]) -> None:
        self._lock = lock
        self._events = events
        self._load = load
        self._classes = classes
        self._axes = axes
        self._touched = touched
        self._layers: dict[int, np.ndarray] = {}
        self.version: dict[int, int] = {}
        self.saved: dict[int, int] = {}
        self._undo: list[list[Change]] = []
        self._redo: list[list[Change]] = []
        self.stroke: list[Change] | None = None
        self.last_change = 0.0
        self.pending_since: float | None = None
        """When the first finished change not yet handed to the autosave ended."""

    # ------------------------------------------------------------------ layers
    def layer(self, index: int) -> np.ndarray:
        """The layer of image ``index`` (loaded on first use)."""
        with self._lock:
            if index not in self._layers:
                self._layers[index] = np.ascontiguousarray(self._load(index))
                self.version.setdefault(index, 0)
                self.saved.setdefault(index, 0)
            return self._layers[index]

    def widen(self) -> None:
        """Hold values above 255 (the project got its 256th class)."""
        with self._lock:
            for i, layer in self._layers.items():
                if layer.dtype == np.uint8:
                    self._layers[i] = layer.astype(np.uint16)

    def snapshot(self, index: int) -> tuple[np.ndarray, int] | None:
        """A copy of a layer with unsaved changes and its version; None when saved."""
        with self._lock:
            version = self.version.get(index, 0)
            if index not in self._layers or version == self.saved.get(index, 0):
                return None
            return self._layers[index].copy(), version

    def mark_saved(self, index: int, version: int) -> None:
        with self._lock:
            self.saved[index] = max(version, self.saved.get(index, 0))

    def dirty(self) -> bool:
        return bool(self.unsaved())

    def unsaved(self) -> list[int]:
        """Indices of layers with changes not yet on disk."""
        with self._lock:
            return [i for i, v in self.version.items() if v != self.saved.get(i, 0)]

    def counts(self, images: int) -> np.ndarray:
        """Labelled pixels per value 0..C over ``images`` layers."""
        totals = np.zeros(self._classes() + 1, np.int64)
        for i in range(images):
            layer = self.layer(i)
            totals += np.bincount(layer.ravel(), minlength=totals.size)[: totals.size]
        return totals

    # ------------------------------------------------------------------ changes
    def set(self, index: int, layer) -> None:
        """Replace a whole layer (one undo step)."""
        self.end_stroke()
        current = self.layer(index)
        array = np.asarray(layer)
        if array.shape != current.shape:
            raise ValueError(f"layer has shape {array.shape}; image {index} needs {current.shape}")
        if array.dtype.kind not in "biu" or (array.size and array.min() < 0):
            raise TypeError("layer must hold non-negative integers (0 = unlabelled)")
        if array.size and int(array.max()) > self._classes():
            raise ValueError(
                f"layer uses class {int(array.max())} but the project has {self._classes()} "
                "classes; add classes first"
            )
        with self._lock:
            changed = np.flatnonzero(current.ravel() != array.ravel())
            before = current.ravel()[changed].copy()
            current.ravel()[changed] = array.ravel()[changed]
            for v in np.unique(array.ravel()[changed]):
                keep = array.ravel()[changed] == v
                self._record(Change(index, changed[keep], before[keep], int(v)))
            self._touch(index)
        self.end_stroke()
        self._events.emit("annotation", index, (), None)

    def paint(self, index: int, start, end=None, *, radius: float, value: int,
              plane: tuple[int, ...] = ()) -> tuple[slice, ...] | None:
        """Paint a line of disks; see :meth:`microlab.Project.paint`."""
        layer = self.layer(index)
        value = int(value)
        if value != 0 and not 1 <= value <= self._classes():
            raise ValueError(f"class must be a value from 1 to {self._classes()}, got {value!r}")
        if not (isinstance(radius, numbers.Real) and radius >= 0):
            raise ValueError(f"radius must be >= 0 pixels, got {radius!r}")
        plane = tuple(int(p) for p in plane)
        if len(plane) != layer.ndim - 2:
            raise ValueError(
                f"plane needs {layer.ndim - 2} index(es) for the leading axes of the "
                f"{self._axes(index)!r} layer, got {plane}"
            )
        for p, n in zip(plane, layer.shape, strict=False):
            if not 0 <= p < n:
                raise IndexError(f"plane {plane} is outside the layer shape {layer.shape}")
        y0, x0 = (float(v) for v in start)
        y1, x1 = (float(v) for v in (start if end is None else end))
        if not all(math.isfinite(v) for v in (y0, x0, y1, x1)):
            raise ValueError("stroke coordinates must be finite numbers")
        h, w = layer.shape[-2:]
        r = math.floor(radius) + 1
        top, bottom = max(0, math.floor(min(y0, y1)) - r), min(h, math.ceil(max(y0, y1)) + r + 1)
        left, right = max(0, math.floor(min(x0, x1)) - r), min(w, math.ceil(max(x0, x1)) + r + 1)
        if top >= bottom or left >= right:
            return None
        box = (slice(top, bottom), slice(left, right))
        steps = max(1, math.ceil(math.hypot(y1 - y0, x1 - x0) / max(0.5, radius / 2)))
        with self._lock:
            window = layer[plane][box]
            before = window.copy()
            for t in np.linspace(0.0, 1.0, steps + 1):
                centre = (y0 + t * (y1 - y0) - top, x0 + t * (x1 - x0) - left)
                paint_disk(window, centre, radius, value)
            changed = np.nonzero(window != before)
            if changed[0].size == 0:
                return box
            full = (*(np.full(changed[0].size, p) for p in plane),
                    changed[0] + top, changed[1] + left)
            self._record(Change(index, np.ravel_multi_index(full, layer.shape),
                                before[changed], value))
            self._touch(index)
        self._events.emit("annotation", index, plane, box)
        return box

    def end_stroke(self) -> None:
        """Close the current stroke: it becomes one undo step."""
        with self._lock:
            stroke, self.stroke = self.stroke, None
            if stroke:
                self._undo.append(stroke)
                self._redo.clear()
                del self._undo[:-UNDO_STEPS]
                if self.pending_since is None:
                    self.pending_since = time.monotonic()
                self._touched()
        if stroke:
            self._events.emit("stroke", stroke[0].index)

    def undo(self) -> bool:
        return self._step(self._undo, self._redo, undo=True)

    def redo(self) -> bool:
        return self._step(self._redo, self._undo, undo=False)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or bool(self.stroke)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def _step(self, source: list, target: list, *, undo: bool) -> bool:
        self.end_stroke()
        with self._lock:
            if not source:
                return False
            stroke = source.pop()
            for change in reversed(stroke) if undo else stroke:
                flat = self.layer(change.index).reshape(-1)
                flat[change.flat] = change.before if undo else change.value
                self._touch(change.index)
            target.append(stroke)
        for index in sorted({c.index for c in stroke}):
            self._events.emit("annotation", index, (), None)
        return True

    def _record(self, change: Change) -> None:
        if self.stroke is None:
            self.stroke = []
        self.stroke.append(change)

    def _touch(self, index: int) -> None:
        self.version[index] = self.version.get(index, 0) + 1
        self.last_change = time.monotonic()
        if self.stroke is None and self.pending_since is None:  # undo, redo: finished at once
            self.pending_since = self.last_change
        self._touched()
