"""Instance-segmentation accuracy: objects matched by intersection over union."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ._labels import check_labels


def average_precision(
    truth, prediction, iou: float | Sequence[float] = 0.5
) -> float | np.ndarray:
    """Average precision of predicted objects against true ones, at an IoU threshold.

    A predicted object matches a true object when their intersection over union (IoU) is at
    least ``iou``, each object matching at most one other; the score is
    ``TP / (TP + FP + FN)`` with TP the matched pairs, FP the unmatched predictions and FN
    the unmatched true objects (the "AP" of the cell-segmentation literature, e.g. StarDist
    and Cellpose). Above ``iou = 0.5`` a match is unique by construction; otherwise pairs are
    chosen to maximise the total IoU (:func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    truth, prediction : array-like of int
        Label images of the same shape, 2D or 3D; 0 is background, each other value an
        object (values need not be consecutive).
    iou : float or sequence of float
        IoU threshold(s) in (0, 1].

    Returns
    -------
    float or ndarray
        The score in [0, 1] (one per threshold when ``iou`` is a sequence). Two empty label
        images agree perfectly and score 1.0.

    Raises
    ------
    TypeError
        If a label image does not hold integers.
    ValueError
        If the shapes differ, labels are negative or a threshold is outside (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((10, 10), int); truth[1:5, 1:5] = 1; truth[6:9, 6:9] = 2
    >>> pred = np.zeros((10, 10), int); pred[1:5, 1:4] = 7; pred[0:2, 7:9] = 8
    >>> float(average_precision(truth, pred))  # 1 match (IoU 0.75), 1 FP, 1 FN
    0.3333333333333333
    >>> average_precision(truth, truth, iou=[0.5, 0.9]).tolist()
    [1.0, 1.0]
    """
    true = check_labels(truth, "truth")
    pred = check_labels(prediction, "prediction")
    if true.shape != pred.shape:
        raise ValueError(
            f"truth has shape {true.shape} but prediction has shape {pred.shape}; compare "
            "label images of the same image"
        )
    thresholds = np.atleast_1d(np.asarray(iou, dtype=float))
    if not (iou is not None and thresholds.ndim == 1 and thresholds.size) or not np.all(
        (thresholds > 0) & (thresholds <= 1)
    ):
        raise ValueError(f"iou must be a threshold in (0, 1] or a list of them, got {iou!r}")
    true_ids, true_inv = np.unique(true, return_inverse=True)
    pred_ids, pred_inv = np.unique(pred, return_inverse=True)
    true_inv, pred_inv = true_inv.ravel(), pred_inv.ravel()
    n_true = len(true_ids)
    # contingency of (true index, predicted index) over all pixels
    pairs = true_inv.astype(np.int64) * len(pred_ids) + pred_inv
    codes, inter = np.unique(pairs, return_counts=True)
    ti, pi = np.divmod(codes, len(pred_ids))
    true_area = np.bincount(true_inv, minlength=n_true)
    pred_area = np.bincount(pred_inv, minlength=len(pred_ids))
    keep = (true_ids[ti] != 0) & (pred_ids[pi] != 0)
    ti, pi, inter = ti[keep], pi[keep], inter[keep]
    overlap = inter / (true_area[ti] + pred_area[pi] - inter)
    n_t = int(np.count_nonzero(true_ids))
    n_p = int(np.count_nonzero(pred_ids))
    scores = [_score(ti, pi, overlap, t, n_t, n_p) for t in thresholds]
    if isinstance(iou, numbers.Real):
        return scores[0]
    return np.array(scores)


def _score(ti, pi, overlap, threshold, n_true, n_pred) -> float:
    if n_true + n_pred == 0:
        return 1.0
    candidates = overlap >= threshold
    if threshold > 0.5:
        tp = int(np.count_nonzero(candidates))
    else:
        tp = _assign(ti[candidates], pi[candidates], overlap[candidates])
    return tp / (n_true + n_pred - tp)


def _assign(ti, pi, overlap) -> int:
    from scipy.optimize import linear_sum_assignment

    if len(ti) == 0:
        return 0
    rows, row_idx = np.unique(ti, return_inverse=True)
    cols, col_idx = np.unique(pi, return_inverse=True)
    matrix = np.zeros((len(rows), len(cols)))
    matrix[row_idx, col_idx] = overlap
    r, c = linear_sum_assignment(matrix, maximize=True)
    return int(np.count_nonzero(matrix[r, c] > 0))
