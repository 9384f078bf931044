"""Read OME-Zarr (OME-NGFF 0.4 and 0.5) images lazily, one resolution level at a time.

The metadata is checked against the specification by ``ome-zarr-models`` (the pydantic
models of the NGFF spec); the pixels stay on disk (or in the object store) as a dask
array and are read chunk by chunk when computed.

Examples
--------
>>> import tempfile, pathlib, numpy as np, microlab
>>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.ome.zarr"
>>> pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
>>> microlab.write_ome_zarr(path, microlab.Image(pixels, "YX", (0.5, 0.5), "µm"), levels=2)
>>> image = microlab.read_image(path, level=1)
>>> image.shape, image.spacing, image.unit, type(image.data).__name__
((32, 32), (1.0, 1.0), 'µm', 'Array')
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .image import AXES_ORDER, Image
from .read import ImageReadError, _unit, check_index

__all__ = [
    "OmeZarrAxesError",
    "OmeZarrError",
    "OmeZarrLevelError",
    "is_ome_zarr",
    "read_ome_zarr",
]

NGFF_UNITS = {
    "angstrom": "Å",
    "picometer": "pm",
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
}
"""NGFF's names of the length units microlab writes with a symbol (``"µm"``); other
NGFF units keep their name."""

_METRES = {"Å": 1e-10, "pm": 1e-12, "nm": 1e-9, "µm": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0}
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zattrs")


class OmeZarrError(ImageReadError):
    """An OME-Zarr that microlab cannot read (a ``ValueError``)."""


class OmeZarrAxesError(OmeZarrError):
    """An OME-Zarr whose axes have no meaning in microlab's ``T, C, Z, Y, X``."""


class OmeZarrLevelError(OmeZarrError):
    """A resolution level that the OME-Zarr does not hold."""


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether :func:`microlab.read_image` reads ``path`` as an OME-Zarr.

    That is an fsspec URL (``"s3://…"``, ``"https://…"``, ``"file://…"``,
    ``"memory://…"``), a folder named ``*.zarr``, or a folder holding Zarr metadata.

    Examples
    --------
    >>> is_ome_zarr("s3://bucket/cells.ome.zarr"), is_ome_zarr("cells.tif")
    (True, False)
    """
    if _is_url(path):
        return True
    path = Path(path)
    return path.is_dir() and (
        path.suffix.lower() == ".zarr" or any((path / m).exists() for m in _ZARR_MARKERS)
    )


def read_ome_zarr(
    path: str | os.PathLike, *, level: int = 0, series: int | None = None
) -> Image:
    """Read one resolution level of an OME-Zarr image as a lazy :class:`Image`.

    :func:`microlab.read_image` calls this for a ``.zarr`` folder or a URL.

    Parameters
    ----------
    path : str or path-like
        The image group: a local folder or an fsspec URL. A bioformats2raw folder (one
        image per series) and a label image (``….zarr/labels/NAME``) are read too.
    level : int
        The resolution level, 0 (full resolution) to the number of levels minus one.
    series : int, optional
        The image of a bioformats2raw folder that holds several.

    Returns
    -------
    Image
        ``data`` a dask array ordered ``T, C, Z, Y, X`` (axes of length 1 left out), the
        pixel size of that level from the coordinate transformations and the axes' unit.

    Raises
    ------
    FileNotFoundError
        If a local ``path`` does not exist.
    OmeZarrError
        If ``path`` is not an OME-Zarr image, or its metadata breaks the specification.
    OmeZarrAxesError
        If an axis of length > 1 has a type microlab cannot map (a custom axis).
    OmeZarrLevelError
        If ``level`` does not exist (the message lists the levels there are).
    """
    check_index(level, "level", "a resolution level >= 0")
    ome = open_multiscale(path, series=series)
    arrays = ome.arrays()
    if level >= len(arrays):
        listed = "; ".join(f"{k}: {tuple(a.shape)}" for k, a in enumerate(arrays))
        raise OmeZarrLevelError(
            f"{ome.name} has {len(arrays)} resolution level(s) ({listed}); level={level} "
            f"does not exist: pass level=0..{len(arrays) - 1}"
        )
    array = arrays[level]
    letters = axis_letters(ome.multiscale.axes, array.shape, ome.name)
    keep = [bool(a) and (n > 1 or a in "YX") for a, n in zip(letters, array.shape, strict=True)]
    data = _import("dask.array").from_zarr(array, chunks=array.shards or array.chunks)
    data = data[tuple(slice(None) if k else 0 for k in keep)]
    if data.dtype.byteorder not in "=|":  # zarr 3 says '<u2' where numpy says 'uint16'
        native = data.dtype.newbyteorder("=")
        data = data.map_blocks(_native, native, dtype=native)
    kept = [a for a, k in zip(letters, keep, strict=True) if k]
    order = sorted(range(len(kept)), key=lambda i: AXES_ORDER.index(kept[i]))
    axes = "".join(kept[i] for i in order)
    spacing, unit = _spacing(ome, letters, level, [a for a in axes if a in "ZYX"])
    from .read import _fitting

    data = data.transpose(tuple(order))
    labels = [c.get("label") for c in (ome.omero or {}).get("channels") or []
              if isinstance(c, dict)]
    return Image(data, axes, spacing, unit, name=ome.basename,
                 channel_names=_fitting(labels if all(labels) else None, data, axes))


@dataclass
class Multiscale:
    """An opened OME-Zarr image group and its validated ``multiscales`` metadata."""

    group: Any  # zarr.Group
    multiscale: Any  # ome_zarr_models Multiscale (0.4 or 0.5)
    version: str
    where: str  # the image group's folder or URL
    name: str  # how messages name the image: the folder's name, or the URL
    basename: str
    omero: dict | None = None  # display metadata (channel labels and colours), if any

    def arrays(self) -> list:
        """The zarr array of each resolution level, full resolution first."""
        found = []
        for k, dataset in enumerate(self.multiscale.datasets):
            try:
                array = self.group[dataset.path]
            except KeyError:
                raise OmeZarrError(
                    f"{self.name} is incomplete: resolution level {k} ({dataset.path!r}) "
                    "is named in its metadata but not stored"
                ) from None
            if not hasattr(array, "shape") or array.ndim != len(self.multiscale.axes):
                raise OmeZarrError(
                    f"{self.name}: resolution level {k} ({dataset.path!r}) is not an array "
                    f"with one dimension per axis ({len(self.multiscale.axes)})"
                )
            found.append(array)
        return found

    def scale(self, level: int) -> list[float]:
        """The pixel size per axis of ``level``, the multiscale's own scale applied."""
        scale = _vector(self.multiscale.datasets[level].coordinateTransformations, "scale")
        overall = _vector(self.multiscale.coordinateTransformations or (), "scale")
        if scale is None:
            return [1.0] * len(self.multiscale.axes)
        return [s * g for s, g in zip(scale, overall or [1.0] * len(scale), strict=True)]

    def units(self) -> list[str | None]:
        """The unit of each axis as microlab writes it (``"µm"``), or None."""
        return [
            None if a.unit is None else NGFF_UNITS.get(str(a.unit), _unit(str(a.unit)))
            for a in self.multiscale.axes
        ]


