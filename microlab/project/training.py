"""Train a segmenter on a project's strokes, and keep its predictions in the project.

Functions, not methods: the :class:`~microlab.project.Project` holds data; training and
prediction are built on the :class:`microlab.Segmenter` contract and work for every tier.

Examples
--------
>>> import tempfile, numpy as np, microlab
>>> from microlab.project import training
>>> project = microlab.Project(tempfile.mkdtemp(), classes=["dark", "bright"])
>>> _ = project.add_image(np.repeat([0, 200], 32)[None].repeat(64, 0).astype(np.uint8))
>>> _ = project.paint(0, (10, 5), (50, 5), radius=2, value=1)
>>> _ = project.paint(0, (10, 60), (50, 60), radius=2, value=2)
>>> project.end_stroke()
>>> rf = training.train(project)
>>> training.predict(project, rf, 0)
>>> project.prediction(0)[0][30, [2, 62]].tolist()
[1, 2]
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

import numpy as np

from ..inference.region import _at_time, _crop, predict_region
from ..io import Image
from ..labels.boundary import whole_object_rings
from ..tiers import TIERS


def training_data(project, context: int | None = None, *, tile: int = 32,
                  output: str = "classes"):
    """Images and annotations to train on: every annotated image (time point).

    With ``context`` (the pixels a segmenter's prediction needs around a region), large
    images are cut to the groups of ``tile``-sized cells that hold strokes, each with
    ``context`` pixels around it, so training reads a few crops instead of the whole image;
    the features at the strokes are the same.

    With the project's ``whole_objects`` setting, the ring just outside each painted blob of
    the object class is added as background (the first other class) where nothing else is
    painted. With ``output="boundary"`` (a segmenter that learns objects itself), the
    painted blobs of the project's object class are taken as whole objects and every other
    painted class as background, and the layers become background/boundary/interior annotations
    (:func:`microlab.labels.instance_annotations`: a ring around each object, labelled
    "background or boundary" where background strokes exist, else background).

    Returns
    -------
    images : list of microlab.Image
    annotations : list of ndarray
    """
    images, layers = [], []
    dtypes = {info.dtype for info in project.images}
    for i in range(len(project)):
        layer = project.annotation(i)
        if not layer.any():
            continue
        if output == "boundary":
            layer = _as_boundary(project, layer, project.images[i].layer_axes)
        elif project.settings["whole_objects"]:
            layer = _with_rings(project, layer, project.images[i].layer_axes)
        else:
            layer = layer.copy()
        image = project.image(i)
        if len(dtypes) > 1:
            image = Image(image.data.astype(np.float32), image.axes, image.spacing,
                          image.unit, image.name)
        for img, lab in _time_points(image, layer):
            for crop, ann in _crops(img, lab, context, tile):
                images.append(crop)
                layers.append(ann)
    return images, layers


def train(project, segmenter=None, *, progress=False,
          stop: threading.Event | None = None, save: bool = True):
    """Train a segmenter on all of a project's strokes (a Random Forest by default).

    Parameters
    ----------
    project : microlab.Project
    segmenter : Segmenter, optional
        Untrained, or trained (then it continues training); default: the first tier of
        :data:`microlab.tiers.TIERS` with the project's classes and colours, or, where that
        tier learns objects itself with the project's settings
        (:meth:`microlab.tiers.Tier.learns_objects`: instance mode with whole painted
        objects), in its instance mode.
    progress : bool or callable
        Show progress bars; a callable gets the tier's report after each training step
        (see :class:`microlab.Segmenter`).
    stop : threading.Event, optional
        Passed to ``fit``: once set, training ends early with a usable model.
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
    counts = project.counts()
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
    if segmenter is None:  # as the workbench's Train makes it
        first = next(iter(TIERS.values()))
        segmenter = (first.create(None, None, **first.instance)
                     if first.learns_objects(project.settings)
                     else first.create(project.classes, project.colors))
    if segmenter.output == "boundary":
        name = project.classes[project.settings["object_class"] - 1]
        if not counts.get(name):
            raise ValueError(
                f"this model learns objects from whole painted objects, and no {name!r} is "
                f"painted yet: fill a few whole {name!r} objects with the brush (and some "
                "background), then train"
            )
    images, layers = training_data(project, segmenter.context, output=segmenter.output)
    segmenter.fit(images, layers, progress=progress, stop=stop)
    if save:
        project.save_model(segmenter)
    return segmenter


def predict(project, segmenter, index: int, region: tuple[slice, ...] | None = None,
            *, save: bool = True) -> None:
    """Predict image ``index`` (or a ``region`` of its layer) and keep it in the project.

    In instance mode (``project.settings["mode"]``), a whole-image prediction also finds
    the image's objects (:func:`microlab.project.objects.find`).

    ``region`` holds one slice per layer axis; the prediction gets its context from around
    the region (:func:`microlab.inference.predict_region`), so the result equals that of
    predicting the whole image.
    """
    image = project.image(index)
    if len({info.dtype for info in project.images}) > 1:
        image = Image(image.data.astype(np.float32), image.axes, image.spacing, image.unit,
                      image.name)
    shape = project.images[index].layer_shape
    region = tuple(slice(0, n) for n in shape) if region is None else tuple(
        slice(*s.indices(n)[:2]) for s, n in zip(region, shape, strict=True))
    proba = predict_region(segmenter, image, region)
    shown = proba if segmenter.output == "classes" else _boundary_as_classes(project, proba)
    project.set_prediction(index, shown, region, save=save)
    whole = all(s.start == 0 and s.stop == n for s, n in zip(region, shape, strict=True))
    if whole and (project.settings["mode"] == "instance" or segmenter.output == "boundary"):
        from .objects import find

        find(project, index, proba, save=save, kind=segmenter.output)


def _as_boundary(project, layer: np.ndarray, axes: str) -> np.ndarray:
    """A project's layer as background (1), boundary (2), interior (3) annotations: blobs
    of the object class are whole objects; every other class is background
    (:func:`microlab.labels.painted_objects`, time point by time point)."""
    from ..labels import painted_objects

    value = project.settings["object_class"]
    if axes.startswith("T"):
        return np.stack([painted_objects(part, value) for part in layer])
    return painted_objects(layer, value)


def _with_rings(project, layer: np.ndarray, axes: str) -> np.ndarray:
    """The layer with the ring just outside each painted whole object (2 pixels, where
    nothing is painted) labelled as the first other class: what a whole object says about
    where it ends."""
    value, other = project.settings["object_class"], _other_class(project)
    if axes.startswith("T"):
        return np.stack([whole_object_rings(part, value, other) for part in layer])
    return whole_object_rings(layer, value, other)


def _boundary_as_classes(project, proba: np.ndarray) -> np.ndarray:
    """Background/boundary/interior probabilities as the project's classes, for the
    prediction overlay: boundary + interior → the object class, background → the first
    other class."""
    classes = np.zeros((len(project.classes), *proba.shape[1:]), np.float32)
    classes[project.settings["object_class"] - 1] = proba[1] + proba[2]
    classes[_other_class(project) - 1] = proba[0]
    return classes


def _other_class(project) -> int:
    """The class that stands for "not the object": the first other than the object class."""
    value = project.settings["object_class"]
    return next(k for k in range(1, len(project.classes) + 1) if k != value)


def _time_points(image: Image, layer: np.ndarray) -> Iterable[tuple[Image, np.ndarray]]:
    """Split a time series into (image, layer) pairs per annotated time point."""
    if "T" not in image.axes:
        yield image, layer
        return
    for t in range(layer.shape[0]):
        if layer[t].any():
            yield _at_time(image, t), layer[t]


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
        yield _crop(image, window), ann
