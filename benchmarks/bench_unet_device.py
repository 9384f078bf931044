"""Tiled prediction speed of the default U-Net on an accelerator, beside the forest on the CPU.

The default :class:`~microlab.deep.UNetSegmenter` (shipped pretrained weights) is fine-tuned
for ``--steps`` steps on the bundled sandstone slice from 1 % scribbles, on ``--device``
(``auto``: a GPU where torch sees one); then ``microlab.predict_tiled`` segments a
``--side``² mosaic of that slice (``bench_unet.tiled_speed``) with the defaults, first
call of the process and warm (median of ``--runs``), in each of ``--precisions``. Anchor,
same run: the Random Forest (classic tier, default features) trained on the same scribbles,
``predict_tiled`` on the CPU.
``bench_unet.py --tiled`` gives the CPU figures of the U-Net itself.

Usage::

    python benchmarks/bench_unet_device.py [--device cuda] [--side 8192] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_unet import tiled_speed

import microlab
from microlab.data import SANDSTONE_CLASSES
from microlab.deep import UNetSegmenter


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30, help="fine-tuning steps")
    parser.add_argument("--side", type=int, default=8192, help="mosaic side (px)")
    parser.add_argument("--runs", type=int, default=3, help="warm calls (median)")
    parser.add_argument("--precisions", nargs="+", default=["auto", "float32"],
                        choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--forest-side", type=int, default=2048,
                        help="mosaic side for the forest anchor (px)")
    args = parser.parse_args(argv)

    image, truth = microlab.data.sandstone()
    pixels = np.asarray(image.data)
    scribbles = microlab.labels.scribbles_from_truth(truth, 0.01, radius=3, seed=0)
    tests = [(pixels, truth)]  # bench_unet.tiled_speed tiles a mosaic of them
    unet = UNetSegmenter(SANDSTONE_CLASSES, max_steps=args.steps, device=args.device,
                         progress=False)
    t0 = time.perf_counter()
    unet.fit(pixels, scribbles)
    print(f"U-Net fit, {args.steps} steps on {unet.device}: {time.perf_counter() - t0:.1f} s",
          flush=True)
    rows = {}
    for precision in args.precisions:
        unet.predict_precision = precision
        first = tiled_speed(unet, tests, args.side)
        warm = [tiled_speed(unet, tests, args.side) for _ in range(args.runs)]
        rows[f"U-Net predict_tiled, {precision}"] = (first, statistics.median(warm), warm)
        print(f"U-Net {precision}: first {first:.2f}, warm {[round(w, 2) for w in warm]} Mpx/s",
              flush=True)
    rf = microlab.RandomForestSegmenter(classes=SANDSTONE_CLASSES, random_state=0)
    rf.fit(pixels, scribbles, progress=False)
    first = tiled_speed(rf, tests, args.forest_side)
    warm = [tiled_speed(rf, tests, args.forest_side) for _ in range(args.runs)]
    rows["RF predict_tiled (CPU)"] = (first, statistics.median(warm), warm)

    import torch

    name = (torch.cuda.get_device_name(unet.device) if str(unet.device).startswith("cuda")
            else "CPU")
    print(f"\nsandstone mosaic {args.side}² (forest {args.forest_side}²), U-Net fine-tuned "
          f"{args.steps} steps; device {unet.device} ({name}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'':36s} {'first call':>11s} {'warm':>7s}  Mpx/s, warm runs")
    for label, (first, median, warm) in rows.items():
        print(f"{label:36s} {first:11.2f} {median:7.2f}  {[round(w, 2) for w in warm]}")


if __name__ == "__main__":
    main()
