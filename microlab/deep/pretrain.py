"""Pretrain the default U-Net on generated microscopy and real images; write shipped weights.

Run ``python -m microlab.deep.pretrain --help``. The network (the default
:class:`~microlab.deep.UNetSegmenter` architecture, one input channel) learns several tasks
at once, each with its own output channels of one shared head:

* ``nuclei``: touching fluorescent nuclei (:func:`microlab.data.synthetic_nuclei`), with
  ``--overlap`` in that share of the scenes nuclei lying over them
  (:func:`overlapping_nuclei`), as background / boundary / interior (the instance-mode
  classes);
  with ``--real-nuclei`` that share of them real nuclei instead (:func:`real_packs`: the
  isolated nuclei of the real fluorescence images in ``--data``, with the masks their own
  images give, packed touching; :mod:`microlab.data.real_nuclei`);
* ``phases``: multi-phase materials told apart by grey level
  (:func:`microlab.data.scenes.synthetic_phases`);
* ``cells``: cells with bright walls (:func:`microlab.data.scenes.synthetic_cells`);
* ``textures``: regions told apart by texture (:func:`microlab.data.scenes.synthetic_textures`);
* ``real``: real micrographs (``--data``: the sandstone slices outside 0050–0400 and the
  osteosarcoma channels) with self-made targets: the normalised image smoothed and cut at
  grey levels 1/3 and 2/3 into 3 phases. No ground-truth mask of any real image is used.

Every scene is degraded by blur, noise and uneven illumination and normalised like user
images (percentiles 1 and 99.8 → 0 and 1). With ``--autocontext`` the network is the one
the default U-Net trains: beside each scene it sees the probabilities of a forest trained on
simulated strokes of that scene (:func:`forest_channels`, classes shuffled among
:data:`SLOTS` channels), adds their logs to its logits, and learns to correct the forest;
all tasks share its outputs (output ``k`` corrects the forest's channel ``k``). The
encoder, decoder and shared first head layer are what
:class:`UNetSegmenter(pretrained=True) <microlab.deep.UNetSegmenter>` starts from; the last
layer is replaced by one for the user's classes (instance mode starts from the ``nuclei``
outputs). The weights go to a safetensors file with the recipe and the held-out
scores in its header, and a model card in Markdown beside it.

This module sits on top of :mod:`microlab.deep` (network, module, data, trainer, weights);
nothing in microlab imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._checks import spatial_image
from ..intensity import intensity_range, normalise
from .weights import shipped_path, write_pretrained

TASKS = {"nuclei": 3, "phases": 4, "cells": 3, "textures": 3, "real": 3}
SLOTS = max(TASKS.values())
"""Forest-probability input channels of autocontext pretraining: one per class slot."""
HELD_OUT = [f"Sandstone_Versa{i:04d}" for i in range(50, 401, 50)]
SCENE = 192
NUCLEI_RADIUS = (4.0, 16.0)
"""Range of the generated nuclei's radii (px): each scene draws its own smallest and largest."""
CHUNK = 16
"""Scenes per job when :func:`make_pool` draws them in worker processes."""
VARIED = {"elongation": (0.25, 0.7), "chromatin": (0.08, 0.35), "grain": (1.5, 4.0),
          "bright": (0.0, 0.06)}
"""Ranges each ``varied`` nuclei scene draws its look from (:func:`synthetic_nuclei`'s
``elongation``, ``chromatin`` strength and grain size, ``bright`` share): nuclei up to
about 4 times as long as wide, coarse dark chromatin, a few condensed bright nuclei, as in
real cultured-cell images."""


PACKED = {"spread": (1.0, 1.5), "density": (0.3, 0.6), "overlap": (0.0, 0.15),
          "degraded": 0.5}
"""How each scene of packed real nuclei (``real_nuclei``) is drawn: radii log-uniform from
radius ÷ ``spread`` to radius × ``spread`` around a radius drawn from the nuclei radius
range, nuclei covering ``density`` of the area, up to ``overlap`` of a nucleus over others,
and a share ``degraded`` of the scenes made harder by one of
:data:`microlab.data.real_nuclei.DEGRADATIONS`."""


def _nuclei(rng, size, overlap: float = 0.0, radius=NUCLEI_RADIUS, varied: bool = False,
            packs=(), packed: float = 0.0):
    """Touching nuclei, or in a share ``overlap`` of the scenes nuclei lying over others
    (:func:`overlapping_nuclei`), as background / boundary / interior; each scene's radii
    lie in ``radius``. ``varied`` draws each scene's elongation, chromatin texture and share
    of bright nuclei too (:data:`VARIED`). In a share ``packed`` of the scenes, real nuclei
    of ``packs`` are packed instead (:func:`_packed_nuclei`)."""
    from ..data import synthetic_nuclei
    from ..labels import boundary_labels

    if packed > 0 and packs and rng.random() < packed:
        return _packed_nuclei(rng, size, packs, radius)
    options = {"radius": tuple(sorted(rng.uniform(*radius, 2))), "blur": rng.uniform(0.5, 2),
               "noise": rng.uniform(0.01, 0.12), "illumination": rng.uniform(0, 0.5),
               "seed": int(rng.integers(2**31))}
    if varied:
        options.update(elongation=rng.uniform(*VARIED["elongation"]),
                       chromatin=(rng.uniform(*VARIED["chromatin"]),
                                  rng.uniform(*VARIED["grain"])),
                       bright=rng.uniform(*VARIED["bright"]))
    if overlap > 0 and rng.random() < overlap:
        image, objects = overlapping_nuclei((size, size), **options)
    else:
        image, objects = synthetic_nuclei((size, size), **options)
    return image, boundary_labels(objects, width=2)


