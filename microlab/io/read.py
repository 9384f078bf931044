"""Read TIFF (plain, ImageJ hyperstack, OME-TIFF, compressed), PNG/JPEG and OME-Zarr images."""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
import threading
from contextlib import contextmanager
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


def read_image(
    path: str | os.PathLike, *, series: int | None = None, level: int = 0
) -> Image:
    """Read a microscopy image with its axes and pixel size.

    A file is read whole or not at all: every page of the image is decoded, the pages
    present are checked against what the ImageJ or OME metadata promises and against the
    size of the file, so a truncated copy fails here instead of giving a single plane.
    An OME-Zarr is the exception: it is opened lazily (``data`` is a dask array whose
    chunks are read when computed), so an image larger than memory opens at once.

    Parameters
    ----------
    path : str or path-like
        A TIFF (plain, ImageJ hyperstack, OME-TIFF; any compression tifffile and
        imagecodecs read, LZW included), a PNG/JPEG/BMP file (a grey image stored as RGB,
        RGBA or grey + alpha, every colour plane equal and the alpha opaque, is read as the
        one grey channel it holds), or an OME-Zarr image
        (NGFF 0.4 or 0.5): a ``.zarr`` folder or an fsspec URL such as
        ``"s3://bucket/cells.ome.zarr"`` or ``"file:///data/cells.ome.zarr"``
        (OME-Zarr needs ``pip install 'microlab[formats]'``).
    series : int, optional
        Which image series of a TIFF that holds several (e.g. an OME-TIFF with several
        positions) to read, or which image of a bioformats2raw OME-Zarr. Required for
        such a file: microlab reads one image per call and never drops a series without
        a word.
    level : int
        The resolution level of an OME-Zarr pyramid: 0 (the default) is full resolution,
        each further level is coarser (usually half the size, twice the pixel size). Other
        formats hold level 0 only.

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
        If the file is not an image microlab can read; is truncated or damaged (pages
        missing, data beyond the end of the file, a page that does not decode); holds
        several image series and ``series`` is not given (the message lists them); or
        records a pixel size that is zero, negative or not a number; or ``level`` does not
        exist. OME-Zarr problems raise :class:`microlab.io.OmeZarrError` and its
        subclasses (axes microlab cannot map, a missing level), all ``ValueError``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> microlab.write_labels(path, np.eye(4, dtype=np.uint8), spacing=(0.5, 0.5))
    >>> img = microlab.read_image(path)
    >>> img.axes, img.spacing, img.unit
    ('YX', (0.5, 0.5), 'µm')
    """
    from .omezarr import is_ome_zarr, read_ome_zarr

    if series is not None:
        check_index(series, "series", "a series index >= 0 or None")
    check_index(level, "level", "a resolution level >= 0")
    if is_ome_zarr(path):
        return read_ome_zarr(path, level=level, series=series)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such image file: {path}")
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder; pass one image file (or glob the folder), or an OME-Zarr "
            "image (a .zarr folder)"
        )
    if level != 0:
        raise ImageReadError(
            f"{path.name} holds one resolution level (level 0); level={level} does not "
            "exist. Resolution pyramids are read from OME-Zarr images"
        )
    suffix = path.suffix.lower()
    try:
        if suffix in PIL_SUFFIXES:
            if series not in (None, 0):
                raise ImageReadError(f"{path.name} holds one image; series={series} does not exist")
            return _read_pil(path)
        return _read_tiff(path, series)
    except (FileNotFoundError, ImageReadError):
        raise
    except Exception as exc:
        raise ValueError(
            f"cannot read {path.name}: {type(exc).__name__}: {exc}. The file may be "
            "truncated or not an image; microlab reads TIFF/OME-TIFF/ImageJ TIFF, PNG, JPEG "
            "and OME-Zarr"
        ) from exc


class ImageReadError(ValueError):
    """A file that microlab cannot read as an image (a ``ValueError``)."""


