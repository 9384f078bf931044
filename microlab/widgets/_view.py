"""What the canvas shows: the visible window of a plane, sampled at canvas resolution,
and the contrast and colour helpers of every widget.

Pure numpy, no widgets: the annotator asks for the pixels of a canvas rectangle and gets an
array no larger than that rectangle, whatever the image size, so a redraw never ships the
full-resolution image (a 4096 × 4096 plane shown on a 512 × 512 canvas sends 512 × 512).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BACKGROUND = "#202020"


@dataclass
class View:
    """A window onto a plane: canvas pixel (cy, cx) shows image pixel (top + cy·scale, …).

    Parameters
    ----------
    top, left : float
        Image coordinates of the canvas's top-left corner.
    scale : float
        Image pixels per canvas pixel (> 1 when zoomed out).
    height, width : int
        The canvas size in pixels.

    Examples
    --------
    >>> view = View.fit((4096, 4096), 512, 512)
    >>> view.scale, view.to_image(256, 256)
    (8.0, (2048.0, 2048.0))
    >>> view.window((4096, 4096))
    (slice(0, 4096, None), slice(0, 4096, None))
    """

    top: float
    left: float
    scale: float
    height: int
    width: int

    @classmethod
    def fit(cls, shape: tuple[int, int], height: int, width: int) -> View:
        """The whole plane, centred on the canvas."""
        scale = max(shape[0] / height, shape[1] / width)
        return cls(
            top=shape[0] / 2 - height * scale / 2,
            left=shape[1] / 2 - width * scale / 2,
            scale=float(scale),
            height=int(height),
            width=int(width),
        )

    def to_image(self, cy: float, cx: float) -> tuple[float, float]:
        """Image coordinates of a canvas point."""
        return (self.top + cy * self.scale, self.left + cx * self.scale)

    def to_canvas(self, y: float, x: float) -> tuple[float, float]:
        """Canvas coordinates of an image point."""
        return ((y - self.top) / self.scale, (x - self.left) / self.scale)

    def zoom(self, factor: float, cy: float, cx: float, limits=(1 / 32, 64.0)) -> None:
        """Zoom in by ``factor`` (> 1) or out (< 1), keeping canvas point (cy, cx) fixed."""
        y, x = self.to_image(cy, cx)
        self.scale = float(min(max(self.scale / factor, limits[0]), limits[1]))
        self.top, self.left = y - cy * self.scale, x - cx * self.scale

    def pan(self, dy: float, dx: float) -> None:
        """Move the content by (dy, dx) canvas pixels."""
        self.top -= dy * self.scale
        self.left -= dx * self.scale

    def centre_on(self, box: tuple[slice, slice], fill: float = 0.8) -> None:
        """Zoom and pan so that the (y, x) ``box`` fills ``fill`` of the canvas."""
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        self.scale = max(h / (fill * self.height), w / (fill * self.width), 1 / 8)
        cy, cx = (box[0].start + box[0].stop) / 2, (box[1].start + box[1].stop) / 2
        self.top, self.left = cy - self.height * self.scale / 2, cx - self.width * self.scale / 2

    def window(self, shape: tuple[int, int], margin: int = 0) -> tuple[slice, slice] | None:
        """The (y, x) slices of the plane visible on the canvas (None if none is)."""
        y0, x0 = self.to_image(0, 0)
        y1, x1 = self.to_image(self.height, self.width)
        ys = slice(max(0, math.floor(y0) - margin), min(shape[0], math.ceil(y1) + margin))
        xs = slice(max(0, math.floor(x0) - margin), min(shape[1], math.ceil(x1) + margin))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            return None
        return ys, xs

    def canvas_rect(self, box: tuple[slice, slice]) -> tuple[int, int, int, int] | None:
        """The canvas rectangle (cy, cx, h, w) covering an image box, clipped to the canvas."""
        cy0, cx0 = self.to_canvas(box[0].start, box[1].start)
        cy1, cx1 = self.to_canvas(box[0].stop, box[1].stop)
        cy0, cx0 = max(0, math.floor(cy0)), max(0, math.floor(cx0))
        cy1, cx1 = min(self.height, math.ceil(cy1)), min(self.width, math.ceil(cx1))
        if cy0 >= cy1 or cx0 >= cx1:
            return None
        return cy0, cx0, cy1 - cy0, cx1 - cx0

    def image_rect(self, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The canvas rectangle the plane covers (cy, cx, h, w), clipped to the canvas."""
        return self.canvas_rect((slice(0, shape[0]), slice(0, shape[1])))

    def sample_indices(self, rect, shape: tuple[int, int], offset: float = 0.5):
        """Image row and column indices of the canvas pixels of ``rect`` (nearest pixel).

        Returns ``(rows, cols, row_ok, col_ok)``; indices outside the plane are clipped and
        flagged False.
        """
        cy, cx, h, w = rect
        ys = np.floor(self.top + (np.arange(cy, cy + h) + offset) * self.scale).astype(np.intp)
        xs = np.floor(self.left + (np.arange(cx, cx + w) + offset) * self.scale).astype(np.intp)
        row_ok, col_ok = (ys >= 0) & (ys < shape[0]), (xs >= 0) & (xs < shape[1])
        return np.clip(ys, 0, shape[0] - 1), np.clip(xs, 0, shape[1] - 1), row_ok, col_ok


