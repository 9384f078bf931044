"""Objects the classifier half-sees: where to paint next when objects are missing.

A pixel classifier trained on a few strokes learns a brightness level for "object". Objects
much dimmer than the painted ones fall below it: the classifier calls them background, yet
not surely (a mean foreground probability of about 0.1–0.3 where the true background has
about 0), so they show in its uncertainty map as blobs of about an object's size, outside
every object found. :func:`doubtful_objects` finds those blobs; painting a few of them (as
objects or as background, whichever they are) and training again is the cure.

Measured on cached forest outputs of ``benchmarks/bench_instances.py --real`` scenes (1 %
random strokes): with each nucleus 0.25–1× as bright (``--degrade dim``, the four scenes
where the forest missed most) 40 of the 48 missed nuclei were found, and one blob that only
partly covered one, nothing else; on the same real nuclei at their own brightness, one place
without a nucleus in 60 touching scenes, none in 12 overlapping ones and none in 60 of mixed
sizes. On generated nuclei without debris (``bench_rf_instances.py``): places in 12 of 168
scenes (39 without a nucleus, mostly at radius 5); with debris, mostly on the debris, which
the classifier is rightly unsure of (the user then paints it as background).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops

from .._checks import as_array
from .._ndfilters import binary_dilation, gaussian_filter
from ._instances import _typical_size

LEVEL = 0.2
"""Least (smoothed) uncertainty of a doubtful blob: a margin uncertainty of 0.2 is a second
class at 0.1 when two classes share the probability."""
SHARE = 0.25
"""Least size of a doubtful blob, as a share of a typical object's size."""
GAP = 2
"""Pixels around each object left out: its blurred rim is uncertain, not a missed object."""
SIGMA = 1.0
"""Gaussian σ (pixels) smoothing the uncertainty map before it is cut at ``level``."""
SOLIDITY = 0.5
"""Least solidity (area over convex hull) of a doubtful blob: an unsure rim around objects
(a forest whose background strokes lie far away makes wide ones) is a ring or an arc."""


def doubtful_objects(uncertainty, objects, *, where=None, level: float = LEVEL,
                     share: float = SHARE) -> np.ndarray:
    """Blobs of uncertain pixels, at least ``share`` of a typical object's size, outside the
    objects: places a classifier half-sees an object but found none.

    Parameters
    ----------
    uncertainty : array-like of float
        Per-pixel uncertainty in [0, 1] (``(Y, X)`` or ``(Z, Y, X)``), e.g.
        ``microlab.uncertainty(proba)``; NaN (not predicted) counts as certain.
    objects : array-like of int
        The objects found (0 = background, 1..N), same shape.
    where : array-like of bool, optional
        Pixels that may be doubtful, e.g. those not predicted as the object class (pixels
        predicted as objects but left out as debris are then not reported again).
    level : float
        Least uncertainty, after a Gaussian of σ = 1 px, in (0, 1].
    share : float
        Least size of a blob as a share of a typical object (the size-weighted median of
        the objects' sizes).

    Returns
    -------
    ndarray of int32
        The doubtful blobs labelled 1..M (0 elsewhere); all 0 when there are no objects to
        compare with.

    Examples
    --------
    >>> import numpy as np
    >>> objects = np.zeros((60, 60), np.int32)
    >>> objects[5:15, 5:15], objects[5:15, 40:50] = 1, 2       # two objects found
    >>> unsure = np.zeros((60, 60), np.float32)
    >>> unsure[40:50, 20:30] = 0.6                               # an object-sized blob
    >>> unsure[30, 5] = 0.9                                      # one unsure pixel
    >>> blobs = doubtful_objects(unsure, objects)
    >>> int(blobs.max()), bool(blobs[45, 25]), bool(blobs[30, 5])
    (1, True, False)
    """
    unsure = as_array(uncertainty, "uncertainty")
    labels = as_array(objects, "objects")
    if unsure.dtype.kind not in "fiub" or labels.dtype.kind not in "iub":
        raise TypeError(f"uncertainty must be real numbers and objects integer labels, got "
                        f"{unsure.dtype} and {labels.dtype}")
    if unsure.shape != labels.shape or unsure.ndim not in (2, 3):
        raise ValueError(f"uncertainty and objects must be 2D or 3D arrays of one shape, got "
                         f"{unsure.shape} and {labels.shape}")
    if not 0 < level <= 1 or not 0 < share:
        raise ValueError(f"level must be in (0, 1] and share > 0, got {level} and {share}")
    typical = _typical_size(labels.astype(np.int64, copy=False))
    if typical == 0:  # no objects to compare with
        return np.zeros(labels.shape, np.int32)
    smooth = gaussian_filter(np.nan_to_num(unsure.astype(np.float32), nan=0.0), SIGMA)
    candidate = (smooth >= level) & ~binary_dilation(labels > 0, iterations=GAP)
    if where is not None:
        allowed = as_array(where, "where")
        if allowed.shape != labels.shape:
            raise ValueError(f"where must have the objects' shape {labels.shape}, "
                             f"got {allowed.shape}")
        candidate &= allowed.astype(bool)
    blobs, _ = ndi.label(candidate)
    sizes = np.bincount(blobs.ravel())
    keep = sizes >= share * typical
    keep[0] = False
    for region in regionprops(np.where(keep[blobs], blobs, 0)):
        if region.solidity < SOLIDITY:  # a rim around objects, or an arc of it
            keep[region.label] = False
    new = np.zeros(len(sizes), np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1)
    return new[blobs]


def _middles(blobs: np.ndarray) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """``(middle, box)`` of each blob of a label image, largest first: the blob's pixel
    nearest its centroid, and its bounding box."""
    boxes = ndi.find_objects(blobs)
    sizes = np.bincount(blobs.ravel())[1:]
    found = []
    for k in np.argsort(-sizes, kind="stable"):
        box = boxes[k]
        if box is None:
            continue
        inside = np.argwhere(blobs[box] == k + 1)
        middle = inside[np.argmin(((inside - inside.mean(0)) ** 2).sum(1))]
        found.append((tuple(int(m + b.start) for m, b in zip(middle, box, strict=True)), box))
    return found
