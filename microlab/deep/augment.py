"""On-the-fly augmentation with kornia, applied identically to images and sparse labels.

Geometric transforms (flips; with ``heavy=True`` also rotation by any angle, zoom,
anisotropic stretch, shear and elastic deformation) move image and labels together; labels
are resampled by nearest neighbour, so they only take values they had at the source
location, and areas brought in from outside the patch are filled with 0 = unlabelled
(ignored by the loss), never invented.
Intensity transforms (brightness, contrast; with ``heavy=True`` also gamma, noise, blur)
touch the image only.

:func:`dimmed_copy` works on whole raw training planes instead: a copy in which each
painted object is dimmer by its own factor, for the autocontext forest and the network
alike (``UNetSegmenter(dimmed=...)``, instance mode); :func:`dim_blobs` and
:func:`many_dim` tell where it is needed (the default, ``dimmed=None``, asks them).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._checks import annotation_array, spatial_image
from ..intensity import normalise
from ..labels.boundary import BACKGROUND, BOUNDARY, INTERIOR
from .runtime import ignore_library_noise


def make_augmenter(
    crop: int | None = None, *, intensity: bool = True, resample="bilinear", heavy: bool = False
):
    """The kornia pipeline: ``augmenter(images (B,C,Y,X), labels (B,1,Y,X))``.

    ``crop`` centre-crops after the geometric transforms (training samples larger patches,
    so rotations bring in real context rather than padding). ``resample`` is the image's
    interpolation; labels always use nearest neighbour.

    The default is light: horizontal and vertical flips (no resampling of the image) and a
    mild brightness/contrast jitter (±5 %, ±10 %). The ``heavy=True`` pipeline (rotation,
    zoom, anisotropic stretch, shear, elastic deformation, gamma, noise and blur) resamples
    and blurs the image, washing out the subtle grey levels that tell a thin intermediate
    phase from partial-volume edges; on sandstone micro-CT from sparse scribbles (2-minute
    CPU screens, one seed, run-to-run spread about ±0.05) the light pipeline scored
    0.69-0.80 mean IoU (median 0.76) against 0.71-0.73 for the heavy one.
    """
    import kornia.augmentation as K
    from kornia.constants import DataKey, Resample

    if heavy:
        steps = [
            K.RandomHorizontalFlip(),
            K.RandomVerticalFlip(),
            K.RandomAffine(
                degrees=180.0,
                scale=(0.75, 1.33, 0.75, 1.33),  # zoom and anisotropic stretch
                shear=(-10.0, 10.0, -10.0, 10.0),
                resample=resample,
                p=0.8,
            ),
            K.RandomElasticTransform(
                kernel_size=(63, 63), sigma=(12.0, 12.0), alpha=(0.5, 0.5), resample=resample,
                p=0.3,
            ),
        ]
    else:
        steps = [K.RandomHorizontalFlip(), K.RandomVerticalFlip()]
    if crop is not None:
        steps.append(K.CenterCrop(crop))
    if intensity and heavy:
        steps += [
            K.RandomBrightness((0.85, 1.15), clip_output=False, p=0.5),
            K.RandomContrast((0.75, 1.25), clip_output=False, p=0.5),
            K.RandomGamma((0.7, 1.4), p=0.3),
            K.RandomGaussianBlur((5, 5), (0.1, 1.2), p=0.2),
            K.RandomGaussianNoise(std=0.03, p=0.3),
        ]
    elif intensity:
        steps += [
            K.RandomBrightness((0.95, 1.05), clip_output=False, p=0.5),
            K.RandomContrast((0.9, 1.1), clip_output=False, p=0.5),
        ]
    return K.AugmentationSequential(
        *steps,
        data_keys=["input", "mask"],
        extra_args={DataKey.MASK: {"resample": Resample.NEAREST, "align_corners": False}},
    )


DIM_LOW = 0.1
"""The lowest gain of :func:`dimmed_copy`: a tenth of an object's contrast over the
background (real nuclei in one image differ that much; see ``UNetSegmenter(dimmed=...)``)."""


def dimmed_copy(plane, layer, rng, *, low: float = DIM_LOW) -> np.ndarray:
    """A copy of a raw training plane in which each painted object is dimmer, by its own
    random factor.

    Painted objects are often the bright, easy ones; nuclei ten times dimmer in the same
    image (another cell-cycle stage, out of focus) are then missed by a model that only
    learnt the bright ones. In this copy every painted object's difference from the
    background level is multiplied by a gain of its own (drawn evenly in log from ``low``
    to 1; every pixel takes the gain of the nearest painted object's interior, so an
    object's boundary ring dims with it and unpainted pixels far away are background
    anyway), and noise of the background's own spread is added where the gain took some
    away, so a dimmed object is as noisy as a dim real one. The background level and
    spread are the median and MAD of the pixels annotated background. One gain per object
    keeps its texture as it was (a smooth random gain field across the plane, screened
    first, scored lower in three halves of five and level in one; ``docs/benchmarks.md``,
    session 59).

    Parameters
    ----------
    plane : ndarray, shape (C, Y, X)
        A raw training plane (any dtype; integers are rounded and clipped back).
    layer : ndarray of int, shape (Y, X)
        Its instance-mode annotations as a segmenter learns them
        (:func:`microlab.labels.boundary.three_classes`: 1 background, 2 boundary,
        3 interior, 0 unlabelled). Painted objects are the connected pieces of interior.
    rng : numpy.random.Generator
        Source of the gains and the noise.
    low : float
        The lowest gain, above 0 and at most 1.

    Returns
    -------
    ndarray
        The dimmed copy, same shape and dtype (the plane itself where nothing is painted
        as interior).

    Examples
    --------
    >>> import numpy as np
    >>> plane = np.full((1, 64, 64), 100.0); plane[0, 8:24, 8:24] = plane[0, 40:56, 40:56] = 1100
    >>> layer = np.ones((64, 64), np.uint8); layer[9:23, 9:23] = layer[41:55, 41:55] = 3
    >>> out = dimmed_copy(plane, layer, np.random.default_rng(0))
    >>> out.shape, [round(float(out[0, y, y] - 100) / 1000, 2) for y in (16, 48)]  # gains
    ((1, 64, 64), [0.23, 0.54])
    """
    from scipy import ndimage

    if not 0 < low <= 1:
        raise ValueError(f"low must be above 0 and at most 1, got {low!r}")
    plane = np.asarray(plane)
    layer = np.asarray(layer)
    if layer.shape != plane.shape[1:]:
        raise ValueError(f"layer of shape {layer.shape} does not fit a plane of shape "
                         f"{plane.shape}: give the plane's own annotations")
    cores, n = ndimage.label(layer == INTERIOR)
    if n == 0:
        return plane.copy()
    gains = np.concatenate([[1.0], low ** rng.random(n)]).astype(np.float32)
    _, nearest = ndimage.distance_transform_edt(cores == 0, return_indices=True)
    gain = gains[cores[tuple(nearest)]]
    topped = np.sqrt(1 - gain**2)
    out = np.empty(plane.shape, np.float32)
    background = layer == BACKGROUND
    for c in range(plane.shape[0]):
        values = (plane[c][background] if background.any() else plane[c].ravel()).astype(
            np.float64)
        level = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - level)))
        out[c] = level + gain * (plane[c] - level) + spread * topped * rng.standard_normal(
            plane.shape[1:]).astype(np.float32)
    if np.issubdtype(plane.dtype, np.integer):
        info = np.iinfo(plane.dtype)
        return np.clip(np.round(out), info.min, info.max).astype(plane.dtype)
    return out.astype(plane.dtype)


DIM_BELOW = 0.5
"""An unpainted blob is dim (:func:`dim_blobs`) where it stands out from the background by
less than this fraction of the painted objects' typical contrast."""
DIM_PROMINENT = 0.7
"""A dim blob (:func:`dim_blobs`) must also stand out from its own surroundings (the
median two radii away) by at least this fraction of its contrast over the background: a
nucleus does, the texture of cytoplasm or a cell's edge in the same channel does not."""
DIM_FINE = 1 / 6
"""A dim blob (:func:`dim_blobs`) must also be dim on the image smoothed only at this
fraction of the painted objects' typical radius (at least one pixel): its brightest pixel
within half a radius below ``DIM_FINE_BELOW`` of the painted objects' typical brightest,
both above the background. A nucleus dimmer than the painted ones is dim at every scale; a
small bright speck (debris, a micronucleus, a bead) looks dim only once smoothed at half a
radius, as the blobs are found. On 30 specks of 0.3-0.5 radii as bright as a median
nucleus among generated nuclei, the check said on in four scenes of four without this test
and in one with it (docs/benchmarks.md, session 64)."""
DIM_FINE_BELOW = 0.6
"""See ``DIM_FINE`` (0.5 counted one dim nucleus fewer in the BBBC022 scene dimmed to
0.25-1, 7 of 76, and turned dimming off there; 0.6 keeps every decision of the scenes in
docs/benchmarks.md)."""
DIM_SHARE = 0.1
"""``UNetSegmenter(dimmed=None)`` trains on dimmed copies where at least this share of the
unpainted blobs is dim, and at least ``DIM_COUNT`` of them (:func:`many_dim`)."""
DIM_COUNT = 3
"""See ``DIM_SHARE``."""


