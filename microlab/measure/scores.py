"""Accuracy of a semantic segmentation against a ground truth."""

from __future__ import annotations

import numpy as np

from .._checks import as_array


def class_iou(prediction, truth, *, classes: int | None = None) -> np.ndarray:
    """Intersection over union of each class 1..C (pixels where ``truth`` is 0 are ignored).

    Parameters
    ----------
    prediction, truth : array-like of int
        Labels 1..C of the same shape; 0 in ``truth`` means "unknown" and is not scored.
    classes : int, optional
        Number of classes C; default the largest label in either array.

    Returns
    -------
    ndarray of float
        IoU of class k at index k-1 (NaN for a class absent from both).

    Examples
    --------
    >>> import numpy as np
    >>> class_iou(np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2])).round(3).tolist()
    [0.5, 0.667]
    """
    pred = as_array(prediction, "prediction")
    true = as_array(truth, "truth")
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and truth {true.shape} differ in shape")
    if pred.dtype.kind not in "biu" or true.dtype.kind not in "biu":
        raise TypeError("prediction and truth must be integer label images")
    n = int(classes or max(pred.max(initial=0), true.max(initial=0)))
    known = true > 0
    p, t = pred[known].astype(np.int64), true[known].astype(np.int64)
    p = np.where((p >= 1) & (p <= n), p, 0)
    confusion = np.bincount(t * (n + 1) + p, minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
    inter = np.diag(confusion)[1:].astype(float)
    union = confusion[1:, :].sum(1) + confusion[:, 1:].sum(0) - np.diag(confusion)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def mean_iou(prediction, truth, *, classes: int | None = None) -> float:
    """Mean of :func:`class_iou` over the classes present.

    Examples
    --------
    >>> import numpy as np
    >>> round(mean_iou(np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2])), 4)
    0.5833
    """
    return float(np.nanmean(class_iou(prediction, truth, classes=classes)))
