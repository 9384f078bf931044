"""Synthetic fluorescent nuclei with ground truth, in 2D and 3D.

Touching ellipsoidal nuclei of various sizes and brightnesses with chromatin texture, uneven
illumination, optical blur and camera noise (Poisson shot noise plus Gaussian read noise),
each pixel's true object recorded in a label image. Everything is drawn from one seeded random
generator, so a seed names a dataset: benchmarks, tests and pretraining see the same images.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi

from .._checks import positive_spacing

_BACKGROUND = 0.04


def synthetic_nuclei(
    shape: tuple[int, ...] = (256, 256),
    n: int | None = None,
    *,
    radius: tuple[float, float] = (6.0, 14.0),
    touching: bool = True,
    blur: float = 1.0,
    noise: float = 0.05,
    illumination: float = 0.3,
    seed: int | None = 0,
    spacing: tuple[float, ...] | float | None = None,
    dtype: type = np.float32,
    elongation: float = 0.25,
    chromatin: tuple[float, float] = (0.12, 1.5),
    bright: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a fluorescence image of nuclei and its ground-truth instance labels.

    Nuclei are ellipses (2D) or ellipsoids (3D) with random size, elongation, orientation
    and brightness, a brighter centre (thicker middle) and a granular chromatin texture.
    With ``touching=True`` about two thirds of them are placed against a nucleus already
    drawn, forming clumps whose members overlap slightly; where two overlap, each pixel goes
    to the nucleus whose centre it is relatively closer to, as a watershed would split them.
    The image is then lit unevenly, blurred, and photon and read noise are added.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` or ``(Z, Y, X)``.
    n : int, optional
        How many nuclei to place. By default enough to cover about 30 % of the image. Fewer
        are placed if the image is too crowded to fit them.
    radius : (float, float)
        Smallest and largest mean semi-axis of a nucleus, in the units of ``spacing``
        (pixels when ``spacing`` is None).
    touching : bool
        Place nuclei in touching clumps (True) or every nucleus apart from the others with a
        gap of at least 2 pixels (False).
    blur : float
        Standard deviation of the Gaussian blur (the microscope's point-spread function), in
        pixels along each axis; 0 for none.
    noise : float
        Relative noise level: Poisson shot noise with a standard deviation of ``noise`` at the
        brightest nucleus intensity (1.0), plus Gaussian read noise of ``noise / 2``; 0 for
        a noise-free image.
    illumination : float
        Strength of the uneven illumination, 0 (flat) to < 1: the intensity falls by up to
        this fraction away from a random bright spot.
    seed : int or None
        Seed of the random generator; the same seed gives the same image.
    spacing : float or tuple of float, optional
        Physical pixel size per axis. Nuclei are round in physical space, so an anisotropic
        spacing (e.g. ``(2.0, 0.5, 0.5)`` for a z-stack) makes them flat in voxels.
    dtype : numpy dtype
        ``np.float32`` (background about 0.04, brightest nuclei about 1.0) or ``np.uint16``
        (the same scaled to a 12-bit camera range, 0..4095).
    elongation : float
        How far a nucleus may depart from round: each semi-axis is stretched by
        ``exp(u)``, ``u`` uniform in ``[-elongation, elongation]`` (area kept). The default
        0.25 gives aspect ratios up to 1.65 (median about 1.15); 0.6 up to 3.3 (median
        about 1.4), nearer many cultured-cell nuclei (a DSB 2018 crop: median 1.6).
    chromatin : (float, float)
        Strength (relative standard deviation) and grain size (px) of the chromatin texture
        inside the nuclei. A strength of 0.3 with grains of 3 px gives the dark patches of
        condensed chromatin that can split a segmentation across a nucleus.
    bright : float
        Share of nuclei drawn 2–4 times brighter than the rest (mitotic or apoptotic nuclei,
        condensed and brighter), which then set the image's top grey levels.

    Returns
    -------
    image : ndarray
        The synthetic fluorescence image, ``shape``, of ``dtype``.
    labels : ndarray of int32
        Ground truth: 0 for background, 1..N for the nuclei, numbered in the order placed.

    Examples
    --------
    >>> image, labels = synthetic_nuclei((128, 128), n=20, seed=1)
    >>> image.shape, image.dtype, labels.max()
    ((128, 128), dtype('float32'), np.int32(20))
    >>> volume, truth = synthetic_nuclei((24, 64, 64), n=8, radius=(4, 7), spacing=(2, 1, 1))
    >>> volume.shape == truth.shape
    True
    """
    shape = _check_shape(shape)
    ndim = len(shape)
    space = np.array(positive_spacing(spacing, ndim) or (1.0,) * ndim)
    r_min, r_max = _check_radius(radius)
    for name, value, top in (("blur", blur, None), ("noise", noise, None),
                             ("illumination", illumination, 1.0)):
        if not isinstance(value, numbers.Real) or not (
            0 <= value and (top is None or value < top)
        ):
            bound = f"in [0, {top})" if top else ">= 0"
            raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.uint16)):
        raise TypeError(f"dtype must be np.float32 or np.uint16, got {np.dtype(dtype)}")
    rng = np.random.default_rng(seed)
    extent = np.array(shape) * space
    if n is None:
        mean_volume = _ball_volume(ndim) * ((r_min + r_max) / 2) ** ndim
        n = max(1, int(0.3 * np.prod(extent) / mean_volume))
    elif not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")

    for name, value, top in (("elongation", elongation, 2), ("bright", bright, 1)):
        if not isinstance(value, numbers.Real) or not 0 <= value <= top:
            raise ValueError(f"{name} must be a number from 0 to {top}, got {value!r}")
    try:
        strength, grain = (float(c) for c in chromatin)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"chromatin must be a pair (strength, grain size in px), "
                        f"got {chromatin!r}") from exc
    if not (0 <= strength < 1 and grain > 0):
        raise ValueError(f"chromatin must be (strength from 0 to < 1, grain size > 0 px), "
                         f"got {chromatin!r}")
    nuclei = _place(int(n), extent, r_min, r_max, touching, rng, elongation, bright)
    labels, profile = _rasterise(nuclei, shape, space)
    signal = _BACKGROUND + profile * _texture(shape, rng, strength, grain)
    signal *= _illumination(shape, illumination, rng)
    if blur > 0:
        signal = ndi.gaussian_filter(signal, blur)
    if noise > 0:
        scale = noise**2
        signal = rng.poisson(np.clip(signal, 0, None) / scale) * scale
        signal = signal + rng.normal(0.0, noise / 2, shape)
    signal = np.clip(signal, 0, None)
    if np.dtype(dtype) == np.uint16:
        return np.clip(np.round(signal * 4095), 0, 65535).astype(np.uint16), labels
    return signal.astype(np.float32), labels


