"""What a project records about each of its images."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImageInfo:
    """What a project records about one of its images.

    Attributes
    ----------
    name : str
        Unique name within the project.
    shape, dtype, axes : tuple, str, str
        Of the image data (``axes`` in microlab's ``T, C, Z, Y, X`` order).
    spacing, unit : tuple of float or None, str or None
        Pixel size per spatial axis.
    file : str
        Where the pixels are: a path relative to the project folder (a copy) or an absolute
        path (a reference to the original file).
    annotations : str
        The annotation layer's file, relative to the project folder.
    source : str or None
        The file the image was added from, if any.
    digest : str or None
        A hash of the pixels (tells a re-run ``add_image`` from another image of the same
        name).
    channel_names : tuple of str or None
        One name per channel, from the file or :meth:`Project.set_channel_names`.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    axes: str
    spacing: tuple[float, ...] | None
    unit: str | None
    file: str
    annotations: str
    source: str | None = None
    digest: str | None = None
    channel_names: tuple[str, ...] | None = None

    @property
    def layer_axes(self) -> str:
        """Axes of the annotation layer: the image's axes without ``C``."""
        return self.axes.replace("C", "")

    @property
    def layer_shape(self) -> tuple[int, ...]:
        """Shape of the annotation layer (the image shape without channels)."""
        return tuple(n for n, a in zip(self.shape, self.axes, strict=True) if a != "C")

    @property
    def channels(self) -> int:
        """Number of channels (1 without a ``C`` axis)."""
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    def channel_name(self, channel: int) -> str:
        """Channel ``channel``'s name, or its number where it has none."""
        return self.channel_names[channel] if self.channel_names else str(channel)

    @property
    def is_reference(self) -> bool:
        """Whether the pixels stay in their original file outside the project."""
        return Path(self.file).is_absolute()

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "axes": self.axes,
            "spacing": None if self.spacing is None else list(self.spacing),
            "unit": self.unit,
            "file": self.file,
            "annotations": self.annotations,
            "source": self.source,
            "digest": self.digest,
            "channel_names": None if self.channel_names is None else list(self.channel_names),
        }

    @classmethod
    def from_json(cls, d: dict) -> ImageInfo:
        return cls(
            name=str(d["name"]),
            shape=tuple(int(n) for n in d["shape"]),
            dtype=str(d["dtype"]),
            axes=str(d["axes"]),
            spacing=None if d.get("spacing") is None else tuple(float(s) for s in d["spacing"]),
            unit=d.get("unit"),
            file=str(d["file"]),
            annotations=str(d["annotations"]),
            source=d.get("source"),
            digest=d.get("digest"),
            channel_names=(None if not d.get("channel_names")
                           else tuple(str(n) for n in d["channel_names"])),
        )


def digest(data: np.ndarray) -> str:
    """A short hash of an array's shape, dtype and bytes.

    Examples
    --------
    >>> digest(np.zeros((2, 2), np.uint8)) == digest(np.zeros((2, 2), np.uint8))
    True
    >>> digest(np.zeros((2, 2), np.uint8)) == digest(np.ones((2, 2), np.uint8))
    False
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{data.shape}{data.dtype}".encode())
    h.update(np.ascontiguousarray(data).data)
    return h.hexdigest()
