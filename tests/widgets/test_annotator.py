"""The annotation canvas, driven from Python: mouse and key handlers called directly, the
project's arrays and files checked, and what is shipped to the browser measured."""

import numpy as np
import pytest

import microlab
from microlab.project import Project
from microlab.widgets import Annotator
from microlab.widgets.annotator import IMAGE, LABELS

from .helpers import Shipped, stroke, wait_for


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
    assert shipped.messages and max(shipped.messages) < 40 * 40 * 4  # bytes per message
    assert not shipped.layer(IMAGE)  # painting never re-sends the image
    assert len(annotator.timings) == 3  # one per mouse event of the stroke
    file = sandstone_project.path / "annotations" / "Sandstone_Versa0000.tif"
    assert wait_for(lambda: file.exists()
                    and np.array_equal(microlab.read_image(file).data, layer), 1.0)


def test_eraser_undo_and_redo(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    stroke(annotator, [(20, 20), (40, 20)])
    painted = sandstone_project.annotation(0).copy()
    annotator.tool_buttons.value = "eraser"
    assert annotator.tool == "eraser"
    stroke(annotator, [(30, 20)])
    assert sandstone_project.annotation(0)[40, 60] == 0
    annotator.key_down("z", ctrl=True)
    assert np.array_equal(sandstone_project.annotation(0), painted)
    annotator.undo_button.click()
    assert not sandstone_project.annotation(0).any()
    assert annotator.undo_button.disabled and not annotator.redo_button.disabled
    annotator.key_down("Z", shift=True, meta=True)
    assert np.array_equal(sandstone_project.annotation(0), painted)
    annotator.redo_button.click()
    assert sandstone_project.annotation(0)[40, 60] == 0


def test_the_controls_follow_the_state_and_drive_it(tmp_path, monkeypatch):
    project = Project(tmp_path / "stack")
    project.add_image(np.zeros((5, 64, 64), np.uint16), name="stack")
    annotator = Annotator(project, canvas_size=(64, 64))
    shipped = Shipped(annotator, monkeypatch)
    annotator.state.set_plane("Z", 4)  # from Python: the slider moves, the canvas redraws
    assert annotator.z_slider.value == 4 and shipped.layer(IMAGE)
    annotator.state.set_radius(9)
    annotator.state.set_tool("pan")
    assert (annotator.size_slider.value, annotator.tool_buttons.value) == (9, "pan")
    annotator.size_slider.value = 3  # from the controls: the state changes
    annotator.z_slider.value = 1
    assert (annotator.radius, annotator.plane) == (3, (1,))
    project.close()


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
    assert annotator.palette.children[-1].style.text_color == "#000000"  # dark on light
    annotator.class_name.value = "blue"
    annotator.rename_button.click()  # a duplicate name: a message, not a traceback
    assert annotator.messages.level == "error" and "already a class" in annotator.messages.text
    annotator.palette.children[0].click()
    assert annotator.value == 1 and annotator.class_name.value == "blue"
    sandstone_project.close()
    assert Project(sandstone_project.path).classes[-1] == "fracture"


def test_contrast_min_max_and_auto(sandstone_project, monkeypatch):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    shipped = Shipped(annotator, monkeypatch)
    annotator.set_contrast(0, 255)
    wide = shipped.layer(IMAGE)[-1]
    annotator.contrast.value = (100, 110)
    narrow = shipped.layer(IMAGE)[-1]
    assert narrow.std() > wide.std()
    assert annotator.state.contrast == (100, 110)
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
    assert annotator.plane == (2,) and annotator.z_slider.value == 2
    project.close()


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
    project.close()


def test_rgb_and_multichannel_images_get_a_channel_choice(tmp_path, monkeypatch):
    project = Project(tmp_path / "rgb")
    project.add_image(microlab.data.osteosarcoma())
    annotator = Annotator(project, canvas_size=(128, 128))
    shipped = Shipped(annotator, monkeypatch)
    assert [v for _, v in annotator.channel_select.options] == ["rgb", 0, 1, 2]
    annotator.redraw()
    assert shipped.layer(IMAGE)[-1].shape == (128, 128, 4)
    annotator.channel_select.value = 2
    assert annotator.channel == 2 and shipped.layer(IMAGE)[-1].shape == (128, 128)
    project.close()


def test_zoom_with_the_wheel_and_pan_by_dragging(sandstone_project, monkeypatch):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    fit = annotator.view.scale
    annotator.mouse_move(64, 64)
    annotator.mouse_wheel(0, -100)
    assert annotator.view.scale == pytest.approx(fit / 1.25)
    y, x = annotator.view.to_image(64, 64)
    assert (y, x) == pytest.approx((128, 128))  # zoomed about the pointer
    annotator.key_down("h")
    top = annotator.view.top
    shipped = Shipped(annotator, monkeypatch)
    stroke(annotator, [(100, 100), (100, 140)])
    assert annotator.view.top == pytest.approx(top - 40 * annotator.view.scale)
    assert shipped.layer(IMAGE)  # the view was redrawn while dragging
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
    project.close()


def test_leaving_the_canvas_ends_the_stroke(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    annotator.mouse_down(10, 10)
    annotator.mouse_move(40, 10)
    annotator.mouse_out(300, 10)
    assert sandstone_project.can_undo and not annotator.strokes.pressed
    annotator.mouse_move(60, 10)  # back over the canvas, button up: no paint
    assert not sandstone_project.annotation(0)[:, 110:].any()


def test_handler_errors_are_messages_not_tracebacks(sandstone_project):
    annotator = Annotator(sandstone_project)
    annotator.select_class(9)
    assert annotator.messages.level == "error" and "class 9 does not exist" in (
        annotator.messages.text)
    annotator.key_down(".")  # a single plane: there is no Z to step through
    assert "no Z axis" in annotator.messages.text
    annotator.key_down("ArrowLeft")
    annotator.key_down("a")
    annotator.key_down("0")
    annotator.undo()
    assert annotator.messages.text == "nothing to undo"


def test_an_empty_project_shows_the_first_image_added(tmp_path):
    project = Project(tmp_path / "empty")
    annotator = Annotator(project, canvas_size=(64, 64))
    assert "no image yet" in annotator.messages.text
    project.add_image(np.zeros((32, 32), np.uint8), name="first")
    assert annotator.shape == (32, 32) and annotator.image_select.layout.display == "none"
    project.add_image(np.zeros((16, 16), np.uint8), name="second")
    annotator.image_select.value = 1
    assert annotator.index == 1 and annotator.shape == (16, 16)
    project.close()


def test_close_removes_every_observer_from_the_project(sandstone_project):
    before = sandstone_project.observers
    annotator = Annotator(sandstone_project)
    assert sandstone_project.observers > before
    annotator.close()
    assert sandstone_project.observers == before


def test_fluorescence_channels_show_as_a_composite_each_with_its_contrast(tmp_path,
                                                                          monkeypatch):
    project = Project(tmp_path / "fluo")
    image = np.zeros((2, 64, 64), np.uint16)
    image[0, :, :32] = 4000  # a nuclear stain on the left, dim
    image[1, :, 32:] = 60000  # another channel on the right, bright
    image[:, 0, 0] = 1  # something below the bright values in every channel
    project.add_image(image, axes="CYX", name="two-channels")
    annotator = Annotator(project, canvas_size=(64, 64))
    shipped = Shipped(annotator, monkeypatch)
    assert [v for _, v in annotator.channel_select.options] == ["composite", 0, 1]
    assert "blue in composite" in annotator.channel_select.options[1][0]
    assert annotator.channel == "composite" and annotator.contrast.disabled
    annotator.redraw()
    rgba = shipped.layer(IMAGE)[-1]
    assert rgba.shape == (64, 64, 4)
    left, right = rgba[32, 10, :3].tolist(), rgba[32, 50, :3].tolist()
    assert left[2] == 255 and left[1] < 140 and left[0] < 80  # blue: its own contrast
    assert right == [0, 255, 0]  # green
    annotator.channel_select.value = 1
    assert not annotator.contrast.disabled and shipped.layer(IMAGE)[-1].shape == (64, 64)
    project.close()
