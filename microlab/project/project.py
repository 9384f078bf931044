"""The :class:`Project` facade: one object a notebook, the workbench and scripts hold.

It joins the parts, each in its own module: the folder on disk (:mod:`.store`: layout,
``project.json``, lock, manifest, atomic writes), the annotation layers (:mod:`.annotations`:
paint, erase, undo, the one write path), the autosave thread (:mod:`.autosave`) and the
events observers listen to (:mod:`.events`). Training and prediction are not here: they are
functions of :mod:`microlab.project.training` built on the :class:`microlab.Segmenter`
contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from .._checks import positive_spacing
from .._delegate import Delegate
from .._events import Observable
from ..io import Image, read_image
from ..labels.colors import default_colors, hex_color
from . import autosave as _autosave
from .annotations import Annotations
from .events import EVENTS, Events
from .info import ImageInfo, digest
from .store import FORMAT, FORMAT_VERSION, PROJECT_FILE, Store, writable

__all__ = ["EVENTS", "FORMAT_VERSION", "OBJECT_SETTINGS", "Project"]

OBJECT_SETTINGS = {"mode": "semantic", "object_class": 1, "neighbours": 8,
                   "whole_objects": False, "split_by_image": True}
"""A new project's object settings: ``mode`` ("semantic": classes only; "instance":
separate objects of ``object_class`` are found after each prediction), ``object_class``
(1-based), ``neighbours`` (the *k* of the neighbourhood columns), ``whole_objects``
(the painted blobs of the object class are whole objects, so the ring just outside each is
background: training adds it to the strokes) and ``split_by_image`` (touching objects are
split where the image shows separate blobs as well as where the predicted shape narrows:
:func:`microlab.instances` with ``image=``; turn it off if large, flat, textured nuclei are
cut in two)."""


class Project(Observable):
    """A folder holding images, their annotations, class names and colours, models, results.

    Opening a folder that holds a ``project.json`` reopens that project (every saved stroke
    included); opening any other folder (created if missing) starts a new project there.

    Parameters
    ----------
    path : str or path-like
        The project folder.
    classes : list of str, optional
        Class names for a new project (annotation value k is ``classes[k - 1]``); default
        ``["objects", "background"]`` (rename them in the workbench). Ignored when
        reopening: the saved names win.
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

    Notes
    -----
    Observers connect with ``project.on(event, callback)`` (and ``off``). Events and
    their arguments: ``"annotation"`` (index, plane, box) after paint, undo and redo;
    ``"stroke"`` (index) when a stroke ends; ``"classes"`` (); ``"images"`` (index);
    ``"prediction"`` (index, region); ``"model"`` (name); ``"saved"`` (index or None);
    ``"error"`` (message) when a background save fails.

    One session at a time writes a project: the folder's lock is held from opening to
    :meth:`close` (or the end of the process). Opening a project that another session
    (another notebook, script or process) holds gives a read-only project and a warning
    that says so (:attr:`why_read_only`); nothing either session painted is overwritten.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> folder = tempfile.mkdtemp()
    >>> project = microlab.Project(folder, classes=["pore", "grain"])
    >>> project.add_image(np.zeros((64, 64), np.uint8), name="blank")
    0
    >>> box = project.paint(0, (10, 10), (10, 30), radius=2, value=1)
    >>> project.end_stroke()
    >>> project.close()                       # saves (a script that forgets it saves too)
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
        if not autosave_delay >= 0:
            raise ValueError(f"autosave_delay must be >= 0 seconds, got {autosave_delay!r}")
        self._store = Store(Path(path).expanduser().resolve())
        self.autosave = bool(autosave)
        self.last_error: str | None = None
        self._lock = threading.RLock()
        self._events = Events(EVENTS)
        self._images: list[ImageInfo] = []
        self._pixels: dict[int, Image] = {}
        self._predictions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._models: list[dict] = []
        self._objects: dict[int, np.ndarray] = {}
        self._settings: dict = dict(OBJECT_SETTINGS)
        self._closed = True  # until it is open
        self._annotations = Annotations(
            lock=self._lock, events=self._events, load=self._load_layer,
            classes=lambda: len(self._classes), axes=lambda i: self._images[i].layer_axes,
            touched=self._touched,
        )
        self._saver = _autosave.Autosaver(self._lock, self._annotations, self._autosave_flush,
                                         float(autosave_delay))
        if self.path.is_file():
            raise ValueError(f"{self.path} is a file; a project is a folder (pass a folder path)")
        if (self.path / PROJECT_FILE).exists():
            self._open()
        else:
            self._create(classes, colors)
        self._closed = False
        _autosave.keep_open(self)

    # ------------------------------------------------------------------ opening, closing
    path = Delegate("_store", "Path: the project folder.")
    read_only = Delegate("_store", "bool: whether nothing is saved here (see "
                         ":attr:`why_read_only`).")
    why_read_only = Delegate("_store", "str or None: why the project is read-only: a "
                             "read-only folder, or another session holds it.")

    def _create(self, classes, colors) -> None:
        names = ["objects", "background"] if classes is None else [str(c) for c in classes]
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
            if not writable(self.path):
                raise PermissionError(13, "Permission denied", str(self.path))
        except PermissionError as exc:
            raise PermissionError(
                f"cannot create a project in {self.path}: the folder is read-only "
                f"({exc.strerror or exc}); choose a folder you can write to"
            ) from exc
        if not self._store.acquire():
            raise PermissionError(f"cannot create a project in {self.path}: "
                                  f"{self._store.why_read_only}")
        if (self.path / PROJECT_FILE).exists():  # another session made one meanwhile
            self._store.release()
            raise FileExistsError(f"{self.path} became a project while this one was created")
        self._write_json()

    def _open(self) -> None:
        meta = self._store.read_json(__version__)
        file = self.path / PROJECT_FILE
        try:
            self._classes = [str(c["name"]) for c in meta["classes"]]
            self._colors = [hex_color(c["color"]) for c in meta["classes"]]
            self._images = [ImageInfo.from_json(d) for d in meta["images"]]
            self._models = list(meta.get("models", []))
            self._settings = _checked_settings({**OBJECT_SETTINGS, **meta.get("objects", {})})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{file} is damaged ({type(exc).__name__}: {exc})") from exc
        for info in self._images:
            self._store.inside(info.annotations, f"the annotations of {info.name!r}")
            if not info.is_reference:
                self._store.inside(info.file, f"the pixels of {info.name!r}")
        for model in self._models:
            self._store.inside(str(model.get("file")), f"model {model.get('name')!r}")
        if not writable(self.path):
            self._store._refuse("the folder is read-only")
        elif not self._store.acquire():
            warnings.warn(f"{self.path} opened read-only: {self._store.why_read_only}",
                          stacklevel=3)

    def _write_json(self) -> None:
        self._store.write_json(self._meta())

    def _meta(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "microlab_version": __version__,
            "classes": [
                {"value": k, "name": n, "color": c}
                for k, (n, c) in enumerate(zip(self._classes, self._colors, strict=True), 1)
            ],
            "images": [info.to_json() for info in self._images],
            "models": self._models,
            "objects": dict(self._settings),
        }

    def save(self) -> None:
        """Write every unsaved annotation layer (and ``project.json``) now.

        Raises
        ------
        PermissionError
            If the project is read-only (the annotations stay in memory).
        """
        self._store.guarded("the project file", self._write_json)
        for i in range(len(self._images)):
            self._save_layer(i)

    def _save_layer(self, index: int) -> None:
        snapshot = self._annotations.snapshot(index)
        if snapshot is None:
            return
        layer, version = snapshot
        info = self._images[index]
        self._store.guarded(f"the annotations of {info.name!r}",
                            lambda: self._store.write_layer(info.annotations, layer, info))
        self._annotations.mark_saved(index, version)
        self._events.emit("saved", index)

    def _touched(self) -> None:
        if self.autosave and not self.read_only:
            self._saver.wake()

    def _autosave_flush(self) -> bool:
        for i in range(len(self._images)):
            try:
                self._save_layer(i)
            except Exception as exc:  # reported to the widget, never lost silently
                self._report(str(exc))
                if self.read_only:
                    return False
        return True

    def save_as(self, path: str | os.PathLike) -> None:
        """Write the whole project into another folder and continue there.

        Use it when the current folder is read-only or held by another session: images kept
        as copies are copied, references stay references, annotations, models and
        predictions are written. Nothing changes here until the copy is complete: it is
        written to a temporary folder beside the target and renamed into place.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp())
        >>> _ = project.add_image(np.zeros((8, 8), np.uint8), name="a")
        >>> new = pathlib.Path(tempfile.mkdtemp()) / "copy"
        >>> project.save_as(new)
        >>> sorted(p.name for p in new.iterdir())
        ['.microlab.lock', 'annotations', 'images', 'project.json']
        """
        target = Path(path).expanduser().resolve()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ValueError(f"{target} is not an empty folder; choose a new or empty folder")
        with self._lock:
            self._annotations.end_stroke()
            n = len(self._images)
            pixels = [self.image(i) for i in range(n)]
            layers = [self.annotation(i).copy() for i in range(n)]
            versions = [self._annotations.version.get(i, 0) for i in range(n)]
            models = [(m["file"], (self.path / m["file"]).read_bytes()) for m in self._models
                      if (self.path / m["file"]).exists()]
            predictions = {i: tuple(a.copy() for a in p) for i, p in self._predictions.items()}
            objects = {i: o for i in range(n) if (o := self.objects(i)) is not None}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        except PermissionError as exc:
            raise PermissionError(f"cannot create {target}: {exc.strerror}") from exc
        new = Store(staging)
        try:
            for info, image, layer in zip(self._images, pixels, layers, strict=True):
                if not info.is_reference:
                    new.write_image(info.file, image)
                new.write_layer(info.annotations, layer, info)
            for file, blob in models:
                new.write_bytes(file, blob)
            for i, (labels, unsure) in predictions.items():
                _write_prediction(new, self._images[i], labels, unsure)
            for i, labels in objects.items():
                new.write_layer(_objects_file(self._images[i]), labels, self._images[i])
            new.write_json(self._meta())
            if target.exists():
                target.rmdir()
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        new.path = target
        if not new.acquire():
            raise PermissionError(f"cannot continue in {target}: {new.why_read_only}")
        with self._lock:
            self._store.release()
            self._store = new
            for i, version in enumerate(versions):
                self._annotations.mark_saved(i, version)
        self.last_error = None
        self._events.emit("saved", None)

    def close(self, *, discard: bool = False) -> None:
        """Save pending annotations, stop the autosave thread and release the folder.

        Parameters
        ----------
        discard : bool
            Close even though some strokes cannot be saved (a read-only project).

        Raises
        ------
        PermissionError
            If strokes cannot be saved (the project is read-only) and ``discard`` is False:
            nothing is closed; keep them with :meth:`save_as`.
        """
        if self._closed:
            return
        self._annotations.end_stroke()
        unsaved = self._annotations.unsaved()
        if unsaved and self.read_only and not discard:
            names = [self._images[i].name for i in unsaved]
            raise PermissionError(
                f"the strokes on {names} are not saved: {self.why_read_only}. Keep them "
                "with project.save_as('new/folder'), or close(discard=True) to drop them"
            )
        self._saver.close()
        if not self.read_only:
            self.save()
        self._closed = True
        self._store.release()
        _autosave.forget(self)

    def _close_quietly(self) -> None:
        """Close at interpreter exit or garbage collection: save what can be saved."""
        try:
            self.close()
        except Exception as exc:
            warnings.warn(f"microlab project {self.path}: {exc}", stacklevel=2)
            with contextlib.suppress(Exception):
                self.close(discard=True)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and hasattr(self, "_saver"):
            self._close_quietly()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self._close_quietly() if exc[0] is not None else self.close()

    def __repr__(self) -> str:
        return (
            f"Project({str(self.path)!r}, {len(self._images)} image(s), "
            f"classes={self._classes}{', read-only' if self.read_only else ''})"
        )

    # ------------------------------------------------------------------ events
    def _report(self, message: str) -> None:
        self.last_error = message
        self._events.emit("error", message)

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
                self._annotations.widen()
            self._save_meta()
        self._events.emit("classes")
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
        self._events.emit("classes")

    def set_color(self, value: int, color) -> None:
        """Set the colour of class ``value`` (1..C): ``"#rrggbb"`` or an RGB tuple."""
        k = self._check_class(value)
        with self._lock:
            self._colors[k - 1] = hex_color(color)
            self._save_meta()
        self._events.emit("classes")

    def _check_class(self, value) -> int:
        if not isinstance(value, numbers.Integral) or not 1 <= value <= len(self._classes):
            raise ValueError(
                f"class must be a value from 1 to {len(self._classes)} "
                f"({', '.join(self._classes)}), got {value!r}"
            )
        return int(value)

    def _save_meta(self) -> None:
        try:
            self._store.guarded("the project file", self._write_json)
        except PermissionError as exc:
            self._report(str(exc))

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

        Adding the same pixels under a name already in the project returns that image's
        index instead of adding it twice, so a notebook can be re-run. Another image of a
        name already taken is refused when the name was given, and added under a unique
        name (``"img (folder)"``, ``"img 2"``) when it came from a file name.

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
            If the image is empty, has ambiguous or unknown axes, does not match the
            project's images in number of channels or dimensions (2D vs 3D), or ``name``
            is taken by other pixels.

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
        reference = source = None
        named = name is not None
        if isinstance(image, (str, os.PathLike)):
            path = Path(image).expanduser().resolve()
            image = read_image(path)
            source = str(path)
            if not copy:
                reference = source
            name = name or path.stem
        if isinstance(image, Image):
            if axes is not None:
                raise ValueError("axes is only for plain arrays; a microlab.Image has its own")
            image = Image.from_array(image.data, image.axes, spacing=spacing or image.spacing,
                                     unit=image.unit, name=image.name,
                                     channel_names=image.channel_names)
        else:
            image = Image.from_array(image, axes, spacing=spacing)
        name = str(name or image.name or f"image {len(self._images) + 1}").strip()
        pixels = digest(image.data)
        with self._lock:
            name = self._free_name(name, image, pixels, source, named)
            if isinstance(name, int):
                return name
            self._check_compatible(image, name)
            stem = self._store.free_stem(name, {Path(i.annotations).stem for i in self._images})
            info = ImageInfo(
                name=name,
                shape=tuple(image.shape),
                dtype=str(image.dtype),
                axes=image.axes,
                spacing=image.spacing,
                unit=image.unit,
                file=reference or f"images/{stem}.tif",
                annotations=f"annotations/{stem}.tif",
                source=source,
                digest=pixels,
                channel_names=image.channel_names,
            )
            if reference is None:
                self._store.guarded(f"image {name!r}",
                                    lambda: self._store.write_image(info.file, image))
            index = len(self._images)
            self._images.append(info)
            self._pixels[index] = image
            # reserved now (free on disk), so the manifest owns them before the first write
            self._store.owned.update({info.annotations, *_prediction_files(info)})
            self._save_meta()
        self._events.emit("images", index)
        return index

    def _free_name(self, name: str, image: Image, pixels: str, source, named: bool):
        """``name``, the index of the same image already here, or a unique variant."""
        taken = {info.name: i for i, info in enumerate(self._images)}
        if name not in taken:
            return name
        info = self._images[taken[name]]
        same = (info.digest == pixels if info.digest is not None
                else (info.shape, info.axes) == (image.shape, image.axes))
        if same:
            return taken[name]
        if named:
            raise ValueError(
                f"the project already holds another image named {name!r} (shape "
                f"{info.shape}, from {info.source or 'an array'}); pass another name="
            )
        candidates = [f"{name} ({Path(source).parent.name})"] if source else []
        candidates += [f"{name} {n}" for n in range(2, len(self._images) + 3)]
        for candidate in candidates:
            if candidate not in taken:
                return self._free_name(candidate, image, pixels, source, named)
        raise AssertionError("unreachable: there is always a free name")

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
                    loaded.data, info.axes, info.spacing, info.unit, info.name,
                    channel_names=info.channel_names,
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
        self._info(index)
        return self._annotations.layer(index)

    def _load_layer(self, index: int) -> np.ndarray:
        info = self._images[index]
        dtype = np.uint8 if len(self._classes) < 256 else np.uint16
        file = self._store.inside(info.annotations, f"the annotations of {info.name!r}")
        if not file.exists() or info.annotations not in self._store.owned:
            return np.zeros(info.layer_shape, dtype)
        layer = read_image(file).data
        if tuple(layer.shape) != info.layer_shape:
            raise ValueError(
                f"{file} has shape {layer.shape} but image {info.name!r} needs "
                f"annotations of shape {info.layer_shape}; move the file away to "
                "start this image's annotations afresh"
            )
        return layer.astype(dtype if layer.max(initial=0) <= 255 else np.uint16)

    def set_annotation(self, index: int, layer) -> None:
        """Replace the whole annotation layer of image ``index`` (undoable)."""
        self._info(index)
        self._annotations.set(index, layer)

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
        self._info(index)
        return self._annotations.paint(index, start, end, radius=radius, value=value,
                                       plane=plane)

    def end_stroke(self) -> None:
        """Close the current stroke: it becomes one undo step, and is saved shortly."""
        self._annotations.end_stroke()

    def undo(self) -> bool:
        """Undo the last stroke; returns False if there is nothing to undo."""
        return self._annotations.undo()

    def redo(self) -> bool:
        """Redo the last undone stroke; returns False if there is nothing to redo."""
        return self._annotations.redo()

    can_undo = Delegate("_annotations", "bool: whether there is a stroke to undo.")
    can_redo = Delegate("_annotations", "bool: whether there is an undone stroke to redo.")

    @property
    def unsaved(self) -> list[int]:
        """Indices of images whose annotations have changes not yet on disk."""
        return self._annotations.unsaved()

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
        totals = self._annotations.counts(len(self._images))
        return {name: int(n) for name, n in zip(self._classes, totals[1:], strict=True)}

    # ------------------------------------------------------------------ models
    @property
    def models(self) -> list[dict]:
        """The saved models, oldest first: ``{"name", "file", "kind", "saved"}``."""
        return [dict(m) for m in self._models]

    def save_model(self, segmenter, name: str | None = None) -> Path:
        """Save a trained segmenter into ``models/NAME.safetensors``; returns the file."""
        name = name or segmenter.kind
        existing = next((m for m in self._models if m["name"] == name), None)
        file = existing["file"] if existing else (
            f"models/{self._store.free_stem(name, set())}.safetensors")

        def write() -> None:
            segmenter.save(self._store.target(file))

        self._store.guarded(f"model {name!r}", write)
        with self._lock:
            self._models = [m for m in self._models if m["name"] != name]
            self._models.append({"name": name, "file": file, "kind": segmenter.kind,
                                 "saved": time.strftime("%Y-%m-%dT%H:%M:%S")})
            self._save_meta()
        self._events.emit("model", name)
        return self.path / file

    def load_model(self, name: str | None = None):
        """Load a saved model (the latest by default), or None if there is none."""
        from ..tiers import load_segmenter

        if not self._models:
            return None
        meta = self._models[-1] if name is None else next(
            (m for m in self._models if m["name"] == name), None)
        if meta is None:
            raise KeyError(f"no model named {name!r}; saved: {[m['name'] for m in self._models]}")
        return load_segmenter(self._store.inside(meta["file"], f"model {meta['name']!r}"))

    # ------------------------------------------------------------------ predictions
    def set_prediction(self, index: int, proba, region: tuple[slice, ...] | None = None,
                       *, save: bool = True) -> None:
        """Keep ``(C, *layer region)`` probabilities as image ``index``'s prediction.

        The labels (most probable class) and the uncertainty map are kept in memory and,
        with ``save``, written to ``predictions/``.
        """
        from ..inference import uncertainty
        from ..segmenter import labels_from_proba

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
            copies = labels.copy(), unsure.copy()
        if save:
            try:
                self._store.guarded(f"the prediction of {info.name!r}",
                                    lambda: _write_prediction(self._store, info, *copies))
                self._save_meta()
            except PermissionError as exc:
                self._report(str(exc))
        self._events.emit("prediction", index, region)

    def prediction(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(labels, uncertainty)`` of image ``index`` (loaded from ``predictions/``), or None.

        ``labels`` are 1..C (0 where nothing was predicted yet); ``uncertainty`` is in
        [0, 1], NaN where nothing was predicted.
        """
        info = self._info(index)
        with self._lock:
            if index not in self._predictions:
                labels_file, unsure_file = _prediction_files(info)
                if labels_file not in self._store.owned:
                    return None
                try:
                    labels = read_image(self.path / labels_file).data
                    unsure = read_image(self.path / unsure_file).data.astype(np.float32)
                except (ValueError, FileNotFoundError):
                    return None
                if labels.shape != info.layer_shape or unsure.shape != info.layer_shape:
                    return None
                unsure[labels == 0] = np.nan
                self._predictions[index] = (labels, unsure)
            return self._predictions[index]

    # ------------------------------------------------------------------ objects
    @property
    def settings(self) -> dict:
        """The object settings: ``mode``, ``object_class``, ``neighbours``,
        ``whole_objects``, ``split_by_image`` (see :data:`OBJECT_SETTINGS`); change them
        with :meth:`set_settings`."""
        return dict(self._settings)

    def set_settings(self, **settings) -> None:
        """Change object settings (``mode="instance"``, ``object_class=2``, ``neighbours=6``);
        they are saved in ``project.json`` and travel with the project.

        Examples
        --------
        >>> import tempfile, microlab
        >>> project = microlab.Project(tempfile.mkdtemp(), classes=["nuclei", "background"])
        >>> project.set_settings(mode="instance")
        >>> project.settings["mode"], project.settings["object_class"]
        ('instance', 1)
        >>> project.set_settings(mode="objects")
        Traceback (most recent call last):
        ...
        ValueError: mode must be 'semantic' or 'instance', got 'objects'
        """
        unknown = set(settings) - set(OBJECT_SETTINGS)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; the settings are "
                            f"{sorted(OBJECT_SETTINGS)}")
        new = _checked_settings({**self._settings, **settings})
        self._check_class(new["object_class"])
        with self._lock:
            self._settings = new
        self._save_meta()
        self._events.emit("settings")

    def set_pixel_size(self, index: int, size, unit: str = "µm") -> None:
        """Set image ``index``'s pixel size (one number, or one per spatial axis) and unit,
        for files that carry none; measurements use it from then on. ``None`` forgets it:
        measurements go back to pixels.

        Examples
        --------
        >>> import tempfile, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp())
        >>> _ = project.add_image(np.zeros((8, 8), np.uint8))
        >>> project.set_pixel_size(0, 0.65)
        >>> project.images[0].spacing, project.image(0).unit
        ((0.65, 0.65), 'µm')
        >>> project.set_pixel_size(0, None)
        >>> project.images[0].spacing, project.image(0).unit
        (None, None)
        """
        info = self._info(index)
        if size is None:
            spacing, unit = None, None
        else:
            spacing = positive_spacing(size, sum(a in "ZYX" for a in info.axes), "pixel size")
            if not isinstance(unit, str) or not unit.strip():
                raise ValueError(f"unit must be a name such as 'µm', got {unit!r}")
            unit = unit.strip()
        with self._lock:
            self._images[index] = dataclasses.replace(info, spacing=spacing, unit=unit)
            if index in self._pixels:
                old = self._pixels[index]
                self._pixels[index] = dataclasses.replace(
                    old, spacing=self._images[index].spacing, unit=unit)
        self._save_meta()
        self._events.emit("settings")

    def set_channel_names(self, index: int, names) -> None:
        """Name image ``index``'s channels (``["DAPI", "GFP", "actin"]``) where the file did
        not; the workbench and the model's summary show them.

        Examples
        --------
        >>> import tempfile, numpy as np, microlab
        >>> project = microlab.Project(tempfile.mkdtemp())
        >>> _ = project.add_image(np.zeros((2, 8, 8), np.uint8), axes="CYX")
        >>> project.set_channel_names(0, ["DAPI", "GFP"])
        >>> project.images[0].channel_names
        ('DAPI', 'GFP')
        """
        from ..io.image import channel_names

        info = self._info(index)
        names = channel_names(names, info.channels)
        with self._lock:
            self._images[index] = dataclasses.replace(info, channel_names=names)
            if index in self._pixels:
                self._pixels[index] = dataclasses.replace(self._pixels[index],
                                                          channel_names=names)
        self._save_meta()
        self._events.emit("images", index)

    def set_objects(self, index: int, labels, *, save: bool = True) -> None:
        """Keep a label image (0 = background, 1..N = objects) as image ``index``'s objects,
        written to ``predictions/<name>_objects.tif`` with ``save``."""
        info = self._info(index)
        labels = np.asarray(labels)
        if labels.shape != info.layer_shape or labels.dtype.kind not in "iu":
            raise ValueError(f"objects of {info.name!r} must be an integer label image of "
                             f"shape {info.layer_shape}, got {labels.dtype} {labels.shape}")
        with self._lock:
            self._objects[index] = labels
        if save:
            try:
                self._store.guarded(f"the objects of {info.name!r}", lambda: (
                    self._store.write_layer(_objects_file(info), labels, info)))
                self._save_meta()
            except PermissionError as exc:
                self._report(str(exc))
        self._events.emit("objects", index)

    def objects(self, index: int) -> np.ndarray | None:
        """Image ``index``'s objects (a label image), or None if none were found yet."""
        info = self._info(index)
        with self._lock:
            if index not in self._objects:
                file = _objects_file(info)
                if file not in self._store.owned:
                    return None
                try:
                    labels = read_image(self.path / file).data
                except (ValueError, FileNotFoundError):
                    return None
                if labels.shape != info.layer_shape:
                    return None
                self._objects[index] = labels
            return self._objects[index]


