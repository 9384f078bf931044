"""scipy.ndimage's Gaussian filters, distance transform and a little morphology, 2D through OpenCV.

The object finder (:func:`microlab.instances`) and the workbench's hints spend most of their
time in a few Gaussian filters and distance transforms of whole images. On a 2D float32
image OpenCV computes the same sums 10 to 20 times faster than scipy (a 1024² float32 image,
σ = 2.2: 1.3 against 28.5 ms; a distance transform of a 1024² mask: 12 against 116 ms).

Each function here takes scipy's arguments and returns scipy's values:

* the Gaussians of float32 images are applied one axis after the other, each pass in
  float64 with scipy's taps (truncated at 4σ) and its ``"reflect"`` border and rounded to
  float32 after it, as scipy does: the same float32 values (the Laplacian of Gaussian, on
  rare pixels, one unit in the last place apart). float64 images stay with scipy: there
  OpenCV's other order of summing shows in the last bits, and those bits decide the ties
  of a smoothed distance map, so the objects found would change (3 of 931 on a noisy
  thresholded image, when tried) and could differ from one CPU to another;
* the distance transform is OpenCV's exact Euclidean one (Felzenszwalb's algorithm); its
  float32 distances are squared, rounded to the integer they are, and their square roots
  taken in float64: scipy's values exactly on square pixels of size 1, times the pixel size
  otherwise;
* the maximum, dilation and hole filling compute the same sets, exactly.

With these the object finder gives scipy's objects pixel for pixel (on 60 generated scenes
and on the real images of ``../shared/data``, tested in ``tests/postprocess``).

Anything else (3D, anisotropic pixels for the distance, integer or float64 images for the
Gaussians, images smaller than the kernel, a mask without background) goes to scipy itself.

Examples
--------
>>> import numpy as np
>>> from scipy import ndimage as ndi
>>> rng = np.random.default_rng(0)
>>> a = rng.random((64, 80)).astype(np.float32)
>>> bool(np.array_equal(gaussian_filter(a, 1.5), ndi.gaussian_filter(a, 1.5)))
True
>>> mask = rng.random((64, 80)) > 0.3
>>> bool(np.array_equal(distance_transform_edt(mask), ndi.distance_transform_edt(mask)))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

TRUNCATE = 4.0
"""Kernel half-width in σ, as scipy's default ``truncate``."""
_EXACT_SQUARES = 2.0**22
"""Squared distances below this are exact after OpenCV's float32 (their error < 0.5)."""


def _cv2():
    import cv2

    return cv2


def _sigmas(sigma, ndim: int) -> tuple[float, ...] | None:
    """Per-axis σ, or None where scipy should answer: an axis it would skip (σ ≈ 0), or a
    sigma that is not one value or one per axis (scipy's own error then)."""
    values = np.asarray(sigma, float)
    if values.ndim > 1 or values.size not in (1, ndim):
        return None
    values = np.broadcast_to(values, (ndim,))
    return tuple(float(v) for v in values) if (values > 1e-15).all() else None


def _radius(sigma: float) -> int:
    """Half-width of scipy's Gaussian kernel for ``sigma`` (truncated at 4σ)."""
    return int(TRUNCATE * sigma + 0.5)


def gaussian_taps(sigma: float, order: int = 0) -> np.ndarray:
    """scipy's Gaussian taps of ``order`` 0 or 2 (truncated at 4σ), float64, computed as
    scipy computes them (so that the filters here sum the same numbers).

    Examples
    --------
    >>> gaussian_taps(1.0).size, round(float(gaussian_taps(1.0).sum()), 12)
    (9, 1.0)
    """
    radius = _radius(sigma)
    x = np.arange(-radius, radius + 1, dtype=float)
    phi = np.exp(-0.5 / sigma**2 * x**2)
    phi /= phi.sum()
    if order == 0:
        return phi
    return (x**2 / sigma**4 - 1 / sigma**2) * phi  # d²/dx² of the Gaussian, scipy's way


def _fits(a: np.ndarray, sigmas: Sequence[float]) -> bool:
    """Whether OpenCV computes scipy's result for ``a``: 2D float32 larger than the kernel
    (scipy reflects again where the kernel reaches past the mirrored image). Not float64:
    there OpenCV's other order of summing shows in the last bits, which break the ties of
    a smoothed distance map differently (and differently from one CPU to another)."""
    return (a.ndim == 2 and a.dtype == np.float32
            and all(n > _radius(s) for n, s in zip(a.shape, sigmas, strict=True)))


def _separable(a: np.ndarray, taps: Sequence[np.ndarray]) -> np.ndarray:
    """``a`` correlated with ``taps[0]`` along rows, then ``taps[1]`` along columns, each
    pass in float64 and rounded to ``a``'s type after it, as scipy's 1D passes are."""
    cv2 = _cv2()
    one = np.ones(1)
    out = np.ascontiguousarray(a)
    for axis, k in enumerate(taps):
        kx, ky = (one, k) if axis == 0 else (k, one)
        out = cv2.sepFilter2D(out.astype(np.float64, copy=False), cv2.CV_64F, kx, ky,
                              borderType=cv2.BORDER_REFLECT).astype(a.dtype, copy=False)
    return out