def _check_shape(shape) -> tuple[int, ...]:
    try:
        values = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a tuple of 2 or 3 ints, got {shape!r}") from exc
    if len(values) not in (2, 3) or min(values) < 1 or values != tuple(shape):
        raise ValueError(
            f"shape must be (Y, X) or (Z, Y, X) with positive integer sizes, got {shape!r}"
        )
    return values


def _check_radius(radius) -> tuple[float, float]:
    try:
        low, high = (float(r) for r in radius)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"radius must be a pair (smallest, largest), got {radius!r}") from exc
    if not 0 < low <= high:
        raise ValueError(f"radius must satisfy 0 < smallest <= largest, got {radius!r}")
    return low, high


def _ball_volume(ndim: int) -> float:
    return np.pi if ndim == 2 else 4 / 3 * np.pi


def _random_rotation(ndim: int, rng: np.random.Generator) -> np.ndarray:
    if ndim == 2:
        angle = rng.uniform(0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, -s], [s, c]])
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _place(n, extent, r_min, r_max, touching, rng, elongation=0.25, bright=0.0) -> list[dict]:
    """Choose centres, semi-axes, orientations and brightnesses of up to ``n`` nuclei."""
    ndim = len(extent)
    nuclei: list[dict] = []
    centres = np.empty((0, ndim))
    reach = np.empty(0)  # largest semi-axis of each placed nucleus
    mean_r = np.empty(0)
    for _ in range(50 * n):
        if len(nuclei) == n:
            break
        r = rng.uniform(r_min, r_max)
        stretch = np.exp(rng.uniform(-elongation, elongation, ndim))
        axes = r * stretch / np.prod(stretch) ** (1 / ndim)
        clump = touching and len(nuclei) > 0 and rng.random() < 0.65
        if clump:
            j = rng.integers(len(nuclei))
            direction = rng.normal(size=ndim)
            direction /= np.linalg.norm(direction)
            centre = centres[j] + direction * (r + mean_r[j]) * rng.uniform(0.85, 1.0)
        else:
            centre = rng.uniform(0, 1, ndim) * extent
        if np.any(centre < 0) or np.any(centre > extent):
            continue
        if len(nuclei):
            d = np.linalg.norm(centres - centre, axis=1)
            if touching:
                too_close = d < 0.85 * (r + mean_r)
                if not clump:
                    too_close |= d < axes.max() + reach + 2
            else:
                too_close = d < axes.max() + reach + 2
            if too_close.any():
                continue
        nuclei.append(
            {
                "centre": centre,
                "axes": axes,
                "rotation": _random_rotation(ndim, rng),
                "brightness": rng.uniform(0.45, 1.0),
            }
        )
        if bright and rng.random() < bright:  # condensed chromatin: brighter
            nuclei[-1]["brightness"] *= rng.uniform(2.0, 4.0)
        centres = np.vstack([centres, centre])
        reach = np.append(reach, axes.max())
        mean_r = np.append(mean_r, r)
    return nuclei


