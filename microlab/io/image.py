"""The :class:`Image` returned by :func:`microlab.read_image`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

AXES_ORDER = "TCZYX"


@dataclass(frozen=True)
class Image:
    """Pixels with their axes and physical pixel size.

    Parameters
    ----------
    data : ndarray
        The pixels, axes in the order ``T, C, Z, Y, X`` with absent axes left out.
    axes : str
        The axes of ``data``, a subsequence of ``"TCZYX"`` (e.g. ``"CYX"``).
    spacing : tuple of float or None
        Pixel size along the spatial axes (``Z, Y, X`` present in ``axes``), or None if the
        file does not say.
    unit : str or None
        Unit of ``spacing`` (``"µm"`` for microns), or None.
    name : str
        A label for the image, usually the file name.

    Examples
    --------
    >>> import numpy as np
    >>> img = Image(np.zeros((3, 64, 64), np.uint8), "CYX", spacing=(0.5, 0.5), unit="µm")
    >>> img.channels, img.spatial_shape
    (3, (64, 64))
    """

    data: np.ndarray
    axes: str
    spacing: tuple[float, ...] | None = None
    unit: str | None = None
    name: str = ""
    metadata: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.axes, str) or len(self.axes) != self.data.ndim:
            raise ValueError(
                f"axes {self.axes!r} must name each of the {self.data.ndim} axes of data "
                f"with shape {self.data.shape}"
            )
        order = [AXES_ORDER.find(a) for a in self.axes]
        if -1 in order or order != sorted(order) or len(set(self.axes)) != len(self.axes):
            raise ValueError(
                f"axes {self.axes!r} must be a subsequence of {AXES_ORDER!r} "
                "(e.g. 'YX', 'CYX', 'ZYX', 'TCZYX')"
            )
        if "Y" not in self.axes or "X" not in self.axes:
            raise ValueError(f"axes {self.axes!r} must include Y and X")
        if self.spacing is not None and len(self.spacing) != len(self.spatial_axes):
            raise ValueError(
                f"spacing {self.spacing} needs one value per spatial axis {self.spatial_axes!r}"
            )
        if self.spacing is not None and not all(
            math.isfinite(s) and s > 0 for s in self.spacing
        ):
            raise ValueError(
                f"spacing {self.spacing} of image {self.name!r} must be positive and finite "
                "(a pixel size per spatial axis); pass spacing=None if it is unknown"
            )

    @property
    def spatial_axes(self) -> str:
        """The spatial axes present, e.g. ``"YX"`` or ``"ZYX"``."""
        return "".join(a for a in self.axes if a in "ZYX")

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape along the spatial axes."""
        return tuple(self.data.shape[self.axes.index(a)] for a in self.spatial_axes)

    @property
    def channels(self) -> int:
        """Number of channels (1 if there is no channel axis)."""
        return self.data.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """dtype of :attr:`data`."""
        return self.data.dtype

    def channel(self, index: int) -> Image:
        """Return one channel as an image without a channel axis.

        Examples
        --------
        >>> import numpy as np
        >>> Image(np.zeros((3, 8, 8)), "CYX").channel(2).axes
        'YX'
        """
        if "C" not in self.axes:
            if index in (0, -1):
                return self
            raise IndexError(f"image {self.name!r} has one channel; asked for channel {index}")
        c = self.axes.index("C")
        if not -self.channels <= index < self.channels:
            raise IndexError(
                f"image {self.name!r} has {self.channels} channels; asked for channel {index}"
            )
        return Image(
            np.take(self.data, index, axis=c),
            self.axes.replace("C", ""),
            self.spacing,
            self.unit,
            self.name,
            self.metadata,
        )

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        size = "" if self.spacing is None else f", spacing={self.spacing} {self.unit or ''}"
        return (
            f"Image({self.name!r}, axes={self.axes!r}, shape={self.data.shape}, "
            f"dtype={self.data.dtype}{size})"
        )
