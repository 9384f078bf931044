"""Pointer events on the canvas → strokes in the project, or drags of the view.

Canvas points are turned into image points through the state's :class:`~._view.View`;
a stroke is a run of :meth:`microlab.Project.paint` calls (brush and eraser alike) closed
by :meth:`~microlab.Project.end_stroke`, which makes it one undo step. Pure Python: the
annotator feeds it mouse events and draws what it returns.

Examples
--------
>>> import tempfile, numpy as np, microlab
>>> from microlab.widgets.state import AnnotatorState
>>> project = microlab.Project(tempfile.mkdtemp(), classes=["cell", "background"])
>>> _ = project.add_image(np.zeros((100, 100), np.uint8))
>>> state = AnnotatorState(project, canvas_size=(200, 200), radius=0)
>>> state.show_image(0)
>>> strokes = StrokeController(project, state)
>>> strokes.down(40, 40).start               # canvas (y, x) (40, 40) is image (20, 20)
(20.0, 20.0)
>>> strokes.move(40, 80).end
(20.0, 40.0)
>>> box = strokes.up()                       # one undo step
>>> int(project.annotation(0)[20, 20:41].sum()), int(project.annotation(0).sum())
(21, 21)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..project import Project
    from .state import AnnotatorState


@dataclass(frozen=True)
class Segment:
    """A piece of stroke just painted: image points ``start`` → ``end`` (y, x), the
    ``value`` written (0 erases), the brush ``radius`` and the (y, x) ``box`` changed."""

    start: tuple[float, float]
    end: tuple[float, float]
    value: int
    radius: int
    box: tuple[slice, slice]


class StrokeController:
    """Turns mouse down / move / up at canvas points into strokes, or into a drag of the
    view with the pan tool.

    Parameters
    ----------
    project : microlab.Project
        Whose annotations are painted.
    state : AnnotatorState
        The image, plane, tool, class, radius and view painted with.

    Attributes
    ----------
    hover : (float, float) or None
        The pointer's canvas point (y, x), None when it is off the canvas.
    painting : bool
        True while the project paints a segment (its ``"annotation"`` event comes from
        this stroke, which the canvas has sketched already).
    """

    def __init__(self, project: Project, state: AnnotatorState) -> None:
        self.project = project
        self.state = state
        self.hover: tuple[float, float] | None = None
        self.painting = False
        self._last: tuple[float, float] | None = None
        self._box: tuple[slice, slice] | None = None
        self._pressed = False

    @property
    def pressed(self) -> bool:
        """Whether a stroke or a drag is going on."""
        return self._pressed

    @property
    def panning(self) -> bool:
        """Whether the pointer is dragging the view."""
        return self._pressed and self.state.tool == "pan"

    def down(self, cy: float, cx: float) -> Segment | None:
        """Start a stroke (a dab at the point) or a drag; returns what was painted."""
        self.hover = (cy, cx)
        self._pressed = True
        self._box = None
        if self.state.tool == "pan":
            self._last = (cy, cx)
            return None
        point = self.state.view.to_image(cy, cx)
        self._last = point
        return self._paint(point, point)

    def move(self, cy: float, cx: float) -> Segment | None:
        """Follow the pointer: continue the stroke or the drag; returns what was painted."""
        self.hover = (cy, cx)
        if not self._pressed or self._last is None:
            return None
        if self.state.tool == "pan":
            self.state.drag(cy - self._last[0], cx - self._last[1])
            self._last = (cy, cx)
            return None
        point = self.state.view.to_image(cy, cx)
        segment = self._paint(self._last, point)
        self._last = point
        return segment

    def up(self) -> tuple[slice, slice] | None:
        """End the stroke (one undo step, saved within a second) or the drag.

        Returns the (y, x) box the whole stroke changed, None if it changed nothing.
        """
        if not self._pressed:
            return None
        was_panning = self.panning
        self._pressed, self._last = False, None
        box, self._box = self._box, None
        if was_panning:
            self.state.end_drag()
            return None
        self.project.end_stroke()
        return box

    def leave(self) -> tuple[slice, slice] | None:
        """The pointer left the canvas: end any stroke; returns what :meth:`up` does."""
        box = self.up()
        self.hover = None
        return box

    def _paint(self, start: tuple[float, float], end: tuple[float, float]) -> Segment | None:
        state = self.state
        self.painting = True
        try:
            box = self.project.paint(state.index, start, end, radius=state.radius,
                                     value=state.paint_value, plane=state.plane)
        finally:
            self.painting = False
        if box is None:
            return None
        self._box = box if self._box is None else tuple(
            slice(min(a.start, b.start), max(a.stop, b.stop))
            for a, b in zip(self._box, box, strict=True))
        return Segment(start, end, state.paint_value, state.radius, box)