def _rasterise(nuclei, shape, space) -> tuple[np.ndarray, np.ndarray]:
    """Draw the nuclei: labels (closest in normalised distance wins) and a brightness map."""
    labels = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf)
    profile = np.zeros(shape)
    shape_arr = np.array(shape)
    for index, nucleus in enumerate(nuclei, start=1):
        centre = nucleus["centre"] / space
        half = nucleus["axes"].max() / space + 1
        low = np.maximum(np.floor(centre - half).astype(int), 0)
        high = np.minimum(np.ceil(centre + half).astype(int) + 1, shape_arr)
        if np.any(high <= low):
            continue
        ranges = list(zip(low, high, strict=True))
        box = tuple(slice(a, b) for a, b in ranges)
        grids = np.meshgrid(*(np.arange(a, b) for a, b in ranges), indexing="ij")
        offset = np.stack(
            [(g - c) * s for g, c, s in zip(grids, centre, space, strict=True)], axis=-1
        )
        local = offset @ nucleus["rotation"]
        f = np.sum((local / nucleus["axes"]) ** 2, axis=-1)
        inside = f <= 1
        take = inside & (f < best[box])
        labels[box][take] = index
        best[box][take] = f[take]
        dome = nucleus["brightness"] * (0.3 + 0.7 * np.sqrt(np.clip(1 - f, 0, 1)))
        profile[box][take] = dome[take]
    return labels, profile


def _texture(shape, rng, strength=0.12, size=1.5) -> np.ndarray:
    grain = ndi.gaussian_filter(rng.normal(size=shape), size)
    grain /= grain.std() or 1.0
    reach = strength / 0.24  # clipped at about 4 standard deviations
    return np.clip(1 + strength * grain, max(0.05, 1 - reach), 1 + reach)


def _illumination(shape, strength, rng) -> np.ndarray:
    if strength == 0:
        return np.ones(shape)
    grids = np.meshgrid(*(np.linspace(0, 1, s) for s in shape), indexing="ij")
    spot = rng.uniform(0, 1, len(shape))
    d2 = sum((g - c) ** 2 for g, c in zip(grids, spot, strict=True)) / len(shape)
    return 1 - strength * np.clip(d2 / 0.5, 0, 1)