def open_multiscale(path: str | os.PathLike, *, series: int | None = None) -> Multiscale:
    """Open the OME-Zarr image group at ``path`` and validate its metadata.

    Parameters
    ----------
    path : str or path-like
        A local folder or an fsspec URL.
    series : int, optional
        The image of a bioformats2raw folder.

    Returns
    -------
    Multiscale
    """
    zarr = _import("zarr")
    _import("ome_zarr_models")
    url = _is_url(path)
    if not url and not Path(path).exists():
        raise FileNotFoundError(f"no such OME-Zarr: {path}")
    where = str(path)
    basename = where.rstrip("/").rsplit("/", 1)[-1] if url else Path(path).name
    name = where if url else basename
    try:
        group = zarr.open_group(where, mode="r")
    except (FileNotFoundError, ValueError, zarr.errors.BaseZarrError) as exc:
        raise OmeZarrError(
            f"{name} is not a Zarr group ({type(exc).__name__}: {exc}); an OME-Zarr image is "
            "a folder holding zarr.json (Zarr 3, OME-Zarr 0.5) or .zattrs (Zarr 2, 0.4)"
        ) from exc
    attrs = group.attrs.asdict()
    ome = attrs.get("ome", attrs) if group.metadata.zarr_format == 3 else attrs
    if "bioformats2raw.layout" in ome and "multiscales" not in ome:
        key = _series_key(group, series, name)
        return open_multiscale(f"{where.rstrip('/')}/{key}")
    if series not in (None, 0):
        raise OmeZarrError(f"{name} holds one image; series={series} does not exist")
    if "multiscales" not in ome:
        raise OmeZarrError(f"{name} is not an OME-Zarr image: {_what_instead(ome)}")
    version, multiscale = _validated(ome, group.metadata.zarr_format, name)
    omero = ome.get("omero")
    return Multiscale(group, multiscale, version, where, name, basename,
                      omero if isinstance(omero, dict) else None)


