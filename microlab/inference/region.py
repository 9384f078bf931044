"""Predict one region of an image with any :class:`microlab.Segmenter`, exactly.

The region is read with the segmenter's ``context`` around it (clipped at the image edge,
its origin snapped to the segmenter's ``alignment``), predicted, and cropped back, so the
result equals that of predicting the whole image there for a segmenter whose ``context`` is
honest. Time series are predicted time point by time point.
"""

from __future__ import annotations

import numpy as np

from ..io import Image


def predict_region(segmenter, image: Image, region: tuple[slice, ...] | None = None
                   ) -> np.ndarray:
    """Per-class probabilities ``(C, *region)`` of a region of ``image``.

    Parameters
    ----------
    segmenter : Segmenter
        A trained segmenter (its ``context`` says how much surrounding image it needs).
    image : microlab.Image
        The image, in microlab's axes order (``T``, ``C``, ``Z``, ``Y``, ``X``).
    region : tuple of slice, optional
        One slice per axis of the image without ``C`` (``T`` included); default: all.

    Returns
    -------
    ndarray
        ``(C, *region shape)`` float32.

    Examples
    --------
    >>> import microlab
    >>> image, truth = microlab.data.sandstone()
    >>> strokes = microlab.labels.scribbles_from_truth(truth)
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=4.0", "Sobel"])
    >>> rf = rf.fit(image, strokes, progress=False)
    >>> part = predict_region(rf, image, (slice(100, 164), slice(200, 300)))
    >>> bool(np.allclose(part, rf.predict_proba(image)[:, 100:164, 200:300], atol=1e-6))
    True
    """
    axes = image.axes.replace("C", "")
    shape = tuple(n for n, a in zip(image.shape, image.axes, strict=True) if a != "C")
    if region is None:
        region = tuple(slice(0, n) for n in shape)
    if len(region) != len(shape):
        raise ValueError(
            f"region needs one slice per axis of {axes!r} (shape {shape}), got {len(region)}"
        )
    region = tuple(slice(*s.indices(n)[:2]) for s, n in zip(region, shape, strict=True))
    if any(s.stop <= s.start for s in region):
        raise ValueError(f"region {region} is empty for an image of shape {shape}")
    halo = int(segmenter.context)
    has_t = "T" in axes
    ndim = len(shape) - has_t
    align = segmenter.alignment
    aligns = (int(align),) * ndim if np.ndim(align) == 0 else tuple(int(a) for a in align)
    parts = []
    for t in range(region[0].start, region[0].stop) if has_t else [None]:
        img = _at_time(image, t)
        spatial = region[1:] if has_t else region
        window = tuple(slice(max(0, s.start - halo) // a * a, min(n, s.stop + halo))
                       for s, n, a in zip(spatial, img.spatial_shape, aligns, strict=True))
        proba = segmenter.predict_proba(_crop(img, window))
        inner = tuple(slice(s.start - w.start, s.stop - w.start)
                      for s, w in zip(spatial, window, strict=True))
        parts.append(proba[(slice(None), *inner)])
    return np.stack(parts, axis=1) if has_t else parts[0]


def _at_time(image: Image, t: int | None) -> Image:
    if t is None:
        return image
    axis = image.axes.index("T")
    return Image(np.take(image.data, t, axis=axis), image.axes.replace("T", ""),
                 image.spacing, image.unit, image.name)


def _crop(image: Image, window: tuple[slice, ...]) -> Image:
    spatial = iter(window)
    index = tuple(next(spatial) if a in "ZYX" else slice(None) for a in image.axes)
    return Image(image.data[index], image.axes, image.spacing, image.unit, image.name)
