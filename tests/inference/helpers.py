"""Stand-in segmenters that follow the Segmenter contract, for the tiler's tests."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import ndimage as ndi

from microlab._checks import spatial_image
from microlab.segmenter import labels_from_proba


class StandIn:
    """The members of the Segmenter contract a test does not exercise, filled in.

    Subclasses define ``predict_proba`` and set ``context``/``alignment`` as they need.
    """

    kind = "stand-in"
    classes: ClassVar[list[str]] = ["dark", "bright"]
    colors: ClassVar[list[str]] = ["#000000", "#ffffff"]
    channel_axis = None
    context = 0
    alignment = 1
    channels = 1
    output = "classes"
    description = ""

    def fit(self, images, annotations, *, progress=True, stop=None):
        return self

    def predict(self, image):
        return labels_from_proba(self.predict_proba(image))

    def save(self, path):
        raise NotImplementedError("a test stand-in is not saved")

    @classmethod
    def load(cls, path):
        raise NotImplementedError("a test stand-in is not loaded")


class LocalSmoothing(StandIn):
    """A segmenter with a finite context: a Gaussian-smoothed logistic "probability"."""

    context = 8  # gaussian_filter(σ=2, truncate=4) reaches 8 pixels

    def predict_proba(self, image):
        x = spatial_image(image).astype(np.float32).sum(axis=0)
        smooth = ndi.gaussian_filter(x, 2, truncate=4.0, mode="reflect")
        p = 1 / (1 + np.exp(-(smooth - 0.5) * 8))
        return np.stack([1 - p, p]).astype(np.float32)


class TileNormalised(StandIn):
    """A segmenter whose output depends on the tile: it thresholds at the tile's own mean."""

    classes: ClassVar[list[str]] = ["low", "high"]

    def predict_proba(self, image):
        x = np.asarray(image, np.float32)
        p = 1 / (1 + np.exp(-(x - x.mean()) * 4))
        return np.stack([1 - p, p]).astype(np.float32)


class LocalMaximum(StandIn):
    """Exact arithmetic, a context of ``radius`` and a grid of ``grid`` pixels.

    The "probability" of the bright class is the largest intensity within ``radius``
    pixels (an order statistic: no rounding differs between tile and whole image), raised
    on every window row and column that is a multiple of ``grid`` from the window's start,
    so only windows that start on the grid give the whole image's answer. ``alignment``
    is what the segmenter says about that grid (by default the truth).
    """

    def __init__(self, radius: int = 2, grid: int = 1, alignment: int | None = None) -> None:
        self.context = radius
        self.grid = grid
        self.alignment = grid if alignment is None else alignment

    def predict_proba(self, image):
        x = spatial_image(image).max(axis=0).astype(np.float32)
        p = ndi.maximum_filter(x, size=2 * self.context + 1, mode="reflect") * 0.5
        for axis in range(x.ndim):
            on_grid = np.arange(x.shape[axis]) % self.grid == 0
            shape = [1] * x.ndim
            shape[axis] = -1
            p = p + 0.5 / x.ndim * on_grid.reshape(shape)
        return np.stack([1 - p, p]).astype(np.float32)
