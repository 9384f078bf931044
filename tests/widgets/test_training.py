"""The training panel: tiers from the registry, training off the UI thread, Stop through
the contract's ``stop`` event, live mode, and no observer left behind."""

import json
import threading
import time
from typing import ClassVar

import numpy as np
import pytest

import microlab
from microlab._modelfile import read_header, write_model
from microlab.segmenter import labels_from_proba
from microlab.tiers import TIERS, Tier, available_tiers
from microlab.widgets import Annotator, TrainingPanel
from microlab.widgets.annotator import OVERLAY

from .helpers import Shipped, paint_two_classes, stroke, wait_for


class SlowSegmenter:
    """A stand-in tier with a time budget and no live mode: its fit takes 30 s unless
    ``stop`` is set, which it checks between steps, as the contract says."""

    kind = "slow-stand-in"
    made: ClassVar[list["SlowSegmenter"]] = []
    context = 0
    alignment = 1
    channels = 1
    output = "classes"
    description = ""

    def __init__(self, classes=None, *, colors=None, max_minutes=None):
        self.classes, self.colors = list(classes or []), list(colors or [])
        self.channel_axis = None
        self.max_minutes = max_minutes
        self.started = threading.Event()
        self.steps = 0
        self.stopped = False
        SlowSegmenter.made.append(self)

    def fit(self, images, annotations, *, progress=True, stop=None):
        self.started.set()
        self.stopped = False
        while self.steps < 600:
            if stop is not None and stop.is_set():
                self.stopped = True
                break
            time.sleep(0.05)
            self.steps += 1
        return self

    def predict_proba(self, image):
        proba = np.zeros((len(self.classes), *image.spatial_shape), np.float32)
        proba[1] = 1.0
        return proba

    def predict(self, image):
        return labels_from_proba(self.predict_proba(image))

    def save(self, path):
        write_model(path, self.kind, 1, {"classes": self.classes, "colors": self.colors},
                    {"steps": np.array([self.steps])})

    @classmethod
    def load(cls, path):
        config = json.loads(read_header(path)["config"])
        return cls(config["classes"], colors=config["colors"])


@pytest.fixture
def slow_tier(monkeypatch):
    """The stand-in, registered as a tier."""
    monkeypatch.setattr(SlowSegmenter, "made", [])
    kind = SlowSegmenter.kind
    monkeypatch.setitem(TIERS, kind, Tier(kind, "Slow stand-in", f"{__name__}:SlowSegmenter",
                                          budget="max_minutes"))
    return kind


def test_the_panel_explains_missing_strokes(sandstone_project):
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


def test_strokes_only_at_the_border_are_pointed_out_after_training(sandstone_project):
    truth = microlab.data.sandstone(0)[1]
    edge = np.zeros_like(truth)
    edge[:, :6] = truth[:, :6]
    sandstone_project.set_annotation(0, edge)
    panel = TrainingPanel(sandstone_project)
    panel.train().join(120)
    assert panel.messages.level == "info" and "away from the edges" in panel.messages.text
    assert panel.segmenter is not None  # trained all the same
    paint_two_classes(sandstone_project)  # strokes all over: a plain success
    panel.train().join(120)
    assert panel.messages.level == "ok", panel.messages.text


def test_the_panel_says_which_features_a_pruned_forest_computes(sandstone_project):
    truth = microlab.data.sandstone(0)[1]
    sandstone_project.set_annotation(0, microlab.labels.scribbles_from_truth(truth, 0.02))
    panel = TrainingPanel(sandstone_project)
    panel.train().join(120)
    assert panel.messages.level == "ok", panel.messages.text
    kept = len(panel.segmenter.input_feature_names)
    assert f"it computes the {kept} of its 41 features" in panel.trained_on.value


def test_tier_choices_budget_and_live_come_from_the_registry(sandstone_project, slow_tier):
    panel = TrainingPanel(sandstone_project)
    assert dict(panel.tier.options) == {label: kind for kind, label in
                                        available_tiers().items()}
    assert panel.tier.value == "random-forest"
    assert panel.minutes.layout.display == "none" and not panel.live.disabled
    panel.live.value = True
    panel.tier.value = slow_tier  # a tier with a time budget and no live mode
    assert panel.minutes.layout.display is None
    assert panel.live.disabled and not panel.live.value
    panel.live.value = True
    assert not panel.live.value and "has no live update" in panel.messages.text
    panel.wait()


