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
    data : ndarray or dask array
        The pixels, axes in the order ``T, C, Z, Y, X`` with absent axes left out. An
        OME-Zarr is read as a dask array: nothing is loaded until it is computed
        (``np.asarray(image)`` loads it all; :func:`microlab.predict_tiled` one tile at a
        time).
    axes : str
        The axes of ``data``, a subsequence of ``"TCZYX"`` (e.g. ``"CYX"``).
    spacing : tuple of float or None
        Pixel size along the spatial axes (``Z, Y, X`` present in ``axes``), or None if the
        file does not say.
    unit : str or None
        Unit of ``spacing`` (``"µm"`` for microns), or None.
    name : str
        A label for the image, usually the file name.
    channel_names : tuple of str, optional
        One name per channel (``"DAPI"``, ``"GFP"``…) where the file says (OME ``Channel
        Name``, ImageJ slice labels, OME-Zarr ``omero`` labels), else None.

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
    channel_names: tuple[str, ...] | None = None

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
        if self.channel_names is not None:
            names = channel_names(self.channel_names, self.channels)
            object.__setattr__(self, "channel_names", names)

    @classmethod
    def from_array(cls, data, axes: str | None = None, *, spacing=None, unit: str | None = None,
                   name: str = "", channel_names=None) -> Image:
        """An Image from an array whose axes are in any order, checked and reordered.

        Parameters
        ----------
        data : array-like
            The pixels (numeric; booleans become uint8).
        axes : str, optional
            The letters of ``T, C, Z, Y, X`` in the array's order (``"YXC"``, ``"TZYX"``…).
            Default: ``"YX"`` for 2D, ``"YXC"`` for ``(Y, X, 3|4)`` (RGB, channels last),
            ``"ZYX"`` for other 3D arrays; anything else must say.
        spacing : float or tuple of float, optional
            Pixel size per spatial axis.
        unit, name : str, optional
        channel_names : sequence of str, optional
            One name per channel.

        Examples
        --------
        >>> Image.from_array(np.zeros((32, 48, 3), np.uint8)).axes
        'CYX'
        >>> Image.from_array(np.zeros((5, 4, 32, 32)), "ZTYX").shape
        (4, 5, 32, 32)
        """
        from .._checks import as_array, check_numeric, positive_spacing

        data = as_array(data, "image")
        check_numeric(data, "image")
        if data.dtype == bool:
            data = data.astype(np.uint8)
        if axes is None:
            if data.ndim == 2:
                axes = "YX"
            elif data.ndim == 3 and data.shape[-1] in (3, 4) and min(data.shape[:2]) > 4:
                axes = "YXC"
            elif data.ndim == 3:
                axes = "ZYX"
            else:
                raise ValueError(
                    f"an array of shape {data.shape} is ambiguous: pass axes= naming each axis "
                    "with the letters T, C, Z, Y, X (e.g. axes='TZYX' or 'CZYX')"
                )
        axes = str(axes).upper()
        if len(axes) != data.ndim or len(set(axes)) != len(axes) or set(axes) - set(AXES_ORDER):
            raise ValueError(
                f"axes {axes!r} must name each of the {data.ndim} axes of the image (shape "
                f"{data.shape}) once, with letters from {AXES_ORDER!r}"
            )
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"axes {axes!r} must include Y and X")
        order = sorted(range(len(axes)), key=lambda k: AXES_ORDER.index(axes[k]))
        data = np.transpose(data, order)
        axes = "".join(axes[k] for k in order)
        if min(data.shape) < 1:
            raise ValueError(f"the image is empty (shape {data.shape})")
        spacing = positive_spacing(spacing, sum(a in "ZYX" for a in axes))
        return cls(np.ascontiguousarray(data), axes, spacing, unit, name,
                   channel_names=channel_names)

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
        return np.asarray(self.data, dtype=dtype)

    def __repr__(self) -> str:
        size = "" if self.spacing is None else f", spacing={self.spacing} {self.unit or ''}"
        return (
            f"Image({self.name!r}, axes={self.axes!r}, shape={self.data.shape}, "
            f"dtype={self.data.dtype}{size})"
        )


def channel_names(names, channels: int) -> tuple[str, ...]:
    """``names`` checked: one non-empty, distinct string per channel.

    Examples
    --------
    >>> channel_names(["DAPI", " GFP "], 2)
    ('DAPI', 'GFP')
    """
    if isinstance(names, str):
        names = [names]
    names = tuple(str(n).strip() for n in names)
    if len(names) != channels:
        raise ValueError(
            f"{len(names)} channel name(s) {list(names)} given for an image with {channels} "
            "channel(s): give one name per channel"
        )
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"channel names {list(names)} must be distinct and not empty")
    return names
