"""Read TIFF (plain, ImageJ hyperstack, OME-TIFF, compressed) and PNG/JPEG images."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .image import AXES_ORDER, Image

TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}

_UNITS = {
    "micron": "µm",
    "microns": "µm",
    "um": "µm",
    "µm": "µm",
    "\u03bcm": "µm",
    "\\u00b5m": "µm",
    "nm": "nm",
    "nanometer": "nm",
    "mm": "mm",
    "millimeter": "mm",
    "cm": "cm",
    "m": "m",
}


def read_image(path: str | os.PathLike) -> Image:
    """Read a microscopy image with its axes and pixel size.

    Parameters
    ----------
    path : str or path-like
        A TIFF (plain, ImageJ hyperstack, OME-TIFF; any compression tifffile and
        imagecodecs read, LZW included), or a PNG/JPEG/BMP file.

    Returns
    -------
    Image
        ``data`` ordered ``T, C, Z, Y, X`` (absent axes left out), ``axes`` naming them,
        ``spacing`` per spatial axis and ``unit`` when the file records a pixel size.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not an image microlab can read, or is truncated or corrupt.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> microlab.write_labels(path, np.eye(4, dtype=np.uint8), spacing=(0.5, 0.5))
    >>> img = microlab.read_image(path)
    >>> img.axes, img.spacing, img.unit
    ('YX', (0.5, 0.5), 'µm')
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such image file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass one image file (or glob the folder)")
    suffix = path.suffix.lower()
    try:
        if suffix in PIL_SUFFIXES:
            return _read_pil(path)
        return _read_tiff(path)
    except (FileNotFoundError, ImageReadError):
        raise
    except Exception as exc:
        raise ValueError(
            f"cannot read {path.name}: {type(exc).__name__}: {exc}. The file may be "
            "truncated or not an image; microlab reads TIFF/OME-TIFF/ImageJ TIFF, PNG and JPEG"
        ) from exc


class ImageReadError(ValueError):
    """A file that microlab cannot read as an image (a ``ValueError``)."""


def _read_pil(path: Path) -> Image:
    from PIL import Image as PILImage

    with PILImage.open(path) as pil:
        if pil.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            pil = pil.convert("RGBA" if "A" in pil.mode or "transparency" in pil.info else "RGB")
        elif pil.mode == "1":
            pil = pil.convert("L")
        data = np.asarray(pil)
    if data.ndim == 3:
        return Image(np.moveaxis(data, -1, 0).copy(), "CYX", name=path.name)
    return Image(data, "YX", name=path.name)


def _read_tiff(path: Path) -> Image:
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except tifffile.TiffFileError as exc:
        raise ImageReadError(
            f"cannot read {path.name}: not a valid TIFF ({exc}); check that the file is "
            "complete (not truncated by a copy) and really a TIFF"
        ) from exc
    with tif:
        if not tif.series:
            raise ImageReadError(f"cannot read {path.name}: the TIFF holds no image data")
        series = tif.series[0]
        data = series.asarray()
        axes = series.axes
        spacing, unit = _tiff_spacing(tif, axes)
    data, axes = _normalise_axes(data, axes, path.name)
    spatial = "".join(a for a in axes if a in "ZYX")
    if spacing is not None:
        spacing = tuple(spacing.get(a, 1.0) for a in spatial)
    return Image(data, axes, spacing, unit if spacing else None, name=path.name)


def _normalise_axes(data: np.ndarray, axes: str, name: str) -> tuple[np.ndarray, str]:
    """Map tifffile's axes letters to ``TCZYX`` order, squeezing unknown singletons."""
    mapped = []
    for letter in axes:
        if letter == "S":
            letter = "C"
        elif letter in "IQ":  # an unnamed sequence of planes: a z-stack in ImageJ's sense
            letter = "Z"
        mapped.append(letter)
    keep = []
    for i, letter in enumerate(mapped):
        if letter not in AXES_ORDER:
            if data.shape[i] != 1:
                raise ImageReadError(
                    f"{name}: axis {axes[i]!r} (length {data.shape[i]}) has no meaning in "
                    "microlab's T, C, Z, Y, X; save the file as an ImageJ hyperstack or OME-TIFF"
                )
            continue
        keep.append(i)
    data = data.reshape([data.shape[i] for i in keep])
    mapped = [mapped[i] for i in keep]
    if len(set(mapped)) != len(mapped):
        # two axes mapped to the same letter (e.g. Q and Z): fold them into one
        raise ImageReadError(f"{name}: ambiguous axes {axes!r}; save it as an ImageJ hyperstack")
    order = sorted(range(len(mapped)), key=lambda i: AXES_ORDER.index(mapped[i]))
    data = np.transpose(data, order)
    return np.ascontiguousarray(data), "".join(mapped[i] for i in order)


def _tiff_spacing(tif, axes: str) -> tuple[dict[str, float] | None, str | None]:
    if tif.is_ome and tif.ome_metadata:
        found = _ome_spacing(tif.ome_metadata)
        if found[0]:
            return found
    page = tif.pages[0]
    xres = page.tags.get("XResolution")
    yres = page.tags.get("YResolution")
    resunit = page.tags.get("ResolutionUnit")
    ij = tif.imagej_metadata or {}
    spacing: dict[str, float] = {}
    unit = None
    if tif.is_imagej:
        unit = _unit(ij.get("unit"))
        if unit is None and resunit is not None and int(resunit.value) == 3:
            unit = "cm"
    elif resunit is not None and int(resunit.value) == 3:  # centimetre
        unit = "cm"
    if unit is None:
        return None, None  # inch resolutions are dpi for printing, not a pixel size
    for letter, tag in (("X", xres), ("Y", yres)):
        if tag is not None:
            num, den = tag.value
            if num > 0 and den > 0:
                spacing[letter] = den / num
    if "spacing" in ij and "Z" in axes.replace("I", "Z").replace("Q", "Z"):
        spacing["Z"] = float(ij["spacing"])
    if "X" not in spacing or (spacing["X"] == 1.0 and spacing.get("Y", 1.0) == 1.0 and not ij):
        return None, None
    if unit == "cm":
        spacing = {k: v * 1e4 for k, v in spacing.items()}
        unit = "µm"
    return spacing, unit


def _unit(value) -> str | None:
    if not value:
        return None
    text = str(value).strip()
    if text.lower() in ("pixel", "pixels", "none", ""):
        return None
    return _UNITS.get(text.lower(), _UNITS.get(text, text))


def _ome_spacing(xml: str) -> tuple[dict[str, float] | None, str | None]:
    pixels = re.search(r"<(?:\w+:)?Pixels\b([^>]*)>", xml)
    if not pixels:
        return None, None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(1)))
    spacing = {}
    unit = None
    for letter in "XYZ":
        value = attrs.get(f"PhysicalSize{letter}")
        if value is not None:
            spacing[letter] = float(value)
            unit = unit or _unit(attrs.get(f"PhysicalSize{letter}Unit", "µm"))
    if not spacing:
        return None, None
    return spacing, unit or "µm"
