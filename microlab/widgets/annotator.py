"""The annotation canvas: paint strokes of classes over an image, in JupyterLab.

The :class:`Annotator` draws; the :class:`microlab.Project` owns the annotation arrays. A
mouse stroke calls :meth:`Project.paint` (brush and eraser alike), the project tells its
observers which box changed, and the annotator redraws that box — so strokes, undo, redo
and changes made from Python all reach the canvas the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas

from ..labels.colors import hex_color
from ._common import MessageLine, drawing, guarded
from ._view import (
    BACKGROUND,
    View,
    auto_contrast,
    label_lut,
    sample,
    to_gray,
    uncertainty_rgba,
)

IMAGE, OVERLAY, LABELS, CURSOR = range(4)
"""The canvas layers, bottom to top."""
OVERLAYS = ("prediction", "uncertainty", "none")
TOOLS = ("brush", "eraser", "pan")


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
        project,
        *,
        image: int = 0,
        canvas_size: tuple[int, int] = (512, 512),
        brush_size: int = 4,
        messages: MessageLine | None = None,
    ) -> None:
        self.project = project
        self.messages = messages or MessageLine()
        height, width = (int(v) for v in canvas_size)
        if not (16 <= height <= 4096 and 16 <= width <= 4096):
            raise ValueError(f"canvas_size must be 16-4096 pixels each, got {canvas_size}")
        self.canvas = MultiCanvas(4, width=width, height=height)
        self.canvas.layout = widgets.Layout(width=f"{width}px", height=f"{height}px")
        self.canvas.add_class("microlab-canvas")
        self.index = 0
        self.planes: dict[str, int] = {}
        self.channel: int | str = 0
        self.view = View(0, 0, 1, height, width)
        self.tool = "brush"
        self.value = 1
        self.overlay = "prediction"
        self.opacity = 0.5
        self.marker: tuple[int, tuple | None, tuple[slice, slice]] | None = None
        self.shortcuts: dict[str, tuple[str, Callable]] = {}
        self.timings: list[float] = []
        self.largest_put = (0, 0)
        self._contrast: dict[tuple[int, int | str], tuple[float, float]] = {}
        self._pressed = False
        self._sketching = False
        self._stroke_box: tuple[slice, slice] | None = None
        self._last: tuple[float, float] | None = None
        self._hover: tuple[float, float] | None = None
        self._view_callbacks: list[Callable] = []
        self._syncing = False

        self._build_controls(brush_size)
        self.canvas.on_mouse_down(self.mouse_down)
        self.canvas.on_mouse_move(self.mouse_move)
        self.canvas.on_mouse_up(self.mouse_up)
        self.canvas.on_mouse_out(self.mouse_out)
        self.canvas.on_mouse_wheel(self.mouse_wheel)
        self.canvas.on_key_down(self.key_down)
        self.canvas.on_client_ready(self.redraw)
        self._default_shortcuts()
        for event, handler in self._project_handlers().items():
            project.on(event, handler)
        super().__init__(
            [self._toolbar, self._palette_box, self.canvas, self._stack_box, self.help,
             self.messages.widget]
        )
        self.add_class("microlab-annotator")
        if len(project):
            self.show_image(min(max(0, int(image)), len(project) - 1))
        else:
            self.messages.info("the project has no image yet: project.add_image(...)")

    # ------------------------------------------------------------------ controls
    def _build_controls(self, brush_size: int) -> None:
        self.tool_buttons = widgets.ToggleButtons(
            options=[("brush", "brush"), ("eraser", "eraser"), ("pan", "pan")],
            icons=["paint-brush", "eraser", "arrows"],
            value="brush", style={"button_width": "86px"},
            tooltips=["paint the selected class (b)", "erase strokes (e)", "drag the view (h)"],
        )
        self.tool_buttons.observe(lambda c: self._set_tool(c["new"]), "value")
        self.size_slider = widgets.IntSlider(
            value=int(brush_size), min=0, max=64, description="size",
            layout=widgets.Layout(width="210px"), style={"description_width": "32px"},
        )
        self.size_slider.observe(lambda c: self.draw_cursor(), "value")
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
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.image_select = widgets.Dropdown(options=[], description="image",
                                             layout=widgets.Layout(width="260px"),
                                             style={"description_width": "42px"})
        self.image_select.observe(self._on_image_select, "value")
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
        self.class_color.observe(self._on_color_pick, "value")
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
        self.z_slider.observe(lambda c: self._set_plane("Z", c["new"]), "value")
        self.t_slider.observe(lambda c: self._set_plane("T", c["new"]), "value")
        self.channel_select = widgets.Dropdown(description="channel", options=[0],
                                               layout=widgets.Layout(width="170px"),
                                               style={"description_width": "56px"})
        self.channel_select.observe(self._on_channel_select, "value")
        self.contrast = widgets.FloatRangeSlider(
            description="contrast", min=0, max=255, value=(0, 255), step=1,
            layout=widgets.Layout(width="360px"), style={"description_width": "56px"},
            readout_format=".4g",
        )
        self.contrast.observe(self._on_contrast, "value")
        self.auto_button = widgets.Button(description="auto", tooltip="percentile contrast (a)",
                                          layout=widgets.Layout(width="50px"))
        self.auto_button.on_click(lambda _: self.auto_contrast())
        self._stack_box = widgets.HBox(
            [self.image_select, self.t_slider, self.z_slider, self.channel_select,
             self.contrast, self.auto_button],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.help = widgets.HTML(layout=widgets.Layout(max_width="900px"))

    def _default_shortcuts(self) -> None:
        keys = {
            "b": ("brush", lambda: self._set_tool("brush")),
            "e": ("eraser", lambda: self._set_tool("eraser")),
            "h": ("pan", lambda: self._set_tool("pan")),
            "1-9": ("class", None),
            "[ ]": ("brush size", None),
            "+ -": ("zoom", None),
            "0": ("fit", self.fit),
            "arrows": ("pan", None),
            ", .": ("z plane", None),
            "a": ("auto contrast", self.auto_contrast),
            "ctrl+z": ("undo", self.undo),
            "ctrl+y": ("redo", self.redo),
        }
        self.shortcuts.update(keys)
        self._update_help()

    def add_shortcut(self, key: str, description: str, action: Callable) -> None:
        """Bind a key (as the browser names it, e.g. ``"t"``) to an action; listed in help."""
        self.shortcuts[key] = (description, action)
        self._update_help()

    def _update_help(self) -> None:
        items = " · ".join(f"<b>{k}</b> {d}" for k, (d, _) in self.shortcuts.items())
        self.help.value = (
            f'<span style="font-size:85%;color:#555" class="microlab-help">keys (click the '
            f"image first): {items} · wheel zoom</span>"
        )

    # ------------------------------------------------------------------ state
    @property
    def info(self):
        """The shown image's :class:`microlab.project.ImageInfo`."""
        return self.project.images[self.index]

    @property
    def plane(self) -> tuple[int, ...]:
        """Indices along the annotation layer's leading axes (T, Z) of the shown plane."""
        return tuple(self.planes[a] for a in self.info.layer_axes[:-2])

    @property
    def radius(self) -> int:
        """Brush radius in image pixels."""
        return int(self.size_slider.value)

    @property
    def shape(self) -> tuple[int, int]:
        """(Y, X) size of the shown image."""
        return self.info.layer_shape[-2:]

    def on_view_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after the visible window changes (pan, zoom, plane, image)."""
        self._view_callbacks.append(callback)

    def _view_changed(self) -> None:
        for callback in list(self._view_callbacks):
            callback()

    def visible_region(self) -> tuple[slice, ...] | None:
        """Slices of the annotation layer that the canvas shows (one plane of a stack)."""
        window = self.view.window(self.shape)
        if window is None:
            return None
        return (*(slice(p, p + 1) for p in self.plane), *window)

    def _image_plane(self) -> np.ndarray:
        """The shown plane: (Y, X), or (3, Y, X) for the RGB composite."""
        image = self.project.image(self.index)
        index = []
        for axis in image.axes[:-2]:
            if axis == "C":
                index.append(slice(0, 3) if self.channel == "rgb" else int(self.channel))
            else:
                index.append(self.planes[axis])
        return image.data[tuple(index)]

    def _label_plane(self) -> np.ndarray:
        return self.project.annotation(self.index)[self.plane]

    # ------------------------------------------------------------------ navigation
    @guarded
    def show_image(self, index: int) -> None:
        """Show image ``index`` of the project, whole, on its first plane."""
        info = self.project.images[index]
        self.index = int(index)
        self.planes = {a: n // 2 if a == "Z" else 0
                       for a, n in zip(info.layer_axes[:-2], info.layer_shape[:-2],
                                       strict=True)}
        self._syncing = True
        try:
            self._sync_image_list()
            for slider, axis in ((self.z_slider, "Z"), (self.t_slider, "T")):
                present = axis in self.planes
                slider.layout.display = None if present else "none"
                if present:
                    slider.max = info.layer_shape[info.layer_axes.index(axis)] - 1
                    slider.value = self.planes[axis]
            channels = info.channels
            options = [(f"{c}", c) for c in range(channels)]
            if channels in (3, 4) and info.dtype == "uint8":
                options.insert(0, ("RGB", "rgb"))
            self.channel_select.options = options
            self.channel = options[0][1]
            self.channel_select.value = self.channel
            self.channel_select.layout.display = None if channels > 1 else "none"
        finally:
            self._syncing = False
        self.view = View.fit(self.shape, self.view.height, self.view.width)
        self.marker = self.marker if self.marker and self.marker[0] == self.index else None
        self._sync_contrast()
        self.redraw()
        self._view_changed()

    def _sync_image_list(self) -> None:
        options = [(f"{i}: {info.name}", i) for i, info in enumerate(self.project.images)]
        if list(self.image_select.options) != options:
            self.image_select.options = options
        self.image_select.value = self.index
        self.image_select.layout.display = None if len(options) > 1 else "none"

    def _on_image_select(self, change) -> None:
        if not self._syncing and change["new"] is not None and change["new"] != self.index:
            self.show_image(change["new"])

    def _on_channel_select(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        self.channel = change["new"]
        self._sync_contrast()
        self.draw_image()

    @guarded
    def set_plane(self, axis: str, value: int) -> None:
        """Show plane ``value`` along ``axis`` (``"Z"`` or ``"T"``)."""
        slider = {"Z": self.z_slider, "T": self.t_slider}[axis]
        slider.value = int(value)

    @guarded
    def _set_plane(self, axis: str, value: int) -> None:
        if self._syncing or axis not in self.planes or self.planes[axis] == value:
            return
        self.planes[axis] = int(value)
        self.redraw()
        self._view_changed()

    @guarded
    def zoom(self, factor: float, at: tuple[float, float] | None = None) -> None:
        """Zoom in (``factor`` > 1) or out about a canvas point (default: the centre)."""
        cy, cx = at if at is not None else (self.view.height / 2, self.view.width / 2)
        fit = View.fit(self.shape, self.view.height, self.view.width).scale
        self.view.zoom(factor, cy, cx, limits=(1 / 16, max(1.0, fit * 2)))
        self.redraw()
        self._view_changed()

    @guarded
    def fit(self) -> None:
        """Show the whole image."""
        self.view = View.fit(self.shape, self.view.height, self.view.width)
        self.redraw()
        self._view_changed()

    @guarded
    def pan(self, dy: float, dx: float) -> None:
        """Move the image by (dy, dx) canvas pixels."""
        self.view.pan(dy, dx)
        self.redraw()
        self._view_changed()

    @guarded
    def show_region(self, index: int, plane: tuple[int, ...], box: tuple[slice, slice]) -> None:
        """Show image ``index`` at ``plane`` zoomed on the (y, x) ``box``, outlined."""
        if index != self.index:
            self.show_image(index)
        axes = self.info.layer_axes[:-2]
        for axis, value in zip(axes, plane, strict=True):
            self.planes[axis] = int(value)
            self._syncing = True
            try:
                {"Z": self.z_slider, "T": self.t_slider}[axis].value = int(value)
            finally:
                self._syncing = False
        self.marker = (index, tuple(plane), box)
        self.view.centre_on(box)
        self.redraw()
        self._view_changed()

    # ------------------------------------------------------------------ tools and classes
    def _set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        self.tool = tool
        if self.tool_buttons.value != tool:
            self.tool_buttons.value = tool
        self._build_palette()
        self.draw_cursor()

    @guarded
    def select_class(self, value: int) -> None:
        """Paint class ``value`` (1..C) from now on (and switch to the brush)."""
        if not 1 <= int(value) <= len(self.project.classes):
            raise ValueError(
                f"class {value} does not exist; the project has {len(self.project.classes)}"
            )
        self.value = int(value)
        if self.tool == "eraser":
            self._set_tool("brush")
        self._build_palette()
        self.draw_cursor()

    @guarded
    def new_class(self, name: str | None = None, color=None) -> None:
        """Add a class to the project and select it."""
        value = self.project.add_class(name or None, color)
        self.select_class(value)

    @guarded
    def rename_class(self, name: str) -> None:
        """Rename the selected class."""
        self.project.rename_class(self.value, name)

    @guarded
    def recolor_class(self, color) -> None:
        """Recolour the selected class (``"#rrggbb"`` or an RGB tuple)."""
        self.project.set_color(self.value, color)

    def _on_color_pick(self, change) -> None:
        if self._syncing or not change["new"]:
            return
        try:
            color = hex_color(change["new"])
        except (TypeError, ValueError):
            return  # a colour name or a half-typed value: wait for a valid one
        if color != self.project.colors[self.value - 1]:
            self.recolor_class(color)

    def _build_palette(self) -> None:
        """Show one button per class; buttons are made once and restyled afterwards."""
        classes, colors = self.project.classes, self.project.colors
        self.value = min(self.value, len(classes))
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
            button.style.text_color = _text_color(color)
        if len(self.palette.children) != len(buttons):
            self.palette.children = buttons
        self._syncing = True
        try:
            self.class_name.value = classes[self.value - 1]
            self.class_color.value = colors[self.value - 1]
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ contrast
    def _sync_contrast(self) -> None:
        key = (self.index, self.channel)
        plane = self._image_plane()
        if np.dtype(self.info.dtype) == np.uint8:
            full = (0.0, 255.0)
        else:
            step = max(1, int(math.sqrt(plane.size / 1_000_000)))
            sub = plane[..., ::step, ::step]
            full = (float(sub.min()), float(sub.max()))
            if full[1] <= full[0]:
                full = (full[0], full[0] + 1.0)
        if key not in self._contrast:
            self._contrast[key] = auto_contrast(plane)
        low, high = self._contrast[key]
        self._syncing = True
        try:
            slider = self.contrast
            slider.min, slider.max = min(slider.min, full[0], low), max(slider.max, full[1], high)
            slider.value = (low, high)
            slider.min, slider.max = min(full[0], low), max(full[1], high)
            slider.step = (slider.max - slider.min) / 1000
        finally:
            self._syncing = False

    @guarded
    def set_contrast(self, low: float, high: float) -> None:
        """Show intensities ``low`` … ``high`` from black to white."""
        if not high > low:
            raise ValueError(f"contrast needs low < high, got {low} and {high}")
        self._contrast[(self.index, self.channel)] = (float(low), float(high))
        self._sync_contrast()
        self.draw_image()

    @guarded
    def auto_contrast(self, percentiles=(0.5, 99.5)) -> None:
        """Set the contrast from percentiles of the shown plane."""
        low, high = auto_contrast(self._image_plane(), percentiles)
        self.set_contrast(low, high)

    def _on_contrast(self, change) -> None:
        if not self._syncing:
            low, high = change["new"]
            if high > low:
                self.set_contrast(low, high)

    # ------------------------------------------------------------------ mouse and keys
    @guarded
    def mouse_down(self, x: float, y: float) -> None:
        """Start a stroke (or a pan) at canvas point (x, y)."""
        x, y = float(x), float(y)
        self._pressed = True
        self._hover = (y, x)
        if self.tool == "pan":
            self._last = (y, x)
            return
        start = time.perf_counter()
        point = self.view.to_image(y, x)
        self._last = point
        self._stroke_box = None
        with drawing():
            self._paint(point, point)
            self.canvas[CURSOR].clear()
        self.timings.append(time.perf_counter() - start)

    @guarded
    def mouse_move(self, x: float, y: float) -> None:
        """Continue a stroke or a pan, or move the brush outline."""
        x, y = float(x), float(y)
        self._hover = (y, x)
        start = time.perf_counter()
        with drawing():
            if self._pressed and self.tool == "pan" and self._last is not None:
                self.view.pan(y - self._last[0], x - self._last[1])
                self._last = (y, x)
                self.redraw()
            elif self._pressed and self._last is not None:
                point = self.view.to_image(y, x)
                self._paint(self._last, point)  # no outline while painting: one layer
                self._last = point
            else:
                self.draw_cursor()
        if self._pressed and self.tool != "pan":
            self.timings.append(time.perf_counter() - start)

    def _paint(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Paint a segment into the project and sketch it on the canvas at once.

        The sketch is a vector line (drawn by the browser without decoding an image, so
        the stroke follows the pointer quickly); when the stroke ends, the painted pixels
        replace it exactly (:meth:`mouse_up`).
        """
        self._sketching = True
        try:
            box = self.project.paint(self.index, start, end, radius=self.radius,
                                     value=self._paint_value(), plane=self.plane)
        finally:
            self._sketching = False
        if box is None:
            return
        self._stroke_box = box if self._stroke_box is None else tuple(
            slice(min(a.start, b.start), max(a.stop, b.stop))
            for a, b in zip(self._stroke_box, box, strict=True))
        canvas = self.canvas[LABELS]
        (y0, x0), (y1, x1) = self.view.to_canvas(*start), self.view.to_canvas(*end)
        erase = self.tool == "eraser"
        canvas.global_composite_operation = "destination-out" if erase else "source-over"
        canvas.stroke_style = "#000000" if erase else self.project.colors[self.value - 1]
        canvas.line_cap = "round"
        canvas.line_width = max(2.0, (2 * self.radius + 1) / self.view.scale)
        canvas.stroke_line(x0, y0, x1 + 0.01, y1)
        canvas.global_composite_operation = "source-over"

    @guarded
    def mouse_up(self, x: float, y: float) -> None:
        """End the stroke (one undo step; saved within a second)."""
        was_panning = self._pressed and self.tool == "pan"
        self._pressed = False
        self._last = None
        if was_panning:
            self._view_changed()
            return
        box, self._stroke_box = self._stroke_box, None
        with drawing():
            if box is not None:
                self.draw_labels(box)
            self.draw_cursor()
        self.project.end_stroke()

    def mouse_out(self, x: float, y: float) -> None:
        """The pointer left the canvas: end any stroke, hide the brush outline."""
        if self._pressed:
            self.mouse_up(x, y)
        self._hover = None
        self.draw_cursor()

    @guarded
    def mouse_wheel(self, dx: float, dy: float) -> None:
        """Zoom with the wheel, about the pointer."""
        if dy:
            self.zoom(1.25 if dy < 0 else 0.8, at=self._hover)

    @guarded
    def key_down(self, key: str, shift: bool = False, ctrl: bool = False,
                 meta: bool = False) -> None:
        """Keyboard shortcuts (listed in the help line)."""
        command = ctrl or meta
        lower = key.lower()
        if command and lower == "z":
            self.redo() if shift else self.undo()
        elif command and lower == "y":
            self.redo()
        elif command:
            return
        elif key.isdigit() and key != "0":
            self.select_class(int(key))
        elif key in ("+", "="):
            self.zoom(1.25, at=self._hover)
        elif key in ("-", "_"):
            self.zoom(0.8, at=self._hover)
        elif key == "[":
            self.size_slider.value = max(0, self.radius - 1)
        elif key == "]":
            self.size_slider.value = min(self.size_slider.max, self.radius + 1)
        elif key.startswith("Arrow"):
            step = self.view.height / 4
            dy, dx = {"ArrowUp": (step, 0), "ArrowDown": (-step, 0),
                      "ArrowLeft": (0, step), "ArrowRight": (0, -step)}.get(key, (0, 0))
            self.pan(dy, dx)
        elif key in (",", ".") and "Z" in self.planes:
            self.z_slider.value = min(max(0, self.planes["Z"] + (1 if key == "." else -1)),
                                      self.z_slider.max)
        elif key in self.shortcuts and self.shortcuts[key][1] is not None:
            self.shortcuts[key][1]()

    def _paint_value(self) -> int:
        return 0 if self.tool == "eraser" else self.value

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

    # ------------------------------------------------------------------ project events
    def _project_handlers(self) -> dict[str, Callable]:
        self._handlers = {
            "annotation": self._on_annotation,
            "classes": self._on_classes,
            "images": self._on_images,
            "prediction": self._on_prediction,
            "error": self.messages.error,
            "saved": self._on_saved,
        }
        return self._handlers

    def close(self) -> None:
        """Stop observing the project and close the widgets."""
        for event, handler in self._handlers.items():
            self.project.off(event, handler)
        super().close()

    @guarded
    def _on_annotation(self, index: int, plane: tuple, box) -> None:
        if index != self.index or (plane and tuple(plane) != self.plane):
            return
        if not self._sketching:  # a stroke of this canvas is sketched, then redrawn at its end
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

    @guarded
    def _on_prediction(self, index: int, region) -> None:
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
        if not self.palette.children:
            self._build_palette()
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

    def draw_image(self) -> None:
        """Draw the image layer: the visible window at canvas resolution."""
        canvas = self.canvas[IMAGE]
        with drawing():
            canvas.fill_style = BACKGROUND
            canvas.fill_rect(0, 0, self.view.width, self.view.height)
            rect = self.view.image_rect(self.shape)
            if rect is None:
                return
            low, high = self._contrast.get((self.index, self.channel), (0.0, 255.0))
            gray = to_gray(sample(self._image_plane(), self.view, rect, reduce="mean"), low, high)
            if gray.ndim == 3:
                gray = np.concatenate(
                    [np.moveaxis(gray, 0, -1), np.full((*gray.shape[1:], 1), 255, np.uint8)],
                    axis=-1)
            self._put(IMAGE, gray, rect)

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
            values = sample(self._label_plane(), self.view, rect, reduce="max")
            if values.any():
                self._put(LABELS, lut[values], rect)

    def draw_overlay(self) -> None:
        """Draw the prediction or uncertainty overlay of the visible window."""
        canvas = self.canvas[OVERLAY]
        with drawing():
            canvas.clear()
            result = self.project.prediction(self.index)
            rect = self.view.image_rect(self.shape)
            if result is None or rect is None or self.overlay == "none" or self.opacity <= 0:
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

    def draw_cursor(self) -> None:
        """Draw the brush outline at the pointer and the outline of a suggested region."""
        canvas = self.canvas[CURSOR]
        with drawing():
            canvas.clear()
            if self.marker is not None and self.marker[0] == self.index and (
                not self.marker[1] or tuple(self.marker[1]) == self.plane
            ):
                box = self.marker[2]
                (y0, x0), (y1, x1) = (self.view.to_canvas(box[0].start, box[1].start),
                                      self.view.to_canvas(box[0].stop, box[1].stop))
                canvas.stroke_style = "#ffd400"
                canvas.line_width = 2
                canvas.stroke_rect(x0, y0, x1 - x0, y1 - y0)
            if self._hover is not None and self.tool != "pan" and len(self.project):
                cy, cx = self._hover
                color = "#ffffff" if self.tool == "eraser" else self.project.colors[
                    self.value - 1]
                canvas.stroke_style = color
                canvas.line_width = 1.5
                canvas.stroke_circle(cx, cy, max(1.0, (self.radius + 0.5) / self.view.scale))


def _text_color(color: str) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"
