"""Measure a folder of label images into one table."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..io.paths import IMAGE_SUFFIXES, distinct_names, expand_paths, partner
from .neighbours import neighbours as add_neighbours
from .objects import objects


def files(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    image_dir: str | os.PathLike | None = None,
    spacing=None,
    unit: str | None = None,
    neighbours: int | None = None,
    channel: int | None = None,
    force: bool = False,
    progress: bool = True,
):
    """Measure the objects of many label images into one table with an ``image`` column.

    Parameters
    ----------
    paths : path, glob pattern, folder, or a list of them
        Label images (TIFF/PNG, 2D or 3D, 0 = background). A folder stands for the TIFFs
        in it; a pattern such as ``"labels/*.tif"`` is expanded; a file listed twice is
        measured once.
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
    channel : int, optional
        Measure this channel of label images that have several (different) channels.
    force : bool
        Measure files that look like intensity images rather than labels (see
        :func:`objects`); by default they are refused.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        ``image`` (the label file's name; with its parent folders where two files have
        the same name, e.g. ``day1/cells.tif`` and ``day2/cells.tif``) then the columns of
        :func:`objects`, all files one after the other. If files differ in units (some
        with a pixel size, some without) the columns are the union, with NaN where a file
        has no value, and a warning says so.

    Raises
    ------
    FileNotFoundError
        If a path, or a matching intensity image in ``image_dir``, does not exist.
    ValueError
        If no file is given or found, or a file is not a label image (the message names
        it).

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
    names = distinct_names(label_paths)
    images = None
    if image_dir is not None:
        if not Path(image_dir).is_dir():
            raise FileNotFoundError(f"image_dir {image_dir} is not a folder")
        images = sorted(
            p for p in Path(image_dir).iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)
        )
    tables = []
    bar = tqdm(label_paths, desc="measuring", unit="image", disable=not progress)
    for path, name in zip(bar, names, strict=True):
        labels = read_image(path)
        image = None
        if images is not None:
            image = read_image(partner(path, images, where=str(image_dir),
                                       what="intensity image"))
        if channel is not None:
            try:
                labels = labels.channel(channel)
            except IndexError as exc:
                raise ValueError(f"{name}: {exc}") from None
        try:
            table = objects(labels, image, spacing=spacing, unit=unit, force=force)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}: {exc}") from exc
        if neighbours is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                table = add_neighbours(table, neighbours)
        table.insert(0, "image", name)
        tables.append(table)
    if len({tuple(t.columns) for t in tables}) > 1:
        warnings.warn(
            "the label images do not all have the same columns (some have a pixel size, "
            "some not, or different channels); pass spacing= to measure all in one unit",
            UserWarning,
            stacklevel=2,
        )
    return pd.concat(tables, ignore_index=True)
