"""Synthetic microscopy scenes with dense ground truth: phases, cells, textures.

Companions of :func:`microlab.data.synthetic_nuclei` for pretraining and testing the deep
tier. Each draws, from one seeded generator, a label image and an image in which the classes
differ the way they do in real micrographs (mean intensity, texture, thin bright walls),
degraded by uneven illumination, optical blur and noise.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi


def _shape2d(shape) -> tuple[int, int]:
    shape = tuple(shape)
    if len(shape) != 2 or not all(isinstance(s, numbers.Integral) and s >= 8 for s in shape):
        raise ValueError(f"shape must be (Y, X) with sides >= 8, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _smooth_field(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise scaled to zero mean, unit standard deviation."""
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _degrade(signal: np.ndarray, rng: np.random.Generator, blur, noise, illumination):
    """Uneven illumination (smooth multiplicative field), Gaussian blur, shot + read noise."""
    shape = signal.shape
    if illumination > 0:
        yy, xx = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * yy + np.sin(angle) * xx
        signal = signal * (1 - illumination * (ramp + 1) / 2)
    if blur > 0:
        signal = ndi.gaussian_filter(signal, blur)
    if noise > 0:
        signal = signal + noise * np.sqrt(np.clip(signal, 0, None)) * rng.standard_normal(shape)
        signal = signal + noise / 2 * rng.standard_normal(shape)
    return signal.astype(np.float32)


