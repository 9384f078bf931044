"""Project: a crash-safe folder of images, annotations, classes, models and predictions."""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import microlab
from microlab.project import FORMAT_VERSION, Project, ProjectVersionError, training


def wait_for(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def project(tmp_path):
    p = Project(tmp_path / "proj", classes=["pore", "grain"])
    p.add_image(np.arange(64 * 80, dtype=np.uint16).reshape(64, 80), name="a")
    yield p
    p.close(discard=True)


def test_new_project_writes_a_readable_layout(project):
    meta = json.loads((project.path / "project.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["microlab_version"] == microlab.__version__
    assert [c["name"] for c in meta["classes"]] == ["pore", "grain"]
    assert meta["images"][0]["shape"] == [64, 80] and meta["images"][0]["dtype"] == "uint16"
    copy = microlab.read_image(project.path / meta["images"][0]["file"])
    assert np.array_equal(copy.data, project.image(0).data)


def test_strokes_are_autosaved_within_a_second(project):
    project.paint(0, (10, 5), (10, 40), radius=2, value=1)
    project.end_stroke()
    file = project.path / "annotations" / "a.tif"
    start = time.monotonic()
    assert wait_for(lambda: file.exists() and (microlab.read_image(file).data == 1).any(), 1.0)
    assert time.monotonic() - start < 1.0
    on_disk = microlab.read_image(file).data
    assert np.array_equal(on_disk, project.annotation(0))
    assert not list(project.path.rglob("*.tmp"))


def test_strokes_survive_a_killed_process(tmp_path):
    folder = tmp_path / "crash"
    script = f"""
import os, time, numpy as np, microlab
p = microlab.Project({str(folder)!r}, classes=["a", "b"])
p.add_image(np.zeros((50, 60), np.uint8), name="img")
p.paint(0, (20, 10), (20, 50), radius=3, value=2)
p.end_stroke()
time.sleep(0.9)
os._exit(1)   # a crash: no close(), no save()
"""
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    reopened = Project(folder)
    layer = reopened.annotation(0)
    assert layer[20, 10:51].tolist() == [2] * 41
    assert (layer == 2).sum() > 200


def test_a_failed_write_leaves_the_previous_file_intact(project, monkeypatch):
    project.paint(0, (5, 5), radius=1, value=1)
    project.end_stroke()
    project.save()
    file = project.path / "annotations" / "a.tif"
    before = file.read_bytes()
    import tifffile

    def crash(*args, **kwargs):
        Path(args[0]).write_bytes(b"half a tiff")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", crash)
    project.paint(0, (30, 30), radius=1, value=2)
    with pytest.raises(OSError, match="disk full"):
        project.save()
    assert file.read_bytes() == before
    assert not list(project.path.rglob("*.tmp"))


def test_brush_and_eraser_share_paint_and_undo_redo_restores(project):
    project.paint(0, (10, 10), (10, 30), radius=2, value=1)
    project.paint(0, (10, 30), (30, 30), radius=2, value=1)
    project.end_stroke()
    painted = project.annotation(0).copy()
    project.paint(0, (10, 20), radius=3, value=0)  # the eraser
    project.end_stroke()
    assert project.annotation(0)[10, 20] == 0
    assert project.undo()
    assert np.array_equal(project.annotation(0), painted)
    assert project.undo()
    assert not project.annotation(0).any()
    assert not project.undo()
    assert project.redo() and project.redo()
    assert project.annotation(0)[10, 20] == 0 and project.annotation(0)[30, 30] == 1
    assert not project.redo()


def test_strokes_off_the_image_edge_are_clipped(project):
    box = project.paint(0, (-20, -20), (10, 10), radius=4, value=2)
    assert box is not None and project.annotation(0)[0, 0] == 2
    assert project.paint(0, (-50, -50), (-40, -60), radius=3, value=1) is None
    assert project.paint(0, (500, 500), radius=3, value=1) is None
    assert not (project.annotation(0) == 1).any()


def test_paint_checks_its_arguments(project):
    with pytest.raises(ValueError, match="class must be a value from 1 to 2"):
        project.paint(0, (1, 1), radius=1, value=3)
    with pytest.raises(ValueError, match="radius"):
        project.paint(0, (1, 1), radius=-1, value=1)
    with pytest.raises(IndexError, match="out of range"):
        project.paint(5, (1, 1), radius=1, value=1)
    with pytest.raises(ValueError, match="finite"):
        project.paint(0, (np.nan, 1), radius=1, value=1)


def test_classes_add_rename_recolour_persist(project):
    assert project.add_class("crack", (255, 0, 0)) == 3
    project.rename_class(1, "void")
    project.set_color(2, "#00FF00")
    with pytest.raises(ValueError, match="already a class named"):
        project.add_class("void")
    with pytest.raises(ValueError, match="from 1 to 3"):
        project.rename_class(4, "x")
    project.close()
    reopened = Project(project.path)
    assert reopened.classes == ["void", "grain", "crack"]
    assert reopened.colors[1:] == ["#00ff00", "#ff0000"]


def test_stacks_rgb_and_time_series(tmp_path):
    stack = Project(tmp_path / "z")
    stack.add_image(np.zeros((5, 32, 40), np.uint16), name="zstack")
    assert stack.images[0].axes == "ZYX"
    stack.paint(0, (10, 10), radius=2, value=1, plane=(3,))
    stack.end_stroke()
    assert stack.annotation(0)[3].any() and not stack.annotation(0)[2].any()
    with pytest.raises(ValueError, match="plane needs 1"):
        stack.paint(0, (10, 10), radius=2, value=1)
    stack.close()
    assert Project(tmp_path / "z").annotation(0)[3, 10, 10] == 1

    rgb = Project(tmp_path / "rgb")
    rgb.add_image(np.zeros((32, 40, 3), np.uint8), name="rgb")
    assert rgb.images[0].axes == "CYX" and rgb.images[0].layer_shape == (32, 40)
    rgb.close()

    series = Project(tmp_path / "t")
    with pytest.raises(ValueError, match="ambiguous: pass axes="):
        series.add_image(np.zeros((2, 3, 16, 16), np.uint8))
    series.add_image(np.zeros((2, 3, 16, 16), np.uint8), axes="TZYX", name="movie")
    series.paint(0, (8, 8), radius=1, value=2, plane=(1, 2))
    series.end_stroke()
    series.close()
    reopened = Project(tmp_path / "t")
    assert reopened.images[0].layer_axes == "TZYX"
    assert reopened.annotation(0)[1, 2, 8, 8] == 2


def test_images_of_different_shapes_and_dtypes_train_together(tmp_path):
    image, truth = microlab.data.sandstone(0)
    project = Project(tmp_path / "mixed", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(image)
    project.add_image((image.data[:300, :200].astype(np.uint16) * 256), name="crop16")
    scribbles = microlab.labels.scribbles_from_truth(truth, 0.005)
    project.set_annotation(0, scribbles)
    project.set_annotation(1, scribbles[:300, :200])
    rf = training.train(project, microlab.RandomForestSegmenter(
        project.classes, features=["Gaussian σ=1.0", "Sobel"]))
    training.predict(project, rf, 1)
    labels, unsure = project.prediction(1)
    assert labels.shape == (300, 200) and 0 <= np.nanmin(unsure) <= np.nanmax(unsure) <= 1
    project.close()


def test_incompatible_images_are_refused_with_a_reason(project):
    with pytest.raises(ValueError, match=r"3D 1-channel .* but the project holds 2D 1-channel"):
        project.add_image(np.zeros((4, 16, 16), np.uint8), name="stack")
    with pytest.raises(ValueError, match=r"another image named 'a' \(shape \(64, 80\)"):
        project.add_image(np.zeros((10, 10), np.uint8), name="a")
    assert project.add_image(project.image(0).data.copy(), name="a") == 0  # a re-run
    with pytest.raises(ValueError, match="empty"):
        project.add_image(np.zeros((0, 10), np.uint8), name="empty")
    assert len(project) == 1


def test_a_project_from_a_newer_version_is_refused_untouched(tmp_path):
    folder = tmp_path / "future"
    Project(folder).close()
    meta = json.loads((folder / "project.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    meta["microlab_version"] = "9.0"
    (folder / "project.json").write_text(json.dumps(meta))
    before = (folder / "project.json").read_bytes()
    with pytest.raises(ProjectVersionError, match=r"microlab 9\.0 .* Upgrade microlab"):
        Project(folder)
    assert (folder / "project.json").read_bytes() == before


def test_a_damaged_project_file_is_reported(tmp_path):
    (tmp_path / "project.json").write_text("{not json")
    with pytest.raises(ValueError, match="damaged"):
        Project(tmp_path)


def deny_writes(monkeypatch):
    """Make every new file fail as in a read-only folder (the tests run as root)."""
    def mkstemp(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_a_read_only_folder_keeps_strokes_in_memory_and_saves_elsewhere(
    project, tmp_path, monkeypatch
):
    project.paint(0, (5, 5), radius=1, value=1)
    project.end_stroke()
    project.save()
    deny_writes(monkeypatch)
    with pytest.raises(PermissionError, match="read-only"):
        Project(tmp_path / "new-project")
    ro = Project(project.path)
    assert ro.read_only
    ro.paint(0, (40, 40), (40, 60), radius=2, value=2)
    ro.end_stroke()
    with pytest.raises(PermissionError, match="save_as"):
        ro.save()
    assert (ro.annotation(0) == 2).any()
    monkeypatch.undo()
    ro.save_as(tmp_path / "rescued")
    rescued = Project(tmp_path / "rescued")
    assert rescued.annotation(0)[40, 50] == 2 and rescued.annotation(0)[5, 5] == 1


def test_background_save_failure_is_reported(project, monkeypatch):
    messages = []
    project.on("error", messages.append)
    deny_writes(monkeypatch)
    project.paint(0, (5, 5), radius=1, value=1)
    project.end_stroke()
    assert wait_for(lambda: messages, 2.0)
    assert "read-only" in messages[0] and project.annotation(0)[5, 5] == 1


def test_close_refuses_to_drop_strokes_when_the_folder_turned_read_only(project, monkeypatch):
    deny_writes(monkeypatch)
    project.paint(0, (5, 5), radius=1, value=1)
    project.end_stroke()
    assert wait_for(lambda: project.read_only, 2.0)
    with pytest.raises(PermissionError, match=r"strokes on \['a'\] are not saved.*save_as"):
        project.close()
    monkeypatch.undo()
    project.save_as(project.path.parent / "rescued")
    project.close()
    assert Project(project.path).annotation(0)[5, 5] == 1


def test_training_needs_two_painted_classes(project):
    with pytest.raises(ValueError, match="no strokes yet"):
        training.train(project)
    project.paint(0, (5, 5), (5, 50), radius=2, value=1)
    with pytest.raises(ValueError, match="only class 'pore' has strokes"):
        training.train(project)


def test_train_saves_a_model_that_reloads(tmp_path):
    image, truth = microlab.data.sandstone(0)
    project = Project(tmp_path / "p", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(image)
    project.set_annotation(0, microlab.labels.scribbles_from_truth(truth, 0.005))
    rf = training.train(project, microlab.RandomForestSegmenter(
        project.classes, features=["Gaussian σ=1.0", "Sobel"]))
    assert (project.path / "models" / "random-forest.safetensors").exists()
    project.close()
    reloaded = Project(tmp_path / "p").load_model()
    assert np.array_equal(reloaded.predict(image), rf.predict(image))


def test_training_reads_only_annotated_tiles_of_large_images(tmp_path):
    project = Project(tmp_path / "big")
    rng = np.random.default_rng(0)
    project.add_image(rng.integers(0, 255, (1500, 1500), dtype=np.uint8), name="big")
    project.paint(0, (100, 100), (100, 200), radius=2, value=1)
    project.paint(0, (1400, 1400), (1400, 1450), radius=2, value=2)
    images, layers = training.training_data(project, 50, tile=256)
    assert len(images) == 2
    assert sum(i.data.size for i in images) < 0.1 * 1500**2
    assert sum(int((lab > 0).sum()) for lab in layers) == int((project.annotation(0) > 0).sum())
    whole, _ = training.training_data(project)
    assert whole[0].data.shape == (1500, 1500)
    project.close()


def test_predicting_a_region_matches_the_whole_image(tmp_path):
    image, truth = microlab.data.sandstone(0)
    project = Project(tmp_path / "p", classes=microlab.data.SANDSTONE_CLASSES)
    project.add_image(image)
    project.set_annotation(0, microlab.labels.scribbles_from_truth(truth, 0.005))
    rf = training.train(project, microlab.RandomForestSegmenter(
        project.classes, features=["Gaussian σ=4.0", "Sobel"]), save=False)
    region = (slice(100, 228), slice(300, 400))
    training.predict(project, rf, 0, region, save=False)
    labels, unsure = project.prediction(0)
    assert np.array_equal(labels[region], rf.predict(image)[region])
    assert not labels[:100].any() and np.isnan(unsure[:100]).all()
    project.close()


def test_predictions_are_saved_and_reloaded(tmp_path):
    project = Project(tmp_path / "p")
    project.add_image(np.zeros((10, 12), np.uint8), name="x")
    proba = np.zeros((2, 10, 12), np.float32)
    proba[0] = 0.8
    proba[1] = 0.2
    project.set_prediction(0, proba)
    project.close()
    labels, unsure = Project(tmp_path / "p").prediction(0)
    assert (labels == 1).all() and np.allclose(unsure, 0.4)


def test_channel_names_come_from_the_file_and_travel_with_the_project(tmp_path, shared_data):
    bbbc022 = shared_data / "unlabelled" / "BBBC022_IXMtest_A02_s9.tif"
    with Project(tmp_path / "p") as project:
        project.add_image(bbbc022)
        project.add_image(np.zeros((3, 16, 16), np.uint16), axes="CYX", name="unnamed")
        assert project.images[0].channel_names[0] == "IXMtest_A02_s9_c1"
        assert project.images[1].channel_names is None
        with pytest.raises(ValueError, match="2 channel name"):
            project.set_channel_names(1, ["DAPI", "GFP"])  # it has three
        project.set_channel_names(1, ["DAPI", "GFP", "actin"])
        project.set_pixel_size(1, 0.5)  # keeps the names
    with Project(tmp_path / "p") as again:
        assert again.images[1].channel_names == ("DAPI", "GFP", "actin")
        assert again.image(1).channel_names == ("DAPI", "GFP", "actin")
        assert again.image(0).channel_names == again.images[0].channel_names
        assert again.images[1].channel_name(1) == "GFP" and again.images[0].channels == 3


def test_a_pixel_size_can_be_forgotten_and_measurements_go_back_to_pixels(tmp_path):
    from microlab.project import objects

    image = np.zeros((40, 40), np.uint8)
    image[5:15, 5:15] = image[25:35, 20:32] = 200
    with Project(tmp_path / "p", classes=["nuclei", "background"]) as project:
        project.add_image(image)
        project.set_objects(0, microlab.instances(image > 100))
        project.set_pixel_size(0, 0.5)
        assert "area_µm²" in objects.measure(project, 0)
        project.set_pixel_size(0, None)
        assert project.images[0].spacing is None and project.image(0).unit is None
        table = objects.measure(project, 0)
        assert "area_px²" in table and "area_µm²" not in table
    with Project(tmp_path / "p") as again:  # forgotten on disk too
        assert again.images[0].spacing is None


@pytest.mark.parametrize("layout", ["YX", "CYX", "TYX"])
def test_finding_objects_lets_the_image_split_nuclei_the_probabilities_merged(tmp_path, layout):
    from microlab.project import objects

    yy, xx = np.mgrid[:40, :60]
    domes = sum(np.sqrt(np.clip(1 - ((yy - 20) ** 2 + (xx - c) ** 2) / 8.5**2, 0, None))
                for c in (20, 37))
    nuclei = (40 + 200 * domes).astype(np.uint8)
    pair = ((yy - 20) / 9.0) ** 2 + ((xx - 28.5) / 17.0) ** 2 < 1  # one blob, no neck
    proba = np.stack([pair, ~pair]).astype(np.float32)  # class 1 = nuclei
    assert microlab.instances(proba, foreground=0).max() == 1
    if layout == "CYX":  # the nuclei in the second channel
        data = np.stack([np.full_like(nuclei, 90), nuclei])
    elif layout == "TYX":  # the same nuclei at two time points
        data, proba = np.stack([nuclei, nuclei]), np.stack([proba, proba], axis=1)
    else:
        data = nuclei
    with Project(tmp_path / "p", classes=["nuclei", "background"]) as project:
        project.add_image(data, axes=layout)
        assert project.settings["split_by_image"]  # the default
        labels = objects.find(project, 0, proba)
        assert labels.shape == proba.shape[1:]
        for frame in labels.reshape(-1, 40, 60):
            assert frame.max() == 2 and frame[20, 18] != frame[20, 39]
        project.set_settings(split_by_image=False)  # by the predicted shape alone
        assert objects.find(project, 0, proba).reshape(-1, 40, 60).max(axis=(1, 2)).tolist() \
            == [1] * (2 if layout == "TYX" else 1)
    with Project(tmp_path / "p") as again:  # the setting travels with the project
        assert again.settings["split_by_image"] is False
        with pytest.raises(ValueError, match="split_by_image must be True or False"):
            again.set_settings(split_by_image="yes")
