"""The annotation canvas: paint strokes of classes over an image, in JupyterLab.

The :class:`Annotator` lays out the controls and draws; what it shows lives in an
:class:`~.state.AnnotatorState`, keys are bound in a :class:`~.keys.KeyBindings` table,
mouse strokes go through a :class:`~.stroke.StrokeController` into
:meth:`Project.paint <microlab.Project.paint>`, and the :class:`microlab.Project` owns the
annotation arrays. The project tells its observers which box changed, and the annotator
redraws that box — so strokes, undo, redo and changes made from Python all reach the
canvas the same way.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas

from .._delegate import delegates
from ..labels.colors import hex_color
from ._common import MessageLine, drawing, guarded, short_channel_names
from ._view import (
    BACKGROUND,
    hex_rgb,
    label_lut,
    object_lut,
    outlines,
    sample,
    text_color,
    to_gray,
    uncertainty_rgba,
)
from .keys import KeyBindings, combo
from .state import CHANNEL_COLOURS, MAX_RADIUS, AnnotatorState
from .stroke import Segment, StrokeController


def _state_method(name: str):
    """An annotator method that calls the state's method ``name`` (same signature and
    docstring), errors shown as a message by :func:`guarded`."""
    action = getattr(AnnotatorState, name)

    @functools.wraps(action)
    def method(self, *args, **kwargs):
        return getattr(self.state, name)(*args, **kwargs)

    return guarded(method)


#: the state's attributes the annotator shows, read-only, documented by the state
SHOWN = ("index", "info", "planes", "plane", "channel", "shape", "view", "tool", "value",
         "radius", "overlay", "opacity", "marker")

_COLOUR_NAMES = ("blue", "green", "red", "magenta", "cyan", "yellow", "white")

if TYPE_CHECKING:
    from ..project import Project

IMAGE, OVERLAY, LABELS, CURSOR = range(4)
"""The canvas layers, bottom to top."""


@delegates("state", AnnotatorState, *SHOWN)
class Annotator(widgets.VBox):
    """Paint annotations of a project's images with a brush, on an ipycanvas ``MultiCanvas``.

    Layers, bottom to top: the image, the prediction (or uncertainty) overlay, the
    annotations, the cursor. Only the visible window is drawn, at canvas resolution, so a
    4096 × 4096 image costs no more to show than a small one.

    Parameters
    ----------
    project : microlab.Project
        The project whose annotations are painted.
    image : int
        Index of the image shown first.
    canvas_size : (int, int)
        Canvas height and width in screen pixels.
    brush_size : int
        Initial brush radius in image pixels.
    messages : MessageLine, optional
        Where to show information and errors (a new line by default).

    Attributes
    ----------
    state : AnnotatorState
        What is shown and how the brush paints; its events drive the drawing.
    shortcuts : KeyBindings
        The keyboard shortcuts (the help line under the canvas lists them).
    strokes : StrokeController
        Turns mouse events into strokes.
    index, info, planes, plane, channel, shape, view, tool, value, radius, overlay, opacity, marker
        What is shown, read-only: the :attr:`state`'s attributes (:data:`SHOWN`); change
        them with the methods (:meth:`show_image`, :meth:`set_tool`, …).

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> from microlab.widgets import Annotator
    >>> project = microlab.Project(tempfile.mkdtemp(), classes=["cell", "background"])
    >>> _ = project.add_image(np.zeros((100, 100), np.uint8))
    >>> annotator = Annotator(project, canvas_size=(200, 200))
    >>> annotator.mouse_down(40, 40); annotator.mouse_move(80, 40); annotator.mouse_up(80, 40)
    >>> int(project.annotation(0)[20, 30])   # the canvas is twice the image: x 60, y 40 → (20, 30)
    1
    """

    def __init__(
        self,
        project: Project,
        *,
        image: int = 0,
        canvas_size: tuple[int, int] = (512, 512),
        brush_size: int = 4,
        messages: MessageLine | None = None,
    ) -> None:
        self.project = project
        self.messages = messages or MessageLine()
        self._handlers = {
            "annotation": self._on_annotation,
            "classes": self._on_classes,
            "images": self._on_images,
            "prediction": self._on_prediction,
            "objects": self._on_prediction,
            "error": self.messages.error,
            "saved": self._on_saved,
        }
        self.state = AnnotatorState(project, canvas_size=canvas_size, radius=brush_size)
        self.strokes = StrokeController(project, self.state)
        self.shortcuts = KeyBindings()
        height, width = self.state.view.height, self.state.view.width
        self.canvas = MultiCanvas(4, width=width, height=height)
        # shown at its own size where there is room, shrunk with its aspect where there is
        # not (a narrow notebook): ipycanvas maps the mouse back to canvas pixels
        self.canvas.layout = widgets.Layout(width="100%", max_width=f"{width}px",
                                            height="auto", min_width="240px")
        self.canvas.add_class("microlab-canvas")
        self.timings: list[float] = []
        self.largest_put = (0, 0)
        self._syncing = False
        self._object_colors: np.ndarray | None = None
        self.selected_object: int | None = None

        self._build_controls()
        self._bind_keys()
        self.shortcuts.observe(self._update_help)
        self._update_help()
        self.canvas.on_mouse_down(self.mouse_down)
        self.canvas.on_mouse_move(self.mouse_move)
        self.canvas.on_mouse_up(self.mouse_up)
        self.canvas.on_mouse_out(self.mouse_out)
        self.canvas.on_mouse_wheel(self.mouse_wheel)
        self.canvas.on_key_down(self.key_down)
        self.canvas.on_client_ready(self.redraw)
        self.state.on("changed", self._on_state)
        for event, handler in self._handlers.items():
            project.on(event, handler)
        super().__init__(
            [self._toolbar, self._palette_box, self.canvas, self._stack_box, self.help,
             self.messages.widget]
        )
        self.add_class("microlab-annotator")
        self._build_palette()
        if len(project):
            self.show_image(min(max(0, int(image)), len(project) - 1))
        else:
            self.messages.info("the project has no image yet: project.add_image(...)")

    # ------------------------------------------------------------------ layout
    def _build_controls(self) -> None:
        state = self.state
        self.tool_buttons = widgets.ToggleButtons(
            options=[("brush", "brush"), ("eraser", "eraser"), ("pan", "pan")],
            icons=["paint-brush", "eraser", "arrows"],
            value=state.tool, style={"button_width": "86px"},
            tooltips=["paint the selected class (b)", "erase strokes (e)", "drag the view (h)"],
        )
        self.tool_buttons.observe(self._control(lambda c: self.set_tool(c["new"])), "value")
        self.size_slider = widgets.IntSlider(
            value=state.radius, min=0, max=MAX_RADIUS, description="size",
            layout=widgets.Layout(width="210px"), style={"description_width": "32px"},
        )
        self.size_slider.observe(self._control(lambda c: self.set_radius(c["new"])), "value")

        def button(**kwargs):
            return widgets.Button(layout=widgets.Layout(width="34px", padding="0"), **kwargs)

        self.zoom_in_button = button(description="+", tooltip="zoom in (+)")
        self.zoom_out_button = button(description="−", tooltip="zoom out (-)")
        self.fit_button = widgets.Button(description="fit", tooltip="whole image (0)",
                                         layout=widgets.Layout(width="40px", padding="0"))
        self.undo_button = button(description="↶", tooltip="undo (ctrl+z)")
        self.redo_button = button(description="↷", tooltip="redo (ctrl+y)")
        self.zoom_in_button.on_click(lambda _: self.zoom(1.25))
        self.zoom_out_button.on_click(lambda _: self.zoom(0.8))
        self.fit_button.on_click(lambda _: self.fit())
        self.undo_button.disabled = not self.project.can_undo
        self.redo_button.disabled = not self.project.can_redo
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.image_select = widgets.Dropdown(options=[], description="image",
                                             layout=widgets.Layout(width="260px"),
                                             style={"description_width": "42px"})
        self.image_select.observe(self._control(self._on_image_select), "value")
        self._toolbar = widgets.HBox(
            [self.tool_buttons, self.size_slider, self.zoom_in_button, self.zoom_out_button,
             self.fit_button, self.undo_button, self.redo_button],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.palette = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.add_class_button = widgets.Button(description="+ class", tooltip="add a class",
                                               layout=widgets.Layout(width="70px"))
        self.add_class_button.on_click(lambda _: self.new_class())
        self.class_name = widgets.Text(placeholder="class name", layout=widgets.Layout(
            width="130px"))
        self.rename_button = widgets.Button(description="rename",
                                            layout=widgets.Layout(width="70px"))
        self.rename_button.on_click(lambda _: self.rename_class(self.class_name.value))
        self.class_color = widgets.ColorPicker(concise=True, layout=widgets.Layout(
            width="40px"))
        self.class_color.observe(self._control(self._on_color_pick), "value")
        self._palette_box = widgets.HBox(
            [self.palette, self.add_class_button, self.class_name, self.rename_button,
             self.class_color],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.z_slider, self.t_slider = (
            widgets.IntSlider(description=axis, layout=widgets.Layout(width="260px"),
                              style={"description_width": "56px"})
            for axis in "zt"
        )
        self.z_slider.observe(self._control(lambda c: self.set_plane("Z", c["new"])), "value")
        self.t_slider.observe(self._control(lambda c: self.set_plane("T", c["new"])), "value")
        self.channel_select = widgets.Dropdown(description="channel", options=[0],
                                               layout=widgets.Layout(width="170px"),
                                               style={"description_width": "56px"})
        self.channel_select.observe(self._control(self._on_channel_select), "value")
        self.channel_names = widgets.Text(
            placeholder="name channels: DAPI, GFP, …", continuous_update=False,
            tooltip="the channels' names, separated by commas (Enter to set)",
            layout=widgets.Layout(width="190px"))
        self.channel_names.add_class("microlab-channel-names")
        self.channel_names.observe(self._control(self._on_channel_names), "value")
        self.contrast = widgets.FloatRangeSlider(
            description="contrast", min=0, max=255, value=(0, 255), step=1,
            layout=widgets.Layout(width="360px"), style={"description_width": "56px"},
            readout_format=".4g",
        )
        self.contrast.observe(self._control(self._on_contrast), "value")
        self.auto_button = widgets.Button(description="auto", tooltip="percentile contrast (a)",
                                          layout=widgets.Layout(width="50px"))
        self.auto_button.on_click(lambda _: self.auto_contrast())
        self._stack_box = widgets.HBox(
            [self.image_select, self.t_slider, self.z_slider, self.channel_select,
             self.channel_names, self.contrast, self.auto_button],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.help = widgets.HTML(layout=widgets.Layout(max_width="900px"))

    def _bind_keys(self) -> None:
        state, bind = self.state, self.shortcuts.bind
        bind("b", "brush", lambda: state.set_tool("brush"))
        bind("e", "eraser", lambda: state.set_tool("eraser"))
        bind("h", "pan", lambda: state.set_tool("pan"))
        for k in range(1, 10):
            bind(str(k), "class", lambda k=k: state.select_class(k), label="1-9")
        bind("[", "brush size", lambda: state.step_radius(-1), label="[ ]")
        bind("]", "brush size", lambda: state.step_radius(1), label="[ ]")
        bind(("+", "="), "zoom", lambda: state.zoom(1.25, at=self.strokes.hover), label="+ -")
        bind(("-", "_"), "zoom", lambda: state.zoom(0.8, at=self.strokes.hover), label="+ -")
        bind("0", "fit", state.fit)
        for key, (dy, dx) in {"ArrowUp": (1, 0), "ArrowDown": (-1, 0),
                              "ArrowLeft": (0, 1), "ArrowRight": (0, -1)}.items():
            bind(key, "pan", lambda dy=dy, dx=dx: state.pan(dy * state.view.height / 4,
                                                            dx * state.view.width / 4),
                 label="arrows")
        bind(",", "z plane", lambda: state.step_plane("Z", -1), label=", .")
        bind(".", "z plane", lambda: state.step_plane("Z", 1), label=", .")
        bind("a", "auto contrast", state.auto_contrast)
        bind("ctrl+z", "undo", self.undo)
        bind(("ctrl+y", "ctrl+shift+z"), "redo", self.redo, label="ctrl+y")

    def add_shortcut(self, key: str, description: str, action: Callable[[], object]) -> None:
        """Bind a key (as the browser names it, e.g. ``"t"``) to an action; listed in help."""
        self.shortcuts.bind(key, description, action)

    def remove_shortcut(self, key: str) -> None:
        """Unbind a key bound with :meth:`add_shortcut`."""
        self.shortcuts.unbind(key)

    def _update_help(self) -> None:
        self.help.value = (
            f'<span style="font-size:85%;color:#555" class="microlab-help">keys (click the '
            f"image first): {self.shortcuts.help_line(markup=True)} · wheel zoom</span>"
        )

    @contextlib.contextmanager
    def _quiet_controls(self) -> Iterator[None]:
        """Set controls from the state without their observers writing back."""
        self._syncing, before = True, self._syncing
        try:
            yield
        finally:
            self._syncing = before

    def _control(self, handler: Callable[[dict], None]) -> Callable[[dict], None]:
        def observe(change: dict) -> None:
            if not self._syncing and change["new"] is not None:
                handler(change)

        return observe

    # ------------------------------------------------------------------ what is shown
    def visible_region(self) -> tuple[slice, ...] | None:
        """Slices of the annotation layer that the canvas shows (one plane of a stack)."""
        return self.state.visible_region()

    def on(self, event: str, callback: Callable[[object], None]) -> None:
        """Call ``callback(value)`` after ``event`` of the :attr:`state` (e.g. ``"window"``
        when the visible window has moved: see :meth:`AnnotatorState.on`)."""
        self.state.on(event, callback)

    def off(self, event: str, callback: Callable) -> None:
        """Stop calling ``callback`` after ``event``."""
        self.state.off(event, callback)

    # ------------------------------------------------------------------ state changes
    @guarded
    def show_image(self, index: int) -> None:
        """Show image ``index`` of the project, whole, on its middle plane."""
        self.state.show_image(index)

    @guarded
    def set_plane(self, axis: str, value: int) -> None:
        """Show plane ``value`` along ``axis`` (``"Z"`` or ``"T"``)."""
        self.state.set_plane(axis, value)

    @guarded
    def zoom(self, factor: float, at: tuple[float, float] | None = None) -> None:
        """Zoom in (``factor`` > 1) or out about a canvas point (default: the centre)."""
        self.state.zoom(factor, at)

    @guarded
    def fit(self) -> None:
        """Show the whole image."""
        self.state.fit()

    @guarded
    def pan(self, dy: float, dx: float) -> None:
        """Move the image by (dy, dx) canvas pixels."""
        self.state.pan(dy, dx)

    # the state's actions, called through the annotator (errors become messages)
    show_region = _state_method("show_region")
    set_tool = _state_method("set_tool")
    set_radius = _state_method("set_radius")
    select_class = _state_method("select_class")
    set_contrast = _state_method("set_contrast")
    auto_contrast = _state_method("auto_contrast")
    set_overlay = _state_method("set_overlay")
    set_opacity = _state_method("set_opacity")
    @guarded
    def new_class(self, name: str | None = None, color=None) -> None:
        """Add a class to the project and select it."""
        self.state.select_class(self.project.add_class(name or None, color))

    @guarded
    def rename_class(self, name: str) -> None:
        """Rename the selected class."""
        self.project.rename_class(self.value, name)

    @guarded
    def recolor_class(self, color) -> None:
        """Recolour the selected class (``"#rrggbb"`` or an RGB tuple)."""
        self.project.set_color(self.value, color)

    @guarded
    def undo(self) -> None:
        """Undo the last stroke."""
        if not self.project.undo():
            self.messages.info("nothing to undo")

    @guarded
    def redo(self) -> None:
        """Redo the last undone stroke."""
        if not self.project.redo():
            self.messages.info("nothing to redo")

    def _on_image_select(self, change) -> None:
        if change["new"] != self.index:
            self.show_image(change["new"])

    @guarded
    def _on_channel_names(self, change) -> None:
        names = [n.strip() for n in change["new"].split(",")]
        if not change["new"].strip():
            return
        try:
            self.project.set_channel_names(self.index, names)
        except ValueError as exc:
            self.messages.error(exc)
            return
        self.messages.ok(f"channels of {self.info.name}: {', '.join(names)}")

    def _on_channel_select(self, change) -> None:
        self.state.set_channel(change["new"])

    def _on_contrast(self, change) -> None:
        low, high = change["new"]
        if high > low:
            self.set_contrast(low, high)

    def _on_color_pick(self, change) -> None:
        try:
            color = hex_color(change["new"])
        except (TypeError, ValueError):
            return  # a colour name or a half-typed value: wait for a valid one
        if color != self.project.colors[self.value - 1]:
            self.recolor_class(color)

    @guarded
    def _on_state(self, changed: frozenset[str]) -> None:
        """Bring the controls in line with the state, then redraw what changed."""
        with self._quiet_controls():
            if "image" in changed:
                self._sync_image_controls()
            if changed & {"image", "plane"}:
                for slider, axis in ((self.z_slider, "Z"), (self.t_slider, "T")):
                    if axis in self.planes:
                        slider.value = self.planes[axis]
            if changed & {"image", "channel"}:
                self.channel_select.value = self.channel
            if changed & {"image", "channel", "contrast"}:
                self._sync_contrast()
            if "tool" in changed:
                self.tool_buttons.value = self.tool
            if "radius" in changed:
                self.size_slider.value = self.radius
        if changed & {"tool", "value"}:
            self._build_palette()
        with drawing():
            if changed & {"image", "plane", "view"}:
                self.redraw()
                return
            if changed & {"channel", "contrast"}:
                self.draw_image()
            if changed & {"overlay", "opacity"}:
                self.draw_overlay()
            if changed & {"tool", "value", "radius", "marker"}:
                self.draw_cursor()

    def _sync_image_controls(self) -> None:
        self._sync_image_list()
        info = self.info
        for slider, axis in ((self.z_slider, "Z"), (self.t_slider, "T")):
            present = axis in self.planes
            slider.layout.display = None if present else "none"
            if present:
                slider.max = info.layer_shape[info.layer_axes.index(axis)] - 1
        names = short_channel_names(info.channel_names, info.channels)
        self.channel_select.options = [
            ("RGB" if c == "rgb" else "composite" if c == "composite" else
             f"{names[c]} ({_COLOUR_NAMES[c % len(_COLOUR_NAMES)]} in composite)"
             if "composite" in self.state.channels else names[c], c)
            for c in self.state.channels]
        self.channel_select.layout.display = None if info.channels > 1 else "none"
        self.channel_names.layout.display = None if info.channels > 1 else "none"
        self.channel_names.value = ", ".join(info.channel_names or ())

    def _sync_image_list(self) -> None:
        options = [(f"{i}: {info.name}", i) for i, info in enumerate(self.project.images)]
        with self._quiet_controls():
            if list(self.image_select.options) != options:
                self.image_select.options = options
            self.image_select.value = self.index
        self.image_select.layout.display = None if len(options) > 1 else "none"

    def _sync_contrast(self) -> None:
        slider = self.contrast
        composite = self.channel == "composite"
        slider.disabled = composite
        slider.tooltip = ("each channel keeps its own contrast: pick a channel to set it"
                          if composite else "intensities shown black … white")
        if composite:
            return
        (low, high), (start, stop) = self.state.contrast, self.state.contrast_range
        slider.min, slider.max = min(slider.min, start), max(slider.max, stop)
        slider.value = (low, high)
        slider.min, slider.max = start, stop
        slider.step = (stop - start) / 1000

    def _build_palette(self) -> None:
        """Show one button per class; buttons are made once and restyled afterwards."""
        classes, colors = self.project.classes, self.project.colors
        buttons = list(self.palette.children)
        while len(buttons) < len(classes):
            k = len(buttons) + 1
            button = widgets.Button(layout=widgets.Layout(width="auto"))
            button.add_class(f"microlab-class-{k}")
            button.on_click(lambda _, k=k: self.select_class(k))
            buttons.append(button)
        for k, (button, name, color) in enumerate(
            zip(buttons, classes, colors, strict=False), start=1
        ):
            selected = k == self.value and self.tool != "eraser"
            button.description = f"{k} {name}"
            button.tooltip = f"paint {name} (key {k})"
            button.layout.border = "3px solid #222" if selected else "3px solid transparent"
            button.style.button_color = color
            button.style.font_weight = "bold" if selected else "normal"
            button.style.text_color = text_color(color)
        if len(self.palette.children) != len(buttons):
            self.palette.children = buttons
        with self._quiet_controls():
            self.class_name.value = classes[self.value - 1]
            self.class_color.value = colors[self.value - 1]

    # ------------------------------------------------------------------ mouse and keys
    @guarded
    def mouse_down(self, x: float, y: float) -> None:
        """Start a stroke (or a pan) at canvas point (x, y)."""
        start = time.perf_counter()
        self._pick_object(x, y)
        segment = self.strokes.down(float(y), float(x))
        if self.strokes.panning:
            return
        with drawing():
            self._sketch(segment)
            self.canvas[CURSOR].clear()
        self.timings.append(time.perf_counter() - start)

    @guarded
    def mouse_move(self, x: float, y: float) -> None:
        """Continue a stroke or a pan, or move the brush outline."""
        start = time.perf_counter()
        if not self.strokes.pressed:  # hovering an object shows its row
            self._pick_object(x, y)
        painting = self.strokes.pressed and not self.strokes.panning
        with drawing():
            segment = self.strokes.move(float(y), float(x))
            if painting:
                self._sketch(segment)  # no outline while painting: one layer
            elif not self.strokes.pressed:
                self.draw_cursor()
        if painting:
            self.timings.append(time.perf_counter() - start)

    @guarded
    def mouse_up(self, x: float, y: float) -> None:
        """End the stroke (one undo step; saved within a second)."""
        panning = self.strokes.panning
        box = self.strokes.up()
        if not panning:
            self._stroke_ended(box)

    @guarded
    def mouse_out(self, x: float, y: float) -> None:
        """The pointer left the canvas: end any stroke, hide the brush outline."""
        self._stroke_ended(self.strokes.leave())

    def _stroke_ended(self, box: tuple[slice, slice] | None) -> None:
        # draw what the stroke changed (box: None when nothing) and the brush outline
        with drawing():
            if box is not None:
                self.draw_labels(box)
            self.draw_cursor()

    @guarded
    def mouse_wheel(self, dx: float, dy: float) -> None:
        """Zoom with the wheel, about the pointer."""
        if dy:
            self.state.zoom(1.25 if dy < 0 else 0.8, at=self.strokes.hover)

    @guarded
    def key_down(self, key: str, shift: bool = False, ctrl: bool = False,
                 meta: bool = False) -> None:
        """Keyboard shortcuts (listed in the help line)."""
        self.shortcuts.dispatch(combo(key, shift=shift, ctrl=ctrl, meta=meta))

    # ------------------------------------------------------------------ project events
    def close(self) -> None:
        """Stop observing the project and close the widgets."""
        for event, handler in self._handlers.items():
            self.project.off(event, handler)
        super().close()

    @guarded
    def _on_annotation(self, index: int, plane: tuple, box) -> None:
        if index != self.index or (plane and tuple(plane) != self.plane):
            return
        if not self.strokes.painting:  # a stroke of this canvas is sketched, then redrawn
            self.draw_labels(box)
        self.undo_button.disabled = not self.project.can_undo
        self.redo_button.disabled = not self.project.can_redo

    @guarded
    def _on_classes(self) -> None:
        self._build_palette()
        with drawing():
            self.draw_labels()
            self.draw_overlay()
            self.draw_cursor()

    @guarded
    def _on_images(self, index: int) -> None:
        self._sync_image_list()
        if len(self.project) == 1:
            self.show_image(0)
        elif index == self.index:  # e.g. its channels were named
            with self._quiet_controls():
                self._sync_image_controls()

    @guarded
    def _on_prediction(self, index: int, region=None) -> None:
        if index == self.index:
            self.draw_overlay()

    def _on_saved(self, index) -> None:
        if self.messages.level == "error" and not self.project.unsaved:
            self.messages.ok("all strokes saved")

    # ------------------------------------------------------------------ drawing
    @guarded
    def redraw(self) -> None:
        """Draw every layer of the visible window."""
        if not len(self.project):
            return
        with drawing():
            self.draw_image()
            self.draw_overlay()
            self.draw_labels()
            self.draw_cursor()

    def _put(self, layer: int, array: np.ndarray, rect) -> None:
        """Ship canvas-resolution pixels for ``rect``; never more than the canvas holds."""
        cy, cx, h, w = rect
        assert array.shape[:2] == (h, w) and h <= self.view.height and w <= self.view.width
        if h * w > self.largest_put[0] * self.largest_put[1]:
            self.largest_put = (h, w)
        self.canvas[layer].put_image_data(np.ascontiguousarray(array), cx, cy)

    def _sketch(self, segment: Segment | None) -> None:
        """Draw a painted segment at once as a vector line (the browser draws it without
        decoding an image, so the stroke follows the pointer quickly); when the stroke ends,
        the painted pixels replace it exactly (:meth:`mouse_up`)."""
        if segment is None:
            return
        canvas, view = self.canvas[LABELS], self.view
        (y0, x0), (y1, x1) = view.to_canvas(*segment.start), view.to_canvas(*segment.end)
        erase = segment.value == 0
        canvas.global_composite_operation = "destination-out" if erase else "source-over"
        canvas.stroke_style = "#000000" if erase else self.project.colors[segment.value - 1]
        canvas.line_cap = "round"
        canvas.line_width = max(2.0, (2 * segment.radius + 1) / view.scale)
        canvas.stroke_line(x0, y0, x1 + 0.01, y1)
        canvas.global_composite_operation = "source-over"

    def draw_image(self) -> None:
        """Draw the image layer: the visible window at canvas resolution."""
        canvas = self.canvas[IMAGE]
        with drawing():
            canvas.fill_style = BACKGROUND
            canvas.fill_rect(0, 0, self.view.width, self.view.height)
            rect = self.view.image_rect(self.shape)
            if rect is None:
                return
            if self.channel == "composite":
                self._put(IMAGE, self._composite(rect), rect)
                return
            low, high = self.state.contrast
            gray = to_gray(sample(self.state.image_plane(), self.view, rect, reduce="mean"),
                           low, high)
            if gray.ndim == 3:
                gray = np.concatenate(
                    [np.moveaxis(gray, 0, -1), np.full((*gray.shape[1:], 1), 255, np.uint8)],
                    axis=-1)
            self._put(IMAGE, gray, rect)

    def _composite(self, rect) -> np.ndarray:
        """Every channel with its own contrast, in its colour (:data:`CHANNEL_COLOURS`),
        added up: the fluorescence composite, RGBA at canvas resolution."""
        planes = self.state.image_plane("composite")
        out = np.zeros((rect[2], rect[3], 3), np.float32)
        for c, plane in enumerate(planes):
            gray = to_gray(sample(plane, self.view, rect, reduce="mean"),
                           *self.state.channel_contrast(c)).astype(np.float32)
            colour = np.asarray(hex_rgb(CHANNEL_COLOURS[c % len(CHANNEL_COLOURS)]),
                                np.float32) / 255
            out += gray[..., None] * colour
        rgba = np.full((*out.shape[:2], 4), 255, np.uint8)
        rgba[..., :3] = np.clip(out, 0, 255)
        return rgba

    def draw_labels(self, box: tuple[slice, slice] | None = None) -> None:
        """Draw the annotations of the visible window (or only those in an image ``box``)."""
        canvas = self.canvas[LABELS]
        rect = self.view.image_rect(self.shape) if box is None else self.view.canvas_rect(box)
        with drawing():
            if box is None:
                canvas.clear()
            if rect is None:
                return
            if box is not None:
                canvas.clear_rect(rect[1], rect[0], rect[3], rect[2])
            lut = label_lut(self.project.colors, 255)
            values = sample(self.state.label_plane(), self.view, rect, reduce="max")
            if values.any():
                self._put(LABELS, lut[values], rect)

    def draw_overlay(self) -> None:
        """Draw the prediction, uncertainty or objects overlay of the visible window."""
        canvas = self.canvas[OVERLAY]
        with drawing():
            canvas.clear()
            result = (self.project.objects(self.index) if self.overlay == "objects" else
                      self.project.prediction(self.index))
            rect = self.view.image_rect(self.shape)
            if result is None or rect is None or self.overlay == "none" or self.opacity <= 0:
                return
            if self.overlay == "objects":
                self._draw_objects(result[self.plane], rect)
                return
            labels, unsure = (a[self.plane] for a in result)
            if self.overlay == "prediction":
                lut = label_lut(self.project.colors, round(255 * self.opacity))
                values = sample(labels, self.view, rect)
                if not values.any():
                    return
                rgba = lut[values]
            else:
                rgba = uncertainty_rgba(sample(unsure, self.view, rect), self.opacity)
            self._put(OVERLAY, rgba, rect)

    def _draw_objects(self, plane: np.ndarray, rect) -> None:
        """Objects of the shown ``plane``: each filled with its colour (:attr:`object_colors`,
        else a colour of its own) at the overlay's opacity, outlined opaque; the selected one
        outlined white."""
        labels = sample(plane, self.view, rect)
        if not labels.any():
            return
        lut = self.object_colors
        if lut is None or len(lut) <= labels.max():
            lut = object_lut(int(labels.max()), 255)
        rgba = lut[labels]
        edge = outlines(labels)
        rgba[..., 3] = np.where(edge, rgba[..., 3], rgba[..., 3] * (0.6 * self.opacity))
        rgba[labels == 0, 3] = 0
        if self.selected_object:
            mine = edge & (labels == self.selected_object)
            rgba[mine] = (255, 255, 255, 255)
        self._put(OVERLAY, rgba, rect)

    @property
    def object_colors(self) -> np.ndarray | None:
        """RGBA colour per object label (row k for label k), or None: a colour of its own."""
        return self._object_colors

    def set_object_colors(self, lut: np.ndarray | None) -> None:
        """Colour objects by ``lut`` (e.g. by a measurement: see the objects panel)."""
        self._object_colors = None if lut is None else np.asarray(lut, np.uint8)
        if self.overlay == "objects":
            self.draw_overlay()

    def select_object(self, label: int | None) -> None:
        """Outline object ``label`` in white (None: none)."""
        self.selected_object = None if not label else int(label)
        if self.overlay == "objects":
            self.draw_overlay()

    def _pick_object(self, x: float, y: float) -> None:
        """With the objects overlay and the pan tool, outline the object under canvas point
        (x, y) and emit ``"pick"`` (the objects panel selects its row)."""
        if self.overlay != "objects" or self.tool != "pan":
            return
        label = self.object_at(x, y)
        if label and label != self.selected_object:
            self.select_object(label)
            self.state._events.emit("pick", label)

    def object_at(self, x: float, y: float) -> int:
        """The object label under canvas point (x, y), 0 for none."""
        labels = self.project.objects(self.index)
        if labels is None:
            return 0
        iy, ix = (int(np.floor(v)) for v in self.view.to_image(float(y), float(x)))
        plane = labels[self.plane]
        if not (0 <= iy < plane.shape[0] and 0 <= ix < plane.shape[1]):
            return 0
        return int(plane[iy, ix])

    def draw_cursor(self) -> None:
        """Draw the brush outline at the pointer and the outline of a suggested region."""
        canvas, view, marker = self.canvas[CURSOR], self.view, self.marker
        with drawing():
            canvas.clear()
            if not len(self.project):
                return
            if marker is not None and marker[0] == self.index and (
                not marker[1] or tuple(marker[1]) == self.plane
            ):
                box = marker[2]
                (y0, x0), (y1, x1) = (view.to_canvas(box[0].start, box[1].start),
                                      view.to_canvas(box[0].stop, box[1].stop))
                canvas.stroke_style = "#ffd400"
                canvas.line_width = 2
                canvas.stroke_rect(x0, y0, x1 - x0, y1 - y0)
            hover = self.strokes.hover
            if hover is not None and self.tool != "pan":
                cy, cx = hover
                canvas.stroke_style = ("#ffffff" if self.tool == "eraser"
                                       else self.project.colors[self.value - 1])
                canvas.line_width = 1.5
                canvas.stroke_circle(cx, cy, max(1.0, (self.radius + 0.5) / view.scale))
