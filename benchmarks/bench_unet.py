"""U-Net tier vs the Random Forest tier, on real sandstone micro-CT, in the same run.

Task (issue 4): train on slice Sandstone_Versa0000 from the same scribbles as
``bench_rf.py`` (1 % of each class's pixels, disks of radius 3 px, seeded), predict slices
0050…0400, score the mean IoU over the 4 classes. The U-Net trains for a time budget
(``--minutes``); the Random Forest trains to completion. Predict throughput is in megapixels
per second (for the U-Net: normalisation + network; for the RF: features + forest).

Target (later): U-Net mean IoU >= RF + 0.03 within 10 CPU-minutes of training.

Usage::

    python benchmarks/bench_unet.py [--minutes 10] [--runs 1] [--data ../shared/data]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="U-Net training budget")
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
    steps = []
    for run in range(args.runs):
        scribbles = microlab.labels.scribbles_from_truth(train_truth, 0.01, radius=3, seed=run)
        rf = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=run)
        t0 = time.perf_counter()
        rf.fit(train, scribbles, progress=False)
        rows["microlab RandomForestSegmenter"].append((*score(rf, tests),
                                                       time.perf_counter() - t0))
        unet = UNetSegmenter(
            SANDSTONE_CLASSES, encoder=args.encoder, width=args.width, patch_size=args.patch,
            batch_size=args.batch, learning_rate=args.lr, max_minutes=args.minutes,
            max_epochs=10_000, seed=run, progress=args.progress,
        )
        t0 = time.perf_counter()
        unet.fit(train, scribbles)
        fit_s = time.perf_counter() - t0
        rows["microlab UNetSegmenter"].append((*score(unet, tests), fit_s))
        steps.append(unet.fit_info)
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


if __name__ == "__main__":
    main()
