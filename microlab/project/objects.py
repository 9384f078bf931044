"""Objects of a project: find them in predictions, measure them, apply a model to every
image, and export what was found.

Functions, like :mod:`microlab.project.training`: the :class:`~microlab.project.Project`
holds the data (its object settings, pixel sizes and label images); these functions turn
probabilities into objects with :func:`microlab.instances` and objects into tables with
:func:`microlab.measure.objects` and :func:`microlab.measure.neighbours`.

Examples
--------
>>> import tempfile, numpy as np, microlab
>>> from microlab.project import objects, training
>>> image = np.zeros((64, 64), np.uint8); image[10:22, 10:22] = image[40:54, 30:44] = 200
>>> project = microlab.Project(tempfile.mkdtemp(), classes=["nuclei", "background"])
>>> _ = project.add_image(image)
>>> project.set_settings(mode="instance")
>>> _ = project.paint(0, (16, 12), (16, 20), radius=1, value=1)
>>> _ = project.paint(0, (47, 33), (47, 40), radius=1, value=1)
>>> _ = project.paint(0, (2, 2), (2, 60), radius=1, value=2)
>>> _ = project.paint(0, (30, 2), (30, 60), radius=1, value=2)
>>> project.end_stroke()
>>> model = training.train(project, save=False)
>>> training.predict(project, model, 0)            # instance mode: objects come with it
>>> int(project.objects(0).max())
2
>>> table = objects.measure(project, 0)     # 12x12 and 14x14 squares
>>> table["area_px²"].between(130, 230).tolist(), "mean_distance_k8_px" in table
([True, True], True)
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import __version__
from .._ndfilters import distance_transform_edt
from ..inference.region import _at_time
from ..io.write import write_labels
from ..measure import neighbours as _neighbours
from ..measure import objects as _measure

__all__ = ["apply_to_all", "background_hint", "doubtful_hint", "doubtful_places", "export",
           "find", "measure", "summary"]


def find(project, index: int, proba, *, save: bool = True, kind: str = "classes") -> np.ndarray:
    """Find image ``index``'s objects in probabilities ``(C, *layer shape)`` and keep them.

    ``kind="classes"``: the project's ``object_class`` is the foreground of
    :func:`microlab.instances` (with its defaults: size-relative cleanup, watershed split of
    touching objects); with the project's ``split_by_image`` setting (the default) the
    image's own pixels guide the split too (``image=``: touching nuclei are blobs of their
    own even where the classifier fills the neck between them).
    ``kind="boundary"``: ``proba`` is background, boundary and interior (a segmenter whose
    ``output`` is ``"boundary"``); interiors seed objects that grow over the boundary. In
    physical units when the image's pixel size is known.

    Returns
    -------
    ndarray
        The label image (0 = background, 1..N objects), also kept by the project.
    """
    from ..postprocess import instances

    info = project.images[index]
    proba = np.asarray(proba, np.float32)
    value = project.settings["object_class"]
    channels = 3 if kind == "boundary" else len(project.classes)
    if proba.shape != (channels, *info.layer_shape):
        raise ValueError(f"probabilities of {info.name!r} must have shape "
                         f"{(channels, *info.layer_shape)}, got {proba.shape}")
    spatial = sum(a in "ZYX" for a in info.layer_axes)
    lead = proba.shape[1:-spatial]  # time points are split one by one
    labels = np.zeros(info.layer_shape, np.int32)
    spacing = info.spacing[-spatial:] if info.spacing else None
    read = {"kind": "boundary"} if kind == "boundary" else {"kind": "classes",
                                                             "foreground": value - 1}
    split = kind != "boundary" and project.settings["split_by_image"]
    image = project.image(index) if split else None
    for where in np.ndindex(*lead):
        if image is not None:  # the pixels of this time point guide the split
            read["image"] = _at_time(image, where[0]) if "T" in info.layer_axes else image
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no foreground": no objects
            labels[where] = instances(proba[(slice(None), *where)], spacing=spacing, **read)
    project.set_objects(index, labels, save=save)
    return labels


def measure(project, index: int, *, neighbours: int | None = None):
    """One row per object of image ``index``: shape, size, intensity per channel, and the
    mean distance to the ``neighbours`` nearest objects (default: the project's setting),
    in the image's unit when its pixel size is known.

    Returns
    -------
    pandas.DataFrame or None
        None when the image has no objects yet.
    """
    labels = project.objects(index)
    if labels is None:
        return None
    info = project.images[index]
    image = project.image(index)
    k = project.settings["neighbours"] if neighbours is None else int(neighbours)
    if "T" in info.layer_axes:  # a time series: the first time point with objects
        t = next((t for t in range(labels.shape[0]) if labels[t].any()), 0)
        labels, image = labels[t], _at_time(image, t)
    table = _measure(labels, image)
    if len(table) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fewer than k + 1 objects
            table = _neighbours(table, k=k)
    return table


def background_hint(project, index: int) -> str | None:
    """A hint when no background stroke lies near the painted objects of image ``index``.

    A classifier learns where an object ends from background painted just outside it;
    with background strokes only far away, the blurred rim of every object is called
    object and the objects come out too large. Near means within the typical radius of the
    objects found (the radius of a disk, or ball, of their typical size: the median of their
    sizes weighted by size).

    Returns
    -------
    str or None
        What to paint, or None when the strokes are fine (or there is nothing to say yet).
    """

    from ..postprocess._instances import _typical_size

    labels = project.objects(index)
    layer = project.annotation(index)
    value = project.settings["object_class"]
    painted = layer == value
    background = (layer > 0) & ~painted
    if (labels is None or not labels.any() or not painted.any() or not background.any()
            or project.settings["whole_objects"]):  # the rings are the near background
        return None
    ball = np.pi if labels.ndim == 2 else 4 * np.pi / 3
    radius = max((_typical_size(labels) / ball) ** (1 / labels.ndim), 1.0)
    near = distance_transform_edt(~background)[painted]
    if np.median(near) <= 2 * radius:
        return None
    name = project.classes[value - 1]
    return (f"the background strokes are far from the painted {name!r}: objects may come "
            f"out too large (their blurred rim is called {name!r}); paint a few background "
            f"strokes just outside some {name!r}, or, if you filled whole {name!r}, tick "
            "'painted objects are whole'; then train again")


_SHOWN_PLACES = 5
"""Doubtful places whose pixel positions the hint gives."""


def doubtful_places(project, index: int) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """Where the classifier half-sees objects of the usual size but found none, largest first.

    Objects much dimmer than the painted ones are called background by a classifier that
    learnt the painted ones' brightness, though not surely: they show in its uncertainty as
    blobs of an object's size outside every object (:func:`microlab.postprocess.
    doubtful_objects`, on the pixels not predicted as the object class, from the stored
    prediction). Time series are not looked at.

    Returns
    -------
    list of (middle, box)
        Each place's middle (the place's pixel nearest its centroid) and bounding box, in
        the image's layer axes (``(y, x)`` or ``(z, y, x)``); empty when there are none, or
        no prediction or objects yet.
    """
    from ..postprocess import doubtful_objects
    from ..postprocess._doubtful import _middles

    info = project.images[index]
    labels = project.objects(index)
    prediction = project.prediction(index)
    if labels is None or prediction is None or not labels.any() or "T" in info.layer_axes:
        return []
    predicted, unsure = prediction
    return _middles(doubtful_objects(unsure, labels,
                                     where=predicted != project.settings["object_class"]))


def doubtful_hint(project, index: int, places=None) -> str | None:
    """A hint when the classifier half-sees objects of the usual size but found none there
    (:func:`doubtful_places`, or ``places`` when the caller has them): how many, where, and
    what to paint; None when there are none.
    """
    places = doubtful_places(project, index) if places is None else places
    if not places:
        return None
    value = project.settings["object_class"]
    name = project.classes[value - 1]
    axes = "zyx"[-len(places[0][0]):]
    where = "; ".join(" ".join(f"{a} {c}" for a, c in zip(axes[::-1], middle[::-1],
                                                          strict=True))
                      for middle, _ in places[:_SHOWN_PLACES])
    more = ", …" if len(places) > _SHOWN_PLACES else ""
    count = "1 place looks" if len(places) == 1 else f"{len(places)} places look"
    return (f"{count} like {name!r} of the usual size to the classifier, which is unsure "
            f"there and found no {name!r} (at {where}{more}; bright in the uncertainty "
            f"overlay; often {name!r} dimmer than those painted): paint a few of them as "
            f"{name!r}, or as background if that is what they are, then train again")


def summary(project, index: int, table=None) -> dict:
    """Count, mean area (or volume) and mean neighbour distance of image ``index``."""
    table = measure(project, index) if table is None else table
    row = {"image": project.images[index].name,
           "objects": 0 if table is None else len(table)}
    if table is not None and len(table):
        for prefix in ("area_", "volume_", "mean_distance_k"):
            column = next((c for c in table.columns if c.startswith(prefix)), None)
            if column is not None:
                row[f"mean {column}"] = float(table[column].mean())
    return row


def apply_to_all(project, segmenter, *, indices=None,
                 progress: Callable[[int, int, str], None] | None = None,
                 stop: threading.Event | None = None) -> list[dict]:
    """Predict every image (or ``indices``) with ``segmenter``; in instance mode also find
    and measure their objects. Returns a summary row per image done.

    ``progress(done, total, name)`` is called before each image; once ``stop`` is set the
    images already done keep their results and the rest are left as they were.
    """
    from .training import predict

    indices = list(range(len(project))) if indices is None else list(indices)
    rows = []
    for done, i in enumerate(indices):
        if stop is not None and stop.is_set():
            break
        if progress is not None:
            progress(done, len(indices), project.images[i].name)
        predict(project, segmenter, i)
        rows.append(summary(project, i) if project.settings["mode"] == "instance" else
                    {"image": project.images[i].name})
    if progress is not None and (stop is None or not stop.is_set()):
        progress(len(indices), len(indices), "")
    return rows


def export(project, folder: str | os.PathLike, *, model: str | None = None,
           parameters: dict | None = None) -> Path:
    """Write what the project found into ``folder``: label images, one table, a record.

    * ``labels/<image>_objects.tif`` (instance mode) or ``labels/<image>_classes.tif``: ImageJ
      TIFFs with the pixel size;
    * ``objects.csv``: every object of every image, with an ``image`` column;
    * ``summary.csv``: one row per image;
    * ``model.safetensors``: the model used (the project's latest, or ``model``);
    * ``record.json`` and ``record.md``: model, classes, settings, pixel sizes, microlab
      and Python versions, date and the files written, so a figure can be reproduced.

    Raises
    ------
    PermissionError
        If ``folder`` cannot be written (nothing is half-written: each file is complete or
        absent).
    ValueError
        If there is nothing to export yet (no prediction).
    """
    import pandas as pd

    folder = Path(folder).expanduser()
    try:
        (folder / "labels").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot export to {folder}: {exc.strerror or exc}; choose a "
                              "folder you can write to") from exc
    instance = project.settings["mode"] == "instance"
    tables, rows, files = [], [], []
    for i, info in enumerate(project.images):
        labels = project.objects(i) if instance else None
        if labels is None:
            result = project.prediction(i)
            if result is None:
                continue
            labels, suffix = result[0], "classes"
        else:
            suffix = "objects"
        file = f"labels/{_safe(info.name)}_{suffix}.tif"
        _atomic(folder / file, lambda p, labels=labels, info=info: write_labels(
            p, labels, spacing=info.spacing, unit=info.unit or "µm", axes=info.layer_axes))
        files.append(file)
        if instance:
            table = measure(project, i)
            if table is not None:
                tables.append(table.assign(image=info.name)[
                    ["image", *table.columns]])
            rows.append(summary(project, i, table))
    if not files:
        raise ValueError("nothing to export yet: train a model and predict the images "
                         "(Apply to all) first")
    if instance:
        all_objects = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        _atomic(folder / "objects.csv", lambda p: all_objects.to_csv(p, index=False))
        _atomic(folder / "summary.csv", lambda p: pd.DataFrame(rows).to_csv(p, index=False))
        files += ["objects.csv", "summary.csv"]
    saved = project.models
    chosen = next((m for m in saved if m["name"] == model), None) if model else (
        saved[-1] if saved else None)
    if chosen is not None and (project.path / chosen["file"]).exists():
        blob = (project.path / chosen["file"]).read_bytes()
        _atomic(folder / "model.safetensors", lambda p: p.write_bytes(blob))
        files.append("model.safetensors")
    record = {
        "microlab_version": __version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "project": str(project.path),
        "model": chosen,
        "classes": [{"value": k, "name": n, "color": c} for k, (n, c) in
                    enumerate(zip(project.classes, project.colors, strict=True), 1)],
        "settings": project.settings,
        "parameters": parameters or {"instances": "microlab.instances defaults"},
        "images": [{"name": info.name, "source": info.source, "shape": list(info.shape),
                    "axes": info.axes, "pixel_size": info.spacing, "unit": info.unit}
                   for info in project.images],
        "files": files,
    }
    _atomic(folder / "record.json",
            lambda p: p.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8"))
    _atomic(folder / "record.md", lambda p: p.write_text(_markdown(record, rows),
                                                         encoding="utf-8"))
    return folder


def _markdown(record: dict, rows: list[dict]) -> str:
    model = record["model"] or {}
    lines = [
        "# microlab export",
        "",
        f"- date: {record['date']}",
        f"- microlab {record['microlab_version']}, Python {record['python']}",
        f"- project: `{record['project']}`",
        f"- model: {model.get('name', 'none')} ({model.get('kind', '?')}), "
        "file `model.safetensors`",
        f"- classes: {', '.join(c['name'] for c in record['classes'])}",
        f"- mode: {record['settings']['mode']}; object class: "
        f"{record['classes'][record['settings']['object_class'] - 1]['name']}; "
        f"neighbours k = {record['settings']['neighbours']}",
        "",
        "To measure again: `microlab.measure.objects(labels, image)` on the files in "
        "`labels/`; to segment again: `microlab segment -m model.safetensors`.",
        "",
    ]
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for r in rows:
            lines.append("| " + " | ".join(
                f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, ""))
                for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    from .._atomic import atomic_path

    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except PermissionError as exc:
        raise PermissionError(f"cannot export to {path.parent}: the folder is read-only; "
                              "choose a folder you can write to") from exc
