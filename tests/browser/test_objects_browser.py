"""The walk-through's second half in a real JupyterLab, with real mouse events in Chromium.

A project of three 512 × 512 fluorescence images of touching nuclei (microlab's generator)
is opened in the workbench. Instance mode is chosen, whole nuclei and the background
between them are painted with the mouse, Train is pressed; then the objects overlay, the
measurement table (a row clicked outlines its object), colour by a column, Apply to all,
Export, and a kernel restart after which the mode, the objects and the table are back.
Screenshots go to ``test-artifacts/browser/objects-*.png``.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

import microlab

from ._lab import screenshot
from .test_workbench_browser import (
    annotations_on_disk,
    canvas_change,
    menu,
    message,
    open_notebook,
    run_all,
    stroke,
    wait_until,
    workbench_canvas,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """
import numpy as np
import microlab
from microlab.widgets import Workbench
project = microlab.Project({path!r}, classes=["nuclei", "background"])
if not len(project):
    for seed in range(3):
        image, _ = microlab.data.synthetic_nuclei((512, 512), seed=seed, radius=(8, 14))
        project.add_image((image * 1000).astype(np.uint16), name=f"nuclei{{seed}}")
bench = Workbench(project{canvas})
bench
"""


def _strokes(truth: np.ndarray):
    """Horizontal strokes (canvas = image pixels): through the middle of the 8 largest
    nuclei, and along background rows clear of every nucleus by 6 pixels."""
    labels, areas = np.unique(truth, return_counts=True)
    nuclei = []
    for label in labels[1:][np.argsort(areas[1:])[::-1][:8]]:
        y, x = (int(v) for v in np.argwhere(truth == label).mean(axis=0).round())
        row = np.flatnonzero(truth[y] == label)
        left, right = max(row.min() + 5, x - 12), min(row.max() - 5, x + 12)
        if right - left >= 6:
            nuclei.append([(int(left), y), (int(right), y)])
    clear = ~ndimage.binary_dilation(truth > 0, iterations=6)
    background = []
    for y in range(20, 500, 40):
        run, start = 0, 0
        for x in range(512):
            run = run + 1 if clear[y, x] else 0
            if run == 1:
                start = x
            if run == 60:
                background.append([(start + 5, y), (x - 5, y)])
                break
    return nuclei, background[:8]


@pytest.fixture(scope="module")
def objects_notebook(lab_root):
    project = lab_root.parent / "nuclei-project"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    setup = SETUP.format(path=str(project), canvas=", canvas_size=(512, 512)")
    nb.cells = [nbformat.v4.new_code_cell(setup)]
    nbformat.write(nb, str(lab_root / "objects.ipynb"))
    return "objects.ipynb", project


def table_count(page) -> int:
    text = page.locator(".microlab-objects").last.inner_text()
    found = re.search(r"(\d+) objects", text)
    return int(found.group(1)) if found else 0


def test_objects_table_colour_apply_export_restart(lab, lab_root, page, objects_notebook):
    name, project_folder = objects_notebook
    truth = microlab.data.synthetic_nuclei((512, 512), seed=0, radius=(8, 14))[1]
    nuclei, background = _strokes(truth)
    assert len(nuclei) >= 6 and len(background) >= 4

    open_notebook(page, lab, name)
    run_all(page)
    canvas = workbench_canvas(page)
    page.wait_for_timeout(500)
    objects = page.locator(".microlab-objects").last
    objects.locator(".widget-toggle-button", has_text="instance").click()
    wait_until(page, lambda: objects.locator(".microlab-sort-by").is_visible(), 20,
               "the instance controls")

    page.locator(".microlab-class-1").last.click()
    for points in nuclei:
        stroke(page, canvas, points, steps=4)
    page.locator(".microlab-class-2").last.click()
    for points in background:
        stroke(page, canvas, points, steps=4)
    page.wait_for_timeout(300)
    screenshot(page, "objects-1-painted")

    page.locator(".microlab-train").last.click()
    wait_until(page, lambda: "trained on" in message(page), 240, "training to finish")
    wait_until(page, lambda: table_count(page) > 0, 60, "the objects table")
    count = table_count(page)
    true_count = len(np.unique(truth)) - 1
    assert 0.6 * true_count <= count <= 1.4 * true_count, (count, true_count)

    # the objects overlay: each object its own colour over the image
    page.evaluate("window.__ml.snap('prediction')")
    page.locator(".microlab-viewer .widget-toggle-button", has_text="objects").last.click()
    assert canvas_change(page, "prediction", "objects", 0.05) > 0.05
    screenshot(page, "objects-2-overlay")

    # a row clicked in the table outlines its object on the canvas
    rows = objects.locator(".microlab-object-rows select option")
    assert rows.count() == count
    rows.nth(3).click()
    outlined = canvas_change(page, "objects", "selected", 15 / (512 * 512)) * 512 * 512
    assert outlined >= 15, f"selecting a row changed only {outlined:.0f} canvas pixels"

    # colour by area: the colour bar appears and the objects change colour
    objects.locator(".microlab-colour-by select").select_option(label="area_px²")
    wait_until(page, lambda: objects.locator(".microlab-colour-bar").is_visible(), 20,
               "the colour bar")
    assert canvas_change(page, "selected", "coloured", 0.02) > 0.02
    screenshot(page, "objects-3-coloured-by-area")

    # apply to all, then export
    objects.locator(".microlab-objects-apply").click()
    summary = page.locator(".microlab-summary").last
    wait_until(page, lambda: summary.count() and "nuclei2" in summary.inner_text(), 180,
               "apply to all")
    export = lab_root.parent / "export"
    objects.locator(".microlab-export-folder input").fill(str(export))
    objects.locator(".microlab-objects-export").click()
    wait_until(page, lambda: "exported to" in message(page), 60, "the export")
    screenshot(page, "objects-4-applied-and-exported")
    table = pd.read_csv(export / "objects.csv")
    assert set(table["image"]) == {"nuclei0", "nuclei1", "nuclei2"}
    assert (table["image"] == "nuclei0").sum() == count
    assert (export / "labels" / "nuclei2_objects.tif").exists()
    assert (export / "record.json").exists() and (export / "model.safetensors").exists()

    # restart the kernel, run again: instance mode, objects and table are back
    page.evaluate("window.__ml.forget()")
    menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.wait_for_timeout(2000)
    workbench_canvas(page)
    wait_until(page, lambda: table_count(page) == count, 90, "the table after the restart")
    active = page.locator(".microlab-objects .widget-toggle-button.mod-active").last
    assert active.inner_text().strip() == "instance"
    screenshot(page, "objects-5-after-restart")
    reopened = microlab.read_image(project_folder / "predictions" / "nuclei0_objects.tif")
    assert reopened.data.max() > 0


def test_the_canvas_fits_the_notebook_width_and_is_never_clipped(lab, lab_root, page):
    folder = lab_root.parent / "narrow"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP.format(path=str(folder), canvas=""))]
    nbformat.write(nb, str(lab_root / "narrow.ipynb"))
    page.set_viewport_size({"width": 1800, "height": 1000})
    open_notebook(page, lab, "narrow.ipynb")
    run_all(page)
    canvas = workbench_canvas(page)
    own = canvas.evaluate("c => [c.width, c.height]")
    assert own == [600, 600], own  # a 512² image gets a 600² canvas by default
    shown = {}
    for width in (1800, 1200, 760):  # a wide screen, a laptop, a half-screen window
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(800)
        canvas.scroll_into_view_if_needed()
        shown[width] = page.evaluate("""() => { const c = window.__ml.canvas();
            const r = c.getBoundingClientRect();
            const side = c.closest('.microlab-workbench')
                .querySelector('.microlab-training').getBoundingClientRect();
            const hit = document.elementFromPoint(r.right - 3, r.top + r.height / 2);
            return {w: r.width, h: r.height, sideLeft: side.left, sideTop: side.top,
                    right: r.right, bottom: r.bottom,
                    edge: hit === c || (hit !== null && hit.closest('.microlab-canvas') !== null)};
            }""")
        screenshot(page, f"objects-6-window-{width}")
    print(shown)
    for width, box in shown.items():
        assert box["edge"], f"the right edge of the canvas is covered at {width} px"
        assert abs(box["w"] - box["h"]) <= 1, f"the canvas lost its aspect at {width} px"
        assert box["w"] <= own[0] + 0.5
    wide, laptop, half = shown[1800], shown[1200], shown[760]
    assert round(wide["w"]) == own[0] and wide["sideLeft"] >= wide["right"]  # beside
    # a laptop (file browser open): beside the panels, or at its own size above them
    assert (laptop["w"] >= 480 and laptop["sideLeft"] >= laptop["right"]) or (
        round(laptop["w"]) == own[0] and laptop["sideTop"] >= laptop["bottom"])
    assert half["w"] < own[0] - 20 and half["sideTop"] >= half["bottom"]  # shrunk, panels under
    # painting on the shrunk canvas lands where the mouse is: ipycanvas maps it back
    page.locator(".microlab-class-1").last.click()
    stroke(page, canvas, [(150, 300), (450, 300)], steps=8)
    scale = 600 / 512  # canvas pixels per image pixel (the fitted view)
    wait_until(page, lambda: (annotations_on_disk(folder, "nuclei0") is not None and
                              annotations_on_disk(folder, "nuclei0").any()), 20,
               "the stroke on disk")
    rows, cols = np.nonzero(annotations_on_disk(folder, "nuclei0"))
    assert abs(np.median(rows) - 300 / scale) <= 3
    assert abs(cols.min() - 150 / scale) <= 12 and abs(cols.max() - 450 / scale) <= 12


DIM_SETUP = """
import numpy as np
from scipy import ndimage
from skimage.draw import disk
import microlab
from microlab.widgets import Workbench
rng = np.random.default_rng(0)
image = np.full((160, 320), 20.0)
layer = np.zeros(image.shape, np.uint8)
for y, x in ((35, 35), (35, 115), (120, 60), (120, 150)):  # bright nuclei, painted whole
    image[disk((y, x), 12, shape=image.shape)] = 200
    layer[disk((y, x), 12, shape=image.shape)] = 1
