"""Measurement speed: microlab.measure vs scikit-image regionprops_table and a bare KD-tree.

Task (issue 5):

* ``measure.objects`` on a 2D image with 10 000 objects (random ellipses, semi-axes 2-5 px,
  on a jittered 100 x 100 grid, 1200 x 1200 px) with a 2-channel intensity image, against
  ``skimage.measure.regionprops_table`` asked for the same properties (label, centroid,
  area, perimeter, equivalent diameter, major/minor axis length, eccentricity,
  orientation, solidity, extent, intensity mean/min/max/std). Target: at least as fast.
  For information, the same in 3D (about 1 000 ellipsoids, 24 x 240 x 240 voxels) against the
  properties regionprops has in 3D (no perimeter/surface, eccentricity, orientation).
* ``measure.neighbours(k=8)`` on 100 000 random 2D centroids (a DataFrame, as from
  ``objects``). Target: < 1 s. For reference, the bare ``scipy.spatial.cKDTree`` build +
  query it wraps.

Each timing is the median of ``--runs`` runs (both sides in the same run).

Usage::

    python benchmarks/bench_measure.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from microlab.measure import neighbours, objects

PROPS_2D = [
    "label", "centroid", "area", "perimeter", "equivalent_diameter_area",
    "axis_major_length", "axis_minor_length", "eccentricity", "orientation", "solidity",
    "extent", "intensity_mean", "intensity_min", "intensity_max", "intensity_std",
]
PROPS_3D = [p for p in PROPS_2D if p not in ("perimeter", "eccentricity", "orientation")]


def ellipses_2d(n_side: int = 100, cell: int = 12, seed: int = 0):
    from skimage.draw import ellipse

    rng = np.random.default_rng(seed)
    labels = np.zeros((n_side * cell, n_side * cell), np.int32)
    k = 0
    for i in range(n_side):
        for j in range(n_side):
            k += 1
            rr, cc = ellipse(
                i * cell + cell // 2 + rng.integers(-1, 2), j * cell + cell // 2
                + rng.integers(-1, 2), rng.uniform(2, 5), rng.uniform(2, 5),
                rotation=rng.uniform(0, np.pi), shape=labels.shape,
            )
            labels[rr, cc] = k
    image = rng.random((*labels.shape, 2)).astype(np.float32)
    return labels, image


def ellipsoids_3d(n: int = 1000, seed: int = 0):
    from skimage.draw import ellipsoid

    rng = np.random.default_rng(seed)
    labels = np.zeros((24, 240, 240), np.int32)
    k = 0
    for z in range(2):
        for y in range(22):
            for x in range(23):
                if k == n:
                    break
                k += 1
                blob = ellipsoid(*rng.uniform(2, 4.5, 3))
                dz, dy, dx = blob.shape
                oz, oy, ox = z * 12 + (12 - dz) // 2, y * 10 + (10 - dy) // 2, x * 10
                view = labels[oz : oz + dz, oy : oy + dy, ox : ox + dx]
                view[blob[: view.shape[0], : view.shape[1], : view.shape[2]]] = k
    return labels, rng.random(labels.shape).astype(np.float32)


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from scipy.spatial import cKDTree
    from skimage.measure import regionprops_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    labels, image = ellipses_2d()
    volume, vimage = ellipsoids_3d()
    n2, n3 = len(np.unique(labels)) - 1, len(np.unique(volume)) - 1
    objects(labels[:50, :50], image[:50, :50])  # warm imports and caches
    objects(volume[:12, :30, :30], vimage[:12, :30, :30])
    rows = []
    ours = timed(lambda: objects(labels, image), args.runs)
    anchor = timed(lambda: regionprops_table(labels, image, properties=PROPS_2D), args.runs)
    rows.append((f"objects 2D, {n2} objects", ours, anchor, "ratio >= 1", anchor / ours >= 1))
    ours = timed(lambda: objects(volume, vimage), args.runs)
    anchor = timed(lambda: regionprops_table(volume, vimage, properties=PROPS_3D), args.runs)
    rows.append((f"objects 3D, {n3} objects (info)", ours, anchor, "", None))

    points = np.random.default_rng(0).random((100_000, 2)) * 10_000
    import pandas as pd

    table = pd.DataFrame({"centroid_y_µm": points[:, 0], "centroid_x_µm": points[:, 1]})
    ours = timed(lambda: neighbours(table, k=8), args.runs)
    anchor = timed(lambda: cKDTree(points).query(points, k=9, workers=-1), args.runs)
    rows.append(("neighbours k=8, 100 000 pts", ours, anchor, "< 1 s", ours < 1))

    print(f"{'task':34} {'microlab s':>11} {'anchor s':>9} {'anchor/ours':>12}  target  met")
    for name, ours, anchor, target, met in rows:
        flag = "" if met is None else ("yes" if met else "NO")
        print(f"{name:34} {ours:11.3f} {anchor:9.3f} {anchor / ours:12.2f}  "
              f"{target:7} {flag}")
    print(f"\nmedian of {args.runs} runs; anchors: skimage regionprops_table (same "
          "properties), bare scipy cKDTree build + query")


if __name__ == "__main__":
    main()
