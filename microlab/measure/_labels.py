"""Validation of label images, shared by the measurement functions."""

from __future__ import annotations

import numpy as np

from .._checks import as_array

# An integer image whose values each lie in more than 4 separate pieces, of fewer than 4
# pixels on average, is an intensity image (see refuse_intensities).
SPECKLE_PIECES_PER_VALUE = 4
SPECKLE_PIXELS_PER_PIECE = 4


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """Return a 2D or 3D label image as an integer ndarray, or raise a helpful error.

    Labels must be non-negative integers (0 = background). A boolean mask is refused: it
    holds one "object" per connected blob only after it has been split into instances.
    A :class:`microlab.Image` says its axes: a ``C`` axis holds channels, never Z. Its
    channels are one label image when they are all equal (a grey mask saved as RGB);
    different channels are refused, with the advice to pick one. A ``T`` axis must have
    length 1.

    Examples
    --------
    >>> from microlab.io import Image
    >>> rgb_mask = Image(np.zeros((3, 8, 8), np.uint8), "CYX")
    >>> check_labels(rgb_mask).shape
    (8, 8)
    """
    axes = getattr(labels, "axes", None)
    array = as_array(labels, name)
    if axes is not None:
        array = _one_label_image(array, axes, name)
    if array.dtype == bool:
        raise TypeError(
            f"{name} is a boolean mask, not a label image; split it into objects first, "
            "e.g. microlab.instances(mask) or scipy.ndimage.label(mask)[0]"
        )
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be an integer label image (0 = background, 1..N = objects), got "
            f"dtype {array.dtype}; round or cast it (e.g. {name}.astype(np.int32)), or turn a "
            "probability map into objects with microlab.instances"
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2D (Y, X) or 3D (Z, Y, X), got shape {array.shape}; pass one "
            "channel and one time point at a time"
        )
    if array.size and array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(
            f"{name} holds negative values (smallest {array.min()}); labels must be 0 for "
            "background and positive integers for objects"
        )
    return array


def _one_label_image(array: np.ndarray, axes: str, name: str) -> np.ndarray:
    """Drop a length-1 ``T`` axis and a ``C`` axis of equal channels."""
    if "T" in axes:
        t = axes.index("T")
        if array.shape[t] != 1:
            raise ValueError(
                f"{name} has {array.shape[t]} time points (axes {axes!r}); measure one at a "
                "time"
            )
        array, axes = np.take(array, 0, axis=t), axes.replace("T", "")
    if "C" in axes:
        c = axes.index("C")
        channels = np.moveaxis(array, c, 0)
        if any(not np.array_equal(channels[0], other) for other in channels[1:]):
            raise ValueError(
                f"{name} has {channels.shape[0]} different channels (axes {axes!r}) but a "
                f"label image has one; pick one, e.g. {name}.channel(0) "
                "(microlab measure --channel 0)"
            )
        array = channels[0]
    return array


def refuse_intensities(index: np.ndarray, values: int, name: str = "labels") -> None:
    """Raise ``ValueError`` when an integer image looks like intensities, not labels.

    In a label image each value is one object (one connected piece, rarely a few) or,
    for a class map, a few large regions. In an intensity image every grey value is
    scattered over the whole image in pieces of a pixel or two: each of the ``values``
    distinct non-zero values of ``index`` lying in more than
    :data:`SPECKLE_PIECES_PER_VALUE` pieces on average, and the pieces averaging fewer
    than :data:`SPECKLE_PIXELS_PER_PIECE` pixels, is that speckle. (Real camera images
    average 1 to 3 pixels per piece, class maps over 100, instance labels one piece per
    value.)

    Parameters
    ----------
    index : ndarray of int
        The image, 0 = background.
    values : int
        The number of distinct non-zero values in it.
    name : str
        The argument's name for the message.

    Examples
    --------
    >>> noise = np.random.default_rng(0).integers(0, 200, (64, 64))
    >>> refuse_intensities(noise, len(np.unique(noise)) - 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: labels does not look like a label image: ...
    """
    from skimage.measure import label

    if values == 0:
        return
    pieces = int(label(index, background=0, connectivity=1).max())
    pixels = np.count_nonzero(index) / pieces
    if pieces > SPECKLE_PIECES_PER_VALUE * values and pixels < SPECKLE_PIXELS_PER_PIECE:
        raise ValueError(
            f"{name} does not look like a label image: its {values} values lie scattered "
            f"in {pieces} pieces of {pixels:.1f} pixels on average, the speckle of an "
            "intensity image (a label image has one piece per object, or large regions per "
            "class). Measure the labels made from it (e.g. microlab.instances), or pass "
            "force=True (microlab measure --force) if it really holds labels"
        )
