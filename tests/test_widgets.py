"""The workbench widgets, driven from Python: mouse and key handlers called directly, the
project's arrays and files checked, and every message to the browser measured."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import microlab
from microlab.project import FORMAT_VERSION, Project
from microlab.widgets import Annotator, TrainingPanel, Viewer, Workbench
from microlab.widgets.annotator import IMAGE, LABELS, OVERLAY


def wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Shipped:
    """Records what the annotator ships: per layer, the arrays put on the canvas, and the
    byte size of every message the canvas manager sends."""

    def __init__(self, annotator, monkeypatch):
        from ipycanvas.canvas import _CANVAS_MANAGER

        self.puts = []
        self.messages = []
        original_put = annotator._put

        def put(layer, array, rect):
            self.puts.append((layer, array.copy(), rect))
            original_put(layer, array, rect)

        def send(content, buffers=None):
            self.messages.append(sum(memoryview(b).nbytes for b in buffers or []))

        monkeypatch.setattr(annotator, "_put", put)
        monkeypatch.setattr(_CANVAS_MANAGER, "send", send)

    def layer(self, layer):
        return [array for k, array, _ in self.puts if k == layer]

    def clear(self):
        self.puts.clear()
        self.messages.clear()


@pytest.fixture
def sandstone_project(tmp_path):
    project = Project(tmp_path / "sand", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(microlab.data.sandstone(0)[0])
    yield project
    project.close()


def stroke(annotator, points):
    annotator.mouse_down(*points[0])
    for x, y in points[1:]:
        annotator.mouse_move(x, y)
    annotator.mouse_up(*points[-1])


def test_a_stroke_paints_the_project_and_reaches_the_disk(sandstone_project, monkeypatch):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))  # 512 px image at 1/2
    shipped = Shipped(annotator, monkeypatch)
    annotator.select_class(2)
    stroke(annotator, [(50, 50), (60, 50), (70, 50)])
    layer = sandstone_project.annotation(0)
    assert layer[100, 100:141].tolist() == [2] * 41
    assert set(np.unique(layer)) == {0, 2}
    labels = shipped.layer(LABELS)
    assert labels and all(a.shape[0] * a.shape[1] < 40 * 40 for a in labels)
    assert not shipped.layer(IMAGE)  # painting never re-sends the image
    file = sandstone_project.path / "annotations" / "Sandstone_Versa0000.tif"
    assert wait_for(lambda: file.exists()
                    and np.array_equal(microlab.read_image(file).data, layer), 1.0)


def test_eraser_undo_redo_and_shortcuts(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    stroke(annotator, [(20, 20), (40, 20)])
    painted = sandstone_project.annotation(0).copy()
    annotator.key_down("e")
    assert annotator.tool == "eraser"
    stroke(annotator, [(30, 20)])
    assert sandstone_project.annotation(0)[40, 60] == 0
    annotator.key_down("z", ctrl=True)
    assert np.array_equal(sandstone_project.annotation(0), painted)
    annotator.key_down("z", ctrl=True)
    assert not sandstone_project.annotation(0).any()
    annotator.key_down("y", ctrl=True)
    assert np.array_equal(sandstone_project.annotation(0), painted)
    annotator.key_down("b")
    annotator.key_down("3")
    assert (annotator.tool, annotator.value) == ("brush", 3)
    radius = annotator.radius
    annotator.key_down("]")
    assert annotator.radius == radius + 1
    assert "ctrl+z" in annotator.help.value and "next region" not in annotator.help.value


def test_class_palette_add_rename_recolour(sandstone_project):
    annotator = Annotator(sandstone_project)
    annotator.new_class("crack", "#ff00ff")
    assert sandstone_project.classes[-1] == "crack" and annotator.value == 5
    assert len(annotator.palette.children) == 5
    annotator.class_name.value = "fracture"
    annotator.rename_button.click()
    assert sandstone_project.classes[-1] == "fracture"
    annotator.class_color.value = "#00ffff"
    assert sandstone_project.colors[-1] == "#00ffff"
    assert annotator.palette.children[-1].style.button_color == "#00ffff"
    annotator.class_name.value = "blue"
    annotator.rename_button.click()  # a duplicate name: a message, not a traceback
    assert annotator.messages.level == "error" and "already a class" in annotator.messages.text
    annotator.palette.children[0].click()
    assert annotator.value == 1
    assert Project(sandstone_project.path).classes[-1] == "fracture"


def test_contrast_min_max_and_auto(sandstone_project, monkeypatch):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    shipped = Shipped(annotator, monkeypatch)
    annotator.set_contrast(0, 255)
    wide = shipped.layer(IMAGE)[-1]
    annotator.set_contrast(100, 110)
    narrow = shipped.layer(IMAGE)[-1]
    assert narrow.std() > wide.std()
    assert annotator.contrast.value == (100, 110)
    annotator.auto_button.click()
    low, high = annotator.contrast.value
    data = sandstone_project.image(0).data
    assert low == pytest.approx(np.percentile(data, 0.5), abs=2)
    assert high == pytest.approx(np.percentile(data, 99.5), abs=2)
    annotator.set_contrast(5, 5)
    assert "low < high" in annotator.messages.text


def test_z_slider_paints_and_shows_one_plane_of_a_stack(tmp_path, monkeypatch):
    project = Project(tmp_path / "stack")
    stack = np.zeros((5, 64, 64), np.uint16)
    stack[3] = 1000
    project.add_image(stack, name="stack")
    annotator = Annotator(project, canvas_size=(64, 64))
    shipped = Shipped(annotator, monkeypatch)
    assert annotator.z_slider.layout.display is None and annotator.t_slider.layout.display
    assert annotator.plane == (2,)
    stroke(annotator, [(10, 10), (20, 10)])
    assert project.annotation(0)[2].any() and not project.annotation(0)[3].any()
    shipped.clear()
    annotator.z_slider.value = 3
    assert annotator.plane == (3,)
    image = shipped.layer(IMAGE)[-1]
    assert not shipped.layer(LABELS)  # plane 3 has no strokes: nothing shipped
    assert image.shape == (64, 64) and image.max() > 0
    annotator.key_down(",")
    assert annotator.plane == (2,)


def test_a_time_series_of_stacks_gets_t_and_z_sliders(tmp_path):
    project = Project(tmp_path / "tzyx")
    project.add_image(np.zeros((3, 4, 32, 32), np.uint16), axes="TZYX", name="movie")
    annotator = Annotator(project, canvas_size=(64, 64))
    assert annotator.t_slider.layout.display is None and annotator.z_slider.layout.display is None
    annotator.t_slider.value = 2
    annotator.z_slider.value = 1
    stroke(annotator, [(10, 10), (30, 10)])
    layer = project.annotation(0)
    assert layer[2, 1].any() and layer.sum() == layer[2, 1].sum()
    assert annotator.visible_region()[:2] == (slice(2, 3), slice(1, 2))


def test_rgb_and_multichannel_images_get_a_channel_choice(tmp_path, monkeypatch):
    project = Project(tmp_path / "rgb")
    project.add_image(microlab.data.osteosarcoma())
    annotator = Annotator(project, canvas_size=(128, 128))
    shipped = Shipped(annotator, monkeypatch)
    assert [v for _, v in annotator.channel_select.options] == ["rgb", 0, 1, 2]
    annotator.redraw()
    assert shipped.layer(IMAGE)[-1].shape == (128, 128, 4)
    annotator.channel_select.value = 2
    assert shipped.layer(IMAGE)[-1].shape == (128, 128)


def test_a_4096_image_ships_only_the_visible_view(tmp_path, monkeypatch):
    project = Project(tmp_path / "big")
    rng = np.random.default_rng(0)
    project.add_image(rng.integers(0, 4000, (4096, 4096), dtype=np.uint16), name="big")
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


def test_zoom_with_the_wheel_and_pan_by_dragging(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    fit = annotator.view.scale
    annotator.mouse_move(64, 64)
    annotator.mouse_wheel(0, -100)
    assert annotator.view.scale == pytest.approx(fit / 1.25)
    y, x = annotator.view.to_image(64, 64)
    assert (y, x) == pytest.approx((128, 128))  # zoomed about the pointer
    annotator.key_down("h")
    top = annotator.view.top
    stroke(annotator, [(100, 100), (100, 140)])
    assert annotator.view.top == pytest.approx(top - 40 * annotator.view.scale)
    assert not sandstone_project.annotation(0).any()  # the pan tool does not paint
    annotator.zoom_in_button.click()
    annotator.fit_button.click()
    assert annotator.view.scale == fit


def test_strokes_off_the_image_edge_are_clipped_quietly(tmp_path):
    project = Project(tmp_path / "wide")
    project.add_image(np.zeros((50, 200), np.uint8), name="wide")
    annotator = Annotator(project, canvas_size=(200, 200))  # letterbox above and below
    stroke(annotator, [(10, 5), (10, 100), (10, 195)])  # starts and ends off the image
    assert annotator.messages.level != "error"
    assert project.annotation(0)[:, 10].sum() > 0
    stroke(annotator, [(100, 0), (150, 2)])  # entirely off the image
    assert annotator.messages.level != "error"


def test_training_panel_explains_missing_strokes(sandstone_project):
    annotator = Annotator(sandstone_project)
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    panel.train().join()
    assert "no strokes yet" in annotator.messages.text
    assert annotator.messages.level == "error"
    stroke(annotator, [(10, 10), (100, 10)])
    panel.train_button.click()
    panel.wait()
    assert "only class 'blue' has strokes" in annotator.messages.text
    assert not panel.train_button.disabled


def paint_two_classes(annotator):
    truth = microlab.data.sandstone(0)[1]
    scribbles = microlab.labels.scribbles_from_truth(truth, 0.005)
    annotator.project.set_annotation(annotator.index, scribbles)


def test_train_updates_the_overlay_saves_the_model_and_predictions(
    sandstone_project, monkeypatch
):
    bench = Workbench(sandstone_project, canvas_size=(256, 256))
    shipped = Shipped(bench.annotator, monkeypatch)
    paint_two_classes(bench.annotator)
    thread = bench.training.train()
    assert bench.training.stop_button.disabled is False
    thread.join(120)
    assert bench.messages.level == "ok", bench.messages.text
    overlay = shipped.layer(OVERLAY)
    assert overlay and overlay[-1].shape == (256, 256, 4) and overlay[-1][..., 3].any()
    assert (sandstone_project.path / "models" / "random-forest.safetensors").exists()
    assert (sandstone_project.path / "predictions" / "Sandstone_Versa0000.tif").exists()
    labels, _ = sandstone_project.prediction(0)
    truth = microlab.data.sandstone(0)[1]
    assert (labels == truth).mean() > 0.85
    assert bench.training.progress.value == 1.0
    bench.viewer.set_overlay("uncertainty")
    assert shipped.layer(OVERLAY)[-1][..., 0].max() == 255
    bench.viewer.set_opacity(0.0)
    bench.viewer.opacity.value = 0.8
    assert bench.annotator.opacity == 0.8


def test_stop_ends_training_after_the_current_step(tmp_path):
    project = Project(tmp_path / "three", classes=microlab.data.SANDSTONE_CLASSES)
    for i in range(3):
        project.add_image(microlab.data.sandstone(i)[0])
    bench = Workbench(project, canvas_size=(128, 128))
    paint_two_classes(bench.annotator)
    thread = bench.training.train()
    bench.training.stop()
    thread.join(120)
    assert project.prediction(2) is None or "predicted" in bench.messages.text
    assert not bench.training.running and not bench.training.train_button.disabled


def test_live_mode_retrains_and_predicts_the_visible_view_after_each_stroke(
    sandstone_project, monkeypatch
):
    bench = Workbench(sandstone_project, canvas_size=(256, 256))
    annotator, panel = bench.annotator, bench.training
    annotator.zoom(2.0)  # the visible window is a quarter of the image
    panel.live.value = True
    panel.wait()
    assert "live update waits" in bench.messages.text  # no strokes yet: a note, no error
    paint_two_classes(annotator)
    panel.wait()
    assert not bench.messages.text.startswith("live update waits")
    labels, _ = sandstone_project.prediction(0)
    region = annotator.visible_region()
    assert labels[region].all() and not labels.all()  # only the visible window predicted
    assert panel.live_timings and panel.live_timings[-1] < 5.0
    annotator.pan(0, 100)  # a new window is predicted without retraining
    panel.wait()
    assert labels[annotator.visible_region()].all()
    panel.stop()
    assert not panel.live.value


def test_next_region_jumps_to_the_most_uncertain_tile(sandstone_project):
    bench = Workbench(sandstone_project, canvas_size=(256, 256))
    bench.viewer.next_button.click()
    assert "train a model first" in bench.messages.text
    paint_two_classes(bench.annotator)
    bench.training.train().join(120)
    bench.viewer.next_button.click()
    index, where, score = bench.viewer.regions[0]
    assert bench.annotator.marker == (index, (), where)
    shown = bench.annotator.view.window((512, 512))
    assert all(s.start <= w.start and w.stop <= s.stop for s, w in zip(shown, where, strict=True))
    _, unsure = sandstone_project.prediction(0)
    assert unsure[where].mean() == pytest.approx(score, rel=1e-4)
    assert score >= max(s for *_, s in bench.viewer.regions)
    bench.annotator.key_down("n")
    assert bench.annotator.marker[2] == bench.viewer.regions[1][1]


def test_gallery_shows_every_image_and_opens_it(tmp_path):
    project = Project(tmp_path / "gallery")
    project.add_image(microlab.data.sandstone(0)[0])
    project.add_image(np.zeros((40, 70), np.uint16), name="small")
    bench = Workbench(project, canvas_size=(128, 128))
    cards = bench.viewer.gallery.children
    assert len(cards) == 2 and bytes(cards[1].children[0].value).startswith(b"\x89PNG")
    cards[1].children[1].click()
    assert bench.annotator.index == 1 and bench.annotator.shape == (40, 70)
    project.add_image(np.ones((30, 30), np.uint8), name="late")
    assert len(bench.viewer.gallery.children) == 3
    assert len(bench.annotator.image_select.options) == 3


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


def test_incompatible_images_are_reported_in_the_widget(tmp_path):
    bench = Workbench([np.zeros((32, 32)), np.zeros((3, 32, 32))], path=tmp_path / "mix")
    assert bench.annotator is None and "3D 1-channel" in bench.messages.text


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
    import tempfile

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
    assert Project(tmp_path / "saved").annotation(0)[10, 20] == 1


def test_rerunning_the_notebook_reopens_the_strokes(tmp_path):
    image, _ = microlab.data.sandstone(0)
    first = Workbench([image], path=tmp_path / "p", canvas_size=(256, 256))
    stroke(first.annotator, [(10, 10), (50, 10)])
    first.project.close()
    again = Workbench([image], path=tmp_path / "p", canvas_size=(256, 256))
    assert len(again.project) == 1
    assert np.array_equal(again.project.annotation(0), first.project.annotation(0))


def test_handler_errors_are_messages_not_tracebacks(sandstone_project):
    annotator = Annotator(sandstone_project)
    annotator.select_class(9)
    assert annotator.messages.level == "error" and "class 9 does not exist" in (
        annotator.messages.text)
    annotator.key_down("ArrowLeft")
    annotator.key_down("a")
    annotator.key_down("0")
    annotator.undo()
    assert annotator.messages.text == "nothing to undo"


def test_importing_microlab_loads_no_widget_or_torch_code():
    code = ("import sys, microlab; microlab.Project; microlab.uncertainty; "
            "print(sorted(m for m in ('ipywidgets', 'ipycanvas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    assert microlab.Workbench is Workbench and Viewer


class SlowDeepSegmenter:
    """Stands in for the U-Net: a long fit that stops cleanly on KeyboardInterrupt."""

    def __init__(self, classes, colors=None):
        self.classes, self.colors = list(classes), colors
        self.interrupted = False

    def fit(self, images, annotations, *, progress=False):
        try:
            for _ in range(600):
                time.sleep(0.05)
        except KeyboardInterrupt:
            self.interrupted = True
        return self

    def predict_proba(self, image):
        shape = np.asarray(getattr(image, "data", image)).shape
        return np.full((len(self.classes), *shape), 1 / len(self.classes), np.float32)

    def save(self, path):
        Path(path).write_bytes(b"stand-in")


def test_stop_interrupts_a_long_deep_training(sandstone_project, monkeypatch):
    from microlab.widgets import training

    monkeypatch.setitem(training.TIERS, "slow", ("Slow", f"{__name__}:SlowDeepSegmenter"))
    bench = Workbench(sandstone_project, canvas_size=(128, 128))
    bench.training.tier.options = [("Random Forest", "rf"), ("Slow", "slow")]
    bench.training.tier.value = "slow"
    paint_two_classes(bench.annotator)
    start = time.monotonic()
    thread = bench.training.train()
    time.sleep(0.3)
    bench.training.stop()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - start < 5
    assert bench.training.segmenter.interrupted
    assert "stopped" in bench.messages.text
