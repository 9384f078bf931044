"""A project: one folder on disk holding images, annotations, classes, models and results.

Layout (human-readable; Fiji and napari open every TIFF)::

    project.json                  format version, microlab version, classes and colours,
                                  the image list (name, file, shape, dtype, axes, pixel size)
    images/NAME.tif               copies of the images (ImageJ hyperstacks), unless an
                                  image is kept as a reference to its original file
    annotations/NAME.tif          sparse labels: 0 = unlabelled, 1..C = classes (uint8/16)
    models/NAME.safetensors       trained segmenters (``microlab.load_segmenter`` reads them)
    predictions/NAME.tif          labels 1..C predicted by the last model
    predictions/NAME_uncertainty.tif   float32 uncertainty in [0, 1]

Every file is written atomically (to a temporary file, then renamed), and annotations are
saved by a background thread within a fraction of a second of each stroke, so a crash or a
kernel restart loses nothing: ``Project(path)`` reopens with every stroke.

The project is the model in a model/view split (as napari's layers): it owns the arrays, paints
into them through one function (brush and eraser alike, with undo/redo) and tells observers
what changed through :meth:`Project.on`. It imports no widget code.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .io import Image, read_image, write_labels
from .io.image import AXES_ORDER
from .labels import paint_disk
from .labels.colors import default_colors, hex_color

FORMAT_VERSION = 1
"""Version of the ``project.json`` layout this microlab writes and reads."""
PROJECT_FILE = "project.json"
EVENTS = ("annotation", "stroke", "classes", "images", "prediction", "model", "saved", "error")
_LAYER_DTYPE = np.uint8


class ProjectVersionError(ValueError):
    """A project folder written by a newer microlab than this one."""


@dataclass(frozen=True)
class ImageInfo:
    """What a project records about one of its images.

    Attributes
    ----------
    name : str
        Unique name within the project.
    shape, dtype, axes : tuple, str, str
        Of the image data (``axes`` in microlab's ``T, C, Z, Y, X`` order).
    spacing, unit : tuple of float or None, str or None
        Pixel size per spatial axis.
    file : str
        Where the pixels are: a path relative to the project folder (a copy) or an absolute
        path (a reference to the original file).
    annotations : str
        The annotation layer's file, relative to the project folder.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    axes: str
    spacing: tuple[float, ...] | None
    unit: str | None
    file: str
    annotations: str

    @property
    def layer_axes(self) -> str:
        """Axes of the annotation layer: the image's axes without ``C``."""
        return self.axes.replace("C", "")

    @property
    def layer_shape(self) -> tuple[int, ...]:
        """Shape of the annotation layer (the image shape without channels)."""
        return tuple(n for n, a in zip(self.shape, self.axes, strict=True) if a != "C")

    @property
    def channels(self) -> int:
        """Number of channels (1 without a ``C`` axis)."""
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def is_reference(self) -> bool:
        """Whether the pixels stay in their original file outside the project."""
        return Path(self.file).is_absolute()

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "axes": self.axes,
            "spacing": None if self.spacing is None else list(self.spacing),
            "unit": self.unit,
            "file": self.file,
            "annotations": self.annotations,
        }

    @classmethod
    def from_json(cls, d: dict) -> ImageInfo:
        return cls(
            name=str(d["name"]),
            shape=tuple(int(n) for n in d["shape"]),
            dtype=str(d["dtype"]),
            axes=str(d["axes"]),
            spacing=None if d.get("spacing") is None else tuple(float(s) for s in d["spacing"]),
            unit=d.get("unit"),
            file=str(d["file"]),
            annotations=str(d["annotations"]),
        )


@dataclass
class _Change:
    """One painted segment: flat indices into a layer, their previous values, the new value."""

    index: int
    flat: np.ndarray
    before: np.ndarray
    value: int


