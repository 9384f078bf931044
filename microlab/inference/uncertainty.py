"""Uncertainty maps from class probabilities, and the regions a user should annotate next.

This is the iterative loop of active learning: train, predict, look where the model is least
sure, paint strokes there, retrain.
"""

from __future__ import annotations

import heapq
import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import as_array

KINDS = ("margin", "entropy")


def uncertainty(proba, kind: str = "margin") -> np.ndarray:
    """Per-pixel uncertainty in [0, 1] from ``(C, *spatial)`` class probabilities.

    Parameters
    ----------
    proba : array-like of float
        Probabilities of C ≥ 1 classes along the first axis (as returned by
        ``segmenter.predict_proba``); each pixel's values should sum to 1.
    kind : {"margin", "entropy"}
        ``"margin"``: 1 − (p₁ − p₂), one minus the gap between the two most probable classes
        (0 = certain, 1 = a tie). ``"entropy"``: Shannon entropy normalised by log C
        (0 = one class has all the mass, 1 = uniform).

    Returns
    -------
    ndarray of float32
        Shape ``proba.shape[1:]``, values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.5, 0.34], [0.1, 0.5, 0.33], [0.0, 0.0, 0.33]])
    >>> uncertainty(proba).round(2).tolist()
    [0.2, 1.0, 0.99]
    >>> uncertainty(proba, "entropy").round(2).tolist()
    [0.3, 0.63, 1.0]
    """
    array = as_array(proba, "proba")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"proba must hold probabilities (floats), got dtype {array.dtype}")
    if array.ndim < 2:
        raise ValueError(
            f"proba must be (C, *spatial) with a class axis first, got shape {array.shape}"
        )
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    array = array.astype(np.float32, copy=False)
    n = array.shape[0]
    if n == 1:
        return np.zeros(array.shape[1:], np.float32)
    if kind == "margin":
        top2 = np.partition(array, n - 2, axis=0)[n - 2 :]
        out = 1.0 - (top2[1] - top2[0])
    else:
        p = np.clip(array, 1e-12, 1.0)
        out = -(p * np.log(p)).sum(axis=0) / np.float32(math.log(n))
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def rank_regions(
    maps: Sequence, n: int = 5, size: int = 128
) -> list[tuple[int, tuple[slice, ...], float]]:
    """Rank square tiles of uncertainty maps by their mean uncertainty, highest first.

    Parameters
    ----------
    maps : sequence of array-like
        One uncertainty map per image, 2D ``(Y, X)`` or 3D ``(Z, Y, X)``; NaN marks pixels
        without a prediction (they are ignored; a tile with none is skipped).
    n : int
        How many regions to return (fewer if the images hold fewer tiles).
    size : int
        Tile edge in pixels along Y and X; 3D maps are tiled one plane at a time.

    Returns
    -------
    list of (image_index, slices, score)
        ``slices`` index the map (``(y, x)`` or ``(z, y, x)`` with a one-plane z slice);
        ``score`` is the tile's mean uncertainty.

    Examples
    --------
    >>> import numpy as np
    >>> calm, busy = np.zeros((8, 8)), np.zeros((8, 8))
    >>> busy[4:, :4] = 0.9
    >>> [(i, s, round(v, 2)) for i, s, v in rank_regions([calm, busy], n=1, size=4)]
    [(1, (slice(4, 8, None), slice(0, 4, None)), 0.9)]
    """
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels), got {size!r}")
    candidates = []
    for index, value in enumerate(maps):
        array = as_array(value, f"maps[{index}]").astype(np.float32, copy=False)
        if array.ndim not in (2, 3):
            raise ValueError(
                f"maps[{index}] must be 2D (Y, X) or 3D (Z, Y, X), got shape {array.shape}"
            )
        planes = array[np.newaxis] if array.ndim == 2 else array
        for z, plane in enumerate(planes):
            for score, ys, xs in _tile_means(plane, int(size)):
                where = (ys, xs) if array.ndim == 2 else (slice(z, z + 1), ys, xs)
                candidates.append((score, -index, -z, -ys.start, -xs.start, index, where))
    best = heapq.nlargest(int(n), candidates, key=lambda c: c[:5])
    return [(c[5], c[6], float(c[0])) for c in best]


def _tile_means(plane: np.ndarray, size: int):
    """Yield (mean, y slice, x slice) of each ``size`` tile of a 2D map, NaN ignored."""
    ny, nx = (-(-s // size) for s in plane.shape)
    valid = np.isfinite(plane)
    values = np.where(valid, plane, 0.0)
    pad = ((0, ny * size - plane.shape[0]), (0, nx * size - plane.shape[1]))
    sums = np.pad(values, pad).reshape(ny, size, nx, size).sum(axis=(1, 3))
    counts = np.pad(valid, pad).reshape(ny, size, nx, size).sum(axis=(1, 3))
    for ty, tx in zip(*np.nonzero(counts), strict=True):
        ys = slice(int(ty) * size, min(plane.shape[0], (int(ty) + 1) * size))
        xs = slice(int(tx) * size, min(plane.shape[1], (int(tx) + 1) * size))
        yield float(sums[ty, tx] / counts[ty, tx]), ys, xs


def worst_regions(
    segmenter, images, n: int = 5, size: int = 128, *, kind: str = "margin"
) -> list[tuple[int, tuple[slice, ...], float]]:
    """The ``n`` regions where a segmenter is least sure, across all images.

    Each image is predicted with ``segmenter.predict_proba``, turned into an
    :func:`uncertainty` map and cut into ``size`` × ``size`` tiles; tiles are ranked by their
    mean uncertainty. Works with any :class:`microlab.Segmenter` (Random Forest or U-Net).

    Parameters
    ----------
    segmenter : Segmenter
        A trained segmenter.
    images : image or list of images
        What ``segmenter.predict_proba`` accepts (``microlab.Image`` or arrays).
    n : int
        How many regions to return.
    size : int
        Tile edge in pixels (Y and X; 3D images are tiled plane by plane).
    kind : {"margin", "entropy"}
        The uncertainty measure, see :func:`uncertainty`.

    Returns
    -------
    list of (image_index, slices, score)
        Most uncertain first; ``slices`` index the image's spatial axes.

    Examples
    --------
    >>> import microlab
    >>> image, truth = microlab.data.sandstone()
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"]).fit(
    ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
    >>> regions = microlab.worst_regions(rf, [image], n=3, size=128)
    >>> [(i, s[0].start % 128, round(score, 1) <= 1) for i, s, score in regions][0]
    (0, 0, True)
    """
    if not hasattr(segmenter, "predict_proba"):
        raise TypeError(
            f"segmenter must be a trained microlab Segmenter, got {type(segmenter).__name__}"
        )
    if not isinstance(images, (list, tuple)):
        images = [images]
    if not images:
        raise ValueError("images is empty; pass at least one image")
    maps = [uncertainty(segmenter.predict_proba(image), kind) for image in images]
    return rank_regions(maps, n=n, size=size)
