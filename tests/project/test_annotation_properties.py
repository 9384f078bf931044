"""Property-based tests of the annotation layer: any sequence of paint, erase, undo and redo."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microlab.project import Project

SHAPE = (24, 32)

point = st.tuples(st.floats(-5, SHAPE[0] + 5), st.floats(-5, SHAPE[1] + 5))
paint = st.tuples(st.just("paint"), point, point, st.floats(0, 4), st.integers(0, 3))
action = st.one_of(paint, st.just(("end",)), st.just(("undo",)), st.just(("redo",)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(action, max_size=25))
def test_undo_and_redo_walk_the_history_of_strokes_exactly(tmp_path_factory, actions):
    project = Project(tmp_path_factory.mktemp("p"), classes=["a", "b", "c"], autosave=False)
    project.add_image(np.zeros(SHAPE, np.uint8), name="img")
    history = [project.annotation(0).copy()]  # the state after each finished stroke
    position = 0

    def stroke_ended(index):
        nonlocal position
        del history[position + 1:]
        history.append(project.annotation(0).copy())
        position += 1

    project.on("stroke", stroke_ended)
    for act in actions:
        if act[0] == "paint":
            _, start, end, radius, value = act
            before = project.annotation(0).copy()
            box = project.paint(0, start, end, radius=radius, value=value)
            after = project.annotation(0)
            changed = np.argwhere(after != before)
            if box is None:
                assert changed.size == 0
            elif changed.size:
                (y0, y1), (x0, x1) = ((s.start, s.stop) for s in box)
                assert (changed[:, 0] >= y0).all() and (changed[:, 0] < y1).all()
                assert (changed[:, 1] >= x0).all() and (changed[:, 1] < x1).all()
                assert (after[after != before] == value).all()
            continue
        if act[0] == "end":
            project.end_stroke()
        elif act[0] == "undo":
            project.end_stroke()
            assert project.undo() == (position > 0)
            position = max(0, position - 1)
        else:
            project.end_stroke()
            can = position < len(history) - 1
            assert project.redo() == can
            position += can
        assert np.array_equal(project.annotation(0), history[position])
    project.close()
