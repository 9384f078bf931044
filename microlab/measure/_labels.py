"""Validation of label images, shared by the measurement functions."""

from __future__ import annotations

import numpy as np

from .._checks import as_array


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """Return a 2D or 3D label image as an integer ndarray, or raise a helpful error.

    Labels must be non-negative integers (0 = background). A boolean mask is refused: it
    holds one "object" per connected blob only after it has been split into instances.
    """
    array = as_array(labels, name)
    if array.dtype == bool:
        raise TypeError(
            f"{name} is a boolean mask, not a label image; split it into objects first, "
            "e.g. microlab.instances(mask) or scipy.ndimage.label(mask)[0]"
        )
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be an integer label image (0 = background, 1..N = objects), got "
            f"dtype {array.dtype}; round or cast it (e.g. {name}.astype(np.int32)), or turn a "
            "probability map into objects with microlab.instances"
        )
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2D (Y, X) or 3D (Z, Y, X), got shape {array.shape}; pass one "
            "channel and one time point at a time"
        )
    if array.size and array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(
            f"{name} holds negative values (smallest {array.min()}); labels must be 0 for "
            "background and positive integers for objects"
        )
    return array
