"""The Random Forest pixel classifier: engineered features + scikit-learn forest."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import numpy as np

from .. import __version__
from .._memory import reuse_freed_memory
from .._modelfile import read_model, write_model
from ..features import FeatureBank
from ..intensity import check_range, intensity_range
from ..labels.boundary import three_classes
from ..labels.colors import default_colors
from ..segmenter import (
    SegmenterBase,
    annotated_classes,
    label_dtype,
    labels_from_proba,
    report,
    shows_bars,
    training_set,
)

FORMAT_VERSION = 1
KIND = "random-forest"
_TREES_PER_STEP = 8
"""Trees grown between two looks at the ``stop`` event (and two progress updates)."""
PRUNE_SHARE = 0.95
"""Share of the first forest's importance that the features kept by pruning hold."""
PRUNE_AT_LEAST = 12
"""Fewest features pruning keeps (a bank of this many or fewer is never pruned)."""
PRUNE_MIN_SAMPLES = 2000
"""Fewest annotated pixels for pruning: on fewer, trees are a split or two each and which
features they happened to pick says little (pruning to them made objects 1.5x too large)."""
_FIRST_FIT_SHARE = 0.75
"""Share of the reported progress that the first of the two fits takes when pruning."""
MAX_TRAINING_PIXELS = 200_000
"""Annotated pixels a forest trains on at most; beyond, a random share of each class.

Strokes stay far below it (1 % of a 1-megapixel slice's pixels as scribbles is about
10,000); a dense mask of a whole image does not: on the 1-megapixel sandstone slice the
U-Net's three autocontext forests took minutes on all of its pixels."""


def kept_shares(counts: np.ndarray, cap: int = MAX_TRAINING_PIXELS) -> np.ndarray | None:
    """Share of each value's annotated pixels that training keeps, or None for all.

    ``counts[v]`` is the number of pixels annotated ``v`` (``counts[0]``, the unlabelled
    ones, is ignored). Beyond ``cap`` pixels in all, every class keeps the same share, so
    that the forest still learns the painted balance, except that a class keeps at least
    ``cap / (4 × classes)`` pixels (all of them, if it has fewer).

    Examples
    --------
    >>> kept_shares(np.array([0, 500, 300]), cap=1000) is None
    True
    >>> kept_shares(np.array([9, 100_000, 300, 99_700]), cap=20_000).round(3).tolist()
    [0.0, 0.1, 1.0, 0.1]
    """
    counts = np.asarray(counts, np.float64).copy()
    counts[0] = 0
    total = counts.sum()
    if total <= cap:
        return None
    floor = cap / (4 * max(1, int((counts > 0).sum())))
    shares = np.minimum(1.0, np.maximum(cap / total, floor / np.maximum(counts, 1)))
    shares[0] = 0.0
    return shares


def important_columns(importances, groups: Sequence[int] | None = None, *,
                      share: float = PRUNE_SHARE, at_least: int = PRUNE_AT_LEAST) -> np.ndarray:
    """The columns pruning keeps, sorted: the fewest most important ones that hold ``share``
    of the total importance, at least ``at_least`` of them, and each group's best.

    ``groups`` are the sizes of consecutive column groups (the channels' banks) that must
    each keep a column. All columns are kept when no column has any importance.

    Examples
    --------
    >>> imp = np.array([0.5, 0.01, 0.4, 0.05, 0.04])
    >>> important_columns(imp, at_least=1).tolist()  # 0.5 + 0.4 + 0.05 = 0.95
    [0, 2, 3]
    >>> important_columns(imp, groups=[3, 2], at_least=1, share=0.5).tolist()
    [0, 3]
    """
    imp = np.asarray(importances, np.float64)
    total = imp.sum()
    if not total > 0:
        return np.arange(imp.size)
    order = np.argsort(-imp, kind="stable")
    held = np.cumsum(imp[order]) / total
    n = max(int(np.searchsorted(held, share - 1e-12)) + 1, min(at_least, imp.size))
    kept = set(order[:n].tolist())
    start = 0
    for size in groups or [imp.size]:
        if not kept & set(range(start, start + size)):
            kept.add(start + int(np.argmax(imp[start:start + size])))
        start += size
    return np.array(sorted(kept), dtype=np.intp)


