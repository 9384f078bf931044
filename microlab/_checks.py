"""Input validation shared by the public functions.

Every public function checks its inputs here, at the boundary, so that a user sees a message
that names the argument, says what was wrong and what to do, never a traceback from deep
inside numpy.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_array(value, name: str) -> np.ndarray:
    """Return ``value`` as an ndarray, accepting :class:`microlab.Image` and array-likes."""
    data = getattr(value, "data", value) if hasattr(value, "axes") else value
    if isinstance(data, np.ndarray):
        return data
    try:
        array = np.asarray(data)
    except Exception as exc:  # pragma: no cover - numpy raises many types here
        raise TypeError(
            f"{name} must be an array-like image, got {type(value).__name__}: {exc}"
        ) from exc
    if array.dtype == object:
        raise TypeError(
            f"{name} must be a numeric array, got {type(value).__name__} that numpy "
            "turns into an object array; pass a numpy array or a microlab.Image"
        )
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if a floating array holds NaN or infinity."""
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); replace them first, "
            f"e.g. np.nan_to_num({name}) or fill them with the median intensity"
        )


def integer_labels(array, name: str = "labels"):
    """Return ``array`` (numpy or dask) with booleans as uint8; ``TypeError`` unless integer.

    Examples
    --------
    >>> integer_labels(np.array([True, False])).dtype
    dtype('uint8')
    """
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be an integer array, got {array.dtype}; round or cast it first "
            f"(e.g. {name}.astype(np.uint16))"
        )
    return array


def refuse_newer_format(version, newest: int, what: str, *, written_by: str | None = None,
                        error: type[Exception] = ValueError, after: str = "") -> None:
    """Raise ``error`` unless a file's format ``version`` is one this microlab reads (a whole
    number up to ``newest``); the message names ``what`` and says to upgrade.

    Examples
    --------
    >>> refuse_newer_format(2, 3, "m.safetensors")
    >>> try:
    ...     refuse_newer_format(4, 3, "m.safetensors", written_by="9.0")
    ... except ValueError as error:
    ...     print(error)
    m.safetensors was written by microlab 9.0 in format version 4; this microlab reads format 3 or
    older. Upgrade microlab (pip install -U microlab)
    """
    if isinstance(version, int) and not isinstance(version, bool) and version <= newest:
        return
    source = f" was written by microlab {written_by} in" if written_by else " is in"
    raise error(
        f"{what}{source} format version {version!r}; this microlab reads format {newest} or "
        f"older. Upgrade microlab (pip install -U microlab){after}"
    )


def check_numeric(array: np.ndarray, name: str) -> None:
    """Raise ``TypeError`` unless the array holds real numbers (bool, int or float)."""
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or float), got dtype {array.dtype}"
        )


