"""Pictures of measured objects: colour-coded maps, outlines, histograms and scatter plots."""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import as_array

# distinct outline colours (matplotlib's tab10 without grey)
_OUTLINE_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf",
]


def color_objects(
    labels,
    values,
    image=None,
    *,
    column: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    alpha: float = 0.9,
    z: int | None = None,
    colorbar: bool = True,
    title: str | None = None,
    ax=None,
):
    """Draw each object filled with the colour of one of its values, over the image.

    The application note's cover image is this with the mean distance to the 8 nearest
    neighbours: ``color_objects(labels, neighbours(objects(labels)), image,
    column="mean_distance_k8")``.

    Parameters
    ----------
    labels : array-like of int
        2D label image, or 3D (one z-slice is drawn).
    values : pandas.DataFrame, pandas.Series, array-like or dict
        A table with a ``label`` column (then ``column`` says which values), a dict
        ``{label: value}``, or one value per object in the order of the sorted labels (the
        row order of :func:`microlab.measure.objects`).
    image : array-like or microlab.Image, optional
        Grayscale background of the labels' shape (a single channel).
    column : str, optional
        With a table: the column to colour by, by its full name or by its name without
        the unit (``"area"`` for ``area_µm²``).
    cmap : str
        Matplotlib colour map.
    vmin, vmax : float, optional
        Colour range; default the values' range.
    alpha : float
        Opacity of the colours over the image.
    z : int, optional
        For 3D labels, the slice to draw; default the middle one.
    colorbar : bool
        Add a colour bar labelled with the column name.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the objects and their colour bar.

    Raises
    ------
    ValueError
        If ``values`` do not fit the labels, or ``column`` is missing or ambiguous.

    Examples
    --------
    >>> import numpy as np, microlab
    >>> labels = np.zeros((30, 30), int); labels[2:8, 2:8] = 1; labels[15:25, 10:20] = 2
    >>> table = microlab.measure.objects(labels)
    >>> ax = color_objects(labels, table, column="area")
    >>> [float(v) for v in ax.images[-1].get_clim()]
    [36.0, 100.0]
    """
    import matplotlib.pyplot as plt

    lab = _slice(_labels(labels), z)
    lut, name = _lookup(values, column, lab)
    coloured = np.ma.masked_invalid(lut[lab])
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(_background(image, labels, z), cmap="gray", interpolation="nearest")
    shown = ax.imshow(
        coloured, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha, interpolation="nearest"
    )
    ax.set_axis_off()
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=name)
    if title:
        ax.set_title(title)
    return ax


def overlay(
    image,
    labels,
    *,
    color: str | None = None,
    width: int = 1,
    alpha: float = 1.0,
    z: int | None = None,
    title: str | None = None,
    ax=None,
):
    """Draw the outline of every labelled object over the image.

    Parameters
    ----------
    image : array-like or microlab.Image, or None
        Grayscale image of the labels' shape (a single channel); None for black.
    labels : array-like of int
        2D label image, or 3D (one z-slice is drawn).
    color : str, optional
        One colour for all outlines (e.g. ``"yellow"``); default a colour per object so
        touching objects stand apart.
    width : int
        Outline width in pixels, drawn inside each object (thicker outlines stay visible
        when a large image is shown small).
    alpha : float
        Opacity of the outlines.
    z : int, optional
        For 3D, the slice to draw; default the middle one.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        The axes to draw into (a new figure when None).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the outlines.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((30, 30), int); labels[5:15, 5:15] = 1; labels[5:15, 15:25] = 2
    >>> ax = overlay(np.random.default_rng(0).random((30, 30)), labels)
    >>> ax.images[-1].get_array().shape
    (30, 30, 4)
    """
    from matplotlib.colors import to_rgba
    from skimage.segmentation import find_boundaries

    if not isinstance(width, numbers.Integral) or width < 1:
        raise ValueError(f"width must be a whole number of pixels >= 1, got {width!r}")
    lab = _slice(_labels(labels), z)
    edges = find_boundaries(lab, mode="inner")
    if width > 1:
        from scipy import ndimage as ndi

        edges = ndi.binary_dilation(edges, iterations=width - 1) & (lab > 0)
    rgba = np.zeros((*lab.shape, 4), np.float32)
    if color is None:
        palette = np.array([to_rgba(c) for c in _OUTLINE_COLOURS], np.float32)
        rgba[edges] = palette[lab[edges] % len(palette)]
    else:
        rgba[edges] = to_rgba(color)
    rgba[..., 3] *= alpha
    return _draw_outlines(image, labels, z, rgba, title, ax)


