"""U-Net tier vs the Random Forest tier, on real sandstone micro-CT, in the same run.

Task (issue 4): train on slice Sandstone_Versa0000 from the same scribbles as
``bench_rf.py`` (1 % of each class's pixels, disks of radius 3 px, seeded by the run), predict
slices 0050…0400, score the mean IoU over the 4 classes. Per run:

* accuracy: the default U-Net (shipped pretrained weights) trains for ``--minutes``; the
  Random Forest trains to completion. Target: U-Net >= RF + 0.03 within 10 CPU-minutes.
* transfer learning: pretrained vs random initialisation, both for ``--transfer-minutes``.
  Target: pretrained > random init.
* tiled inference: ``microlab.predict_tiled`` with the trained default U-Net on a 4096²
  mosaic of test slices (default tile and overlap), in megapixels per second, beside the
  U-Net's whole-image ``predict`` and the Random Forest's tiled speed. Target: >= 1 Mpx/s.

Predict throughput columns are megapixels per second (U-Net: normalisation + network; RF:
features + forest).

Usage::

    python benchmarks/bench_unet.py [--minutes 10] [--transfer-minutes 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rf import TEST, TRAIN, load_slice

import microlab
from microlab.data import SANDSTONE_CLASSES
from microlab.measure import mean_iou


def score(model, tests) -> tuple[float, float]:
    """Mean IoU over the test slices and predict throughput in Mpx/s."""
    ious, seconds, mpx = [], 0.0, 0.0
    for image, truth in tests:
        t0 = time.perf_counter()
        pred = model.predict(image)
        seconds += time.perf_counter() - t0
        mpx += image.size / 1e6
        ious.append(mean_iou(pred, truth, classes=4))
    return float(np.mean(ious)), mpx / seconds


def tiled_speed(model, tests, side: int = 4096) -> float:
    """Mpx/s of ``microlab.predict_tiled`` (defaults) on a side² mosaic of test slices."""
    image = np.zeros((side, side), tests[0][0].dtype)
    h, w = tests[0][0].shape
    for k, (y, x) in enumerate((y, x) for y in range(0, side, h) for x in range(0, side, w)):
        patch = tests[k % len(tests)][0]
        image[y : y + h, x : x + w] = patch[: side - y, : side - x]
    t0 = time.perf_counter()
    microlab.predict_tiled(model, image, progress=False)
    return image.size / 1e6 / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="U-Net training budget")
    parser.add_argument("--transfer-minutes", type=float, default=3.0,
                        help="budget of the pretrained vs random-init comparison (0: skip)")
    parser.add_argument("--pretrained", default="true",
                        help="'true' (shipped weights), 'false' or a weights file")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--encoder", default="mobilenet_v2")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    import torch

    from microlab.deep import UNetSegmenter

    if args.threads:
        torch.set_num_threads(args.threads)
    train, train_truth = load_slice(args.data, TRAIN)
    tests = [load_slice(args.data, name) for name in TEST]
    rows = {"microlab RandomForestSegmenter": [], "microlab UNetSegmenter": []}
    transfer = {"random init": [], "pretrained": []}
    tiled = {"U-Net predict_tiled": [], "RF predict_tiled": []}
    pretrained = {"true": True, "false": False}.get(args.pretrained.lower(), args.pretrained)
    steps = []
    for run in range(args.runs):
        scribbles = microlab.labels.scribbles_from_truth(train_truth, 0.01, radius=3, seed=run)
        rf = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=run)
        t0 = time.perf_counter()
        rf.fit(train, scribbles, progress=False)
        rows["microlab RandomForestSegmenter"].append((*score(rf, tests),
                                                       time.perf_counter() - t0))
        def make(minutes, init, run=run):
            return UNetSegmenter(
                SANDSTONE_CLASSES, encoder=args.encoder, width=args.width,
                patch_size=args.patch, batch_size=args.batch, learning_rate=args.lr,
                max_minutes=minutes, max_epochs=10_000, seed=run, progress=args.progress,
                pretrained=init)

        unet = make(args.minutes, pretrained)
        t0 = time.perf_counter()
        unet.fit(train, scribbles)
        fit_s = time.perf_counter() - t0
        rows["microlab UNetSegmenter"].append((*score(unet, tests), fit_s))
        steps.append(unet.fit_info)
        tiled["U-Net predict_tiled"].append(tiled_speed(unet, tests))
        tiled["RF predict_tiled"].append(tiled_speed(rf, tests))
        if args.transfer_minutes > 0:
            for name, init in (("random init", False), ("pretrained", pretrained)):
                model = make(args.transfer_minutes, init).fit(train, scribbles)
                transfer[name].append(score(model, tests)[0])
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"\nsandstone: train {TRAIN} (1 % scribbles, r=3), test {len(TEST)} slices, "
          f"median of {args.runs} run(s); U-Net {args.encoder} width {args.width}, patch "
          f"{args.patch}, batch {args.batch}, lr {args.lr}, budget {args.minutes} min, "
          f"{torch.get_num_threads()} torch threads, device {unet.device}")
    print(f"{'':32s} {'mean IoU':>9s} {'predict Mpx/s':>14s} {'fit s':>8s}")
    medians = {}
    for name, results in rows.items():
        med = [statistics.median(r[i] for r in results) for i in range(3)]
        medians[name] = med
        print(f"{name:32s} {med[0]:9.4f} {med[1]:14.3f} {med[2]:8.1f}")
    rf_iou, unet_iou = medians["microlab RandomForestSegmenter"][0], \
        medians["microlab UNetSegmenter"][0]
    print(f"\naccuracy: U-Net - RF = {unet_iou - rf_iou:+.4f} mean IoU (target >= +0.03)")
    print(f"U-Net training per run: {steps}")
    for name, results in rows.items():
        print(f"  {name} per-run mean IoU: {[round(r[0], 4) for r in results]}")
    if args.transfer_minutes > 0:
        print(f"\ntransfer learning, {args.transfer_minutes} min each (median; per run):")
        for name, values in transfer.items():
            print(f"  {name:12s} mean IoU {statistics.median(values):.4f}  "
                  f"{[round(v, 4) for v in values]}")
        gain = statistics.median(transfer["pretrained"]) - statistics.median(
            transfer["random init"])
        print(f"  pretrained - random init = {gain:+.4f} (target > 0)")
    print("\ntiled inference on a 4096² mosaic (tile 512, overlap 64; median Mpx/s; per run):")
    for name, values in tiled.items():
        print(f"  {name:22s} {statistics.median(values):6.3f}  {[round(v, 3) for v in values]}")
    print("  target: U-Net >= 1 Mpx/s on CPU")


if __name__ == "__main__":
    main()