def dim_blobs(planes, layers, *, below: float = DIM_BELOW) -> tuple[int, int]:
    """How many of the blobs nobody painted are much dimmer than the painted objects.

    The question ``UNetSegmenter(dimmed=None)`` asks at its first fit: where many nuclei the
    person did not paint are much dimmer than those they did, a model that learnt only the
    painted ones misses them, and training on :func:`dimmed_copy` helps. In each plane the
    image is levelled (:func:`background_surface` subtracted, ``DIM_LOCAL``: stray light
    lifting one side of the field would otherwise inflate the background's spread and hide
    the dim nuclei; on HeLa nuclei shrunk 0.5 times and unevenly lit the check said off in
    four halves of four without it and on with it, where forcing dimmed copies gained in
    every half, docs/benchmarks.md session 65) and smoothed (Gaussian, sigma half the
    painted objects' typical radius); the background level and spread are the median and MAD
    of the smoothed pixels annotated background; the painted objects' typical contrast is
    the median of their smoothed maxima above that level (background more than a radius from
    every painted object, where there are 50 such pixels, so that their glow does not
    count). The blobs are the local maxima of the smoothed image at least a radius apart
    that stand more than 4 spreads (and 2 % of the typical contrast) above the background,
    lie on unannotated pixels and more than a radius from every painted object; a blob is
    dim where its contrast is below ``below`` of the typical one, it stands out from its own
    surroundings (``DIM_PROMINENT``) and it is as dim against the painted objects on the
    image smoothed only finely (``DIM_FINE``: a small bright speck is not). With several
    channels, the one where the painted objects stand out most is used.

    On the images of ``docs/benchmarks.md`` (session 63; 20 nuclei painted in one half or
    one image), 16-27 % of HeLa's unpainted blobs were dim, at its own size (nuclei of
    radius 12-14 px) and at 0.4 times it alike, and 10 % of BBBC022 nuclei dimmed to
    0.25-1 of their brightness, and 17 % in one half of the DSB 2018 crop (4 of 24), while
    generated nuclei, real nuclei packed at one brightness or unevenly lit, the other DSB
    halves and the osteosarcoma sample (the cells' faint cytoskeleton in its nuclei
    channel) were 0-8 % (at most 3 blobs).

    Parameters
    ----------
    planes : sequence of ndarray, each (C, *spatial)
        Raw training planes.
    layers : sequence of ndarray of int
        Their instance-mode annotations (:func:`microlab.labels.boundary.three_classes`:
        1 background, 2 boundary, 3 interior, 0 unlabelled).
    below : float
        The fraction of the typical contrast under which a blob is dim.

    Returns
    -------
    (dim, blobs) : tuple of int
        The dim unpainted blobs and all unpainted blobs counted (0, 0 where no plane has
        both painted objects and background).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:128, :128]
    >>> discs = (yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 < 49   # 16 discs of radius 7
    >>> image = np.where(discs, np.where(xx < 64, 1000.0, 100.0), 0.0)[None]
    >>> image = image + np.random.default_rng(0).normal(0, 10, image.shape)
    >>> layer = np.zeros((128, 128), np.uint8)
    >>> layer[::16] = 1                                  # background rows
    >>> layer[discs] = 0
    >>> layer[discs & (yy < 64) & (xx < 64)] = 3         # four bright discs painted
    >>> dim_blobs([image], [layer])                      # the eight right ones are dim
    (8, 12)
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max

    dim = blobs = 0
    for plane, layer in zip(planes, layers, strict=True):
        layer = np.asarray(layer)
        cores, n = ndimage.label(layer == INTERIOR)
        background = layer == BACKGROUND
        if n == 0 or not background.any():
            continue
        size = float(np.median(np.bincount(cores.ravel())[1:]))
        radius = float(np.sqrt(size / np.pi) if layer.ndim == 2
                       else np.cbrt(3 * size / (4 * np.pi))) + 1
        step = max(1, round(radius))
        far = ndimage.distance_transform_edt(layer < BOUNDARY) > step
        if np.count_nonzero(background & far) >= 50:  # not lit by the painted objects' glow
            background = background & far
        best = None
        for channel in np.asarray(plane, np.float32):
            if DIM_LOCAL:  # an uneven background (stray light, autofluorescence) levelled
                channel = channel - background_surface(channel, radius)
            smooth = ndimage.gaussian_filter(channel, max(1.0, radius / 2))
            level, spread, typical = _painted_contrast(smooth, background, cores, n)
            if typical > 0 and (best is None or typical / max(spread, 1e-12) > best[0]):
                best = (typical / max(spread, 1e-12), smooth, level, spread, typical,
                        channel)
        if best is None:
            continue
        _, smooth, level, spread, typical, channel = best
        peaks = peak_local_max(smooth, min_distance=step,
                               threshold_abs=level + max(4 * spread, 0.02 * typical))
        peaks = peaks[far[tuple(peaks.T)] & (layer[tuple(peaks.T)] == 0)]
        contrast = smooth[tuple(peaks.T)] - level
        around = _around(smooth, peaks, 2 * radius) - level
        prominent = contrast - around >= DIM_PROMINENT * contrast
        # dim at the fine scale too: a small bright speck looks dim only once smoothed
        fine = ndimage.gaussian_filter(channel, max(1.0, radius * DIM_FINE))
        fine_level, _, fine_typical = _painted_contrast(fine, background, cores, n)
        fine_contrast = _brightest_near(fine, peaks, step / 2) - fine_level
        dim += int(np.sum((contrast < below * typical) & prominent
                          & (fine_contrast < DIM_FINE_BELOW * fine_typical)))
        blobs += len(contrast)
    return dim, blobs


def background_surface(image: np.ndarray, radius: float) -> np.ndarray:
    """A smooth estimate of ``image``'s background level, which may vary across the field.

    The image is block-averaged in blocks of about a ``radius`` (the objects' typical
    radius), the 10th percentile is taken over windows of ``BACKGROUND_WINDOW`` radii
    (wide enough to reach past a cluster of objects to background), and the result is
    brought back to the image's pixels (linearly) and smoothed over two radii. Where the
    background is flat it is that flat level; where stray light or autofluorescence lifts
    one side of the field, it follows.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:128, :128]
    >>> discs = (yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 < 36      # radius 6
    >>> image = 100.0 + xx / 4 + 500.0 * discs           # background 100 -> 132
    >>> surface = background_surface(image, 6)
    >>> round(float(surface[16, 16])), round(float(surface[64, 120]))  # a disc, background
    (101, 124)
    """
    from scipy import ndimage

    image = np.asarray(image, np.float32)
    block = max(1, round(float(radius)))
    shape = image.shape
    padded = np.pad(image, [(0, -n % block) for n in shape], mode="edge")
    coarse = padded.reshape([v for n in padded.shape for v in (n // block, block)]).mean(
        axis=tuple(range(1, 2 * image.ndim, 2)))
    window = max(3, round(BACKGROUND_WINDOW * float(radius) / block) | 1)
    coarse = ndimage.percentile_filter(coarse, 10, size=window, mode="nearest")
    factors = [p / c for p, c in zip(padded.shape, coarse.shape, strict=True)]
    fine = ndimage.zoom(coarse, factors, order=1, mode="nearest", grid_mode=True)
    fine = fine[tuple(slice(0, n) for n in shape)]
    return ndimage.gaussian_filter(fine, 2 * radius, mode="nearest")


BACKGROUND_WINDOW = 9
"""Width of :func:`background_surface`'s percentile windows, in object radii."""
DIM_LOCAL = True
"""Whether :func:`dim_blobs` measures contrast above :func:`background_surface` (a
background that varies across the field) rather than one level for the whole plane."""


def _painted_contrast(image: np.ndarray, background: np.ndarray, cores: np.ndarray,
                      n: int) -> tuple[float, float, float]:
    """``(level, spread, typical)`` of a smoothed plane for :func:`dim_blobs`: the median
    and MAD (as a standard deviation) of its ``background`` pixels, and the median over the
    ``n`` painted ``cores`` of their maxima above that level."""
    from scipy import ndimage

    values = image[background]
    level = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - level)))
    typical = float(np.median(ndimage.maximum(image, cores, np.arange(1, n + 1)))) - level
    return level, spread, typical