def _listed(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class RandomForestSegmenter(SegmenterBase):
    """Pixel classifier trained from sparse scribbles: a filter bank feeding a Random Forest.

    Implements the :class:`microlab.Segmenter` protocol. Features are computed per channel
    with :class:`microlab.features.FeatureBank` (2D, or genuine 3D filters for z-stacks) in
    chunks, so images larger than memory can be predicted; the fitted forest is evaluated by
    a compiled engine that gives scikit-learn's probabilities several times faster.

    Parameters
    ----------
    classes : list of str, optional
        Class names; annotation value k means ``classes[k - 1]``. Default: ``"class 1"``,
        ``"class 2"``, … for every value found in the annotations.
    colors : list, optional
        One colour per class (``"#rrggbb"`` or RGB tuples); they travel with the model.
    mode : {"semantic", "instance"}
        ``"semantic"`` (default): the annotations' classes. ``"instance"``: the forest
        learns background (1), boundary (2) and interior (3) from whole painted objects
        (:func:`microlab.labels.instance_annotations`; 4 = "background or boundary", the
        ring around a painted object, is taken as background), and
        :meth:`predict_instances` separates objects where it predicts boundary
        (``microlab.instances(kind="boundary")``). On real overlapping nuclei from 20
        painted ones (``benchmarks/bench_unet_nuclei.py --real --overlap 0.15``, 3 scenes)
        it found objects at AP@0.5 / AP@0.75 0.88 / 0.73 against 0.83 / 0.61 for the
        semantic forest with the painted objects' rings and ``microlab.instances``
        (``docs/benchmarks.md``, session 33).
    features : list of str or FeatureBank, optional
        Feature names to use (see :func:`microlab.features.available`); default: the full bank.
    n_estimators, max_depth, max_samples, max_features, min_samples_leaf : optional
        Forest settings passed to :class:`sklearn.ensemble.RandomForestClassifier`. The
        defaults were chosen on the sandstone benchmark (``benchmarks/bench_rf.py``): 30
        trees scored as 50 did (mean IoU 0.8975 vs 0.8969, 3 seeds); 24 trees with at
        least 2 pixels per leaf score as 30 with 1 did (median of 8 seeds 0.8852 vs
        0.8857) with 29 % fewer split nodes, which is what prediction's time follows
        (the forest kernel evaluates every node on every pixel), and on the generated
        nuclei of ``benchmarks/bench_rf_instances.py`` their objects score the same.
    class_weight : str or None
        None (default) lets the forest learn the class balance from what was painted;
        ``"balanced"`` weights every class equally whatever its number of strokes.
    smooth : float
        σ in pixels of a Gaussian applied to the probability maps (0 = off); removes
        isolated misclassified pixels.
    prune : bool
        True (default): after a first forest on the whole bank, grow the forest again on its
        most important features only (the fewest that hold 95 % of the first forest's
        importance, at least 12), so that prediction computes only those. Only with at least
        2000 annotated pixels: with fewer, the importances are noise. On sandstone it keeps
        12 of 41 features at the same mean IoU (0.8964 vs 0.8975 unpruned, median of 3
        seeds) and cuts the feature time by two thirds (``benchmarks/bench_rf.py``).
        :attr:`pruned_features` says which were dropped. False: every feature, one fit.
    channel_axis : int, optional
        For plain arrays with channels: the channel axis. :class:`microlab.Image` inputs
        carry their own axes.
    random_state : int
        Seed, for reproducible forests.
    n_jobs : int
        Cores for training (-1 = all).
    object_scale : float, optional
        The factor images are resized by (linearly; shrunk by area means) before the forest
        learns from them or predicts them; probabilities come back at the image's own
        pixels. None (default): in instance mode on 2D images, enough to bring the painted
        objects' typical radius up to 9 px (:data:`microlab._scale.OBJECT_RADIUS`; at most
        2 times), else 1; a factor below 1 shrinks. On real nuclei of radius 5.5 px it
        took the instance forest's objects from AP@0.5 / AP@0.75 0.878 / 0.648 to 0.915 /
        0.765 (enlarged to radius 9; :mod:`microlab._scale`). The chosen factor is
        :attr:`scale`.

    Examples
    --------
    >>> import microlab
    >>> image, truth = microlab.data.sandstone()
    >>> scribbles = microlab.labels.scribbles_from_truth(truth, fraction=0.01)
    >>> rf = microlab.RandomForestSegmenter(classes=microlab.data.SANDSTONE_CLASSES)
    >>> rf = rf.fit(image, scribbles, progress=False)
    >>> rf.predict_proba(image).shape
    (4, 512, 512)
    >>> float((rf.predict(image) == truth).mean()) > 0.9
    True
    """

    kind: ClassVar[str] = KIND

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        *,
        colors: Sequence | None = None,
        mode: str = "semantic",
        features: Sequence[str] | FeatureBank | None = None,
        n_estimators: int = 24,
        max_depth: int | None = 12,
        max_samples: float | None = 0.25,
        max_features: float | str | None = 0.3,
        min_samples_leaf: int = 2,
        class_weight: str | None = None,
        smooth: float = 0.0,
        prune: bool = True,
        channel_axis: int | None = None,
        random_state: int | None = 0,
        n_jobs: int = -1,
        object_scale: float | None = None,
    ) -> None:
        from .._scale import check_object_scale

        self._set_mode(mode, classes, colors)
        self.object_scale = check_object_scale(object_scale)
        if isinstance(features, FeatureBank):
            features = features.names
        self.feature_names = list(features) if features is not None else None
        if smooth < 0:
            raise ValueError(f"smooth must be >= 0 (a σ in pixels), got {smooth}")
        self.params = {
            "n_estimators": int(n_estimators),
            "max_depth": None if max_depth is None else int(max_depth),
            "max_samples": max_samples,
            "max_features": max_features,
            "min_samples_leaf": int(min_samples_leaf),
            "class_weight": class_weight,
            "random_state": random_state,
        }
        self.smooth = float(smooth)
        self.prune = bool(prune)
        self.pruned_features: list[str] = []
        """Input features the pruning dropped (names as in :attr:`input_feature_names`)."""
        self.channel_axis = channel_axis
        self.n_jobs = n_jobs
        self._banks: list[FeatureBank] | None = None
        self._packed: dict[str, np.ndarray] | None = None
        self._present: np.ndarray | None = None
        self._importances: np.ndarray | None = None
        self._untrained()

    # ------------------------------------------------------------------ state
    def _trained(self):
        return self._packed

    @property
    def ndim(self) -> int:
        """Spatial dimensions of the images the model was trained on (2 or 3)."""
        self._check_fitted()
        return self._banks[0].ndim

    @property
    def context(self) -> int:
        """Pixels of surrounding context a prediction needs on each side (the feature halo).

        Tiled prediction overlaps tiles by at least this much so tile edges are exact.
        Before training it is the larger of the 2D and 3D halos of the chosen features.
        """
        if self._banks is None:
            return max(FeatureBank(self.feature_names, ndim=n).halo for n in (2, 3))
        return self._own_pixels(max(bank.halo for bank in self._banks))

    @property
    def alignment(self) -> int | tuple[int, ...]:
        """Pixel grid that tile origins snap to so coarse-scale features match the whole image.

        Before training it is the larger of the 2D and 3D grids (one number).
        """
        if self._banks is None:
            return max(max(FeatureBank(self.feature_names, ndim=n)._align) for n in (2, 3))
        return tuple(max(a) for a in zip(*(b._align for b in self._banks), strict=True))

    @property
    def input_feature_names(self) -> list[str]:
        """Names of the columns the forest sees (prefixed by channel when there are several)."""
        self._check_fitted()
        return self._column_names()

    def _column_names(self) -> list[str]:
        if len(self._banks) == 1:
            return list(self._banks[0].names)
        return [f"ch{c} {n}" for c, bank in enumerate(self._banks) for n in bank.names]

    @property
    def description(self) -> str:
        """Which features the trained forest computes, when pruning dropped some.

        Examples
        --------
        >>> import numpy as np, microlab
        >>> image = np.zeros((96, 96), np.float32)
        >>> image[:, 48:] = 1  # two flat halves: a few features tell them apart
        >>> strokes = np.zeros(image.shape, np.uint8)
        >>> strokes[10:86, 5:40], strokes[10:86, 56:91] = 1, 2  # 5320 painted pixels
        >>> rf = microlab.RandomForestSegmenter().fit(image, strokes, progress=False)
        >>> rf.description.startswith("it computes the 12 of its 41 features")
        True
        """
        if self._banks is None:
            return ""
        parts = [self._scale_note()] if self.scale != 1 else []
        if self.pruned_features:
            kept = len(self.input_feature_names)
            parts.append(f"it computes the {kept} of its {kept + len(self.pruned_features)} "
                         f"features that carry {round(100 * PRUNE_SHARE)} % of its importance")
        return "; ".join(parts)

    def feature_importances(self):
        """Mean decrease in impurity of each feature, as a sorted pandas Series.

        Examples
        --------
        >>> import microlab
        >>> image, truth = microlab.data.sandstone()
        >>> rf = microlab.RandomForestSegmenter().fit(
        ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
        >>> rf.feature_importances().index[0] in rf.input_feature_names
        True
        """
        import pandas as pd

        self._check_fitted()
        series = pd.Series(self._importances, index=self.input_feature_names, name="importance")
        return series.sort_values(ascending=False)

    def __repr__(self) -> str:
        state = (
            f"{self.channels} channel(s), {len(self.input_feature_names)} features"
            if self.is_fitted
            else "not trained"
        )
        return f"RandomForestSegmenter(classes={self.classes}, {state})"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        images,
        annotations,
        *,
        progress: bool | Callable[[dict], None] = True,
        stop: threading.Event | None = None,
    ) -> RandomForestSegmenter:
        """Train from sparse annotations (0 = unlabelled, 1..C = classes).

        Parameters
        ----------
        images : image or list of images
            ``microlab.Image`` or arrays ``(Y, X)`` / ``(Z, Y, X)`` (with ``channel_axis``
            for channels); all with the same number of channels and dimensions.
        annotations : array or list of arrays
            One annotation layer per image, same spatial shape; 0 = unlabelled. Beyond
            :data:`MAX_TRAINING_PIXELS` annotated pixels (a dense mask rather than
            strokes), the forest trains on a random share of each class
            (:func:`kept_shares`), seeded by ``random_state``.
        progress : bool or callable
            Show progress bars over the images and the trees; a callable gets a report
            (``fraction``, ``seconds``, ``trees``) after each group of trees instead.
        stop : threading.Event, optional
            Once set, no more trees are grown: the forest keeps the trees it has (at least
            the first 8) and ``self.stopped`` is True.

        Returns
        -------
        RandomForestSegmenter
            ``self``, trained.
        """
        from tqdm.auto import tqdm

        from ._forest_kernel import pack_forest

        pairs = training_set(images, annotations, channel_axis=self.channel_axis)
        pairs = self._scaled_pairs(pairs, choose=True)  # a new forest at every fit
        arrays = [array for array, _ in pairs]
        layers = [layer for _, layer in pairs]
        if self.mode == "instance":
            layers = three_classes(layers)
        spacings = [getattr(img, "spacing", None) for img in _listed(images)]
        _, self.classes = annotated_classes(layers, self.classes)
        if not self.colors:
            self.colors = default_colors(len(self.classes))

        self._banks = self._make_banks(arrays, spacings[0])
        self._channels = len(self._banks)
        counts = sum(np.bincount(layer.ravel(), minlength=len(self.classes) + 1)
                     for layer in layers)
        shares = kept_shares(counts, MAX_TRAINING_PIXELS)
        rng = np.random.default_rng(self.params["random_state"])
        samples, targets = [], []
        for array, layer, spacing in tqdm(
            list(zip(arrays, layers, spacings, strict=True)),
            desc="features",
            disable=not shows_bars(progress),
            unit="image",
        ):
            if not layer.any():
                continue
            for slices, block in self._feature_blocks(array, spacing):
                mask = layer[slices] > 0
                if shares is not None:  # a dense mask: a random share of each class
                    mask &= rng.random(mask.shape) < shares[layer[slices]]
                if mask.any():
                    samples.append(block[:, mask].T)
                    targets.append(layer[slices][mask])
        x = np.concatenate(samples).astype(np.float32, copy=False)
        y = np.concatenate(targets)
        pruning = self.prune and x.shape[1] > PRUNE_AT_LEAST and len(y) >= PRUNE_MIN_SAMPLES
        first = (0.0, _FIRST_FIT_SHARE if pruning else 1.0)
        began = time.perf_counter()
        trees = self.params["n_estimators"]
        with tqdm(total=trees * (2 if pruning else 1), desc="trees", unit="tree",
                  disable=not shows_bars(progress)) as bar:
            forest = self._grow(x, y, progress=progress, stop=stop, span=first, bar=bar)
            self.pruned_features = []
            kept = np.arange(x.shape[1])
            if pruning and not self.stopped:
                kept = important_columns(forest.feature_importances_,
                                         [len(bank) for bank in self._banks])
            if len(kept) < x.shape[1]:
                names, keep = self._column_names(), set(kept.tolist())
                self.pruned_features = [n for i, n in enumerate(names) if i not in keep]
                self._banks = self._kept_banks(kept)
                bar.set_description(f"trees on the {len(kept)} kept features")
                forest = self._grow(x[:, kept], y, progress=progress, stop=stop,
                                    span=(_FIRST_FIT_SHARE, 1.0), bar=bar,
                                    started=time.perf_counter() - began)
            elif not self.stopped:
                bar.total = trees
                bar.refresh()
        self._ranges = intensity_range(arrays)
        self._dtype = str(arrays[0].dtype)
        self._packed = pack_forest(forest)
        self._present = forest.classes_.astype(np.int64)
        self._importances = forest.feature_importances_.astype(np.float32)
        return self

    def _kept_banks(self, kept: np.ndarray) -> list[FeatureBank]:
        """The banks computing only the input columns ``kept`` (sorted, some in each bank)."""
        banks, start = [], 0
        for bank in self._banks:
            mine = [i - start for i in kept if start <= i < start + len(bank)]
            banks.append(bank.subset([bank.names[i] for i in mine]))
            start += len(bank)
        return banks

    def _grow(self, x, y, *, progress, stop: threading.Event | None, bar, span=(0.0, 1.0),
              started: float = 0.0):
        """Grow the forest 8 trees at a time, honouring ``stop`` between steps.

        scikit-learn's ``warm_start`` draws each new tree's seed from the same sequence as
        one call would, so the forest equals one grown in a single ``fit``. Progress
        reports run over ``span`` of the whole fit, which began ``started`` seconds ago;
        ``bar`` (a tqdm bar over both fits) counts the trees.
        """
        from sklearn.ensemble import RandomForestClassifier

        params = self._sklearn_params(len(y))
        total = params.pop("n_estimators")
        forest = RandomForestClassifier(n_estimators=0, warm_start=True, n_jobs=self.n_jobs,
                                        **params)
        self.stopped = False
        start = time.perf_counter()
        while forest.n_estimators < total:
            if forest.n_estimators and stop is not None and stop.is_set():
                self.stopped = True
                break
            step = min(_TREES_PER_STEP, total - forest.n_estimators)
            forest.set_params(n_estimators=forest.n_estimators + step)
            forest.fit(x, y)
            bar.update(step)
            seconds = time.perf_counter() - start
            done = span[0] + (span[1] - span[0]) * forest.n_estimators / total
            report(progress, fraction=done, seconds=started + seconds,
                   trees=forest.n_estimators, remaining=seconds * (1 - done) / (done - span[0]))
        return forest

    def _sklearn_params(self, n_samples: int) -> dict:
        params = dict(self.params)
        if params["max_samples"] is not None and params["max_samples"] * n_samples < 2:
            params["max_samples"] = None  # too few samples to subsample
        elif isinstance(params["max_samples"], float):
            # the count scikit-learn would take from the fraction, given as a count: the
            # same trees, without its warning about small counts on a few strokes
            params["max_samples"] = max(round(n_samples * params["max_samples"]), 1)
        return params

    def _make_banks(self, arrays: list[np.ndarray], spacing) -> list[FeatureBank]:
        ndim = arrays[0].ndim - 1
        spacing = spacing if ndim == 3 else None
        banks = []
        for c in range(arrays[0].shape[0]):
            dtype = arrays[0].dtype
            if dtype in (np.uint8, np.bool_):
                low, high = (0.0, 1.0) if dtype == np.bool_ else (0.0, 255.0)
            else:
                values = np.concatenate([a[c].ravel()[:: max(1, a[c].size // 1_000_000)]
                                         for a in arrays])
                low, high = (float(v) for v in np.percentile(values, [0.1, 99.9]))
                if high <= low:
                    high = low + 1.0
            banks.append(
                FeatureBank(
                    self.feature_names, ndim=ndim, spacing=spacing, intensity_range=(low, high)
                )
            )
        return banks

    def _feature_blocks(self, array: np.ndarray, spacing) -> Iterator[tuple]:
        """Yield (slices, features (F_total, *chunk)) over the image, all channels stacked."""
        banks = self._banks
        if spacing is not None and array.ndim == 4 and tuple(spacing) != banks[0].spacing:
            banks = [
                FeatureBank(b.names, ndim=3, spacing=spacing, intensity_range=b.intensity_range)
                for b in banks
            ]
        # one bank: its blocks may share a buffer (every caller here is done with a block
        # before it asks for the next) and be crops of their windows (the kernel and the
        # training's masks read them in place); several: each needs its own
        reuse = len(banks) == 1
        iterators = [bank._blocks(array[c], reuse=reuse, views=reuse)
                     for c, bank in enumerate(banks)]
        for parts in zip(*iterators, strict=True):
            slices = parts[0][0]
            if len(parts) == 1:
                yield slices, parts[0][1]
            else:
                yield slices, np.concatenate([block for _, block in parts])

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, image, *, progress: bool = False) -> np.ndarray:
        """Per-class probabilities ``(C, *spatial)`` float32 for one image.

        Classes never annotated during training get probability 0. A forest that works
        at another scale (:attr:`scale`) predicts the image resampled to it and gives the
        probabilities back at the image's own pixels.
        """
        array = self._checked(image)
        spacing = getattr(image, "spacing", None)
        return self._scaled_proba(array, lambda a: self._proba(a, spacing, progress))

    def _proba(self, array: np.ndarray, spacing, progress: bool) -> np.ndarray:
        """:meth:`predict_proba` of a checked array at the forest's own scale."""
        from ._forest_kernel import predict_packed

        spatial, blocks = self._blocks_to_predict(array, spacing, progress)
        out = np.zeros((len(self.classes), *spatial), np.float32)
        rows = self._present - 1
        every_class = len(rows) == len(self.classes)
        with reuse_freed_memory():  # out made before: outside the heap (see _memory)
            for slices, block in blocks:
                if every_class and block.shape[1:] == spatial:  # one chunk: straight into out
                    predict_packed(self._packed, block, out=out)
                else:
                    out[(rows, *slices)] = predict_packed(self._packed, block)
        if self.smooth > 0:
            from scipy.ndimage import gaussian_filter

            for c in range(out.shape[0]):
                gaussian_filter(out[c], self.smooth, output=out[c], mode="reflect")
        return out

    def predict(self, image, *, progress: bool = False) -> np.ndarray:
        """Labels 1..C (the most probable class) for one image."""
        if self.smooth > 0 or self.scale != 1:  # needs the whole probability maps
            return labels_from_proba(self.predict_proba(image, progress=progress))
        from ._forest_kernel import predict_labels_packed

        spatial, blocks = self._blocks_to_predict(
            self._checked(image), getattr(image, "spacing", None), progress)
        dtype = label_dtype(len(self.classes))
        out = np.zeros(spatial, dtype)  # before: outside the heap; untouched if one chunk
        with reuse_freed_memory():
            for slices, block in blocks:
                labels = predict_labels_packed(self._packed, block, self._present)
                if block.shape[1:] == spatial:  # one chunk: the labels are the answer
                    return labels.astype(dtype, copy=False)
                out[slices] = labels
        return out

    def _checked(self, image) -> np.ndarray:
        """The image as ``(C, *spatial)``, checked against what the forest was trained on."""
        self._check_fitted()
        array = self._check_image(image)
        check_range(array, self._ranges, trained_dtype=self._dtype, what="this forest")
        return array

    def _blocks_to_predict(self, array: np.ndarray, spacing, progress: bool):
        """A checked array's spatial shape and its feature blocks (with a progress bar)."""
        from tqdm.auto import tqdm

        blocks = self._feature_blocks(array, spacing)
        return array.shape[1:], tqdm(blocks, desc="predict", disable=not progress,
                                     unit="chunk")

    def _check_image(self, image) -> np.ndarray:
        array = super()._check_image(image)
        if array.ndim - 1 != self.ndim:
            raise ValueError(
                f"the model was trained on {self.ndim}D images but this image is "
                f"{array.ndim - 1}D; train a {array.ndim - 1}D model for it"
            )
        return array

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save to a single safetensors file (arrays + JSON config, no pickle), atomically.

        Examples
        --------
        >>> import tempfile, pathlib, microlab
        >>> image, truth = microlab.data.sandstone()
        >>> rf = microlab.RandomForestSegmenter().fit(
        ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "rf.safetensors"
        >>> rf.save(path)
        >>> loaded = microlab.RandomForestSegmenter.load(path)
        >>> bool((loaded.predict(image) == rf.predict(image)).all())
        True
        """
        config, tensors = self._state()
        write_model(path, KIND, FORMAT_VERSION, config, tensors)

    def _state(self) -> tuple[dict, dict]:
        """The trained forest as a JSON-safe ``config`` and named arrays (what :meth:`save`
        writes, and what a U-Net with ``autocontext`` keeps inside its own file)."""
        self._check_fitted()
        config = {
            "classes": self.classes,
            "colors": self.colors,
            "mode": self.mode,
            "params": self.params,
            "smooth": self.smooth,
            "prune": self.prune,
            "features": self.feature_names,
            "pruned_features": self.pruned_features,
            "channel_axis": self.channel_axis,
            "object_scale": self.object_scale,
            "scale": self.scale,
            "banks": [bank.to_dict() for bank in self._banks],
            "present": self._present.tolist(),
            "intensity": None if self._ranges is None else {
                "ranges": [list(r) for r in self._ranges], "dtype": self._dtype},
        }
        tensors = {f"forest.{k}": v for k, v in self._packed.items()}
        tensors["importances"] = self._importances
        return config, tensors

    @classmethod
    def load(cls, path: str | os.PathLike) -> RandomForestSegmenter:
        """Load a model written by :meth:`save`; refuses foreign or newer files with a reason."""
        config, tensors, header = read_model(path, KIND, FORMAT_VERSION)
        return cls._from_state(config, tensors, os.fspath(path), header.get("microlab_version"))

    @classmethod
    def _from_state(cls, config: dict, tensors: dict, name: str,
                    written_by: str | None) -> RandomForestSegmenter:
        """A trained forest from what :meth:`_state` returned (``name`` for messages)."""
        try:
            banks = [FeatureBank.from_dict(d) for d in config["banks"]]
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"{name} was trained with a feature configuration this microlab "
                f"({__version__}) cannot rebuild (written by microlab "
                f"{written_by}): {exc}. Retrain the model with this "
                "version, or install the version that wrote it"
            ) from exc
        params = config["params"]
        model = cls(
            config["classes"],
            colors=config["colors"],
            mode=config.get("mode", "semantic"),
            features=config.get("features", banks[0].names),
            smooth=config["smooth"],
            prune=config.get("prune", False),
            channel_axis=config["channel_axis"],
            object_scale=config.get("object_scale"),
            **params,
        )
        model.scale = float(config.get("scale", 1.0))  # older files: the image's own scale
        model.pruned_features = list(config.get("pruned_features", []))
        model._banks = banks
        model._channels = len(banks)
        model._packed = {
            k.removeprefix("forest."): v for k, v in tensors.items() if k.startswith("forest.")
        }
        model._present = np.asarray(config["present"], np.int64)
        model._importances = tensors["importances"]
        intensity = config.get("intensity")
        if intensity is not None:
            model._ranges = [tuple(r) for r in intensity["ranges"]]
            model._dtype = intensity["dtype"]
        return model