def _draw_outlines(image, labels, z, rgba: np.ndarray, title: str | None, ax):
    """The image (:func:`_background`) with the ``rgba`` outlines over it, in ``ax`` (a new
    figure when None)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(_background(image, labels, z), cmap="gray", interpolation="nearest")
    ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def object_summary(
    table,
    columns: list[str] | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    color: str | None = None,
    bins: int | str = "auto",
):
    """One figure summarising a table of objects: histograms and a scatter plot.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`microlab.measure.objects` (and :func:`~microlab.measure.neighbours`).
    columns : list of str, optional
        Columns to histogram, by full name or name without unit; default the size and
        shape columns present (area or volume, equivalent diameter, eccentricity,
        solidity, and the mean neighbour distance if measured).
    x, y : str, optional
        Columns of the scatter plot; default size against solidity.
    color : str, optional
        Column that colours the scatter points.
    bins : int or str
        Histogram bins (a number, or a rule numpy knows such as ``"auto"``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, microlab
    >>> labels = np.zeros((40, 40), int)
    >>> labels[2:8, 2:8] = 1; labels[15:25, 10:20] = 2; labels[30:33, 30:38] = 3
    >>> fig = object_summary(microlab.measure.objects(labels))
    >>> len(fig.axes)
    5
    """
    import matplotlib.pyplot as plt

    _check_table(table)
    if columns is None:
        wanted = ["area", "volume", "equivalent_diameter", "eccentricity", "solidity",
                  "mean_distance"]
        columns = [c for c in (_find(table, w) for w in wanted) if c is not None]
    else:
        columns = [_column(table, c) for c in columns]
    size = _find(table, "area") or _find(table, "volume") or columns[0]
    x = _column(table, x) if x else size
    y = _column(table, y) if y else (_find(table, "solidity") or columns[-1])
    panels = len(columns) + 1
    ncols = min(3, panels)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, columns, strict=False):
        data = table[name].to_numpy(dtype=float)
        ax.hist(data[np.isfinite(data)], bins=bins, color="#1f77b4")
        ax.set_xlabel(name)
        ax.set_ylabel("objects")
    scatter_objects(table, x, y, color=color, ax=axes.flat[len(columns)])
    for ax in axes.flat[panels:]:
        ax.remove()
    fig.suptitle(f"{len(table)} objects")
    fig.tight_layout()
    return fig


_ERROR_COLOURS = {
    "matched": "#2ca02c", "merging": "#d62728", "fragments": "#ff7f0e", "spurious": "#e377c2",
}
"""Outline colours of the found objects by kind (:func:`show_errors`)."""
_LOST_COLOUR = "#17becf"
"""Outline colour of the true objects that no found object matches."""


def show_errors(image, truth, prediction, *, iou: float = 0.5, z: int | None = None,
                title: str | None = None, ax=None):
    """Draw what went wrong: found objects outlined by kind, lost true objects in cyan.

    The kinds are :func:`microlab.measure.object_errors`': each found object is outlined
    green (matched), red (merging two or more true objects), orange (a fragment) or pink
    (spurious: mostly background), and each true object no found object matches (merged,
    missed, split, misshapen) in cyan, so a merge shows as red around cyan. The legend
    gives the counts.

    Parameters
    ----------
    image : array-like or microlab.Image, or None
        Grayscale image of the labels' shape; None for black.
    truth, prediction : array-like of int
        True and found label images (2D, or 3D with one z-slice drawn; the counts are the
        whole stack's).
    iou : float
        IoU threshold in (0, 1] for a match.
    z : int, optional
        For 3D, the slice to draw; default the middle one.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        The axes to draw into (a new figure when None).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the outlines and a legend.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((20, 40), int)
    >>> truth[5:15, 2:10], truth[5:15, 10:18], truth[5:15, 18:26] = 1, 2, 3
    >>> found = np.zeros((20, 40), int); found[5:15, 2:26] = 4; found[1:3, 36:38] = 5
    >>> ax = show_errors(None, truth, found)  # three nuclei found as one, and a speck
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['merging: 1', 'spurious: 1', 'true objects lost: 3']
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch
    from skimage.segmentation import find_boundaries

    from ..measure import error_kinds

    true, found = _labels(truth), _labels(prediction)
    true_kinds, found_kinds = error_kinds(true, found, iou)
    true_plane, plane = _slice(true, z), _slice(found, z)
    rgba = np.zeros((*plane.shape, 4), np.float32)
    lost = [label for label, kind in true_kinds.items() if kind != "matched"]
    edges = find_boundaries(true_plane, mode="inner") & np.isin(true_plane, lost)
    rgba[edges] = to_rgba(_LOST_COLOUR)
    edges = find_boundaries(plane, mode="inner")
    handles = []
    for kind, colour in _ERROR_COLOURS.items():
        labels = [label for label, k in found_kinds.items() if k == kind]
        if labels:
            rgba[edges & np.isin(plane, labels)] = to_rgba(colour)
            handles.append(Patch(color=colour, label=f"{kind}: {len(labels)}"))
    if lost:
        handles.append(Patch(color=_LOST_COLOUR, label=f"true objects lost: {len(lost)}"))
    ax = _draw_outlines(image, found, z, rgba, title, ax)
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.7)
    return ax


def scatter_objects(table, x: str, y: str, *, color: str | None = None, ax=None):
    """Scatter plot of two columns of an object table, optionally coloured by a third.

    Parameters
    ----------
    table : pandas.DataFrame
        A table of objects.
    x, y : str
        Columns, by full name or name without unit.
    color : str, optional
        Column that colours the points (with a colour bar).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.axes.Axes
        The axes of the scatter plot.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"area_µm²": [1.0, 2.0, 3.0], "solidity": [0.9, 0.8, 1.0]})
    >>> scatter_objects(table, "area", "solidity").get_xlabel()
    'area_µm²'
    """
    import matplotlib.pyplot as plt

    _check_table(table)
    x, y = _column(table, x), _column(table, y)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.2))
    kwargs = {}
    if color is not None:
        color = _column(table, color)
        kwargs = {"c": table[color].to_numpy(dtype=float), "cmap": "viridis"}
    points = ax.scatter(table[x], table[y], s=8, alpha=0.8, **kwargs)
    if color is not None:
        ax.figure.colorbar(points, ax=ax, label=color)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def _labels(labels) -> np.ndarray:
    array = as_array(labels, "labels")
    if array.dtype.kind not in "iu" or array.ndim not in (2, 3):
        raise TypeError(
            f"labels must be a 2D or 3D integer label image, got dtype {array.dtype} with "
            f"shape {array.shape}"
        )
    return array