class Project:
    """A folder holding images, their annotations, class names and colours, models, results.

    Opening a folder that holds a ``project.json`` reopens that project (every saved stroke
    included); opening any other folder (created if missing) starts a new project there.

    Parameters
    ----------
    path : str or path-like
        The project folder.
    classes : list of str, optional
        Class names for a new project (annotation value k is ``classes[k - 1]``); default
        ``["class 1", "class 2"]``. Ignored when reopening: the saved names win.
    colors : list, optional
        One colour per class (``"#rrggbb"`` or RGB tuples); default: microlab's palette.
    autosave : bool
        Save changed annotation layers in a background thread, ``autosave_delay`` seconds
        after the last change (True), or only on :meth:`save` (False).
    autosave_delay : float
        Seconds to wait for more strokes before writing (the debounce).

    Raises
    ------
    ProjectVersionError
        If the folder was written by a newer microlab.
    PermissionError
        If a new project cannot be created in ``path`` (a read-only location). An existing
        project in a read-only folder opens with :attr:`read_only` set: it can be viewed and
        painted, and saved elsewhere with :meth:`save_as`.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> folder = tempfile.mkdtemp()
    >>> project = microlab.Project(folder, classes=["pore", "grain"])
    >>> project.add_image(np.zeros((64, 64), np.uint8), name="blank")
    0
    >>> box = project.paint(0, (10, 10), (10, 30), radius=2, value=1)
    >>> project.end_stroke()
    >>> project.save()
    >>> reopened = microlab.Project(folder)
    >>> reopened.classes, int((reopened.annotation(0) == 1).sum())
    (['pore', 'grain'], 113)
    >>> reopened.undo(), int(reopened.annotation(0).sum())   # undo history is per session
    (False, 113)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        classes: Sequence[str] | None = None,
        colors: Sequence | None = None,
        autosave: bool = True,
        autosave_delay: float = 0.25,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a folder path (str or Path), got {type(path).__name__}")
        self.path = Path(path).expanduser().resolve()
        self.autosave = bool(autosave)
        if not autosave_delay >= 0:
            raise ValueError(f"autosave_delay must be >= 0 seconds, got {autosave_delay!r}")
        self.autosave_delay = float(autosave_delay)
        self._lock = threading.RLock()
        self._callbacks: dict[str, list[Callable]] = {e: [] for e in EVENTS}
        self._images: list[ImageInfo] = []
        self._pixels: dict[int, Image] = {}
        self._layers: dict[int, np.ndarray] = {}
        self._version: dict[int, int] = {}
        self._saved: dict[int, int] = {}
        self._predictions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._models: list[dict] = []
        self._undo: list[list[_Change]] = []
        self._redo: list[list[_Change]] = []
        self._stroke: list[_Change] | None = None
        self._saver: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._last_change = 0.0
        self._stroke_ended = 0.0
        self.read_only = False
        self.last_error: str | None = None
        if self.path.is_file():
            raise ValueError(f"{self.path} is a file; a project is a folder (pass a folder path)")
        if (self.path / PROJECT_FILE).exists():
            self._load()
            self.read_only = not _writable(self.path)
        else:
            self._create(classes, colors)

    # ------------------------------------------------------------------ opening, saving
    def _create(self, classes, colors) -> None:
        names = ["class 1", "class 2"] if classes is None else [str(c) for c in classes]
        if not names:
            raise ValueError("classes is empty; name at least one class (e.g. ['cells'])")
        if len(set(names)) != len(names):
            raise ValueError(f"class names must be unique, got {names}")
        if colors is not None and len(colors) != len(names):
            raise ValueError(f"got {len(colors)} colors for {len(names)} classes")
        self._classes = names
        self._colors = (
            [hex_color(c) for c in colors] if colors is not None else default_colors(len(names))
        )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not _writable(self.path):
                raise PermissionError(13, "Permission denied", str(self.path))
            self._write_json()
        except PermissionError as exc:
            raise PermissionError(
                f"cannot create a project in {self.path}: the folder is read-only "
                f"({exc.strerror or exc}); choose a folder you can write to"
            ) from exc

    def _load(self) -> None:
        file = self.path / PROJECT_FILE
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot read {file}: {exc}. The file is damaged; restore it from a backup "
                "or open the annotations/*.tif files directly"
            ) from exc
        if not isinstance(meta, dict) or meta.get("format") != "microlab-project":
            raise ValueError(f"{file} is not a microlab project file")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ProjectVersionError(
                f"{self.path} was written by microlab {meta.get('microlab_version', '?')} "
                f"(project format {version}); this microlab ({_version()}) reads format "
                f"{FORMAT_VERSION} or older. Upgrade microlab (pip install -U microlab) to "
                "open it; the folder was left untouched"
            )
        try:
            self._classes = [str(c["name"]) for c in meta["classes"]]
            self._colors = [hex_color(c["color"]) for c in meta["classes"]]
            self._images = [ImageInfo.from_json(d) for d in meta["images"]]
            self._models = list(meta.get("models", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{file} is damaged ({type(exc).__name__}: {exc})") from exc
        for i in range(len(self._images)):
            self._version[i] = self._saved[i] = 0

    def _write_json(self) -> None:
        meta = {
            "format": "microlab-project",
            "format_version": FORMAT_VERSION,
            "microlab_version": _version(),
            "classes": [
                {"value": k, "name": n, "color": c}
                for k, (n, c) in enumerate(zip(self._classes, self._colors, strict=True), 1)
            ],
            "images": [info.to_json() for info in self._images],
            "models": self._models,
        }
        text = json.dumps(meta, indent=2, ensure_ascii=False)
        with atomic_path(self.path / PROJECT_FILE) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")

    def _guarded_write(self, what: str, write: Callable[[], None]) -> None:
        """Run a write; turn a read-only folder into a clear PermissionError."""
        try:
            write()
        except PermissionError as exc:
            self.read_only = True
            raise PermissionError(
                f"cannot save {what} in {self.path}: the folder is read-only. Nothing is lost: "
                "the data stay in memory; save the project to a folder you can write with "
                "project.save_as('new/folder')"
            ) from exc

    def save(self) -> None:
        """Write every unsaved annotation layer (and ``project.json``) now.

        Raises
        ------
        PermissionError
            If the folder is read-only (the annotations stay in memory).
        """
        self._guarded_write("the project file", self._write_json)
        for i in range(len(self._images)):
            self._save_layer(i)

    def _save_layer(self, index: int) -> None:
        with self._lock:
            version = self._version.get(index, 0)
            if index not in self._layers or version == self._saved.get(index, 0):
                return
            layer = self._layers[index].copy()
            info = self._images[index]
        target = self.path / info.annotations
        self._guarded_write(
            f"the annotations of {info.name!r}",
            lambda: _write_layer(target, layer, info),
        )
        with self._lock:
            self._saved[index] = version
        self._emit("saved", index)

    def save_as(self, path: str | os.PathLike) -> None:
        """Write the whole project into another folder and continue there.

        Use it when the current folder is read-only: images kept as copies are copied,
        references stay references, annotations, models and predictions are written.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp())
        >>> _ = project.add_image(np.zeros((8, 8), np.uint8), name="a")
        >>> new = pathlib.Path(tempfile.mkdtemp()) / "copy"
        >>> project.save_as(new)
        >>> sorted(p.name for p in new.iterdir())
        ['annotations', 'images', 'project.json']
        """
        target = Path(path).expanduser().resolve()
        if (target / PROJECT_FILE).exists():
            raise ValueError(f"{target} already holds a project; choose an empty folder")
        with self._lock:
            pixels = [self.image(i) for i in range(len(self._images))]
            layers = [self.annotation(i).copy() for i in range(len(self._images))]
            models = [(m, (self.path / m["file"]).read_bytes()) for m in self._models
                      if (self.path / m["file"]).exists()]
        try:
            target.mkdir(parents=True, exist_ok=True)
        except PermissionError as exc:
            raise PermissionError(f"cannot create {target}: {exc.strerror}") from exc
        old = self.path
        self.path = target
        self.read_only = False
        for sub in ("images", "annotations"):
            (target / sub).mkdir(exist_ok=True)
        for info, image in zip(self._images, pixels, strict=True):
            if not info.is_reference:
                _write_image(target / info.file, image)
        for i, layer in enumerate(layers):
            _write_layer(target / self._images[i].annotations, layer, self._images[i])
            self._saved[i] = self._version.get(i, 0)
        for meta, blob in models:
            (target / "models").mkdir(exist_ok=True)
            with atomic_path(target / meta["file"]) as tmp:
                tmp.write_bytes(blob)
        for i in list(self._predictions):
            self._save_prediction(i)
        self._write_json()
        self.last_error = None
        self._emit("saved", None)
        del old

    def close(self) -> None:
        """Save pending annotations and stop the autosave thread."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        saver = self._saver
        if saver is not None and saver is not threading.current_thread():
            saver.join(timeout=10)
        if not self.read_only:
            with contextlib.suppress(PermissionError):
                self.save()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Project({str(self.path)!r}, {len(self._images)} image(s), "
            f"classes={self._classes}{', read-only' if self.read_only else ''})"
        )

    # ------------------------------------------------------------------ events
    def on(self, event: str, callback: Callable) -> None:
        """Call ``callback`` when something changes.

        Events and their arguments: ``"annotation"`` (index, plane, box) after paint, undo
        and redo; ``"stroke"`` (index) when a stroke ends; ``"classes"`` (); ``"images"``
        (index); ``"prediction"`` (index, region); ``"model"`` (name); ``"saved"`` (index or
        None); ``"error"`` (message) when a background save fails.
        """
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {EVENTS}")
        self._callbacks[event].append(callback)

    def off(self, event: str, callback: Callable) -> None:
        """Stop calling ``callback`` for ``event``."""
        with contextlib.suppress(KeyError, ValueError):
            self._callbacks[event].remove(callback)

    def _emit(self, event: str, *args) -> None:
        for callback in list(self._callbacks[event]):
            callback(*args)

    # ------------------------------------------------------------------ classes
    @property
    def classes(self) -> list[str]:
        """Class names; annotation value k is ``classes[k - 1]``."""
        return list(self._classes)

    @property
    def colors(self) -> list[str]:
        """One ``"#rrggbb"`` colour per class."""
        return list(self._colors)

    def add_class(self, name: str | None = None, color=None) -> int:
        """Add a class; returns its annotation value (1..C).

        Examples
        --------
        >>> import tempfile, microlab
        >>> project = microlab.Project(tempfile.mkdtemp(), classes=["a", "b"])
        >>> project.add_class("c", "#00ff00"), project.colors[-1]
        (3, '#00ff00')
        """
        with self._lock:
            name = f"class {len(self._classes) + 1}" if name is None else str(name).strip()
            if not name:
                raise ValueError("a class name cannot be empty")
            if name in self._classes:
                raise ValueError(f"there is already a class named {name!r}; pick another name")
            if len(self._classes) >= 65535:
                raise ValueError("a project holds at most 65535 classes")
            color = default_colors(len(self._classes) + 1)[-1] if color is None else color
            self._colors.append(hex_color(color))
            self._classes.append(name)
            if len(self._classes) > 255:
                for i, layer in self._layers.items():
                    self._layers[i] = layer.astype(np.uint16)
            self._save_meta()
        self._emit("classes")
        return len(self._classes)

    def rename_class(self, value: int, name: str) -> None:
        """Rename class ``value`` (1..C)."""
        k = self._check_class(value)
        name = str(name).strip()
        if not name:
            raise ValueError("a class name cannot be empty")
        if name in self._classes and self._classes[k - 1] != name:
            raise ValueError(f"there is already a class named {name!r}; pick another name")
        with self._lock:
            self._classes[k - 1] = name
            self._save_meta()
        self._emit("classes")

    def set_color(self, value: int, color) -> None:
        """Set the colour of class ``value`` (1..C): ``"#rrggbb"`` or an RGB tuple."""
        k = self._check_class(value)
        with self._lock:
            self._colors[k - 1] = hex_color(color)
            self._save_meta()
        self._emit("classes")

    def _check_class(self, value) -> int:
        if not isinstance(value, numbers.Integral) or not 1 <= value <= len(self._classes):
            raise ValueError(
                f"class must be a value from 1 to {len(self._classes)} "
                f"({', '.join(self._classes)}), got {value!r}"
            )
        return int(value)

    def _save_meta(self) -> None:
        try:
            self._guarded_write("the project file", self._write_json)
        except PermissionError as exc:
            self._report(str(exc))

    def _report(self, message: str) -> None:
        self.last_error = message
        self._emit("error", message)

    # ------------------------------------------------------------------ images
    @property
    def images(self) -> list[ImageInfo]:
        """What the project records about each image, in order."""
        return list(self._images)

    def __len__(self) -> int:
        return len(self._images)

    def index(self, name: str) -> int:
        """The index of the image called ``name``."""
        for i, info in enumerate(self._images):
            if info.name == name:
                return i
        raise KeyError(f"no image named {name!r} in the project; names: "
                       f"{[info.name for info in self._images]}")

    def add_image(
        self,
        image,
        name: str | None = None,
        *,
        axes: str | None = None,
        spacing=None,
        copy: bool = True,
    ) -> int:
        """Add an image (a ``microlab.Image``, an array or a file path); returns its index.

        Adding an image whose name is already in the project returns that image's index
        instead of adding it twice, so a notebook can be re-run.

        Parameters
        ----------
        image : microlab.Image, array-like or path
            The pixels. Arrays are ``(Y, X)``, ``(Y, X, 3|4)`` (RGB, channels last) or
            ``(Z, Y, X)``; anything else needs ``axes``.
        name : str, optional
            Unique name; default: the image's own name or file name, else ``image N``.
        axes : str, optional
            For arrays: the letters of ``T, C, Z, Y, X`` in the array's order (``"YXC"``,
            ``"TZYX"``, …).
        spacing : float or tuple, optional
            Pixel size for arrays (one per spatial axis).
        copy : bool
            For paths: copy the image into the project (True) or keep a reference to the
            file (False; the file must then stay where it is).

        Raises
        ------
        ValueError
            If the image is empty, has ambiguous or unknown axes, or does not match the
            project's images in number of channels or dimensions (2D vs 3D).

        Examples
        --------
        >>> import tempfile, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp())
        >>> project.add_image(np.zeros((32, 48, 3), np.uint8), name="rgb")
        0
        >>> info = project.images[0]
        >>> info.axes, info.shape, info.layer_shape
        ('CYX', (3, 32, 48), (32, 48))
        """
        reference = None
        if isinstance(image, (str, os.PathLike)):
            source = Path(image).expanduser().resolve()
            image = read_image(source)
            if not copy:
                reference = str(source)
            name = name or source.stem
        image = _as_image(image, axes, spacing)
        name = str(name or image.name or f"image {len(self._images) + 1}").strip()
        with self._lock:
            for i, info in enumerate(self._images):
                if info.name == name:
                    if info.shape != image.shape or info.axes != image.axes:
                        raise ValueError(
                            f"the project already holds an image named {name!r} with shape "
                            f"{info.shape} (axes {info.axes!r}); this one has "
                            f"{image.shape} ({image.axes!r}). Pass another name="
                        )
                    return i
            self._check_compatible(image, name)
            stem = _file_stem(name, {Path(i.annotations).stem for i in self._images})
            info = ImageInfo(
                name=name,
                shape=tuple(image.shape),
                dtype=str(image.dtype),
                axes=image.axes,
                spacing=image.spacing,
                unit=image.unit,
                file=reference or f"images/{stem}.tif",
                annotations=f"annotations/{stem}.tif",
            )
            index = len(self._images)

            def write() -> None:
                if reference is None:
                    (self.path / "images").mkdir(exist_ok=True)
                    _write_image(self.path / info.file, image)

            self._guarded_write(f"image {name!r}", write)
            self._images.append(info)
            self._pixels[index] = image
            self._version[index] = self._saved[index] = 0
            self._save_meta()
        self._emit("images", index)
        return index

    def _check_compatible(self, image: Image, name: str) -> None:
        if not self._images:
            return
        first = self._images[0]
        have = (first.channels, "Z" in first.axes)
        got = (image.channels, "Z" in image.axes)
        if have != got:
            def describe(channels, is3d):
                return f"{'3D' if is3d else '2D'} {channels}-channel"

            raise ValueError(
                f"image {name!r} is {describe(*got)} (axes {image.axes!r}) but the project "
                f"holds {describe(*have)} images (axes {first.axes!r}); a model is trained on "
                "one kind of image: put this one in another project, or pick one channel "
                "(image.channel(i))"
            )

    def image(self, index: int) -> Image:
        """The pixels of image ``index`` (read from the project folder on first use)."""
        info = self._info(index)
        with self._lock:
            if index not in self._pixels:
                file = Path(info.file) if info.is_reference else self.path / info.file
                if not file.exists():
                    raise FileNotFoundError(
                        f"the pixels of image {info.name!r} are missing: {file} does not exist"
                        + (" (the project keeps a reference to it; put the file back)"
                           if info.is_reference else "")
                    )
                loaded = read_image(file)
                if tuple(loaded.shape) != info.shape:
                    raise ValueError(
                        f"{file} has shape {loaded.shape} but the project recorded "
                        f"{info.shape} for image {info.name!r}"
                    )
                self._pixels[index] = Image(
                    loaded.data, info.axes, info.spacing, info.unit, info.name
                )
            return self._pixels[index]

    def _info(self, index) -> ImageInfo:
        if not isinstance(index, numbers.Integral) or not 0 <= index < len(self._images):
            raise IndexError(
                f"image index {index!r} is out of range: the project has "
                f"{len(self._images)} image(s)"
            )
        return self._images[index]

    # ------------------------------------------------------------------ annotations
    def annotation(self, index: int) -> np.ndarray:
        """The annotation layer of image ``index`` (0 = unlabelled, 1..C = classes).

        The array is the project's own: change it through :meth:`paint` (or call
        :meth:`set_annotation`) so the change is saved and can be undone.
        """
        info = self._info(index)
        with self._lock:
            if index not in self._layers:
                file = self.path / info.annotations
                dtype = np.uint8 if len(self._classes) < 256 else np.uint16
                if file.exists():
                    layer = read_image(file).data
                    if tuple(layer.shape) != info.layer_shape:
                        raise ValueError(
                            f"{file} has shape {layer.shape} but image {info.name!r} needs "
                            f"annotations of shape {info.layer_shape}; move the file away to "
                            "start this image's annotations afresh"
                        )
                    layer = layer.astype(dtype if layer.max(initial=0) <= 255 else np.uint16)
                else:
                    layer = np.zeros(info.layer_shape, dtype)
                self._layers[index] = np.ascontiguousarray(layer)
            return self._layers[index]

    def set_annotation(self, index: int, layer) -> None:
        """Replace the whole annotation layer of image ``index`` (undoable)."""
        self.end_stroke()
        current = self.annotation(index)
        array = np.asarray(layer)
        if array.shape != current.shape:
            raise ValueError(
                f"layer has shape {array.shape}; image {index} needs {current.shape}"
            )
        if array.dtype.kind not in "biu" or (array.size and array.min() < 0):
            raise TypeError("layer must hold non-negative integers (0 = unlabelled)")
        if array.size and int(array.max()) > len(self._classes):
            raise ValueError(
                f"layer uses class {int(array.max())} but the project has "
                f"{len(self._classes)} classes; add classes first"
            )
        with self._lock:
            changed = np.flatnonzero(current.ravel() != array.ravel())
            before = current.ravel()[changed].copy()
            current.ravel()[changed] = array.ravel()[changed]
            values = np.unique(array.ravel()[changed])
            for v in values:
                keep = array.ravel()[changed] == v
                self._record(_Change(index, changed[keep], before[keep], int(v)))
            self._touch(index)
        self.end_stroke()
        self._emit("annotation", index, (), None)

    def paint(
        self,
        index: int,
        start,
        end=None,
        *,
        radius: float,
        value: int,
        plane: tuple[int, ...] = (),
    ) -> tuple[slice, ...] | None:
        """Paint a line of disks from ``start`` to ``end`` into image ``index``'s annotations.

        The brush and the eraser (``value=0``) share this function; it paints with
        :func:`microlab.labels.paint_disk` and records what it changed for :meth:`undo`.
        Successive calls until :meth:`end_stroke` make one stroke (one undo step), which the
        autosave writes once it ends (an unfinished stroke after 10 s). Pixels off the image
        edge are skipped.

        Parameters
        ----------
        index : int
            The image.
        start, end : (y, x)
            Line end points in pixel coordinates of the plane (``end`` = ``start`` for a
            dab).
        radius : float
            Brush radius in pixels (0 = one pixel).
        value : int
            Class to paint (1..C), or 0 to erase.
        plane : tuple of int
            For stacks: the indices along the leading layer axes (T and/or Z) of the plane
            painted, e.g. ``(z,)``.

        Returns
        -------
        tuple of slice or None
            The (y, x) box of the plane that may have changed, None if the line is off the
            image.
        """
        layer = self.annotation(index)
        value = int(value)
        if value != 0:
            self._check_class(value)
        if not radius >= 0:
            raise ValueError(f"radius must be >= 0 pixels, got {radius!r}")
        plane = tuple(int(p) for p in plane)
        if len(plane) != layer.ndim - 2:
            raise ValueError(
                f"plane needs {layer.ndim - 2} index(es) for the leading axes of the "
                f"{self._images[index].layer_axes!r} layer, got {plane}"
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
            self._record(_Change(index, np.ravel_multi_index(full, layer.shape),
                                 before[changed], value))
            self._touch(index)
        self._emit("annotation", index, plane, box)
        return box

    def end_stroke(self) -> None:
        """Close the current stroke: it becomes one undo step, and is saved shortly."""
        with self._lock:
            stroke, self._stroke = self._stroke, None
            if stroke:
                self._undo.append(stroke)
                self._redo.clear()
                del self._undo[:-200]
                self._stroke_ended = time.monotonic()
                self._wake.notify_all()
        if stroke:
            self._emit("stroke", stroke[0].index)

    def _record(self, change: _Change) -> None:
        if self._stroke is None:
            self._stroke = []
        self._stroke.append(change)

    def _touch(self, index: int) -> None:
        """Mark a layer changed and wake the autosave thread."""
        self._version[index] = self._version.get(index, 0) + 1
        self._last_change = time.monotonic()
        if self.autosave and not self.read_only:
            if self._saver is None or not self._saver.is_alive():
                self._saver = threading.Thread(
                    target=self._autosave_loop, name="microlab-autosave", daemon=True
                )
                self._saver.start()
            self._wake.notify_all()

    def _autosave_loop(self) -> None:
        """Save changed layers once strokes pause for ``autosave_delay`` seconds.

        A stroke still being painted is saved when it ends (painting stays smooth: no
        16-megapixel write competes with the brush), a finished one at most 0.75 s after it
        ended, and nothing waits longer than 10 s.
        """
        while True:
            with self._lock:
                while not self._closed and not self._dirty():
                    self._wake.wait()
                if self._closed:
                    return
                first = time.monotonic()
                while not self._closed:
                    now = time.monotonic()
                    if self._stroke and now - first < 10:
                        self._wake.wait(min(0.25, first + 10 - now))
                        continue
                    quiet = self._last_change + self.autosave_delay
                    wait = min(quiet, max(first, self._stroke_ended) + 0.75) - now
                    if wait <= 0:
                        break
                    self._wake.wait(wait)
            for i in range(len(self._images)):
                try:
                    self._save_layer(i)
                except Exception as exc:  # reported to the widget, never lost silently
                    self._report(str(exc))
                    if self.read_only:
                        return

    def _dirty(self) -> bool:
        return any(v != self._saved.get(i, 0) for i, v in self._version.items())

    @property
    def unsaved(self) -> list[int]:
        """Indices of images whose annotations have changes not yet on disk."""
        with self._lock:
            return [i for i, v in self._version.items() if v != self._saved.get(i, 0)]

    def undo(self) -> bool:
        """Undo the last stroke; returns False if there is nothing to undo."""
        return self._step(self._undo, self._redo, undo=True)

    def redo(self) -> bool:
        """Redo the last undone stroke; returns False if there is nothing to redo."""
        return self._step(self._redo, self._undo, undo=False)

    def _step(self, source: list, target: list, *, undo: bool) -> bool:
        self.end_stroke()
        with self._lock:
            if not source:
                return False
            stroke = source.pop()
            for change in reversed(stroke) if undo else stroke:
                flat = self.annotation(change.index).reshape(-1)
                flat[change.flat] = change.before if undo else change.value
                self._touch(change.index)
            target.append(stroke)
        for index in sorted({c.index for c in stroke}):
            self._emit("annotation", index, (), None)
        return True

    @property
    def can_undo(self) -> bool:
        """Whether there is a stroke to undo."""
        return bool(self._undo) or bool(self._stroke)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone stroke to redo."""
        return bool(self._redo)

    def counts(self) -> dict[str, int]:
        """Labelled pixels per class over all images.

        Examples
        --------
        >>> import tempfile, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp(), classes=["a", "b"])
        >>> _ = project.add_image(np.zeros((8, 8)))
        >>> box = project.paint(0, (4, 4), radius=0, value=2)
        >>> project.counts()
        {'a': 0, 'b': 1}
        """
        totals = np.zeros(len(self._classes) + 1, np.int64)
        for i in range(len(self._images)):
            layer = self.annotation(i)
            totals += np.bincount(layer.ravel(), minlength=totals.size)[: totals.size]
        return {name: int(n) for name, n in zip(self._classes, totals[1:], strict=True)}

    # ------------------------------------------------------------------ training
    def training_data(self, halo: int | None = None, *, tile: int = 32):
        """Images and annotations to train on: every annotated image (time point).

        With ``halo`` (the context a segmenter's features need, in pixels), large images are
        cut to the groups of ``tile``-sized cells that hold strokes, each with ``halo``
        pixels of context around it, so training reads a few crops instead of the whole
        image; the features at the strokes are the same.

        Returns
        -------
        images : list of microlab.Image
        annotations : list of ndarray
        """
        images, layers = [], []
        dtypes = {info.dtype for info in self._images}
        for i in range(len(self._images)):
            with self._lock:
                layer = self.annotation(i)
                if not layer.any():
                    continue
                layer = layer.copy()
            image = self.image(i)
            if len(dtypes) > 1:
                image = Image(image.data.astype(np.float32), image.axes, image.spacing,
                              image.unit, image.name)
            for img, lab in _time_points(image, layer):
                for crop, ann in _crops(img, lab, halo, tile):
                    images.append(crop)
                    layers.append(ann)
        return images, layers

    def train(self, segmenter=None, *, progress: bool = False, save: bool = True):
        """Train a segmenter on all annotations (a Random Forest by default).

        Parameters
        ----------
        segmenter : Segmenter, optional
            An untrained segmenter; default ``RandomForestSegmenter`` with the project's
            classes and colours.
        progress : bool
            Show progress bars.
        save : bool
            Save the trained model to ``models/`` (and record it in ``project.json``).

        Returns
        -------
        Segmenter
            The trained segmenter.

        Raises
        ------
        ValueError
            With no strokes, or strokes of a single class.
        """
        counts = self.counts()
        painted = [name for name, n in counts.items() if n > 0]
        if not painted:
            raise ValueError(
                "there are no strokes yet: paint strokes of at least two classes, then train"
            )
        if len(painted) == 1:
            raise ValueError(
                f"only class {painted[0]!r} has strokes; paint at least one more class "
                "(e.g. the background) so the classifier can tell them apart"
            )
        if segmenter is None:
            from .classic import RandomForestSegmenter

            segmenter = RandomForestSegmenter(self.classes, colors=self.colors)
        images, layers = self.training_data(halo=_halo(segmenter, self))
        segmenter.fit(images, layers, progress=progress)
        if save:
            self.save_model(segmenter)
        return segmenter

    # ------------------------------------------------------------------ models
    @property
    def models(self) -> list[dict]:
        """The saved models, oldest first: ``{"name", "file", "kind", "saved"}``."""
        return [dict(m) for m in self._models]

    def save_model(self, segmenter, name: str | None = None) -> Path:
        """Save a trained segmenter into ``models/NAME.safetensors``; returns the file."""
        name = name or _kind(segmenter)
        file = f"models/{_file_stem(name, set())}.safetensors"

        def write() -> None:
            (self.path / "models").mkdir(exist_ok=True)
            segmenter.save(self.path / file)

        self._guarded_write(f"model {name!r}", write)
        with self._lock:
            self._models = [m for m in self._models if m["name"] != name]
            self._models.append({"name": name, "file": file, "kind": _kind(segmenter),
                                 "saved": time.strftime("%Y-%m-%dT%H:%M:%S")})
            self._save_meta()
        self._emit("model", name)
        return self.path / file

    def load_model(self, name: str | None = None):
        """Load a saved model (the latest by default), or None if there is none."""
        from .tiers import load_segmenter

        if not self._models:
            return None
        meta = self._models[-1] if name is None else next(
            (m for m in self._models if m["name"] == name), None)
        if meta is None:
            raise KeyError(f"no model named {name!r}; saved: {[m['name'] for m in self._models]}")
        return load_segmenter(self.path / meta["file"])

    # ------------------------------------------------------------------ predictions
    def predict(self, segmenter, index: int, region: tuple[slice, ...] | None = None,
                *, save: bool = True) -> None:
        """Predict image ``index`` (or a ``region`` of its layer) and keep the result.

        ``region`` holds one slice per layer axis; features get their context from around
        the region, so the result equals that of predicting the whole image.
        """
        info = self._info(index)
        image = self.image(index)
        if len({i.dtype for i in self._images}) > 1:
            image = Image(image.data.astype(np.float32), image.axes, image.spacing,
                          image.unit, image.name)
        shape = info.layer_shape
        region = tuple(slice(0, n) for n in shape) if region is None else tuple(
            slice(*s.indices(n)[:2]) for s, n in zip(region, shape, strict=True))
        halo = _halo(segmenter, self) or 0
        has_t = "T" in info.axes
        parts = []
        for t in range(region[0].start, region[0].stop) if has_t else [None]:
            img = _at_time(image, t)
            spatial = region[1:] if has_t else region
            window = tuple(slice(max(0, s.start - halo), min(n, s.stop + halo))
                           for s, n in zip(spatial, img.spatial_shape, strict=True))
            crop = _crop_image(img, window)
            proba = segmenter.predict_proba(crop)
            inner = tuple(slice(s.start - w.start, s.stop - w.start)
                          for s, w in zip(spatial, window, strict=True))
            parts.append(proba[(slice(None), *inner)])
        proba = np.stack(parts, axis=1) if has_t else parts[0]
        self.set_prediction(index, proba, region, save=save)

    def set_prediction(self, index: int, proba, region: tuple[slice, ...] | None = None,
                       *, save: bool = True) -> None:
        """Keep ``(C, *layer region)`` probabilities as image ``index``'s prediction.

        The labels (most probable class) and the uncertainty map are kept in memory and,
        with ``save``, written to ``predictions/``.
        """
        from .inference import uncertainty
        from .segmenter import labels_from_proba

        info = self._info(index)
        proba = np.asarray(proba, np.float32)
        region = tuple(slice(0, n) for n in info.layer_shape) if region is None else region
        with self._lock:
            if index not in self._predictions:
                self._predictions[index] = (
                    np.zeros(info.layer_shape, np.uint8 if len(self._classes) < 256 else
                             np.uint16),
                    np.full(info.layer_shape, np.nan, np.float32),
                )
            labels, unsure = self._predictions[index]
            labels[region] = labels_from_proba(proba)
            unsure[region] = uncertainty(proba)
        if save:
            try:
                self._save_prediction(index)
            except PermissionError as exc:
                self._report(str(exc))
        self._emit("prediction", index, region)

    def _save_prediction(self, index: int) -> None:
        import tifffile

        info = self._images[index]
        with self._lock:
            labels, unsure = (a.copy() for a in self._predictions[index])
        stem = Path(info.annotations).stem
        folder = self.path / "predictions"

        def write() -> None:
            folder.mkdir(exist_ok=True)
            _write_layer(folder / f"{stem}.tif", labels, info)
            with atomic_path(folder / f"{stem}_uncertainty.tif") as tmp:
                tifffile.imwrite(tmp, np.nan_to_num(unsure, nan=0.0), imagej=True,
                                 metadata={"axes": info.layer_axes}, compression="zlib")

        self._guarded_write(f"the prediction of {info.name!r}", write)

    def prediction(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(labels, uncertainty)`` of image ``index`` (loaded from ``predictions/``), or None.

        ``labels`` are 1..C (0 where nothing was predicted yet); ``uncertainty`` is in
        [0, 1], NaN where nothing was predicted.
        """
        info = self._info(index)
        with self._lock:
            if index not in self._predictions:
                stem = Path(info.annotations).stem
                file = self.path / "predictions" / f"{stem}.tif"
                unsure_file = file.with_name(f"{stem}_uncertainty.tif")
                if not file.exists():
                    return None
                try:
                    labels = read_image(file).data
                    unsure = read_image(unsure_file).data.astype(np.float32)
                except (ValueError, FileNotFoundError):
                    return None
                if labels.shape != info.layer_shape or unsure.shape != info.layer_shape:
                    return None
                unsure[labels == 0] = np.nan
                self._predictions[index] = (labels, unsure)
            return self._predictions[index]


# ---------------------------------------------------------------------- helpers
def _version() -> str:
    from . import __version__

    return __version__


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (tried, not guessed from permissions)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".microlab-write-test.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def _file_stem(name: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "image"
    candidate, n = stem, 2
    while candidate in taken:
        candidate, n = f"{stem}_{n}", n + 1
    return candidate


def _kind(segmenter) -> str:
    from .classic import RandomForestSegmenter

    if isinstance(segmenter, RandomForestSegmenter):
        return "random-forest"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(segmenter).__name__).lower()


