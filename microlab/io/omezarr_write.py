"""Write OME-Zarr (OME-NGFF 0.5 or 0.4): images and probabilities with a resolution
pyramid, and label images into an image's ``labels/`` group, where napari
(napari-ome-zarr), vizarr and Fiji (MoBIE) find them beside the image.

The metadata is built from the ``ome-zarr-models`` pydantic models of the specification,
so what is written is checked as it is made. Pixels go to disk one chunk at a time (a
dask array larger than memory included), each resolution level computed from the one
stored before it. A local OME-Zarr is written into a temporary folder beside its target
and renamed into place when complete.

Examples
--------
>>> import tempfile, pathlib, numpy as np, microlab
>>> path = pathlib.Path(tempfile.mkdtemp()) / "nuclei.ome.zarr"
>>> pixels = np.random.default_rng(0).integers(0, 4000, (64, 64)).astype(np.uint16)
>>> microlab.write_ome_zarr(path, microlab.Image(pixels, "YX", (0.5, 0.5), "µm"), levels=2)
>>> labels = (pixels > 2000).astype(np.uint8)
>>> microlab.write_labels_ome_zarr(path, labels, classes=["nucleus"], colors=["#ff0000"])
>>> sorted(p.name for p in (path / "labels" / "microlab").iterdir())
['0', '1', 'zarr.json']
>>> microlab.read_image(path / "labels" / "microlab", level=1).shape
(32, 32)
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np

from .._atomic import atomic_folder
from .._checks import integer_labels, positive_spacing
from .image import Image
from .omezarr import NGFF_UNITS, _import, axis_letters, local_path, open_multiscale
from .read import _unit

__all__ = ["write_labels_ome_zarr", "write_ome_zarr", "write_probabilities_ome_zarr"]

AUTO_LEVELS_UNTIL = 512
"""With ``levels=None`` a pyramid halves Y and X until both are at most this size."""

_CHUNKS = {2: {"Y": 1024, "X": 1024}, 3: {"Z": 16, "Y": 512, "X": 512}}
_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


def write_ome_zarr(
    path: str | os.PathLike,
    image: Image,
    *,
    levels: int | None = None,
    chunks: int | Sequence[int] | None = None,
    version: str = "0.5",
    overwrite: bool = False,
) -> None:
    """Write an :class:`Image` as an OME-Zarr image with a resolution pyramid.

    Each level halves Y and X (and Z while the voxels stay finer along Z than across),
    averaging the pixels it merges; the pixel size of every level is in its coordinate
    transformations and the unit on the axes. napari (napari-ome-zarr), vizarr, Fiji
    (MoBIE, the N5 plugin) and :func:`microlab.read_image` open the result.

    Parameters
    ----------
    path : str or path-like
        The folder to create (``cells.ome.zarr``), or an fsspec URL (``"s3://…"``).
    image : Image
        The pixels with axes, pixel size and unit; ``data`` may be a dask array larger
        than memory (it is written chunk by chunk).
    levels : int, optional
        Number of resolution levels, full resolution included (1: no pyramid). Default:
        halve until Y and X are at most 512 pixels.
    chunks : int or sequence of int, optional
        Chunk size along the spatial axes (one for all or one per axis). Default 1024 x
        1024 for 2D, 16 x 512 x 512 for 3D; T and C are chunked one by one.
    version : {"0.5", "0.4"}
        The OME-Zarr version: 0.5 (Zarr 3) or 0.4 (Zarr 2, for viewers that do not read
        0.5 yet).
    overwrite : bool
        Replace an existing ``path``. If False (the default) an existing one is refused.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If ``levels`` is more than the image can be halved, ``chunks`` or ``version`` is
        not valid, or the unit has no OME-Zarr name.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "stack.ome.zarr"
    >>> stack = microlab.Image(np.zeros((4, 64, 64), np.uint8), "ZYX", (2.0, 0.5, 0.5), "µm")
    >>> write_ome_zarr(path, stack, levels=3)
    >>> [microlab.read_image(path, level=k).spacing for k in range(3)]
    [(2.0, 0.5, 0.5), (2.0, 1.0, 1.0), (2.0, 2.0, 2.0)]
    """
    omero = None
    if image.channel_names:
        omero = [{"label": name, "active": True} for name in image.channel_names]
    _write_image(path, image, levels=levels, chunks=chunks, version=version,
                 overwrite=overwrite, omero=omero)


def write_probabilities_ome_zarr(
    path: str | os.PathLike,
    proba,
    *,
    spacing: float | Sequence[float] | None = None,
    unit: str = "µm",
    classes: Sequence[str] | None = None,
    colors: Sequence | None = None,
    levels: int | None = None,
    chunks: int | Sequence[int] | None = None,
    version: str = "0.5",
    overwrite: bool = False,
) -> None:
    """Write class probabilities ``(C, Y, X)`` or ``(C, Z, Y, X)`` as an OME-Zarr image.

    One channel per class, named after it, with a display range of 0 to 1, so napari
    shows each class as its own layer; otherwise as :func:`write_ome_zarr`.

    Parameters
    ----------
    path : str or path-like
        The folder to create, or an fsspec URL.
    proba : array-like, dask array or Image
        Probabilities with the class axis first, as ``Segmenter.predict_proba`` and
        :func:`microlab.predict_tiled` return them (floats).
    spacing : float or sequence of float, optional
        Pixel size per spatial axis (ignored for an Image, which has its own).
    unit : str
        Unit of ``spacing``.
    classes : sequence of str, optional
        The name of each class (``segmenter.classes``).
    colors : sequence, optional
        A colour per class (``"#rrggbb"`` or an RGB tuple; ``segmenter.colors``).
    levels, chunks, version, overwrite
        As for :func:`write_ome_zarr`.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "proba.ome.zarr"
    >>> proba = np.full((2, 32, 32), 0.5, np.float32)
    >>> write_probabilities_ome_zarr(path, proba, spacing=0.5, classes=["cell", "background"])
    >>> back = microlab.read_image(path)
    >>> back.axes, back.dtype, back.spacing
    ('CYX', dtype('float32'), (0.5, 0.5))
    """
    if isinstance(proba, Image):
        image = proba
    else:
        data = proba if _is_dask(proba) else np.asarray(proba)
        if data.ndim not in (3, 4):
            raise ValueError(
                f"proba must be (C, Y, X) or (C, Z, Y, X) with the classes first, got shape "
                f"{data.shape}"
            )
        space = positive_spacing(spacing, data.ndim - 1)
        image = Image(data, "C" + "ZYX"[4 - data.ndim:], space, unit if space else None)
    if image.dtype.kind != "f" or "C" not in image.axes:
        raise TypeError(
            f"proba must be floating-point probabilities with a class axis, got "
            f"{image.dtype} with axes {image.axes!r}"
        )
    n = image.channels
    for given, what in ((classes, "classes"), (colors, "colors")):
        if given is not None and len(given) != n:
            raise ValueError(f"{len(given)} {what} given for {n} probability channels")
    omero = None
    if classes is not None or colors is not None:
        omero = [
            {
                "label": str(classes[k]) if classes is not None else f"class {k + 1}",
                "color": "".join(f"{v:02X}" for v in _rgba(colors[k] if colors else "white")[:3]),
                "window": {"min": 0.0, "max": 1.0, "start": 0.0, "end": 1.0},
                "active": True,
            }
            for k in range(n)
        ]
    _write_image(path, image, levels=levels, chunks=chunks, version=version,
                 overwrite=overwrite, omero=omero)


def write_labels_ome_zarr(
    image_path: str | os.PathLike,
    labels,
    name: str = "microlab",
    *,
    classes: Sequence[str] | None = None,
    colors: Sequence | Mapping | None = None,
    overwrite: bool = False,
) -> None:
    """Write a label image into an OME-Zarr image's ``labels/NAME`` group.

    The labels get the image's resolution pyramid (the same levels, shapes, chunks and
    coordinate transformations; downsampled by picking the nearest pixel, never by
    interpolation, so every level holds only values of the full-resolution labels) and
    the ``image-label`` metadata pointing back at the image, so napari
    (napari-ome-zarr), vizarr and MoBIE show them over it.

    Parameters
    ----------
    image_path : str or path-like
        An OME-Zarr image (0.4 or 0.5; local folder or fsspec URL), e.g. one written by
        :func:`write_ome_zarr`.
    labels : array-like, dask array or Image
        Non-negative integers, 0 = background: the image's shape without its channel
        axis, as :func:`microlab.read_image` gives it (e.g. ``(Z, Y, X)``), such as
        ``segmenter.predict(image)`` or instance labels. A dask array is written chunk by
        chunk.
    name : str
        The name of the label image in ``labels/``.
    classes : sequence of str, optional
        For semantic labels, the name of each value 1..C (``segmenter.classes``),
        recorded as the label ``properties``.
    colors : sequence or mapping, optional
        Display colours: a sequence for values 1..C (``segmenter.colors``), or a mapping
        value → colour. A colour is ``"#rrggbb"``, a name, or an RGB(A) tuple (floats
        0-1 or integers 0-255).
    overwrite : bool
        Replace an existing label image of that name.

    Raises
    ------
    FileExistsError
        If ``labels/NAME`` exists and ``overwrite`` is False.
    TypeError
        If ``labels`` is not integer.
    ValueError
        If ``labels`` does not match the image's shape, holds negative values, or the
        classes and colours do not match.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.ome.zarr"
    >>> microlab.write_ome_zarr(path, microlab.Image(np.zeros((2, 32, 32), np.uint8), "CYX"))
    >>> write_labels_ome_zarr(path, np.ones((32, 32), np.uint16), "cells")
    >>> microlab.read_image(path / "labels" / "cells").axes
    'YX'
    """
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a folder name for the labels, got {name!r}")
    ome = open_multiscale(image_path)
    arrays = ome.arrays()
    axes = ome.multiscale.axes
    keep = [i for i, a in enumerate(axes) if a.type != "channel"]
    data = _label_array(labels, ome, arrays[0].shape, keep)
    attrs = _label_attrs(ome, name, keep, classes, colors)
    labels_where = f"{ome.where.rstrip('/')}/labels"
    folder = local_path(labels_where)
    made = folder is not None and not folder.exists()
    if made:
        folder.mkdir()
    try:
        with _new_group(f"{labels_where}/{name}", ome.version, overwrite) as group:
            _store_pyramid(
                group, data, [d.path for d in ome.multiscale.datasets],
                [tuple(a.shape[i] for i in keep) for a in arrays],
                tuple(arrays[0].chunks[i] for i in keep), [str(axes[i].name) for i in keep],
                _nearest,
            )
            group.attrs.update(_dump(attrs, ome.version))
    except BaseException:
        if made:
            folder.rmdir()
        raise
    _list_label(ome, labels_where, name)


def _label_attrs(ome, name: str, keep: list[int], classes, colors):
    """The label image's metadata: the image's multiscale without its channel axis, and
    the ``image-label`` (source, colours, classes)."""
    models = _models(ome.version)
    properties = None if classes is None else [
        {"label-value": k + 1, "class": str(c)} for k, c in enumerate(classes)
    ]
    color_list = None
    if colors is not None:
        pairs = colors.items() if isinstance(colors, Mapping) else enumerate(colors, 1)
        color_list = [{"label-value": int(v), "rgba": _rgba(c)} for v, c in pairs]
    if classes is not None and colors is not None and len(classes) != len(color_list):
        raise ValueError(
            f"{len(classes)} classes but {len(color_list)} colours; give one colour per class"
        )
    label = models.Label(
        colors=color_list, properties=properties, source={"image": "../../"},
        version="0.4" if ome.version == "0.4" else None,
    )
    datasets = [
        models.Dataset(path=d.path, coordinateTransformations=[
            _select(t, keep) for t in d.coordinateTransformations
        ])
        for d in ome.multiscale.datasets
    ]
    overall = ome.multiscale.coordinateTransformations
    multiscale = _multiscale(
        models, ome.version, [ome.multiscale.axes[i] for i in keep], datasets, name,
        "nearest", None if overall is None else [_select(t, keep) for t in overall],
    )
    return models.ImageLabelAttrs(
        multiscales=[multiscale], image_label=label, **_ome_version(ome.version)
    )


def _list_label(ome, labels_where: str, name: str) -> None:
    """Add ``name`` to the ``labels`` list of the image's labels group."""
    zarr = _import("zarr")
    group = zarr.open_group(labels_where, mode="a", zarr_format=ome.group.metadata.zarr_format)
    found = group.attrs.asdict()
    listed = list((found.get("ome", found) if ome.version == "0.5" else found).get("labels", []))
    attrs = _models(ome.version).LabelsAttrs(
        labels=[*listed, *([name] if name not in listed else [])], **_ome_version(ome.version)
    )
    group.attrs.update(_dump(attrs, ome.version))