def check_index(value, name: str, what: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 0 (a series, a level)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _read_pil(path: Path) -> Image:
    from PIL import Image as PILImage

    with PILImage.open(path) as pil:
        if pil.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            pil = pil.convert("RGBA" if "A" in pil.mode or "transparency" in pil.info else "RGB")
        elif pil.mode == "1":
            pil = pil.convert("L")
        data = np.asarray(pil)
    if data.ndim == 3 and _grey_in_colour(data):
        data = data[..., 0].copy()
    if data.ndim == 3:
        return Image(np.moveaxis(data, -1, 0).copy(), "CYX", name=path.name)
    return Image(data, "YX", name=path.name)


def _grey_in_colour(data: np.ndarray) -> bool:
    """Whether ``(..., C)`` pixels are one grey plane stored as RGB, RGBA or LA.

    Many grey microscopy images are exported that way (the fluorescence images of the 2018
    Data Science Bowl are RGBA PNGs with three equal colour planes and an opaque alpha):
    every colour plane equal and the alpha plane, if any, fully opaque. Reading them as
    one channel loses nothing and spares three or four times the features, and lets a
    network pretrained on grey images start from its weights as they are.

    Examples
    --------
    >>> grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> _grey_in_colour(np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    True
    >>> _grey_in_colour(np.dstack([grey, grey, grey + 1]))
    False
    """
    channels = data.shape[-1]
    colour = 1 if channels == 2 else 3
    if channels not in (2, 3, 4) or not np.issubdtype(data.dtype, np.integer):
        return False
    if channels in (2, 4) and not np.all(data[..., -1] == np.iinfo(data.dtype).max):
        return False
    first = data[..., 0]
    return all(np.array_equal(first, data[..., c]) for c in range(1, colour))


def _read_tiff(path: Path, series: int | None) -> Image:
    import tifffile

    with _tifffile_errors() as errors:
        try:
            tif = tifffile.TiffFile(path)
        except tifffile.TiffFileError as exc:
            raise ImageReadError(
                f"cannot read {path.name}: not a valid TIFF ({exc}); check that the file is "
                "complete (not truncated by a copy) and really a TIFF"
            ) from exc
        with tif:
            number = _series_number(tif, series, path.name)
            chosen = tif.series[number]
            _check_complete(tif, chosen, path.name)
            data = chosen.asarray()
            axes = chosen.axes
            rgb = chosen.keyframe.photometric == tifffile.PHOTOMETRIC.RGB
            spacing, unit = _tiff_spacing(tif, axes, number)
            names = _tiff_channel_names(tif, number)
    if errors:
        raise ImageReadError(
            f"{path.name} is damaged or truncated: {errors[0]}. Copy it again from its "
            "source (an interrupted copy or download leaves a file short), or export it "
            "again from the acquisition software"
        )
    data, axes = _normalise_axes(data, axes, path.name)
    c = axes.find("C")
    if rgb and c >= 0 and _grey_in_colour(np.moveaxis(data, c, -1)):
        # an RGB TIFF of one grey plane (ImageJ's "RGB Color" of a grey image): one channel
        # (no channel axis left, so _fitting below drops any channel names)
        data, axes = np.take(data, 0, axis=c).copy(), axes.replace("C", "")
    spatial = "".join(a for a in axes if a in "ZYX")
    if spacing is not None:
        for letter in spatial:
            _check_pixel_size(spacing.get(letter, 1.0), letter, unit, path.name)
        spacing = tuple(spacing.get(a, 1.0) for a in spatial)
    return Image(data, axes, spacing, unit if spacing else None, name=path.name,
                 channel_names=_fitting(names, data, axes))


def _tiff_channel_names(tif, index: int) -> list[str] | None:
    """Channel names from OME ``Channel Name`` attributes or ImageJ slice labels."""
    if tif.is_ome and tif.ome_metadata:
        images = re.split(r"<(?:\w+:)?Image\b", tif.ome_metadata)[1:]
        if images:
            chosen = images[index if index < len(images) else 0]
            names = re.findall(r'<(?:\w+:)?Channel\b[^>]*?\bName="([^"]*)"', chosen)
            return [_xml_text(n) for n in names] or None
    labels = (tif.imagej_metadata or {}).get("Labels")
    channels = (tif.imagej_metadata or {}).get("channels")
    if isinstance(labels, (list, tuple)) and channels and len(labels) >= channels:
        # ImageJ orders planes channel-fastest: the first `channels` labels name them
        return [Path(str(label)).stem if str(label).lower().endswith((".tif", ".tiff"))
                else str(label) for label in labels[:channels]]
    return None


def _xml_text(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&apos;", "'").replace("&amp;", "&"))


def _fitting(names, data, axes: str) -> tuple[str, ...] | None:
    """``names`` if they name each channel of ``data`` once (a file's labels that do not
    fit, e.g. one per plane or duplicates, are dropped rather than refused)."""
    if not names or "C" not in axes:
        return None
    names = tuple(str(n).strip() for n in names)
    if (len(names) != data.shape[axes.index("C")] or not all(names)
            or len(set(names)) != len(names)):
        return None
    return names


def _check_pixel_size(value: float, letter: str, unit: str | None, name: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ImageReadError(
            f"{name} records a pixel size of {value:g} {unit} along {letter}; a pixel size "
            "must be positive and finite. Set the right one in the file (Fiji: Image > "
            "Properties..., then save) and read it again"
        )


@contextmanager
def _tifffile_errors():
    """Collect the errors tifffile logs in this thread (it logs damage instead of raising).

    tifffile reads what it can of a broken file: a page chain that points past the end of
    the file, ImageJ or OME metadata it cannot honour, tags stored beyond the end. It logs
    these at ERROR level; microlab refuses such a file rather than read part of it.
    """
    collector = _ErrorCollector()
    logger = logging.getLogger("tifffile")
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            # tifffile prefixes its messages with the repr of the object that logged them
            self.messages.append(re.sub(r"<[^<>]*>\s*", "", record.getMessage()))


def _series_number(tif, series: int | None, name: str) -> int:
    """The index of the series to read: the only one, or the one asked for."""
    found = tif.series
    if not found:
        raise ImageReadError(f"cannot read {name}: the TIFF holds no image data")
    if series is None:
        if len(found) == 1:
            return 0
        listed = "; ".join(
            f"{i}: {s.axes} {tuple(s.shape)} {s.dtype}" + (f" {s.name!r}" if s.name else "")
            for i, s in enumerate(found)
        )
        raise ImageReadError(
            f"{name} holds {len(found)} image series ({listed}); microlab reads one image "
            "per file: pass series=k to read_image, or save each series as its own file"
        )
    if series >= len(found):
        raise ImageReadError(
            f"{name} holds {len(found)} image series (0..{len(found) - 1}); "
            f"series={series} does not exist"
        )
    return series


def _check_complete(tif, series, name: str) -> None:
    """Raise unless every page the series promises is in the file, data included."""
    size = tif.filehandle.size
    readable = len(tif.pages)  # walks the page chain; tifffile logs a chain that breaks off
    if series.kind == "generic" and (tif.is_imagej or tif.is_ome):
        # the metadata describes an image that tifffile could not assemble from the pages
        promised = (tif.imagej_metadata or {}).get("images") if tif.is_imagej else None
        raise ImageReadError(
            f"{name} is truncated or damaged: its {'ImageJ' if tif.is_imagej else 'OME'} "
            f"metadata promises {promised or 'more'} images but the file holds {readable} "
            "readable page(s)"
        )
    if series.dataoffset is not None:  # one contiguous block (e.g. ImageJ > 4 GB)
        end = series.dataoffset + series.nbytes
        if end > size:
            raise ImageReadError(
                f"{name} is truncated: its {series.axes} image {tuple(series.shape)} needs "
                f"{end} bytes but the file has {size}"
            )
        return
    try:
        pages = list(series)
    except IndexError:
        pages = [None]
    missing = sum(page is None for page in pages)
    if missing:
        raise ImageReadError(
            f"{name} is truncated or damaged: {missing} of the {len(series)} pages its "
            f"{series.kind} metadata promises are not in the file"
        )
    for index, page in enumerate(pages):
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if ends and max(ends) > size:
            raise ImageReadError(
                f"{name} is truncated: page {index + 1} of {len(pages)} stores data up to "
                f"byte {max(ends)} but the file has {size} bytes"
            )


def _normalise_axes(data: np.ndarray, axes: str, name: str) -> tuple[np.ndarray, str]:
    """Map tifffile's axes letters to ``TCZYX`` order; an axis of length 1 (other than Y
    or X) is an absent axis, whatever the file calls it, so one z-slice is a 2D image."""
    mapped = []
    for letter in axes:
        if letter == "S":
            letter = "C"
        elif letter in "IQ":  # an unnamed sequence of planes: a z-stack in ImageJ's sense
            letter = "Z"
        mapped.append(letter)
    keep = []
    for i, letter in enumerate(mapped):
        if data.shape[i] == 1 and letter not in "YX":
            continue
        if letter not in AXES_ORDER:
            raise ImageReadError(
                f"{name}: axis {axes[i]!r} (length {data.shape[i]}) has no meaning in "
                "microlab's T, C, Z, Y, X; save the file as an ImageJ hyperstack or OME-TIFF"
            )
        keep.append(i)
    data = data.reshape([data.shape[i] for i in keep])
    mapped = [mapped[i] for i in keep]
    if len(set(mapped)) != len(mapped):
        # two axes mapped to the same letter (e.g. Q and Z): fold them into one
        raise ImageReadError(f"{name}: ambiguous axes {axes!r}; save it as an ImageJ hyperstack")
    order = sorted(range(len(mapped)), key=lambda i: AXES_ORDER.index(mapped[i]))
    data = np.transpose(data, order)
    return np.ascontiguousarray(data), "".join(mapped[i] for i in order)


def _tiff_spacing(
    tif, axes: str, index: int
) -> tuple[dict[str, float] | None, str | None]:
    """Pixel size per axis letter and its unit, from OME, ImageJ or resolution tags."""
    if tif.is_ome and tif.ome_metadata:
        found = _ome_spacing(tif.ome_metadata, index)
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


def _ome_spacing(xml: str, index: int) -> tuple[dict[str, float] | None, str | None]:
    """The physical pixel size of the ``index``-th OME image (the first if fewer)."""
    pixels = re.findall(r"<(?:\w+:)?Pixels\b([^>]*)>", xml)
    if not pixels:
        return None, None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', pixels[index if index < len(pixels) else 0]))
    spacing = {}
    unit = None
    for letter in "XYZ":
        value = attrs.get(f"PhysicalSize{letter}")
        if value is not None:
            try:
                spacing[letter] = float(value)
            except ValueError:
                spacing[letter] = math.nan
            unit = unit or _unit(attrs.get(f"PhysicalSize{letter}Unit", "µm"))
    if not spacing:
        return None, None
    return spacing, unit or "µm"
