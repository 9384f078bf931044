"""The one protocol both tiers follow, so tiling, uncertainty, widgets and the CLI are
written once for the Random Forest and the U-Net alike."""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """A pixel classifier trained from sparse annotations.

    Annotations use 0 for unlabelled pixels and 1..C for the classes; predictions are
    per-class probabilities ``(C, *spatial)`` in float32, from which labels, instances and
    uncertainty are derived.
    """

    classes: list[str]

    def fit(self, images, annotations, *, progress: bool = True) -> Segmenter: ...

    def predict_proba(self, image) -> np.ndarray: ...

    def predict(self, image) -> np.ndarray: ...

    def save(self, path: str | os.PathLike) -> None: ...

    @classmethod
    def load(cls, path: str | os.PathLike) -> Segmenter: ...


def labels_from_proba(proba: np.ndarray) -> np.ndarray:
    """Turn ``(C, *spatial)`` probabilities into labels 1..C (the most probable class).

    Examples
    --------
    >>> import numpy as np
    >>> labels_from_proba(np.array([[[0.9, 0.2]], [[0.1, 0.8]]], np.float32)).tolist()
    [[1, 2]]
    """
    dtype = np.uint8 if proba.shape[0] < 255 else np.uint16
    return (np.argmax(proba, axis=0) + 1).astype(dtype)