for y, x in ((40, 200), (120, 240), (60, 280), (125, 300)):  # dimmer ones, not painted
    image[disk((y, x), 12, shape=image.shape)] = 70
image = ndimage.gaussian_filter(image, 1.5) + rng.normal(0, 6, image.shape)
layer[80, 5:170] = 2
layer[5:155, 85] = 2
project = microlab.Project({path!r}, classes=["nuclei", "background"])
if not len(project):
    project.add_image(np.clip(image, 0, 255).astype(np.uint8), name="dim")
    project.set_annotation(0, layer)
    project.set_settings(mode="instance", whole_objects=True)
bench = Workbench(project, canvas_size=(320, 640))
bench
"""


def test_the_hint_points_at_the_nuclei_the_forest_half_sees(lab, lab_root, page):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        DIM_SETUP.format(path=str(lab_root.parent / "dim-project")))]
    nbformat.write(nb, str(lab_root / "dim.ipynb"))
    open_notebook(page, lab, "dim.ipynb")
    run_all(page)
    workbench_canvas(page)
    page.wait_for_timeout(500)
    objects = page.locator(".microlab-objects").last
    place = objects.locator(".microlab-objects-place")
    assert not place.is_visible()
    page.locator(".microlab-train").last.click()
    wait_until(page, lambda: "trained on" in message(page), 120, "training to finish")
    hint = objects.locator(".microlab-hint")
    wait_until(page, lambda: hint.count() and "places look like" in hint.last.inner_text(), 60,
               "the doubtful places' hint")
    assert "4 places look like 'nuclei'" in hint.last.inner_text()
    assert place.is_visible()
    page.evaluate("window.__ml.snap('before')")
    place.click()
    assert canvas_change(page, "before", "place", 0.2) > 0.2  # zoomed in
    screenshot(page, "objects-6-doubtful-place")
