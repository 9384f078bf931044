"""Intensity ranges: measured once on the training images, kept with the model, checked at
prediction time.

Both tiers call these. A model records the per-channel range of the images it was trained
on; predicting an image whose intensities lie far outside it (an 8-bit export of a scene
the model learnt in 12 bits, another camera gain) would silently give nonsense, so
:func:`check_range` says so with an :class:`IntensityWarning` that names both ranges and
what to do.

Examples
--------
>>> import numpy as np
>>> intensity_range([np.arange(1001, dtype=float)[None]])
[(10.0, 998.0)]
>>> normalise(np.array([[0.0, 5.0, 20.0]]), [(0.0, 10.0)]).tolist()
[[0.0, 0.5, 1.0]]
"""

from __future__ import annotations

import warnings

import numpy as np

PERCENTILES = (1.0, 99.8)
"""Default low/high percentiles of a range (robust to a few hot or dead pixels)."""
_SAMPLES = 1_000_000
_CHECK_SAMPLES = 65_536
"""Values looked at when checking an image at prediction time (once per tile: cheap)."""


class IntensityWarning(UserWarning):
    """An image's intensities lie far outside the range a model was trained on."""


def _sample(array: np.ndarray, samples: int) -> np.ndarray:
    flat = np.asarray(array).ravel()
    return flat[:: max(1, flat.size // samples)]


def intensity_range(arrays, percentiles=PERCENTILES, *, samples: int = _SAMPLES
                    ) -> list[tuple[float, float]]:
    """Per-channel ``(low, high)``: the given percentiles over all ``(C, ...)`` arrays.

    About ``samples`` evenly strided values per array are used. ``high`` is always above
    ``low`` (by 1 for a constant channel).
    """
    ranges = []
    for c in range(arrays[0].shape[0]):
        values = np.concatenate([_sample(a[c], samples) for a in arrays]).astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            low = high = 0.0
        else:
            low, high = (float(v) for v in np.percentile(values, percentiles))
        ranges.append((low, high if high > low else low + 1.0))
    return ranges


def normalise(array: np.ndarray, ranges=None) -> np.ndarray:
    """Scale each channel of ``(C, ...)`` so ``ranges[c]`` maps to [0, 1], clipped.

    ``ranges`` default to the image's own :func:`intensity_range`.
    """
    ranges = intensity_range([array]) if ranges is None else ranges
    out = np.empty(array.shape, np.float32)
    for c, (low, high) in enumerate(ranges):
        out[c] = (array[c] - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def check_range(
    array: np.ndarray, trained, *, trained_dtype: str | None = None, what: str = "the model"
) -> bool:
    """Warn when ``(C, ...)`` ``array`` is far outside the ``trained`` per-channel ranges.

    "Far" means that the image's own 1–99.8 % range mostly lies outside the trained range
    or spans more than four times it; or, for an image of another dtype than the training
    images (8-bit after 16-bit), spans less than a quarter of it. Then the model's features
    or inputs mean something else than they did in training. (A crop of one dark phase in
    an image of the training dtype is narrow too, and fine: that alone does not warn.)

    Parameters
    ----------
    array : ndarray
        ``(C, *spatial)`` image to predict.
    trained : list of (float, float)
        The ranges recorded at training time (:func:`intensity_range`).
    trained_dtype : str, optional
        The dtype of the training images.
    what : str
        Named in the warning.

    Returns
    -------
    bool
        True when the image is within range (no warning).

    Examples
    --------
    >>> import warnings
    >>> twelve_bit = [(0.0, 4095.0)]
    >>> check_range(np.linspace(0, 4000, 100)[None], twelve_bit)
    True
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_range(np.linspace(0, 255, 100).astype(np.uint8)[None], twelve_bit,
    ...                 trained_dtype="uint16")
    False
    >>> caught[0].category.__name__
    'IntensityWarning'
    """
    if trained is None:
        return True
    own = intensity_range([array], samples=_CHECK_SAMPLES)
    other_dtype = trained_dtype is not None and str(array.dtype) != str(trained_dtype)
    bad = []
    for c, ((lo, hi), (tlo, thi)) in enumerate(zip(own, trained, strict=False)):
        span, tspan = hi - lo, thi - tlo
        inside = max(0.0, min(hi, thi) - max(lo, tlo))
        if span > tspan * 4 or inside < span / 2 or (other_dtype and span < tspan / 4):
            bad.append(f"channel {c}: {lo:.4g}–{hi:.4g} vs trained {tlo:.4g}–{thi:.4g}")
    if bad:
        warnings.warn(
            f"this image's intensities are far outside the range {what} was trained on "
            f"({'; '.join(bad)}), so its prediction may be meaningless. Rescale the image to "
            "the training data's range (e.g. the same bit depth and exposure), or retrain "
            "with images like this one",
            IntensityWarning,
            stacklevel=3,
        )
    return not bad
