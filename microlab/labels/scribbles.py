"""Painting into annotation layers, and simulated scribbles for tutorials and benchmarks."""

from __future__ import annotations

import numpy as np

from .._checks import as_array


def _disk_offsets(radius: float, ndim: int) -> np.ndarray:
    r = int(np.floor(radius))
    grid = np.mgrid[(slice(-r, r + 1),) * ndim].reshape(ndim, -1).T
    return grid[(grid**2).sum(1) <= radius**2]


def paint_disk(layer: np.ndarray, center, radius: float, value: int, *, where=None) -> int:
    """Paint a disk (a ball in 3D) into an annotation layer, in place.

    Brush and eraser are the same operation: the eraser paints ``value=0``. Pixels outside
    the layer are skipped, so a stroke may run off the image edge.

    Parameters
    ----------
    layer : ndarray of int
        The annotation layer to modify (0 = unlabelled).
    center : sequence of float
        Disk centre in pixel coordinates, one per axis of ``layer``.
    radius : float
        Radius in pixels (0 paints a single pixel).
    value : int
        Class to paint, or 0 to erase.
    where : ndarray of bool, optional
        Paint only where this mask is True (e.g. inside one class of a ground truth).

    Returns
    -------
    int
        Number of pixels written.

    Examples
    --------
    >>> layer = np.zeros((4, 4), np.uint8)
    >>> paint_disk(layer, (0, 0), radius=1, value=2)   # clipped at the corner
    3
    """
    if not isinstance(layer, np.ndarray):
        raise TypeError("layer must be a numpy array that is modified in place")
    if len(center) != layer.ndim:
        raise ValueError(f"center needs {layer.ndim} coordinates, got {len(center)}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    pts = _disk_offsets(radius, layer.ndim) + np.round(np.asarray(center)).astype(int)
    inside = np.all((pts >= 0) & (pts < np.array(layer.shape)), axis=1)
    idx = tuple(pts[inside].T)
    if where is not None:
        keep = where[idx]
        idx = tuple(i[keep] for i in idx)
    layer[idx] = value
    return len(idx[0])


def scribbles_from_truth(
    truth,
    fraction: float = 0.01,
    *,
    radius: float = 3,
    seed: int = 0,
) -> np.ndarray:
    """Simulate a user's brush dabs from a ground truth: about ``fraction`` of each class.

    Disks of ``radius`` pixels are dabbed at random (seeded) positions inside each class and
    clipped to it, until the class has about ``fraction`` of its pixels labelled. This is how
    the tutorials and benchmarks stand in for a person painting a few strokes.

    Parameters
    ----------
    truth : array-like of int
        Dense labels, 0 = unknown, 1..C = classes; 2D or 3D.
    fraction : float
        Share of each class's pixels to label, in (0, 1].
    radius : float
        Brush radius in pixels.
    seed : int
        Random seed; the same seed gives the same scribbles.

    Returns
    -------
    ndarray of uint8 or uint16
        Sparse annotations with the same shape (0 = unlabelled).

    Examples
    --------
    >>> truth = np.ones((100, 100), np.uint8); truth[:, 50:] = 2
    >>> marks = scribbles_from_truth(truth, 0.05, radius=2)
    >>> sorted(np.unique(marks).tolist()), bool(0.04 < (marks == 1).sum() / 5000 < 0.08)
    ([0, 1, 2], True)
    """
    truth = as_array(truth, "truth")
    if truth.dtype.kind not in "biu":
        raise TypeError(f"truth must be integer labels, got {truth.dtype}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    out = np.zeros(truth.shape, np.uint8 if truth.max(initial=0) < 256 else np.uint16)
    offsets = _disk_offsets(radius, truth.ndim)
    shape = np.array(truth.shape)
    for k in np.unique(truth):
        if k == 0:
            continue
        where = np.flatnonzero(truth == k)
        target = max(1, round(fraction * where.size))
        painted = 0
        while painted < target:
            batch = max(1, (target - painted) // (2 * len(offsets)))
            centres = np.stack(np.unravel_index(rng.choice(where, batch), truth.shape), 1)
            pts = (centres[:, None, :] + offsets[None]).reshape(-1, truth.ndim)
            pts = pts[np.all((pts >= 0) & (pts < shape), axis=1)]
            idx = tuple(pts.T)
            ok = truth[idx] == k
            idx = tuple(i[ok] for i in idx)
            out[idx] = k
            painted = int(np.count_nonzero(out == k))
    return out