def _halo(segmenter, project: Project) -> int | None:
    """Context in pixels the segmenter's features need, None if unknown."""
    names = getattr(segmenter, "feature_names", "unknown")
    if names == "unknown" or not project.images:
        return None
    from .features import FeatureBank

    ndim = 3 if "Z" in project.images[0].axes else 2
    return FeatureBank(names, ndim=ndim).halo


def _as_image(image, axes: str | None, spacing) -> Image:
    """Validate and turn an Image or array into an Image in microlab's axes order."""
    from ._checks import as_array, check_numeric, positive_spacing

    if isinstance(image, Image):
        if axes is not None:
            raise ValueError("axes is only for plain arrays; a microlab.Image has its own")
        data, axes, name = image.data, image.axes, image.name
        spacing, unit = image.spacing if spacing is None else spacing, image.unit
    else:
        data, name, unit = as_array(image, "image"), "", None
    check_numeric(data, "image")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if axes is None:
        if data.ndim == 2:
            axes = "YX"
        elif data.ndim == 3 and data.shape[-1] in (3, 4) and min(data.shape[:2]) > 4:
            axes = "YXC"
        elif data.ndim == 3:
            axes = "ZYX"
        else:
            raise ValueError(
                f"an array of shape {data.shape} is ambiguous: pass axes= naming each axis "
                "with the letters T, C, Z, Y, X (e.g. axes='TZYX' or 'CZYX')"
            )
    axes = str(axes).upper()
    if len(axes) != data.ndim or len(set(axes)) != len(axes) or set(axes) - set(AXES_ORDER):
        raise ValueError(
            f"axes {axes!r} must name each of the {data.ndim} axes of the image (shape "
            f"{data.shape}) once, with letters from {AXES_ORDER!r}"
        )
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} must include Y and X")
    order = sorted(range(len(axes)), key=lambda k: AXES_ORDER.index(axes[k]))
    data = np.transpose(data, order)
    axes = "".join(axes[k] for k in order)
    if min(data.shape) < 1:
        raise ValueError(f"the image is empty (shape {data.shape})")
    spatial = sum(a in "ZYX" for a in axes)
    spacing = positive_spacing(spacing, spatial)
    return Image(np.ascontiguousarray(data), axes, spacing, unit, name)