def gaussian_filter(a: np.ndarray, sigma) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(a, sigma)`` (mode ``"reflect"``, truncate 4).

    Parameters
    ----------
    a : ndarray
        Any array scipy accepts; 2D float32 ones go through OpenCV.
    sigma : float or sequence of float
        Standard deviation, one for all axes or one per axis.

    Returns
    -------
    ndarray
        Of ``a``'s dtype, as scipy returns it.

    Examples
    --------
    >>> a = np.zeros((9, 9), np.float32); a[4, 4] = 1
    >>> round(float(gaussian_filter(a, 1.0).sum()), 6)
    1.0
    """
    a = np.asarray(a)
    sigmas = _sigmas(sigma, a.ndim)
    if sigmas is None or not _fits(a, sigmas):
        return ndi.gaussian_filter(a, sigma)
    return _separable(a, [gaussian_taps(sigmas[0], 0), gaussian_taps(sigmas[1], 0)])


def gaussian_laplace(a: np.ndarray, sigma) -> np.ndarray:
    """``scipy.ndimage.gaussian_laplace(a, sigma)`` (mode ``"reflect"``, truncate 4).

    The sum over axes of the Gaussian's second derivative along that axis.

    Examples
    --------
    >>> a = np.zeros((21, 21)); a[10, 10] = 1
    >>> bool(gaussian_laplace(a, 2.0)[10, 10] < 0)
    True
    """
    a = np.asarray(a)
    sigmas = _sigmas(sigma, a.ndim)
    if sigmas is None or not _fits(a, sigmas):
        return ndi.gaussian_laplace(a, sigma)
    (sy, sx) = sigmas
    out = _separable(a, [gaussian_taps(sy, 2), gaussian_taps(sx, 0)])
    out += _separable(a, [gaussian_taps(sy, 0), gaussian_taps(sx, 2)])
    return out


def distance_transform_edt(mask: np.ndarray, sampling=None) -> np.ndarray:
    """``scipy.ndimage.distance_transform_edt(mask, sampling=sampling)``: each nonzero
    pixel's Euclidean distance to the nearest zero pixel (float64).

    Square pixels (``sampling`` None or one value for all axes) of a 2D mask with some
    background go through OpenCV, unless a distance reaches 2047 pixels (beyond float32's
    exact squares); the rest through scipy.

    Examples
    --------
    >>> m = np.ones((5, 7), bool); m[:, 0] = False
    >>> distance_transform_edt(m, sampling=2.0)[0].tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    """
    mask = np.asarray(mask)
    scale = 1.0
    if sampling is not None:
        steps = np.broadcast_to(np.asarray(sampling, float), (mask.ndim,))
        scale = float(steps[0]) if (steps == steps[0]).all() else None
    if scale is None or mask.ndim != 2 or mask.size == 0 or mask.all():
        return ndi.distance_transform_edt(mask, sampling=sampling)
    cv2 = _cv2()
    binary = (mask != 0).view(np.uint8)  # a new C-contiguous array whatever mask's layout
    found = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if (float(found.max()) + 1) ** 2 >= _EXACT_SQUARES:  # too far for float32 to be exact
        return ndi.distance_transform_edt(mask, sampling=sampling)
    squares = np.rint(found.astype(np.float64) ** 2)
    out = np.sqrt(squares, out=squares)
    return out * scale if scale != 1.0 else out


def maximum_filter3(a: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(a, size=3, mode="nearest")``: each pixel's largest
    neighbour in its 3 × 3 (× 3 …) window, edges repeated.

    Examples
    --------
    >>> maximum_filter3(np.eye(3, dtype=np.float32))[0].tolist()
    [1.0, 1.0, 1.0]
    """
    a = np.asarray(a)
    if a.ndim != 2 or a.dtype not in (np.float32, np.float64, np.uint8) or min(a.shape) < 1:
        return ndi.maximum_filter(a, size=3, mode="nearest")
    cv2 = _cv2()
    return cv2.dilate(np.ascontiguousarray(a), np.ones((3, 3), np.uint8),
                      borderType=cv2.BORDER_REPLICATE)


def binary_dilation(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, iterations=iterations)`` (its cross-shaped
    structuring element, nothing set beyond the edges), for ``iterations`` ≥ 1.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[2, 2] = True
    >>> int(binary_dilation(m, 2).sum())
    13
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or iterations < 1 or mask.size == 0:
        return ndi.binary_dilation(mask, iterations=iterations)
    cv2 = _cv2()
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    grown = cv2.dilate((mask != 0).view(np.uint8), cross, iterations=int(iterations),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grown.view(bool)


def binary_fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes(mask)``: ``mask`` with every region of background
    that does not reach the edge of the array (through edge-sharing neighbours) filled.

    Labels the background once instead of scipy's repeated dilations.

    Examples
    --------
    >>> ring = np.ones((5, 5), bool); ring[2, 2] = False
    >>> bool(binary_fill_holes(ring).all())
    True
    """
    mask = np.asarray(mask, bool)
    if mask.ndim < 1 or mask.size == 0:
        return ndi.binary_fill_holes(mask)
    regions, n = ndi.label(~mask)
    if n == 0:
        return mask.copy()
    edge = np.zeros(n + 1, bool)
    for axis in range(mask.ndim):
        for end in (0, -1):
            edge[np.take(regions, end, axis=axis)] = True
    edge[0] = True  # the mask itself
    return mask | ~edge[regions]
