"""The 3D filter bank vs scikit-image's multiscale_basic_features: speed and memory.

Volume: a generated fluorescent-nuclei z-stack, 48 × 256 × 256 voxels with anisotropic
spacing (2, 1, 1) (``microlab.data.synthetic.synthetic_nuclei``), uint16.

Speed: microlab's default 3D bank (42 features; ``FeatureBank(ndim=3, spacing=(2, 1, 1))``,
default chunks) against ``skimage.feature.multiscale_basic_features(volume, sigma_min=1,
sigma_max=16)`` (25 features, its default threads), on the same volume in the same process,
alternating, median of ``--runs`` after one warm-up of each. ``--first-pass N`` instead times
one pass of each (the anchor first) in N new processes (numba kernels loaded from the cache).
Target (issue 15): microlab ≥ 5× the anchor's voxels per second.

Memory: peak resident memory (``VmHWM``) of one pass in a fresh process: the anchor on the
48 × 256 × 256 stack (it returns float64), microlab on it and on a 96 × 512 × 512 stack
(8× the voxels), streamed into an ``np.memmap``: bounded by the chunk size, not the volume.

Usage::

    python benchmarks/bench_features_3d.py [--runs 5] [--first-pass 3] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
from bench_features import peak_rss_mb  # this folder is on the path when run as a script

SHAPE = (48, 256, 256)
LARGE = (96, 512, 512)
SPACING = (2, 1, 1)
TARGET = 5.0


def volume(shape=SHAPE) -> np.ndarray:
    from microlab.data.synthetic import synthetic_nuclei

    image, _ = synthetic_nuclei(shape, spacing=SPACING, seed=0, dtype=np.uint16)
    return image


def anchor(image: np.ndarray) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(image, sigma_min=1, sigma_max=16)


def ours(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    from microlab.features import FeatureBank

    return FeatureBank(ndim=3, spacing=SPACING).compute(image, out=out)


def timed(fn, image) -> float:
    start = time.perf_counter()
    fn(image)
    return time.perf_counter() - start


def child(kind: str, shape: tuple[int, ...]) -> None:
    """In a fresh process: one pass of ``kind``; print seconds and peak RSS (MB) as JSON."""
    import tempfile

    image = volume(shape)
    start = time.perf_counter()
    if kind == "anchor":
        anchor(image)
    else:
        with tempfile.TemporaryDirectory() as folder:
            out = np.lib.format.open_memmap(f"{folder}/f.npy", "w+", np.float32,
                                            (42, *shape))
            ours(image, out=out)
            del out
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}))


def first_pass() -> None:
    """In a fresh process: one pass of the anchor, then of microlab; print both as JSON."""
    image = volume()
    print(json.dumps({"anchor": timed(anchor, image), "microlab": timed(ours, image)}))


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-pass", type=int, default=0, metavar="N")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--one-first-pass", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], tuple(int(n) for n in args.child[1].split("x")))
        return
    if args.one_first_pass:
        first_pass()
        return
    mvox = np.prod(SHAPE) / 1e6
    print(f"volume {SHAPE[0]}×{SHAPE[1]}×{SHAPE[2]} ({mvox:.2f} Mvox), spacing {SPACING}")
    if args.first_pass:
        passes = [run_child("--one-first-pass") for _ in range(args.first_pass)]
        times = {k: [p[k] for p in passes] for k in ("anchor", "microlab")}
        what = f"first pass of a new process, median of {args.first_pass} processes"
    else:
        image = volume()
        timed(anchor, image), timed(ours, image)  # warm-up: imports, kernels, threads
        times = {"anchor": [], "microlab": []}
        for _ in range(args.runs):
            times["anchor"].append(timed(anchor, image))
            times["microlab"].append(timed(ours, image))
        what = f"warm, median of {args.runs} runs"
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nspeed ({what}):")
    for name, features in (("anchor (skimage, 25 features)", 25),
                           ("microlab (default 3D bank, 42)", 42)):
        key = name.split()[0]
        print(f"  {name:32s} {med[key]:7.2f} s  {mvox / med[key]:5.2f} Mvox/s  "
              f"({features} features; runs {[round(t, 2) for t in times[key]]})")
    ratio = med["anchor"] / med["microlab"]
    print(f"  microlab is {ratio:.2f}× the anchor's Mvox/s (target ≥ {TARGET:g}×: "
          f"{'met' if ratio >= TARGET else 'unmet'})")
    if args.no_memory:
        return
    print("\npeak resident memory of one pass in a fresh process:")
    for kind, shape in (("anchor", SHAPE), ("microlab", SHAPE), ("microlab", LARGE)):
        result = run_child("--child", kind, "x".join(map(str, shape)))
        size = "×".join(map(str, shape))
        where = ", features written to a memmap on disk" if kind == "microlab" else ""
        print(f"  {kind:9s} {size:12s} {result['peak_mb']:7.0f} MB  "
              f"({result['seconds']:.1f} s{where})")


if __name__ == "__main__":
    main()
