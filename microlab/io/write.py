"""Write label images that Fiji and napari open."""

from __future__ import annotations

import os
import warnings

import numpy as np

from .._atomic import atomic_path
from .._checks import as_array, integer_labels, positive_spacing
from .image import Image


def write_labels(
    path: str | os.PathLike,
    labels,
    *,
    spacing: tuple[float, ...] | float | None = None,
    unit: str = "µm",
    compression: str | None = "zlib",
    axes: str | None = None,
) -> None:
    """Write a 2D or 3D integer label image (or a time series of them) as an ImageJ TIFF.

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
        ``(Y, X)`` or ``(Z, Y, X)`` labels (``(T, …)`` with ``axes``), non-negative integers
        (0 = background or unlabelled).
    spacing : float or tuple of float, optional
        Pixel size per spatial axis (``(y, x)`` or ``(z, y, x)``); a single number applies to
        all axes.
    unit : str
        Unit of ``spacing``.
    compression : str or None
        TIFF compression (``"zlib"``, ``"lzw"`` or None).
    axes : str, optional
        The axes of ``labels``: ``"YX"``, ``"ZYX"``, ``"TYX"`` or ``"TZYX"``; default from
        the number of dimensions (``"YX"`` or ``"ZYX"``).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> microlab.write_labels(path, np.array([[0, 1], [2, 2]], np.uint16))
    >>> microlab.read_image(path).data.tolist()
    [[0, 1], [2, 2]]
    """
    import tifffile

    array = integer_labels(as_array(labels, "labels"))
    if axes is None:
        if array.ndim not in (2, 3):
            raise ValueError(
                f"labels must be 2D (Y, X) or 3D (Z, Y, X), got shape {array.shape}; pass "
                "axes= for a time series ('TYX', 'TZYX')"
            )
        axes = "ZYX"[3 - array.ndim:]
    if axes not in ("YX", "ZYX", "TYX", "TZYX") or len(axes) != array.ndim:
        raise ValueError(
            f"axes {axes!r} must be 'YX', 'ZYX', 'TYX' or 'TZYX' and name each of the "
            f"{array.ndim} axes of labels with shape {array.shape}"
        )
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low < 0:
        raise ValueError("labels must be non-negative (0 = background)")
    space = positive_spacing(spacing, len(axes.replace("T", "")))
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
            tifffile.imwrite(tmp, array, metadata={"axes": axes}, **kwargs)
            return
        tifffile.imwrite(tmp, array, imagej=True, metadata=_imagej_metadata(axes, space, unit),
                         **kwargs)


def write_image(path: str | os.PathLike, image: Image, *, compression: str | None = "zlib"
                ) -> None:
    """Write an :class:`Image` as an ImageJ hyperstack (a plain TIFF for other dtypes).

    ImageJ holds uint8, uint16 and float32 with any of the ``T, C, Z`` axes and the pixel
    size; Fiji, napari and :func:`microlab.read_image` open the file with the same axes.
    Other dtypes are written as a plain TIFF with the axes in its metadata. Channel names
    become ImageJ slice labels. Atomic.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "stack.tif"
    >>> data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    >>> write_image(path, Image(data, "CZYX", spacing=(2.0, 0.5, 0.5), unit="µm"))
    >>> back = microlab.read_image(path)
    >>> back.axes, back.spacing, bool((back.data == data).all())
    ('CZYX', (2.0, 0.5, 0.5), True)
    """
    import tifffile

    kwargs: dict = {"compression": compression} if compression else {}
    if image.spacing is not None:
        kwargs["resolution"] = (1.0 / image.spacing[-1], 1.0 / image.spacing[-2])
    with atomic_path(path) as tmp:
        if image.dtype in (np.uint8, np.uint16, np.float32):
            data, axes = image.data, image.axes
            if "C" in axes and "Z" in axes:  # ImageJ stores C after Z (TZCYX)
                data = np.swapaxes(data, axes.index("C"), axes.index("Z"))
                axes = axes.replace("C", "?").replace("Z", "C").replace("?", "Z")
            metadata = _imagej_metadata(axes, image.spacing, image.unit or "µm")
            if image.channel_names:  # one label per plane, channel fastest (ImageJ's order)
                planes = int(np.prod([n for n, a in zip(data.shape, axes, strict=True)
                                      if a in "TZ"]))
                metadata["Labels"] = list(image.channel_names) * planes
            tifffile.imwrite(tmp, data, imagej=True, metadata=metadata, **kwargs)
        else:
            tifffile.imwrite(tmp, image.data, metadata={"axes": image.axes}, **kwargs)


def _imagej_metadata(axes: str, spacing, unit: str) -> dict:
    metadata: dict = {"axes": axes}
    if spacing is not None:
        metadata["unit"] = "micron" if unit in ("µm", "um", "micron") else unit
        if "Z" in axes:
            metadata["spacing"] = spacing[0]
    return metadata
