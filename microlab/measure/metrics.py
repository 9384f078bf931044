"""Instance-segmentation accuracy: objects matched by intersection over union."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

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
    pairs = _pairs(truth, prediction)
    thresholds = _thresholds(iou)
    scores = [_score(pairs, t) for t in thresholds]
    if isinstance(iou, numbers.Real):
        return scores[0]
    return np.array(scores)


def object_errors(truth, prediction, iou: float = 0.5) -> dict[str, int]:
    """What went wrong with each object: a count per kind of error, behind one
    :func:`average_precision`.

    Objects are matched as by :func:`average_precision` at ``iou``. Each true object that
    no found object matches is counted once, as

    * ``merged``: the found object holding most of it holds at least half of another true
      object too (two or more objects found as one);
    * ``missed``: less than half of it lies in found objects;
    * ``split``: no found object holds half of it (found in pieces);
    * ``misshapen``: one found object holds at least half of it, yet their IoU is below
      ``iou`` (an outline too far off, e.g. bleeding into the background);

    and each found object that matches no true object, as

    * ``merging``: it holds at least half of two or more true objects;
    * ``spurious``: it holds half of no true object and at least half of it is background
      (debris, noise);
    * ``fragments``: the rest: pieces of true objects (what a split leaves), and the found
      side of a misshapen object.

    So ``matched + merged + missed + split + misshapen == true`` and
    ``matched + merging + spurious + fragments == found``, and
    ``average_precision(truth, prediction, iou) == matched / (true + found - matched)``.

    Parameters
    ----------
    truth, prediction : array-like of int
        Label images of the same shape, 2D or 3D; 0 is background.
    iou : float
        IoU threshold in (0, 1] for a match.

    Returns
    -------
    dict of str to int
        ``true``, ``found``, ``matched``, then the kinds above.

    Raises
    ------
    TypeError
        If a label image does not hold integers.
    ValueError
        If the shapes differ, labels are negative or ``iou`` is outside (0, 1].

    See Also
    --------
    microlab.viz.show_errors : the same errors drawn on the image.

    Examples
    --------
    Three touching nuclei found as one, a fourth matched, and a speck of debris:

    >>> import numpy as np
    >>> truth = np.zeros((8, 20), int)
    >>> truth[2:6, 1:5], truth[2:6, 5:9], truth[2:6, 9:13], truth[2:6, 15:19] = 1, 2, 3, 4
    >>> found = np.zeros((8, 20), int)
    >>> found[2:6, 1:13] = 1; found[2:6, 15:19] = 2; found[0, 0] = 3
    >>> errors = object_errors(truth, found)
    >>> {kind: count for kind, count in errors.items() if count}
    {'true': 4, 'found': 3, 'matched': 1, 'merged': 3, 'merging': 1, 'spurious': 1}
    >>> float(average_precision(truth, found)) == 1 / (4 + 3 - 1)
    True
    """
    true_kinds, found_kinds = error_kinds(truth, prediction, iou)
    errors = dict(true=len(true_kinds), found=len(found_kinds),
                  matched=sum(kind == "matched" for kind in true_kinds.values()))
    for kind in ("merged", "missed", "split", "misshapen"):
        errors[kind] = sum(k == kind for k in true_kinds.values())
    for kind in ("merging", "spurious", "fragments"):
        errors[kind] = sum(k == kind for k in found_kinds.values())
    return errors


def error_kinds(truth, prediction, iou: float = 0.5) -> tuple[dict[int, str], dict[int, str]]:
    """The kind of each object of :func:`object_errors`: ``{label: kind}`` for the true
    objects (``"matched"``, ``"merged"``, ``"missed"``, ``"split"``, ``"misshapen"``) and
    for the found ones (``"matched"``, ``"merging"``, ``"spurious"``, ``"fragments"``).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((6, 6), int); truth[1:4, 1:4] = 5
    >>> found = np.zeros((6, 6), int); found[1:4, 1:4] = 2; found[5, 5] = 9
    >>> error_kinds(truth, found)
    ({5: 'matched'}, {2: 'matched', 9: 'spurious'})
    """
    if not isinstance(iou, numbers.Real):
        raise ValueError(f"iou must be one threshold in (0, 1], got {iou!r}")
    pairs = _pairs(truth, prediction)
    threshold = float(_thresholds(iou)[0])
    ti, pi, inter = pairs.ti, pairs.pi, pairs.inter
    true_area, pred_area = pairs.true_area, pairs.pred_area
    n_true, n_found = len(pairs.true_ids), len(pairs.pred_ids)
    matched = _matched(pairs, threshold)
    true_matched = np.zeros(n_true, bool)
    true_matched[ti[matched]] = True
    found_matched = np.zeros(n_found, bool)
    found_matched[pi[matched]] = True
    half = inter >= 0.5 * true_area[ti]  # the found object holds half of the true one
    halves = np.bincount(pi[half], minlength=n_found)
    covered = np.bincount(ti, inter, minlength=n_true)
    on_objects = np.bincount(pi, inter, minlength=n_found)
    order = np.lexsort((inter, ti))  # by true object, then overlap: its largest comes last
    last = order[np.r_[ti[order][1:] != ti[order][:-1], True]] if len(order) else order
    main = np.zeros(n_true, np.int64)  # the found object holding most of each true one
    main[ti[last]] = pi[last]
    biggest = np.zeros(n_true)
    biggest[ti[last]] = inter[last]
    true_kinds: dict[int, str] = {}
    for t in np.nonzero(pairs.true_ids)[0]:
        if true_matched[t]:
            kind = "matched"
        elif covered[t] < 0.5 * true_area[t]:
            kind = "missed"
        elif halves[main[t]] - (biggest[t] >= 0.5 * true_area[t]) >= 1:
            kind = "merged"
        elif biggest[t] < 0.5 * true_area[t]:
            kind = "split"
        else:
            kind = "misshapen"
        true_kinds[int(pairs.true_ids[t])] = kind
    found_kinds: dict[int, str] = {}
    for p in np.nonzero(pairs.pred_ids)[0]:
        if found_matched[p]:
            kind = "matched"
        elif halves[p] >= 2:
            kind = "merging"
        elif halves[p] == 0 and on_objects[p] <= 0.5 * pred_area[p]:
            kind = "spurious"
        else:
            kind = "fragments"
        found_kinds[int(pairs.pred_ids[p])] = kind
    return true_kinds, found_kinds


class _Pairs(NamedTuple):
    """The overlaps of two label images: for each (true, found) pair of objects that
    overlap, their indices into ``true_ids`` / ``pred_ids``, intersection and IoU."""

    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_area: np.ndarray
    pred_area: np.ndarray
    ti: np.ndarray
    pi: np.ndarray
    inter: np.ndarray
    overlap: np.ndarray


def _pairs(truth, prediction) -> _Pairs:
    true = check_labels(truth, "truth")
    pred = check_labels(prediction, "prediction")
    if true.shape != pred.shape:
        raise ValueError(
            f"truth has shape {true.shape} but prediction has shape {pred.shape}; compare "
            "label images of the same image"
        )
    true_ids, true_inv = np.unique(true, return_inverse=True)
    pred_ids, pred_inv = np.unique(pred, return_inverse=True)
    true_inv, pred_inv = true_inv.ravel(), pred_inv.ravel()
    # contingency of (true index, predicted index) over all pixels
    codes, inter = np.unique(true_inv.astype(np.int64) * len(pred_ids) + pred_inv,
                             return_counts=True)
    ti, pi = np.divmod(codes, len(pred_ids))
    true_area = np.bincount(true_inv, minlength=len(true_ids))
    pred_area = np.bincount(pred_inv, minlength=len(pred_ids))
    keep = (true_ids[ti] != 0) & (pred_ids[pi] != 0)
    ti, pi, inter = ti[keep], pi[keep], inter[keep]
    overlap = inter / (true_area[ti] + pred_area[pi] - inter)
    return _Pairs(true_ids, pred_ids, true_area, pred_area, ti, pi, inter, overlap)


def _thresholds(iou) -> np.ndarray:
    thresholds = np.atleast_1d(np.asarray(iou, dtype=float))
    if not (iou is not None and thresholds.ndim == 1 and thresholds.size) or not np.all(
        (thresholds > 0) & (thresholds <= 1)
    ):
        raise ValueError(f"iou must be a threshold in (0, 1] or a list of them, got {iou!r}")
    return thresholds


def _score(pairs: _Pairs, threshold: float) -> float:
    n_true = int(np.count_nonzero(pairs.true_ids))
    n_pred = int(np.count_nonzero(pairs.pred_ids))
    if n_true + n_pred == 0:
        return 1.0
    tp = int(np.count_nonzero(_matched(pairs, threshold)))
    return tp / (n_true + n_pred - tp)


def _matched(pairs: _Pairs, threshold: float) -> np.ndarray:
    """Which of ``pairs`` are matches at ``threshold``: each object in at most one. Above
    one half an IoU is unique by construction; otherwise pairs are chosen to maximise the
    total IoU."""
    candidates = pairs.overlap >= threshold
    if threshold > 0.5 or not candidates.any():
        return candidates
    from scipy.optimize import linear_sum_assignment

    index = np.nonzero(candidates)[0]
    rows, row_idx = np.unique(pairs.ti[index], return_inverse=True)
    cols, col_idx = np.unique(pairs.pi[index], return_inverse=True)
    matrix = np.zeros((len(rows), len(cols)))
    matrix[row_idx, col_idx] = pairs.overlap[index]
    r, c = linear_sum_assignment(matrix, maximize=True)
    chosen = np.zeros((len(rows), len(cols)), bool)
    chosen[r, c] = matrix[r, c] > 0
    matched = np.zeros(len(candidates), bool)
    matched[index] = chosen[row_idx, col_idx]
    return matched