def _imagej_order(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """ImageJ stores C after Z (TZCYX); microlab keeps TCZYX."""
    if "C" in axes and "Z" in axes:
        c, z = axes.index("C"), axes.index("Z")
        data = np.swapaxes(data, c, z)
        axes = axes.replace("C", "?").replace("Z", "C").replace("?", "Z")
    return data, axes


def _write_image(path: Path, image: Image) -> None:
    """Write an image atomically: an ImageJ hyperstack when ImageJ can hold its dtype."""
    import tifffile

    kwargs: dict = {"compression": "zlib"}
    if image.spacing is not None:
        kwargs["resolution"] = (1.0 / image.spacing[-1], 1.0 / image.spacing[-2])
    with atomic_path(path) as tmp:
        if image.dtype in (np.uint8, np.uint16, np.float32):
            data, axes = _imagej_order(image.data, image.axes)
            metadata: dict = {"axes": axes}
            if image.spacing is not None:
                unit = image.unit or "µm"
                metadata["unit"] = "micron" if unit in ("µm", "um", "micron") else unit
                if "Z" in image.axes:
                    metadata["spacing"] = image.spacing[0]
            tifffile.imwrite(tmp, data, imagej=True, metadata=metadata, **kwargs)
        else:
            tifffile.imwrite(tmp, image.data, metadata={"axes": image.axes}, **kwargs)


def _write_layer(path: Path, layer: np.ndarray, info: ImageInfo) -> None:
    """Write an annotation or label layer (ImageJ TIFF, atomically)."""
    path.parent.mkdir(exist_ok=True)
    spatial = info.spacing
    if "T" not in info.layer_axes:
        write_labels(path, layer, spacing=spatial, unit=info.unit or "µm")
        return
    import tifffile

    kwargs: dict = {"compression": "zlib"}
    if spatial is not None:
        kwargs["resolution"] = (1.0 / spatial[-1], 1.0 / spatial[-2])
    array = layer.astype(np.uint8 if layer.max(initial=0) <= 255 else np.uint16)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, imagej=True, metadata={"axes": info.layer_axes}, **kwargs)


