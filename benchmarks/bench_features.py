"""The filter bank vs scikit-image's multiscale_basic_features: speed and memory.

Speed: seconds per megapixel of the default 2D bank on the 1024 × 996 sandstone slice
``Sandstone_Versa0000`` (median of several runs, a fresh output array each time, OpenCV's
default threads), against ``skimage.feature.multiscale_basic_features(img, sigma_min=1,
sigma_max=16)`` measured in the same run. Target: at most 0.08 s/Mpx.

Memory: peak resident memory (``VmHWM``) of computing the default bank on random uint8
images of 1024², 2048² and 4096² pixels, streamed chunk by chunk into an ``np.memmap`` in a
temporary folder, each size in a fresh process; and the anchor's peak on 1024² (it keeps its
whole float64 result in memory). Target: at most 2 GB, growing no faster than linearly.

Usage::

    python benchmarks/bench_features.py [--runs 7] [--data ../shared/data]
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
from microlab.features import FeatureBank

SLICE = "Sandstone_Versa0000"
SIZES = (1024, 2048, 4096)
TARGET_S_PER_MPX = 0.08
TARGET_RSS_MB = 2048


def timed(fn, runs: int) -> tuple[float, float]:
    """Median and minimum wall-clock seconds of ``fn()`` over ``runs`` runs (after a warm-up)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def load_slice(data: Path) -> tuple[np.ndarray, str]:
    path = data / "sandstone" / "images" / f"{SLICE}.tif"
    if path.exists():
        return microlab.read_image(path).data, path.name
    image, _ = microlab.data.sandstone(0)  # the bundled 512² crop of the same slice
    return image.data, f"{image.name} (bundled 512² crop; {path} not found)"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` from /proc (Linux), which starts afresh with the process image; ``ru_maxrss``
    would carry over the parent's peak through fork and exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, size: int) -> None:
    """Run in a fresh process: compute one size, print seconds and peak RSS as JSON."""
    import os
    import tempfile

    image = np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8)
    start = time.perf_counter()
    if kind == "microlab":
        bank = FeatureBank()
        with tempfile.TemporaryDirectory() as folder:
            out = np.lib.format.open_memmap(
                os.path.join(folder, "features.npy"), mode="w+", dtype=np.float32,
                shape=(len(bank), size, size),
            )
            bank.compute(image, out=out)
            del out
    else:
        from skimage.feature import multiscale_basic_features

        multiscale_basic_features(image, sigma_min=1, sigma_max=16)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb()}))


def in_fresh_process(kind: str, size: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(size)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per method (>= 3)")
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return

    import cv2
    from skimage.feature import multiscale_basic_features

    image, name = load_slice(args.data)
    mpx = image.size / 1e6
    bank = FeatureBank()
    runs = max(3, args.runs)
    ours, ours_min = (t / mpx for t in timed(lambda: bank.compute(image), runs))
    anchor_features = multiscale_basic_features(image, sigma_min=1, sigma_max=16).shape[-1]
    anchor, anchor_min = (
        t / mpx
        for t in timed(lambda: multiscale_basic_features(image, sigma_min=1, sigma_max=16),
                       max(3, runs // 2))
    )
    print(f"speed on {name}, {image.shape[0]} × {image.shape[1]} ({mpx:.2f} Mpx), "
          f"median of {runs} runs, OpenCV threads: {cv2.getNumThreads()}")
    print(f"  microlab FeatureBank, {len(bank)} features: {ours:.3f} s/Mpx (min {ours_min:.3f}; "
          f"target <= {TARGET_S_PER_MPX}: {'met' if ours <= TARGET_S_PER_MPX else 'MISSED'})")
    print(f"  skimage multiscale_basic_features, {anchor_features} features: {anchor:.3f} s/Mpx "
          f"(min {anchor_min:.3f})")
    print(f"  microlab is {anchor / ours:.1f}x faster with {len(bank)} vs {anchor_features} "
          "features")

    print("\npeak RSS, default bank streamed into a np.memmap (fresh process per size)")
    peaks = {}
    for size in SIZES:
        r = in_fresh_process("microlab", size)
        peaks[size] = r["peak_mb"]
        print(f"  microlab {size:>4}²: {r['peak_mb']:7.0f} MB   ({r['seconds']:.1f} s)")
    r = in_fresh_process("skimage", SIZES[0])
    print(f"  skimage  {SIZES[0]:>4}²: {r['peak_mb']:7.0f} MB   ({r['seconds']:.1f} s, "
          "whole float64 result in memory)")
    growth = peaks[SIZES[-1]] / peaks[SIZES[0]]
    pixels = (SIZES[-1] / SIZES[0]) ** 2
    print(f"  {SIZES[0]}² → {SIZES[-1]}²: pixels x{pixels:.0f}, peak RSS x{growth:.1f} "
          f"(max {max(peaks.values()):.0f} MB, target <= {TARGET_RSS_MB} MB: "
          f"{'met' if max(peaks.values()) <= TARGET_RSS_MB and growth <= pixels else 'MISSED'})")


if __name__ == "__main__":
    main()