def _slice(array: np.ndarray, z: int | None) -> np.ndarray:
    if array.ndim == 2:
        return array
    z = array.shape[0] // 2 if z is None else z
    if not isinstance(z, numbers.Integral) or not -array.shape[0] <= z < array.shape[0]:
        raise ValueError(f"z={z!r} is not a slice of a stack with {array.shape[0]} slices")
    return array[z]


def _background(image, labels, z) -> np.ndarray:
    """The grayscale image to draw under the objects, normalised to 0-1."""
    shape = _labels(labels).shape
    if image is None:
        return np.zeros(_slice(np.empty(shape, np.uint8), z).shape)
    if hasattr(image, "axes") and "C" in image.axes and image.channels > 1:
        raise ValueError(
            f"image has {image.channels} channels; pick the one to show, e.g. "
            "image.channel(2)"
        )
    data = np.squeeze(as_array(image, "image"))
    if data.shape != shape:
        raise ValueError(
            f"image has shape {data.shape} but labels have shape {shape}; draw labels over "
            "the image they were made from (one channel)"
        )
    data = _slice(data.astype(np.float32), z)
    lo, hi = np.percentile(data, [0.5, 99.5])
    return np.clip((data - lo) / (hi - lo if hi > lo else 1), 0, 1)


def _lookup(values, column, labels: np.ndarray) -> tuple[np.ndarray, str]:
    """A float lookup table label -> value (NaN where none) and the values' name."""
    import pandas as pd

    present = np.unique(labels)
    top = int(present.max(initial=0))
    name = column or "value"
    if isinstance(values, pd.DataFrame):
        if column is None:
            raise ValueError("values is a table; say which column to colour by: column='...'")
        if "label" not in values.columns:
            raise ValueError("the table needs a 'label' column to match rows to objects")
        name = _column(values, column)
        keys = values["label"].to_numpy()
        data = values[name].to_numpy(dtype=float)
    elif isinstance(values, dict):
        keys = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
        data = np.fromiter(values.values(), dtype=float, count=len(values))
    else:
        if isinstance(values, pd.Series) and column is None:
            name = str(values.name) if values.name is not None else name
        data = np.asarray(values, dtype=float).ravel()
        keys = present[present > 0]
        if len(data) != len(keys):
            raise ValueError(
                f"got {len(data)} values for {len(keys)} objects; pass one value per object "
                "in the order of the sorted labels, or a table with a 'label' column"
            )
    keys = np.asarray(keys, dtype=np.int64)
    lut = np.full(max(top, int(keys.max(initial=0))) + 1, np.nan)
    lut[keys] = data
    lut[0] = np.nan
    return lut, name


def _check_table(table) -> None:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"table must be a pandas DataFrame from microlab.measure.objects, got "
            f"{type(table).__name__}"
        )
    if len(table.columns) == 0:
        raise ValueError("the table has no columns")


def _find(table, name: str) -> str | None:
    if name in table.columns:
        return name
    matches = [c for c in table.columns if str(c).startswith(f"{name}_")]
    return matches[0] if len(matches) == 1 else None


def _column(table, name: str) -> str:
    """A column by its full name or its name without unit (``area`` -> ``area_µm²``)."""
    found = _find(table, name)
    if found is None:
        matches = [c for c in table.columns if str(c).startswith(f"{name}_")]
        problem = f"matches several columns {matches}" if matches else "is not a column"
        raise ValueError(f"{name!r} {problem}; the table has {list(table.columns)}")
    return found
