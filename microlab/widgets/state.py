"""What the annotator shows and how its brush paints, as plain Python with events.

The state of an :class:`~microlab.widgets.Annotator` — the image, plane and channel shown,
the tool, class and brush radius, the contrast, the visible window, the overlay and the
outlined region — lives here, apart from any widget (napari keeps a layer's state apart
from its Qt controls the same way). The annotator turns its controls into calls on this
object and redraws when it says what changed; scripts and tests drive it directly, without
ipywidgets or a browser.

Examples
--------
>>> import tempfile, numpy as np, microlab
>>> from microlab.widgets.state import AnnotatorState
>>> project = microlab.Project(tempfile.mkdtemp(), classes=["cell", "background"])
>>> _ = project.add_image(np.zeros((5, 64, 64), np.uint16))
>>> state = AnnotatorState(project, canvas_size=(128, 128))
>>> state.show_image(0)
>>> seen = []
>>> state.on("plane", seen.append)
>>> state.set_plane("Z", 4)
>>> state.plane, seen
((4,), [(4,)])
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from .._delegate import Field
from .._events import Events, Observable
from ._view import View, auto_contrast, value_range

if TYPE_CHECKING:
    from ..project import ImageInfo, Project

EVENTS = ("image", "plane", "channel", "tool", "value", "radius", "contrast", "view",
          "overlay", "opacity", "marker", "window", "changed", "pick")
"""Events of :class:`AnnotatorState`; see :meth:`AnnotatorState.on`."""
TOOLS = ("brush", "eraser", "pan")
OVERLAYS = ("prediction", "uncertainty", "objects", "none")
CHANNEL_COLOURS = ("#3f7fff", "#00ff00", "#ff0000", "#ff00ff", "#00ffff", "#ffff00",
                   "#ffffff")
"""The colour of channel k in the composite view (blue for the first: a nuclear stain in
most fluorescence images; then green, red, magenta, cyan, yellow, white)."""
MAX_RADIUS = 64
"""The largest brush radius, in image pixels."""


def _emits(method: Callable) -> Callable:
    """Run a state change so that its events go out once, when it is complete."""

    @functools.wraps(method)
    def wrapper(self: AnnotatorState, *args, **kwargs):
        with self._changes():
            return method(self, *args, **kwargs)

    return wrapper


class AnnotatorState(Observable):
    """The image, plane, channel, tool, class, brush, contrast, view and overlay shown.

    Every change is checked (a ``ValueError`` says what was wrong) and announced: an event
    named after what changed, with its new value, then ``"changed"`` with the names of all
    that changed in that call, so an observer redraws once per call.

    Events (``state.on(event, callback)``; the callback gets the new value): ``"image"``
    (index), ``"plane"`` (plane tuple), ``"channel"``, ``"tool"``, ``"value"`` (class),
    ``"radius"``, ``"contrast"`` ((low, high)), ``"view"`` (:class:`View`, also while the
    view is dragged), ``"overlay"``, ``"opacity"``, ``"marker"``; ``"window"``
    (:meth:`visible_region`) once the visible window has moved and settled (what live
    prediction follows); and last ``"changed"`` (the set of the events above that the call
    emitted).

    Parameters
    ----------
    project : microlab.Project
        Whose images are shown and whose classes are painted.
    canvas_size : (int, int)
        Height and width in screen pixels of the canvas the view fills.
    radius : int
        Initial brush radius in image pixels (0 to :data:`MAX_RADIUS`).

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> project = microlab.Project(tempfile.mkdtemp(), classes=["a", "b"])
    >>> _ = project.add_image(np.zeros((100, 200), np.uint8))
    >>> state = AnnotatorState(project, canvas_size=(100, 100))
    >>> state.show_image(0)
    >>> changes = []
    >>> state.on("changed", changes.append)
    >>> state.set_tool("eraser"); state.select_class(2)
    >>> state.tool, state.value, state.paint_value
    ('brush', 2, 2)
    >>> [sorted(c) for c in changes]
    [['tool'], ['tool', 'value']]
    >>> state.view.scale, state.visible_region()
    (2.0, (slice(0, 100, None), slice(0, 200, None)))
    """

    def __init__(self, project: Project, *, canvas_size: tuple[int, int] = (512, 512),
                 radius: int = 4) -> None:
        height, width = (int(v) for v in canvas_size)
        if not (16 <= height <= 4096 and 16 <= width <= 4096):
            raise ValueError(f"canvas_size must be 16-4096 pixels each, got {canvas_size}")
        self.project = project
        self._index = 0
        self._planes: dict[str, int] = {}
        self._channel: int | str = 0
        self._tool = "brush"
        self._value = 1
        self._radius = _checked_radius(radius)
        self._view = View(0, 0, 1, height, width)
        self._overlay = "prediction"
        self._opacity = 0.5
        self._marker: tuple[int, tuple[int, ...], tuple[slice, slice]] | None = None
        self._contrast: dict[tuple[int, int | str], tuple[float, float]] = {}
        self._dragging = False
        self._events = Events(EVENTS)
        self._pending: dict[str, object] = {}
        self._depth = 0

    # ------------------------------------------------------------------ events
    @contextlib.contextmanager
    def _changes(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self._pending:
                pending, self._pending = self._pending, {}
                if "window" in pending:
                    pending["window"] = self.visible_region()
                for event, value in pending.items():
                    self._events.emit(event, value)
                self._events.emit("changed", frozenset(pending))

    def _set(self, name: str, value) -> None:
        # change self._<name> and announce the event <name> if the value is new
        if getattr(self, "_" + name) != value:
            setattr(self, "_" + name, value)
            self._pending[name] = value

    def _moved(self, before: View, *, settled: bool = True) -> None:
        if self._view != before:
            self._pending["view"] = self._view
            if settled:
                self._pending["window"] = None

    # ------------------------------------------------------------------ what is shown
    index = Field("Index of the image shown.")

    @property
    def info(self) -> ImageInfo:
        """The shown image's :class:`microlab.project.ImageInfo`."""
        if not len(self.project):
            raise ValueError("the project has no image yet: project.add_image(...)")
        return self.project.images[self._index]

    @property
    def shape(self) -> tuple[int, int]:
        """(Y, X) size of the shown image."""
        return self.info.layer_shape[-2:]

    @property
    def planes(self) -> dict[str, int]:
        """Axis (``"T"``, ``"Z"``) → index of the plane shown along it."""
        return dict(self._planes)

    @property
    def plane(self) -> tuple[int, ...]:
        """Indices along the annotation layer's leading axes (T, Z) of the shown plane."""
        return tuple(self._planes[a] for a in self.info.layer_axes[:-2])

    channel = Field('The channel shown: its index, ``"rgb"`` (8-bit colour) or '
                    '``"composite"`` (each channel in its colour).')

    @property
    def channels(self) -> list[int | str]:
        """The channels the shown image offers: ``"rgb"`` first for 8-bit colour,
        ``"composite"`` first for other multi-channel images (each channel in its colour of
        :data:`CHANNEL_COLOURS`, with its own contrast)."""
        info = self.info
        options: list[int | str] = list(range(info.channels))
        if info.channels in (3, 4) and info.dtype == "uint8":
            options.insert(0, "rgb")
        elif info.channels > 1:
            options.insert(0, "composite")
        return options

    view = Field("The visible window (read it; change it with :meth:`zoom`, :meth:`pan`, …).")

    marker = Field("The outlined region: (image, plane, (y, x) box), or None.")

    @_emits
    def show_image(self, index: int) -> None:
        """Show image ``index`` whole, on its middle Z plane and first time point."""
        if not 0 <= int(index) < len(self.project):
            raise ValueError(f"image {index} does not exist; the project has "
                             f"{len(self.project)} image(s)")
        info = self.project.images[int(index)]
        before = dataclasses.replace(self._view)
        old_plane = tuple(self._planes.values())
        self._index = int(index)
        self._pending["image"] = self._index
        self._planes = {a: n // 2 if a == "Z" else 0
                        for a, n in zip(info.layer_axes[:-2], info.layer_shape[:-2],
                                        strict=True)}
        if self.plane != old_plane:
            self._pending["plane"] = self.plane
        self._set("channel", self.channels[0])
        self._pending["contrast"] = self.contrast
        if self._marker is not None and self._marker[0] != self._index:
            self._set("marker", None)
        self._view = View.fit(self.shape, before.height, before.width)
        self._moved(before)
        self._pending["window"] = None

    @_emits
    def set_plane(self, axis: str, value: int) -> None:
        """Show plane ``value`` along ``axis`` (``"Z"`` or ``"T"``)."""
        if axis not in self._planes:
            raise ValueError(f"image {self.info.name!r} has no {axis} axis; its annotation "
                             f"axes are {self.info.layer_axes}")
        size = self.info.layer_shape[self.info.layer_axes.index(axis)]
        if not 0 <= int(value) < size:
            raise ValueError(f"{axis} plane {value} does not exist; image "
                             f"{self.info.name!r} has {size} (0-{size - 1})")
        if self._planes[axis] != int(value):
            self._planes[axis] = int(value)
            self._pending["plane"] = self.plane
            self._pending["window"] = None

    def step_plane(self, axis: str, step: int) -> None:
        """Move ``step`` planes along ``axis``, stopping at the first and last."""
        if axis not in self._planes:
            raise ValueError(f"image {self.info.name!r} has no {axis} axis")
        size = self.info.layer_shape[self.info.layer_axes.index(axis)]
        self.set_plane(axis, min(max(0, self._planes[axis] + int(step)), size - 1))

    @_emits
    def set_channel(self, channel: int | str) -> None:
        """Show ``channel`` (an index, or ``"rgb"``: see :attr:`channels`)."""
        if channel not in self.channels:
            raise ValueError(f"channel {channel!r} does not exist; one of {self.channels}")
        before = self.contrast
        self._set("channel", channel)
        if self.contrast != before:
            self._pending["contrast"] = self.contrast

    def image_plane(self, channel: int | str | None = None) -> np.ndarray:
        """The shown plane's pixels (of ``channel``, default the shown one): (Y, X), or
        (C, Y, X) for the RGB and fluorescence composites."""
        image = self.project.image(self._index)
        channel = self._channel if channel is None else channel
        index: list[int | slice] = []
        for axis in image.axes[:-2]:
            if axis == "C":
                index.append(slice(0, 3) if channel == "rgb" else
                             slice(None) if channel == "composite" else int(channel))
            else:
                index.append(self._planes[axis])
        return image.data[tuple(index)]

    def label_plane(self) -> np.ndarray:
        """The shown plane of the annotation layer."""
        return self.project.annotation(self._index)[self.plane]

    def visible_region(self) -> tuple[slice, ...] | None:
        """Slices of the annotation layer that the canvas shows (one plane of a stack)."""
        window = self._view.window(self.shape)
        if window is None:
            return None
        return (*(slice(p, p + 1) for p in self.plane), *window)

    # ------------------------------------------------------------------ contrast
    @property
    def contrast(self) -> tuple[float, float]:
        """Intensities shown black and white; percentiles of the plane until set."""
        key = (self._index, self._channel)
        if key not in self._contrast:
            self._contrast[key] = auto_contrast(self.image_plane())
        return self._contrast[key]

    def channel_contrast(self, channel: int) -> tuple[float, float]:
        """The contrast of one channel (what the composite uses for it)."""
        key = (self._index, int(channel))
        if key not in self._contrast:
            self._contrast[key] = auto_contrast(self.image_plane(int(channel)))
        return self._contrast[key]

    @property
    def contrast_range(self) -> tuple[float, float]:
        """The intensities a contrast control spans (the plane's, and the contrast's)."""
        full = value_range(self.image_plane())
        low, high = self.contrast
        return min(full[0], low), max(full[1], high)

    @_emits
    def set_contrast(self, low: float, high: float) -> None:
        """Show intensities ``low`` … ``high`` from black to white."""
        if not high > low:
            raise ValueError(f"contrast needs low < high, got {low} and {high}")
        if self.contrast != (float(low), float(high)):
            self._contrast[(self._index, self._channel)] = (float(low), float(high))
            self._pending["contrast"] = self.contrast

    def auto_contrast(self, percentiles: tuple[float, float] = (0.5, 99.5)) -> None:
        """Set the contrast from percentiles of the shown plane."""
        self.set_contrast(*auto_contrast(self.image_plane(), percentiles))

    # ------------------------------------------------------------------ view
    @_emits
    def zoom(self, factor: float, at: tuple[float, float] | None = None) -> None:
        """Zoom in (``factor`` > 1) or out about canvas point ``at`` (default: the centre)."""
        if not factor > 0:
            raise ValueError(f"zoom factor must be > 0, got {factor}")
        before = dataclasses.replace(self._view)
        cy, cx = at if at is not None else (before.height / 2, before.width / 2)
        fit = View.fit(self.shape, before.height, before.width).scale
        self._view.zoom(factor, cy, cx, limits=(1 / 16, max(1.0, fit * 2)))
        self._moved(before)

    @_emits
    def pan(self, dy: float, dx: float) -> None:
        """Move the image by (dy, dx) canvas pixels."""
        before = dataclasses.replace(self._view)
        self._view.pan(dy, dx)
        self._moved(before)

    @_emits
    def drag(self, dy: float, dx: float) -> None:
        """Move the image by (dy, dx) canvas pixels as part of a drag (see :meth:`end_drag`):
        ``"view"`` follows every move, ``"window"`` only the end."""
        before = dataclasses.replace(self._view)
        self._dragging = True
        self._view.pan(dy, dx)
        self._moved(before, settled=False)

    @_emits
    def end_drag(self) -> None:
        """The drag is over: the visible window has settled."""
        if self._dragging:
            self._dragging = False
            self._pending["window"] = None

    @_emits
    def fit(self) -> None:
        """Show the whole image."""
        before = dataclasses.replace(self._view)
        self._view = View.fit(self.shape, before.height, before.width)
        self._moved(before)

    @_emits
    def clear_marker(self) -> None:
        """Remove the outline of a suggested region (it is stale once the model changes)."""
        self._set("marker", None)

    @_emits
    def show_region(self, index: int, plane: tuple[int, ...], box: tuple[slice, slice]) -> None:
        """Show image ``index`` at ``plane``, zoomed on the (y, x) ``box``, outlined."""
        if index != self._index:
            self.show_image(index)
        axes = self.info.layer_axes[:-2]
        if len(plane) != len(axes):
            raise ValueError(f"plane {plane} needs one index per axis of {axes!r}")
        for axis, value in zip(axes, plane, strict=True):
            self.set_plane(axis, value)
        self._set("marker", (int(index), tuple(int(p) for p in plane), tuple(box)))
        before = dataclasses.replace(self._view)
        self._view.centre_on(box)
        self._moved(before)

    # ------------------------------------------------------------------ brush
    tool = Field('``"brush"``, ``"eraser"`` or ``"pan"``.')

    value = Field("The class painted (1..C).")

    radius = Field("Brush radius in image pixels.")

    @property
    def paint_value(self) -> int:
        """What a stroke writes: the class, or 0 with the eraser."""
        return 0 if self._tool == "eraser" else self._value

    @_emits
    def set_tool(self, tool: str) -> None:
        """Paint (``"brush"``), erase (``"eraser"``) or drag the view (``"pan"``)."""
        self._set("tool", _one_of(tool, TOOLS, "tool"))

    @_emits
    def select_class(self, value: int) -> None:
        """Paint class ``value`` (1..C) from now on (the eraser gives way to the brush)."""
        if not 1 <= int(value) <= len(self.project.classes):
            raise ValueError(
                f"class {value} does not exist; the project has {len(self.project.classes)}"
            )
        self._set("value", int(value))
        if self._tool == "eraser":
            self._set("tool", "brush")

    @_emits
    def set_radius(self, radius: int) -> None:
        """Brush radius in image pixels, 0 (one pixel) to :data:`MAX_RADIUS`."""
        self._set("radius", _checked_radius(radius))

    def step_radius(self, step: int) -> None:
        """Grow (or shrink) the brush by ``step`` pixels, within 0 … :data:`MAX_RADIUS`."""
        self.set_radius(min(max(0, self._radius + int(step)), MAX_RADIUS))

    # ------------------------------------------------------------------ overlay
    overlay = Field('The overlay shown: ``"prediction"``, ``"uncertainty"``, ``"objects"`` or '
                    '``"none"``.')

    opacity = Field("Overlay opacity, 0 (invisible) to 1 (opaque).")

    @_emits
    def set_overlay(self, mode: str) -> None:
        """Show the ``"prediction"``, the ``"uncertainty"``, the ``"objects"`` or ``"none"``."""
        self._set("overlay", _one_of(mode, OVERLAYS, "overlay"))

    @_emits
    def set_opacity(self, value: float) -> None:
        """Overlay opacity, 0 (invisible) to 1 (opaque)."""
        if not 0 <= value <= 1:
            raise ValueError(f"opacity must be between 0 and 1, got {value}")
        self._set("opacity", float(value))


def _checked_radius(radius: int) -> int:
    if not 0 <= int(radius) <= MAX_RADIUS:
        raise ValueError(f"brush radius must be 0-{MAX_RADIUS} pixels, got {radius}")
    return int(radius)


def _one_of(value, options: tuple, what: str):
    """``value`` if it is one of ``options``, else a ValueError naming them."""
    if value not in options:
        raise ValueError(f"{what} must be one of {options}, got {value!r}")
    return value
