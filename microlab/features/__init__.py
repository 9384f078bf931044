"""The engineered filter bank that feeds the Random Forest pixel classifier.

Each feature has an ilastik-like name with its scale (``"Gaussian σ=2.0"``, ``"Sobel"``,
``"Hessian eig1 σ=1.0"``, ``"Entropy r=5"``, ``"Gabor θ=45° λ=8"``); :func:`available` lists
them all and :func:`default_names` the default set. 2D images use OpenCV and fused numba
kernels; 3D z-stacks use genuine 3D filters with anisotropic spacing. Large images are
computed in chunks with halos, and a chunked result equals the whole-image one.

What each kind computes (scales σ, λ, r in pixels of the finest axis; ``G_σ`` is Gaussian
smoothing truncated at 4σ, borders mirrored):

=========================  ==================================================================
``Intensity``              the image itself
``Gaussian σ``             ``G_σ * I``
``Sobel``                  magnitude of the 3×3 (3D: 3×3×3) Sobel gradient, intensity/pixel
``Gradient magnitude σ``   ``|∇(G_σ * I)|`` (central differences)
``LoG σ``                  Laplacian of ``G_σ * I`` (the Hessian's trace)
``DoG σ1-σ2``              ``G_σ1 * I - G_σ2 * I``
``Hessian eigk σ``         eigenvalues of the Hessian of ``G_σ * I``, largest first (k = 1..ndim)
``Structure tensor eigk``  eigenvalues of ``G_σ * (∇u ∇uᵀ)`` with ``u = G_σ/2 * I``, largest first
``Entropy r``              Shannon entropy (bits) of the 16-bin histogram of a (2r+1)² box
``Gabor θ λ``              magnitude of the complex Gabor response: wavelength λ, wave direction θ
                           from the X axis (3D: and φ towards Z), envelope σ = λ/2, on
                           ``G_λ/8 * I``
``Median r``               median of a (2r+1)² box, on 256 grey levels
``Variance r``             variance of a (2r+1)² box
=========================  ==================================================================

Entropy and median quantise intensities over the bank's ``intensity_range``. In 2D, scales
σ >= 8 (structure tensor σ >= 4, Gabor λ >= 8) are computed on an aligned image pyramid:
Gaussians within ~3e-3 of the intensity range of the full-resolution filter, derivatives
within a few percent, several times faster.

Examples
--------
>>> import numpy as np
>>> import microlab
>>> image, _ = microlab.data.sandstone()
>>> stack = microlab.features.compute(image, ["Sobel", "Entropy r=5"])
>>> stack.shape, stack.dtype
((2, 512, 512), dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._registry import check_ndim, default_specs, registry
from .bank import FORMAT_VERSION, FeatureBank, default_range

__all__ = [
    "FORMAT_VERSION",
    "FeatureBank",
    "available",
    "compute",
    "default_names",
    "default_range",
]


def available(ndim: int = 2) -> list[str]:
    """Every valid feature name for 2D (``ndim=2``) or 3D (``ndim=3``) images.

    Examples
    --------
    >>> names = available()
    >>> "Sobel" in names and "Gabor θ=45° λ=8" in names
    True
    >>> [n for n in available(3) if n.startswith("Hessian") and n.endswith("σ=1.0")]
    ['Hessian eig1 σ=1.0', 'Hessian eig2 σ=1.0', 'Hessian eig3 σ=1.0']
    """
    return list(registry(check_ndim(ndim)))


def default_names(ndim: int = 2) -> list[str]:
    """The default feature set for ``ndim`` (what ``FeatureBank(ndim=ndim)`` computes).

    Examples
    --------
    >>> len(default_names(2)), len(default_names(3))
    (41, 42)
    >>> default_names()[:3]
    ['Intensity', 'Gaussian σ=1.0', 'Gaussian σ=2.0']
    """
    return [spec.name for spec in default_specs(check_ndim(ndim))]


def compute(
    image,
    names: Sequence[str] | None = None,
    *,
    spacing: float | Sequence[float] | None = None,
    intensity_range: tuple[float, float] | None = None,
    chunk_size: int | Sequence[int] | None = None,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Compute features of a single-channel 2D ``(Y, X)`` or 3D ``(Z, Y, X)`` image.

    A shortcut for ``FeatureBank(names, ndim=image.ndim, ...).compute(image, ...)``.

    Parameters
    ----------
    image : array-like or microlab.Image
        One channel, any real dtype. An RGB(A) array is refused: compute each channel.
    names : list of str, optional
        Features (see :func:`available`); default: :func:`default_names`.
    spacing : float or sequence of float, optional
        Pixel size per axis (only ratios matter); default: the ``Image``'s spacing, else
        isotropic.
    intensity_range : (float, float), optional
        Quantisation range of entropy and median (see :class:`FeatureBank`).
    chunk_size, out, progress
        As in :meth:`FeatureBank.compute`.

    Returns
    -------
    ndarray of float32
        ``(F, *spatial)``, features in the order of ``names``.

    Examples
    --------
    >>> import numpy as np
    >>> stack = compute(np.zeros((8, 32, 32), np.uint8), ["Gaussian σ=1.0", "LoG σ=1.0"],
    ...                 spacing=(3, 1, 1))
    >>> stack.shape
    (2, 8, 32, 32)
    """
    from .._checks import spatial_image

    array = spatial_image(image)
    if spacing is None:
        spacing = getattr(image, "spacing", None)
    bank = FeatureBank(
        names, ndim=array.ndim - 1, spacing=spacing, intensity_range=intensity_range
    )
    return bank.compute(image, out=out, chunk_size=chunk_size, progress=progress)
