"""Autocontext: a Random Forest's probabilities as extra input channels of the U-Net.

ilastik's *autocontext* feeds one classifier's output to the next. Here a
:class:`~microlab.RandomForestSegmenter` is trained on the same strokes as the network (in
seconds), and its per-class probabilities go to the network beside the image: the network
starts from what the forest already knows about each pixel and learns where to correct it
from the shapes around, which scribbles alone teach it slowly.

The forest's probabilities on the very pixels it was trained on are nearly certain; a
network trained on those would learn to copy them. So, unless ``out_of_fold`` is off, the
training inputs come from forests that did not see the strokes there: the strokes are split
into two folds of alternating square blocks (a checkerboard), a forest is trained without
each fold, and each block takes the probabilities of the forest that did not see it. At
prediction the forest trained on all strokes is used.

Everything works plane by plane (the network is 2D): a 3D stack's planes each get the
forest's 2D probabilities.
"""

from __future__ import annotations

import numpy as np

BLOCK = 128
"""Side of the checkerboard's squares (pixels), at most a quarter of the image's side."""


def train_forest(slices: list[np.ndarray], layers: list[np.ndarray], classes: list[str],
                 *, seed: int | None):
    """A forest on ``slices`` (raw ``(C, Y, X)`` planes) and their annotation ``layers``."""
    from ..classic.forest import RandomForestSegmenter

    # unpruned: screened in session 9 (sandstone, 1-minute fits, 3 seeds), a pruned forest
    # (12 of 41 features) cost the U-Net 0.004-0.007 mean IoU on every seed for 1.14 ->
    # 1.36 Mpx/s tiled; the U-Net's figures (benchmarks/bench_unet*.py) use the whole bank
    # 30 trees of leaves down to 1 pixel: the forest the U-Net's channels were screened
    # with (the classic tier's default became 24 trees of 2-pixel leaves in session 15)
    forest = RandomForestSegmenter(list(classes), channel_axis=0, random_state=seed,
                                   prune=False, n_estimators=30, min_samples_leaf=1)
    return forest.fit(list(slices), list(layers), progress=False)


def _checkerboard(shape: tuple[int, int]) -> np.ndarray:
    """0/1 fold of each pixel: alternating squares of ``BLOCK`` (smaller on small images)."""
    block = max(8, min(BLOCK, min(shape) // 4))
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return ((yy // block + xx // block) % 2).astype(np.uint8)


def training_inputs(forest, slices: list[np.ndarray], layers: list[np.ndarray],
                    *, seed: int | None, out_of_fold: bool = True) -> list[np.ndarray]:
    """The forest's probabilities ``(K, Y, X)`` for each training plane.

    With ``out_of_fold``, each checkerboard block gets the probabilities of a forest trained
    without that block's strokes (where a fold leaves too few strokes to train on, the full
    forest's probabilities stand in for it).
    """
    if not out_of_fold:
        return [forest_proba(forest, s) for s in slices]
    folds = [_checkerboard(layer.shape) for layer in layers]
    out = [np.empty((len(forest.classes), *layer.shape), np.float32) for layer in layers]
    for k in (0, 1):
        kept = [np.where(fold == k, 0, layer).astype(layer.dtype)
                for fold, layer in zip(folds, layers, strict=True)]
        partial = forest  # where this fold leaves fewer than two classes: the full forest's
        if len(set().union(*(np.unique(layer[layer > 0]).tolist() for layer in kept))) >= 2:
            try:
                partial = train_forest(slices, kept, forest.classes, seed=seed)
            except ValueError:
                pass
        for s, fold, proba in zip(slices, folds, out, strict=True):
            block = fold == k
            if block.any():
                proba[:, block] = forest_proba(partial, s)[:, block]
    return out


def forest_proba(forest, plane: np.ndarray) -> np.ndarray:
    """The forest's probabilities ``(K, Y, X)`` float32 of one raw ``(C, Y, X)`` plane."""
    import warnings

    from ..intensity import IntensityWarning

    with warnings.catch_warnings():  # the U-Net has already said so for the whole image
        warnings.simplefilter("ignore", IntensityWarning)
        return forest.predict_proba(plane)


def forest_planes(forest, raw: np.ndarray) -> np.ndarray:
    """The forest's probabilities ``(N, K, Y, X)`` float32 of raw planes ``(N, C, Y, X)``."""
    return np.stack([forest_proba(forest, plane) for plane in raw])


FEW_OBJECTS = 3
"""Instance mode: from fewer painted whole objects than this, the forest's share of the
prediction follows how sure it is whether a pixel lies on an object (:func:`blend_proba`)."""


def blend_proba(network: np.ndarray, forest: np.ndarray, share: float, *,
                unsure_objects: bool = False) -> np.ndarray:
    """The prediction from the network's and the forest's probabilities ``(N, K, Y, X)``:
    ``(1 - share) * network + share * forest``, computed in ``network``'s memory (returned).

    With ``unsure_objects`` (instance mode, class 0 the background), the forest's share at
    each pixel is ``share`` × how sure the forest is whether the pixel lies on an object,
    ``|1 - 2 p(background)|``: where it cannot tell an object from the background, the
    network decides; between touching objects it keeps its share.

    Examples
    --------
    >>> import numpy as np
    >>> network = np.array([0.1, 0.9], np.float32).reshape(1, 2, 1, 1)
    >>> unsure = np.array([0.5, 0.5], np.float32).reshape(1, 2, 1, 1)
    >>> blend_proba(network.copy(), unsure.copy(), 0.7).ravel().round(2)
    array([0.38, 0.62], dtype=float32)
    >>> blend_proba(network.copy(), unsure.copy(), 0.7, unsure_objects=True).ravel().round(2)
    array([0.1, 0.9], dtype=float32)
    """
    weight = share * np.abs(1 - 2 * forest[:, :1]) if unsure_objects else share
    network *= 1 - weight
    forest *= weight
    network += forest
    return network
