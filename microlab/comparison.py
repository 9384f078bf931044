"""Compare segmenter tiers on one set of strokes, honestly: each tier is trained on part of
the strokes and scored on strokes it did not see, in spatially blocked folds.

The images are cut into square blocks, the blocks holding strokes are dealt to ``folds``
folds (seeded, spreading every class over the folds), and in turn each fold's strokes are
held out: the tier is trained on the other strokes (minus those within ``gap`` pixels of a
held-out one, so that neighbouring pixels do not leak) and predicts the images, which are
scored on the held-out strokes. The per-class IoU comes from one confusion matrix summed
over the folds; the fold-to-fold spread says how much a difference between tiers means.
"""

from __future__ import annotations

import copy
import math
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._ndfilters import distance_transform_edt
from .segmenter import StrokesWarning, annotated_classes, training_set
from .tiers import tier

__all__ = ["Comparison", "compare", "spatial_folds"]


@dataclass
class Comparison:
    """What :func:`compare` found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tier: IoU per class, ``mean IoU``, its fold-to-fold standard deviation
        ``± folds``, ``AP@0.5`` when objects were scored (with ``objects merged`` and
        ``objects missed``: how many held-out objects were found together with a neighbour
        or not found, over all folds, :func:`microlab.measure.object_errors`), and the mean
        ``fit s`` and ``predict s`` per fold.
    recommendation : str
        A plain sentence: which tier, by how much, and whether the difference exceeds the
        fold-to-fold spread; tiers less than 0.01 mean IoU apart are on par (the faster to
        train is suggested). When objects were scored, the tiers are ranked by ``AP@0.5``
        (less than 0.02 apart: on par), the objects being what was asked for, and the mean
        IoU is given beside it.
    classes : list of str
        The class names scored.
    held_out : int
        Annotated pixels scored (each stroke pixel is held out exactly once).
    folds : int
        Number of folds.
    stopped : bool
        Whether ``stop`` ended the comparison early (tiers not finished are left out).
    fold_scores, fold_ap : dict of str to list of float
        Each tier's mean IoU and (when objects were scored) AP@0.5 fold by fold.
    """

    table: object
    recommendation: str
    classes: list[str]
    held_out: int
    folds: int
    stopped: bool = False
    fold_scores: dict[str, list[float]] = field(default_factory=dict, repr=False)
    fold_ap: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def plot(self, ax=None):
        """Bar chart of the per-class IoU of each tier, and of its objects' AP@0.5 when
        objects were scored (right of a dashed line); returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=self._size)
        names = list(self.table.index)
        columns, labels = list(self.classes), list(self.classes)
        if "AP@0.5" in self.table.columns:
            columns.append("AP@0.5")
            labels.append("objects\nAP@0.5")
            ax.axvline(len(self.classes) - 0.5, color="0.5", lw=0.8, ls="--")
        width = 0.8 / max(len(names), 1)
        x = np.arange(len(columns))
        for i, name in enumerate(names):
            ax.bar(x + (i - (len(names) - 1) / 2) * width,
                   self.table.loc[name, columns].to_numpy(float), width, label=name)
        ax.set_xticks(x, labels)
        ax.set_ylim(0, 1)
        ax.set_ylabel("IoU on held-out strokes" if len(columns) == len(self.classes)
                      else "IoU, AP on held-out strokes")
        ax.set_title(f"{self.folds}-fold blocked comparison, {self.held_out} held-out pixels")
        ax.legend(loc="lower right", fontsize="small")
        return ax

    def figure(self):
        """The bar chart of :meth:`plot` on a matplotlib ``Figure`` of its own, made without
        pyplot (no window, safe in a background thread): ``figure().savefig(path)``."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=self._size)
        self.plot(ax=figure.add_subplot())
        return figure

    @property
    def _size(self) -> tuple[float, float]:
        """Inches of the chart: wider with more classes."""
        return 1.2 + 1.1 * (len(self.classes) + ("AP@0.5" in self.table.columns)), 3.2

    def __repr__(self) -> str:
        return f"{self.table.round(3).to_string()}\n\n{self.recommendation}"

    def _repr_html_(self) -> str:
        import base64
        import io

        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", bbox_inches="tight", dpi=80)
        png = base64.b64encode(buffer.getvalue()).decode()
        return (f"{self.table.round(3).to_html()}<p>{self.recommendation}</p>"
                f'<img src="data:image/png;base64,{png}"/>')