def _packed_nuclei(rng, size, packs, radius):
    """Real nuclei of one of ``packs`` (``(nuclei, background, noise)`` of
    :func:`microlab.data.real_nuclei.isolated_nuclei`) packed touching as :data:`PACKED`
    says, as background / boundary / interior."""
    from ..data.real_nuclei import DEGRADATIONS, collage, degrade
    from ..labels import boundary_labels

    nuclei, background, noise = packs[int(rng.integers(len(packs)))]
    middle = float(rng.uniform(*radius))
    spread, density = rng.uniform(*PACKED["spread"]), rng.uniform(*PACKED["density"])
    over, seed = rng.uniform(*PACKED["overlap"]), int(rng.integers(2**31))
    image, truth = collage(nuclei, background, noise, middle, density, size, seed, over,
                           spread)
    if rng.random() < PACKED["degraded"]:
        kind = DEGRADATIONS[int(rng.integers(len(DEGRADATIONS)))]
        image = degrade(kind, image, truth, background, noise, middle, seed)
    return image, boundary_labels(truth, width=2)


def real_packs(data) -> tuple[list, dict]:
    """``(packs, counts)``: the first half (:func:`~microlab.data.real_nuclei.split_nuclei`)
    of the isolated nuclei of each real fluorescence image in ``data``, as ``(nuclei,
    background, noise)``, and how many nuclei each image gives."""
    from ..data.real_nuclei import isolated_nuclei, nuclei_sources, split_nuclei

    packs, counts = [], {}
    for name, image in nuclei_sources(data).items():
        nuclei, background, noise = isolated_nuclei(image)
        first = split_nuclei(nuclei)[0]
        packs.append((first, background, noise))
        counts[name] = len(first)
    return packs, counts


def overlapping_nuclei(shape, *, radius, blur, noise, illumination, seed, share=0.5, **look):
    """Touching nuclei with a second, sparser layer of nuclei lying over them.

    As in a thick sample seen from above: where a nucleus of the upper layer overlaps one
    below, their light adds up (a brighter lens) and the shared pixels go to the nucleus on
    top, as annotators draw them. Upper nuclei that would cover more than ``share`` of their
    own area over lower ones are left out.

    ``look`` (``elongation``, ``chromatin``, ``bright``) is passed on to
    :func:`microlab.data.synthetic_nuclei` for both layers. Returns ``(image, labels)`` like
    it.

    Examples
    --------
    >>> image, labels = overlapping_nuclei((96, 96), radius=(6, 9), blur=1.0, noise=0.05,
    ...                                    illumination=0.2, seed=3)
    >>> image.shape, bool(labels.max() > 10)
    ((96, 96), True)
    """
    from scipy import ndimage as ndi
    from skimage.segmentation import relabel_sequential

    from ..data import synthetic_nuclei

    rng = np.random.default_rng(seed)
    image, below = synthetic_nuclei(shape, radius=radius, blur=blur, noise=noise,
                                    illumination=illumination, seed=int(rng.integers(2**31)),
                                    **look)
    mean_area = np.pi * np.mean(radius) ** 2
    n = max(1, int(0.2 * np.prod(shape) / mean_area))
    light, above = synthetic_nuclei(shape, n, radius=radius, touching=False, blur=blur,
                                    noise=0.0, illumination=0.0,
                                    seed=int(rng.integers(2**31)), **look)
    light = light - light.min()
    index = np.arange(1, above.max() + 1)
    area = ndi.sum_labels(np.ones_like(above), above, index)
    over = ndi.sum_labels(below > 0, above, index)
    dropped = index[over > share * area]
    if dropped.size:  # their light too, with its blurred rim
        left_out = np.isin(above, dropped)
        light[ndi.binary_dilation(left_out, iterations=int(2 + 2 * blur))] = 0.0
        above[left_out] = 0
    image = image + light + rng.normal(0.0, noise / 2, shape) * np.sqrt(light)
    labels = below.copy()
    labels[above > 0] = above[above > 0] + below.max()
    return np.clip(image, 0, None).astype(np.float32), relabel_sequential(labels)[0]


def _scene(task: str, rng, size: int, real, overlap: float = 0.0, radius=NUCLEI_RADIUS,
           varied: bool = False, packs=(), packed: float = 0.0):
    from ..data.scenes import synthetic_cells, synthetic_phases, synthetic_textures

    common = {"blur": rng.uniform(0.3, 2.0), "noise": rng.uniform(0.01, 0.15),
              "illumination": rng.uniform(0, 0.4), "seed": int(rng.integers(2**31))}
    if task == "nuclei":
        return _nuclei(rng, size, overlap, radius, varied, packs, packed)
    if task == "phases":
        return synthetic_phases((size, size), int(rng.integers(2, 5)), **common)
    if task == "cells":
        return synthetic_cells((size, size), **common)
    if task == "textures":
        return synthetic_textures((size, size), 3, **common)
    return _real_phases(real[int(rng.integers(len(real)))], rng, size)


