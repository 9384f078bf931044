"""The workbench's objects panel: how long objects, the table and the colours take.

Targets (issue "the walk-through, end to end"): for a 1-megapixel image with about 300
objects, the objects overlay and the table ≤ 1 s after a prediction; colour by a column
≤ 300 ms; selecting a row highlights its object ≤ 200 ms; apply to all on 20 images of
1 Mpx with the Random Forest ≤ 30 s on 2 cores.

Measured in the kernel (the Python side of the widgets, with the canvas messages sent to a
no-op comm); the browser adds its drawing time (see ``tests/browser``). Anchors in the same
run: scikit-image's ``regionprops_table`` on the same labels (the table), and a plain loop of
``rf.predict_proba`` + ``microlab.instances(..., image=)`` + ``microlab.measure.objects`` without a
project (apply to all).

Usage::

    python benchmarks/bench_objects_panel.py [--repeats 5] [--images 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def median_ms(values) -> str:
    return f"{1000 * statistics.median(values):7.0f} ms"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args(argv)

    import microlab
    from microlab.project import Project, objects, training
    from microlab.widgets import Workbench

    images = []
    for seed in range(args.images):
        image, truth = microlab.data.synthetic_nuclei((1024, 1024), n=300, radius=(8, 14),
                                                      seed=seed)
        images.append(((image * 1000).astype(np.uint16), truth))
    folder = Path(tempfile.mkdtemp())
    project = Project(folder / "p", classes=["nuclei", "background"])
    for k, (image, _) in enumerate(images):
        project.add_image(image, name=f"nuclei{k:02d}")
    truth = images[0][1]
    semantic = np.where(truth > 0, 1, 2).astype(np.uint8)
    strokes = microlab.labels.scribbles_from_truth(semantic, 0.01, seed=0)
    project.set_annotation(0, strokes)
    project.set_settings(mode="instance")
    rf = training.train(project, save=True)
    bench = Workbench(project)
    bench.annotator.set_overlay("objects")
    panel = bench.objects
    n_objects = []

    # objects + table + overlay after a prediction: find (instances), measure, rows, draw
    proba = rf.predict_proba(project.image(0))
    project.set_prediction(0, proba)  # as training.predict does: the panel's hints read it
    after = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        objects.find(project, 0, proba)  # emits "objects": the panel and the canvas redraw
        after.append(time.perf_counter() - start)
        n_objects.append(len(panel.table))
    labels = project.objects(0)

    from skimage.measure import regionprops_table

    anchor_table = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        regionprops_table(labels, project.image(0).data, properties=(
            "label", "area", "centroid", "eccentricity", "solidity", "equivalent_diameter",
            "intensity_mean"))
        anchor_table.append(time.perf_counter() - start)

    columns = [c for c in ("area_px²", "mean_distance_k8_px", "eccentricity", "solidity",
                           "intensity_mean") if c in panel.colour_by.options]
    colour = []
    for k in range(args.repeats):
        start = time.perf_counter()
        panel.colour_by.value = columns[k % len(columns)]
        colour.append(time.perf_counter() - start)
    select = []
    rows = panel._rows
    for k in range(args.repeats):
        start = time.perf_counter()
        panel.rows.value = rows[(7 * k + 3) % len(rows)]
        select.append(time.perf_counter() - start)

    # apply to all: the panel's job, timed from the button to the last summary row
    apply_all = []
    for _ in range(max(1, args.repeats // 2)):
        start = time.perf_counter()
        thread = panel.apply_all()
        thread.join()
        apply_all.append(time.perf_counter() - start)
    assert panel.progress.value == 1.0, bench.messages.text
    anchor_all = []
    for _ in range(max(1, args.repeats // 2)):
        start = time.perf_counter()
        for image, _ in images:
            p = rf.predict_proba(image)
            found = microlab.instances(p, foreground=0, image=image)
            microlab.measure.objects(found, image)
        anchor_all.append(time.perf_counter() - start)
    ap = microlab.measure.average_precision(truth, labels, iou=0.5)

    print(f"1024 × 1024 images, {statistics.median(n_objects):.0f} objects found in image 0 "
          f"(true {truth.max()}, AP@0.5 {ap:.2f}); medians of {args.repeats}")
    print(f"objects + table + overlay after a prediction  {median_ms(after)}   target ≤ 1000 ms")
    print(f"  anchor: skimage regionprops_table alone      {median_ms(anchor_table)}")
    print(f"colour by a column (LUT, colour bar, histogram) {median_ms(colour)}   "
          "target ≤ 300 ms")
    print(f"select a row → object outlined                {median_ms(select)}   "
          "target ≤ 200 ms")
    print(f"apply to all, {args.images} images (predict, objects, table) "
          f"{statistics.median(apply_all):6.1f} s   target ≤ 30 s")
    print(f"  anchor: predict_proba + instances + measure, no project "
          f"{statistics.median(anchor_all):6.1f} s")
    bench.close()
    project.close()


if __name__ == "__main__":
    main()
