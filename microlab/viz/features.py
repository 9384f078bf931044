"""A gallery of filter-bank features: every feature as a picture, titled with its name."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import spatial_image


def feature_gallery(
    image,
    names: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    figsize: tuple[float, float] | None = None,
    bank=None,
    cmap: str = "gray",
):
    """Show features of an image as a grid of pictures with their names as titles.

    Parameters
    ----------
    image : array-like or microlab.Image
        One channel, 2D ``(Y, X)`` or 3D ``(Z, Y, X)`` (the middle Z slice is shown).
    names : list of str, optional
        Features to show (see :func:`microlab.features.available`); default: every feature
        of ``bank``, or the default set.
    ncols : int
        Pictures per row.
    figsize : (float, float), optional
        Figure size in inches; default: about 2.6 inches per picture.
    bank : microlab.features.FeatureBank, optional
        The bank to compute with (its spacing and intensity range); ``names`` then picks
        among its features.
    cmap : str
        Colour map of the pictures (each is stretched to its 1–99 % percentiles).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import microlab
    >>> image, _ = microlab.data.sandstone()
    >>> fig = feature_gallery(image, ["Sobel", "Entropy r=5", "Gabor θ=0° λ=8"], ncols=3)
    >>> [ax.get_title() for ax in fig.axes]
    ['Sobel', 'Entropy r=5', 'Gabor θ=0° λ=8']
    """
    import matplotlib.pyplot as plt

    from ..features import FeatureBank

    if not isinstance(ncols, numbers.Integral) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    array = spatial_image(image)
    if array.shape[0] != 1:
        raise ValueError(
            f"image has {array.shape[0]} channels; show one at a time, e.g. image.data[c]"
        )
    ndim = array.ndim - 1
    if bank is None:
        bank = FeatureBank(names, ndim=ndim, spacing=getattr(image, "spacing", None))
    elif not isinstance(bank, FeatureBank):
        raise TypeError(f"bank must be a microlab.features.FeatureBank, got {type(bank)}")
    elif names is not None:
        bank = FeatureBank(names, ndim=bank.ndim, spacing=bank.spacing,
                           intensity_range=bank.intensity_range)
    stack = bank.compute(image)
    if stack.ndim == 4:
        stack = stack[:, stack.shape[1] // 2]

    nrows = math.ceil(len(bank) / ncols)
    height, width = stack.shape[1:]
    if figsize is None:
        side = 2.6
        figsize = (side * ncols, (side * height / width + 0.35) * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    step = max(1, int(math.sqrt(height * width / 250_000)))
    for ax, name, feature in zip(axes.flat, bank.names, stack, strict=False):
        low, high = np.percentile(feature[::step, ::step], [1, 99])
        if not high > low:
            low, high = float(feature.min()), float(feature.max()) + 1e-12
        ax.imshow(feature, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    for ax in list(axes.flat)[len(bank):]:
        fig.delaxes(ax)
    fig.tight_layout()
    return fig