def test_train_updates_the_overlay_saves_the_model_and_predictions(sandstone_project,
                                                                   monkeypatch):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    shipped = Shipped(annotator, monkeypatch)
    paint_two_classes(sandstone_project)
    thread = panel.train()
    assert panel.stop_button.disabled is False
    thread.join(120)
    assert panel.messages.level == "ok", panel.messages.text
    overlay = shipped.layer(OVERLAY)
    assert overlay and overlay[-1].shape == (256, 256, 4) and overlay[-1][..., 3].any()
    assert (sandstone_project.path / "models" / "random-forest.safetensors").exists()
    assert (sandstone_project.path / "predictions" / "Sandstone_Versa0000.tif").exists()
    labels, _ = sandstone_project.prediction(0)
    truth = microlab.data.sandstone(0)[1]
    assert (labels == truth).mean() > 0.85
    assert panel.progress.value == 1.0 and panel.stop_button.disabled


def test_stop_ends_the_forest_early_and_keeps_saves_and_uses_its_model(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    paint_two_classes(sandstone_project)
    thread = panel.train()
    panel.stop()  # set before the forest grows its second group of trees
    thread.join(120)
    assert not panel.running and not panel.train_button.disabled
    assert panel.segmenter.stopped  # the forest's own account: it grew fewer trees
    saved = sandstone_project.models[-1]
    assert saved["kind"] == "random-forest"
    assert (sandstone_project.path / saved["file"]).exists()
    assert sandstone_project.prediction(0) is not None  # the stopped model predicted
    assert panel.messages.text.startswith("stopped early")
    assert "1 of 1 image(s) predicted" in panel.messages.text


def test_stop_ends_a_long_training_at_its_next_step(sandstone_project, slow_tier):
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    panel.tier.value = slow_tier
    panel.minutes.value = 0.5
    paint_two_classes(sandstone_project)
    thread = panel.train()
    assert wait_for(lambda: SlowSegmenter.made and SlowSegmenter.made[-1].started.is_set())
    start = time.monotonic()
    panel.stop_button.click()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - start < 2
    segmenter = panel.segmenter
    assert segmenter is SlowSegmenter.made[-1] and segmenter.stopped
    assert 0 < segmenter.steps < 600 and segmenter.max_minutes == 0.5  # the budget option
    assert sandstone_project.models[-1]["kind"] == slow_tier
    labels, _ = sandstone_project.prediction(0)
    assert (labels == 2).all()  # predicted with the stopped model
    assert panel.messages.text.startswith("stopped early")
    assert panel.stop_button.disabled and not panel.train_button.disabled
    reopened = TrainingPanel(sandstone_project)  # the saved model's tier is chosen again
    assert reopened.tier.value == slow_tier and "(saved)" in reopened.status.value


def tiny_unet(classes=None, *, colors=None, max_minutes=None):
    """The U-Net tier, small: no pretrained weights, 64-pixel patches, steps without end."""
    from microlab.deep import UNetSegmenter

    return UNetSegmenter(classes, colors=colors, width=0.25, pretrained=False, patch_size=64,
                         batch_size=4, steps_per_epoch=10, max_steps=100_000,
                         max_minutes=max_minutes, progress=False)


@pytest.mark.slow
def test_stop_ends_a_real_unet_training_and_keeps_its_model(sandstone_project, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(TIERS, "unet", Tier("unet", "U-Net", f"{__name__}:tiny_unet",
                                            budget="max_minutes"))
    annotator = Annotator(sandstone_project, canvas_size=(128, 128))
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    panel.tier.value = "unet"
    paint_two_classes(sandstone_project)
    thread = panel.train()
    deadline = time.monotonic() + 60  # set-up (a fresh process compiles and imports) and steps
    while (sum(r.get("loss") is not None for r in panel.reports) < 2
           and time.monotonic() < deadline):
        time.sleep(0.1)
    start = time.monotonic()
    panel.stop()
    thread.join(120)
    assert not thread.is_alive(), "the U-Net did not stop"
    assert panel.segmenter.stopped and panel.segmenter.kind == "unet"
    assert sandstone_project.models[-1]["kind"] == "unet"
    assert sandstone_project.prediction(0) is not None
    assert panel.messages.text.startswith("stopped early"), panel.messages.text
    assert time.monotonic() - start < 60
    # while it trained, the panel showed steps, the loss and the loss curve
    losses = [r["loss"] for r in panel.reports if r.get("loss") is not None]
    assert len(losses) >= 2 and all(np.isfinite(losses))
    assert bytes(panel.curve.value).startswith(b"\x89PNG")
    assert panel.curve.layout.display is None
    assert "U-Net uses 1 channel" in panel.trained_on.value
    assert "learns with a Random Forest trained on the same strokes" in panel.trained_on.value
    assert "70 % the forest's" in panel.trained_on.value


def test_live_mode_retrains_and_predicts_the_visible_view_after_each_stroke(sandstone_project):
    annotator = Annotator(sandstone_project, canvas_size=(256, 256))
    panel = TrainingPanel(sandstone_project, annotator, messages=annotator.messages)
    annotator.zoom(2.0)  # the visible window is a quarter of the image
    panel.live.value = True
    panel.wait()
    assert "live update waits" in panel.messages.text  # no strokes yet: a note, no error
    paint_two_classes(sandstone_project)
    stroke(annotator, [(10, 10), (20, 10)])  # the end of a stroke retrains
    panel.wait()
    assert not panel.messages.text.startswith("live update waits")
    labels, _ = sandstone_project.prediction(0)
    region = annotator.visible_region()
    assert labels[region].all() and not labels.all()  # only the visible window predicted
    assert panel.live_timings and panel.live_timings[-1] < 5.0
    trained = len(panel.live_steps)
    annotator.pan(0, 100)  # a new window is predicted without retraining
    panel.wait()
    assert labels[annotator.visible_region()].all() and len(panel.live_steps) == trained + 1
    assert not sandstone_project.models  # live models are not saved
    panel.stop()
    assert not panel.live.value and panel.stop_button.disabled


def test_close_stops_and_leaves_no_observer_behind(sandstone_project):
    annotator = Annotator(sandstone_project)
    before = sandstone_project.observers, annotator.state.observers
    panel = TrainingPanel(sandstone_project, annotator)
    assert sandstone_project.observers > before[0] and annotator.state.observers > before[1]
    assert "t" in annotator.shortcuts
    panel.live.value = True
    panel.close()
    panel.wait()
    assert (sandstone_project.observers, annotator.state.observers) == before
    assert "t" not in annotator.shortcuts and not panel.live.value


def test_compare_tiers_shows_the_table_figure_and_recommendation(sandstone_project,
                                                                  monkeypatch):
    import microlab.widgets.training as panel_module

    monkeypatch.setattr(panel_module, "available_tiers",
                        lambda: {"random-forest": "Random Forest"})  # the fast tier only
    panel = TrainingPanel(sandstone_project)
    panel.compare().join(60)
    assert panel.messages.level == "error" and "no strokes yet" in panel.messages.text
    truth = microlab.data.sandstone(0)[1]  # strokes of every class in many places
    sandstone_project.set_annotation(0, microlab.labels.scribbles_from_truth(truth, 0.02))
    panel.compare().join(300)
    assert panel.messages.level == "ok", panel.messages.text
    assert "mean IoU" in panel.comparison.value and "Random Forest" in panel.comparison.value
    assert "data:image/png;base64" in panel.comparison.value
    assert not panel.train_button.disabled and not panel.compare_button.disabled


def test_self_train_is_offered_for_the_unet_in_instance_mode_only(sandstone_project):
    pytest.importorskip("torch")
    panel = TrainingPanel(sandstone_project)
    panel.tier.value = "unet"
    assert panel.self_train.layout.display == "none"  # semantic mode: no objects to add
    sandstone_project.set_settings(mode="instance")  # the objects panel's mode switch
    assert panel.self_train.layout.display is None
    panel.self_train.value = True
    assert panel._new_segmenter().pseudo_labels is True
    panel.tier.value = "random-forest"  # the forest cannot self-train
    assert panel.self_train.layout.display == "none"
    panel.tier.value = "unet"
    panel.self_train.value = False
    assert panel._new_segmenter().pseudo_labels is False
    panel.close()
    sandstone_project.set_settings(mode="semantic")  # a closed panel no longer listens
    assert panel.self_train.layout.display is None


def test_the_forest_learns_objects_itself_once_painted_objects_are_whole(sandstone_project):
    panel = TrainingPanel(sandstone_project)
    panel.tier.value = "random-forest"
    try:
        assert panel._new_segmenter().mode == "semantic"
        sandstone_project.set_settings(mode="instance")  # strokes may cross objects
        assert panel._new_segmenter().mode == "semantic"
        sandstone_project.set_settings(whole_objects=True)  # "painted objects are whole"
        forest = panel._new_segmenter()
        assert forest.mode == "instance" and forest.output == "boundary"
        assert panel._new_segmenter(live=True).mode == "semantic"  # live: the classes
    finally:
        panel.close()
        sandstone_project.set_settings(mode="semantic", whole_objects=False)