# ---------------------------------------------------------------------- helpers
def _checked_settings(settings: dict) -> dict:
    if settings["mode"] not in ("semantic", "instance"):
        raise ValueError(f"mode must be 'semantic' or 'instance', got {settings['mode']!r}")
    for key, low in (("object_class", 1), ("neighbours", 1)):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{key} must be a whole number >= {low}, got {value!r}")
    for key in ("whole_objects", "split_by_image"):
        if not isinstance(settings[key], bool):
            raise ValueError(f"{key} must be True or False, got {settings[key]!r}")
    return {"mode": settings["mode"], "object_class": int(settings["object_class"]),
            "neighbours": int(settings["neighbours"]),
            "whole_objects": settings["whole_objects"],
            "split_by_image": settings["split_by_image"]}


def _objects_file(info: ImageInfo) -> str:
    return f"predictions/{Path(info.annotations).stem}_objects.tif"


def _prediction_files(info: ImageInfo) -> tuple[str, str]:
    stem = Path(info.annotations).stem
    return f"predictions/{stem}.tif", f"predictions/{stem}_uncertainty.tif"


def _write_prediction(store: Store, info: ImageInfo, labels, unsure) -> None:
    labels_file, unsure_file = _prediction_files(info)
    store.write_layer(labels_file, labels, info)
    store.write_float(unsure_file, np.nan_to_num(unsure, nan=0.0), info.layer_axes)
