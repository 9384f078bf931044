"""Neighbourhood of each object: distances to its nearest objects and a local density."""

from __future__ import annotations

import math
import numbers
import re
import warnings

import numpy as np

from .._checks import as_array, positive_spacing
from ._labels import check_labels

_CENTROID = re.compile(r"^centroid_([zyx])_(.+)$")


def neighbours(table_or_labels, k: int = 8, *, spacing=None, unit: str | None = None):
    """Add the distances to each object's nearest objects and a local density.

    For each object, with *d₁ ≤ … ≤ d_k* the centroid distances to its *k* nearest other
    objects (a KD-tree query, :class:`scipy.spatial.cKDTree`; 100 000 objects take a
    fraction of a second):

    * ``nearest_distance_<unit>``: *d₁*;
    * ``mean_distance_k<k>_<unit>``: the mean of *d₁ … d_k* (the application note's cover
      image colours nuclear pores by it, with *k* = 8);
    * ``density_k<k>_per_<unit>²`` (``³`` in 3D): *k* objects over the area (volume) of the
      disk (ball) of radius *d_k* around the object (infinite if *d_k* is 0: objects with
      the same centroid).

    Parameters
    ----------
    table_or_labels : pandas.DataFrame, label image or ndarray of points
        A table from :func:`objects` (its ``centroid_*`` columns are used and their unit
        kept), a 2D/3D integer label image (centroids computed here), or an ``(N, 2)`` or
        ``(N, 3)`` float array of point coordinates.
    k : int
        How many nearest objects to average over, >= 1.
    spacing : float or tuple of float, optional
        For a label image: the physical pixel size (default: the image's own, when it is a
        :class:`microlab.Image`). Ignored for a table, whose centroids carry their unit.
    unit : str, optional
        Unit for the column names: default the table's, the image's (else "µm") when the
        spacing is known, "px" otherwise.

    Returns
    -------
    pandas.DataFrame
        A copy of the table with the three columns added (replaced if present); for a label
        image or points, ``label`` and centroid columns followed by the three.

    Warns
    -----
    UserWarning
        When there are fewer than ``k + 1`` objects: the mean then runs over all the
        other objects (*N* - 1 of them); with a single object every value is NaN.

    Raises
    ------
    TypeError
        If ``k`` is not an integer or the input is neither table, labels nor points.
    ValueError
        If ``k < 1``, a table has no centroid columns, or coordinates are not finite.

    Examples
    --------
    Objects on a square grid 10 µm apart: 4 neighbours at 10 µm, 4 at 14.1 µm.

    >>> import numpy as np, pandas as pd
    >>> yy, xx = np.mgrid[0:100:10, 0:100:10]
    >>> grid = pd.DataFrame({"centroid_y_µm": yy.ravel(), "centroid_x_µm": xx.ravel()})
    >>> table = neighbours(grid, k=8)
    >>> centre = table.iloc[55]
    >>> float(centre["nearest_distance_µm"]), round(float(centre["mean_distance_k8_µm"]), 2)
    (10.0, 12.07)
    """
    import pandas as pd

    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer number of neighbours, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1 (the note's cover uses k=8), got {k}")
    if isinstance(table_or_labels, pd.DataFrame):
        table = table_or_labels.copy()
        names, table_unit = _centroid_columns(table)
        points = table[names].to_numpy(dtype=float)
        unit = unit or table_unit
    else:
        table, unit = _points_table(table_or_labels, spacing, unit)
        points = table.filter(like="centroid_").to_numpy(dtype=float)
    if not np.isfinite(points).all():
        raise ValueError("centroids must be finite; drop rows with NaN coordinates first")

    ndim = points.shape[1]
    n = len(points)
    used = min(k, n - 1)
    if n == 1:
        warnings.warn(
            "only one object: it has no neighbours, so its distances and density are NaN",
            UserWarning,
            stacklevel=2,
        )
    elif n and used < k:
        warnings.warn(
            f"k={k} but there are only {n} objects; distances are averaged over the "
            f"{used} other objects",
            UserWarning,
            stacklevel=2,
        )
    nearest = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    density = np.full(n, np.nan)
    if used >= 1:
        from scipy.spatial import cKDTree

        distances, _ = cKDTree(points).query(points, k=used + 1, workers=-1)
        distances = distances[:, 1:]
        nearest = distances[:, 0]
        mean = distances.mean(axis=1)
        ball = (math.pi if ndim == 2 else 4 / 3 * math.pi) * distances[:, -1] ** ndim
        with np.errstate(divide="ignore"):
            density = np.where(ball > 0, used / ball, np.inf)
    power = "²" if ndim == 2 else "³"
    table[f"nearest_distance_{unit}"] = nearest
    table[f"mean_distance_k{k}_{unit}"] = mean
    table[f"density_k{k}_per_{unit}{power}"] = density
    return table


def _centroid_columns(table) -> tuple[list[str], str]:
    found = {}
    units = set()
    for name in table.columns:
        match = _CENTROID.match(str(name))
        if match:
            found[match.group(1)] = name
            units.add(match.group(2))
    axes = [a for a in "zyx" if a in found]
    if axes not in (["y", "x"], ["z", "y", "x"]) or len(units) != 1:
        raise ValueError(
            "the table needs centroid columns named centroid_y_<unit>, centroid_x_<unit> "
            "(and centroid_z_<unit> in 3D) in one unit, as microlab.measure.objects makes; "
            f"found {sorted(map(str, table.columns))[:12]}"
        )
    return [found[a] for a in axes], units.pop()


def _points_table(data, spacing, unit):
    """A label image or an (N, d) point array as a table of labels and centroids."""
    import pandas as pd

    array = as_array(data, "table_or_labels")
    if array.dtype.kind == "f" and array.ndim == 2 and array.shape[1] in (2, 3):
        ndim = array.shape[1]
        unit = unit or "px"
        columns = {"label": np.arange(1, len(array) + 1)}
        for axis, name in enumerate("zyx"[3 - ndim :]):
            columns[f"centroid_{name}_{unit}"] = array[:, axis]
        return pd.DataFrame(columns), unit
    if array.dtype.kind not in "biu":
        raise TypeError(
            "table_or_labels must be a table from microlab.measure.objects, an integer "
            f"label image, or an (N, 2) / (N, 3) float array of points; got dtype "
            f"{array.dtype} with shape {array.shape}"
        )
    labels = check_labels(data, "table_or_labels")
    if spacing is None:
        spacing = getattr(data, "spacing", None)
    space = positive_spacing(spacing, labels.ndim)
    if space is None:
        unit, space = unit or "px", (1.0,) * labels.ndim
    else:
        unit = unit or getattr(data, "unit", None) or "µm"
    flat = labels.ravel()
    positions = np.flatnonzero(flat)
    members = flat[positions]
    ids, members = np.unique(members, return_inverse=True)
    counts = np.bincount(members, minlength=len(ids))
    coords = np.unravel_index(positions, labels.shape)
    columns = {"label": ids.astype(np.int64)}
    for axis, name in enumerate("zyx"[3 - labels.ndim :]):
        total = np.bincount(members, coords[axis], minlength=len(ids))
        columns[f"centroid_{name}_{unit}"] = total / np.maximum(counts, 1) * space[axis]
    return pd.DataFrame(columns), unit
