"""Random Forest tier vs scikit-image's trainable segmentation, on real sandstone micro-CT.

Task (issue 3): train on slice Sandstone_Versa0000 from brush-dab scribbles covering about 1 %
of each class's pixels (disks of radius 3 px, seeded, inside each class), predict slices
0050…0400, score the mean IoU over the 4 classes against the masks. Speed is features +
predict in seconds per megapixel, measured for both in the same run.

Anchor: ``skimage.feature.multiscale_basic_features(img, sigma_min=1, sigma_max=16)`` +
``RandomForestClassifier(n_estimators=50, max_depth=10, max_samples=0.05, n_jobs=-1)`` through
``skimage.future.fit_segmenter`` / ``predict_segmenter``.

The first pass of a new process (numba's kernels loaded from its cache, nothing warmed up)
is measured with ``--first-pass N``: N fresh processes, each timing one run of both (the
anchor first, then microlab) on the same seed, median over the processes.

Usage::

    python benchmarks/bench_rf.py [--runs 3] [--first-pass 3] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import microlab
from microlab.data import SANDSTONE_CLASSES, SANDSTONE_COLOURS
from microlab.measure import mean_iou

TRAIN = "Sandstone_Versa0000"
TEST = [f"Sandstone_Versa{i:04d}" for i in range(50, 401, 50)]


def load_slice(data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    image = microlab.read_image(data / "sandstone" / "images" / f"{name}.tif").data
    mask = microlab.read_image(data / "sandstone" / "masks" / f"{name}.tif").data
    truth = np.zeros(image.shape, np.uint8)
    for k, colour in enumerate(SANDSTONE_COLOURS, start=1):
        truth[np.all(mask == np.array(colour)[:, None, None], axis=0)] = k
    return image, truth


def run_anchor(train, scribbles, tests, seed):
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    features = multiscale_basic_features(train, sigma_min=1, sigma_max=16)
    clf = RandomForestClassifier(
        n_estimators=50, max_depth=10, max_samples=0.05, n_jobs=-1, random_state=seed
    )
    clf = fit_segmenter(scribbles, features, clf)
    fit_s = time.perf_counter() - t0
    feat_s = pred_s = 0.0
    ious, mpx = [], 0.0
    for image, truth in tests:
        t0 = time.perf_counter()
        f = multiscale_basic_features(image, sigma_min=1, sigma_max=16)
        t1 = time.perf_counter()
        pred = predict_segmenter(f, clf)
        t2 = time.perf_counter()
        feat_s += t1 - t0
        pred_s += t2 - t1
        mpx += image.size / 1e6
        ious.append(mean_iou(pred, truth, classes=4))
    return {
        "miou": float(np.mean(ious)),
        "feat": feat_s / mpx,
        "pred": pred_s / mpx,
        "total": (feat_s + pred_s) / mpx,
        "fit": fit_s,
    }


def run_microlab(train, scribbles, tests, seed):
    rf = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=seed)
    t0 = time.perf_counter()
    rf.fit(train, scribbles, progress=False)
    fit_s = time.perf_counter() - t0
    bank = rf._banks[0]
    feat_s = total_s = 0.0
    ious, mpx = [], 0.0
    for image, truth in tests:
        t0 = time.perf_counter()
        bank.compute(image)
        t1 = time.perf_counter()
        pred = rf.predict(image)
        t2 = time.perf_counter()
        feat_s += t1 - t0
        total_s += t2 - t1
        mpx += image.size / 1e6
        ious.append(mean_iou(pred, truth, classes=4))
    return {
        "miou": float(np.mean(ious)),
        "feat": feat_s / mpx,
        "pred": (total_s - feat_s) / mpx,
        "total": total_s / mpx,
        "fit": fit_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--first-pass", type=int, default=0, metavar="N",
                        help="time the first pass of N new processes instead of warm runs")
    parser.add_argument("--cold", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    train, train_truth = load_slice(args.data, TRAIN)
    tests = [load_slice(args.data, name) for name in TEST]
    names = ("anchor (skimage + sklearn RF)", "microlab RandomForestSegmenter")
    if args.cold is not None:  # one first pass, in this new process: print it for the parent
        scribbles = microlab.labels.scribbles_from_truth(train_truth, 0.01, radius=3,
                                                         seed=args.cold)
        print(json.dumps([run_anchor(train, scribbles, tests, args.cold),
                          run_microlab(train, scribbles, tests, args.cold)]))
        return
    results: dict[str, list] = {name: [] for name in names}
    if args.first_pass:
        for run in range(args.first_pass):
            done = subprocess.run(
                [sys.executable, __file__, "--data", str(args.data), "--cold", str(run)],
                check=True, capture_output=True, text=True)
            for name, result in zip(names, json.loads(done.stdout.splitlines()[-1]),
                                    strict=True):
                results[name].append(result)
            print(f"first pass {run + 1}/{args.first_pass} done", flush=True)
        args.runs = args.first_pass
    else:
        # warm up compiled code once so neither side is charged for one-off start-up
        warm = microlab.RandomForestSegmenter().fit(
            train[:256, :256], microlab.labels.scribbles_from_truth(train_truth[:256, :256]),
            progress=False,
        )
        warm.predict(train[:256, :256])
        for run in range(args.runs):
            scribbles = microlab.labels.scribbles_from_truth(train_truth, 0.01, radius=3,
                                                             seed=run)
            results[names[0]].append(run_anchor(train, scribbles, tests, run))
            results[names[1]].append(run_microlab(train, scribbles, tests, run))
            print(f"run {run + 1}/{args.runs} done", flush=True)
    what = "first pass of a new process" if args.first_pass else "warm"
    print(f"\nsandstone: train {TRAIN} (1 % scribbles, r=3), test {len(TEST)} slices, {what}, "
          f"median of {args.runs} runs (seeds 0..{args.runs - 1})")
    header = f"{'':34s} {'mean IoU':>9s} {'feat s/Mpx':>11s} {'pred s/Mpx':>11s} " \
             f"{'total s/Mpx':>12s} {'fit s':>7s}"
    print(header)
    medians = {}
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        medians[name] = med
        print(f"{name:34s} {med['miou']:9.4f} {med['feat']:11.3f} {med['pred']:11.3f} "
              f"{med['total']:12.3f} {med['fit']:7.2f}")
    anchor, ours = medians.values()
    print(f"\naccuracy: microlab - anchor = {ours['miou'] - anchor['miou']:+.4f} mean IoU "
          f"(target >= +0.05, issue 15)")
    print(f"speed: features + predict {anchor['total'] / ours['total']:.2f}x faster than the "
          f"anchor (target >= {'5' if args.first_pass else '10'}x, issue 15)")
    for name, runs in results.items():
        print(f"  {name} per-run mean IoU: {[round(r['miou'], 4) for r in runs]}")


if __name__ == "__main__":
    main()