def spatial_image(
    image, name: str = "image", *, channel_axis: int | None = None, ndim: int | None = None
) -> np.ndarray:
    """Validate an image and return it as ``(C, *spatial)`` with C >= 1.

    Parameters
    ----------
    image : array-like or microlab.Image
        2D ``(Y, X)`` or 3D ``(Z, Y, X)`` intensities, with an optional channel axis.
        A :class:`microlab.Image` says its own axes; a time axis must have length 1.
    name : str
        The argument's name, used in error messages.
    channel_axis : int or None
        For a plain array: the axis that holds channels, or None for a single channel.
    ndim : int or None
        The number of spatial dimensions required (2 or 3), or None for either.

    Returns
    -------
    ndarray
        The image with channels first, ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    """
    axes = getattr(image, "axes", None)
    array = as_array(image, name)
    check_numeric(array, name)
    if axes is not None:
        if "T" in axes:
            t = axes.index("T")
            if array.shape[t] != 1:
                raise ValueError(
                    f"{name} has {array.shape[t]} time points (axes {axes!r}); pass one at a "
                    f"time, e.g. image.data[{t * ':, '}i]"
                )
            array = np.take(array, 0, axis=t)
            axes = axes.replace("T", "")
        if "C" in axes:
            array = np.moveaxis(array, axes.index("C"), 0)
        else:
            array = array[np.newaxis]
    else:
        if channel_axis is not None:
            if not isinstance(channel_axis, numbers.Integral) or not (
                -array.ndim <= channel_axis < array.ndim
            ):
                raise ValueError(
                    f"channel_axis={channel_axis!r} is not an axis of {name} with shape "
                    f"{array.shape}"
                )
            array = np.moveaxis(array, channel_axis, 0)
        else:
            if array.ndim == 3 and array.shape[-1] in (3, 4) and min(array.shape[:2]) > 4:
                raise ValueError(
                    f"{name} with shape {array.shape} looks like an RGB(A) image with the "
                    "channels last; pass channel_axis=-1, or pick one channel "
                    f"(e.g. {name}[..., 2] for the blue one). If it is a (Z, Y, X) volume, "
                    f"say so: microlab.Image({name}, 'ZYX')"
                )
            array = array[np.newaxis]
    spatial = array.ndim - 1
    if spatial not in (2, 3) or (ndim is not None and spatial != ndim):
        want = f"{ndim}D" if ndim else "2D (Y, X) or 3D (Z, Y, X)"
        raise ValueError(
            f"{name} must be {want} with an optional channel axis; got shape "
            f"{tuple(array.shape[1:]) if axes or channel_axis is not None else array.shape[1:]}"
            f" ({spatial} spatial dimensions)"
        )
    if min(array.shape[1:]) < 1:
        raise ValueError(f"{name} is empty: shape {array.shape[1:]}")
    check_finite(array, name)
    return array


MAX_CLASS = 65535
"""The largest class number an annotation may hold: what a 16-bit annotation TIFF stores."""


def annotation_array(annotations, image_shape: tuple[int, ...], name: str = "annotations"):
    """Validate sparse annotations (0 = unlabelled, 1..C = classes) against an image shape.

    Class values above :data:`MAX_CLASS` are refused before anything is allocated per
    class (a label image of 2**33 would otherwise ask for billions of class names).

    Examples
    --------
    >>> annotation_array(np.array([[0, 2**33]]), (1, 2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: annotations holds the class value 8589934592, but classes are numbered ...
    """
    array = as_array(annotations, name)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise TypeError(
                f"{name} must hold whole class numbers (0 = unlabelled, 1..C); got "
                "fractional or non-finite floats"
            )
        array = array.astype(np.int64)
    if array.dtype.kind not in "biu":
        raise TypeError(f"{name} must be an integer array (0 = unlabelled), got {array.dtype}")
    if tuple(array.shape) != tuple(image_shape):
        raise ValueError(
            f"{name} has shape {tuple(array.shape)} but its image has spatial shape "
            f"{tuple(image_shape)}; annotations must cover the image pixel for pixel"
        )
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds negative values; use 0 for unlabelled and 1..C")
    top = int(array.max()) if array.size else 0
    if top > MAX_CLASS:
        raise ValueError(
            f"{name} holds the class value {top}, but classes are numbered 1..{MAX_CLASS} "
            "at most (one probability map each); is this an image of object labels or "
            "intensities rather than class strokes? Paint classes 1, 2, ... instead"
        )
    return array


def positive_spacing(spacing, ndim: int, name: str = "spacing") -> tuple[float, ...] | None:
    """Validate a pixel spacing: None, a positive number, or one positive number per axis."""
    if spacing is None:
        return None
    if isinstance(spacing, numbers.Real):
        spacing = (spacing,) * ndim
    try:
        values = tuple(float(s) for s in spacing)
    except TypeError as exc:
        raise TypeError(f"{name} must be a number or a sequence of {ndim} numbers") from exc
    if len(values) != ndim:
        raise ValueError(f"{name} needs {ndim} values (one per spatial axis), got {len(values)}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be positive and finite, got {values}")
    return values
