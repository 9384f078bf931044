"""Key bindings: one table maps keys to actions and writes the help line."""

import pytest

from microlab.widgets import Annotator
from microlab.widgets.keys import KeyBindings, combo


def press(annotator, name):
    """Press a key named as the table names it (``"ctrl+shift+z"``) on the canvas."""
    *modifiers, key = name.split("+") if len(name) > 1 else [name]
    annotator.key_down(key, shift="shift" in modifiers, ctrl="ctrl" in modifiers)


def test_every_bound_key_dispatches_its_action_and_is_in_the_help_line():
    keys = KeyBindings()
    calls = []
    keys.bind("b", "brush", lambda: calls.append("b"))
    keys.bind(("+", "="), "zoom", lambda: calls.append("in"), label="+ -")
    keys.bind("-", "zoom", lambda: calls.append("out"), label="+ -")
    keys.bind("ctrl+z", "undo", lambda: calls.append("undo"))
    assert [keys.dispatch(b.key) for b in keys] == [True] * 5
    assert calls == ["b", "in", "in", "out", "undo"]
    assert keys.help_line() == "b brush · + - zoom · ctrl+z undo"
    assert all(b.label in keys.help_line() for b in keys)
    assert not keys.dispatch("q")


def test_rebinding_replaces_and_unbinding_removes_and_observers_hear_both():
    keys = KeyBindings()
    changes = []
    keys.observe(lambda: changes.append(len(keys)))
    keys.bind("t", "train", lambda: None)
    keys.bind("t", "test", lambda: None)
    assert keys.help_line() == "t test" and len(keys) == 1
    keys.unbind("t")
    keys.unbind("t")
    assert "t" not in keys and keys.help_line() == "" and changes == [1, 1, 0]


def test_bad_bindings_are_refused():
    keys = KeyBindings()
    with pytest.raises(ValueError, match="non-empty key names"):
        keys.bind("", "nothing", lambda: None)
    with pytest.raises(TypeError, match="must be callable"):
        keys.bind("x", "nothing", None)


def test_help_markup_escapes_and_bolds_the_keys():
    keys = KeyBindings()
    keys.bind("<", "smaller", lambda: None)
    assert keys.help_line(markup=True) == "<b>&lt;</b> smaller"


def test_ctrl_and_cmd_are_one_modifier_and_shift_counts_only_with_it():
    assert combo("z", ctrl=True) == combo("Z", meta=True) == "ctrl+z"
    assert combo("Z", shift=True, ctrl=True) == "ctrl+shift+z"
    assert combo("+", shift=True) == "+"


def test_every_annotator_key_is_listed_and_reaches_its_action(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    help_text = annotator.help.value
    called = []
    for binding in list(annotator.shortcuts):
        assert f"<b>{binding.label}</b>" in help_text.replace("&lt;", "<")
        annotator.shortcuts.bind(binding.key, binding.description,
                                 lambda key=binding.key: called.append(key),
                                 label=binding.label)
    keys = [b.key for b in annotator.shortcuts]
    for key in keys:
        press(annotator, key)
    assert called == keys
    assert {"b", "e", "h", "1", "9", "[", "]", "+", "-", "0", "ArrowUp", ",", ".", "a",
            "ctrl+z", "ctrl+y", "ctrl+shift+z"} <= set(keys)


def test_annotator_keys_change_the_state(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    state = annotator.state
    annotator.key_down("e")
    assert state.tool == "eraser"
    annotator.key_down("3")
    assert (state.tool, state.value) == ("brush", 3)
    radius = state.radius
    annotator.key_down("]")
    annotator.key_down("]")
    annotator.key_down("[")
    assert state.radius == radius + 1
    scale = state.view.scale
    annotator.key_down("+")
    assert state.view.scale == pytest.approx(scale / 1.25)
    left = state.view.left
    annotator.key_down("ArrowLeft")
    assert state.view.left < left
    annotator.key_down("0")
    assert state.view.scale == scale
    annotator.key_down("h")
    assert state.tool == "pan"
    annotator.key_down("q")  # not bound: nothing, no message
    annotator.key_down("s", ctrl=True)
    assert annotator.messages.text == ""


def test_shortcuts_added_by_other_widgets_join_the_help_line_and_leave_it(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    pressed = []
    annotator.add_shortcut("t", "train", lambda: pressed.append("t"))
    assert "<b>t</b> train" in annotator.help.value
    annotator.key_down("t")
    annotator.remove_shortcut("t")
    annotator.key_down("t")
    assert pressed == ["t"] and "train" not in annotator.help.value