def sample(plane: np.ndarray, view: View, rect, *, reduce: str = "nearest") -> np.ndarray:
    """The plane's values at the canvas pixels of ``rect`` ``(cy, cx, h, w)``.

    Zoomed out, a canvas pixel covers several image pixels: ``"nearest"`` takes the one at
    its centre, ``"mean"`` averages up to 4 × 4 samples under it (a smooth picture, float32),
    ``"max"`` keeps the largest (thin strokes stay visible). The result has the size of
    ``rect`` whatever the image size.

    Examples
    --------
    >>> stroke = np.zeros((4, 4), np.uint8)
    >>> stroke[0, 0] = 2                      # one labelled pixel
    >>> view = View.fit((4, 4), 2, 2)         # shown at half size
    >>> sample(stroke, view, (0, 0, 2, 2)).tolist()
    [[0, 0], [0, 0]]
    >>> sample(stroke, view, (0, 0, 2, 2), reduce="max").tolist()
    [[2, 0], [0, 0]]
    >>> sample(stroke, view, (0, 0, 2, 2), reduce="mean").tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    shape = plane.shape[-2:]
    if reduce not in ("nearest", "mean", "max"):
        raise ValueError(f"reduce must be 'nearest', 'mean' or 'max', got {reduce!r}")
    if reduce == "nearest" or view.scale <= 1:
        rows, cols, _, _ = view.sample_indices(rect, shape)
        return plane[..., rows[:, None], cols[None, :]]
    n = min(4, math.ceil(view.scale))
    grids = [view.sample_indices(rect, shape, (k + 0.5) / n)[:2] for k in range(n)]
    out = None
    for rows, _ in grids:
        for _, cols in grids:
            values = plane[..., rows[:, None], cols[None, :]]
            if out is None:
                out = values.astype(np.float32) if reduce == "mean" else values
            elif reduce == "mean":
                out += values
            else:
                np.maximum(out, values, out=out)
    return out / np.float32(n * n) if reduce == "mean" else out


def to_gray(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map intensities to 0-255 with ``low`` → 0 and ``high`` → 255 (clipped).

    Examples
    --------
    >>> to_gray(np.array([0, 50, 100, 200]), 50, 150).tolist()
    [0, 0, 128, 255]
    """
    span = float(high - low) if high > low else 1.0
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / span)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def _subsample(plane: np.ndarray) -> np.ndarray:
    """Every n-th pixel along Y and X, so that about a million are left."""
    step = max(1, int(math.sqrt(plane.size / 1_000_000)))
    return plane[..., ::step, ::step]


def auto_contrast(plane: np.ndarray, percentiles=(0.5, 99.5)) -> tuple[float, float]:
    """Percentile contrast limits of a plane, from at most about a million pixels.

    Examples
    --------
    >>> auto_contrast(np.arange(1000).reshape(10, 100))
    (5.0, 994.0)
    """
    values = _subsample(plane)
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return low, high


def value_range(plane: np.ndarray) -> tuple[float, float]:
    """The intensities a contrast control should span: 0-255 for 8-bit planes, else the
    plane's minimum and maximum (from at most about a million pixels).

    Examples
    --------
    >>> value_range(np.array([[3, 7]], np.uint8)), value_range(np.array([[3, 7]], np.uint16))
    ((0.0, 255.0), (3.0, 7.0))
    """
    if plane.dtype == np.uint8:
        return 0.0, 255.0
    values = _subsample(plane)
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low, low + 1.0)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` → (r, g, b)."""
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def text_color(color: str) -> str:
    """Black or white, whichever reads better on a ``"#rrggbb"`` background.

    Examples
    --------
    >>> text_color("#ffff00"), text_color("#0000ff")
    ('#000000', '#ffffff')
    """
    r, g, b = hex_rgb(color)
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def label_lut(colors: list[str], alpha: int) -> np.ndarray:
    """RGBA lookup table: row 0 transparent, row k the colour of class k."""
    lut = np.zeros((max(256, len(colors) + 1), 4), np.uint8)
    for k, color in enumerate(colors, start=1):
        lut[k, :3] = hex_rgb(color)
        lut[k, 3] = alpha
    return lut


def uncertainty_rgba(values: np.ndarray, opacity: float) -> np.ndarray:
    """Yellow (unsure) to red (most unsure), more opaque the more unsure; NaN transparent.

    Examples
    --------
    >>> uncertainty_rgba(np.array([[0.0, 1.0, np.nan]]), 1.0)[0].tolist()
    [[255, 255, 0, 0], [255, 0, 0, 255], [0, 0, 0, 0]]
    """
    u = np.nan_to_num(values.astype(np.float32), nan=-1.0)
    known = u >= 0
    u = np.clip(u, 0, 1)
    out = np.zeros((*u.shape, 4), np.uint8)
    out[..., 0] = np.where(known, 255, 0)
    out[..., 1] = np.where(known, 255 * (1 - u), 0).astype(np.uint8)
    out[..., 3] = np.where(known, 255 * u * opacity, 0).astype(np.uint8)
    return out


def object_lut(count: int, alpha: int) -> np.ndarray:
    """RGBA lookup table for ``count`` objects: row 0 transparent, each object a colour of
    its own (hues spaced by the golden angle, so neighbours differ), at ``alpha``.

    Examples
    --------
    >>> lut = object_lut(3, 128)
    >>> lut.shape, lut[0].tolist(), int(lut[1, 3]), bool((lut[1] != lut[2]).any())
    ((4, 4), [0, 0, 0, 0], 128, True)
    """
    import colorsys

    lut = np.zeros((count + 1, 4), np.uint8)
    for k in range(1, count + 1):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.65, 1.0)
        lut[k] = (round(255 * r), round(255 * g), round(255 * b), alpha)
    return lut


def outlines(labels: np.ndarray) -> np.ndarray:
    """Where a label image changes between 4-neighbours, on the object's side.

    Examples
    --------
    >>> labels = np.zeros((5, 5), int); labels[1:4, 1:4] = 7
    >>> outlines(labels).astype(int)[2].tolist()
    [0, 1, 0, 1, 0]
    """
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)