def spatial_folds(
    annotations: Sequence[np.ndarray],
    folds: int = 3,
    *,
    block: int | None = None,
    gap: int | None = None,
    seed: int = 0,
    classes: Sequence[str] | None = None,
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """Deal the annotated blocks of each layer to folds: the training and test strokes.

    Parameters
    ----------
    annotations : sequence of ndarray
        One annotation layer per image (0 = unlabelled, 1..C classes), 2D or 3D.
    folds : int
        Number of folds, at least 2.
    block : int, optional
        Edge of the square (cubic) blocks in pixels. Default: one that cuts the
        smallest layer into about ``4 * folds`` blocks or more.
    gap : int, optional
        Training strokes closer than this (in pixels) to a test stroke are left out of
        training. Default ``block // 8``.
    seed : int
        Seed of the dealing; the same seed gives the same folds.
    classes : sequence of str, optional
        Class names, for the error messages.

    Returns
    -------
    list of (train, test)
        Per fold, the training and the test annotation layers (one per image; 0 elsewhere).

    Raises
    ------
    ValueError
        If the strokes lie in too few blocks to fold, naming the class and how many more
        places it must be painted in.

    Examples
    --------
    >>> import numpy as np
    >>> layer = np.zeros((90, 90), np.uint8)
    >>> layer[5::10, 5::10] = 1; layer[6::10, 6::10] = 2
    >>> [(int((tr[0] > 0).sum()), int((te[0] > 0).sum())) for tr, te in spatial_folds([layer])]
    [(106, 50), (106, 54), (96, 58)]
    """
    if int(folds) != folds or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds}")
    folds = int(folds)
    layers = [np.asarray(a) for a in annotations]
    if block is None:
        block = _default_block(min(layers, key=np.size).shape, folds)
    if block < 1:
        raise ValueError(f"block must be a positive number of pixels, got {block}")
    gap = block // 8 if gap is None else int(gap)
    if gap < 0:
        raise ValueError(f"gap must be >= 0 pixels, got {gap}")
    grids = [_block_ids(layer.shape, block) for layer in layers]
    fold_of = _deal(layers, grids, folds, block, seed, classes)
    result = []
    for f in range(folds):
        train, test = [], []
        for layer, grid, owner in zip(layers, grids, fold_of, strict=True):
            held = (owner[grid] == f) & (layer > 0)
            near = distance_transform_edt(~held) <= gap if held.any() else held
            test.append(np.where(held, layer, 0).astype(layer.dtype))
            train.append(np.where(~near & (owner[grid] != f), layer, 0).astype(layer.dtype))
        result.append((train, test))
    _check_training_classes(result, layers, classes, block)
    return result