def _real_phases(image: np.ndarray, rng, size: int):
    """A random crop of a real image, labelled by cutting its smoothed grey levels in 3.

    The crop is normalised like any image (percentiles 1 and 99.8 → 0 and 1), smoothed
    (σ = 1.5 px) and cut at 1/3 and 2/3: targets a network can infer from the pixels.
    """
    from scipy import ndimage as ndi

    y = int(rng.integers(0, image.shape[0] - size + 1))
    x = int(rng.integers(0, image.shape[1] - size + 1))
    crop = image[y : y + size, x : x + size].astype(np.float32)
    smooth = ndi.gaussian_filter(normalise(crop[None], intensity_range([crop[None]]))[0], 1.5)
    return crop, (np.searchsorted([1 / 3, 2 / 3], smooth) + 1).astype(np.uint8)


def real_images(data: Path | None) -> tuple[list[np.ndarray], list[str]]:
    """The real images pretraining may use: not the held-out sandstone slices."""
    from ..io import read_image

    if data is None or not Path(data).is_dir():
        return [], []
    images, names = [], []
    for path in sorted(Path(data).glob("sandstone/images/*.tif")):
        if path.stem in HELD_OUT:
            continue
        images.append(np.asarray(read_image(path).data, np.float32))
        names.append(f"sandstone/images/{path.name}")
    for path in sorted(Path(data).glob("osteosarcoma/*.tif")):
        channels = spatial_image(read_image(path), "image")  # (C, Y, X)
        images.extend(np.asarray(c, np.float32) for c in channels)
        names.append(f"osteosarcoma/{path.name} ({len(channels)} channels)")
    return images, names


def forest_channels(raw: np.ndarray, labels: np.ndarray, rng) -> np.ndarray:
    """A forest's probabilities ``(SLOTS, S, S)`` for one scene, from simulated strokes.

    Strokes like a user's (:func:`microlab.labels.scribbles_from_truth`: 0.3–3 % of each
    class, brushes of radius 1–3) train the autocontext forest
    (:func:`microlab.deep.autocontext.train_forest`) on the raw scene; its probabilities of
    class ``c`` go to slot ``c - 1``, slots of classes the strokes missed stay 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.ones((64, 64), np.uint8)
    >>> labels[:, 32:] = 2  # two phases, dark and bright
    >>> raw = np.where(labels == 2, 0.8, 0.2) + rng.normal(0, 0.05, labels.shape)
    >>> proba = forest_channels(raw.astype(np.float32), labels, rng)
    >>> proba.shape, float(proba[2:].max())  # slots 3 and 4: no such classes
    ((4, 64, 64), 0.0)
    >>> bool(proba[0, :, :24].mean() > 0.7), bool(proba[1, :, 40:].mean() > 0.7)
    (True, True)
    """
    from ..labels import scribbles_from_truth
    from .autocontext import forest_proba, train_forest

    strokes = scribbles_from_truth(labels, float(rng.uniform(0.003, 0.03)),
                                   radius=int(rng.integers(1, 4)),
                                   seed=int(rng.integers(2**31)))
    present = np.unique(strokes[strokes > 0])
    out = np.zeros((SLOTS, *labels.shape), np.float32)
    if present.size < 2:
        out[present - 1] = 1.0
        return out
    lut = np.zeros(int(present.max()) + 1, np.uint8)
    lut[present] = np.arange(1, present.size + 1)
    forest = train_forest([raw[None]], [lut[strokes]], [str(c) for c in present],
                          seed=int(rng.integers(2**31)))
    out[present - 1] = forest_proba(forest, raw[None].astype(np.float32))
    return out


