"""The viewer: overlay controls, the gallery and the next region to annotate."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

import microlab
from microlab.project import Project, training
from microlab.widgets import Annotator, Viewer
from microlab.widgets.annotator import OVERLAY

from .helpers import Shipped, paint_two_classes


@pytest.fixture
def predicted(sandstone_project):
    """The sandstone project, trained on scribbles and predicted."""
    paint_two_classes(sandstone_project)
    segmenter = training.train(sandstone_project, save=False)
    training.predict(sandstone_project, segmenter, 0, save=False)
    return sandstone_project


def test_overlay_controls_and_the_annotator_stay_in_step(predicted, monkeypatch):
    annotator = Annotator(predicted, canvas_size=(128, 128))
    viewer = Viewer(predicted, annotator)
    shipped = Shipped(annotator, monkeypatch)
    viewer.overlay.value = "uncertainty"
    assert annotator.overlay == "uncertainty"
    assert shipped.layer(OVERLAY)[-1][..., 0].max() == 255  # red: the most unsure
    annotator.set_overlay("prediction")  # changed on the canvas side: the toggle follows
    assert viewer.overlay.value == "prediction"
    viewer.opacity.value = 0.8
    assert annotator.opacity == 0.8
    annotator.set_opacity(0.3)
    assert viewer.opacity.value == 0.3
    drawn = len(shipped.layer(OVERLAY))
    annotator.key_down("o")
    assert annotator.overlay == viewer.overlay.value == "none"
    assert len(shipped.layer(OVERLAY)) == drawn  # the overlay is cleared, nothing drawn
    viewer.toggle_overlay()
    assert annotator.overlay == "prediction"
    viewer.set_opacity(3)
    assert "opacity must be between 0 and 1" in viewer.messages.text


def test_next_region_jumps_to_the_most_uncertain_tile(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    viewer = Viewer(sandstone_project, annotator)
    viewer.next_button.click()
    assert "train a model first" in viewer.messages.text
    paint_two_classes(sandstone_project)
    training.predict(sandstone_project, training.train(sandstone_project, save=False), 0)
    viewer.next_button.click()
    index, where, score = viewer.regions[0]
    assert annotator.marker == (index, (), where)
    shown = annotator.view.window((512, 512))
    assert all(s.start <= w.start and w.stop <= s.stop for s, w in zip(shown, where, strict=True))
    _, unsure = sandstone_project.prediction(0)
    assert unsure[where].mean() == pytest.approx(score, rel=1e-4)
    assert score >= max(s for *_, s in viewer.regions)
    annotator.key_down("n")
    assert annotator.marker[2] == viewer.regions[1][1]


def test_gallery_shows_every_image_with_its_prediction_and_opens_it(tmp_path):
    project = Project(tmp_path / "gallery", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(microlab.data.sandstone(0)[0])
    project.add_image(np.zeros((40, 70), np.uint8), name="small")
    annotator = Annotator(project, canvas_size=(128, 128))
    viewer = Viewer(project, annotator)
    cards = viewer.gallery.children
    assert len(cards) == 2 and bytes(cards[1].children[0].value).startswith(b"\x89PNG")
    plain = np.asarray(PILImage.open(io.BytesIO(viewer.thumbnail(1))))
    project.set_prediction(1, np.stack([np.zeros((40, 70)), np.ones((40, 70)),
                                        np.zeros((40, 70)), np.zeros((40, 70))]))
    tinted = np.asarray(PILImage.open(io.BytesIO(bytes(cards[1].children[0].value))))
    orange = [int(0.45 * int(project.colors[1][i:i + 2], 16)) for i in (1, 3, 5)]
    assert (plain == 0).all() and tinted[37, 64].tolist() == orange  # 45 % class 2
    cards[1].children[1].click()
    assert annotator.index == 1 and annotator.shape == (40, 70)
    project.add_image(np.ones((30, 30), np.uint8), name="late")
    assert len(viewer.gallery.children) == 3
    assert len(annotator.image_select.options) == 3
    project.close()


def test_close_leaves_no_observer_and_no_shortcut_behind(sandstone_project):
    annotator = Annotator(sandstone_project)
    before = sandstone_project.observers, annotator.state.observers
    viewer = Viewer(sandstone_project, annotator)
    assert "n" in annotator.shortcuts and sandstone_project.observers > before[0]
    viewer.close()
    assert (sandstone_project.observers, annotator.state.observers) == before
    assert "n" not in annotator.shortcuts and "next region" not in annotator.help.value
    annotator.set_overlay("none")  # the closed viewer's toggle no longer follows
    assert viewer.overlay.value == "prediction"


def test_a_new_model_clears_the_stale_region_and_its_message(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    viewer = Viewer(sandstone_project, annotator)
    assert annotator.undo_button.disabled and annotator.redo_button.disabled  # nothing yet
    paint_two_classes(sandstone_project)
    training.predict(sandstone_project, training.train(sandstone_project, save=False), 0)
    viewer.next_region()
    assert annotator.marker is not None and viewer.messages.text.startswith("region 1")
    training.train(sandstone_project)  # a new (saved) model
    assert annotator.marker is None and viewer.regions == []
    assert viewer.messages.text == ""
