"""The workbench: annotator, training panel and viewer on one project."""

import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import microlab
from microlab.project import FORMAT_VERSION, Project
from microlab.widgets import Viewer, Workbench

from .helpers import paint_two_classes, stroke


def test_a_4096_image_ships_only_the_visible_view(tmp_path, monkeypatch):
    project = Project(tmp_path / "big")
    rng = np.random.default_rng(0)
    project.add_image(rng.integers(0, 4000, (4096, 4096), dtype=np.uint16), name="big")
    project.close()
    reopened = Project(tmp_path / "big")  # as a user opening the project: pixels from disk
    from ipycanvas.canvas import _CANVAS_MANAGER

    sizes = []
    monkeypatch.setattr(_CANVAS_MANAGER, "send", lambda content, buffers=None: sizes.append(
        sum(memoryview(b).nbytes for b in buffers or [])))
    start = time.perf_counter()
    bench = Workbench(reopened, canvas_size=(512, 512))
    first_view = time.perf_counter() - start
    annotator = bench.annotator
    assert annotator.view.scale == 8.0
    assert first_view < 2.0, f"first view took {first_view:.2f} s"
    visible = 512 * 512 * 4
    assert sizes and max(sizes) <= visible
    annotator.zoom(4.0)
    annotator.pan(100, -50)
    stroke(annotator, [(256, 256), (300, 256)])
    assert (reopened.annotation(0) > 0).sum() > 100
    assert max(sizes) <= visible
    assert annotator.largest_put[0] <= 512 and annotator.largest_put[1] <= 512
    bench.close()
    reopened.close()


@pytest.mark.filterwarnings("ignore::microlab.intensity.IntensityWarning")  # 200× brighter
def test_images_of_different_shapes_and_dtypes_train_in_one_workbench(tmp_path):
    image, truth = microlab.data.sandstone(0)
    bench = Workbench([image, (image.data[:256, :300].astype(np.uint16) * 200)],
                      path=tmp_path / "mixed", classes=microlab.data.SANDSTONE_CLASSES,
                      canvas_size=(128, 128))
    scribbles = microlab.labels.scribbles_from_truth(truth, 0.005)
    bench.project.set_annotation(1, scribbles[:256, :300])
    bench.training.train().join(120)
    assert bench.messages.level == "ok", bench.messages.text
    assert bench.project.prediction(0) is not None and bench.project.prediction(1) is not None
    bench.project.close()


def test_incompatible_images_are_reported_in_the_widget(tmp_path):
    bench = Workbench([np.zeros((32, 32)), np.zeros((3, 32, 32))], path=tmp_path / "mix")
    assert bench.annotator is None and "3D 1-channel" in bench.messages.text
    bench.close()


def test_a_project_from_a_newer_version_is_reported_and_kept(tmp_path):
    folder = tmp_path / "future"
    Project(folder).close()
    meta = json.loads((folder / "project.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    (folder / "project.json").write_text(json.dumps(meta))
    bench = Workbench(folder)
    assert bench.messages.level == "error" and "Upgrade microlab" in bench.messages.text
    assert json.loads((folder / "project.json").read_text())["format_version"] == (
        FORMAT_VERSION + 1)


def test_a_read_only_project_is_reported_and_strokes_are_kept(tmp_path, monkeypatch):
    project = Project(tmp_path / "ro")
    project.add_image(np.zeros((64, 64), np.uint8), name="x")
    project.close()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    bench = Workbench(tmp_path / "ro", canvas_size=(64, 64))
    assert "read-only" in bench.messages.text and "save_as" in bench.messages.text
    stroke(bench.annotator, [(10, 10), (30, 10)])
    assert bench.project.annotation(0)[10, 20] == 1
    bench.annotator.new_class("third")  # classes change in memory, the message says why
    assert "read-only" in bench.messages.text
    monkeypatch.undo()
    bench.project.save_as(tmp_path / "saved")
    bench.project.close()
    assert Project(tmp_path / "saved").annotation(0)[10, 20] == 1


def test_rerunning_the_notebook_reopens_the_strokes(tmp_path):
    image, _ = microlab.data.sandstone(0)
    first = Workbench([image], path=tmp_path / "p", canvas_size=(256, 256))
    stroke(first.annotator, [(10, 10), (50, 10)])
    first.close()
    first.project.close()
    again = Workbench([image], path=tmp_path / "p", canvas_size=(256, 256))
    assert len(again.project) == 1
    assert np.array_equal(again.project.annotation(0), first.project.annotation(0))
    again.project.close()


def test_close_closes_every_part_and_leaves_no_observer_behind(sandstone_project):
    before = sandstone_project.observers
    bench = Workbench(sandstone_project, canvas_size=(128, 128))
    paint_two_classes(sandstone_project)
    thread = bench.training.train()
    bench.close()
    thread.join(60)
    assert sandstone_project.observers == before
    assert all(part.comm is None for part in (bench, bench.annotator, bench.training,
                                              bench.viewer))


def test_importing_microlab_loads_no_widget_or_torch_code():
    code = ("import sys, microlab; microlab.Project; microlab.uncertainty; "
            "print(sorted(m for m in ('ipywidgets', 'ipycanvas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    assert microlab.Workbench is Workbench and Viewer
