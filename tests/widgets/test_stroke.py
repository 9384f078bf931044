"""StrokeController: mouse events at canvas points → strokes in the project, or drags."""

import numpy as np
import pytest

from microlab.project import Project
from microlab.widgets.state import AnnotatorState
from microlab.widgets.stroke import StrokeController


@pytest.fixture
def painter(tmp_path):
    project = Project(tmp_path / "p", classes=["a", "b"])
    project.add_image(np.zeros((100, 100), np.uint8), name="x")
    state = AnnotatorState(project, canvas_size=(200, 200), radius=1)  # 2 canvas px / px
    state.show_image(0)
    yield project, state, StrokeController(project, state)
    project.close()


def test_a_stroke_paints_through_the_view_and_is_one_undo_step(painter):
    project, state, strokes = painter
    state.select_class(2)
    first = strokes.down(20, 20)
    moves = [strokes.move(20, x) for x in (60, 100)]
    assert first.start == (10.0, 10.0) and moves[-1].end == (10.0, 50.0)
    assert {s.value for s in (first, *moves)} == {2}
    box = strokes.up()
    layer = project.annotation(0)
    assert layer[10, 10:51].tolist() == [2] * 41 and set(np.unique(layer)) == {0, 2}
    assert layer[box].sum() == layer.sum()  # the stroke's box holds all it painted
    assert project.undo() and not project.annotation(0).any()  # one step undoes it all
    assert not project.can_undo


def test_the_eraser_writes_zero_with_the_same_stroke(painter):
    project, state, strokes = painter
    strokes.down(20, 20)
    strokes.move(20, 100)
    strokes.up()
    state.set_tool("eraser")
    assert strokes.down(20, 60).value == 0
    strokes.up()
    layer = project.annotation(0)
    assert layer[10, 30] == 0 and layer[10, 15] == 1


def test_zoomed_in_canvas_points_map_to_the_right_pixels(painter):
    project, state, strokes = painter
    state.zoom(2.0, at=(0, 0))  # canvas (0, 0) stays image (0, 0); 4 canvas px per pixel
    strokes.down(100, 100)
    strokes.up()
    assert project.annotation(0)[25, 25] == 1 and project.annotation(0)[50, 50] == 0


def test_the_pan_tool_drags_the_view_and_paints_nothing(painter):
    project, state, strokes = painter
    state.zoom(2.0)
    state.set_tool("pan")
    windows = []
    state.on("window", windows.append)
    left = state.view.left
    assert strokes.down(50, 50) is None and strokes.panning
    strokes.move(50, 90)
    strokes.move(50, 130)
    assert windows == []  # live prediction waits for the drag to end
    assert strokes.up() is None
    assert state.view.left == pytest.approx(left - 80 * state.view.scale)
    assert windows == [state.visible_region()] and not project.annotation(0).any()


def test_strokes_off_the_image_paint_nothing_and_leaving_ends_a_stroke(painter):
    project, state, strokes = painter
    state.fit()
    state.pan(0, 150)  # the image now starts at canvas x 150
    assert strokes.down(20, 10) is None
    assert strokes.move(20, 120) is None
    assert strokes.leave() is None and strokes.hover is None
    assert not project.annotation(0).any() and not strokes.pressed
    strokes.down(20, 160)
    assert strokes.leave() is not None and not strokes.pressed
    assert project.annotation(0).any()


def test_moving_without_pressing_only_tracks_the_pointer(painter):
    project, _, strokes = painter
    assert strokes.move(30, 40) is None and strokes.hover == (30, 40)
    assert strokes.up() is None
    assert not project.annotation(0).any()