def make_pool(n_per_task: int, size: int, seed: int, real, progress: bool = True,
              autocontext: bool = False, overlap: float = 0.0, radius=NUCLEI_RADIUS,
              workers: int | None = None, varied: bool = False, packs=(),
              packed: float = 0.0) -> dict:
    """``{task: (images (N,1,S,S) float32 normalised, labels (N,S,S) int64)}``.

    With ``autocontext``, images are ``(N, 1 + SLOTS, S, S)``: each scene's image, then the
    probabilities of a forest trained on simulated strokes of it (:func:`forest_channels`).
    ``radius`` is the range of the nuclei's radii, ``varied`` varies their look
    (:data:`VARIED`); in a share ``packed`` of the nuclei scenes real nuclei of ``packs``
    are packed instead (:func:`real_packs`). With ``workers``, the scenes are drawn in
    that many processes, in jobs of :data:`CHUNK` scenes seeded by ``(seed, task, job)``:
    the pool then depends on ``seed`` alone, not on the number of workers (without
    ``workers``, one random stream in this process, as the shipped weights were made).

    Examples
    --------
    >>> one = make_pool(3, 48, seed=0, real=[], progress=False, workers=1)
    >>> two = make_pool(3, 48, seed=0, real=[], progress=False, workers=2)
    >>> sorted(one), one["nuclei"][0].shape
    (['cells', 'nuclei', 'phases', 'textures'], (3, 1, 48, 48))
    >>> all(np.array_equal(one[t][0], two[t][0]) for t in one)
    True
    """
    from tqdm.auto import tqdm

    tasks = _tasks(real)
    bar = tqdm(total=n_per_task * len(tasks), desc="scenes", disable=not progress)
    if workers is None:
        rng = np.random.default_rng(seed)
        pool = {task: _draw(task, n_per_task, rng, size, real, autocontext, overlap, radius,
                            bar.update, varied, packs, packed) for task in tasks}
        bar.close()
        return pool
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no forked torch or thread pools
    with concurrent.futures.ProcessPoolExecutor(max(1, workers), mp_context=context,
                                                initializer=_keep_real,
                                                initargs=(real, packs)) as pool:  # once each
        futures = {task: [pool.submit(_draw, task, min(CHUNK, n_per_task - start),
                                      (seed, k, start // CHUNK), size, None, autocontext,
                                      overlap, radius, None, varied, None, packed)
                          for start in range(0, n_per_task, CHUNK)]
                   for k, task in enumerate(tasks)}
        for future in concurrent.futures.as_completed(
                [f for parts in futures.values() for f in parts]):
            bar.update(len(future.result()[1]))
    bar.close()
    return {task: tuple(np.concatenate([f.result()[i] for f in parts]) for i in (0, 1))
            for task, parts in futures.items()}


_REAL: list = []
"""A worker process's copy of the real images (:func:`make_pool` with ``workers``)."""
_PACKS: list = []
"""A worker process's copy of the real nuclei to pack (:func:`real_packs`)."""


def _keep_real(real, packs=()) -> None:
    _REAL[:] = real
    _PACKS[:] = packs


def _draw(task, n, rng, size, real, autocontext, overlap, radius, tick=None, varied=False,
          packs=(), packed=0.0):
    """``n`` scenes of ``task`` as ``(images, labels)`` arrays; ``rng`` a generator or seed,
    ``real`` the real images and ``packs`` the real nuclei (None: the worker's copies)."""
    rng = np.random.default_rng(rng)
    real = _REAL if real is None else real
    packs = _PACKS if packs is None else packs
    images, labels = [], []
    for _ in range(n):
        image, label = _scene(task, rng, size, real, overlap, radius, varied, packs, packed)
        planes = normalise(image[None], intensity_range([image[None]]))
        if autocontext:
            planes = np.concatenate([planes, forest_channels(image, label, rng)])
        images.append(planes.astype(np.float32))
        labels.append(label.astype(np.int64))
        if tick is not None:
            tick()
    return np.stack(images), np.stack(labels)


def _tasks(real) -> list[str]:
    """The pretraining tasks: all of :data:`TASKS`, ``real`` only with real images."""
    return [t for t in TASKS if t != "real" or real]


def _offsets(tasks, shared: bool = False) -> dict:
    """Each task's ``(first output, outputs)``: one after the other, or all from 0."""
    offsets, start = {}, 0
    for task in tasks:
        offsets[task] = (0 if shared else start, TASKS[task])
        start += TASKS[task]
    return offsets


def scores(network, pool, offsets, device="cpu", slots: int = 0) -> dict:
    """Pixel accuracy and mean IoU of each task's head on held-out scenes.

    With forest channels (``slots``), also the forest's own mean IoU (``forest_mean_iou``:
    the most probable of its channels), which the network is there to improve on.
    """
    import torch

    from ..measure import mean_iou

    def miou(pred, labels, n):
        return round(float(np.mean([mean_iou(p, t, classes=n)
                                    for p, t in zip(pred, labels, strict=True)])), 4)

    out = {}
    network.eval()
    with torch.inference_mode():
        for task, (images, labels) in pool.items():
            start, n = offsets[task]
            logits = network(torch.from_numpy(images).to(device))[:, start : start + n]
            pred = logits.argmax(1).cpu().numpy() + 1
            out[task] = {"pixel_accuracy": round(float((pred == labels).mean()), 4),
                         "mean_iou": miou(pred, labels, n)}
            if slots:
                forest = images[:, 1 : 1 + n].argmax(1) + 1
                out[task]["forest_mean_iou"] = miou(forest, labels, n)
    return out


def pretrain(
    out: str | os.PathLike | None = None,
    *,
    encoder: str = "mobilenet_v2",
    width: float = 0.5,
    minutes: float | None = 20.0,
    steps: int | None = None,
    scenes: int = 96,
    patch_size: int = 128,
    batch_size: int = 8,
    learning_rate: float = 2e-3,
    data: str | os.PathLike | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    schedule_steps: int | None = None,
    callbacks: Sequence = (),
    autocontext: bool = False,
    overlap: float = 0.0,
    init: str | os.PathLike | None = None,
    nuclei_radius: tuple[float, float] = NUCLEI_RADIUS,
    workers: int | None = None,
    varied_nuclei: bool = False,
    real_nuclei: float = 0.0,
) -> dict:
    """Pretrain and write the weights file (and its model card); return the recipe/scores.

    The files are written only once training has ended, each atomically: a run that is
    interrupted (Ctrl-C, an error) leaves the files already at ``out`` as they were.

    Parameters
    ----------
    out : path, optional
        Weights file to write; default the shipped location for ``encoder``/``width``.
    encoder, width : str, float
        The architecture (as in :class:`~microlab.deep.UNetSegmenter`).
    minutes, steps : float, int, optional
        Training budget: stop at whichever comes first (None or 0: no such budget).
    scenes : int
        Generated scenes per task (192² each); patches are random crops of them.
    patch_size, batch_size, learning_rate : int, int, float
        Patch side, patches per step (each step one task), AdamW learning rate (cosine decay).
    data : path, optional
        The shared real-data folder (``sandstone/images``, ``osteosarcoma``); held-out
        sandstone slices 0050–0400 are never read.
    device : {"auto", "cpu", "cuda"}
    seed : int
    progress : bool
        Show progress: bars in a terminal; where the output goes to a file instead, a plain
        line a minute (:class:`~microlab.deep.callbacks.LogProgress`).
    schedule_steps : int, optional
        Length of the cosine decay in steps; by default the decay ends with the budget,
        ``steps`` or ``minutes`` (following the clock), whichever comes first, so a GPU
        run anneals at its end as a CPU run does.
    callbacks : sequence of lightning.Callback
        Extra Lightning callbacks for the trainer.
    autocontext : bool
        Pretrain the network the default :class:`~microlab.deep.UNetSegmenter` trains:
        the image plus the probabilities of a forest trained on simulated strokes of each
        scene (:data:`SLOTS` channels, classes shuffled among them), with the forest's
        log-probabilities added to its logits, so that it learns to correct a forest.
        All tasks share the head's :data:`SLOTS` outputs (output ``k`` corrects channel
        ``k``), which fine-tuning keeps for the user's classes.
    overlap : float
        Share of the ``nuclei`` scenes drawn with a second layer of nuclei lying over the
        first (:func:`overlapping_nuclei`: their light adds up, the shared pixels go to the
        nucleus on top); 0 for touching nuclei only.
    init : path, optional
        Go on from the weights of an earlier pretraining (a file this function wrote, with
        the same architecture, tasks and ``autocontext``) instead of random ones; recorded
        in the recipe, with that file's own recipe.
    nuclei_radius : (float, float)
        Range of the generated nuclei's radii in px (:data:`NUCLEI_RADIUS` by default).
    workers : int, optional
        Draw the scenes in that many processes (:func:`make_pool`; the scenes then depend
        on ``seed`` alone, whatever the number); by default in this process.
    varied_nuclei : bool
        Each nuclei scene draws its look from :data:`VARIED` (elongated nuclei, coarse
        chromatin, a few bright ones) instead of round-ish, finely textured nuclei.
        The ranges are recorded in the recipe (``recipe["varied_nuclei"]``), so the card
        of an older file says what it was drawn from even after :data:`VARIED` changes.
    real_nuclei : float
        Share of the nuclei scenes made of real nuclei instead (:func:`real_packs`): the
        isolated nuclei of the real fluorescence images in ``data`` (osteosarcoma, BBBC022,
        BBBC038), cut out with the masks their own images give (pseudo-labels, see
        :mod:`microlab.data.real_nuclei`), and packed touching as :data:`PACKED` says. Only
        the first half of each image's nuclei is used; the other half is left for the
        benchmarks (``bench_unet_nuclei.py --real --held-out-nuclei``). 0: none.

    Returns
    -------
    dict
        The configuration stored with the weights (recipe, data, held-out scores).

    Raises
    ------
    KeyboardInterrupt
        When Ctrl-C ended the training (nothing is written then).
    ValueError
        When ``overlap`` or ``real_nuclei`` is not a share from 0 to 1, ``real_nuclei`` is
        asked for without ``data``, or ``init`` was pretrained for another network or other
        tasks.
    FileNotFoundError
        When ``real_nuclei`` is asked for and ``data`` lacks one of its images.

    Examples
    --------
    >>> from microlab.deep.pretrain import pretrain
    >>> info = pretrain("tiny.safetensors", width=0.25, steps=2, scenes=2,
    ...                 minutes=None, progress=False)  # doctest: +SKIP
    >>> sorted(info["scores"])  # doctest: +SKIP
    ['cells', 'nuclei', 'phases', 'textures']
    """
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap is the share of nuclei scenes with nuclei lying over others, "
                         f"from 0 to 1; got {overlap!r}")
    if not 0.0 <= real_nuclei <= 1.0:
        raise ValueError(f"real_nuclei is the share of nuclei scenes made of real nuclei, "
                         f"from 0 to 1; got {real_nuclei!r}")
    if real_nuclei > 0 and data is None:
        raise ValueError("real_nuclei packs the nuclei of the real images in the shared data "
                         "folder: pass data= (on the command line, leave out --no-real)")
    import torch

    from .callbacks import LogProgress
    from .data import TaskBatches
    from .module import TaskModule, WarmupCosine
    from .network import build_network
    from .runtime import resolve_device
    from .trainer import fit, training

    device = resolve_device(device)
    minutes, steps = minutes or None, steps or None  # 0: no such budget
    path = Path(out) if out is not None else shipped_path(encoder, width)
    torch.manual_seed(seed)
    real, real_names = real_images(None if data is None else Path(data))
    t0 = time.perf_counter()
    offsets = _offsets(_tasks(real), shared=autocontext)
    heads = {t: list(v) for t, v in offsets.items()}  # as the weights file records them
    slots = SLOTS if autocontext else 0
    outputs = slots or sum(n for _, n in offsets.values())
    network = build_network(encoder, width, 1 + slots, outputs, prior=slots)
    earlier = None
    if init is not None:  # checked before minutes of scene making
        from .weights import read_pretrained

        earlier, state = read_pretrained(init)
        mismatch = [k for k, v in network.state_dict().items()  # counters are not kept
                    if not k.endswith("num_batches_tracked")
                    and (k not in state or state[k].shape != v.shape)]
        if mismatch or earlier.get("heads") != heads:
            raise ValueError(f"{init} was pretrained for another network or other tasks "
                             f"(first differing layer: {(mismatch or ['the heads'])[0]}); "
                             "start from a file written with the same --encoder, --width, "
                             "--autocontext and real data")
        network.load_state_dict(state, strict=False)
    radius = tuple(float(r) for r in nuclei_radius)
    if len(radius) != 2 or not 0 < radius[0] <= radius[1]:
        raise ValueError(f"nuclei_radius is the smallest and largest radius of the generated "
                         f"nuclei in px, 0 < smallest <= largest; got {nuclei_radius!r}")
    packs, counts = real_packs(data) if real_nuclei > 0 else ([], {})
    pool = make_pool(scenes, SCENE, seed, real, progress, autocontext, overlap, radius,
                     workers, varied_nuclei, packs, real_nuclei)
    held = make_pool(max(2, scenes // 8), SCENE, seed + 1, real, False, autocontext,
                     overlap, radius, workers, varied_nuclei, packs, real_nuclei)
    wider = build_network(encoder, width, 2 + slots, outputs).state_dict()
    input_layers = [k for k, v in network.state_dict().items() if v.shape != wider[k].shape]
    if schedule_steps:
        schedule = WarmupCosine(max(1, schedule_steps), warmup=0)
        decay = f"cosine decay over {schedule_steps} steps"
    else:  # whichever budget ends first ends the decay
        schedule = WarmupCosine(steps, (minutes or 0) * 60 or None, warmup=0)
        budgets = [f"{steps} steps"] if steps else []
        if minutes:
            budgets.append(f"{minutes:g} minute" + ("" if minutes == 1 else "s"))
        decay = ("cosine decay over the " + " or ".join(budgets) if budgets
                 else "constant rate (no budget)")
    module = TaskModule(network, offsets, learning_rate, schedule)
    batches = TaskBatches(pool, patch_size, batch_size, seed,
                          {t: TASKS[t] for t in pool} if autocontext else None)
    live = progress and sys.stderr.isatty()  # a live bar shows nothing in a log file
    lines = [LogProgress(steps, minutes)] if progress and not live else []
    with training(device=device, progress=live, callbacks=[*callbacks, *lines],
                  max_steps=steps, max_minutes=minutes, warn=progress) as trainer:
        loader = torch.utils.data.DataLoader(batches, batch_size=None)
        if fit(trainer, module, train_dataloaders=loader):
            raise KeyboardInterrupt(f"pretraining was interrupted; {path} is left as it was")
    network = network.to(device)
    figures = scores(network, held, offsets, device, slots)
    config = {
        "encoder": encoder, "width": width, "in_channels": 1, "input_skip": True,
        "autocontext": slots, "input_layers": input_layers,
        "heads": heads,
        "recipe": {"steps": int(trainer.global_step), "minutes": round((time.perf_counter()
                                                                         - t0) / 60, 1),
                   "scenes_per_task": scenes, "scene_size": SCENE, "patch_size": patch_size,
                   "batch_size": batch_size, "learning_rate": learning_rate,
                   "schedule": f"AdamW, {decay}",
                   "seed": seed, "device": device, "overlap": overlap,
                   "nuclei_radius": list(radius), "workers": workers,
                   "varied_nuclei": ({k: list(v) for k, v in VARIED.items()}
                                     if varied_nuclei else False),
                   "real_nuclei": ({"share": real_nuclei, "nuclei": counts,
                                    **{k: list(v) if isinstance(v, tuple) else v
                                       for k, v in PACKED.items()}}
                                   if real_nuclei > 0 else False),
                   "budget": {"minutes": minutes, "steps": steps,
                              "schedule_steps": schedule_steps},
                   "autocontext": autocontext, "real": bool(real),
                   **({"gpu": torch.cuda.get_device_name(device)}
                      if device.startswith("cuda") else {}),
                   "torch": torch.__version__,
                   **({"init": {"file": Path(init).name, "recipe": earlier["recipe"]}}
                      if earlier is not None else {})},
        "data": {"synthetic": [t for t in pool if t != "real"], "real": real_names,
                 "held_out": HELD_OUT},
        "scores": figures,
    }
    write_pretrained(path, config, network)
    _write_card(path.with_suffix(".md"), config, path.stat().st_size)
    return config


def lineage(config: dict) -> list[tuple[str | None, dict]]:
    """The pretrainings behind ``config``'s weights, first to last, as ``(file, recipe)``.

    A pretraining that went on from earlier weights (``--init``) records the earlier recipe,
    which may itself have gone on from others. The last entry is ``config``'s own recipe,
    with no file name (its file is wherever ``config`` was read from).

    Examples
    --------
    >>> first = {"steps": 8250}
    >>> second = {"steps": 3473, "init": {"file": "a.safetensors", "recipe": first}}
    >>> third = {"steps": 6706, "init": {"file": "b.safetensors", "recipe": second}}
    >>> [(f, r["steps"]) for f, r in lineage({"recipe": third})]
    [('a.safetensors', 8250), ('b.safetensors', 3473), (None, 6706)]
    """
    chain, recipe, name = [], config["recipe"], None
    while True:
        chain.append((name, recipe))
        if "init" not in recipe:
            return chain[::-1]
        name, recipe = recipe["init"]["file"], recipe["init"]["recipe"]


def command(config: dict, out: str | None = None) -> str:
    """The command line that runs the pretraining ``config`` records (its weights file's header).

    ``out``, when given, is passed as ``--out`` (the file a later pretraining's ``--init``
    names).

    Examples
    --------
    >>> recipe = {"budget": {"minutes": 5.5, "steps": None, "schedule_steps": None},
    ...           "scenes_per_task": 2048, "batch_size": 32, "overlap": 0.5,
    ...           "nuclei_radius": [4.0, 16.0], "workers": 7, "seed": 0, "device": "cuda",
    ...           "autocontext": False, "real": True}
    >>> line = command({"encoder": "mobilenet_v2", "width": 0.5, "recipe": recipe})
    >>> line.startswith("python -m microlab.deep.pretrain --device cuda --minutes 5.5")
    True
    >>> line.endswith("--scenes 2048 --batch-size 32 --overlap 0.5 --workers 7")
    True
    """
    recipe = config["recipe"]
    budget = recipe.get("budget", {})
    options = {"--encoder": config["encoder"] if config["encoder"] != "mobilenet_v2" else None,
               "--width": f"{config['width']:g}" if config["width"] != 0.5 else None,
               "--device": recipe["device"] if recipe["device"] != "cpu" else None,
               "--minutes": f"{budget.get('minutes') or 0:g}",
               "--steps": budget.get("steps"),
               "--schedule-steps": budget.get("schedule_steps"),
               "--scenes": recipe["scenes_per_task"] if recipe["scenes_per_task"] != 96
               else None,
               "--batch-size": recipe["batch_size"] if recipe["batch_size"] != 8 else None,
               "--learning-rate": (f"{recipe['learning_rate']:g}"
                                   if recipe.get("learning_rate", 2e-3) != 2e-3 else None),
               "--overlap": f"{recipe['overlap']:g}" if recipe.get("overlap") else None,
               "--nuclei-radius": ("{:g} {:g}".format(*recipe["nuclei_radius"])
                                   if tuple(recipe.get("nuclei_radius", NUCLEI_RADIUS))
                                   != NUCLEI_RADIUS else None),
               "--workers": recipe.get("workers"),
               "--real-nuclei": (f"{recipe['real_nuclei']['share']:g}"
                                 if recipe.get("real_nuclei") else None),
               "--seed": recipe["seed"] if recipe.get("seed") else None,
               "--init": recipe["init"]["file"] if "init" in recipe else None}
    flags = [f"--out {out}"] * (out is not None)
    flags += [f"{k} {v}" for k, v in options.items() if v is not None]
    flags += ["--autocontext"] * bool(recipe.get("autocontext")) + ["--no-real"] * (
        not recipe.get("real", True)) + ["--varied-nuclei"] * bool(recipe.get("varied_nuclei"))
    return " ".join(["python -m microlab.deep.pretrain", *flags])


def _write_card(path: Path, config: dict, size: int) -> None:
    recipe, data = config["recipe"], config["data"]
    slots = int(config.get("autocontext", 0))
    rows = "\n".join(f"| {task} | {s['pixel_accuracy']:.3f} | {s['mean_iou']:.3f} |"
                     + (f" {s['forest_mean_iou']:.3f} |" if slots else "")
                     for task, s in config["scores"].items())
    header = ("| task | pixel accuracy | mean IoU | the forest's mean IoU |\n|---|---|---|---|"
              if slots else "| task | pixel accuracy | mean IoU |\n|---|---|---|")
    inputs, strokes = "one input channel", ""
    if slots:
        inputs = (f"one image channel and {slots} channels of an autocontext forest's "
                  "probabilities, the forest's log-probabilities added to its logits")
        strokes = f"""
- Forest channels: for every scene, a forest (30 trees, microlab's filter bank) trained on
  simulated strokes (0.3–3 % of each class, brushes of radius 1–3 px); its probabilities
  fill one channel per class, classes shuffled among the {slots} channels in every patch, so
  the network learns to correct a forest whatever the classes are."""
    real = ", ".join(data["real"]) or "none"
    overlap = float(recipe.get("overlap", 0.0))
    radius = "{:g}–{:g} px".format(*recipe.get("nuclei_radius", NUCLEI_RADIUS))
    device = recipe["device"] + (f" ({recipe['gpu']})" if "gpu" in recipe else "")
    chain = lineage(config)
    again = ""
    if all("budget" in r for _, r in chain):  # older files do not record their budget
        lines = [command({**config, "recipe": r}, out=name) for name, r in chain]
        again = ("\n\nTo make them again (from the repository's root, `../shared/data` beside "
                 + (f"it):\n`{lines[0]}`" if len(lines) == 1 else "it), one after the other:"
                    + "".join(f"\n{i}. `{line}`" for i, line in enumerate(lines, 1))))
    before = chain[-2::-1]  # the earlier runs, the nearest first
    earlier = "".join(
        (", which went on from" if k else "\nThese steps went on from")
        + f" the weights of `{name}` ({r['steps']} steps on {r['device']}"
        + (f" ({r['gpu']})" if "gpu" in r else "")
        + f" in {r['minutes']} min, seed {r['seed']}, {r['schedule']})"
        for k, (name, r) in enumerate(before)) + (", not from random ones." if before else "")
    if recipe.get("varied_nuclei"):
        ranges = recipe["varied_nuclei"]  # the ranges drawn from (files before: True)
        ranges = ranges if isinstance(ranges, dict) else VARIED
        look = ", ".join(f"{k} {a:g}–{b:g}" for k, (a, b) in ranges.items())
        layers_varied = (f"\n- Each nuclei scene draws its nuclei's look ({look}: elongated "
                         "nuclei, coarse\n  dark chromatin, a few bright condensed nuclei).")
    else:
        layers_varied = ""
    packed = recipe.get("real_nuclei")
    if packed:
        counts = ", ".join(f"{n} {k}" for k, n in packed["nuclei"].items())
        layers_varied += (
            f"\n- {packed['share']:.0%} of the nuclei scenes are real nuclei packed touching "
            "instead: the first\n  half of the isolated nuclei of the real fluorescence "
            f"images ({counts}),\n  cut out with the masks their own images give (Otsu's "
            "level: pseudo-labels, not\n  annotations; BBBC022 and BBBC038 are CC0, Broad "
            "Bioimage Benchmark Collection),\n  radii spread "
            "{:g}–{:g}×, density {:g}–{:g}, overlap up to {:g}, {:.0%} degraded".format(
                *packed["spread"], *packed["density"], packed["overlap"][1],
                packed["degraded"]) + "\n  (`microlab.data.real_nuclei`).")
    layers = (f"\n- In {overlap:.0%} of the nuclei scenes a second, sparser layer of nuclei lies "
              "over the first:\n  their light adds up and the shared pixels go to the nucleus "
              "on top." if overlap else "") + layers_varied
    text = f"""# Model card: {path.stem}

Pretrained weights of microlab's default U-Net ({config['encoder']} encoder, decoder width
{config['width']:g}, {inputs}, full-resolution input skip in the head), written by
`python -m microlab.deep.pretrain` ({size / 1e6:.1f} MB, safetensors; the same recipe and
scores are in the file's header). `UNetSegmenter(pretrained="{path.stem}.safetensors")` starts
from them; `pretrained=True` from the file shipped in `microlab/deep/weights/`.

## Data
- Generated (seeded, reproducible): {', '.join(data['synthetic'])} scenes
  ({recipe['scenes_per_task']} per task, {recipe['scene_size']}² px), degraded by blur, noise
  and uneven illumination; nuclei of radius {radius}.{layers}{strokes}
- Real images (no ground-truth masks used; targets are the normalised image, smoothed and
  cut at grey levels 1/3 and 2/3): {real}.
- Sandstone 0000 is the slice whose scribbles train the U-Net in `benchmarks/bench_unet.py`:
  its image (not its mask) was seen here, with the self-made targets above.
- Held out, never read: sandstone slices {data['held_out'][0][-4:]}–{data['held_out'][-1][-4:]}
  (the evaluation slices of `benchmarks/bench_unet.py`).
- Licences: generated data is microlab's own (BSD-3-Clause); the real images are from
  bnsreenu/python_for_microscopists (MIT, see `microlab/data/ATTRIBUTION.md`).

## Recipe
{recipe['steps']} steps of {recipe['batch_size']} patches of {recipe['patch_size']}² px (each
step one task, round robin), {recipe['schedule']} from {recipe['learning_rate']:g}, flips and
90° rotations, on {device} in {recipe['minutes']} min (torch
{recipe['torch']}, seed {recipe['seed']}).{earlier}{again}

## Held-out scores (new scenes of each task)
{header}
{rows}

## Intended use and limits
A starting point for fine-tuning on a few scribbles (2D, any channel count: the first layer
is spread over the channels). It is not a general-purpose segmenter by itself: its outputs are
the pretraining tasks' classes. Images are expected to be normalised by microlab (percentiles
1 and 99.8 of the first training images).
"""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m microlab.deep.pretrain",
        description="Pretrain microlab's default U-Net and write its weights and model card.")
    parser.add_argument("--out", type=Path, default=None,
                        help="weights file (default: the shipped location in the package)")
    parser.add_argument("--encoder", default="mobilenet_v2")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--minutes", type=float, default=20.0, help="time budget")
    parser.add_argument("--steps", type=int, default=None, help="step budget")
    parser.add_argument("--scenes", type=int, default=96, help="generated scenes per task")
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[3] / "shared" / "data",
                        help="real images folder (sandstone/, osteosarcoma/)")
    parser.add_argument("--no-real", action="store_true", help="generated scenes only")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule-steps", type=int, default=None,
                        help="cosine decay length (default: the budget, --steps or "
                             "--minutes, whichever ends first)")
    parser.add_argument("--batch-size", type=int, default=8, help="patches per step")
    parser.add_argument("--learning-rate", type=float, default=2e-3,
                        help="AdamW's starting rate (cosine decay)")
    parser.add_argument("--nuclei-radius", type=float, nargs=2, default=NUCLEI_RADIUS,
                        metavar=("SMALLEST", "LARGEST"),
                        help="range of the generated nuclei's radii in px")
    parser.add_argument("--workers", type=int, default=None,
                        help="draw the scenes in this many processes")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="share of nuclei scenes with nuclei lying over others")
    parser.add_argument("--varied-nuclei", action="store_true",
                        help="vary the generated nuclei's elongation, chromatin texture and "
                             "share of bright nuclei")
    parser.add_argument("--real-nuclei", type=float, default=0.0, metavar="SHARE",
                        help="share of nuclei scenes made of real nuclei (cut out of the real "
                             "fluorescence images in --data) packed touching")
    parser.add_argument("--init", type=Path, default=None,
                        help="go on from the weights of an earlier pretraining")
    parser.add_argument("--autocontext", action="store_true",
                        help="pretrain to correct a forest's probabilities (as the default "
                             "U-Net is trained)")
    args = parser.parse_args(argv)
    config = pretrain(args.out, encoder=args.encoder, width=args.width, minutes=args.minutes,
                      steps=args.steps, scenes=args.scenes,
                      data=None if args.no_real else args.data, device=args.device,
                      seed=args.seed, schedule_steps=args.schedule_steps,
                      autocontext=args.autocontext, overlap=args.overlap, init=args.init,
                      batch_size=args.batch_size, nuclei_radius=tuple(args.nuclei_radius),
                      workers=args.workers, varied_nuclei=args.varied_nuclei,
                      learning_rate=args.learning_rate, real_nuclei=args.real_nuclei)
    print(json.dumps({"recipe": config["recipe"], "scores": config["scores"]}, indent=1))


if __name__ == "__main__":
    main()
