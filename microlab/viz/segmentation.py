"""Prediction and annotation overlays."""

from __future__ import annotations

import numpy as np

from .._checks import as_array


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255


def _gray(image) -> np.ndarray:
    data = as_array(image, "image").astype(np.float32)
    if data.ndim != 2:
        raise ValueError(f"image must be 2D (Y, X) for an overlay, got shape {data.shape}")
    lo, hi = np.percentile(data, [0.5, 99.5])
    return np.clip((data - lo) / (hi - lo if hi > lo else 1), 0, 1)


def label_overlay(image, labels, colors, *, alpha: float = 0.45) -> np.ndarray:
    """Blend labels 1..C (0 = transparent) over a grayscale image; returns RGB float in 0-1.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = label_overlay(np.zeros((2, 2)), np.array([[0, 1], [2, 0]]), ["#ff0000", "#0000ff"])
    >>> rgb.shape, rgb[0, 1].round(2).tolist()
    ((2, 2, 3), [0.45, 0.0, 0.0])
    """
    gray = _gray(image)
    lab = as_array(labels, "labels")
    if lab.shape != gray.shape:
        raise ValueError(f"labels {lab.shape} and image {gray.shape} differ in shape")
    lut = np.zeros((max(len(colors), int(lab.max(initial=0))) + 1, 3), np.float32)
    for k, color in enumerate(colors, start=1):
        lut[k] = _rgb(color)
    out = np.repeat(gray[..., None], 3, axis=-1)
    mask = lab > 0
    out[mask] = (1 - alpha) * out[mask] + alpha * lut[lab[mask]]
    return out


def show_prediction(
    image,
    labels,
    *,
    classes=None,
    colors=None,
    alpha: float = 0.45,
    title: str | None = None,
    ax=None,
):
    """Draw labels (a prediction, scribbles or a ground truth) over an image, with a legend.

    Parameters
    ----------
    image : array-like
        2D image ``(Y, X)``.
    labels : array-like of int
        Labels 1..C, 0 drawn transparent (unlabelled).
    classes, colors : list, optional
        Names and ``"#rrggbb"`` colours of classes 1..C; a trained segmenter's ``classes``
        and ``colors`` fit here.
    alpha : float
        Opacity of the labels.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        The axes to draw into (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the labels over the image.

    Examples
    --------
    >>> import numpy as np, microlab
    >>> image, truth = microlab.data.sandstone()
    >>> ax = show_prediction(image.data, truth, classes=microlab.data.SANDSTONE_CLASSES)
    >>> len(ax.get_legend().get_texts())
    4
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..labels.colors import default_colors

    lab = as_array(labels, "labels")
    n = int(lab.max(initial=0))
    if colors is None:
        colors = default_colors(max(n, len(classes or [])))
    if classes is None:
        classes = [f"class {k}" for k in range(1, len(colors) + 1)]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(label_overlay(image, lab, colors, alpha=alpha), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    handles = [Patch(color=c, label=name) for name, c in zip(classes, colors, strict=False)]
    ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.7)
    return ax
