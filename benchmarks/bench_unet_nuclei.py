"""Touching nuclei from the same strokes: the U-Net in instance mode vs the forest + watershed.

Task (the deep-tier issue, target 1): where objects have shape, the U-Net should win. Both
tiers get the same annotations, as the workbench makes them: ``--painted`` whole nuclei of a
training image filled with the brush (class 1) and background strokes (class 2) every 24 rows
between the nuclei, plus, as a whole painted object implies, nothing else.

* forest: ``RandomForestSegmenter`` on the strokes, then ``microlab.instances`` on its
  probabilities (defaults) -- the traditional tier's path in the workbench; and the same
  with the ring of background around each painted nucleus added to its strokes ("ring");
  each also with ``instances(..., image=img)`` ("image"), as the workbench finds objects
  by default (its ``split_by_image`` setting); and ``RandomForestSegmenter(mode="instance")``
  on the U-Net's background/boundary/interior annotations below, its objects by
  ``predict_instances`` ("instance mode");
* U-Net: ``UNetSegmenter(mode="instance")`` (shipped pretrained weights) on the
  background/boundary/interior annotations the workbench derives from the same strokes
  (``microlab.project.training.training_data(..., output="boundary")``: painted blobs are
  whole objects, a ring around each that is background or another nucleus' boundary),
  for ``--minutes`` each, then
  ``microlab.instances(kind="boundary")``.

Scored on ``--test`` new images of the same kind (other seeds): AP at IoU 0.5 and 0.75
(``microlab.measure.average_precision``), mean over the test images; each run draws new
images; the figures are medians over ``--runs``. Why objects were not matched at IoU 0.5
is counted too (``microlab.measure.object_errors``): true nuclei merged with a neighbour,
missed, split or misshapen (found with too wrong an outline), and found objects that
are spurious (mostly background) or fragments (pieces of nuclei). Sizes vary with
``--radius`` (run it for small and large nuclei); ``--elongation`` makes them that many times
taller than wide (same area), where touching nuclei meet along a long side without a neck.

With ``--real``, the images are made of **real nuclei** instead (``real_nuclei.py``: the
isolated nuclei of the osteosarcoma, BBBC022 and BBBC038 images, cut out with their own
masks, rescaled to the middle of ``--radius`` ±15 % and packed touching over ``--density`` of
the area): run *k* takes its training and test images from source *k* mod 3, so three runs
cover the three. ``--spread 1.6`` draws their radii from the middle of ``--radius`` ÷ 1.6 to
× 1.6 instead (small and large nuclei in one image); ``--degrade noise|blur|illumination|dim``
makes every image harder the way microscopes do (``real_nuclei.degrade``: about 2.2 times
the noise, a blur of radius / 6, light down to 0.35 in one corner, or each nucleus dimmed to
0.25–1 of its brightness). ``--held-out-nuclei`` packs only the half of each image's nuclei
that ``python -m microlab.deep.pretrain --real-nuclei`` leaves out (``real_nuclei.held_out``):
the fair check of weights pretrained that way.

With ``--image IMG.tif --mask MASK.tif``, a real image and its objects' labels (from
outside the repository: what the issue's check does) replace the made images: run *k* paints
``--painted`` whole nuclei (none the cut or the border divides) and the background rows in
one half of it (left, right, top, bottom for *k* mod 4) and scores the other half
(``--size`` and ``--test`` do not apply). ``--ignore UNKNOWN.tif`` marks pixels whose truth
is not known (non-zero), such as nuclei an automatic mask left out: no background stroke
crosses them, and found objects lying mostly on them are dropped before scoring;
``--ignore auto`` marks the bright blobs the mask leaves out (``unlabelled_nuclei``). For example
the labelled DSB 2018 crop that StarDist's wheel carries (``pip download --no-deps
stardist``, then unzip its ``stardist/data/images/img2d.tif`` and ``mask2d.tif``).

Transfer learning (the issue's target 3): ``--pretrained true false`` trains the U-Net from
the shipped weights and from random initialisation in the same run, on the same strokes
and seeds, and prints pretrained − random init at AP@0.5 (target ≥ +0.05); a weights file
(``python -m microlab.deep.pretrain --out FILE``) can be given among them. ``--dense
MINUTES`` adds U-Nets from both start weights trained on every pixel's truth of the training
image (``boundary_labels``): the most any strokes on that image can teach, the ceiling a
transfer gain is measured against. ``--pseudo-labels false true`` trains each U-Net without
and with self-training on the objects it is sure of (``UNetSegmenter(pseudo_labels=True)``).
``--dimmed default false true`` trains each U-Net as it chooses from the data (the default;
the run says what it chose), without and with a dimmed copy of its training planes
(``UNetSegmenter(dimmed=True)``: each painted nucleus dimmed by its own factor,
:func:`microlab.deep.augment.dimmed_copy`).
``--interior-rules 0.6:0.1 0.4:0.07`` scores every U-Net's same outputs with each rule by
which ``microlab.instances(kind="boundary")`` seeds objects (``CORE:NECK``: the interior
probability above which a pixel is an object's core, and the neck, times the typical
radius, that divides one interior in two, the same whether or not the objects are found
enlarged); without it, the library's rule (its neck shallower for small objects found
enlarged).
``--merge-unbounded false true`` scores every U-Net's same outputs without (row ", seeds
only") and with the library's merging of touching objects that no predicted boundary
divides (``_fragments.merge_unbounded``: a large, textured nucleus the seeds cut in halves).
``--merge-pieces false true`` scores every U-Net's same outputs without (row ", pieces
apart") and with the library's merging of touching small, unsure pieces that together make
a nucleus (``_fragments.merge_pieces``: a dim nucleus found in pieces, each debris alone).
``--learning-rates 0.002 0.0004`` trains each U-Net at each peak learning rate (without it,
the default: 4e-4 from the shipped weights in instance mode, 2e-3 from random ones).
``--keep-start 0 0.5`` trains each U-Net once keeping none of its start weights and scores
it keeping each share of them (``UNetSegmenter(keep_start=...)``; without it, the default).
``--patch-size 256`` trains every U-Net on patches of that size (without it, the default).
``--object-scales 1 auto`` trains the instance forest and each U-Net at the image's own
scale and with the default rule (``object_scale=None``: small painted objects enlarged).
``--boundary-widths 2 3`` trains each U-Net with each boundary width
(``UNetSegmenter(boundary_width=...)``); it changes what the U-Net learns where the model
enlarges the images (the painted objects' boundaries are drawn anew at that size), not at
the image's own scale, where the strokes' boundaries (2 pixels) are used as painted.

Usage::

    python benchmarks/bench_unet_nuclei.py [--runs 3] [--minutes 1 3] [--radius 6 12]
        [--elongation 1] [--real [--density 0.4] [--overlap 0.15]]
        [--image IMG.tif --mask MASK.tif [--ignore UNKNOWN.tif]]
        [--pretrained true [false] [FILE]] [--pseudo-labels false true] [--dense 3]
        [--dimmed default false true]
        [--interior-rules 0.6:0.1 0.4:0.07] [--forest-weights 0 0.3 0.7]
        [--forest-blends default average object]
        [--merge-unbounded false true] [--merge-pieces false true]
        [--learning-rates 0.002 0.0004] [--keep-start 0 0.5] [--object-scales 1 auto]
        [--boundary-widths 2 3]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import statistics
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import microlab
from microlab._scale import scale_words
from microlab.data.real_nuclei import DEGRADATIONS
from microlab.labels.boundary import BACKGROUND, OUTSIDE
from microlab.measure import average_precision, object_errors

KINDS = ("merged", "missed", "split", "spurious", "misshapen", "fragments")
"""The kinds of error (``microlab.measure.object_errors`` at IoU 0.5) the table counts."""


def strokes(truth: np.ndarray, painted: int, rng, whole: bool = False,
            unknown: np.ndarray | None = None) -> np.ndarray:
    """Whole nuclei (1) and background rows between them (2), as a person would paint;
    with ``whole``, only nuclei that the image's border does not cut are painted; no
    background stroke crosses the ``unknown`` pixels (``--ignore``)."""
    from scipy import ndimage
    from skimage.segmentation import clear_border

    layer = np.zeros(truth.shape, np.uint8)
    labels = np.unique(clear_border(truth) if whole else truth)[1:]
    for label in rng.choice(labels, size=min(painted, len(labels)), replace=False):
        layer[truth == label] = 1
    rows = np.zeros(truth.shape, bool)
    rows[int(rng.integers(0, 24))::24] = True
    labelled = truth > 0 if unknown is None else (truth > 0) | (unknown > 0)
    layer[rows & ~ndimage.binary_dilation(labelled, iterations=2)] = 2
    return layer


def without_unknown(found: np.ndarray, unknown: np.ndarray | None) -> np.ndarray:
    """``found`` without the objects that lie mostly (more than half their pixels) on
    ``unknown`` pixels (``--ignore``: nuclei the mask leaves unlabelled, whose truth is not
    known), so that finding them counts neither for nor against a method."""
    if unknown is None or not found.any():
        return found
    size = np.bincount(found.ravel())
    inside = np.bincount(found.ravel(), weights=(unknown > 0).ravel(), minlength=len(size))
    drop = np.flatnonzero(inside > 0.5 * np.maximum(size, 1))
    drop = drop[drop > 0]
    return np.where(np.isin(found, drop), 0, found)


SIDES = ("left", "right", "top", "bottom")
"""With ``--image``: run *k* trains on this half of the image (k mod 4), scores the other."""


def halves(image: np.ndarray, truth: np.ndarray, side: str, unknown=None):
    """``((image, truth, unknown), (image, truth, unknown))``: the ``side`` half of a
    labelled image to train on and the other half to score on, each with its objects
    numbered anew (those the cut divides are two objects, one in each half); ``unknown``
    (``--ignore``, or None) is cut the same way."""
    from skimage.segmentation import relabel_sequential

    axis = 1 if side in ("left", "right") else 0
    cut = image.shape[axis] // 2
    first = [slice(None)] * 2
    second = [slice(None)] * 2
    first[axis], second[axis] = slice(None, cut), slice(cut, None)
    parts = [(image[tuple(k)], relabel_sequential(truth[tuple(k)])[0],
              None if unknown is None else unknown[tuple(k)]) for k in (first, second)]
    return tuple(parts) if side in ("left", "top") else tuple(parts[::-1])


def labelled_image(image_path: str, mask_path: str) -> tuple[np.ndarray, np.ndarray]:
    """A real image (its first channel where it has several) and its objects' label image,
    read from TIFF files; an error says what does not fit."""
    import tifffile

    image, truth = tifffile.imread(image_path), tifffile.imread(mask_path)
    if image.ndim == 3:  # channels first or last: the smaller axis
        image = image[0] if image.shape[0] < image.shape[-1] else image[..., 0]
    if image.shape != truth.shape:
        raise SystemExit(f"--image is {image.shape} but --mask is {truth.shape}: the mask "
                         "must label the image's pixels (0 background, 1, 2, … objects)")
    if not np.issubdtype(truth.dtype, np.integer) or truth.max() < 2:
        raise SystemExit(f"--mask {mask_path} must be an integer label image with at least "
                         "two objects")
    return image, truth.astype(np.int32)


def unlabelled_nuclei(image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``--ignore auto``: bright blobs the mask leaves out, such as the nuclei an automatic
    segmentation skipped. Pixels of the image smoothed (Gaussian, sigma 2) that stand more
    than 6 robust standard deviations above the unlabelled pixels' median, 3 pixels or more
    from every labelled object, opened with a disk of radius 2, in pieces of 60 pixels or
    more."""
    from scipy import ndimage
    from skimage import filters, morphology

    smooth = filters.gaussian(image.astype(np.float32), 2, preserve_range=True)
    rest = smooth[truth == 0]
    middle = np.median(rest)
    spread = 1.4826 * np.median(np.abs(rest - middle))
    bright = (smooth > middle + 6 * spread) & ~ndimage.binary_dilation(truth > 0, iterations=3)
    bright = ndimage.binary_opening(bright, structure=morphology.disk(2))
    pieces, _ = ndimage.label(bright)
    sizes = np.bincount(pieces.ravel())
    return (pieces > 0) & (sizes[pieces] >= 60)