def _brightest_near(image: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """For each point (rows of ``points``), the maximum of ``image`` in the box reaching
    ``distance`` from it along each axis (clipped to the image)."""
    reach = max(int(np.ceil(distance)), 0)
    return np.array([image[tuple(slice(max(int(c) - reach, 0), int(c) + reach + 1)
                                 for c in point)].max() for point in points], np.float64)


def _around(image: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """For each point (rows of ``points``), the median of ``image`` at the 3**ndim - 1
    points ``distance`` away in the axis and diagonal directions (clipped to the image)."""
    import itertools

    directions = np.array([d for d in itertools.product((-1, 0, 1), repeat=image.ndim)
                           if any(d)], float)
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    spots = np.round(points[:, None, :] + distance * directions[None]).astype(int)
    spots = np.clip(spots, 0, np.array(image.shape) - 1)
    return np.median(image[tuple(np.moveaxis(spots, -1, 0))], axis=1)


def many_dim(dim: int, blobs: int) -> bool:
    """Whether ``dim`` of ``blobs`` unpainted blobs (:func:`dim_blobs`) are many: at least
    ``DIM_SHARE`` of them and at least ``DIM_COUNT``, the rule of
    ``UNetSegmenter(dimmed=None)``.

    Examples
    --------
    >>> many_dim(8, 12), many_dim(2, 12), many_dim(5, 90)
    (True, False, False)
    """
    return dim >= DIM_COUNT and dim >= DIM_SHARE * blobs


def augment_examples(
    image,
    annotations,
    n: int = 8,
    *,
    channel_axis: int | None = None,
    seed: int | None = 0,
    heavy: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` augmented versions of a 2D image and its sparse annotations.

    Shows what the U-Net sees during training: the same random transforms as
    :class:`microlab.deep.UNetSegmenter`, applied to the whole image.

    Parameters
    ----------
    image : array-like or microlab.Image
        2D image ``(Y, X)``, with channels if ``channel_axis`` says where.
    annotations : ndarray of int
        Sparse labels (0 = unlabelled), same spatial shape.
    n : int
        Number of examples.
    channel_axis : int, optional
        Channel axis of a plain-array image.
    seed : int, optional
        Seed for the random transforms.
    heavy : bool
        Use the full pipeline (rotation, zoom, stretch, elastic, gamma, noise, blur) of
        ``make_augmenter(heavy=True)`` instead of the training default.

    Returns
    -------
    images : ndarray of float32, shape (n, C, Y, X)
        Normalised (per-image percentiles 1 and 99.8 mapped to 0 and 1), augmented images.
    labels : ndarray of uint, shape (n, Y, X)
        Augmented annotations; 0 where unlabelled or brought in from outside the image.

    Examples
    --------
    >>> import numpy as np
    >>> from microlab.deep import augment_examples
    >>> image = np.random.default_rng(0).random((64, 64))
    >>> labels = np.zeros((64, 64), np.uint8); labels[10:20, 10:20] = 1; labels[40:50] = 2
    >>> images, augmented = augment_examples(image, labels, n=4)
    >>> images.shape, augmented.shape
    ((4, 1, 64, 64), (4, 64, 64))
    >>> set(np.unique(augmented)) <= {0, 1, 2}
    True
    """
    import torch

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive whole number, got {n!r}")
    array = spatial_image(image, "image", channel_axis=channel_axis, ndim=2)
    layer = annotation_array(annotations, array.shape[1:])
    if seed is not None:
        torch.manual_seed(seed)
    x = torch.from_numpy(normalise(array))[None].repeat(n, 1, 1, 1)
    y = torch.from_numpy(layer.astype(np.float32))[None, None].repeat(n, 1, 1, 1)
    with torch.no_grad(), warnings.catch_warnings():
        ignore_library_noise()
        x, y = make_augmenter(heavy=heavy)(x, y)
    return x.numpy().astype(np.float32), y[:, 0].round().numpy().astype(layer.dtype)


def show_augmentations(image, annotations, n: int = 8, *, colors=None, channel_axis=None, seed=0,
                       heavy: bool = False):
    """Plot ``n`` augmented training samples with their annotations overlaid.

    Parameters
    ----------
    image, annotations, n, channel_axis, seed, heavy
        As in :func:`augment_examples`.
    colors : list, optional
        One colour per class; default: the default palette.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from microlab.deep import show_augmentations
    >>> labels = np.zeros((32, 32), np.uint8); labels[4:8, 4:8] = 1; labels[20:24] = 2
    >>> fig = show_augmentations(np.random.default_rng(0).random((32, 32)), labels, n=2)
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, to_rgba

    from ..labels.colors import default_colors

    images, labels = augment_examples(image, annotations, n, channel_axis=channel_axis,
                                      seed=seed, heavy=heavy)
    top = max(int(labels.max()), 1)
    palette = list(colors) if colors is not None else default_colors(top)
    cmap = ListedColormap([(0, 0, 0, 0)] + [to_rgba(c) for c in palette[:top]])
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        fig.delaxes(ax)
    for i, ax in enumerate(axes.ravel()[:n]):
        ax.imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
        ax.imshow(labels[i], cmap=cmap, vmin=0, vmax=top, alpha=0.6, interpolation="nearest")
        ax.set_axis_off()
    fig.tight_layout()
    return fig
