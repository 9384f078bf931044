"""Measure a folder of label images into one table."""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from .neighbours import neighbours as add_neighbours
from .objects import objects

LABEL_SUFFIXES = ("_labels", "_label", "_masks", "_mask", "_seg", "-labels", "-label")
IMAGE_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".png", ".jpg", ".jpeg")


def files(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    image_dir: str | os.PathLike | None = None,
    spacing=None,
    unit: str | None = None,
    neighbours: int | None = None,
    progress: bool = True,
):
    """Measure the objects of many label images into one table with an ``image`` column.

    Parameters
    ----------
    paths : path, glob pattern, folder, or a list of them
        Label images (TIFF/PNG, 2D or 3D, 0 = background). A folder stands for the TIFFs
        in it; a pattern such as ``"labels/*.tif"`` is expanded.
    image_dir : path, optional
        Folder of the intensity images, to add intensity columns. The image of
        ``labels/cells.tif`` is ``image_dir/cells.tif`` or another file with stem
        ``cells``; a label stem ending in ``_labels``, ``_mask``, ``_seg`` (and similar)
        also matches the stem without it (``cells_labels.tif`` → ``cells.tif``).
    spacing : float or tuple of float, optional
        Pixel size for every file; default each file's own (image first, then labels).
    unit : str, optional
        Unit of ``spacing`` for the column names.
    neighbours : int, optional
        Also add neighbourhood columns with this *k* (see :func:`neighbours`), computed
        within each image.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        ``image`` (the label file's name) then the columns of :func:`objects`, all files
        one after the other. If files differ in units (some with a pixel size, some
        without) the columns are the union, with NaN where a file has no value, and a
        warning says so.

    Raises
    ------
    FileNotFoundError
        If a path, or a matching intensity image in ``image_dir``, does not exist.
    ValueError
        If no file is given or found, or a file is not a label image.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> labels = np.zeros((20, 20), np.uint8); labels[2:6, 2:6] = 1
    >>> microlab.write_labels(folder / "a.tif", labels, spacing=0.5)
    >>> microlab.write_labels(folder / "b.tif", labels * 3, spacing=0.5)
    >>> table = files(folder / "*.tif", progress=False)
    >>> table[["image", "label", "area_µm²"]].values.tolist()
    [['a.tif', 1, 4.0], ['b.tif', 3, 4.0]]
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..io import read_image

    label_paths = expand_paths(paths)
    if image_dir is not None and not Path(image_dir).is_dir():
        raise FileNotFoundError(f"image_dir {image_dir} is not a folder")
    tables = []
    for path in tqdm(label_paths, desc="measuring", unit="image", disable=not progress):
        labels = read_image(path)
        image = read_image(_image_for(path, Path(image_dir))) if image_dir else None
        try:
            table = objects(labels, image, spacing=spacing, unit=unit)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path.name}: {exc}") from exc
        if neighbours is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                table = add_neighbours(table, neighbours)
        table.insert(0, "image", path.name)
        tables.append(table)
    if len({tuple(t.columns) for t in tables}) > 1:
        warnings.warn(
            "the label images do not all have the same columns (some have a pixel size, "
            "some not, or different channels); pass spacing= to measure all in one unit",
            UserWarning,
            stacklevel=2,
        )
    return pd.concat(tables, ignore_index=True)


def expand_paths(paths) -> list[Path]:
    """Turn paths, folders and glob patterns into a sorted list of existing files.

    Examples
    --------
    >>> expand_paths([])
    Traceback (most recent call last):
    ...
    ValueError: no label images given; pass files, a folder or a pattern like 'labels/*.tif'
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
        elif path.exists():
            found.append(path)
        elif glob.has_magic(str(path)):
            matches = sorted(Path(p) for p in glob.glob(str(path)))
            if not matches:
                raise FileNotFoundError(f"no file matches {str(path)!r}")
            found += matches
        else:
            raise FileNotFoundError(f"no such label image: {path}")
    if not found:
        raise ValueError(
            "no label images given; pass files, a folder or a pattern like 'labels/*.tif'"
        )
    return found


def _image_for(label_path: Path, image_dir: Path) -> Path:
    """The intensity image in ``image_dir`` that belongs to a label image."""
    same = image_dir / label_path.name
    if same.is_file():
        return same
    stems = [label_path.name.split(".")[0]]
    for suffix in LABEL_SUFFIXES:
        if stems[0].lower().endswith(suffix):
            stems.append(stems[0][: -len(suffix)])
    for stem in stems:
        candidates = sorted(
            p for p in image_dir.iterdir()
            if p.name.split(".")[0] == stem and p.name.lower().endswith(IMAGE_SUFFIXES)
        )
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise ValueError(
                f"several images in {image_dir} match {label_path.name}: "
                f"{[p.name for p in candidates]}; keep one per label image"
            )
    raise FileNotFoundError(
        f"no intensity image for {label_path.name} in {image_dir} (looked for "
        f"{' or '.join(s + '.*' for s in stems)})"
    )