def synthetic_phases(
    shape=(256, 256),
    classes: int = 4,
    *,
    scale: float | None = None,
    blur: float = 1.0, noise: float = 0.08, illumination: float = 0.2,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A multi-phase material (like a micro-CT slice of rock): phases by grey level.

    A smooth random field cut at random levels gives ``classes`` phases with rounded grains
    and thin rims; each phase gets its own grey level and grain-scale texture.

    Parameters
    ----------
    shape : (int, int)
        Image size.
    classes : int
        Number of phases (2..8); label k is the k-th darkest phase.
    scale : float, optional
        Grain size in pixels (the field's smoothing); random in [4, 16] by default.
    blur, noise, illumination : float
        Gaussian blur σ (pixels), noise level, strength of the illumination ramp (0..1).
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    image : ndarray of float32
    labels : ndarray of uint8, values 1..classes

    Examples
    --------
    >>> image, labels = synthetic_phases((64, 64), 3, seed=1)
    >>> image.shape, np.unique(labels).tolist()
    ((64, 64), [1, 2, 3])
    """
    shape = _shape2d(shape)
    if not isinstance(classes, numbers.Integral) or not 2 <= classes <= 8:
        raise ValueError(f"classes must be an integer from 2 to 8, got {classes!r}")
    rng = np.random.default_rng(seed)
    scale = rng.uniform(4, 16) if scale is None else float(scale)
    field = _smooth_field(shape, scale, rng)
    cuts = np.quantile(field, np.sort(rng.uniform(0.05, 0.95, classes - 1)))
    labels = (np.searchsorted(cuts, field) + 1).astype(np.uint8)
    means = np.sort(rng.uniform(0.05, 1.0, classes))
    means[1:] = np.maximum(means[1:], means[:-1] + 0.06)  # phases differ visibly
    texture = _smooth_field(shape, rng.uniform(0.5, 2.5), rng)
    amplitude = rng.uniform(0.0, 0.06, classes)
    signal = means[labels - 1] + amplitude[labels - 1] * texture
    return _degrade(signal, rng, blur, noise, illumination), labels


def synthetic_cells(
    shape=(256, 256),
    *,
    size: float | None = None,
    wall: float | None = None,
    blur: float = 1.0, noise: float = 0.08, illumination: float = 0.2,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tissue-like cells with bright walls (membrane stain): background, wall, interior.

    Cells are Voronoi regions of random seeds over part of the field; their walls are the
    pixels within ``wall`` of another cell or the background.

    Parameters
    ----------
    shape : (int, int)
        Image size.
    size : float, optional
        Typical cell diameter in pixels (random in [16, 48] by default).
    wall : float, optional
        Wall half-thickness in pixels (random in [1, 3] by default).
    blur, noise, illumination : float
        As in :func:`synthetic_phases`.
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    image : ndarray of float32
    labels : ndarray of uint8, 1 = background, 2 = wall, 3 = interior

    Examples
    --------
    >>> image, labels = synthetic_cells((96, 96), seed=2)
    >>> np.unique(labels).tolist()
    [1, 2, 3]
    """
    shape = _shape2d(shape)
    rng = np.random.default_rng(seed)
    size = rng.uniform(16, 48) if size is None else float(size)
    wall = rng.uniform(1, 3) if wall is None else float(wall)
    n = max(2, int(shape[0] * shape[1] / size**2))
    seeds = np.zeros(shape, np.int32)
    ys, xs = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    seeds[ys, xs] = np.arange(1, n + 1)
    _, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[iy, ix]
    tissue = _smooth_field(shape, max(shape) / 6, rng) > rng.uniform(-1.0, 0.3)
    cells[~tissue] = 0
    edges = np.zeros(shape, bool)
    edges[:-1] |= cells[:-1] != cells[1:]
    edges[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    walls = ndi.distance_transform_edt(~edges) <= wall
    labels = np.where(cells == 0, 1, np.where(walls, 2, 3)).astype(np.uint8)
    labels[(cells == 0) & walls] = 2
    inside = rng.uniform(0.15, 0.5, n + 1)[cells] * (cells > 0)
    signal = 0.05 + inside * (1 + 0.1 * _smooth_field(shape, 1.5, rng))
    signal = np.where(labels == 2, rng.uniform(0.7, 1.0), signal)
    return _degrade(signal, rng, blur, noise, illumination), labels


def synthetic_textures(
    shape=(256, 256),
    classes: int = 3,
    *,
    blur: float = 0.7,
    noise: float = 0.05,
    illumination: float = 0.2,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Regions told apart by texture, not brightness: grain size, contrast, orientation.

    Parameters
    ----------
    shape : (int, int)
        Image size.
    classes : int
        Number of textures (2..6).
    blur, noise, illumination : float
        As in :func:`synthetic_phases`.
    seed : int, optional
        Random seed: the same seed gives the same textures.

    Returns
    -------
    image : ndarray of float32
    labels : ndarray of uint8
        The texture of each pixel, 1..classes.

    Examples
    --------
    >>> image, labels = synthetic_textures((64, 64), 2, seed=3)
    >>> image.dtype, labels.max()
    (dtype('float32'), np.uint8(2))
    """
    shape = _shape2d(shape)
    if not isinstance(classes, numbers.Integral) or not 2 <= classes <= 6:
        raise ValueError(f"classes must be an integer from 2 to 6, got {classes!r}")
    rng = np.random.default_rng(seed)
    field = _smooth_field(shape, rng.uniform(10, 30), rng)
    cuts = np.quantile(field, np.linspace(0, 1, classes + 1)[1:-1])
    labels = (np.searchsorted(cuts, field) + 1).astype(np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    signal = np.zeros(shape, np.float32)
    mean = rng.uniform(0.3, 0.6)
    for k in range(1, classes + 1):
        kind = rng.integers(3)
        if kind == 0:  # blobs of a given grain size
            pattern = _smooth_field(shape, rng.uniform(0.6, 4), rng)
        elif kind == 1:  # oriented stripes
            angle, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
            pattern = np.sin(2 * np.pi * (np.cos(angle) * xx + np.sin(angle) * yy) / period)
            pattern = pattern + 0.3 * _smooth_field(shape, 1, rng)
        else:  # sparse bright speckles
            pattern = (rng.random(shape) < rng.uniform(0.01, 0.05)).astype(np.float32)
            pattern = ndi.gaussian_filter(pattern, rng.uniform(0.7, 1.5))
            pattern = (pattern - pattern.mean()) / (pattern.std() + 1e-12)
        signal = np.where(labels == k, mean + rng.uniform(0.05, 0.2) * pattern, signal)
    return _degrade(np.clip(signal, 0, None), rng, blur, noise, illumination), labels
