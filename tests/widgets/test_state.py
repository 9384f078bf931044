"""AnnotatorState: what the annotator shows, as plain Python with events (no widgets)."""

import subprocess
import sys

import numpy as np
import pytest

from microlab.project import Project
from microlab.widgets.state import MAX_RADIUS, AnnotatorState


@pytest.fixture
def stack(tmp_path):
    project = Project(tmp_path / "stack", classes=["a", "b", "c"])
    data = np.zeros((3, 5, 64, 128), np.uint16)
    data[1, 4] = 1000
    project.add_image(data, axes="TZYX", name="movie")
    project.add_image(np.zeros((2, 3, 32, 32), np.uint16), axes="TZYX", name="small")
    yield project
    project.close()


class Recorder:
    """Every event of a state, in order, with its value."""

    def __init__(self, state, events):
        self.seen = []
        for event in events:
            state.on(event, lambda value, event=event: self.seen.append((event, value)))

    def names(self):
        return [event for event, _ in self.seen]


def test_importing_the_state_loads_no_widget_library():
    code = ("import sys, microlab.widgets.state, microlab.widgets.keys, "
            "microlab.widgets.stroke; "
            "print(sorted(m for m in ('ipywidgets', 'ipycanvas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_show_image_starts_on_the_middle_z_plane_first_time_point_whole(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    changes = Recorder(state, ["changed"])
    state.show_image(0)
    assert state.planes == {"T": 0, "Z": 2} and state.plane == (0, 2)
    assert state.view.window(state.shape) == (slice(0, 64), slice(0, 128))
    assert state.visible_region() == (slice(0, 1), slice(2, 3), slice(0, 64), slice(0, 128))
    assert len(changes.seen) == 1  # one call, one "changed" event
    assert {"image", "plane", "view", "window"} <= changes.seen[0][1]


def test_a_change_emits_its_event_with_the_new_value_and_nothing_when_unchanged(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    events = Recorder(state, ["plane", "window", "tool", "radius", "changed"])
    state.set_plane("Z", 4)
    assert events.seen[:2] == [("plane", (0, 4)), ("window", state.visible_region())]
    assert events.seen[2] == ("changed", frozenset({"plane", "window"}))
    events.seen.clear()
    state.set_plane("Z", 4)
    state.set_tool("brush")
    assert events.seen == []
    state.set_radius(7)
    assert events.seen == [("radius", 7), ("changed", frozenset({"radius"}))]


def test_off_stops_the_events(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    seen = []
    state.on("tool", seen.append)
    state.set_tool("eraser")
    state.off("tool", seen.append)
    state.set_tool("pan")
    assert seen == ["eraser"]
    with pytest.raises(ValueError, match="unknown event"):
        state.on("colour", seen.append)


def test_invalid_changes_raise_and_leave_the_state_as_it_was(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    with pytest.raises(ValueError, match="tool must be one of"):
        state.set_tool("lasso")
    with pytest.raises(ValueError, match="class 4 does not exist"):
        state.select_class(4)
    with pytest.raises(ValueError, match="Z plane 5 does not exist"):
        state.set_plane("Z", 5)
    with pytest.raises(ValueError, match="low < high"):
        state.set_contrast(5, 5)
    with pytest.raises(ValueError, match="brush radius"):
        state.set_radius(MAX_RADIUS + 1)
    assert (state.tool, state.value, state.planes) == ("brush", 1, {"T": 0, "Z": 2})
    with pytest.raises(ValueError, match="canvas_size"):
        AnnotatorState(stack, canvas_size=(8, 8))


def test_a_plane_image_has_no_planes_to_step(tmp_path):
    project = Project(tmp_path / "flat")
    project.add_image(np.zeros((32, 32), np.uint8), name="flat")
    state = AnnotatorState(project, canvas_size=(32, 32))
    state.show_image(0)
    assert state.plane == () and state.visible_region() == (slice(0, 32), slice(0, 32))
    with pytest.raises(ValueError, match="no Z axis"):
        state.step_plane("Z", 1)
    project.close()


def test_selecting_a_class_leaves_the_eraser_for_the_brush(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    state.set_tool("eraser")
    assert state.paint_value == 0
    changes = Recorder(state, ["changed"])
    state.select_class(3)
    assert (state.tool, state.value, state.paint_value) == ("brush", 3, 3)
    assert changes.seen == [("changed", frozenset({"tool", "value"}))]


def test_steps_stop_at_the_first_and_last_plane_and_brush_size(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64), radius=MAX_RADIUS - 1)
    state.show_image(0)
    for _ in range(4):
        state.step_plane("Z", 1)
        state.step_radius(1)
    assert state.planes["Z"] == 4 and state.radius == MAX_RADIUS
    state.step_plane("T", -1)
    assert state.planes["T"] == 0


def test_zoom_keeps_the_point_under_the_pointer_and_fit_shows_all(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    whole = state.view.scale
    point = state.view.to_image(10, 20)
    state.zoom(2.0, at=(10, 20))
    assert state.view.scale == pytest.approx(whole / 2)
    assert state.view.to_image(10, 20) == pytest.approx(point)
    state.zoom(1000)  # zooming stops at 16 canvas pixels per image pixel
    assert state.view.scale == pytest.approx(1 / 16)
    state.fit()
    assert state.view.scale == whole


def test_a_drag_moves_the_view_and_settles_the_window_once(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(0)
    events = Recorder(state, ["view", "window"])
    top = state.view.top
    for _ in range(3):
        state.drag(5, 0)
    assert events.names() == ["view"] * 3
    assert state.view.top == pytest.approx(top - 15 * state.view.scale)
    state.end_drag()
    assert events.names() == ["view"] * 3 + ["window"]
    state.end_drag()  # no drag going on: nothing
    assert len(events.seen) == 4


def test_contrast_starts_at_percentiles_per_image_and_channel(tmp_path):
    project = Project(tmp_path / "rgb")
    rgb = np.zeros((3, 40, 40), np.uint8)
    rgb[0] = np.arange(40, dtype=np.uint8)[None] * 5
    project.add_image(rgb, axes="CYX", name="rgb")
    state = AnnotatorState(project, canvas_size=(40, 40))
    state.show_image(0)
    assert state.channels == ["rgb", 0, 1, 2] and state.channel == "rgb"
    assert state.contrast_range == (0.0, 255.0)
    state.set_channel(0)
    assert state.contrast == pytest.approx(np.percentile(rgb[0], (0.5, 99.5)))
    assert state.image_plane().shape == (40, 40)
    state.set_contrast(10, 20)
    state.set_channel(1)
    assert state.contrast != (10.0, 20.0)
    state.set_channel(0)
    assert state.contrast == (10.0, 20.0)  # kept per channel
    with pytest.raises(ValueError, match="channel 7 does not exist"):
        state.set_channel(7)


def test_show_region_switches_image_and_plane_and_outlines_the_box(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    state.show_image(1)
    changes = Recorder(state, ["changed"])
    box = (slice(10, 30), slice(40, 60))
    state.show_region(0, (2, 1), box)
    assert (state.index, state.plane, state.marker) == (0, (2, 1), (0, (2, 1), box))
    window = state.view.window(state.shape)
    assert all(w.start <= b.start and b.stop <= w.stop for w, b in zip(window, box,
                                                                       strict=True))
    assert len(changes.seen) == 1  # one redraw for the whole jump
    state.show_image(1)
    assert state.marker is None  # the outline belongs to the other image


def test_overlay_and_opacity_are_checked(stack):
    state = AnnotatorState(stack, canvas_size=(64, 64))
    events = Recorder(state, ["overlay", "opacity"])
    state.set_overlay("uncertainty")
    state.set_opacity(0.25)
    assert events.seen == [("overlay", "uncertainty"), ("opacity", 0.25)]
    with pytest.raises(ValueError, match="overlay must be one of"):
        state.set_overlay("heatmap")
    with pytest.raises(ValueError, match="opacity must be between 0 and 1"):
        state.set_opacity(2)


def test_a_project_without_images_says_so(tmp_path):
    project = Project(tmp_path / "empty")
    state = AnnotatorState(project)
    with pytest.raises(ValueError, match="no image yet"):
        state.fit()
    project.close()
