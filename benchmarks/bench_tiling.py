"""Tiled prediction of images larger than memory: peak memory and throughput.

Model (``--model``): ``rf``, a RandomForestSegmenter with a few features (``FEATURES``), or
``unet``, the default UNetSegmenter (shipped pretrained weights, fine-tuned for 30 steps),
trained on the bundled sandstone slice from 1 % scribbles. Input: uint8 ``np.memmap`` files of
4096² and 16384² pixels in a temporary folder, written band by band from mirrored copies of
the sandstone slice (a 16384² file is 256 MB). ``microlab.inference.tiling.predict_tiled``
writes the probabilities into a zarr array in the same folder (chunks ``(C, step, step)``,
written once). Each size runs in a fresh process; its peak resident memory is ``VmHWM`` from /proc.

Anchor for memory: the same model's plain ``predict_proba`` of the whole 4096² image in
memory, also in a fresh process.

Targets: peak RSS at 16384² <= 3 GB and within 20 % of the peak at 4096²; throughput on CPU
>= 1 Mpx/s (the issue's target is for the default U-Net: ``bench_unet.py`` measures it through
``predict_tiled``; this script measures the Random Forest).

Usage::

    python benchmarks/bench_tiling.py [--model rf|unet] [--sizes 4096 16384] [--tile 512]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import microlab

FEATURES = ["Gaussian σ=1.0", "Gaussian σ=4.0", "Sobel", "LoG σ=2.0", "Variance r=3"]
TARGET_PEAK_MB = 3 * 1024
TARGET_FLAT = 0.20
TARGET_MPX_S = 1.0
BAND = 512


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``, Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def write_input(path: Path, size: int) -> None:
    """A uint8 memmap of ``size``² pixels, written in bands of mirrored sandstone slices."""
    image, _ = microlab.data.sandstone(0)
    cell = np.block([[image.data, image.data[:, ::-1]], [image.data[::-1], image.data[::-1, ::-1]]])
    reps = -(-size // cell.shape[1])
    row = np.tile(cell, (1, reps))[:, :size]
    out = np.memmap(path, np.uint8, mode="w+", shape=(size, size))
    for y in range(0, size, BAND):
        rows = min(BAND, size - y)
        start = y % cell.shape[0]
        out[y : y + rows] = np.take(row, range(start, start + rows), axis=0, mode="wrap")
        out.flush()
    del out


def child(kind: str, folder: str, size: int, tile: int, overlap: int) -> None:
    """In a fresh process: predict one image, print seconds and peak RSS as JSON."""
    import zarr

    from microlab.inference.tiling import predict_tiled

    rf = microlab.load_segmenter(Path(folder) / "model.safetensors")
    image = np.memmap(Path(folder) / f"image{size}.u8", np.uint8, mode="r", shape=(size, size))
    rf.predict_proba(np.asarray(image[:64, :64]))  # compile the kernels outside the timing
    start = time.perf_counter()
    if kind == "tiled":
        from microlab.inference.tiling import DEFAULT_OVERLAP

        used = overlap if overlap >= 0 else 0 if rf.context else DEFAULT_OVERLAP
        step = tile - used
        out = zarr.open(
            Path(folder) / f"proba{size}.zarr", mode="w", shape=(len(rf.classes), size, size),
            chunks=(len(rf.classes), step, step), dtype="f4",
        )
        predict_tiled(rf, image, tile=tile, overlap=None if overlap < 0 else overlap, out=out)
    else:
        rf.predict_proba(np.array(image))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb()}))


def in_fresh_process(*args) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=-1,
                        help="blending overlap in pixels (default: predict_tiled's own)")
    parser.add_argument("--anchor-size", type=int, default=4096)
    parser.add_argument("--model", choices=["rf", "unet"], default="rf")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, *numbers = args.child
        child(kind, folder, *map(int, numbers))
        return

    image, truth = microlab.data.sandstone(0)
    scribbles = microlab.labels.scribbles_from_truth(truth, fraction=0.01)
    if args.model == "rf":
        rf = microlab.RandomForestSegmenter(microlab.data.SANDSTONE_CLASSES, features=FEATURES)
        rf.fit(image, scribbles, progress=False)
        what = f"RandomForestSegmenter, {len(FEATURES)} features"
    else:
        from microlab.deep import UNetSegmenter

        rf = UNetSegmenter(microlab.data.SANDSTONE_CLASSES, max_steps=30, progress=False)
        rf.fit(image, scribbles)
        what = f"UNetSegmenter (default, {rf.encoder}, width {rf.width})"
    overlap = "default" if args.overlap < 0 else args.overlap
    print(f"model: {what}, {len(rf.classes)} classes, context {rf.context} px; tile "
          f"{args.tile}, overlap {overlap}; {os.cpu_count()} CPU cores")
    peaks = {}
    with tempfile.TemporaryDirectory() as folder:
        rf.save(Path(folder) / "model.safetensors")
        for size in sorted({*args.sizes, args.anchor_size}):
            write_input(Path(folder) / f"image{size}.u8", size)
        for size in sorted(args.sizes):
            r = in_fresh_process("tiled", folder, size, args.tile, args.overlap)
            peaks[size] = r["peak_mb"]
            mpx = size * size / 1e6
            print(f"  predict_tiled {size}² memmap -> zarr: peak RSS {r['peak_mb']:.0f} MB, "
                  f"{r['seconds']:.1f} s, {mpx / r['seconds']:.2f} Mpx/s")
            if size != args.anchor_size:
                (Path(folder) / f"image{size}.u8").unlink()
        a = in_fresh_process("whole", folder, args.anchor_size, args.tile, args.overlap)
        mpx = args.anchor_size**2 / 1e6
        print(f"  anchor: whole-image predict_proba {args.anchor_size}² in memory: peak RSS "
              f"{a['peak_mb']:.0f} MB, {a['seconds']:.1f} s, {mpx / a['seconds']:.2f} Mpx/s")
    small, large = min(peaks), max(peaks)
    if large != small:
        ratio = peaks[large] / peaks[small]
        flat = ratio <= 1 + TARGET_FLAT
        print(f"peak RSS {large}² / {small}²: {ratio:.2f} (target <= {1 + TARGET_FLAT:.2f}: "
              f"{'met' if flat else 'MISSED'})")
    print(f"peak RSS at {large}²: {peaks[large]:.0f} MB (target <= {TARGET_PEAK_MB} MB: "
          f"{'met' if peaks[large] <= TARGET_PEAK_MB else 'MISSED'})")


if __name__ == "__main__":
    main()
