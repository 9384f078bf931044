"""The one contract both tiers follow, so tiling, region prediction, uncertainty, the
project, the widgets and the CLI are written once for the Random Forest and the U-Net alike.

A caller never reaches around it: no ``getattr`` probes, no ``isinstance`` on a tier, no
tier-specific keywords. ``tests/contract`` holds the conformance suite that every tier
registered in :mod:`microlab.tiers` passes; it is the specification of this protocol.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """A pixel classifier trained from sparse annotations.

    Annotations use 0 for unlabelled pixels and 1..C for the classes; predictions are
    per-class probabilities ``(C, *spatial)`` in float32, from which labels, instances and
    uncertainty are derived.

    Attributes
    ----------
    kind : str
        The tier's name in :data:`microlab.tiers.TIERS`; recorded in model files and
        projects.
    classes, colors : list of str
        Class names (annotation value k is ``classes[k - 1]``) and ``"#rrggbb"`` colours.
    channel_axis : int or None
        Where plain arrays keep their channels (``microlab.Image`` carries its own axes).
    context : int
        Pixels of neighbourhood a prediction needs on each side of a region (0 if none):
        predicting a region with this much context around it equals predicting the whole
        image there (exactly for the forest; within the tolerance the tier documents for
        the U-Net).
    alignment : int or tuple of int
        Multiples of pixels, per spatial axis, on which input windows must start (1 if
        none).
    channels : int or None
        How many image channels the trained model uses (a caller says so, and refuses
        images with others); None before training.
    output : str
        ``"classes"``: ``predict_proba`` gives the annotation classes. ``"boundary"``: it
        gives background, boundary and interior of objects (a segmenter that learned to
        separate objects itself, trained on :func:`microlab.labels.instance_annotations`);
        :func:`microlab.instances` reads it with ``kind="boundary"``.
    description : str
        What else the trained model is made of, in plain words for a user interface (the
        forest's kept features, the U-Net's autocontext forest and its share); ``""`` when
        there is nothing to say.

    Methods
    -------
    fit(images, annotations, *, progress=True, stop=None)
        Train (or continue training). ``stop`` is a :class:`threading.Event`: once set, the
        tier ends its training at the next step it can and keeps a usable model.
        ``progress`` is True/False (progress bars) or a callable, called with a report
        dict after each step: ``fraction`` (0-1 of the planned training), ``seconds``
        (elapsed), and, where the tier has them, ``step``, ``loss`` and ``remaining``
        (estimated seconds left); no bar is shown then (see :func:`report`).
    predict_proba(image), predict(image), save(path), load(path)
    """

    kind: ClassVar[str]
    classes: list[str]
    colors: list[str]
    channel_axis: int | None

    @property
    def context(self) -> int: ...

    @property
    def alignment(self) -> int | tuple[int, ...]: ...

    @property
    def channels(self) -> int | None: ...

    @property
    def output(self) -> str: ...

    @property
    def description(self) -> str: ...

    def fit(self, images, annotations, *, progress: bool | Callable[[dict], None] = True,
            stop: threading.Event | None = None) -> Segmenter: ...

    def predict_proba(self, image) -> np.ndarray: ...

    def predict(self, image) -> np.ndarray: ...

    def save(self, path: str | os.PathLike) -> None: ...

    @classmethod
    def load(cls, path: str | os.PathLike) -> Segmenter: ...


class SegmenterBase:
    """What the tiers share: class names and colours, the trained state, ``stopped``.

    A tier subclasses it, sets ``kind`` and says in :meth:`_trained` what holds its
    trained model (None before training); the rest of the contract is its own.
    """

    kind: ClassVar[str]
    stopped: bool = False
    """Whether the last ``fit`` ended early because its ``stop`` event was set."""
    mode: str = "semantic"
    """``"semantic"`` (the annotations' classes) or ``"instance"`` (background, boundary,
    interior, learnt from whole painted objects)."""
    description: str = ""
    """What else the trained model is made of, for a user interface (see :class:`Segmenter`)."""

    @property
    def output(self) -> str:
        """What ``predict_proba`` gives: ``"boundary"`` in instance mode (background,
        boundary, interior), else ``"classes"``."""
        return "boundary" if self.mode == "instance" else "classes"

    def _set_mode(self, mode: str, classes: Sequence[str] | None,
                  colors: Sequence | None) -> None:
        """Check ``mode`` and set it with the classes and colours (instance mode: its three
        classes, named as the user likes)."""
        from .labels.boundary import INSTANCE_CLASSES, INSTANCE_COLORS

        if mode not in ("semantic", "instance"):
            raise ValueError(f"mode must be 'semantic' or 'instance', got {mode!r}")
        if mode == "instance":
            if classes is not None and len(classes) != 3:
                raise ValueError("instance mode has 3 classes: background, boundary, "
                                 f"interior; got {len(classes)}")
            classes = list(classes) if classes is not None else list(INSTANCE_CLASSES)
            colors = colors if colors is not None else INSTANCE_COLORS
        self.mode = mode
        self._set_classes(classes, colors)

    def _set_classes(self, classes: Sequence[str] | None, colors: Sequence | None) -> None:
        from .labels.colors import hex_color

        self.classes = list(classes) if classes is not None else []
        if colors is not None and classes is not None and len(colors) != len(self.classes):
            raise ValueError(f"got {len(colors)} colors for {len(self.classes)} classes")
        self.colors = [hex_color(c) for c in colors] if colors is not None else []

    def _untrained(self) -> None:
        """Set what every fit records to "nothing yet": channels, intensity ranges, dtype."""
        self.stopped = False
        self._channels: int | None = None
        self._ranges: list[tuple[float, float]] | None = None
        self._dtype: str | None = None

    def _trained(self):
        raise NotImplementedError

    object_scale: float | None = None
    """What ``object_scale`` was given: None (the default rule) or a factor."""
    scale: float = 1.0
    """The factor images are resized by before this model sees them (1: their own scale;
    above 1 enlarged, below 1 shrunk), chosen at the first fit (:mod:`microlab._scale`)."""

    def _choose_scale(self, pairs) -> float:
        """The factor for a first fit on ``pairs``: ``object_scale`` as given; by default,
        in instance mode on 2D images, what brings the painted objects' typical radius up
        to :data:`microlab._scale.OBJECT_RADIUS`; else 1."""
        from ._scale import default_scale
        from .labels.boundary import painted_radius

        planes = all(array.ndim == 3 for array, _ in pairs)
        if self.object_scale is not None:
            if self.object_scale != 1 and not planes:
                raise ValueError(
                    f"object_scale={self.object_scale:g} is for 2D images; these include a "
                    "3D stack. Leave object_scale=None (3D stacks are used at their own "
                    "scale) or resample the stack first"
                )
            return self.object_scale
        if self.mode != "instance" or not planes:
            return 1.0
        return default_scale(painted_radius([layer for _, layer in pairs]))

    def _scaled_pairs(self, pairs, *, choose: bool) -> list:
        """``training_set``'s ``pairs`` at this model's scale (chosen first when ``choose``):
        images resampled linearly, annotations to the nearest pixel (in instance mode with
        the painted objects' boundaries drawn again at the new size)."""
        from ._scale import resample, scale_words, scaled_shape

        if choose:
            self.scale = self._choose_scale(pairs)
        elif self.scale != 1 and any(array.ndim != 3 for array, _ in pairs):
            raise ValueError(f"this model works on 2D images {scale_words(self.scale)}; "
                             "it cannot learn from a 3D stack")
        if self.scale == 1:
            return pairs
        if self.mode == "instance":  # boundaries drawn again at the new size
            from .labels.boundary import resample_annotation

            annotation = partial(resample_annotation, width=getattr(self, "boundary_width", 2))
        else:
            annotation = partial(resample, order=0)
        return [(resample(array, scaled_shape(array.shape, self.scale), 1),
                 annotation(layer, scaled_shape(layer.shape, self.scale)))
                for array, layer in pairs]

    def _scaled_proba(self, array: np.ndarray, predict) -> np.ndarray:
        """``predict(array)`` (probabilities ``(C, *spatial)`` of a checked image) at this
        model's scale, brought back to the image's own pixels."""
        if self.scale == 1:
            return predict(array)
        from ._scale import resample, scale_words, scaled_shape

        if array.ndim != 3:
            raise ValueError(f"this model works on 2D images {scale_words(self.scale)}; "
                             f"got a {array.ndim - 1}D image")
        proba = predict(resample(array, scaled_shape(array.shape, self.scale), 1))
        return np.ascontiguousarray(resample(proba, array.shape, 1))

    def _scale_note(self) -> str:
        """What :attr:`scale` means, for :attr:`description`."""
        from ._scale import scale_words

        size = "small" if self.scale > 1 else "large"
        return (f"it sees images {scale_words(self.scale)}, so that the {size} objects it "
                "was shown look as large as it learns best")

    def _own_pixels(self, context: int) -> int:
        """A context of ``context`` pixels at this model's scale, in the image's pixels
        (plus one for the resampling)."""
        return context if self.scale == 1 else int(np.ceil(context / self.scale)) + 1

    def predict_instances(self, image, **kwargs):
        """Separate objects (a tier in instance mode, ``output == "boundary"``):
        ``microlab.instances(self.predict_proba(image), kind="boundary", **kwargs)``.

        Keyword arguments go to :func:`microlab.instances` (e.g. ``min_size``, ``spacing``).

        Examples
        --------
        >>> import microlab
        >>> from microlab.labels import instance_annotations
        >>> image, nuclei = microlab.data.synthetic_nuclei((128, 128), seed=0)
        >>> painted = instance_annotations(nuclei, True)  # every nucleus painted whole
        >>> rf = microlab.RandomForestSegmenter(mode="instance").fit(
        ...     image, painted, progress=False)
        >>> found = rf.predict_instances(image)
        >>> abs(int(found.max()) - int(nuclei.max())) <= 0.2 * int(nuclei.max())
        True
        """
        from .postprocess import instances

        if self.output != "boundary":
            raise ValueError(
                "predict_instances needs a model trained with mode='instance' (classes "
                "background/boundary/interior); for a semantic model call "
                "microlab.instances(model.predict_proba(image)) instead"
            )
        return instances(self.predict_proba(image), kind="boundary", **kwargs)

    def _check_image(self, image) -> np.ndarray:
        """The image as ``(C, *spatial)``, with the channels the model was trained on."""
        from ._checks import spatial_image

        array = spatial_image(image, "image", channel_axis=self.channel_axis)
        if self._channels == 1 < array.shape[0] and all(
                np.array_equal(array[0], plane) for plane in array[1:]):
            array = array[:1]  # one grey plane stored as several equal ones (an RGB export)
        if array.shape[0] != self._channels:
            raise ValueError(
                f"the model was trained on {self._channels}-channel images but this image has "
                f"{array.shape[0]} channel(s); pass an image with the same channels "
                "(and channel_axis if it is a plain array)"
            )
        return array

    @property
    def is_fitted(self) -> bool:
        """Whether the model has been trained (or loaded)."""
        return self._trained() is not None

    @property
    def channels(self) -> int | None:
        """Number of image channels the model was trained on (``_channels``, set by the
        tier); None before training."""
        return self._channels if self.is_fitted else None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            name = type(self).__name__
            raise RuntimeError(
                f"this {name} is not trained yet; call .fit(images, annotations) or "
                f"{name}.load(path)"
            )


def report(progress, **values) -> None:
    """Send a training report to a ``progress`` callable (nothing for True/False).

    Every tier calls it after each training step, so that a caller (the workbench's
    training panel, a script) can show the same progress, loss curve and estimate whatever
    the tier.

    Examples
    --------
    >>> seen = []
    >>> report(seen.append, fraction=0.5, seconds=1.2, loss=0.3)
    >>> report(False, fraction=1.0, seconds=2.0)
    >>> seen
    [{'fraction': 0.5, 'seconds': 1.2, 'loss': 0.3}]
    """
    if callable(progress):
        progress(values)


def shows_bars(progress) -> bool:
    """Whether ``progress`` asks for progress bars (True, not a callable).

    Examples
    --------
    >>> shows_bars(True), shows_bars(False), shows_bars(print)
    (True, False, False)
    """
    return progress is True or (bool(progress) and not callable(progress))


def labels_from_proba(proba: np.ndarray) -> np.ndarray:
    """Turn ``(C, *spatial)`` probabilities into labels 1..C (the most probable class).

    The labels are of the smallest unsigned type that holds C: uint8 up to 255 classes,
    uint16 up to 65535, uint32 beyond (no class number wraps around).

    Examples
    --------
    >>> import numpy as np
    >>> labels_from_proba(np.array([[[0.9, 0.2]], [[0.1, 0.8]]], np.float32)).tolist()
    [[1, 2]]
    """
    return (np.argmax(proba, axis=0) + 1).astype(label_dtype(proba.shape[0]))


def label_dtype(largest: int) -> np.dtype:
    """The smallest unsigned integer type that holds labels up to ``largest``.

    Examples
    --------
    >>> label_dtype(4), label_dtype(300)
    (dtype('uint8'), dtype('uint16'))
    """
    return np.dtype(np.uint8 if largest <= 255 else np.uint16 if largest <= 65535
                    else np.uint32)


def training_set(
    images, annotations, *, channel_axis: int | None = None, same_ndim: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate a training set: one sparse annotation layer per image, matching channels.

    Both tiers call this at the top of ``fit``, so their messages are the same.

    Parameters
    ----------
    images : image or list of images
        ``microlab.Image`` or arrays (``channel_axis`` for channels).
    annotations : array or list of arrays
        One layer per image, 0 = unlabelled.
    channel_axis : int, optional
        Channel axis of plain arrays.
    same_ndim : bool
        Also require every image to have the same number of spatial dimensions.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(C, *spatial)`` image and its annotation layer, per image.

    Examples
    --------
    >>> pairs = training_set(np.zeros((4, 4)), np.eye(4, dtype=np.uint8))
    >>> pairs[0][0].shape, pairs[0][1].shape
    ((1, 4, 4), (4, 4))
    """
    from ._checks import annotation_array, spatial_image

    images = _as_list(images, "images")
    annotations = _as_list(annotations, "annotations")
    if len(images) != len(annotations):
        raise ValueError(
            f"got {len(images)} images but {len(annotations)} annotation layers; pass one "
            "annotation layer per image (an all-zero layer for an image not annotated)"
        )
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (img, ann) in enumerate(zip(images, annotations, strict=True)):
        name = f"images[{i}]" if len(images) > 1 else "image"
        array = spatial_image(img, name, channel_axis=channel_axis)
        layer = annotation_array(ann, array.shape[1:], name.replace("image", "annotations"))
        if pairs:
            first = pairs[0][0]
            if array.shape[0] != first.shape[0] or (same_ndim and array.ndim != first.ndim):
                raise ValueError(
                    f"{name} has {array.shape[0]} channel(s) and {array.ndim - 1} spatial "
                    f"dimensions but images[0] has {first.shape[0]} and {first.ndim - 1}; "
                    "all training images must match"
                )
        pairs.append((array, layer))
    if strokes_only_at_the_border(layer for _, layer in pairs):
        warnings.warn(BORDER_STROKES, StrokesWarning, stacklevel=3)
    return pairs


class StrokesWarning(UserWarning):
    """Strokes that will train a poor model (e.g. all of them at the image's border)."""


BORDER_STROKES = ("every stroke lies near the image's border (within a tenth of its width or "
                  "height): the filters there see a mirrored image, so the model learns what "
                  "the edge looks like rather than the inside. Paint some strokes away from "
                  "the edges")
"""What :func:`training_set` warns (and the workbench says) when
:func:`strokes_only_at_the_border`."""


def strokes_only_at_the_border(layers) -> bool:
    """Whether there are strokes and all of them lie in the outer tenth (at least 4 px) of
    every image's height or width (Y and X; a stack's slices may be painted anywhere).

    Examples
    --------
    >>> layer = np.zeros((100, 100), np.uint8)
    >>> layer[:, :5] = 1
    >>> strokes_only_at_the_border([layer])
    True
    >>> layer[50, 50] = 2
    >>> strokes_only_at_the_border([layer])
    False
    """
    painted = False
    for layer in layers:
        ys, xs = layer.shape[-2:]
        by, bx = max(4, ys // 10), max(4, xs // 10)
        if ys <= 2 * by or xs <= 2 * bx:
            return False  # too small to have an inside
        if layer[..., by:ys - by, bx:xs - bx].any():
            return False
        painted = painted or bool(layer.any())
    return painted


def annotated_classes(layers, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The classes painted in ``layers`` (at least two), and the class names to use.

    Returns the sorted painted values and ``classes``, or default names ``"class k"`` when
    ``classes`` is empty. Class values above ``microlab._checks.MAX_CLASS`` are refused
    before any name is made.

    Examples
    --------
    >>> annotated_classes([np.array([0, 1, 3])], [])
    (array([1, 3]), ['class 1', 'class 2', 'class 3'])
    """
    from ._checks import MAX_CLASS

    values = [np.unique(layer) for layer in layers]
    present = np.unique(np.concatenate(values)) if values else np.zeros(0, int)
    present = present[present > 0]
    if present.size == 0:
        raise ValueError(
            "the annotations have no labelled pixel (all 0 = unlabelled); paint a few "
            "strokes of at least two classes first"
        )
    if present.size == 1:
        raise ValueError(
            f"only class {int(present[0])} is annotated; a classifier needs strokes of at "
            "least two classes (e.g. the objects and the background)"
        )
    top = int(present.max())
    if top > MAX_CLASS:
        raise ValueError(
            f"the annotations use class {top}, but classes are numbered 1..{MAX_CLASS} at "
            "most; paint classes 1, 2, ... (is this a label image of objects?)"
        )
    if not classes:
        return present, [f"class {k}" for k in range(1, top + 1)]
    if top > len(classes):
        raise ValueError(
            f"the annotations use class {top} but only {len(classes)} "
            f"{'class is' if len(classes) == 1 else 'classes are'} named "
            f"({list(classes)}); add class names or fix the annotations"
        )
    return present, list(classes)


def _as_list(value, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"{name} is empty; pass at least one")
        return list(value)
    return [value]
