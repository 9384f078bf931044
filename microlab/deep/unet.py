"""UNetSegmenter: the deep tier's segmenter, a U-Net trained with PyTorch Lightning.

The segmenter only: the network, training pieces and weights live beside it
(:mod:`~microlab.deep.network`, :mod:`~microlab.deep.module`, :mod:`~microlab.deep.data`,
:mod:`~microlab.deep.callbacks`, :mod:`~microlab.deep.trainer`,
:mod:`~microlab.deep.weights`) and are imported when a method needs them, so importing this
module does not import torch.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import threading
import time
import warnings
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .._memory import reuse_freed_memory
from .._modelfile import read_model, write_model
from ..intensity import PERCENTILES, check_range, intensity_range, normalise
from ..labels.boundary import (
    BACKGROUND,
    OUTSIDE,
    area_radius,
    painted_areas,
    three_classes,
)
from ..labels.colors import default_colors
from ..segmenter import (
    SegmenterBase,
    annotated_classes,
    labels_from_proba,
    shows_bars,
    training_set,
)
from .runtime import check_precision, prediction_precision, release_memory, resolve_device
from .weights import pretrained_file

FORMAT_VERSION = 1
KIND = "unet"
ALIGNMENT = 32
"""The encoders' total stride: images are padded to multiples of it, and windows that start
on multiples of it see the pooling grid of the whole image."""
CONTEXT = 160
"""Pixels of context around a region after which its prediction matches the whole image's
(see :attr:`UNetSegmenter.context`)."""
LEARNING_RATE = 2e-3
"""Default peak learning rate (AdamW) of a fit."""
FINE_TUNE_RATE = 4e-4
"""Default peak learning rate of an instance-mode fit from pretrained weights: their
nuclei head is loaded too, and a fifth of :data:`LEARNING_RATE` keeps what it knows
(``docs/benchmarks.md``, session 34), where the painted objects are no larger than those
(:data:`KEEP_RADIUS`)."""
KEEP_START = 0.5
"""Default share of its start weights an instance-mode U-Net keeps after a fit
(``UNetSegmenter(keep_start=...)``, weight-space ensembling): on real overlapping nuclei
from 20 painted ones, the trained network alone loses objects that the halfway point
between it and its start finds (``docs/benchmarks.md``, session 35)."""
KEEP_RADIUS = 12.0
"""Largest typical radius (pixels, at the model's :attr:`~UNetSegmenter.scale`) of the
painted objects for which an instance-mode fit keeps :data:`KEEP_START` of its start by
default, and fine-tunes pretrained weights at :data:`FINE_TUNE_RATE`; beyond it, none
kept, at :data:`LEARNING_RATE`. The shipped weights learnt nuclei of radius 4-16 px, most of them
near 10: on real overlapping nuclei (``docs/benchmarks.md``, session 40; 3 minutes, shipped
weights, medians of 3 scenes, AP@0.5 / AP@0.75) keeping half helped at radius 9 (0.945 /
0.817 against 0.909 / 0.768) and cost from radius 16 up (16: 0.954 / 0.858 against 0.962 /
0.880; 24: mean of the scenes 0.881 against 0.892; 32: 0.880 / 0.743 against 0.933 /
0.874), where it pulls the network back to sizes it is not shown."""
REUSE_PIXELS = 8 * 2**20
"""Largest batch of planes (pixels) whose layer outputs reuse freed memory
(:func:`microlab._memory.reuse_freed_memory`): a tile's window in :func:`~microlab.predict_tiled`
is at most 2574² (6.6 Mpx). On bigger ones the heap's leftovers add too much to the peak
(a whole 4096² image: 5.3 instead of 3.8 GB, for 25 % less time)."""


def _positive(value, name: str, kind=numbers.Real, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive number{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    return value


def _start_sized(radius: float | None) -> bool:
    """Whether painted objects of typical ``radius`` (pixels at the model's scale; None: not
    known) are within :data:`KEEP_RADIUS`, where an instance-mode fit by default keeps
    :data:`KEEP_START` of its start and fine-tunes pretrained weights at
    :data:`FINE_TUNE_RATE`.

    >>> _start_sized(9.0), _start_sized(KEEP_RADIUS), _start_sized(24.0), _start_sized(None)
    (True, True, False, True)
    """
    return radius is None or radius <= KEEP_RADIUS


def _planes(array: np.ndarray, layer: np.ndarray):
    """Each plane of a training image and its annotation layer: the image itself when it
    is 2D (``(C, Y, X)``), else its z planes (views of ``(C, Z, Y, X)``)."""
    if array.ndim == 3:
        yield array, layer
        return
    for z in range(layer.shape[0]):
        yield array[:, z], layer[z]


def network_input(image: np.ndarray, forest: np.ndarray | None = None) -> np.ndarray:
    """The network's input planes, channels last and padded to :data:`ALIGNMENT`.

    ``image`` is ``(N, C, Y, X)`` (normalised), ``forest`` the autocontext forest's
    ``(N, K, Y, X)`` probabilities or None. Returns float32 ``(N, Y', X', C + K)`` with
    ``Y'``, ``X'`` the next multiples of :data:`ALIGNMENT`, the margin mirrored as
    ``np.pad(mode="symmetric")`` does: as ``torch.from_numpy(...).permute(0, 3, 1, 2)`` it
    is already the channels-last tensor the network wants, so each input pixel is written
    once (concatenating, padding and reordering made three more copies of a tile's window:
    on a 2336² window with 5 channels, 330 MB of memory touched for nothing).

    Examples
    --------
    >>> image = np.arange(600, dtype=np.float32).reshape(1, 1, 30, 20)
    >>> planes = network_input(image, np.ones((1, 2, 30, 20), np.float32))
    >>> planes.shape
    (1, 32, 32, 3)
    >>> expected = np.pad(image, ((0, 0), (0, 0), (0, 2), (0, 12)), mode="symmetric")
    >>> bool(np.array_equal(planes[..., 0], expected[:, 0]))
    True
    """
    n, c, h, w = image.shape
    k = 0 if forest is None else forest.shape[1]
    ph, pw = -h % ALIGNMENT, -w % ALIGNMENT
    if ph > h or pw > w:  # a margin wider than the image: np.pad's repeated mirroring
        parts = [image] if forest is None else [image, forest.astype(np.float32)]
        padded = np.pad(np.concatenate(parts, axis=1), ((0, 0), (0, 0), (0, ph), (0, pw)),
                        mode="symmetric")
        return np.ascontiguousarray(np.moveaxis(padded, 1, -1))
    planes = np.empty((n, h + ph, w + pw, c + k), np.float32)
    planes[:, :h, :w, :c] = np.moveaxis(image, 1, -1)
    if forest is not None:
        planes[:, :h, :w, c:] = np.moveaxis(forest, 1, -1)
    if ph:
        planes[:, h:, :w] = planes[:, h - 1 - np.arange(ph), :w]
    if pw:
        planes[:, :, w:] = planes[:, :, w - 1 - np.arange(pw)]
    return planes


class UNetSegmenter(SegmenterBase):
    """U-Net pixel classifier trained from sparse scribbles (the deep tier).

    Implements the :class:`microlab.Segmenter` protocol like
    :class:`microlab.RandomForestSegmenter`: ``fit`` on sparse annotations (0 = unlabelled),
    ``predict_proba`` → ``(C, *spatial)`` float32, ``save``/``load`` to one safetensors file.

    The network is a segmentation-models-pytorch ``Unet`` (encoder by name, decoder channels
    ``(256, 128, 64, 32, 16) × width``) whose head also sees the input image at full
    resolution (:class:`microlab.deep.network.InputSkipHead`), started by default from the
    weights shipped with microlab (``pretrained``), trained by a Lightning ``Trainer`` on random
    patches centred on labelled pixels (each class equally often), augmented on the fly
    (:mod:`microlab.deep.augment`), with a cross-entropy that ignores unlabelled pixels and
    weights classes by 1/sqrt(frequency). About 12 % of the labelled pixels (in 16-pixel
    blocks) are held out for validation: training stops early when the validation loss stops
    improving and the best weights are kept (in instance mode averaged with the weights the
    fit started from, ``keep_start``). ``fit`` on a trained model fine-tunes it.

    Intensities are normalised per channel with a range fixed at the first ``fit``: the
    1st and 99.8th percentiles of the training images map to 0 and 1 (clipped), and the
    model stores them, so every later image (and every tile of a tiled prediction) is
    scaled the same way; 8-bit, 16-bit and float images work alike. The range and the dtype
    of the training images travel with the model: predicting an image far outside them warns
    (:func:`microlab.intensity.check_range`). 2D images are segmented directly; 3D stacks
    ``(Z, Y, X)`` are trained on and predicted slice by slice.

    Parameters
    ----------
    classes : list of str, optional
        Class names (annotation value k means ``classes[k - 1]``). Default: one per value
        found in the annotations. In instance mode: background, boundary, interior.
    colors : list, optional
        One colour per class; they travel with the model.
    mode : {"semantic", "instance"}
        ``"semantic"``: classes 1..C. ``"instance"``: annotations are 1 = background,
        2 = boundary, 3 = interior and 4 = background or boundary (the ring around a whole
        painted object, which may be a touching neighbour's boundary; its loss is
        ``-log(p_background + p_boundary)``), see
        :func:`microlab.labels.instance_annotations`, and :meth:`predict_instances` turns
        predictions into separate objects.
    encoder : str
        segmentation-models-pytorch encoder name (e.g. ``"mobilenet_v2"``, ``"resnet18"``).
    width : float
        Scale of the decoder's channels (0.5 halves them: faster, smaller).
    pretrained : bool or path
        Start training from pretrained weights (the default): ``True`` takes the weights
        shipped with microlab for this encoder and width (made by
        ``python -m microlab.deep.pretrain`` from generated and real micrographs, see the
        model card beside them), a path takes a file written by that script. Encoder,
        decoder and the head's first layer are loaded; the last layer is new for your
        classes (instance mode starts from the pretraining's nuclei outputs). ``False``:
        random initialisation.
    weights : path, optional
        A local safetensors file with encoder weights only (e.g. ImageNet weights of an
        smp/timm encoder, converted once); used instead of ``pretrained`` when given.
        Nothing is ever downloaded.
    patch_size : int
        Side of the square training patches (a multiple of 32).
    batch_size : int
        Patches per training step.
    predict_batch_size : int
        Planes of a 3D stack predicted at once (more: faster, more memory).
    predict_precision : {"auto", "float32", "bfloat16"}
        Number format of prediction (training is always float32). ``"auto"``: bfloat16 on
        CPUs that compute it natively (AVX-512/AMX), 2.3× faster at the same accuracy;
        float32 elsewhere (see :func:`microlab.deep.runtime.prediction_precision`).
    max_epochs : int
        Upper bound on epochs (an epoch is ``steps_per_epoch`` steps).
    max_steps : int, optional
        Upper bound on optimiser steps.
    max_minutes : float, optional
        Time budget; training stops cleanly when it is spent, keeping the best weights.
    steps_per_epoch : int
        Training steps between two validations.
    patience : int
        Epochs without validation improvement before stopping early.
    learning_rate : float, optional
        Peak AdamW learning rate: a 50-step linear warm-up, then cosine decay to 2 % of it
        over the budget (``max_steps``, ``max_minutes`` or ``max_epochs``, whichever ends
        first). Default (None): :data:`FINE_TUNE_RATE` (4e-4) in instance mode from
        pretrained weights, whose nuclei head is then loaded too and is washed out by a
        higher rate, where the painted objects' typical radius (at :attr:`scale`) is at
        most :data:`KEEP_RADIUS` (as ``keep_start``); else :data:`LEARNING_RATE` (2e-3).
        On real overlapping nuclei from 20 painted ones
        (``benchmarks/bench_unet_nuclei.py --real --overlap 0.15 --learning-rates 0.002
        0.0004``, 3 minutes, 3 scenes) the shipped weights reached
        AP@0.5 0.912 / AP@0.75 0.766 at 4e-4 against 0.881 / 0.724 at 2e-3, random
        initialisation 0.874 / 0.679 against 0.871 / 0.685; on small ones (radius 5.5,
        ``--radius 4 7``) it cost the shipped weights 0.023 (0.881 / 0.707 against
        0.904 / 0.725). On nuclei of radius 24 px, which the shipped weights did not
        learn, 2e-3 did better (5 minutes: 0.918 / 0.839 against 0.882 / 0.755; session
        41). The rate a fit used is in ``fit_info["learning_rate"]`` and the model file.
    class_weight : {"auto", "balanced", None}
        ``"balanced"`` weights the loss of each class by 1/sqrt(its frequency among the
        labelled pixels), so a thin class (the boundary) counts; None weights all pixels
        alike (patch centres already over-sample rare classes). "auto": balanced in
        instance mode, None in semantic mode.
    device : {"auto", "cpu", "cuda"}
        Where to train and predict; "auto" takes a CUDA GPU when there is one.
    boundary_width : int
        Boundary thickness used by :func:`microlab.labels.instance_annotations` (recorded
        with the model, for instance mode).
    channel_axis : int, optional
        Channel axis of plain-array images.
    seed : int, optional
        Seed for weights, patch sampling and augmentation (sets torch's global seed in fit).
    progress : bool
        Default of ``fit(progress=...)``: show Lightning's progress bar.
    autocontext : bool
        On by default. Give the network, beside the image, the per-class probabilities of
        a Random Forest trained on the same strokes (ilastik's autocontext;
        :mod:`microlab.deep.autocontext`).
        The forest trains in seconds at every ``fit``, travels inside the model file, and
        its time counts in ``max_minutes``. The forest's halo adds to :attr:`context`.
        The network learns a correction of the forest: it adds the logarithms of the
        forest's probabilities to its own logits, so where it has learnt nothing it
        answers what the forest does (on sandstone, 2-minute screens over 3 seeds: network
        alone 0.869 mean IoU with it, 0.860 and one seed at 0.65 without). The prediction
        is the network's probabilities averaged with the forest's (``forest_weight``).
        Models with it cannot be exported to bioimage.io (the forest is not a network).
    forest_weight : float
        With ``autocontext``: the forest's share of the predicted probabilities, from 0 (the
        network's alone) to 1 (the forest's alone). Screened on sandstone (2 minutes, 3
        seeds; forest alone 0.898 mean IoU): 0.5 → 0.891, 0.7 → 0.902 (ahead of the forest
        on every seed, with a third fewer isolated wrong pixels), 0.8 → 0.902.
        The forest knows only what the strokes show. In instance mode, where the last fit's
        strokes paint fewer than :data:`~.autocontext.FEW_OBJECTS` (3) whole objects, the
        forest's share at each pixel is ``forest_weight`` × how sure it is whether the
        pixel lies on an object (``|1 − 2 p(background)|``;
        :func:`~.autocontext.blend_proba`): where a forest that has seen one or two
        objects cannot tell a dimmer one from the background, the network decides; between
        touching objects the forest keeps its share. Measured from two painted nuclei on
        three real images (four halves each, shipped weights; ``docs/benchmarks.md``,
        session 68): AP@0.5 / AP@0.75 0.745 / 0.539, 0.889 / 0.823, 0.823 / 0.741 in the
        medians against 0.678 / 0.370, 0.876 / 0.806, 0.800 / 0.721 with the plain average,
        ahead in 9 halves of 12. From three painted nuclei or more the plain average was
        better on the DSB crop (three: 0.755 against 0.692, in every half; five: 0.785
        against 0.729; twenty: 0.833 against 0.762) and about level on HeLa (five: 0.874
        against 0.884; twenty: 0.904 against 0.903), hence the rule.
        ``fit_info["painted_objects"]`` and the model file record the count.
    pseudo_labels : bool
        Instance mode only: self-training. After half of the training (its time, steps or
        epochs), the objects the network is then sure of in its training images, and the
        background it is sure of, are added to the annotations
        (:func:`microlab.labels.pseudo.confident_annotations`: whole objects of about the
        painted objects' size, away from the border and from painted ones), and the second
        half trains on both; the strokes always win where they say something. Both halves
        are validated on the same held-out blocks of the person's annotations (never on
        pseudo-labels), and ``history`` runs on over both.
        ``fit_info["pseudo_labels"]`` says how many objects were added. On real
        overlapping nuclei from 20 painted ones (``benchmarks/bench_unet_nuclei.py --real
        --overlap 0.15 --pseudo-labels true``, 3 minutes; ``docs/benchmarks.md``) it raised
        AP@0.5 by about 0.03 in half the scenes and lowered it by up to 0.03 in the others,
        where the network was sure of few objects (six scenes, mean +0.008): an option, not
        the default.

    keep_start : float, optional
        The share of the weights a fit started from that the trained network keeps: after
        each fit its weights are ``keep_start`` × start + (1 − ``keep_start``) × trained
        (weight-space ensembling of the start and the fine-tuned weights, as WiSE-FT,
        Wortsman et al. 2022; normalisation statistics alike), ``fit_info["keep_start"]``
        and the model file record it. Default (None): :data:`KEEP_START` (0.5) in instance
        mode where the painted objects' typical radius (at :attr:`scale`) is at most
        :data:`KEEP_RADIUS` (12 px; the shipped weights learnt nuclei near 10 px), 0
        (the trained weights) for larger objects and in semantic mode. Trained on 20
        painted nuclei, the network learns to find them better at first, then loses other
        objects; the halfway point keeps the first and not the second: on real overlapping
        nuclei
        (``benchmarks/bench_unet_nuclei.py --real --overlap 0.15 --pretrained false true
        --keep-start 0 0.3 0.5 0.7``, 3 minutes, 3 scenes; ``docs/benchmarks.md``, session
        35) AP@0.5 / AP@0.75 went from 0.909 / 0.768 to 0.945 / 0.817 from the shipped
        weights and from 0.879 / 0.697 to 0.931 / 0.794 from random ones (radius 9); on
        small nuclei (radius 5.5) from 0.871 / 0.698 to 0.884 / 0.708, and from 0.882 /
        0.690 to 0.876 / 0.683. On sandstone (semantic mode, whose head is new for the
        classes; ``benchmarks/bench_unet.py --keep-start 0.3 0.5``) keeping half changed
        nothing from the shipped weights (0.9017 → 0.9012 mean IoU) and cost random ones
        0.006, so semantic mode keeps none by default. On nuclei of radius 32 px keeping
        half cost 0.05 AP@0.5 and 0.13 AP@0.75 (session 40, :data:`KEEP_RADIUS`). These
        were measured on painted strokes; trained on every pixel's truth (a whole label
        image) from the shipped weights, keeping half against ``keep_start=0`` was level
        over six scenes (AP@0.5 median +0.0005) and behind in both BBBC038 scenes (−0.012,
        −0.025; session 51): pass ``keep_start=0`` for whole label images of such nuclei.
    object_scale : float, optional
        The factor images are resized by (linearly; shrunk by area means) before the
        network and its autocontext forest learn from them or predict them; probabilities
        come back at the image's own pixels. None (default): in instance mode on 2D images,
        enough to bring the painted objects' typical radius up to 9 px
        (:data:`microlab._scale.OBJECT_RADIUS`; at most 2 times), else 1; a factor below 1
        shrinks. Chosen at the first fit (:attr:`scale`); fine-tuning keeps it. On real
        nuclei of radius 5.5 px the U-Net's objects went from AP@0.5 / AP@0.75 0.886 /
        0.712 to 0.922 / 0.772 (enlarged to radius 9; :mod:`microlab._scale`).
        Prediction costs the resized image's pixels.
    dimmed : bool or None
        Instance mode: train also on a copy of each annotated plane in which every painted
        object is dimmer by its own random factor, from 1 down to a tenth of its contrast
        over the background (:func:`microlab.deep.augment.dimmed_copy`; the noise topped
        up), the network and its autocontext forest alike, so that objects dimmer than the
        painted ones are found. The copies double the forest's training pixels. None
        (default): chosen at the first fit (:attr:`dimming`; fine-tuning keeps it): on where
        many blobs nobody painted are much dimmer than the painted objects
        (:func:`microlab.deep.augment.dim_blobs`: at least 10 % of them, and three, below
        half the painted objects' typical contrast, standing out from their
        surroundings and dim at a fine scale too, so that small bright specks do not
        count), as on the HeLa nuclei of ``docs/benchmarks.md`` and one half of the
        DSB 2018 crop, and off on generated nuclei, real nuclei of one brightness and the
        osteosarcoma sample (session 63). Measured there (20 bright nuclei painted in one
        half, 3-minute fits, four halves, same run): HeLa at its own size AP@0.5 / AP@0.75
        0.917 / 0.877 against 0.897 / 0.847 with ``dimmed=False`` (the dim nuclei found:
        missed 3.5 against 6.5 per half), at 0.4 times its size (radius 5.6 px) 0.858 /
        0.768 against 0.821 / 0.747. True or False: always or never. Semantic mode has no
        painted objects to dim (``dimmed=True`` there is an error; None is off).

    Examples
    --------
    >>> import numpy as np, microlab
    >>> from microlab.deep import UNetSegmenter
    >>> rng = np.random.default_rng(0)
    >>> image = np.where(np.arange(64) < 32, 0.2, 0.8) + rng.normal(0, 0.05, (64, 64))
    >>> scribbles = np.zeros((64, 64), np.uint8)
    >>> scribbles[30, 5:25] = 1; scribbles[30, 40:60] = 2
    >>> unet = UNetSegmenter(["dark", "bright"], width=0.25, pretrained=False, patch_size=64,
    ...                      batch_size=4, max_steps=5, progress=False)
    >>> unet = unet.fit(image, scribbles)  # doctest: +SKIP
    >>> unet.predict_proba(image).shape  # doctest: +SKIP
    (2, 64, 64)

    Real training takes minutes on a CPU (``max_minutes`` bounds it):

    >>> image, truth = microlab.data.sandstone()  # doctest: +SKIP
    >>> unet = UNetSegmenter(microlab.data.SANDSTONE_CLASSES, max_minutes=10)  # doctest: +SKIP
    >>> unet.fit(image, microlab.labels.scribbles_from_truth(truth, 0.01))  # doctest: +SKIP
    """

    kind: ClassVar[str] = KIND

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        *,
        colors: Sequence | None = None,
        mode: str = "semantic",
        encoder: str = "mobilenet_v2",
        width: float = 0.5,
        pretrained: bool | str | os.PathLike = True,
        weights: str | os.PathLike | None = None,
        patch_size: int = 128,
        batch_size: int = 8,
        predict_batch_size: int = 4,
        predict_precision: str = "auto",
        max_epochs: int = 100,
        max_steps: int | None = None,
        max_minutes: float | None = None,
        steps_per_epoch: int = 25,
        patience: int = 10,
        learning_rate: float | None = None,
        class_weight: str | None = "auto",
        device: str = "auto",
        boundary_width: int = 2,
        channel_axis: int | None = None,
        seed: int | None = 0,
        progress: bool = True,
        autocontext: bool = True,
        forest_weight: float = 0.7,
        pseudo_labels: bool = False,
        keep_start: float | None = None,
        object_scale: float | None = None,
        dimmed: bool | None = None,
    ) -> None:
        from .._scale import check_object_scale

        self._set_mode(mode, classes, colors)
        self.object_scale = check_object_scale(object_scale)
        if not isinstance(encoder, str):
            raise TypeError(f"encoder must be an encoder name (str), got {encoder!r}")
        self.encoder = encoder
        self.width = float(_positive(width, "width"))
        self.weights = None if weights is None else os.fspath(weights)
        if self.weights is not None and not os.path.exists(self.weights):
            raise FileNotFoundError(f"no such weights file: {self.weights}")
        self.pretrained = (pretrained_file(pretrained, self.encoder, self.width)
                           if self.weights is None else None)
        self.input_skip = True
        patch_size = _positive(patch_size, "patch_size", numbers.Integral)
        if patch_size % 32:
            raise ValueError(f"patch_size must be a multiple of 32, got {patch_size}")
        self.patch_size = int(patch_size)
        self.batch_size = int(_positive(batch_size, "batch_size", numbers.Integral))
        self.predict_batch_size = int(_positive(predict_batch_size, "predict_batch_size",
                                                numbers.Integral))
        self.predict_precision = check_precision(predict_precision)
        self.max_epochs = int(_positive(max_epochs, "max_epochs", numbers.Integral))
        self.max_steps = _positive(max_steps, "max_steps", numbers.Integral, allow_none=True)
        self.max_minutes = _positive(max_minutes, "max_minutes", allow_none=True)
        self.steps_per_epoch = int(_positive(steps_per_epoch, "steps_per_epoch", numbers.Integral))
        self.patience = int(_positive(patience, "patience", numbers.Integral))
        self.learning_rate = _positive(learning_rate, "learning_rate", allow_none=True)
        if class_weight not in ("auto", "balanced", None):
            raise ValueError(f"class_weight must be 'auto', 'balanced' or None, got "
                             f"{class_weight!r}")
        if class_weight == "auto":
            class_weight = "balanced" if mode == "instance" else None
        self.class_weight = class_weight
        self.device = resolve_device(device)
        self.boundary_width = int(_positive(boundary_width, "boundary_width", numbers.Integral))
        self.channel_axis = channel_axis
        self.seed = seed
        self.progress = progress
        self.autocontext = bool(autocontext)
        if isinstance(forest_weight, bool) or not isinstance(forest_weight, numbers.Real) \
                or not 0 <= forest_weight <= 1:
            raise ValueError(f"forest_weight must be a number from 0 to 1, got {forest_weight!r}")
        self.forest_weight = float(forest_weight)
        if not isinstance(pseudo_labels, (bool, np.bool_)):
            raise TypeError(f"pseudo_labels must be True or False, got {pseudo_labels!r}")
        if pseudo_labels and mode != "instance":
            raise ValueError("pseudo_labels is for mode='instance' (it adds the whole objects "
                             "the network is sure of to the annotations); leave it False in "
                             "semantic mode")
        self.pseudo_labels = bool(pseudo_labels)
        if keep_start is not None and (isinstance(keep_start, bool) or not isinstance(
                keep_start, numbers.Real) or not 0 <= keep_start < 1):
            raise ValueError(f"keep_start must be a number from 0 to below 1 (the share of "
                             f"the start weights kept after a fit), or None for the "
                             f"default; got {keep_start!r}")
        self.keep_start = None if keep_start is None else float(keep_start)
        if dimmed is not None and not isinstance(dimmed, (bool, np.bool_)):
            raise TypeError(f"dimmed must be True, False or None (chosen from the data at "
                            f"the first fit), got {dimmed!r}")
        if dimmed and mode != "instance":
            raise ValueError("dimmed is for mode='instance' (it dims each painted object by "
                             "its own factor); leave it False in semantic mode")
        self.dimmed = None if dimmed is None else bool(dimmed)
        self.dimming: bool | None = None  # chosen at the first fit (dimmed=None)
        self._dim_count: tuple[int, int] | None = None  # (dim, blobs) where it was chosen
        self._radius: float | None = None  # the painted objects' at the last fit
        self._painted: int | None = None  # how many objects the last fit's strokes paint
        self._forest = None  # the autocontext forest, trained at every fit
        self._forest_prior = True  # the network corrects the forest (False: older files)
        self.fit_info: dict = {}
        self.history: dict = {}
        self._network = None
        self._fast = None  # the prediction copy of the network (see _inference_network)
        self._ndim: int | None = None
        self._untrained()

    # ------------------------------------------------------------------ state
    def _trained(self):
        return self._network

    @property
    def context(self) -> int:
        """Pixels of context a region's prediction needs on each side: 160 (5 × 32), plus
        the autocontext forest's halo where there is one.

        A U-Net sees far (its receptive field spans hundreds of pixels), but what lies
        further from a pixel than this barely changes its prediction: a region predicted
        with 160 pixels of image around it (on the :attr:`alignment` grid) gets
        probabilities within about 0.02 of the whole image's (labels differ on about one
        pixel in 10⁴), so tiled prediction with this context matches whole-image
        prediction to that tolerance. Measured with the default network fine-tuned on
        sandstone (tiles of 200 and 256 px on a 1000² image): 96 px gave up to 0.10
        (labels differ on 0.2 %), 128 px 0.07 (0.1 %), 192 px 0.002. Pass a smaller
        ``context`` to :func:`microlab.predict_tiled` to trade exactness for speed.
        """
        return self._own_pixels(CONTEXT + (0 if self._forest is None else self._forest.context))

    @property
    def alignment(self) -> int:
        """32: input windows start on multiples of the encoder's total stride.

        The encoder pools by 2 five times, so a window starting on a multiple of 32 pools
        the same pixels together as the whole image does. With an autocontext forest, the
        least common multiple of 32 and the forest's grid.
        """
        if self._forest is None:
            return ALIGNMENT
        return int(np.lcm.reduce([ALIGNMENT, *np.atleast_1d(self._forest.alignment)]))

    def _few_painted(self) -> bool:
        """Whether the last fit's strokes paint fewer than
        :data:`~.autocontext.FEW_OBJECTS` whole objects (instance mode), so that the
        forest's share follows its sureness (:func:`~.autocontext.blend_proba`)."""
        from .autocontext import FEW_OBJECTS

        return self._painted is not None and self._painted < FEW_OBJECTS

    def _inputs(self) -> int:
        """Input channels of the network: the image's, plus one per class with autocontext."""
        return self._channels + (len(self.classes) if self.autocontext else 0)

    @property
    def description(self) -> str:
        """The autocontext forest and its share of the prediction, or ``""`` without one.

        Examples
        --------
        >>> print(UNetSegmenter(["a", "b"], autocontext=True, forest_weight=0.7).description)
        it learns with a Random Forest trained on the same strokes (autocontext), and its
        prediction is 70 % the forest's
        >>> UNetSegmenter(["a", "b"], autocontext=False).description
        ''
        """
        parts = [self._scale_note()] if self.scale != 1 else []
        if self.dimming and self.dimmed is None:
            dim, blobs = self._dim_count or (None, None)
            parts.append("it also learns from copies with the painted objects dimmed" + (
                "" if dim is None else f", as {dim} of {blobs} unpainted blobs are less than "
                "half as bright as the painted ones"))
        if self.autocontext:
            parts.append("it learns with a Random Forest trained on the same strokes "
                         "(autocontext), and its prediction is "
                         f"{round(100 * self.forest_weight)} % the forest's" + (
                             "" if not (self._few_painted() and self.forest_weight) else
                             " where the forest is sure whether a pixel lies on an object, "
                             f"less where it is not (only {self._painted} painted)"))
        return "; ".join(parts)

    def __repr__(self) -> str:
        state = f"{self._channels} channel(s)" if self.is_fitted else "not trained"
        return (f"UNetSegmenter(classes={self.classes}, mode={self.mode!r}, "
                f"encoder={self.encoder!r}, width={self.width}, {state})")

    def _config(self) -> dict:
        return {
            "classes": self.classes,
            "colors": self.colors,
            "mode": self.mode,
            "encoder": self.encoder,
            "width": self.width,
            "input_skip": self.input_skip,
            "pretrained": None if self.pretrained is None else os.path.basename(self.pretrained),
            "in_channels": self._channels,
            "ndim": self._ndim,
            "normalisation": {"method": "percentile", "percentiles": list(PERCENTILES),
                              "ranges": [list(r) for r in self._ranges], "dtype": self._dtype},
            "patch_size": self.patch_size,
            "batch_size": self.batch_size,
            "learning_rate": self.fit_info.get("learning_rate", self._rate()),
            "class_weight": self.class_weight,
            "boundary_width": self.boundary_width,
            "channel_axis": self.channel_axis,
            "autocontext": self.autocontext,
            "forest_weight": self.forest_weight,
            "painted_objects": self._painted,
            "forest_prior": bool(self._prior()),
            "pseudo_labels": self.pseudo_labels,
            "keep_start": self.fit_info.get("keep_start", self._kept()),
            "object_scale": self.object_scale,
            "scale": self.scale,
            "dimmed": self.dimmed,
            "dimming": self.dimming,
        }

    def _build(self, in_channels: int, *, initialise: bool = True):
        """A new network for ``in_channels``; with ``initialise``, from the start weights."""
        import torch

        from .network import build_network
        from .weights import load_encoder, load_pretrained

        if self.seed is not None:
            torch.manual_seed(self.seed)
        try:
            network = build_network(self.encoder, self.width, in_channels, len(self.classes),
                                    input_skip=self.input_skip, prior=self._prior())
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"cannot build a U-Net with encoder={self.encoder!r}: {exc}. Use an encoder "
                "name of segmentation-models-pytorch, e.g. 'mobilenet_v2' or 'resnet18'"
            ) from exc
        if initialise and self.pretrained is not None:
            load_pretrained(network, self.pretrained, encoder=self.encoder, width=self.width,
                            task="nuclei" if self.mode == "instance" else None,
                            image_channels=self._channels)
        if initialise and self.weights is not None:
            load_encoder(network, self.weights, self.encoder)
        return network

    def _rate(self, radius: float | None = None) -> float:
        """The peak learning rate of a fit: ``learning_rate``, or by default
        :data:`FINE_TUNE_RATE` in instance mode from pretrained weights (head included)
        where the painted objects' typical ``radius`` (at the model's scale; None: not
        known) is at most :data:`KEEP_RADIUS`, else :data:`LEARNING_RATE`."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        if (self.mode == "instance" and self.pretrained is not None  # None with ``weights``
                and _start_sized(radius)):
            return FINE_TUNE_RATE
        return LEARNING_RATE

    def _kept(self, radius: float | None = None) -> float:
        """The share of its start weights a fit keeps: ``keep_start``, or by default
        :data:`KEEP_START` in instance mode where the painted objects' typical ``radius``
        (at the model's scale; None: not known) is at most :data:`KEEP_RADIUS`, else 0."""
        if self.keep_start is not None:
            return self.keep_start
        if self.mode != "instance" or not _start_sized(radius):
            return 0.0
        return KEEP_START

    def _prior(self) -> int:
        """How many trailing input channels the network adds to its logits (as logs)."""
        return len(self.classes) if self.autocontext and self._forest_prior else 0

    # ------------------------------------------------------------------ training
    def fit(
        self,
        images,
        annotations,
        *,
        progress=None,
        stop: threading.Event | None = None,
        plot: bool = False,
        callbacks: Sequence = (),
    ) -> UNetSegmenter:
        """Train (or, when already trained, fine-tune) from sparse annotations.

        Parameters
        ----------
        images : image or list of images
            ``microlab.Image`` or arrays ``(Y, X)`` / ``(Z, Y, X)`` (``channel_axis`` for
            channels), all with the same channels; 3D stacks are used slice by slice.
        annotations : array or list of arrays
            One layer per image, same spatial shape, 0 = unlabelled, 1..C = classes (in
            instance mode: 1 = background, 2 = boundary, 3 = interior).
        progress : bool or callable, optional
            Show Lightning's progress bar; default: the ``progress`` given at construction.
            A callable gets a report after every step instead (``fraction``, ``seconds``,
            ``step``, ``loss``, ``remaining``: :class:`microlab.deep.callbacks.Report`).
        stop : threading.Event, optional
            Once set (e.g. from another thread), training ends after the current step
            (:class:`microlab.deep.callbacks.StopOnEvent`): the best weights so far are
            kept and ``self.stopped`` is True.
        plot : bool
            Draw the loss and validation curves live in the notebook while training
            (:class:`microlab.deep.callbacks.LivePlot`); afterwards ``self.history`` holds
            them (plot again with :func:`microlab.deep.plot_history`).
        callbacks : sequence of lightning.Callback
            Extra Lightning callbacks for the trainer.

        Returns
        -------
        UNetSegmenter
            ``self``, trained. A set ``stop`` or Ctrl-C (the notebook's stop button) ends
            training cleanly: the best weights so far are kept and ``self.stopped`` is
            True (Ctrl-C also warns); ``self.fit_info`` records the steps, epochs and best
            validation loss.
        """
        from .callbacks import Report

        progress = self.progress if progress is None else progress
        started = time.monotonic()
        pairs = training_set(images, annotations, channel_axis=self.channel_axis,
                             same_ndim=False)
        # the scale is chosen at the first fit; fine-tuning keeps it
        pairs = self._scaled_pairs(pairs, choose=self._network is None)
        slices, layers = self._training_data(pairs)
        if self._network is None:
            self._network = self._build(self._inputs())
        self._radius = self._painted = None
        if self.mode == "instance":  # the painted objects: their typical size and number
            areas = painted_areas([layer for _, layer in pairs])
            self._radius, self._painted = area_radius(areas), int(areas.size)
        kept = self._kept(self._radius)
        start = {k: v.detach().clone() for k, v in self._network.state_dict().items()} \
            if kept > 0 else None
        self.stopped = False
        self._fast = None
        minutes = self.max_minutes
        if minutes is not None:  # the autocontext forest's time counts in the budget
            minutes = max(minutes - (time.monotonic() - started) / 60, 1 / 60)
        extra = list(callbacks)
        if callable(progress):  # reports over the training's own budget, not the forest's
            extra.append(Report(progress, self._planned_steps(), minutes))
        if not self.pseudo_labels:
            self._train(slices, layers, progress=shows_bars(progress), stop=stop, plot=plot,
                        extra=extra, minutes=minutes)
        else:
            self._self_train(pairs, slices, layers, progress=progress, stop=stop, plot=plot,
                             callbacks=list(callbacks), minutes=minutes)
        if start is not None:
            self._keep(start, kept)
        self.fit_info["keep_start"] = kept
        self.fit_info["dimmed"] = bool(self.dimming)
        if self._painted is not None:
            self.fit_info["painted_objects"] = self._painted
        if self._dim_count is not None:
            self.fit_info["dim_blobs"] = self._dim_count
        del pairs, slices, layers
        release_memory()
        return self

    def _keep(self, start: dict, share: float) -> None:
        """Set the network's weights to ``share`` × ``start`` + (1 − ``share``) × trained
        (floating-point tensors: weights and normalisation statistics; counters stay)."""
        import torch

        trained = self._network.state_dict()
        with torch.no_grad():
            for name, value in trained.items():
                if value.is_floating_point():
                    value.lerp_(start[name].to(value.device, value.dtype), share)
        self._fast = None

    def _planned_steps(self) -> int | None:
        """Training steps ``max_steps`` or ``max_epochs`` plan (None: neither)."""
        return self.max_steps or (self.max_epochs * self.steps_per_epoch
                                  if self.max_epochs else None)

    def _self_train(self, pairs, slices, layers, *, progress, stop, plot,
                    callbacks: list, minutes: float | None) -> None:
        """:meth:`fit` with ``pseudo_labels``: train half the budget, add what the network
        is sure of to the annotations (:func:`~microlab.labels.pseudo.confident_annotations`),
        train the other half on both."""
        from ..labels.boundary import BOUNDARY, INTERIOR
        from ..labels.pseudo import confident_annotations
        from ..postprocess import instances
        from .callbacks import Report

        deadline = None if minutes is None else time.monotonic() + 60 * minutes
        budget = self._planned_steps()

        def phase(start: float, span: float, minutes_left: float | None) -> list:
            if not callable(progress):
                return list(callbacks)

            def scaled(report: dict) -> None:  # one bar over both halves
                report = dict(report, fraction=start + span * report.get("fraction", 0.0))
                if report.get("remaining") is not None and start == 0:
                    report["remaining"] = 2 * report["remaining"] + report["seconds"]
                progress(report)

            return [*callbacks, Report(scaled, budget and -(-budget // 2), minutes_left)]

        first = None if minutes is None else minutes / 2
        # both halves hold out the same blocks of the person's annotations for validation
        seed = self.seed if self.seed is not None else int(np.random.default_rng().integers(
            2**31))
        plotter = self._train(slices, layers, progress=shows_bars(progress), stop=stop,
                              plot=plot, extra=phase(0.0, 0.5, first), minutes=first,
                              share=0.5, seed=seed)
        if self.stopped:
            return
        added, pseudo = 0, []
        for array, layer in pairs:
            out = []
            for plane, annotation in _planes(array, layer):
                if not annotation.any():
                    out.append(annotation)
                    continue
                proba = self._proba(np.ascontiguousarray(plane))
                objects = instances(proba, kind="boundary")
                more = confident_annotations(proba, objects, annotation,
                                             width=self.boundary_width)
                new = (more != annotation) & np.isin(more, (BOUNDARY, INTERIOR))
                added += len(np.unique(objects[new]))  # each added object, touching or not
                out.append(more)
            pseudo.append((array, out[0] if array.ndim == 3 else np.stack(out)))
        slices, more = self._training_data(pseudo)
        rest = None if deadline is None else max(deadline - time.monotonic(), 1.0) / 60
        first_info = dict(self.fit_info)
        self._fast = None
        self._train(slices, more, progress=shows_bars(progress), stop=stop, plot=plot,
                    extra=phase(0.5, 0.5, rest), minutes=rest, share=0.5,
                    validate_on=layers, seed=seed, before=self.history, plotter=plotter)
        self.fit_info = {**self.fit_info, "steps": first_info.get("steps", 0)
                         + self.fit_info.get("steps", 0),
                         "pseudo_labels": {"objects": added, "labelled": float(np.mean(
                             [np.mean(layer > 0) for layer in more]))}}

    def _training_data(self, pairs):
        """Normalised training planes (with the autocontext forest's channels, the forest
        trained on them) and their layers, from ``training_set``'s ``pairs``."""
        slices, layers = [], []
        channels = pairs[0][0].shape[0]
        ndim = pairs[-1][0].ndim - 1
        for array, layer in pairs:
            for plane, annotation in _planes(array, layer):
                if annotation.any():
                    slices.append(np.ascontiguousarray(plane))
                    layers.append(annotation)
        # instance mode: 4 (background or boundary) is no class of its own
        named = three_classes(layers) if self.mode == "instance" else layers
        _, self.classes = annotated_classes(named, self.classes)
        if not self.colors:
            self.colors = default_colors(len(self.classes))
        if self._network is not None and channels != self._channels:
            raise ValueError(
                f"this model was trained on {self._channels}-channel images; fine-tuning needs "
                f"images with the same channels, got {channels}"
            )
        self._channels, self._ndim = channels, ndim
        if self._ranges is None:  # fixed at the first fit: fine-tuning keeps the scale
            self._ranges = intensity_range(slices)
            self._dtype = str(pairs[0][0].dtype)
            self.dimming = self._choose_dimming(slices, named)
        if self.dimming:  # instance mode only; after the ranges: not renormalised back
            from .augment import dimmed_copy

            rng = np.random.default_rng(self.seed)
            slices = slices + [dimmed_copy(s, n, rng) for s, n in zip(slices, named,
                                                                      strict=True)]
            layers, named = layers + layers, named + named
        raw = slices
        slices = [normalise(s, self._ranges) for s in slices]
        if self.autocontext:
            from .autocontext import train_forest, training_inputs

            self._forest = train_forest(raw, named, self.classes, seed=self.seed)
            extra = training_inputs(self._forest, raw, named, seed=self.seed)
            slices = [np.concatenate([s, p.astype(s.dtype)]) for s, p in
                      zip(slices, extra, strict=True)]
        return slices, [lab.astype(np.int64) for lab in layers]

    def _choose_dimming(self, slices, named) -> bool:
        """``dimmed``, or where it is None whether the painted objects are much brighter
        than many unpainted blobs (:func:`~.augment.many_dim`; instance mode)."""
        if self.dimmed is not None or self.mode != "instance":
            return bool(self.dimmed)
        from .augment import dim_blobs, many_dim

        self._dim_count = dim_blobs(slices, named)
        return many_dim(*self._dim_count)

    def _train(self, slices, layers, *, progress: bool, stop: threading.Event | None,
               plot: bool, extra: list, minutes: float | None, share: float = 1.0,
               validate_on: list | None = None, seed: int | None = None,
               before: dict | None = None, plotter=None):
        """One Lightning run on ``layers``: ``share`` of the step/epoch budget, validation
        blocks held out of ``validate_on`` (default ``layers``; :func:`~.data.hold_out`)
        drawn with ``seed`` (default :attr:`seed`), the history going on from ``before``
        and, with ``plot``, drawn on by ``plotter`` (an earlier run's; returned)."""
        from lightning.pytorch.callbacks import EarlyStopping

        from .augment import make_augmenter
        from .callbacks import Deadline, History, KeepBest, LivePlot
        from .data import PatchDataModule, PatchSampler, class_weights, hold_out, validation_patches
        from .module import SegmentationModule, WarmupCosine
        from .trainer import fit, training

        deadline = None if minutes is None else time.monotonic() + 60 * minutes
        rng = np.random.default_rng(self.seed if seed is None else seed)
        train, val = hold_out(layers, rng, validate_on)
        size = int(np.ceil(self.patch_size * 1.5))
        train_set = PatchSampler(slices, train, size, self.steps_per_epoch * self.batch_size,
                                 rng.integers(2**31),
                                 same={OUTSIDE: BACKGROUND} if self.mode == "instance"
                                 else None)
        val_set = None
        if val is not None:
            val_set = validation_patches(slices, val, self.patch_size, 2 * self.batch_size,
                                         rng.integers(2**31))
        weights = (class_weights(train, len(self.classes)) if self.class_weight == "balanced"
                   else np.ones(len(self.classes), np.float32))
        steps = None if self.max_steps is None else max(1, round(self.max_steps * share))
        epochs = max(1, round(self.max_epochs * share))
        schedule = WarmupCosine(steps or epochs * self.steps_per_epoch,
                                None if minutes is None else minutes * 60)
        rate = self._rate(self._radius)
        module = SegmentationModule(self._network, weights, rate, schedule)
        data = PatchDataModule(train_set, val_set, self.batch_size,
                               make_augmenter(self.patch_size))
        best, history = KeepBest(), History(before)
        if plot:
            plotter = plotter or LivePlot(history)
            plotter.history = history  # the same figure goes on
        callbacks = [best, history, *([plotter] if plot else []), *extra]
        if deadline is not None:  # the budget counts Lightning's set-up too
            callbacks.append(Deadline(deadline, schedule))
        if val_set is not None:
            callbacks.append(EarlyStopping("val_loss", patience=self.patience, strict=False))
        self._network.train()
        interrupted = False
        with training(device=self.device, progress=progress, callbacks=callbacks, stop=stop,
                      max_epochs=epochs, max_steps=steps, max_minutes=minutes,
                      validate=val_set is not None) as trainer:
            try:
                interrupted = fit(trainer, module, datamodule=data)
            finally:
                best.restore(self._network)
                self._network.eval()
                self.history = history.records
                self.fit_info = {
                    "steps": int(trainer.global_step),
                    "epochs": int(trainer.current_epoch),
                    "best_val_loss": None if best.state is None else best.best,
                    "validation_pixels": sum(int((v > 0).sum()) for v in val or []),
                    "learning_rate": rate,
                }
        self.stopped = interrupted or (stop is not None and stop.is_set())
        if interrupted:
            warnings.warn("training was interrupted; the model keeps the best weights so far",
                          stacklevel=3)
        return plotter

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, image, *, progress: bool = False) -> np.ndarray:
        """Per-class probabilities ``(C, *spatial)`` float32 for one image.

        3D stacks are predicted slice by slice (``predict_batch_size`` planes at a time).
        The image is mirrored out to a multiple of 32 pixels and cropped back. An image far
        outside the intensities of the training images raises an
        :class:`~microlab.intensity.IntensityWarning`.
        """
        self._check_fitted()
        array = self._check_image(image)
        check_range(array, self._ranges, trained_dtype=self._dtype, what="this U-Net")
        return self._scaled_proba(array, lambda a: self._proba(a, progress=progress))

    def _proba(self, array: np.ndarray, *, progress: bool = False,
               precision: str | None = None) -> np.ndarray:
        """:meth:`predict_proba` of a checked ``(C, *spatial)`` array (in ``precision``,
        default :attr:`predict_precision`)."""
        import torch
        from tqdm.auto import tqdm

        spatial = array.shape[1:]
        raw = array
        array = normalise(array, self._ranges)
        image = array[None] if array.ndim == 3 else np.moveaxis(array, 1, 0)
        forest = None
        if self._forest is not None:
            from .autocontext import forest_planes

            forest = forest_planes(self._forest, raw[None] if raw.ndim == 3
                                   else np.moveaxis(raw, 1, 0))
        planes = network_input(image, forest)
        h, w = image.shape[-2:]
        device = next(self._network.parameters()).device
        out = np.empty((planes.shape[0], len(self.classes), h, w), np.float32)
        network = self._inference_network()
        batch = self.predict_batch_size
        starts = range(0, planes.shape[0], batch)
        precision = prediction_precision(precision or self.predict_precision, str(device))
        # layer outputs reuse freed pages (40 % faster on CPU; see microlab._memory)
        pixels = min(batch, planes.shape[0]) * planes.shape[1] * planes.shape[2]
        reuse = reuse_freed_memory() if pixels <= REUSE_PIXELS else contextlib.nullcontext()
        with reuse, torch.inference_mode(), torch.autocast(
                device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            for start in tqdm(starts, desc="predict", unit="batch", disable=not progress):
                x = torch.from_numpy(planes[start : start + batch]).permute(0, 3, 1, 2)
                logits = network(x.to(device).contiguous(memory_format=torch.channels_last))
                proba = torch.softmax(logits, dim=1, dtype=torch.float32)[..., :h, :w]
                out[start : start + batch] = proba.cpu().numpy()
        if forest is not None and self.forest_weight > 0:
            from .autocontext import blend_proba

            out = blend_proba(out, forest, self.forest_weight,
                              unsure_objects=self._few_painted())
        if len(spatial) == 2:
            return out[0]
        return np.ascontiguousarray(np.moveaxis(out, 1, 0))

    def _inference_network(self):
        """The network with batch norms folded, activations fused into the convolutions on a
        CPU and channels-last layout (:func:`~.network.inference_network`), the decoder's
        upsampling folded into its convolutions (:func:`~.upsampling.fuse_upsampling`),
        made once per fit."""
        from .network import inference_network
        from .upsampling import fuse_upsampling

        if self._fast is None:
            self._network.eval()
            self._fast = fuse_upsampling(inference_network(self._network))
        return self._fast

    def predict(self, image, *, progress: bool = False) -> np.ndarray:
        """Labels 1..C (the most probable class) for one image."""
        return labels_from_proba(self.predict_proba(image, progress=progress))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save weights (safetensors) and configuration (JSON) to one file, atomically."""
        self._check_fitted()
        tensors = {f"network.{k}": v.detach().cpu().numpy()
                   for k, v in self._network.state_dict().items()}
        config = self._config()
        if self._forest is not None:
            config["forest"], forest = self._forest._state()
            tensors.update({f"autocontext.{k}": v for k, v in forest.items()})
        write_model(path, KIND, FORMAT_VERSION, config, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto") -> UNetSegmenter:
        """Load a model written by :meth:`save`; refuses foreign or newer files with a reason."""
        import torch

        config, tensors, header = read_model(path, KIND, FORMAT_VERSION)
        state = {k.removeprefix("network."): torch.from_numpy(v) for k, v in tensors.items()
                 if k.startswith("network.")}
        name = os.path.basename(os.fspath(path))
        model = cls._restore(config, state, name,
                             f"written by microlab {header.get('microlab_version')}", device)
        if model.autocontext:
            from ..classic.forest import RandomForestSegmenter

            forest = {k.removeprefix("autocontext."): v for k, v in tensors.items()
                      if k.startswith("autocontext.")}
            if "forest" not in config or "importances" not in forest:
                raise ValueError(f"{name} is a damaged U-Net model file: its autocontext "
                                 "forest is missing")
            model._forest = RandomForestSegmenter._from_state(
                config["forest"], forest, name, header.get("microlab_version"))
        return model

    @classmethod
    def _restore(cls, config: dict, state: dict, name: str, origin: str,
                 device: str) -> UNetSegmenter:
        """A trained segmenter from a model file's ``config`` and the network's ``state``."""
        try:
            model = cls(
                config["classes"],
                colors=config["colors"],
                mode=config["mode"],
                encoder=config["encoder"],
                width=config["width"],
                patch_size=config["patch_size"],
                batch_size=config["batch_size"],
                learning_rate=config["learning_rate"],
                class_weight=config.get("class_weight", "auto"),
                boundary_width=config["boundary_width"],
                channel_axis=config["channel_axis"],
                device=device,
                pretrained=False,
                autocontext=config.get("autocontext", False),
                forest_weight=config.get("forest_weight", 0.5),
                pseudo_labels=bool(config.get("pseudo_labels", False)),
                keep_start=config.get("keep_start", 0.0),
                object_scale=config.get("object_scale"),
                dimmed=config.get("dimmed", False),  # older files: fitted without
            )
            model.dimming = bool(config.get("dimming", config.get("dimmed", False)))
            model.scale = float(config.get("scale", 1.0))  # older files: the image's own
            model.input_skip = bool(config.get("input_skip", False))
            model._forest_prior = bool(config.get("forest_prior", False))
            model._painted = config.get("painted_objects")  # older files: None, averaged
            channels = int(config["in_channels"])
        except KeyError as exc:
            raise ValueError(f"{name} is a damaged U-Net model file: missing {exc}") from exc
        model._channels, model._ndim = channels, config.get("ndim")
        network = model._build(model._inputs(), initialise=False)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(
                f"{name} holds weights that do not fit a U-Net with encoder "
                f"{config['encoder']!r} and width {config['width']} ({origin}): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        model._network = network.to(model.device).eval()
        model._ranges = [tuple(r) for r in config["normalisation"]["ranges"]]
        model._dtype = config["normalisation"].get("dtype")  # older files lack it
        return model

    # ------------------------------------------------------------------ bioimage.io
    def export_bioimageio(
        self,
        path: str | os.PathLike,
        image,
        *,
        authors,
        name: str | None = None,
        description: str | None = None,
        license: str = "CC-BY-4.0",
        tags: Sequence[str] = (),
        cite: Sequence[dict] = (),
        cover_image: str | os.PathLike | None = None,
        halo: int = CONTEXT,
    ):
        """Write this U-Net as a bioimage.io model package, for ilastik, deepImageJ, QuPath.

        The package (a zip, bioimage.io model format 0.5) holds TorchScript and PyTorch
        weights of the network with its softmax, the fixed intensity scaling microlab
        applies (``scale_linear`` + ``clip``: the training images' 1–99.8 % range → 0–1),
        test tensors (a window of ``image`` and this model's prediction of it), a cover
        (that window and its prediction), documentation and the training record; it
        passes ``bioimageio.core``'s test. :func:`microlab.deep.load_bioimageio` reads it
        back. :mod:`microlab.deep.bioimageio` describes the package in full. Needs the
        ``formats`` extra. (The Random Forest has no bioimage.io form: it stays in
        microlab's own model file.)

        Parameters
        ----------
        path : path
            The ``.zip`` to write, e.g. ``"nuclei.bioimageio.zip"``.
        image : image
            An image like the training images (the channels, ``channel_axis``), from which
            the test tensors and the cover are made: its centre, cut to at most 512 pixels
            a side (mirrored out where it is smaller than the package's smallest input).
            For a 3D stack, its middle plane (the package is 2D).
        authors : str, dict or list of them
            Who made the model: names, or dicts of bioimage.io author fields (``name``,
            ``affiliation``, ``email``, ``orcid``).
        name, description : str, optional
            Default: "microlab U-Net (classes…)" and a sentence naming the classes.
        license : str
            SPDX identifier of the weights' licence.
        tags : sequence of str
            Extra bioimage.io tags (e.g. the modality ``"fluorescence-light-microscopy"``
            and content ``"nuclei"``); 2d, pytorch, unet and the task are always there.
        cite : sequence of dict
            Extra citations (``{"text": ..., "doi": ...}``); the U-Net paper is cited.
        cover_image : path, optional
            A PNG or JPEG to show instead of the generated cover.
        halo : int
            Pixels tiling tools crop from each side of a tile (default: :attr:`context`,
            the margin after which tiles match a whole-image prediction); the smallest
            input is the next multiple of 32 above twice the halo.

        Returns
        -------
        pathlib.Path
            ``path``.

        Examples
        --------
        >>> unet.export_bioimageio("scribbles.bioimageio.zip", image,
        ...                        authors=["Ada Lovelace"])  # doctest: +SKIP
        PosixPath('scribbles.bioimageio.zip')
        """
        from .._scale import scale_words
        from .bioimageio import export_package

        self._check_fitted()
        if self._forest is not None:
            raise ValueError(
                "this U-Net takes an autocontext forest's probabilities as input, and a "
                "bioimage.io package holds a network only; train one with autocontext=False "
                "to export it"
            )
        if self.scale != 1:
            raise ValueError(
                f"this U-Net works on images {scale_words(self.scale)}, and a "
                "bioimage.io package predicts at the image's own scale; train one with "
                "object_scale=1 to export it"
            )
        array = self._check_image(image)
        plane = array if array.ndim == 3 else array[:, array.shape[1] // 2]
        return export_package(
            path, plane, predict=functools.partial(self._proba, precision="float32"),
            network=self._network, config=self._config(),
            training={"fit_info": self.fit_info, "history": self.history}, authors=authors,
            name=name, description=description, license=license, tags=tags, cite=cite,
            cover_image=cover_image, halo=halo, stride=ALIGNMENT)

    @classmethod
    def load_bioimageio(cls, path: str | os.PathLike, *, device: str = "auto"
                        ) -> UNetSegmenter:
        """Read a bioimage.io package written by :meth:`export_bioimageio` back as a
        segmenter that predicts what the exported one did.

        Only 2D U-Net packages microlab wrote can be read; a package of another
        architecture raises a ValueError saying what it holds. Nothing from the package
        is executed (the network is built by microlab, the weights loaded as tensors).
        Also :func:`microlab.deep.load_bioimageio` and :func:`microlab.load_segmenter`.

        Raises
        ------
        FileNotFoundError
            Where ``path`` does not exist.
        ValueError
            For a file that is not a valid bioimage.io model, or another architecture.
        """
        from .bioimageio import read_package

        config, state = read_package(path)
        return cls._restore(config, state, os.path.basename(os.fspath(path)),
                            "from a bioimage.io package", device)

