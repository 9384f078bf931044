"""Pseudo-labels: the objects and background a model is sure of, added to the annotations.

Self-training for the instance U-Net (``UNetSegmenter(mode="instance",
pseudo_labels=True)``): a person paints a few whole objects, the network trained on them
finds many more in the same image, and the ones it is sure of become annotations for the
rest of the training. Measured on real overlapping nuclei (``benchmarks/bench_unet_nuclei.py
--real --overlap 0.15 --pseudo-labels true``): trained on 20 painted nuclei, the U-Net was
sure of 7 to 106 of the other 170 or so; trained on them too, its AP@0.5 rose by about
0.03 in half the scenes and fell by up to 0.03 where it was sure of the fewest
(docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._checks import as_array
from .._ndfilters import distance_transform_edt
from .boundary import BACKGROUND, BOUNDARY, INTERIOR, instance_annotations

CONFIDENCE = 0.85
"""Mean, over an object's pixels, of the model's largest class probability that makes it
sure of the object."""
BACKGROUND_CONFIDENCE = 0.95
"""Background probability that makes the model sure of a background pixel."""
SIZES = (0.4, 2.5)
"""Object areas kept, as multiples of the median area of the painted objects."""
GAP = 3
"""Pixels between a found object and the background taken as sure (none nearer)."""


def confident_annotations(proba, objects, annotation, *, width: int = 2,
                          confidence: float = CONFIDENCE,
                          background_confidence: float = BACKGROUND_CONFIDENCE
                          ) -> np.ndarray:
    """``annotation`` with the objects and background a model is sure of added.

    Parameters
    ----------
    proba : ndarray, shape (3, Y, X)
        The instance model's probabilities of background, boundary and interior.
    objects : ndarray of int, shape (Y, X)
        The objects it found in them (``microlab.instances(proba, kind="boundary")``).
    annotation : ndarray, shape (Y, X)
        The person's annotations, as the instance U-Net trains on them (0 = unlabelled,
        1 = background, 2 = boundary, 3 = interior, 4 = background or boundary).
    width : int
        Boundary width of the added objects, in pixels (the model's ``boundary_width``).
    confidence, background_confidence : float
        See :data:`CONFIDENCE` and :data:`BACKGROUND_CONFIDENCE`.

    Returns
    -------
    ndarray of uint8
        The annotation where it was labelled; elsewhere the added objects (boundary,
        interior and the ring around each, :func:`instance_annotations`) and background.
        An object is added when the model is sure of it (mean largest probability over its
        pixels ≥ ``confidence``), it does not touch the image border or a painted object,
        and its area is within :data:`SIZES` of the painted objects' median (of all found
        objects' where nothing is painted). Background is added where its probability is ≥
        ``background_confidence``, :data:`GAP` pixels or more from every found object.

    Examples
    --------
    A model sure of two squares, one of them painted: the other is added.

    >>> proba = np.zeros((3, 12, 20), np.float32); proba[0] = 1
    >>> objects = np.zeros((12, 20), int)
    >>> objects[3:8, 3:8] = 1; objects[3:8, 12:17] = 2
    >>> proba[:, objects > 0] = [[0], [0], [1]]
    >>> painted = instance_annotations(np.where(objects == 1, 1, 0))
    >>> added = confident_annotations(proba, objects, painted, width=1)
    >>> added[5, 10:18].tolist()   # too near to be sure, ring, boundary, interior .., ring
    [0, 4, 2, 3, 3, 3, 2, 4]
    >>> added[11, 8:14].tolist()   # background the model is sure of, away from objects
    [1, 1, 1, 1, 1, 1]
    >>> bool(np.array_equal(added[objects == 1], painted[objects == 1]))
    True
    """
    proba = as_array(proba, "proba")
    objects = as_array(objects, "objects")
    annotation = as_array(annotation, "annotation")
    if proba.ndim != 3 or proba.shape[0] != 3 or proba.shape[1:] != objects.shape \
            or objects.shape != annotation.shape:
        raise ValueError(
            f"need probabilities (3, Y, X) of background/boundary/interior and objects and "
            f"an annotation of shape (Y, X); got {proba.shape}, {objects.shape} and "
            f"{annotation.shape}"
        )
    ids = np.arange(1, int(objects.max()) + 1)
    if not len(ids):
        return annotation.astype(np.uint8)
    flat = objects.ravel()
    areas = np.bincount(flat, minlength=len(ids) + 1)[1:].astype(float)
    sure = np.bincount(flat, weights=proba.max(0).ravel().astype(float),
                       minlength=len(ids) + 1)[1:] >= confidence * np.maximum(areas, 1)
    marked = np.isin(annotation, (BOUNDARY, INTERIOR))
    painted, count = ndi.label(marked)
    typical = np.median(np.bincount(painted.ravel())[1:] if count else areas[areas > 0])
    sized = (areas >= SIZES[0] * typical) & (areas <= SIZES[1] * typical)
    edge = np.concatenate([objects[0], objects[-1], objects[:, 0], objects[:, -1]])
    taken = objects[marked]
    kept = ids[sure & sized & ~np.isin(ids, edge) & ~np.isin(ids, taken)]
    found = np.where(np.isin(objects, kept), objects, 0)
    background = (proba[BACKGROUND - 1] >= background_confidence) & (
        distance_transform_edt(objects == 0) >= GAP)
    added = instance_annotations(found, background=background, width=width)
    return np.where(annotation > 0, annotation, added).astype(np.uint8)