def compare(
    images,
    annotations,
    *,
    tiers: Sequence[str] | Mapping[str, object] = ("random-forest", "unet"),
    folds: int = 3,
    block: int | None = None,
    gap: int | None = None,
    minutes: float = 1.0,
    classes: Sequence[str] | None = None,
    objects: int | str | None = None,
    seed: int = 0,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> Comparison:
    """Train each tier on part of the strokes and score it on strokes it did not see.

    Parameters
    ----------
    images : image or list of images
        ``microlab.Image`` or arrays, 2D or 3D (one channel, or pass ``Image`` objects).
    annotations : array or list of arrays
        One sparse annotation layer per image (0 = unlabelled, k = ``classes[k - 1]``).
    tiers : sequence of str, or mapping
        Kinds from :data:`microlab.tiers.TIERS` (a row each, named by the tier's label), or
        a mapping row name → kind or untrained segmenter (copied for every fold), to compare
        differently configured segmenters.
    folds : int
        Number of spatial folds (each stroke is held out once).
    block, gap : int, optional
        Block edge and leak gap in pixels (see :func:`spatial_folds`).
    minutes : float
        Training time budget per fold, for tiers that have one (the U-Net).
    classes : sequence of str, optional
        Class names; default ``"class k"``.
    objects : int or str, optional
        A class (number or name) whose strokes paint whole objects: each connected piece of
        it in the held-out strokes is a true object, and the tier's
        :func:`microlab.instances` that held-out strokes reach into (their inner half: an
        object nobody painted, whose edge merely touches a background stroke beside it, is
        not scored) are scored against them; an object cut by a fold's border is left out
        (``AP@0.5`` column, :func:`microlab.measure.average_precision`, and the objects
        merged and missed).
    seed : int
        Seed of the fold dealing.
    progress : bool
        Passed to each ``fit``.
    stop : threading.Event, optional
        Once set, the comparison ends after the current fit; finished tiers are kept.

    Returns
    -------
    Comparison
        ``.table``, ``.plot()``, ``.recommendation``.

    Raises
    ------
    ValueError
        If the strokes are too few to fold (the message names the class and how many more
        places to paint it in).

    Examples
    --------
    >>> import microlab
    >>> image, truth = microlab.data.sandstone()
    >>> strokes = microlab.labels.scribbles_from_truth(truth, 0.02)
    >>> forest = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"],
    ...                                         n_estimators=10)
    >>> result = compare(image, strokes, tiers={"forest": forest}, progress=False)
    >>> list(result.table.columns)[-4:]
    ['mean IoU', '± folds', 'fit s', 'predict s']
    >>> bool(0 <= result.table.loc["forest", "mean IoU"] <= 1)
    True
    """
    import pandas as pd

    layers = [layer for _, layer in training_set(images, annotations)]
    _, names = annotated_classes(layers, list(classes or []))
    target = _object_class(objects, names)
    plan = spatial_folds(layers, folds, block=block, gap=gap, seed=seed, classes=names)
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    rows, fold_scores, fold_ap = {}, {}, {}
    for name, make in _candidates(tiers, minutes).items():
        scored = _score(make, names, images, layers, plan, target, progress, stop)
        if scored is None:
            break
        rows[name], fold_scores[name], fold_ap[name] = scored
    stopped = stop is not None and stop.is_set()
    table = pd.DataFrame.from_dict(rows, orient="index")
    held_out = int(sum(np.count_nonzero(layer) for layer in layers))
    fold_ap = fold_ap if target is not None else {}
    recommendation = (_recommend_objects(table, fold_ap, fold_scores, stopped)
                      if target is not None else _recommend(table, fold_scores, stopped))
    return Comparison(table, recommendation, names, held_out, len(plan), stopped,
                      fold_scores, fold_ap)


def _score(make, names, images, layers, plan, target, progress, stop):
    """One tier's row, per-fold mean IoUs and per-fold AP@0.5s (empty without
    ``target``), or None if ``stop`` was set before the end."""
    n = len(names)
    confusion = np.zeros((n + 1, n + 1), np.int64)
    scores, fit_s, predict_s, fold_ap = [], 0.0, 0.0, []
    lost = {"merged": 0, "missed": 0}  # held-out objects, over all folds
    for train, test in plan:
        if stop is not None and stop.is_set():
            return None
        segmenter = make(names)
        start = time.perf_counter()
        with warnings.catch_warnings():  # a fold's strokes may all be near an edge
            warnings.simplefilter("ignore", StrokesWarning)
            segmenter.fit(images, train, progress=progress, stop=stop)
        fit_s += time.perf_counter() - start
        if stop is not None and stop.is_set():
            return None
        start = time.perf_counter()
        probas = [segmenter.predict_proba(image) for image in images]
        predict_s += time.perf_counter() - start
        fold, matched = np.zeros_like(confusion), []
        for image, proba, held, layer in zip(images, probas, test, layers, strict=True):
            fold += _confusion(np.argmax(proba, axis=0) + 1, held, n)
            if target is not None:
                ap, errors = _object_ap(proba, held, layer, target, image)
                matched.append(ap)
                for kind in lost:
                    lost[kind] += errors[kind]
        if target is not None:
            fold_ap.append(float(np.mean(matched)))
        confusion += fold
        scores.append(float(np.nanmean(_iou(fold))))
    iou = _iou(confusion)
    row = dict(zip(names, iou.tolist(), strict=True))
    row["mean IoU"] = float(np.nanmean(iou))
    row["± folds"] = float(np.std(scores))
    if target is not None:
        row["AP@0.5"] = float(np.mean(fold_ap))  # every fold scores every image
        row.update({f"objects {kind}": count for kind, count in lost.items()})
    row["fit s"] = fit_s / len(plan)
    row["predict s"] = predict_s / len(plan)
    return row, scores, fold_ap


def _default_block(shape: tuple[int, ...], folds: int) -> int:
    """A block edge that cuts ``shape`` into about ``4 * folds`` blocks or more."""
    per_axis = math.ceil((4 * folds) ** (1 / len(shape)))
    return max(1, math.ceil(math.prod(shape) ** (1 / len(shape)) / per_axis))


def _block_ids(shape: tuple[int, ...], block: int) -> np.ndarray:
    """Each pixel's block number (blocks numbered in C order)."""
    counts = [-(-s // block) for s in shape]
    index = np.indices(shape, sparse=True)
    return np.ravel_multi_index(tuple(i // block for i in index), counts)


def _deal(layers, grids, folds, block, seed, classes) -> list[np.ndarray]:
    """Fold number of every block (-1 for a block without strokes), rarest class first."""
    rng = np.random.default_rng(seed)
    owners = [np.full(int(grid.max()) + 1, -1) for grid in grids]
    blocks = [
        (i, b, set(np.unique(layer[grid == b]).tolist()) - {0})
        for i, (layer, grid) in enumerate(zip(layers, grids, strict=True))
        for b in np.unique(grid[layer > 0]).tolist()
    ]
    present = sorted({k for _, _, ks in blocks for k in ks},
                     key=lambda k: sum(k in ks for _, _, ks in blocks))
    if len(blocks) < folds:
        raise ValueError(
            f"the strokes lie in only {len(blocks)} block(s) of {block} px; {folds} folds need "
            f"strokes in at least {folds} blocks: paint in at least {folds - len(blocks)} "
            "more place(s) spread over the image (or pass fewer folds or a smaller block)"
        )
    load = np.zeros(folds, int)
    for k in present:
        mine = [j for j, (_, _, ks) in enumerate(blocks) if k in ks]
        if len(mine) < 2:
            raise ValueError(
                f"class {_class_name(k, classes)!r} is painted in only {len(mine)} block of "
                f"{block} px; to be scored on strokes it did not train on, paint class "
                f"{_class_name(k, classes)!r} in at least {2 - len(mine)} more place(s) spread "
                "over the image (or pass a smaller block)"
            )
        per_fold = np.zeros(folds, int)
        for j in mine:
            i, b, _ = blocks[j]
            if owners[i][b] >= 0:
                per_fold[owners[i][b]] += 1
        for j in rng.permutation(mine):
            i, b, _ = blocks[j]
            if owners[i][b] < 0:
                f = int(np.lexsort((rng.random(folds), load, per_fold))[0])
                owners[i][b] = f
                per_fold[f] += 1
                load[f] += 1
    return owners


def _check_training_classes(plan, layers, classes, block) -> None:
    """Every fold must train on every class that is painted."""
    painted = set(np.unique(np.concatenate([np.unique(a) for a in layers])).tolist()) - {0}
    for f, (train, _) in enumerate(plan):
        seen = set(np.unique(np.concatenate([np.unique(a) for a in train])).tolist())
        if painted - seen:
            k = min(painted - seen)
            raise ValueError(
                f"fold {f + 1} has no training stroke of class {_class_name(k, classes)!r} "
                f"left (all of it lies in one fold's blocks of {block} px or near them); paint "
                f"class {_class_name(k, classes)!r} in at least 1 more place spread over the "
                "image (or pass a smaller gap or block)"
            )


def _class_name(k: int, classes) -> str:
    return classes[k - 1] if classes and k <= len(classes) else f"class {k}"


def _object_class(objects, names: list[str]) -> int | None:
    if objects is None:
        return None
    if isinstance(objects, str):
        if objects not in names:
            raise ValueError(f"objects={objects!r} is not a class; classes are {names}")
        return names.index(objects) + 1
    if not 1 <= int(objects) <= len(names):
        raise ValueError(f"objects={objects} is not a class number 1..{len(names)}")
    return int(objects)


def _candidates(tiers, minutes: float) -> dict:
    """Row name → factory of an untrained segmenter for the given class names."""
    if not minutes > 0:
        raise ValueError(f"minutes must be a positive number, got {minutes}")
    items = tiers.items() if isinstance(tiers, Mapping) else [(None, kind) for kind in tiers]
    if not items:
        raise ValueError("tiers is empty; pass at least one kind, e.g. ('random-forest',)")
    makers = {}
    for name, spec in items:
        if isinstance(spec, str):
            chosen = tier(spec)
            options = {} if chosen.budget is None else {chosen.budget: minutes}
            makers[name or chosen.label] = (
                lambda names, chosen=chosen, options=options: chosen.create(names, **options))
        else:
            makers[name or type(spec).__name__] = lambda names, spec=spec: _renamed(spec, names)
    return makers


def _renamed(template, names):
    segmenter = copy.deepcopy(template)
    segmenter.classes = list(names)
    segmenter.colors = []
    return segmenter


def _confusion(prediction: np.ndarray, held: np.ndarray, n: int) -> np.ndarray:
    """Counts of (true class, predicted class) over the held-out stroke pixels."""
    known = held > 0
    pairs = held[known].astype(np.int64) * (n + 1) + prediction[known].astype(np.int64)
    return np.bincount(pairs, minlength=(n + 1) ** 2).reshape(n + 1, n + 1)


def _iou(confusion: np.ndarray) -> np.ndarray:
    inter = np.diag(confusion)[1:].astype(float)
    union = confusion[1:, :].sum(1) + confusion[:, 1:].sum(0) - np.diag(confusion)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def _object_ap(proba: np.ndarray, held: np.ndarray, layer: np.ndarray, k: int,
               image=None) -> tuple[float, dict[str, int]]:
    """AP@0.5 of the predicted objects of class ``k`` against the painted objects held out,
    and :func:`microlab.measure.object_errors`' counts.

    A painted object (connected piece of class ``k`` in ``layer``) counts when it is held
    out whole. A predicted object counts when held-out strokes reach its inner half
    (:func:`_scored_objects`) and it touches no painted object cut by the fold's border:
    the strokes say what is there, and an object whose edge merely grazes a background
    stroke or a painted object's ring is most often an object nobody painted, about which
    the strokes say nothing. Objects are found as the workbench finds them, with the
    image's blobs (:func:`microlab.instances` with ``image``).
    """
    from scipy import ndimage

    from .measure import average_precision, object_errors
    from .postprocess import instances

    painted, _ = ndimage.label(layer == k)
    cut = np.unique(painted[(painted > 0) & (held != k)])
    truth = np.where(np.isin(painted, cut) | (held != k), 0, painted)
    found = instances(proba, kind="classes", foreground=k - 1, image=image)
    scored = np.setdiff1d(_scored_objects(found, held > 0),
                          found[np.isin(painted, cut) & (painted > 0)])
    found = np.where(np.isin(found, scored[scored > 0]), found, 0)
    return float(average_precision(truth, found)), object_errors(truth, found)


def _scored_objects(found: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """The labels of ``found`` whose inner half holds a pixel of ``strokes``: where the
    distance to the object's own outline is at least half its largest (a stroke through a
    false object crosses it; the edge of an object nobody painted often touches a stroke
    beside it, and is not scored).

    Examples
    --------
    >>> found = np.zeros((9, 20), int); found[1:8, 1:8] = 1; found[1:8, 10:17] = 2
    >>> strokes = np.zeros(found.shape, bool); strokes[4, 4] = strokes[1, 12] = True
    >>> _scored_objects(found, strokes).tolist()  # 1 crossed in its middle, 2 at its edge
    [1]
    """
    from skimage.segmentation import find_boundaries

    from .postprocess._instances import _label_max

    inside = (found > 0) & ~find_boundaries(found, mode="inner")
    depth = distance_transform_edt(inside) + (found > 0)  # 1 on the outline
    deepest = np.r_[0.0, _label_max(depth, found, int(found.max()))]
    inner = (found > 0) & (depth >= 0.5 * deepest[found])
    return np.unique(found[inner & strokes])


_NEGLIGIBLE = 0.01
"""Tiers whose mean IoUs are at most this far apart are on par, however steady the folds."""

_NEGLIGIBLE_AP = 0.02
"""Tiers whose AP@0.5s are at most this far apart are on par (a fold holds few objects)."""


def _leaders(table, by: list[str], per_fold: dict[str, list[float]], stopped: bool):
    """The best and second tiers by the columns ``by`` (second None when one was
    compared), the fold-to-fold spread of their difference in ``per_fold``, and the note
    on an early stop."""
    ranked = table.sort_values(by, ascending=False).index
    note = " (stopped early: unfinished tiers are left out)" if stopped else ""
    if len(ranked) == 1:
        return ranked[0], None, 0.0, note
    spread = float(np.std(np.subtract(per_fold[ranked[0]], per_fold[ranked[1]])))
    return ranked[0], ranked[1], spread, note


def _recommend(table, fold_scores: dict[str, list[float]], stopped: bool) -> str:
    if table.empty:
        return "Stopped before any tier finished its folds; nothing to recommend yet."
    best, second, spread, note = _leaders(table, ["mean IoU"], fold_scores, stopped)
    score = table.loc[best, "mean IoU"]
    if second is None:
        return (f"Only {best} was compared{note}: mean IoU {score:.2f} on held-out strokes "
                f"(± {table.loc[best, '± folds']:.2f} from fold to fold).")
    other = table.loc[second, "mean IoU"]
    if score - other > max(spread, _NEGLIGIBLE):
        return (f"Use {best}: mean IoU {score:.2f} on held-out strokes, {score - other:.2f} "
                f"above {second} ({other:.2f}), more than the fold-to-fold spread of the "
                f"difference (± {spread:.2f}){note}.")
    faster = min((best, second), key=lambda t: table.loc[t, "fit s"])
    if score - other <= _NEGLIGIBLE:
        return (f"{best} and {second} are on par: mean IoU {score:.3f} vs {other:.3f}, less "
                f"than {_NEGLIGIBLE} apart (fold-to-fold spread ± {spread:.3f}); use the "
                f"faster to train, {faster}{note}.")
    return (f"{best} and {second} are on par: mean IoU {score:.2f} vs {other:.2f}, a "
            f"difference within the fold-to-fold spread (± {spread:.2f}); use the faster to "
            f"train, {faster}{note}.")


def _recommend_objects(table, fold_ap: dict[str, list[float]],
                       fold_scores: dict[str, list[float]], stopped: bool) -> str:
    """:func:`_recommend` by the held-out objects' AP@0.5, the mean IoU said beside it.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"mean IoU": [0.86, 0.859], "AP@0.5": [0.73, 0.85],
    ...                       "fit s": [0.2, 15.7]}, index=["Random Forest", "U-Net"])
    >>> print(_recommend_objects(table, {"Random Forest": [0.7, 0.76], "U-Net": [0.84, 0.86]},
    ...                          {}, stopped=False))  # doctest: +NORMALIZE_WHITESPACE
    Use U-Net for the objects: AP@0.5 0.85 on the held-out objects, 0.12 above Random
    Forest (0.73), more than the fold-to-fold spread of the difference (± 0.02); mean IoU
    0.859 vs 0.860 on the held-out strokes.
    """
    if table.empty:
        return _recommend(table, fold_scores, stopped)
    best, second, spread, note = _leaders(table, ["AP@0.5", "mean IoU"], fold_ap, stopped)
    score = table.loc[best, "AP@0.5"]
    if second is None:
        return (f"Only {best} was compared{note}: AP@0.5 {score:.2f} on the held-out "
                f"objects, mean IoU {table.loc[best, 'mean IoU']:.2f} on the held-out strokes.")
    other = table.loc[second, "AP@0.5"]
    pixels = (f"mean IoU {table.loc[best, 'mean IoU']:.3f} vs "
              f"{table.loc[second, 'mean IoU']:.3f} on the held-out strokes")
    if score - other > max(spread, _NEGLIGIBLE_AP):
        return (f"Use {best} for the objects: AP@0.5 {score:.2f} on the held-out objects, "
                f"{score - other:.2f} above {second} ({other:.2f}), more than the fold-to-fold "
                f"spread of the difference (± {spread:.2f}); {pixels}{note}.")
    faster = min((best, second), key=lambda t: table.loc[t, "fit s"])
    why = (f"less than {_NEGLIGIBLE_AP} apart" if score - other <= _NEGLIGIBLE_AP
           else f"a difference within the fold-to-fold spread (± {spread:.2f})")
    return (f"{best} and {second} find the held-out objects on par: AP@0.5 {score:.2f} vs "
            f"{other:.2f}, {why}; {pixels}; use the faster to train, {faster}{note}.")