def _write_image(path, image: Image, *, levels, chunks, version: str, overwrite: bool,
                 omero: list[dict] | None = None) -> None:
    if not isinstance(image, Image):
        raise TypeError(
            f"image must be a microlab.Image, got {type(image).__name__}; wrap an array "
            "with microlab.Image(data, axes, spacing, unit)"
        )
    models = _models(version)
    spatial = image.spatial_axes
    spacing = dict(zip(spatial, image.spacing or (1.0,) * len(spatial), strict=True))
    unit = _ngff_unit(image.unit) if image.spacing is not None else None
    factors = _factors(dict(zip(image.axes, image.shape, strict=True)), spacing, levels)
    datasets = [
        models.Dataset.build(
            path=str(k),
            scale=[spacing.get(a, 1.0) * f[a] for a in image.axes],
            translation=[spacing.get(a, 1.0) * (f[a] - 1) / 2 for a in image.axes],
        )
        for k, f in enumerate(factors)
    ]
    axes = [
        models.Axis(name=a.lower(), type=_TYPES[a], unit=unit if a in spatial else None)
        for a in image.axes
    ]
    multiscale = _multiscale(models, version, axes, datasets, image.name or None, "mean")
    extra = {} if omero is None else {"omero": {"channels": omero}}
    attrs = models.ImageAttrs(multiscales=[multiscale], **_ome_version(version), **extra)
    shapes = [tuple(n // f[a] for a, n in zip(image.axes, image.shape, strict=True))
              for f in factors]
    chunk = _chunk_shape(image, chunks)
    with _new_group(path, version, overwrite) as group:
        _store_pyramid(group, _as_dask(image.data), [d.path for d in datasets], shapes, chunk,
                       [a.lower() for a in image.axes], _mean)
        group.attrs.update(_dump(attrs, version))


def _factors(shape: dict[str, int], spacing: dict[str, float], levels: int | None
             ) -> list[dict[str, int]]:
    """The downsampling factor per axis of each level (level 0: all 1)."""
    if levels is not None and (
        isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 1
    ):
        raise ValueError(f"levels must be a number of resolution levels >= 1, got {levels!r}")
    found = [dict.fromkeys(shape, 1)]
    while True:
        last = found[-1]
        sizes = {a: n // last[a] for a, n in shape.items()}
        if levels is None and (
            max(sizes["Y"], sizes["X"]) <= AUTO_LEVELS_UNTIL or min(sizes["Y"], sizes["X"]) < 2
        ):
            return found
        if levels is not None and len(found) == levels:
            return found
        if min(sizes["Y"], sizes["X"]) < 2:
            raise ValueError(
                f"levels={levels} is more than an image of shape {tuple(shape.values())} "
                f"can be halved to; at most {len(found)}"
            )
        step = {**last, "Y": last["Y"] * 2, "X": last["X"] * 2}
        if "Z" in shape and sizes["Z"] >= 2 and (
            spacing["Z"] * last["Z"] < spacing["Y"] * step["Y"]
        ):
            step["Z"] = last["Z"] * 2
        found.append(step)


def _chunk_shape(image: Image, chunks) -> tuple[int, ...]:
    spatial = image.spatial_axes
    if chunks is None:
        size = _CHUNKS[len(spatial)]
    else:
        values = (chunks,) * len(spatial) if isinstance(chunks, numbers.Integral) else chunks
        values = tuple(values)
        if len(values) != len(spatial) or not all(
            isinstance(v, numbers.Integral) and v >= 1 for v in values
        ):
            raise ValueError(
                f"chunks must be a positive integer or one per spatial axis {spatial!r}, "
                f"got {chunks!r}"
            )
        size = dict(zip(spatial, values, strict=True))
    return tuple(int(size.get(a, 1)) for a in image.axes)


def _store_pyramid(group, data, paths: list[str], shapes: list[tuple[int, ...]],
                   chunks: tuple[int, ...], names: list[str],
                   downsample: Callable) -> None:
    """Write each level into ``group`` chunk by chunk, level k computed from level k-1 as
    stored (so memory holds a few chunks whatever the size of the image)."""
    da = _import("dask.array")
    source, previous = data, None
    for path, shape in zip(paths, shapes, strict=True):
        if previous is not None:
            source = downsample(da.from_zarr(previous), shape)
        extra = (
            {"dimension_names": names} if group.metadata.zarr_format == 3
            else {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
        )
        previous = group.create_array(
            path, shape=shape, dtype=source.dtype, fill_value=0,
            chunks=tuple(min(c, n) for c, n in zip(chunks, shape, strict=True)), **extra,
        )
        da.store(source.rechunk(previous.chunks), previous, lock=False)


def _mean(array, shape: tuple[int, ...]):
    """Average blocks of pixels down to ``shape`` (whole factors per axis)."""
    da = _import("dask.array")
    factors = {i: n // m for i, (n, m) in enumerate(zip(array.shape, shape, strict=True))
               if n != m}
    merged = da.coarsen(np.mean, array, factors, trim_excess=True)
    if array.dtype.kind in "biu":
        merged = merged.round()
    return merged.astype(array.dtype)


def _nearest(array, shape: tuple[int, ...]):
    """Pick the pixel nearest to the centre of each output pixel (no new values)."""
    da = _import("dask.array")
    for axis, (n, m) in enumerate(zip(array.shape, shape, strict=True)):
        if n != m:
            index = np.minimum(((np.arange(m) + 0.5) * n / m).astype(np.int64), n - 1)
            array = da.take(array, index, axis=axis)
    return array


def _label_array(labels, ome, shape: tuple[int, ...], keep: list[int]):
    """``labels`` as a dask array in the file's axes (channel left out), checked."""
    data = labels.data if isinstance(labels, Image) else labels
    data = integer_labels(data if _is_dask(data) else np.asarray(data))
    letters = axis_letters(ome.multiscale.axes, shape, ome.name)
    full = [(letters[i], shape[i]) for i in keep]
    wanted = [(a, n) for a, n in full if a and (n > 1 or a in "YX")]
    order = sorted(range(len(wanted)), key=lambda k: "TCZYX".index(wanted[k][0]))
    expected = tuple(wanted[k][1] for k in order)
    if tuple(data.shape) != expected:
        axes = "".join(wanted[k][0] for k in order)
        raise ValueError(
            f"labels have shape {tuple(data.shape)} but {ome.name} is {expected} ({axes}) "
            "without its channels; labels must cover the image pixel for pixel"
        )
    if data.dtype.kind == "i":
        if _is_dask(data):
            data = data.map_blocks(_non_negative, dtype=data.dtype)
        else:
            _non_negative(data)
    data = _as_dask(data).transpose(tuple(int(i) for i in np.argsort(order)))
    return data.reshape(tuple(n for _, n in full))


def _non_negative(block: np.ndarray) -> np.ndarray:
    if block.size and block.min() < 0:
        raise ValueError("labels must be non-negative (0 = background)")
    return block


@contextmanager
def _new_group(where: str, version: str, overwrite: bool):
    """A new, empty Zarr group for ``where``: a local one is written into a temporary
    folder renamed into place when complete; a remote one is written in place."""
    zarr = _import("zarr")
    zarr_format = 3 if version == "0.5" else 2
    local = local_path(where)
    if local is not None:
        with atomic_folder(local, overwrite=overwrite) as tmp:
            yield zarr.open_group(str(tmp), mode="w", zarr_format=zarr_format)
        return
    fsspec = _import("fsspec")
    fs, inside = fsspec.core.url_to_fs(where)
    if fs.exists(inside):
        if not overwrite:
            raise FileExistsError(f"{where} already exists; pass overwrite=True to replace it")
        fs.rm(inside, recursive=True)
    yield zarr.open_group(where, mode="w-", zarr_format=zarr_format)


def _models(version: str) -> SimpleNamespace:
    """The ome-zarr-models classes of an OME-Zarr version."""
    _import("ome_zarr_models")
    if version == "0.5":
        from ome_zarr_models.v05 import axes, image, image_label, labels, multiscales
        from ome_zarr_models.v05.image_label_types import Label
    elif version == "0.4":
        from ome_zarr_models.v04 import axes, image, image_label, labels, multiscales
        from ome_zarr_models.v04.image_label_types import Label
    else:
        raise ValueError(f"version must be '0.5' (Zarr 3) or '0.4' (Zarr 2), got {version!r}")
    return SimpleNamespace(
        Axis=axes.Axis, Dataset=multiscales.Dataset, Multiscale=multiscales.Multiscale,
        ImageAttrs=image.ImageAttrs, ImageLabelAttrs=image_label.ImageLabelAttrs,
        LabelsAttrs=labels.LabelsAttrs, Label=Label,
    )


def _multiscale(models, version: str, axes, datasets, name, kind: str, overall=None):
    fields = {"version": "0.4"} if version == "0.4" else {}
    return models.Multiscale(axes=axes, datasets=datasets, name=name, type=kind,
                             coordinateTransformations=overall, **fields)


def _ome_version(version: str) -> dict:
    """0.5 records its version on every group's ``ome`` attributes; 0.4 in multiscales."""
    return {"version": "0.5"} if version == "0.5" else {}


def _dump(model, version: str) -> dict:
    attrs = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {"ome": attrs} if version == "0.5" else attrs


def _select(transform, keep: list[int]) -> dict:
    """A scale or translation transform restricted to the axes ``keep``."""
    found = transform.model_dump(by_alias=True, exclude_none=True, mode="json")
    if transform.type in found:
        found[transform.type] = [found[transform.type][i] for i in keep]
    return found


def _ngff_unit(unit: str | None) -> str | None:
    if unit is None:
        return None
    symbol = _unit(unit)
    names = {v: k for k, v in NGFF_UNITS.items()}
    if symbol in names or symbol in NGFF_UNITS:
        return names.get(symbol, symbol)
    raise ValueError(
        f"unit {unit!r} has no OME-Zarr name; use one of {', '.join(names)} "
        "(or set spacing=None)"
    )


def _rgba(color) -> list[int]:
    """``color`` (a name, ``"#rrggbb"``, RGB(A) floats 0-1 or integers 0-255) as 4 bytes."""
    from matplotlib.colors import to_rgba

    if not isinstance(color, str) and all(isinstance(v, numbers.Integral) for v in color):
        values = [int(v) for v in color]
        if len(values) not in (3, 4) or not all(0 <= v <= 255 for v in values):
            raise ValueError(f"colour {color!r} must be 3 or 4 integers 0-255")
        return values + [255] * (4 - len(values))
    try:
        return [round(255 * v) for v in to_rgba(color)]
    except ValueError as exc:
        raise ValueError(f"colour {color!r} is not a colour: {exc}") from exc


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask")


def _as_dask(data):
    da = _import("dask.array")
    return data if _is_dask(data) else da.from_array(np.asarray(data))
