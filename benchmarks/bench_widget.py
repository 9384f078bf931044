"""The workbench's interactive targets, measured on the kernel side (no browser).

What is timed here is the Python side of each interaction, from the event reaching the kernel
to the canvas message leaving it; the browser suite (``pytest -m browser``) measures the same
targets end to end in headless Chromium and writes them to
``test-artifacts/browser/targets.json``. Each figure is printed next to an anchor measured in
the same run: what a naive widget would do (send the full-resolution image; retrain and
repredict the whole image after each stroke).

Targets: brush (event → stroke drawn) < 50 ms; live update of a 1-megapixel view < 1 s;
first view of a 4096 × 4096 image < 2 s with no message larger than the visible view.

Usage::

    python benchmarks/bench_widget.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import microlab
from microlab.project import Project


class MessageMeter:
    """Counts the bytes of every message the canvas manager sends to the browser."""

    def __init__(self) -> None:
        from ipycanvas.canvas import _CANVAS_MANAGER

        self.sizes: list[int] = []
        _CANVAS_MANAGER.send = self._send

    def _send(self, content, buffers=None) -> None:
        self.sizes.append(sum(memoryview(b).nbytes for b in buffers or []))


def large_image() -> np.ndarray:
    from skimage.transform import resize

    image, _ = microlab.data.sandstone(0)
    noise = np.random.default_rng(0).normal(0, 8, (4096, 4096))
    return np.clip(resize(image.data.astype(np.float32), (4096, 4096), order=1) + noise,
                   0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray) -> int:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return len(buffer.getvalue())


def bench_first_view(folder: Path, meter: MessageMeter, repeats: int) -> None:
    from microlab.widgets import Workbench

    times, largest = [], []
    for _ in range(repeats):
        meter.sizes.clear()
        start = time.perf_counter()
        with Project(folder) as project:  # the workbench leaves its project open
            bench = Workbench(project, canvas_size=(512, 512))
            times.append(time.perf_counter() - start)
            largest.append(max(meter.sizes))
            bench.close()
    with Project(folder) as project:
        anchor = png_bytes(project.image(0).data)
    print(f"first view of 4096²: median {statistics.median(times):.3f} s "
          f"(target < 2 s; {len(times)} runs)")
    print(f"  largest message {max(largest) / 1e3:.0f} kB; visible view 512²×4 = "
          f"{512 * 512 * 4 / 1e3:.0f} kB; anchor (full-resolution PNG) {anchor / 1e3:.0f} kB")


def bench_brush(folder: Path, meter: MessageMeter, repeats: int) -> None:
    from microlab.widgets import Annotator

    project = Project(folder)
    annotator = Annotator(project, canvas_size=(512, 512))
    annotator.select_class(2)
    annotator.mouse_down(40, 60)
    meter.sizes.clear()
    for k in range(1, 4 * repeats):
        annotator.mouse_move(40 + 10 * k, 60 + (k % 2) * 8)
    annotator.mouse_up(40 + 10 * 4 * repeats, 60)
    handler = [1000 * t for t in annotator.timings[1:]]
    anchor = []
    for _ in range(repeats):  # a widget that re-sends the whole visible label view per event
        start = time.perf_counter()
        annotator.draw_labels()
        anchor.append(1000 * (time.perf_counter() - start))
    print(f"brush on 4096² (kernel side, event → message sent): median "
          f"{statistics.median(handler):.1f} ms, {statistics.median(meter.sizes)} bytes per "
          f"event; anchor (redraw the whole view) {statistics.median(anchor):.1f} ms")
    project.close()


def bench_live(tmp: Path, repeats: int) -> None:
    from microlab.widgets import Workbench

    image, truth = microlab.data.sandstone(0)
    big, big_truth = np.tile(image.data, (2, 2)), np.tile(truth, (2, 2))
    project = Project(tmp / "live", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(big, name="mosaic1024")
    bench = Workbench(project, canvas_size=(512, 512))
    panel = bench.training
    scribbles = microlab.labels.scribbles_from_truth(big_truth, 0.001, radius=3)
    project.set_annotation(0, scribbles)
    panel.live.value = True
    panel.wait()
    panel.live_timings.clear()
    rng = np.random.default_rng(1)
    for _ in range(repeats):
        y, x = rng.integers(50, 460, 2)
        bench.annotator.select_class(int(big_truth[2 * y, 2 * x]))
        bench.annotator.mouse_down(x, y)
        bench.annotator.mouse_move(x + 12, y + 3)
        bench.annotator.mouse_up(x + 12, y + 3)
        panel.wait()
    live = statistics.median(panel.live_timings)
    anchor = []
    for _ in range(max(3, repeats // 2)):  # retrain on the whole image, repredict it all
        rf = microlab.RandomForestSegmenter(project.classes)
        start = time.perf_counter()
        rf.fit(project.image(0), project.annotation(0), progress=False)
        rf.predict_proba(project.image(0))
        anchor.append(time.perf_counter() - start)
    print(f"live update of a 1-Mpx view (kernel side, stroke end → overlay sent): median "
          f"{live:.3f} s (target < 1 s; {len(panel.live_timings)} strokes); anchor (whole-"
          f"image retrain + predict, 50 trees) {statistics.median(anchor):.3f} s")
    bench.close()
    project.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    meter = MessageMeter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project = Project(tmp / "large", classes=microlab.data.SANDSTONE_CLASSES,
                          colors=microlab.data.SANDSTONE_COLOURS)
        project.add_image(large_image(), name="large4096")
        project.close()
        bench_first_view(tmp / "large", meter, args.repeats)
        bench_brush(tmp / "large", meter, args.repeats)
        bench_live(tmp, args.repeats)


if __name__ == "__main__":
    main()
