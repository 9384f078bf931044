"""Working on small objects at a larger scale: what ``object_scale`` of both tiers does.

Objects only a few pixels across leave a segmenter little to go on: a 2-pixel boundary
ring is a third of a nucleus of radius 5.5, and the smallest filters are already as wide
as the gaps between touching nuclei. In instance mode both tiers therefore enlarge images
whose painted objects are smaller than :data:`OBJECT_RADIUS`, learn and predict at that
scale, and bring the probabilities back to the image's own pixels.

Measured on real nuclei of radius 5.5 px overlapping by up to 15 % (three real sources,
20 nuclei painted, 3 CPU-minutes for the U-Net; ``benchmarks/bench_unet_nuclei.py --real
--radius 4 7 --overlap 0.15``): enlarged to radius 9 before training, the forest in
instance mode went from AP@0.5 / AP@0.75 0.878 / 0.648 to 0.915 / 0.765 and the U-Net
from 0.886 / 0.712 to 0.922 / 0.772. Enlarging only the probabilities before objects are
found was worth little (the forest 0.883 / 0.661, the U-Net 0.896 / 0.700), and so was a
1-pixel boundary at the image's own scale: the gain is the models' seeing the objects
larger.

:func:`microlab.instances` applies the same rule when it reads a boundary prediction
(``kind="boundary"``) whose objects are small and touch: it finds them on the probabilities
enlarged, then brings the labels back (its ``object_scale``; small objects that mostly
stand apart are found at their own pixels, session 64). That is a different gain, the object
finder's rather than the models', and it comes on top: on the nuclei of radius 4.5 px of
the same benchmark (``--radius 3.5 5.5``), the enlarged U-Net's objects went from 0.877 /
0.691 to 0.926 / 0.748, the forest's from 0.903 / 0.675 to 0.912 / 0.740.

A factor below 1 (given as ``object_scale``) shrinks images instead, each new pixel the
mean of the old pixels it covers. On real nuclei of radius 24 and 32 px (session 39,
``bench_unet_nuclei.py --real --radius 18 30`` / ``24 40 --size 768 --overlap 0.15
--object-scales 1 auto`` with a rule that shrank them to radius 16) the U-Net gained in
one source of three (osteosarcoma, +0.04 to +0.05 AP@0.5) and lost a little in the
others, so by default nothing is shrunk.
"""

from __future__ import annotations

import numbers

import numpy as np

OBJECT_RADIUS = 9.0
"""In instance mode, images whose painted objects have a smaller typical radius (pixels)
are enlarged until it is this (by default; ``object_scale=None``)."""
MAX_SCALE = 2.0
"""The most the default enlarges an image (4 times the pixels to learn and predict)."""
MIN_SCALE = 1.2
"""The default leaves images whose factor would be smaller at their own scale: resampling
blurs a little, costs time, and a few percent larger objects gain nothing."""


def check_object_scale(value) -> float | None:
    """``object_scale`` as given: None (the default rule) or a factor from 0.25 to 4.

    Examples
    --------
    >>> check_object_scale(None), check_object_scale(1.5)
    (None, 1.5)
    >>> check_object_scale(0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: object_scale must be None (...) or a factor from 0.25 to 4 (...), got 0
    """
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0.25 <= value <= 4):
        raise ValueError("object_scale must be None (the default: small objects "
                         "enlarged) or a factor from 0.25 to 4 (1 = the image's own "
                         f"scale), got {value!r}")
    return float(value)


def default_scale(radius: float | None) -> float:
    """The factor that brings painted objects of typical ``radius`` up to
    :data:`OBJECT_RADIUS` (at most :data:`MAX_SCALE`, two decimals; 1 below
    :data:`MIN_SCALE`: never shrinking).

    Examples
    --------
    >>> default_scale(5.5), default_scale(4.0), default_scale(8.0), default_scale(None)
    (1.64, 2.0, 1.0, 1.0)
    """
    if radius is None or radius <= 0:
        return 1.0
    scale = round(float(min(OBJECT_RADIUS / radius, MAX_SCALE)), 2)
    return scale if scale >= MIN_SCALE else 1.0


def scale_words(scale: float) -> str:
    """How images at ``scale`` are resized, in words.

    >>> scale_words(1.64), scale_words(0.5), scale_words(1)
    ('enlarged 1.64 times', 'shrunk to 0.5 times their size', 'at their own scale')
    """
    if scale == 1:
        return "at their own scale"
    if scale > 1:
        return f"enlarged {scale:g} times"
    return f"shrunk to {scale:g} times their size"


def scaled_shape(spatial: tuple[int, ...], scale: float) -> tuple[int, ...]:
    """The shape of a 2D image (or of each plane of a stack) enlarged by ``scale``.

    >>> scaled_shape((100, 51), 1.45)
    (145, 74)
    """
    return (*spatial[:-2], *(max(1, round(n * scale)) for n in spatial[-2:]))


def resample(array: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    """``array`` with its last two axes resampled to ``shape[-2:]``: linearly (``order=1``,
    images and probabilities: each pixel's class probabilities keep summing to 1; shrunk,
    each new pixel is the mean of the old pixels' areas it covers, so nothing is skipped)
    or to the nearest pixel (``order=0``, annotations), pixel edges on pixel edges.

    Examples
    --------
    >>> proba = np.stack([np.eye(4, dtype=np.float32), 1 - np.eye(4, dtype=np.float32)])
    >>> big = resample(proba, (6, 6), order=1)
    >>> big.shape, bool(np.allclose(big.sum(axis=0), 1))
    ((2, 6, 6), True)
    >>> resample(np.array([[1, 2], [3, 4]], np.uint8), (4, 4), order=0)[0].tolist()
    [1, 1, 2, 2]
    >>> resample(np.arange(16, dtype=np.float32).reshape(4, 4), (2, 2), order=1).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    from scipy import ndimage as ndi

    target = tuple(shape[-2:])
    if tuple(array.shape[-2:]) == target:
        return array
    if order == 1 and all(t <= s for t, s in zip(target, array.shape[-2:], strict=True)):
        return _area_mean(array, target)
    factors = (1.0,) * (array.ndim - 2) + tuple(
        t / s for t, s in zip(target, array.shape[-2:], strict=True))
    out = ndi.zoom(array, factors, order=order, mode="nearest", grid_mode=True,
                   prefilter=False)
    if out.shape[-2:] != target:  # rounding of a factor: never expected, cheap to guard
        raise RuntimeError(f"resampled to {out.shape[-2:]}, expected {target}")
    return out


def _area_mean(array: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    """``array``'s last two axes shrunk to ``target``, each new pixel the mean of the old
    pixels' areas it covers (OpenCV's ``INTER_AREA``), in ``array``'s dtype."""
    import cv2

    planes = np.ascontiguousarray(array).reshape(-1, *array.shape[-2:])
    work = planes if planes.dtype in (np.float32, np.float64) else planes.astype(np.float32)
    out = np.empty((len(planes), *target), work.dtype)
    for k, plane in enumerate(work):
        out[k] = cv2.resize(plane, target[::-1], interpolation=cv2.INTER_AREA)
    if out.dtype != array.dtype:
        out = (np.rint(out) if np.issubdtype(array.dtype, np.integer) else out).astype(
            array.dtype)
    return out.reshape(*array.shape[:-2], *target)
