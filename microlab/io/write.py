"""Write label images that Fiji and napari open."""

from __future__ import annotations

import os
import warnings

import numpy as np

from .._atomic import atomic_path
from .._checks import as_array, positive_spacing


def write_labels(
    path: str | os.PathLike,
    labels,
    *,
    spacing: tuple[float, ...] | float | None = None,
    unit: str = "µm",
    compression: str | None = "zlib",
) -> None:
    """Write a 2D or 3D integer label image as an ImageJ TIFF.

    The file opens in Fiji (as an 8- or 16-bit image with the pixel size set) and in napari.
    Labels above 65535 cannot be stored in an ImageJ TIFF; they are written as a plain
    32-bit TIFF (64-bit above 4294967295; napari reads it; Fiji shows it through
    Bio-Formats). No label value is ever cut to fit. The write is atomic:
    a crash never leaves a half-written file.

    Parameters
    ----------
    path : str or path-like
        Target ``.tif`` file; its folder must exist.
    labels : array-like of int
        ``(Y, X)`` or ``(Z, Y, X)`` labels, non-negative integers (0 = background or
        unlabelled).
    spacing : float or tuple of float, optional
        Pixel size per spatial axis (``(y, x)`` or ``(z, y, x)``); a single number applies to
        all axes.
    unit : str
        Unit of ``spacing``.
    compression : str or None
        TIFF compression (``"zlib"``, ``"lzw"`` or None).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> microlab.write_labels(path, np.array([[0, 1], [2, 2]], np.uint16))
    >>> microlab.read_image(path).data.tolist()
    [[0, 1], [2, 2]]
    """
    import tifffile

    array = as_array(labels, "labels")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be an integer array, got {array.dtype}; round or cast it first "
            "(e.g. labels.astype(np.uint16))"
        )
    if array.ndim not in (2, 3):
        raise ValueError(f"labels must be 2D (Y, X) or 3D (Z, Y, X), got shape {array.shape}")
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low < 0:
        raise ValueError("labels must be non-negative (0 = background)")
    space = positive_spacing(spacing, array.ndim)
    array = array.astype(
        next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if high <= np.iinfo(t).max),
        copy=False,
    )
    kwargs: dict = {"compression": compression} if compression else {}
    if space is not None:
        kwargs["resolution"] = (1.0 / space[-1], 1.0 / space[-2])
    with atomic_path(path) as tmp:
        if array.dtype.itemsize > 2:
            warnings.warn(
                f"label {high} does not fit in an ImageJ TIFF (at most 65535); writing a "
                f"{8 * array.dtype.itemsize}-bit TIFF that napari reads and Fiji opens "
                "through Bio-Formats",
                stacklevel=2,
            )
            tifffile.imwrite(tmp, array, **kwargs)
            return
        metadata: dict = {"axes": "ZYX" if array.ndim == 3 else "YX"}
        if space is not None:
            metadata["unit"] = "micron" if unit in ("µm", "um", "micron") else unit
            if array.ndim == 3:
                metadata["spacing"] = space[0]
        tifffile.imwrite(tmp, array, imagej=True, metadata=metadata, **kwargs)