def _validated(ome: dict, zarr_format: int, name: str) -> tuple[str, Any]:
    """The first multiscale of the image's metadata, checked against the spec."""
    from pydantic import ValidationError

    multiscales = ome.get("multiscales")
    first = multiscales[0] if isinstance(multiscales, list) and multiscales else None
    found = ome.get("version") or (first.get("version") if isinstance(first, dict) else None)
    version = str(found or ("0.4" if zarr_format == 2 else "without a version"))
    if zarr_format == 3 and version == "0.5":
        from ome_zarr_models.v05.image import ImageAttrs
    elif zarr_format == 2 and version == "0.4":
        from ome_zarr_models.v04.image import ImageAttrs
    else:
        raise OmeZarrError(
            f"{name} is OME-Zarr {version} in Zarr {zarr_format}; microlab reads OME-Zarr "
            "0.4 (Zarr 2) and 0.5 (Zarr 3). Convert it with ome-zarr-py or bioformats2raw"
        )
    try:
        attrs = ImageAttrs.model_validate(ome)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        error = OmeZarrAxesError if "axes" in problems else OmeZarrError
        raise error(
            f"{name} breaks the OME-Zarr {version} specification: {problems}"
        ) from None
    return version, attrs.multiscales[0]


def _what_instead(ome: dict) -> str:
    if "plate" in ome or "well" in ome:
        return (
            "it is a plate (HCS) or a well; pass the path of one field inside it "
            "(e.g. plate.zarr/A/1/0)"
        )
    if "labels" in ome:
        return f"it is a labels group; pass one label image inside it ({ome['labels']})"
    return f"its metadata has no 'multiscales' (keys: {sorted(ome)})"


def _series_key(group, series: int | None, name: str) -> str:
    keys = sorted((k for k in group.group_keys() if k.isdigit()), key=int)
    if not keys:
        raise OmeZarrError(f"{name} is a bioformats2raw folder without images")
    if series is None:
        if len(keys) == 1:
            return keys[0]
        raise OmeZarrError(
            f"{name} holds {len(keys)} images (series {', '.join(keys)}); microlab reads "
            "one image per call: pass series=k to read_image"
        )
    if str(series) not in keys:
        raise OmeZarrError(
            f"{name} holds the series {', '.join(keys)}; series={series} does not exist"
        )
    return str(series)


def axis_letters(axes, shape: tuple[int, ...], name: str) -> list[str]:
    """microlab's letter for each axis of the file (``""``: a custom axis of length 1)."""
    space = [a for a in axes if a.type == "space"]
    named = [str(a.name).upper() for a in space]
    if not set(named) <= set("ZYX"):
        named = list("ZYX"[3 - len(space):])
    letters = []
    for axis, size in zip(axes, shape, strict=True):
        if axis.type == "space":
            letters.append(named[space.index(axis)])
        elif axis.type in ("time", "channel"):
            letters.append("T" if axis.type == "time" else "C")
        elif size == 1:
            letters.append("")
        else:
            raise OmeZarrAxesError(
                f"{name}: axis {axis.name!r} (type {axis.type!r}, length {size}) has no "
                "meaning in microlab's T, C, Z, Y, X; microlab reads axes of type 'time', "
                "'channel' and 'space'. Save one image per value of that axis"
            )
    return letters


def _spacing(ome: Multiscale, letters: list[str], level: int, spatial: list[str]
             ) -> tuple[tuple[float, ...] | None, str | None]:
    """Pixel size of ``level`` along the ``spatial`` axes, and its unit (None, None if the
    image records no unit and a full-resolution pixel size of 1)."""
    units = {a: u for a, u in zip(letters, ome.units(), strict=True) if a}
    scale = {a: s for a, s in zip(letters, ome.scale(level), strict=True) if a}
    full = {a: s for a, s in zip(letters, ome.scale(0), strict=True) if a}
    found = {units[a] for a in spatial} - {None}
    if not found and all(full[a] == 1.0 for a in spatial):
        return None, None
    unit = units[spatial[-1]] or (next(iter(found)) if len(found) == 1 else None)
    values = [scale[a] for a in spatial]
    if len(found) > 1:
        if not found <= set(_METRES):
            raise OmeZarrError(f"{ome.name} records its spatial axes in units {sorted(found)}")
        values = [v * _METRES[units[a]] / _METRES[unit]
                  for a, v in zip(spatial, values, strict=True)]
    for a, v in zip(spatial, values, strict=True):
        if not (math.isfinite(v) and v > 0):
            raise OmeZarrError(
                f"{ome.name} records a pixel size of {v:g} {unit or ''} along {a}; a pixel "
                "size must be positive and finite"
            )
    return tuple(values), unit


def _native(block, dtype):
    return block.view(dtype) if block.dtype.isnative else block.astype(dtype)


def _vector(transforms, kind: str) -> list[float] | None:
    for transform in transforms:
        if transform.type == kind and hasattr(transform, kind):
            return [float(v) for v in getattr(transform, kind)]
    return None


def _is_url(path) -> bool:
    return isinstance(path, str) and "://" in path


def local_path(path: str | os.PathLike) -> Path | None:
    """The local folder ``path`` names (a plain path or a ``file://`` URL), else None."""
    if not _is_url(path):
        return Path(path)
    if str(path).startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(str(path)).path))
    return None


def _import(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"OME-Zarr needs {module.split('.')[0]}: pip install 'microlab[formats]' "
            "(zarr, dask and ome-zarr-models)"
        ) from exc
