"""U-Net tier vs the Random Forest tier, on real sandstone micro-CT, in the same run.

Task (the deep-tier issue, targets 2 and 3): train on slice Sandstone_Versa0000 from the same
scribbles as ``bench_rf.py`` (1 % of each class's pixels, disks of radius 3 px, seeded by the
run; ``--fraction`` another share), predict slices 0050…0400, score the mean IoU over the 4
classes. Per run (seed):

* the Random Forest (defaults) trains to completion: the anchor of the run;
* the default U-Net (``UNetSegmenter()``: shipped pretrained weights, autocontext) trains
  for each budget of ``--minutes`` (a fresh model per budget; the budget covers the
  autocontext forest too). Its mean IoU is reported as predicted (network and forest
  averaged) and from the network alone (``forest_weight=0``), beside the forest's.
  Target: U-Net >= forest within 10 CPU-minutes; "cleaner": fewer specks;
* ``--plain`` adds the U-Net without autocontext (the previous default) at the largest budget;
* transfer learning: the default U-Net from the shipped weights vs from random
  initialisation, both for ``--transfer-minutes``. Target: pretrained - random >= +0.05;
  ``--pretrained`` lists the start weights compared (``true``: the shipped ones, ``false``:
  random initialisation, or a weights file from ``python -m microlab.deep.pretrain``), each
  scored as predicted and from its network alone; ``--keep-start 0.5`` trains them keeping
  none of their start weights (as the default in semantic mode) and also scores each keeping
  that share of them (``UNetSegmenter(keep_start=...)``, the instance-mode default 0.5);
* ``--dense M``: how far a model trained on slice 0000 can go on the test slices, whatever
  its strokes: the forest from the truth of 5 % of the pixels (drawn at random) and the
  default U-Net, from random and from the shipped weights, from the truth of every pixel for
  ``M`` minutes. What the scribble-trained models above can at most hope for;
* tiled inference: ``microlab.predict_tiled`` (defaults) of the last default U-Net and of the
  forest on a 4096² mosaic of test slices, in megapixels per second: the U-Net's first tiled
  call of the process and, warm, the median of the next three; the U-Net with its decoder's
  upsampling not folded into the convolutions (before session 26), also with its
  activations not fused into them (before session 23), and with the defaults before
  session 9 (float32, tiles of 512). Target: >= 2 Mpx/s.

Wrong specks: connected regions of one predicted class smaller than 10 pixels (8-connected)
where most pixels are not of that class in the truth, per megapixel, median over the test
slices: the isolated wrong pixels that make a map look noisy. (Small regions as such are
no fault: the truth of these slices has about 285 per Mpx, its small pores.)

Usage::

    python benchmarks/bench_unet.py [--minutes 2 5 10] [--transfer-minutes 3] [--runs 3]
        [--pretrained false true [FILE]] [--keep-start 0.5] [--dense 5] [--tiled]
        [--fraction 0.01] [--forest-blends sure both]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rf import TEST, TRAIN, load_slice
from bench_unet_nuclei import (
    BLENDS,
    blending,
    init_name,
    keeping,
    start_recorder,
    start_weights,
)

import microlab
from microlab.data import SANDSTONE_CLASSES
from microlab.measure import mean_iou

SPECK = 10
"""Pixels: a connected region of one class smaller than this is a speck."""


def specks(labels: np.ndarray, truth: np.ndarray) -> float:
    """Connected regions of one predicted class smaller than ``SPECK`` pixels and mostly
    wrong, per megapixel."""
    from scipy import ndimage

    count = 0
    for value in np.unique(labels):
        regions, _ = ndimage.label(labels == value, structure=np.ones((3, 3)))
        size = np.bincount(regions.ravel())
        wrong = np.bincount(regions.ravel(), weights=truth.ravel() != value,
                            minlength=size.size)
        small = (size < SPECK) & (wrong > size / 2)
        count += int(small[1:].sum())
    return count / (labels.size / 1e6)


def score(predict, tests) -> tuple[float, float]:
    """(mean IoU over the test slices, median specks per Mpx) of ``predict(image)``."""
    labels = [predict(image) for image, _ in tests]
    iou = float(np.mean([mean_iou(lab, truth, classes=4)
                         for lab, (_, truth) in zip(labels, tests, strict=True)]))
    return iou, float(np.median([specks(lab, truth)
                                 for lab, (_, truth) in zip(labels, tests, strict=True)]))


def network_alone(model):
    """Labels from the U-Net's network only (its autocontext forest's share set to 0)."""
    def predict(image):
        weight, model.forest_weight = model.forest_weight, 0.0
        try:
            return model.predict(image)
        finally:
            model.forest_weight = weight
    return predict


def blended(model, blend: str):
    """Labels from the U-Net with its network's and forest's probabilities combined by
    ``BLENDS[blend]`` (``--forest-blends``) instead of averaged."""
    def predict(image):
        with blending(blend):
            return model.predict(image)
    return predict


def tiled_speed(model, tests, side: int = 4096, **options) -> float:
    """Mpx/s of ``microlab.predict_tiled`` (defaults, or ``options``) on a side² mosaic of
    test slices."""
    image = np.zeros((side, side), tests[0][0].dtype)
    h, w = tests[0][0].shape
    for k, (y, x) in enumerate((y, x) for y in range(0, side, h) for x in range(0, side, w)):
        patch = tests[k % len(tests)][0]
        image[y : y + h, x : x + w] = patch[: side - y, : side - x]
    t0 = time.perf_counter()
    microlab.predict_tiled(model, image, progress=False, **options)
    return image.size / 1e6 / (time.perf_counter() - t0)


@contextlib.contextmanager
def without(model, *rewrites):
    """``model`` predicting with its inference network made without ``rewrites`` (names of
    :mod:`microlab.deep` rewrites: ``"fuse_activations"``, each convolution and its
    activation as separate calls, the network before session 23; ``"fuse_upsampling"``,
    the decoder's upsampled copies and concatenations made, before session 26)."""
    from microlab.deep import network, upsampling

    owners = {"fuse_activations": network, "fuse_upsampling": upsampling}
    kept = {name: getattr(owners[name], name) for name in rewrites}
    for name in rewrites:
        setattr(owners[name], name, lambda graph, *args: graph)
    model._fast = None
    try:
        model._inference_network()
        yield model
    finally:
        for name, function in kept.items():
            setattr(owners[name], name, function)
        model._fast = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="*", default=[2.0, 5.0, 10.0],
                        help="U-Net training budgets (one model each)")
    parser.add_argument("--transfer-minutes", type=float, default=3.0,
                        help="budget of the pretrained vs random-init comparison (0: skip)")
    parser.add_argument("--pretrained", nargs="+", default=["false", "true"],
                        help="start weights of the transfer comparison, each in the same run: "
                             "true (the shipped ones), false (random initialisation) or a "
                             "weights file")
    parser.add_argument("--plain", action="store_true",
                        help="also the U-Net without autocontext, at the largest budget")
    parser.add_argument("--keep-start", nargs="+", default=[], metavar="SHARE", type=float,
                        help="train the transfer U-Nets keeping none of their start weights "
                             "and score each also keeping each of these shares of them "
                             "(UNetSegmenter(keep_start=...))")
    parser.add_argument("--forest-blends", nargs="+", default=[], choices=list(BLENDS),
                        help="also score each U-Net of --minutes with its network's and "
                             "forest's probabilities combined each of these ways "
                             "(bench_unet_nuclei.BLENDS) instead of averaged")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=0.01,
                        help="share of each class's pixels the scribbles cover (default 1 %%, "
                             "the issue's; fewer strokes: where start weights should matter)")
    parser.add_argument("--tiled", action="store_true", help="measure tiled inference")
    parser.add_argument("--dense", type=float, default=0.0, metavar="MINUTES",
                        help="also train on the truth of every pixel (U-Net, for MINUTES) and "
                             "of 5 %% of them (forest): the ceiling (0: skip)")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    import torch

    from microlab.deep import UNetSegmenter

    train, train_truth = load_slice(args.data, TRAIN)
    tests = [load_slice(args.data, name) for name in TEST]
    rows: dict[str, list[tuple[float, float, float]]] = {}
    transfer: dict[str, list[float]] = {init_name(w): [] for w in args.pretrained}
    tiled: dict[str, list[float]] = {"U-Net predict_tiled, first call": [],
                                     "U-Net predict_tiled, warm": [],
                                     "U-Net upsampling not folded, warm": [],
                                     "U-Net activations not fused, warm": [],
                                     "U-Net float32, tile 512": [], "RF predict_tiled": []}

    def add(name, result, fit_s, run):
        rows.setdefault(name, []).append((*result, fit_s))
        print(f"run {run + 1}: {name:44s} mean IoU {result[0]:.4f}  wrong specks/Mpx "
              f"{result[1]:7.0f}  fit {fit_s:5.0f} s", flush=True)

    unet = rf = None
    for run in range(args.runs):
        scribbles = microlab.labels.scribbles_from_truth(train_truth, args.fraction, radius=3,
                                                           seed=run)
        rf = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=run)
        t0 = time.perf_counter()
        rf.fit(train, scribbles, progress=False)
        add("Random Forest", score(rf.predict, tests), time.perf_counter() - t0, run)
        for minutes in args.minutes:
            unet = UNetSegmenter(SANDSTONE_CLASSES, max_minutes=minutes, max_epochs=10_000,
                                 seed=run, progress=False)
            t0 = time.perf_counter()
            unet.fit(train, scribbles)
            fit_s = time.perf_counter() - t0
            add(f"U-Net {minutes:g} min", score(unet.predict, tests), fit_s, run)
            if unet.autocontext:
                add(f"U-Net {minutes:g} min, network alone", score(network_alone(unet), tests),
                    fit_s, run)
                for blend in args.forest_blends:
                    add(f"U-Net {minutes:g} min, blend {blend}", score(blended(unet, blend),
                                                                       tests), fit_s, run)
        if args.plain:
            minutes = max(args.minutes)
            plain = UNetSegmenter(SANDSTONE_CLASSES, max_minutes=minutes, max_epochs=10_000,
                                  seed=run, progress=False, autocontext=False)
            t0 = time.perf_counter()
            plain.fit(train, scribbles)
            add(f"U-Net {minutes:g} min without autocontext", score(plain.predict, tests),
                time.perf_counter() - t0, run)
        if args.transfer_minutes > 0:
            for weights in args.pretrained:
                name = init_name(weights)
                first = start_recorder()
                model = UNetSegmenter(SANDSTONE_CLASSES, max_minutes=args.transfer_minutes,
                                      max_epochs=10_000, seed=run, progress=False,
                                      pretrained=start_weights(weights),
                                      **({"keep_start": 0.0} if args.keep_start else {}))
                model.fit(train, scribbles, callbacks=[first])
                transfer[name].append(score(model.predict, tests)[0])
                print(f"run {run + 1}: transfer {name:12s} mean IoU {transfer[name][-1]:.4f}",
                      flush=True)
                for keep in args.keep_start:  # the same network, keeping some of its start
                    kept = f"{name}, keep {keep:g}"
                    with keeping(model, first.state, keep):
                        transfer.setdefault(kept, []).append(score(model.predict, tests)[0])
                    print(f"run {run + 1}: transfer {kept} mean IoU "
                          f"{transfer[kept][-1]:.4f}", flush=True)
                if model.autocontext:  # what the start weights do to the network itself
                    alone = f"{name}, network alone"
                    transfer.setdefault(alone, []).append(
                        score(network_alone(model), tests)[0])
                    print(f"run {run + 1}: transfer {alone} mean IoU "
                          f"{transfer[alone][-1]:.4f}", flush=True)
        if args.dense > 0:
            dense = np.random.default_rng(run).random(train_truth.shape) < 0.05
            sparse = np.where(dense, train_truth, 0).astype(np.uint8)
            model = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=run)
            t0 = time.perf_counter()
            model.fit(train, sparse, progress=False)
            add("Random Forest, truth of 5 % of the pixels", score(model.predict, tests),
                time.perf_counter() - t0, run)
            for weights in ("false", "true"):
                model = UNetSegmenter(SANDSTONE_CLASSES, max_minutes=args.dense,
                                      max_epochs=10_000, seed=run, progress=False,
                                      pretrained=start_weights(weights))
                t0 = time.perf_counter()
                model.fit(train, train_truth)
                add(f"U-Net {args.dense:g} min, every pixel's truth, {init_name(weights)}",
                    score(model.predict, tests), time.perf_counter() - t0, run)
        if args.tiled and unet is not None:
            # the first call of the process meets memory it never touched (and new shapes)
            tiled["U-Net predict_tiled, first call"].append(tiled_speed(unet, tests))
            tiled["U-Net predict_tiled, warm"].append(
                statistics.median(tiled_speed(unet, tests) for _ in range(3)))
            # before session 26: the decoder's upsampled copies and concatenations made
            with without(unet, "fuse_upsampling"):
                tiled["U-Net upsampling not folded, warm"].append(
                    statistics.median(tiled_speed(unet, tests) for _ in range(3)))
            # before session 23: also each convolution and its ReLU as two calls
            with without(unet, "fuse_upsampling", "fuse_activations"):
                tiled["U-Net activations not fused, warm"].append(
                    statistics.median(tiled_speed(unet, tests) for _ in range(3)))
            # the defaults before session 9: float32 everywhere, tiles of 512
            unet.predict_precision = "float32"
            tiled["U-Net float32, tile 512"].append(tiled_speed(unet, tests, tile=512))
            unet.predict_precision = "auto"
            tiled["RF predict_tiled"].append(tiled_speed(rf, tests))

    print(f"\nsandstone: train {TRAIN} ({args.fraction:.2%} scribbles, r=3), "
          f"test {len(TEST)} slices, "
          f"median of {args.runs} run(s); {torch.get_num_threads()} torch threads, device "
          f"{unet.device if unet is not None else '-'}")
    print(f"{'':44s} {'mean IoU':>9s} {'specks/Mpx':>11s} {'fit s':>7s}  per run")
    medians = {}
    for name, results in rows.items():
        med = [statistics.median(r[i] for r in results) for i in range(3)]
        medians[name] = med
        print(f"{name:44s} {med[0]:9.4f} {med[1]:11.0f} {med[2]:7.1f}  "
              f"{[round(r[0], 4) for r in results]}")
    forest = medians["Random Forest"][0]
    for minutes in args.minutes:
        name = f"U-Net {minutes:g} min"
        if name in medians:
            print(f"{name}: U-Net - forest = {medians[name][0] - forest:+.4f} mean IoU "
                  "(target >= 0 within 10 min)")
    if args.transfer_minutes > 0:
        print(f"\ntransfer learning, {args.transfer_minutes:g} min each (median; per run):")
        for name, values in transfer.items():
            print(f"  {name:12s} mean IoU {statistics.median(values):.4f}  "
                  f"{[round(v, 4) for v in values]}")
        for name, values in transfer.items():
            suffix = name[len(name.split(", ")[0]):]  # ", network alone", ", keep 0.5"
            base = transfer.get(f"random init{suffix}")
            if base is None or name.startswith("random init"):
                continue
            gain = statistics.median(values) - statistics.median(base)
            gains = ", ".join(f"{v - b:+.4f}" for v, b in zip(values, base, strict=True))
            target = ("; the target is on the prediction" if suffix.endswith("alone")
                      else "; target >= +0.05")
            print(f"  {name} - random init{suffix} = {gain:+.4f} (run by run {gains}"
                  f"{target})")
    if args.tiled:
        print("\ntiled inference on a 4096² mosaic (defaults unless said; median Mpx/s; per "
              "run):")
        for name, values in tiled.items():
            print(f"  {name:34s} {statistics.median(values):6.3f}  "
                  f"{[round(v, 3) for v in values]}")
        print("  target: U-Net >= 2 Mpx/s on CPU")


if __name__ == "__main__":
    main()
