"""The objects panel: semantic or instance mode, a measurement table beside the image,
colour by any column, apply the model to every image, and export.

The second half of the application note's walk-through ("morphological parameters need to
be extracted for each segmented nucleus"): in instance mode every whole-image prediction
also finds the objects of the chosen class (:func:`microlab.project.objects.find`); the
panel measures them (:func:`microlab.project.objects.measure`), shows one row per object,
colours the objects overlay by a column with a colour bar and a histogram, and exports
label images, one CSV and a record of what was done.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np

from ..project import objects as _objects
from ._common import MessageLine, guarded, short_channel_names

if TYPE_CHECKING:
    from ..project import Project
    from .annotator import Annotator

OWN_COLOURS = "each its own colour"
SHOWN = ("area_", "volume_", "equivalent_diameter_", "eccentricity", "solidity",
         "intensity_mean_ch", "mean_distance_k")
"""Column prefixes shown in the table (every column is in the CSV)."""


def _setting_box(value: bool, description: str, tooltip: str) -> widgets.Checkbox:
    """A checkbox for one of the project's yes/no object settings."""
    return widgets.Checkbox(value=value, description=description, tooltip=tooltip,
                            indent=False, layout=widgets.Layout(width="220px"))


class ObjectsPanel(widgets.VBox):
    """Choose semantic or instance mode, see and measure objects, apply to all, export.

    Parameters
    ----------
    project : microlab.Project
        Whose settings, objects and measurements are shown.
    annotator : Annotator
        The canvas the objects overlay is drawn on.
    model : callable, optional
        Returns the segmenter to predict with (the training panel's latest), or None.
    messages : MessageLine, optional
        Where to show information and errors.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> from microlab.widgets import Annotator, ObjectsPanel
    >>> project = microlab.Project(tempfile.mkdtemp(), classes=["nuclei", "background"])
    >>> _ = project.add_image(np.zeros((64, 64), np.uint8))
    >>> panel = ObjectsPanel(project, Annotator(project))
    >>> panel.mode.value = "instance"
    >>> project.settings["mode"]
    'instance'
    >>> panel.apply_all().join()
    >>> panel.messages.text
    'no model yet: paint and train first'
    """

    def __init__(self, project: Project, annotator: Annotator, *,
                 model: Callable[[], object] | None = None,
                 messages: MessageLine | None = None) -> None:
        self.project = project
        self.annotator = annotator
        self.messages = messages or annotator.messages
        self._model = model or project.load_model
        self.table = None
        self.timings: dict[str, list[float]] = {"table": [], "colour": [], "select": []}
        self._rows: list[int] = []
        self._shown: list[str] = ["label"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._syncing = False

        settings = project.settings
        self.mode = widgets.ToggleButtons(
            options=[("semantic", "semantic"), ("instance", "instance")],
            value=settings["mode"], style={"button_width": "80px"},
            tooltips=["classes only, pixel by pixel",
                      "separate objects of one class: objects, table, neighbours"])
        self.object_class = widgets.Dropdown(description="objects are",
                                             layout=widgets.Layout(width="220px"),
                                             style={"description_width": "72px"})
        self.neighbours = widgets.BoundedIntText(
            value=settings["neighbours"], min=1, max=64, description="k nearest",
            tooltip="the neighbourhood columns average the distances to the k nearest objects",
            layout=widgets.Layout(width="130px"), style={"description_width": "62px"})
        self.whole = _setting_box(
            settings["whole_objects"], "painted objects are whole",
            "tick when you fill whole objects with the brush (not strokes across them): in "
            "instance mode the Random Forest then learns the objects' boundaries itself, as "
            "the U-Net always does; a model of the painted classes learns the ring just "
            "outside each object as background, so objects end where they should. Painted "
            "objects that touch are one object: leave an unpainted pixel between them")
        self.split = _setting_box(
            settings["split_by_image"], "split by the image's blobs",
            "split touching objects where the image shows separate blobs, not only where "
            "the predicted shape narrows; untick if large, flat, textured nuclei are cut "
            "in two")
        self.pixel_size = widgets.BoundedFloatText(
            value=1.0, min=0.0, max=1e6, step=0.01, description="pixel size",
            layout=widgets.Layout(width="150px"), style={"description_width": "62px"})
        self.unit = widgets.Text(value="µm", layout=widgets.Layout(width="50px"))
        self.size_button = widgets.Button(description="set for all images",
                                          tooltip="use this pixel size for every image",
                                          layout=widgets.Layout(width="140px"))
        self.find_button = widgets.Button(description="Find objects", icon="circle",
                                          tooltip="find the objects of the image shown with "
                                                  "the latest model",
                                          layout=widgets.Layout(width="130px"))
        self.apply_button = widgets.Button(description="Apply to all", icon="forward",
                                           tooltip="predict every image (and find its "
                                                   "objects in instance mode)",
                                           layout=widgets.Layout(width="130px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          layout=widgets.Layout(width="70px"))
        self.progress = widgets.FloatProgress(value=0, min=0, max=1,
                                              layout=widgets.Layout(width="160px"))
        self.summary = widgets.HTML()
        self.hint = widgets.HTML()
        self.place_button = widgets.Button(
            description="Next doubtful place", icon="search",
            tooltip="show, in turn, the places where the classifier half-sees an object it "
                    "did not find", layout=widgets.Layout(width="180px", display="none"))
        self._places: list = []
        self._place = -1
        self.sort_by = widgets.Dropdown(description="sort by",
                                        layout=widgets.Layout(width="230px"),
                                        style={"description_width": "48px"})
        self.descending = widgets.Checkbox(value=False, description="descending",
                                           indent=False, layout=widgets.Layout(width="100px"))
        self.header = widgets.HTML()
        self.rows = widgets.Select(options=[], rows=10, layout=widgets.Layout(width="100%"))
        self.rows.add_class("microlab-object-rows")
        self.sort_by.add_class("microlab-sort-by")
        self.colour_by = widgets.Dropdown(description="colour by",
                                          layout=widgets.Layout(width="280px"),
                                          style={"description_width": "72px"})
        self.colour_by.add_class("microlab-colour-by")
        self.colour_bar = widgets.Image(format="png", layout=widgets.Layout(width="260px"))
        self.histogram = widgets.Image(format="png", layout=widgets.Layout(width="260px"))
        export_to = project.path.parent / f"{project.path.name}-export"
        self.folder = widgets.Text(value=str(export_to), description="to",
                                   layout=widgets.Layout(width="260px"),
                                   style={"description_width": "20px"})
        self.folder.add_class("microlab-export-folder")
        self.colour_bar.add_class("microlab-colour-bar")
        self.export_button = widgets.Button(description="Export", icon="download",
                                            tooltip="label images, objects.csv, summary.csv, "
                                                    "the model and a record of what was done",
                                            layout=widgets.Layout(width="90px"))
        for button, name in ((self.find_button, "find"), (self.apply_button, "apply"),
                             (self.stop_button, "stop"), (self.export_button, "export"),
                             (self.size_button, "pixel-size"), (self.place_button, "place")):
            button.add_class(f"microlab-objects-{name}")

        self.mode.observe(self._on_settings_control, "value")
        self.object_class.observe(self._on_settings_control, "value")
        self.neighbours.observe(self._on_settings_control, "value")
        self.whole.observe(self._on_settings_control, "value")
        self.split.observe(self._on_settings_control, "value")
        self.size_button.on_click(lambda _: self.set_pixel_size(self.pixel_size.value,
                                                                self.unit.value))
        self.find_button.on_click(lambda _: self.find())
        self.apply_button.on_click(lambda _: self.apply_all())
        self.stop_button.on_click(lambda _: self.stop())
        self.export_button.on_click(lambda _: self.export())
        self.place_button.on_click(lambda _: self.next_place())
        self.sort_by.observe(lambda _: self._show_rows(), "value")
        self.descending.observe(lambda _: self._show_rows(), "value")
        self.rows.observe(self._on_row, "value")
        self.colour_by.observe(lambda _: self.colour(), "value")
        self._handlers = {"objects": self._on_objects, "classes": self._on_classes,
                          "settings": self._on_settings}
        for event, handler in self._handlers.items():
            project.on(event, handler)
        annotator.on("image", self._on_image)
        annotator.on("pick", self._on_pick)

        self._instance_box = widgets.VBox([
            widgets.HBox([self.object_class, self.neighbours]),
            widgets.HBox([self.whole, self.split]),
            widgets.HBox([self.pixel_size, self.unit, self.size_button]),
            widgets.HBox([self.find_button]),
            self.hint, self.place_button,
            widgets.HBox([self.sort_by, self.descending]),
            self.header, self.rows,
            self.colour_by, self.colour_bar, self.histogram,
        ])
        super().__init__([
            widgets.HTML("<b>Objects</b><style>.microlab-object-rows select, "
                         ".microlab-object-header {font-family: monospace; font-size: 11px; "
                         "white-space: pre; overflow: hidden}</style>"),
            self.mode,
            self._instance_box,
            widgets.HBox([self.apply_button, self.stop_button, self.progress]),
            self.summary,
            widgets.HBox([self.folder, self.export_button]),
        ])
        self.add_class("microlab-objects")
        self._on_classes()
        self._on_settings()

    # ------------------------------------------------------------------ settings
    def _on_settings_control(self, change) -> None:
        if self._syncing:
            return
        try:
            self.project.set_settings(mode=self.mode.value,
                                      object_class=int(self.object_class.value or 1),
                                      neighbours=int(self.neighbours.value),
                                      whole_objects=bool(self.whole.value),
                                      split_by_image=bool(self.split.value))
        except (ValueError, TypeError) as exc:
            self.messages.error(exc)
            return
        if change["owner"] is self.mode and change["new"] == "instance" and (
                self.project.objects(self.annotator.index) is None):
            self.messages.info("instance mode: train (or press Find objects) to find the "
                               "objects; paint whole objects and background around them, with an "
                               "unpainted pixel between objects that touch")
        if change["owner"] is self.neighbours:
            self.refresh()

    @guarded
    def _on_settings(self) -> None:
        settings = self.project.settings
        self._syncing = True
        try:
            self.mode.value = settings["mode"]
            self.object_class.value = settings["object_class"]
            self.neighbours.value = settings["neighbours"]
            self.whole.value = settings["whole_objects"]
            self.split.value = settings["split_by_image"]
        finally:
            self._syncing = False
        self._instance_box.layout.display = None if settings["mode"] == "instance" else "none"
        self._show_pixel_size()
        self.refresh()

    @guarded
    def _on_classes(self) -> None:
        self._syncing = True
        try:
            self.object_class.options = [(name, k) for k, name in
                                         enumerate(self.project.classes, start=1)]
            self.object_class.value = min(self.project.settings["object_class"],
                                          len(self.project.classes))
        finally:
            self._syncing = False

    def _show_pixel_size(self) -> None:
        if not len(self.project):
            return
        info = self.project.images[self.annotator.index]
        if info.spacing:
            self.pixel_size.value = float(info.spacing[-1])
            self.unit.value = info.unit or "µm"
            self.pixel_size.tooltip = f"{info.name}: {info.spacing} {info.unit or 'µm'}"
        else:
            self.pixel_size.tooltip = (f"{info.name} has no pixel size: sizes are in pixels "
                                       "until you set one")

    @guarded
    def set_pixel_size(self, size: float, unit: str = "µm") -> None:
        """Use pixel size ``size`` (in ``unit``) for every image; measurements follow."""
        if not size > 0:
            self.messages.error(f"pixel size must be positive, got {size}")
            return
        for i in range(len(self.project)):
            self.project.set_pixel_size(i, size, unit)
        self.messages.ok(f"pixel size {size:g} {unit} for {len(self.project)} image(s)")

    # ------------------------------------------------------------------ objects
    @property
    def running(self) -> bool:
        """Whether finding objects or applying to all is in progress."""
        return self._thread is not None and self._thread.is_alive()

    @guarded
    def find(self) -> threading.Thread | None:
        """Predict the image shown with the latest model and find its objects (a thread)."""
        return self._start(self._find_job)

    @guarded
    def apply_all(self) -> threading.Thread | None:
        """Predict every image (and find and measure its objects), in a background thread;
        Stop keeps the images done."""
        return self._start(self._apply_job)

    def _start(self, job) -> threading.Thread | None:
        if self.running:
            self.messages.info("already running: press Stop first")
            return None
        self._stop.clear()
        self._thread = threading.Thread(target=self._guarded_job, args=(job,), daemon=True,
                                        name="microlab-objects")
        self.apply_button.disabled = self.find_button.disabled = True
        self.stop_button.disabled = False
        self._thread.start()
        return self._thread

    def _guarded_job(self, job) -> None:
        try:
            model = self._model()
            if model is None:
                self.messages.info("no model yet: paint and train first")
                return
            job(model)
        except Exception as exc:
            self.progress.bar_style = "danger"
            self.messages.error(exc)
        finally:
            self.apply_button.disabled = self.find_button.disabled = False
            self.stop_button.disabled = True

    def _find_job(self, model) -> None:
        from ..project import training

        if self.project.settings["mode"] != "instance":
            self.project.set_settings(mode="instance")
        name = self.project.classes[self.project.settings["object_class"] - 1]
        if not self.project.counts().get(name):
            self.messages.error(f"no {name!r} is painted yet: paint a few whole objects of "
                                f"{name!r} (and background around them), train, then find "
                                "objects")
            return
        start = time.perf_counter()
        training.predict(self.project, model, self.annotator.index)
        if self.annotator.overlay != "objects":
            self.annotator.set_overlay("objects")
        n = len(self.table) if self.table is not None else 0
        self.messages.ok(f"{n} objects in {time.perf_counter() - start:.1f} s")

    def _apply_job(self, model) -> None:
        start = time.perf_counter()

        def progress(done, total, name):
            self.progress.value = done / max(total, 1)
            self.progress.bar_style = "info"
            self.progress.description = f"{done}/{total}"

        rows = _objects.apply_to_all(self.project, model, progress=progress, stop=self._stop)
        self.summary.value = _summary_html(rows)
        stopped = len(rows) < len(self.project)
        elapsed = time.perf_counter() - start
        self.progress.bar_style = "warning" if stopped else "success"
        if stopped:
            self.messages.info(f"stopped: {len(rows)} of {len(self.project)} images done "
                               f"(their results are kept) in {elapsed:.1f} s")
        else:
            self.messages.ok(f"{len(rows)} image(s) done in {elapsed:.1f} s")

    @guarded
    def stop(self) -> None:
        """Stop after the image in progress; the images done keep their results."""
        self._stop.set()
        if self.running:
            self.messages.info("stopping after the current image…")

    def wait(self, timeout: float = 300.0) -> None:
        """Block until finding objects or applying to all has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ table
    @guarded
    def refresh(self) -> None:
        """Measure the objects of the image shown and show the table, colours, histogram."""
        start = time.perf_counter()
        self.table = None
        if len(self.project) and self.project.settings["mode"] == "instance":
            self.table = _objects.measure(self.project, self.annotator.index)
        columns = [] if self.table is None else [
            c for c in self.table.columns if c.startswith(SHOWN)]
        self._shown = ["label", *columns]
        numeric = [c for c in self.table.columns if c != "label"] if self.table is not None \
            else []
        self._syncing = True
        try:
            keep = self.sort_by.value
            self.sort_by.options = ["label", *numeric]
            self.sort_by.value = keep if keep in self.sort_by.options else "label"
            keep = self.colour_by.value
            self.colour_by.options = [OWN_COLOURS, *numeric]
            self.colour_by.value = keep if keep in self.colour_by.options else OWN_COLOURS
        finally:
            self._syncing = False
        self._show_rows()
        self.colour()
        self.timings["table"].append(time.perf_counter() - start)

    def _show_rows(self) -> None:
        if self._syncing:
            return
        table = self.table
        if table is None or not len(table):
            self.header.value = ("<span style='color:#777'>no objects yet</span>"
                                 if self.project.settings["mode"] == "instance" else "")
            self._rows = []
            self.rows.options = []
            return
        ordered = table.sort_values(self.sort_by.value or "label",
                                    ascending=not self.descending.value, kind="stable")
        self._rows = ordered["label"].astype(int).tolist()
        widths = [5 if c == "label" else 8 for c in self._shown]
        unit = next((c.rsplit("_", 1)[1].rstrip("²³") for c in self._shown if c.startswith("area_")
                     or c.startswith("volume_")), "px")
        self.header.value = (
            f"<b>{len(table)} objects</b> <span style='color:#777'>sizes in "
            f"{html.escape(unit)}; click a row, or point at an object with the pan tool</span>"
            "<div class='microlab-object-header'>"
            + html.escape(" ".join(self._heading(c)[:w].rjust(w)
                                   for c, w in zip(self._shown, widths, strict=True)))
            + "</div>")
        values = ordered[self._shown].to_numpy(np.float64)
        self.rows.options = [
            (" ".join(_cell(v, w) for v, w in zip(row, widths, strict=True)), label)
            for row, label in zip(values, self._rows, strict=True)]

    def _heading(self, column: str) -> str:
        """A column's heading; per-channel intensities by the channel's name if it has one."""
        info = self.project.images[self.annotator.index]
        if column.startswith("intensity_mean_ch") and info.channel_names:
            channel = int(column.removeprefix("intensity_mean_ch").split("_")[0])
            return short_channel_names(info.channel_names, info.channels)[channel]
        return _short(column)

    def _on_row(self, change) -> None:
        if self._syncing or change["new"] is None:
            return
        start = time.perf_counter()
        self.annotator.select_object(change["new"])
        self.timings["select"].append(time.perf_counter() - start)

    @guarded
    def _on_pick(self, label: int) -> None:
        if label in self._rows:
            self.rows.value = label

    @guarded
    def colour(self, column: str | None = None) -> None:
        """Colour the objects overlay by ``column`` (default: the chosen one) with a colour
        bar and a histogram; each object its own colour when no column is chosen."""
        if self._syncing:
            return
        start = time.perf_counter()
        column = self.colour_by.value if column is None else column
        table = self.table
        if table is None or not len(table) or column in (None, OWN_COLOURS):
            self.annotator.set_object_colors(None)
            self.colour_bar.value = self.histogram.value = b""
            self.colour_bar.layout.display = self.histogram.layout.display = "none"
            return
        import matplotlib as mpl

        values = table[column].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = np.clip((values - low) / ((high - low) or 1.0), 0, 1)
        lut = np.zeros((int(table["label"].max()) + 1, 4), np.uint8)
        rgba = (mpl.colormaps["viridis"](np.nan_to_num(scaled)) * 255).astype(np.uint8)
        rgba[~np.isfinite(values)] = (128, 128, 128, 255)
        lut[table["label"].to_numpy(int)] = rgba
        self.annotator.set_object_colors(lut)
        self.colour_bar.value, self.histogram.value = _plots(column, values, low, high)
        self.colour_bar.layout.display = self.histogram.layout.display = None
        self.timings["colour"].append(time.perf_counter() - start)

    # ------------------------------------------------------------------ export
    @guarded
    def export(self, folder: str | None = None) -> None:
        """Export label images, ``objects.csv``, ``summary.csv``, the model and a record."""
        folder = self.folder.value if folder is None else folder
        try:
            out = _objects.export(self.project, folder)
        except (PermissionError, ValueError, OSError) as exc:
            self.messages.error(exc)
            return
        files = sorted(p.name for p in out.iterdir())
        self.messages.ok(f"exported to {out}: {', '.join(files)}")

    # ------------------------------------------------------------------ events
    @guarded
    def _on_objects(self, index: int) -> None:
        if index == self.annotator.index:
            self.refresh()
            self._show_hints(index)

    def _show_hints(self, index: int) -> None:
        """What to paint next on image ``index``, and the doubtful places to step through."""
        self._places, self._place = _objects.doubtful_places(self.project, index), -1
        hints = [hint for hint in (_objects.background_hint(self.project, index),
                                   _objects.doubtful_hint(self.project, index, self._places))
                 if hint]
        self.hint.value = "".join(
            f"<div class='microlab-hint' style='color:#a15c00'>hint: "
            f"{html.escape(hint)}</div>" for hint in hints)
        self.place_button.layout.display = "" if self._places else "none"

    @guarded
    def next_place(self) -> None:
        """Zoom the image on the next place where the classifier half-sees an object it did
        not find (see :func:`microlab.project.objects.doubtful_places`), outlined."""
        if not self._places:
            return
        self._place = (self._place + 1) % len(self._places)
        middle, box = self._places[self._place]
        pad = [max(8, (b.stop - b.start) // 2) for b in box[-2:]]
        shape = self.project.images[self.annotator.index].layer_shape[-2:]
        window = tuple(slice(max(0, b.start - p), min(n, b.stop + p))
                       for b, p, n in zip(box[-2:], pad, shape, strict=True))
        self.annotator.show_region(self.annotator.index, middle[:-2], window)

    @guarded
    def _on_image(self, index: int) -> None:
        self.annotator.select_object(None)
        self._show_pixel_size()
        self.refresh()
        if len(self.project):
            self._show_hints(index)

    def close(self) -> None:
        """Stop work, stop observing the project and the annotator, close the widgets."""
        self.stop()
        for event, handler in self._handlers.items():
            self.project.off(event, handler)
        self.annotator.off("image", self._on_image)
        self.annotator.off("pick", self._on_pick)
        super().close()


def _short(column: str) -> str:
    """A table heading of at most 8 characters: the quantity without its unit.

    Examples
    --------
    >>> [_short(c) for c in ("area_µm²", "intensity_mean_ch1", "mean_distance_k8_px")]
    ['area', 'mean ch1', 'dist k8']
    """
    for prefix, name in (("intensity_mean_", "mean "), ("mean_distance_", "dist "),
                         ("equivalent_diameter", "diam"), ("eccentricity", "eccent.")):
        if column.startswith(prefix):
            rest = column[len(prefix):].split("_")[0] if prefix.endswith("_") else ""
            return (name + rest).strip()
    return column.split("_")[0]


def _cell(value: float, width: int) -> str:
    if not np.isfinite(value):
        return "–".rjust(width)
    text = f"{value:.0f}" if float(value).is_integer() and abs(value) < 1e7 else f"{value:.4g}"
    return text.rjust(width)


def _plots(column: str, values: np.ndarray, low: float, high: float) -> tuple[bytes, bytes]:
    """PNGs of the viridis colour bar from ``low`` to ``high`` and a histogram of ``values``."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    bar = Figure(figsize=(2.8, 0.75), dpi=96)
    ax = bar.add_axes([0.05, 0.42, 0.9, 0.25])
    import matplotlib as mpl

    bar.colorbar(mpl.cm.ScalarMappable(Normalize(low, high), "viridis"), cax=ax,
                 orientation="horizontal")
    ax.tick_params(labelsize=7)
    ax.set_title(column, fontsize=8)
    hist = Figure(figsize=(2.8, 1.6), dpi=96)
    ax = hist.add_axes([0.16, 0.25, 0.8, 0.68])
    finite = values[np.isfinite(values)]
    ax.hist(finite, bins=min(30, max(5, finite.size // 5)), color="#3b7dd8")
    ax.set_xlabel(column, fontsize=8)
    ax.set_ylabel("objects", fontsize=8)
    ax.tick_params(labelsize=7)
    out = []
    for figure in (bar, hist):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        out.append(buffer.getvalue())
    return out[0], out[1]


def _summary_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th style='padding:0 6px'>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(
            f"<td style='padding:0 6px;text-align:right'>"
            f"{html.escape(f'{r[k]:.4g}' if isinstance(r.get(k), float) else str(r.get(k, '')))}"
            "</td>" for k in keys) + "</tr>" for r in rows)
    return (f"<table class='microlab-summary' style='font-size:85%'><tr>{head}</tr>{body}"
            "</table>")


__all__ = ["ObjectsPanel"]