def unknown_pixels(path: str, image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The ``--ignore`` mask (non-zero where the truth is not known), read from a TIFF file
    of the image's shape, or found by :func:`unlabelled_nuclei` for ``auto``."""
    import tifffile

    if path == "auto":
        return unlabelled_nuclei(image, truth)
    unknown = tifffile.imread(path)
    if unknown.shape != image.shape:
        raise SystemExit(f"--ignore is {unknown.shape} but --image is {image.shape}: the "
                         "mask must cover the image's pixels (non-zero where its truth is "
                         "unknown)")
    return unknown > 0


def start_weights(value: str):
    """``UNetSegmenter(pretrained=...)`` for a ``--pretrained`` value."""
    return {"true": True, "false": False}.get(value, value)


def init_name(value: str) -> str:
    """How a ``--pretrained`` value is named in the table."""
    return {"true": "pretrained", "false": "random init"}.get(value, os.path.basename(value))


@dataclasses.dataclass(frozen=True)
class UNetVariant:
    """One U-Net of the table: how it is trained (``--minutes``, ``--autocontext``,
    ``--dimmed``, ``--pseudo-labels``, ``--learning-rates``, ``--object-scales``,
    ``--boundary-widths``), then how its objects are found from the same trained network
    (``--interior-rules``, ``--forest-weights``, ``--keep-start``, ``--merge-unbounded``,
    ``--merge-pieces``); None: the default."""

    minutes: float
    autocontext: str = "default"
    dimmed: bool | None = None
    pseudo: bool = False
    rate: float | None = None
    scale: str | None = None
    width: int | None = None
    rule: tuple[float, float] | None = None
    share: float | None = None
    keep: float | None = None
    merge: bool = True
    pieces: bool = True
    enlarged: bool = False
    blend: str = "default"

    def row(self, weights: str | None = None) -> str:
        """The table's name of this U-Net and, where several start weights are compared,
        its ``--pretrained`` value ``weights``."""
        name = f"U-Net instance, {self.minutes:g} min" + {
            "default": "", "true": ", autocontext",
            "false": ", no autocontext"}[self.autocontext] + (
            ", pseudo-labels" if self.pseudo else "") + (
            "" if self.rule is None else f", interior {self.rule[0]:g}:{self.rule[1]:g}") + (
            "" if self.share is None else f", forest {self.share:g}") + (
            "" if self.rate is None else f", lr {self.rate:g}") + (
            "" if self.keep is None else f", keep {self.keep:g}") + (
            "" if self.width is None else f", boundary {self.width}") + (
            {None: "", True: ", dimmed", False: ", not dimmed"}[self.dimmed]) + (
            "" if self.merge else ", seeds only") + (
            "" if self.pieces else ", pieces apart") + (
            ", merged enlarged" if self.enlarged else "") + (
            "" if self.blend == "default" else f", blend {self.blend}")
        return (name if weights is None else f"{name}, {init_name(weights)}") + scale_name(
            self.scale)


def trained_variants(args) -> list[UNetVariant]:
    """Every U-Net a run trains (for each ``--pretrained`` start): the product of the
    training options."""
    return [UNetVariant(m, a, {"default": None, "true": True, "false": False}[d],
                        p == "true", r, o, b)
            for m, a, d, p, r, o, b in itertools.product(
                args.minutes, args.autocontext, args.dimmed, args.pseudo_labels,
                args.learning_rates or [None], args.object_scales or [None],
                args.boundary_widths or [None])]


def scored_variants(trained: UNetVariant, args) -> list[UNetVariant]:
    """The ways ``trained``'s objects are found (the product of the scoring options)."""
    return [dataclasses.replace(trained, rule=r, share=s, keep=k, merge=m == "true",
                                pieces=p == "true", enlarged=e == "true", blend=b)
            for r, s, k, m, p, e, b in itertools.product(args.interior_rules or [None],
                                                         args.forest_weights or [None],
                                                         args.keep_start or [None],
                                                         args.merge_unbounded,
                                                         args.merge_pieces,
                                                         args.merge_enlarged,
                                                         args.forest_blends)]


def _sureness(proba: np.ndarray) -> np.ndarray:
    """How sure probabilities ``(N, K, Y, X)`` are, per pixel ``(N, 1, Y, X)``: 0 where
    every class is as likely, 1 where one class is certain."""
    k = proba.shape[1]
    return (proba.max(axis=1, keepdims=True) - 1 / k) * (k / (k - 1))


def blend_sure(network, forest, share, **_):
    """``--forest-blends sure``: the forest's share scaled by its sureness per pixel, so
    the network decides where the forest is unsure."""
    weight = share * _sureness(forest)
    return network * (1 - weight) + forest * weight


def blend_both(network, forest, share, **_):
    """``--forest-blends both``: each votes with its share times its sureness per pixel."""
    f = share * _sureness(forest)
    n = (1 - share) * _sureness(network)
    weight = f / np.maximum(f + n, 1e-6)
    return network * (1 - weight) + forest * weight


BLENDS = {"sure": blend_sure, "both": blend_both}
"""``--forest-blends`` screened in session 68 beside ``average`` and ``object``."""


def blending(blend: str):
    """A context in which UNetSegmenters combine their network's and forest's
    probabilities as ``--forest-blends`` ``blend`` says: ``default`` as the library does
    (``object`` from fewer than ``autocontext.FEW_OBJECTS`` painted objects, else
    ``average``), ``average`` always by ``forest_weight``, ``object`` always by the forest's
    sureness whether a pixel is on an object (``autocontext.blend_proba(...,
    unsure_objects=True)``), or one of :data:`BLENDS`."""
    from unittest import mock

    from microlab.deep import autocontext

    if blend == "default":
        return contextlib.nullcontext()
    if blend in ("average", "object"):
        return mock.patch.object(autocontext, "FEW_OBJECTS",
                                 0 if blend == "average" else sys.maxsize)
    return mock.patch.object(autocontext, "blend_proba", BLENDS[blend])


def object_scale(value: str | None) -> float | None:
    """``object_scale`` for an ``--object-scales`` value (None: the default rule)."""
    return None if value in (None, "auto") else float(value)


def scale_name(value: str | None, model=None) -> str:
    """The table's suffix for an ``--object-scales`` value (and, given the trained
    ``model``, a line that says the scale it chose)."""
    if value is None:
        return ""
    if model is not None:
        print(f"  {type(model).__name__}, object_scale={value}: images "
              f"{scale_words(model.scale)}", flush=True)
    return f", scale {value}"


def start_recorder():
    """A Lightning callback whose ``state`` is the network's weights when its first training
    run started: the weights a fit started from, for ``--keep-start``."""
    import lightning as L

    class StartWeights(L.Callback):
        state = None

        def on_train_start(self, trainer, module):
            if self.state is None:
                self.state = {k: v.detach().clone()
                              for k, v in module.network.state_dict().items()}

    return StartWeights()


@contextlib.contextmanager
def keeping(unet, start: dict | None, keep: float | None):
    """A context in which ``unet``'s network keeps ``keep`` of its ``start`` weights
    (``UNetSegmenter._keep``, applied after a fit with ``keep_start=0``)."""
    if keep is None or start is None:
        yield
        return
    trained = {k: v.clone() for k, v in unet._network.state_dict().items()}
    unet._keep(start, keep)
    try:
        yield
    finally:
        unet._network.load_state_dict(trained)
        unet._fast = None


def interior_rule(text: str) -> tuple[float, float]:
    """``(core, neck)`` of an ``--interior-rules`` value ``CORE:NECK``."""
    try:
        core, neck = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CORE:NECK such as 0.4:0.07, got {text!r}") from None
    return core, neck


def boundary_objects(unet, image, rule: tuple[float, float] | None,
                     share: float | None = None, merge: bool = True,
                     pieces: bool = True, enlarged: bool = False,
                     blend: str = "default") -> np.ndarray:
    """``unet.predict_instances(image)``, or its objects seeded by ``rule`` (core, neck),
    with the autocontext forest's share of the prediction ``share`` where given; without
    ``merge``, touching objects that no predicted boundary divides stay apart
    (``instances``' seeds alone); without ``pieces``, small unsure pieces of one object
    too; the forest's and the network's probabilities combined as ``blend`` says
    (:func:`blending`)."""
    from unittest import mock

    from microlab.postprocess import _instances

    trained = unet.forest_weight
    if share is not None:
        unet.forest_weight = share
    try:
        rules = {} if rule is None else dict(_INTERIOR_CORE=rule[0], _INTERIOR_H=rule[1],
                                             _INTERIOR_H_ENLARGED=rule[1])
        with mock.patch.multiple(_instances, _MERGE_UNBOUNDED=merge, _MERGE_PIECES=pieces,
                                 _MERGE_ENLARGED=enlarged, **rules), blending(blend):
            return unet.predict_instances(image)
    finally:
        unet.forest_weight = trained


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--radius", type=float, nargs=2, default=[6.0, 12.0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--painted", type=int, default=20)
    parser.add_argument("--test", type=int, default=2)
    parser.add_argument("--elongation", type=float, default=1.0,
                        help="nuclei this many times taller than wide (same area)")
    parser.add_argument("--real", action="store_true",
                        help="images of real nuclei packed touching (see real_nuclei.py)")
    parser.add_argument("--image", default=None, metavar="TIFF",
                        help="a real labelled image instead (with --mask): run k paints "
                             "whole nuclei and background in one half (left, right, top, "
                             "bottom for k mod 4) and scores the other half")
    parser.add_argument("--mask", default=None, metavar="TIFF",
                        help="with --image: its objects' label image (0 is background)")
    parser.add_argument("--ignore", default=None, metavar="TIFF",
                        help="with --image: pixels whose truth is unknown (non-zero), such "
                             "as nuclei the mask leaves unlabelled: no background stroke "
                             "crosses them and found objects mostly on them are not scored; "
                             "'auto': the bright blobs the mask leaves out "
                             "(unlabelled_nuclei)")
    parser.add_argument("--density", type=float, default=0.4,
                        help="with --real: the share of the area the nuclei cover")
    parser.add_argument("--spread", type=float, default=None,
                        help="with --real: radii log-uniform from radius / SPREAD to "
                             "radius * SPREAD (large and small nuclei in one image)")
    parser.add_argument("--degrade", default=None,
                        choices=DEGRADATIONS,
                        help="with --real: make every image harder this way "
                             "(real_nuclei.degrade)")
    parser.add_argument("--held-out-nuclei", action="store_true",
                        help="with --real: only the nuclei --real-nuclei pretraining leaves "
                             "out (real_nuclei.held_out)")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="with --real: the share of a nucleus that may lie over others")
    parser.add_argument("--pretrained", nargs="+", default=["true"],
                        help="U-Net start weights, each given in the same run: true (the "
                             "shipped ones), false (random initialisation) or a weights file")
    parser.add_argument("--dense", type=float, default=0.0, metavar="MINUTES",
                        help="also train U-Nets (random init and shipped weights) this long "
                             "on every pixel's truth of the training image: what any strokes "
                             "on it can at most teach")
    parser.add_argument("--pseudo-labels", nargs="+", default=["false"],
                        choices=["false", "true"],
                        help="U-Net without / with self-training on the objects it is sure "
                             "of (UNetSegmenter(pseudo_labels=...)), each given")
    parser.add_argument("--dimmed", nargs="+", default=["default"],
                        choices=["default", "false", "true"],
                        help="U-Net choosing from the data (the default), never or always "
                             "training on a dimmed copy of its training planes "
                             "(UNetSegmenter(dimmed=...)), each given")
    parser.add_argument("--autocontext", nargs="+", default=["default"],
                        choices=["default", "true", "false"],
                        help="U-Net with or without the autocontext forest (each given)")
    parser.add_argument("--interior-rules", nargs="+", default=[], metavar="CORE:NECK",
                        type=interior_rule,
                        help="score each U-Net's outputs with these seeding rules of "
                             "instances(kind='boundary'), each given")
    parser.add_argument("--forest-weights", nargs="+", default=[], metavar="SHARE",
                        type=float,
                        help="score each U-Net's outputs with the autocontext forest's "
                             "share of the prediction at each of these values (the "
                             "UNetSegmenter's forest_weight; the same trained network)")
    parser.add_argument("--forest-blends", nargs="+", default=["default"],
                        choices=["default", "average", "object", *BLENDS],
                        help="score each U-Net's outputs with the autocontext forest's "
                             "probabilities combined with the network's each of these ways: "
                             "default (the library's rule), average (by forest_weight), "
                             "object (the forest's share scaled by its sureness whether a "
                             "pixel is on an object), sure (by its sureness per pixel), both "
                             "(each by its share and sureness); the same trained network")
    parser.add_argument("--merge-unbounded", nargs="+", default=["true"],
                        choices=["false", "true"],
                        help="score each U-Net's objects with (the default) and without "
                             "merging touching objects that no predicted boundary divides "
                             "(the same trained network), each given")
    parser.add_argument("--merge-pieces", nargs="+", default=["true"],
                        choices=["false", "true"],
                        help="score each U-Net's objects with (the default) and without "
                             "merging touching small, unsure pieces that together make an "
                             "object (the same trained network), each given")
    parser.add_argument("--merge-enlarged", nargs="+", default=["false"],
                        choices=["false", "true"],
                        help="score the instance forest's and each U-Net's objects without "
                             "(the default) and with merging touching objects that no "
                             "predicted boundary divides also where small objects are found "
                             "enlarged (the same trained models), each given")
    parser.add_argument("--learning-rates", nargs="+", default=[], metavar="RATE",
                        type=float,
                        help="train each U-Net at each of these peak learning rates "
                             "(UNetSegmenter(learning_rate=...)); without it, the default")
    parser.add_argument("--object-scales", nargs="+", default=[], metavar="FACTOR",
                        help="train the instance forest and each U-Net at each object_scale "
                             "('auto' = the default rule, 1 = the image's own scale)")
    parser.add_argument("--patch-size", type=int, default=None,
                        help="the U-Nets' training patch size (UNetSegmenter(patch_size=...), "
                             "a multiple of 32); without it, the default")
    parser.add_argument("--keep-start", nargs="+", default=[], metavar="SHARE", type=float,
                        help="score each U-Net keeping each of these shares of its start "
                             "weights (UNetSegmenter(keep_start=...), applied to the same "
                             "trained network); without it, the default")
    parser.add_argument("--boundary-widths", nargs="+", default=[], metavar="PIXELS",
                        type=int,
                        help="train each U-Net with each of these boundary widths "
                             "(UNetSegmenter(boundary_width=...)): the painted objects' "
                             "boundaries are drawn this thick where the model enlarges the "
                             "images; at the image's own scale the strokes keep 2")
    args = parser.parse_args(argv)
    if (args.image is None) != (args.mask is None) or (args.image and args.real):
        parser.error("--image needs --mask (and neither goes with --real)")
    if args.ignore and not args.image:
        parser.error("--ignore marks unknown pixels of --image; add --image and --mask")
    if args.held_out_nuclei and not args.real:
        parser.error("--held-out-nuclei chooses among the nuclei of --real; add --real")
    if args.patch_size is not None:
        print(f"U-Nets train on {args.patch_size}² patches", flush=True)

    from unittest import mock

    from microlab.deep import UNetSegmenter
    from microlab.postprocess import _instances
    from microlab.project import Project, training

    rows: dict[str, list[tuple[float, float]]] = {}
    times: dict[str, list[float]] = {}
    mistakes: dict[str, list[dict[str, int]]] = {}
    if args.real:
        from real_nuclei import collage, degrade, held_out, isolated_nuclei, sources

        real = [(name, isolated_nuclei(image)) for name, image in sources().items()]
        if args.held_out_nuclei:
            real = [(name, held_out(found)) for name, found in real]
            print("real nuclei: only the half --real-nuclei pretraining leaves out "
                  f"({', '.join(f'{n} {len(f[0])}' for n, f in real)})", flush=True)
    unknown = train_unknown = test_unknown = None
    if args.image:
        labelled = labelled_image(args.image, args.mask)
        if args.ignore:
            from scipy import ndimage

            unknown = unknown_pixels(args.ignore, *labelled)
            print(f"--ignore: {ndimage.label(unknown)[1]} unlabelled pieces "
                  f"({unknown.mean():.1%} of the image) are not scored", flush=True)
    for run in range(args.runs):
        rng = np.random.default_rng(run)
        if args.image:
            side = SIDES[run % len(SIDES)]
            print(f"run {run + 1}: {os.path.basename(args.image)}, trained on the {side} "
                  "half", flush=True)
            (image, truth, train_unknown), (*test, test_unknown) = halves(
                *labelled, side, unknown)
            tests = [tuple(test)]
        elif args.real:
            name, (nuclei, level, noise) = real[run % len(real)]
            print(f"run {run + 1}: real nuclei of {name}", flush=True)

            def make(seed, nuclei=nuclei, level=level, noise=noise):
                radius = float(np.mean(args.radius))
                image, truth = collage(nuclei, level, noise, radius, args.density,
                                       args.size, seed, args.overlap, args.spread)
                if args.degrade:
                    image = degrade(args.degrade, image, truth, level, noise, radius, seed)
                return image, truth
        else:
            stretch = np.sqrt(args.elongation)  # pixels wider than tall: taller than wide
            options = dict(radius=tuple(args.radius), spacing=(1 / stretch, stretch))

            def make(seed, options=options):
                return microlab.data.synthetic_nuclei((args.size, args.size), seed=seed,
                                                      **options)
        if not args.image:
            image, truth = make(100 + run)
            tests = [make(1000 + 10 * run + k) for k in range(args.test)]
        layer = strokes(truth, args.painted, rng, whole=bool(args.image), unknown=train_unknown)
        with tempfile.TemporaryDirectory() as folder:
            project = Project(os.path.join(folder, "p"), classes=["nuclei", "background"])
            project.add_image(image)
            project.set_annotation(0, layer)
            project.set_settings(mode="instance")
            _, (boundary,) = training.training_data(project, output="boundary")
            project.close()

        def score(name, found_in, fit_s, tests=tests, run=run, unknown=test_unknown):
            found = [(t, without_unknown(found_in(img), unknown)) for img, t in tests]
            aps = [average_precision(t, f, iou=[0.5, 0.75]) for t, f in found]
            rows.setdefault(name, []).append(tuple(np.mean(aps, axis=0)))
            times.setdefault(name, []).append(fit_s)
            counts = [object_errors(t, f) for t, f in found]
            mistakes.setdefault(name, []).append({k: sum(c[k] for c in counts) for k in KINDS})
            print(f"run {run + 1}: {name:32s} AP@0.5 {rows[name][-1][0]:.3f} "
                  f"AP@0.75 {rows[name][-1][1]:.3f}  fit {fit_s:5.0f} s  " + " ".join(
                      f"{k} {v}" for k, v in mistakes[name][-1].items()), flush=True)

        # the same strokes, then with the ring of background a whole painted nucleus implies
        ringed = np.where(np.isin(boundary, (BACKGROUND, OUTSIDE)), 2, layer).astype(np.uint8)
        for name, annotation in (("forest + instances", layer),
                                 ("forest + instances, ring", ringed)):
            start = time.perf_counter()
            rf = microlab.RandomForestSegmenter(["nuclei", "background"]).fit(
                image, annotation, progress=False)
            fit = time.perf_counter() - start
            score(name, lambda img, rf=rf: microlab.instances(
                rf.predict_proba(img), foreground=0), fit)
            score(name + ", image", lambda img, rf=rf: microlab.instances(
                rf.predict_proba(img), foreground=0, image=img), fit)
        # the forest in instance mode: it learns background/boundary/interior as the U-Net does
        for scale in args.object_scales or [None]:
            start = time.perf_counter()
            rf = microlab.RandomForestSegmenter(mode="instance", object_scale=object_scale(
                scale)).fit(image, boundary, progress=False)
            fit = time.perf_counter() - start
            for enlarged in args.merge_enlarged:
                with mock.patch.object(_instances, "_MERGE_ENLARGED", enlarged == "true"):
                    score("forest, instance mode" + scale_name(scale, rf) + (
                        ", merged enlarged" if enlarged == "true" else ""),
                        rf.predict_instances, fit)
        for trained in trained_variants(args):
            options = {} if trained.autocontext == "default" else {
                "autocontext": trained.autocontext == "true"}
            if args.keep_start:  # trained keeping none; scored at each share below
                options["keep_start"] = 0.0
            if args.patch_size is not None:
                options["patch_size"] = args.patch_size
            if trained.width is not None:
                options["boundary_width"] = trained.width
            for weights in args.pretrained:
                start = time.perf_counter()
                unet = UNetSegmenter(mode="instance", max_minutes=trained.minutes,
                                     progress=False, pretrained=start_weights(weights),
                                     seed=run, pseudo_labels=trained.pseudo,
                                     learning_rate=trained.rate,
                                     object_scale=object_scale(trained.scale),
                                     dimmed=trained.dimmed, **options)
                first = start_recorder()
                unet.fit(image, boundary, callbacks=[first] if args.keep_start else [])
                fit = time.perf_counter() - start
                scale_name(trained.scale, unet)  # says the scale the model chose
                if trained.dimmed is None:
                    dim, blobs = unet.fit_info.get("dim_blobs", (0, 0))
                    print(f"run {run + 1}: the U-Net trains on dimmed copies: "
                          f"{'yes' if unet.dimming else 'no'} ({dim} of {blobs} unpainted "
                          "blobs below half the painted nuclei's contrast)", flush=True)
                several = weights if len(args.pretrained) > 1 else None
                for variant in scored_variants(trained, args):
                    with keeping(unet, first.state, variant.keep):
                        score(variant.row(several),
                              lambda img, unet=unet, v=variant:
                              boundary_objects(unet, img, v.rule, v.share, v.merge,
                                               v.pieces, v.enlarged, v.blend), fit)
        if args.dense > 0:  # the ceiling: every pixel of the training image labelled
            from microlab.labels.boundary import boundary_labels

            for weights in ("false", "true"):
                start = time.perf_counter()
                unet = UNetSegmenter(mode="instance", max_minutes=args.dense, progress=False,
                                     pretrained=start_weights(weights), seed=run)
                unet.fit(image, boundary_labels(truth))
                score(f"U-Net {args.dense:g} min, all truth, {init_name(weights)}",
                      unet.predict_instances, time.perf_counter() - start)

    if args.image:
        areas = np.bincount(labelled[1].ravel())[1:]
        radius = np.median(np.sqrt(areas[areas > 0] / np.pi))
        kind = (f"{os.path.basename(args.image)} ({np.count_nonzero(areas)} labelled objects, "
                f"median radius {radius:.1f} px), half of it painted, the other half scored")
    elif args.real:
        sizes = ("±15 %" if args.spread is None
                 else f"÷/× {args.spread:g} (log-uniform)")
        kind = (f"real nuclei of radius {np.mean(args.radius):g} px {sizes}, {args.density:g} "
                f"of the area, overlapping by up to {args.overlap:.0%}"
                + (f", degraded: {args.degrade}" if args.degrade else ""))
    else:
        kind = (f"nuclei radius {args.radius[0]:g}-{args.radius[1]:g} px (elongation "
                f"{args.elongation:g})")
    sizes = "" if args.image else f", {args.size}² images"
    tested = "" if args.image else f" ({args.test} test images each)"
    print(f"\n{kind}{sizes}, "
          f"{args.painted} whole nuclei painted; medians of {args.runs} runs{tested}")
    print(f"{'':34s} {'AP@0.5':>7s} {'AP@0.75':>8s} {'fit s':>6s}" + "".join(
        f" {k:>8s}" for k in KINDS))
    for name, values in rows.items():
        a50 = statistics.median(v[0] for v in values)
        a75 = statistics.median(v[1] for v in values)
        print(f"{name:34s} {a50:7.3f} {a75:8.3f} {statistics.median(times[name]):6.0f}" + "".join(
            f" {statistics.median(m[k] for m in mistakes[name]):8g}" for k in KINDS))
    print("(merged, missed, split, misshapen: true nuclei; spurious: found objects mostly on "
          "background; fragments: found pieces of nuclei; medians over the runs of a run's "
          "counts, microlab.measure.object_errors at IoU 0.5)")
    if "false" in args.pretrained and len(args.pretrained) > 1:
        for variant in (v for t in trained_variants(args) for v in scored_variants(t, args)):
            base = rows[variant.row("false")]
            for weights in args.pretrained:
                if weights == "false":
                    continue
                other = rows[variant.row(weights)]
                gains = [o[0] - b[0] for o, b in zip(other, base, strict=True)]
                gain = (statistics.median(o[0] for o in other)
                        - statistics.median(b[0] for b in base))
                print(f"{variant.row()}: "
                      f"{init_name(weights)} - random init = "
                      f"{gain:+.3f} AP@0.5 "
                      f"(run by run {', '.join(f'{g:+.3f}' for g in gains)}; "
                      "target >= +0.05)")


if __name__ == "__main__":
    main()