def _at_time(image: Image, t: int | None) -> Image:
    if t is None:
        return image
    axis = image.axes.index("T")
    return Image(np.take(image.data, t, axis=axis), image.axes.replace("T", ""),
                 image.spacing, image.unit, image.name)


def _time_points(image: Image, layer: np.ndarray) -> Iterable[tuple[Image, np.ndarray]]:
    """Split a time series into (image, layer) pairs per annotated time point."""
    if "T" not in image.axes:
        yield image, layer
        return
    for t in range(layer.shape[0]):
        if layer[t].any():
            yield _at_time(image, t), layer[t]


def _crop_image(image: Image, window: tuple[slice, ...]) -> Image:
    spatial = iter(window)
    index = tuple(next(spatial) if a in "ZYX" else slice(None) for a in image.axes)
    return Image(image.data[index], image.axes, image.spacing, image.unit, image.name)


def _crops(image: Image, layer: np.ndarray, halo: int | None, tile: int):
    """(image crop, annotations) pairs that hold every stroke, with ``halo`` of context.

    The layer is cut into ``tile``-sized cells; cells holding strokes that touch each other
    form one group, cropped to the group's bounding box plus ``halo`` pixels. A group's
    annotations are only those in its own cells, so no labelled pixel is used twice. When
    the crops would cover as many pixels as the image, the whole image is used.
    """
    from scipy import ndimage

    if halo is None:
        yield image, layer
        return
    shape = layer.shape
    grid = tuple(-(-n // tile) for n in shape)
    padded = np.zeros([g * tile for g in grid], bool)
    padded[tuple(slice(0, n) for n in shape)] = layer > 0
    cells = padded.reshape([v for g in grid for v in (g, tile)]).any(
        axis=tuple(range(1, 2 * len(shape), 2)))
    groups, _ = ndimage.label(cells, structure=np.ones((3,) * len(shape)))
    crops, area = [], 0
    for k, box in enumerate(ndimage.find_objects(groups), start=1):
        mine = np.kron(groups[box] == k, np.ones((tile,) * len(shape), bool))
        inner = tuple(slice(s.start * tile, min(n, s.stop * tile))
                      for s, n in zip(box, shape, strict=True))
        mine = mine[tuple(slice(0, s.stop - s.start) for s in inner)]
        window = tuple(slice(max(0, s.start - halo), min(n, s.stop + halo))
                       for s, n in zip(inner, shape, strict=True))
        crops.append((inner, window, mine))
        area += math.prod(s.stop - s.start for s in window)
    if area >= layer.size:
        yield image, layer
        return
    for inner, window, mine in crops:
        ann = np.zeros([s.stop - s.start for s in window], layer.dtype)
        local = tuple(slice(s.start - w.start, s.stop - w.start)
                      for s, w in zip(inner, window, strict=True))
        ann[local] = np.where(mine, layer[inner], 0)
        yield _crop_image(image, window), ann
