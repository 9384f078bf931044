"""The objects panel: instance mode, the table, colour by column, apply to all, export."""

import html
import json

import numpy as np
import pandas as pd
import pytest

import microlab
from microlab.project import Project
from microlab.project import objects as project_objects
from microlab.widgets import Workbench


def _nuclei_project(path, n_images=1, size=192):
    project = Project(path, classes=["nuclei", "background"])
    truths = []
    for seed in range(n_images):
        image, truth = microlab.data.synthetic_nuclei((size, size), seed=seed, radius=(6, 10))
        project.add_image((image * 1000).astype(np.uint16), name=f"nuclei{seed}")
        truths.append(truth)
    # whole nuclei painted on image 0 and background strokes between them
    truth = truths[0]
    layer = np.zeros(truth.shape, np.uint8)
    for label in np.unique(truth)[1:6]:
        layer[truth == label] = 1
    from scipy import ndimage

    far = ~ndimage.binary_dilation(truth > 0, iterations=3)
    rows = np.zeros(truth.shape, bool)
    rows[::24] = True
    layer[far & rows] = 2
    ring = ndimage.binary_dilation(layer == 1, iterations=3) & ~ndimage.binary_dilation(
        truth > 0, iterations=1)
    layer[ring] = 2
    project.set_annotation(0, layer)
    return project, truths


@pytest.fixture
def bench(tmp_path):
    project, truths = _nuclei_project(tmp_path / "nuclei", n_images=3)
    bench = Workbench(project)
    bench.truths = truths
    yield bench
    bench.close()
    project.close()


def _train(bench):
    bench.training.train().join()
    bench.training.wait()
    assert bench.training.segmenter is not None, bench.messages.text


def test_instance_mode_finds_measures_and_shows_objects(bench):
    panel, annotator, project = bench.objects, bench.annotator, bench.project
    assert panel._instance_box.layout.display == "none"  # semantic: no table
    panel.mode.value = "instance"
    assert project.settings["mode"] == "instance"
    assert panel._instance_box.layout.display is None
    _train(bench)
    labels = project.objects(0)
    assert labels is not None and labels.max() > 5
    ap = microlab.measure.average_precision(bench.truths[0], labels, iou=0.5)
    assert ap > 0.6, ap
    assert panel.table is not None and len(panel.table) == len(np.unique(labels)) - 1
    assert len(panel.rows.options) == len(panel.table)
    assert "mean_distance_k8_px" in panel.table.columns

    # the objects overlay draws each object with its own colour and an outline
    annotator.set_overlay("objects")
    assert annotator.overlay == "objects" and bench.viewer.overlay.value == "objects"

    # sorting by area, descending: the first row is the largest object
    panel.sort_by.value = "area_px²"
    panel.descending.value = True
    largest = int(panel.rows.options[0][1])
    area = panel.table.set_index("label")["area_px²"]
    assert area[largest] == area.max()  # (objects of equal area may come in either order)
    assert area[int(panel.rows.options[-1][1])] == area.min()

    # selecting a row outlines that object
    panel.rows.value = largest
    assert annotator.selected_object == largest

    # clicking an object with the pan tool selects its row
    annotator.set_tool("pan")
    other = int(panel.table["label"].iloc[0]) if largest != int(
        panel.table["label"].iloc[0]) else int(panel.table["label"].iloc[1])
    oy, ox = np.argwhere(labels == other)[0]
    cy, cx = annotator.view.to_canvas(oy + 0.5, ox + 0.5)
    annotator.mouse_down(cx, cy)
    annotator.mouse_up(cx, cy)
    assert annotator.selected_object == other and panel.rows.value == other
    # hovering another object with the pan tool shows its row too
    hy, hx = np.argwhere(labels == largest)[0]
    cy, cx = annotator.view.to_canvas(hy + 0.5, hx + 0.5)
    annotator.mouse_move(cx, cy)
    assert annotator.selected_object == largest and panel.rows.value == largest

    # colour by a column: a LUT over the labels, a colour bar and a histogram
    panel.colour_by.value = "area_px²"
    lut = annotator.object_colors
    assert lut is not None and lut.shape[0] > labels.max()
    small = int(panel.table.sort_values("area_px²").iloc[0]["label"])
    assert not np.array_equal(lut[small], lut[largest])
    assert bytes(panel.colour_bar.value).startswith(b"\x89PNG")
    assert bytes(panel.histogram.value).startswith(b"\x89PNG")
    panel.colour_by.value = "each its own colour"
    assert annotator.object_colors is None


def test_pixel_size_set_in_the_panel_gives_physical_columns(bench):
    panel, project = bench.objects, bench.project
    panel.mode.value = "instance"
    _train(bench)
    assert "area_px²" in panel.table.columns
    pixels = panel.table["area_px²"].to_numpy()
    panel.set_pixel_size(0.5, "µm")
    assert all(info.spacing == (0.5, 0.5) for info in project.images)
    assert "area_µm²" in panel.table.columns
    np.testing.assert_allclose(panel.table["area_µm²"].to_numpy(), pixels * 0.25)
    panel.neighbours.value = 4
    assert project.settings["neighbours"] == 4
    assert "mean_distance_k4_µm" in panel.table.columns


def test_apply_to_all_then_export_and_reopen(bench, tmp_path):
    panel, project = bench.objects, bench.project
    panel.mode.value = "instance"
    _train(bench)
    panel.apply_all().join()
    assert all(project.objects(i) is not None for i in range(len(project)))
    assert "nuclei2" in panel.summary.value and panel.progress.value == 1.0
    out = tmp_path / "export"
    panel.export(str(out))
    assert "exported" in bench.messages.text, bench.messages.text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["labels", "model.safetensors", "objects.csv", "record.json",
                     "record.md", "summary.csv"]
    table = pd.read_csv(out / "objects.csv")
    assert set(table["image"]) == {"nuclei0", "nuclei1", "nuclei2"}
    assert len(table) == sum(int(project.objects(i).max() > 0) and
                             len(np.unique(project.objects(i))) - 1 for i in range(3))
    record = json.loads((out / "record.json").read_text())
    assert record["settings"]["mode"] == "instance"
    assert record["model"]["kind"] == bench.training.segmenter.kind
    assert record["microlab_version"] == microlab.__version__
    labels = microlab.read_image(out / "labels" / "nuclei1_objects.tif").data
    np.testing.assert_array_equal(labels, project.objects(1))
    model = microlab.load_segmenter(out / "model.safetensors")
    # the painted nuclei are not declared whole: the forest learnt the painted classes
    assert model.mode == "semantic" and model.classes == ["nuclei", "background"]

    # everything comes back after a restart
    path = project.path
    bench.close()
    project.close()
    reopened = Project(path)
    try:
        assert reopened.settings["mode"] == "instance"
        exported = microlab.read_image(out / "labels" / "nuclei2_objects.tif").data
        np.testing.assert_array_equal(reopened.objects(2), exported)
        again = Workbench(reopened)
        assert again.objects.mode.value == "instance"
        assert again.objects.table is not None and len(again.objects.table) > 5
        again.close()
    finally:
        reopened.close()


def test_stop_during_apply_to_all_keeps_the_images_done(bench):
    panel, project = bench.objects, bench.project
    _train(bench)  # semantic: predictions, no objects
    panel.mode.value = "instance"
    for i in range(3):
        assert project.objects(i) is None
    calls = []
    original = project_objects.summary

    def slow_summary(project_, index, table=None):
        calls.append(index)
        if len(calls) == 1:
            panel.stop()
        return original(project_, index, table)

    project_objects.summary = slow_summary
    try:
        panel.apply_all().join()
    finally:
        project_objects.summary = original
    assert "stopped: 1 of 3 images done" in bench.messages.text
    assert project.objects(0) is not None and project.objects(1) is None


def test_export_problems_are_messages_not_tracebacks(bench, tmp_path):
    panel = bench.objects
    panel.export(str(tmp_path / "nothing"))
    assert bench.messages.level == "error" and "nothing to export yet" in bench.messages.text
    panel.mode.value = "instance"
    _train(bench)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    panel.export(str(blocked / "out"))  # cannot be made, as a read-only folder
    assert bench.messages.level == "error"
    assert "cannot export" in bench.messages.text, bench.messages.text


def test_instance_mode_with_no_object_painted_says_so(tmp_path):
    from microlab.project import training

    project, _ = _nuclei_project(tmp_path / "p")
    training.train(project)  # a saved model; then the objects' strokes are erased
    layer = project.annotation(0)
    project.set_annotation(0, np.where(layer == 1, 0, layer).astype(np.uint8))
    bench = Workbench(project)
    try:
        assert bench.training.segmenter is not None
        bench.objects.find().join()
        assert bench.messages.level == "error"
        assert "no 'nuclei' is painted yet" in bench.messages.text
        assert project.objects(0) is None
    finally:
        bench.close()
        project.close()


def test_settings_are_checked(tmp_path):
    project = Project(tmp_path / "p", classes=["a", "b"])
    with pytest.raises(ValueError, match="mode must be"):
        project.set_settings(mode="objects")
    with pytest.raises(ValueError, match="class"):
        project.set_settings(object_class=3)
    with pytest.raises(TypeError, match="unknown setting"):
        project.set_settings(colour="red")
    project.add_image(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="pixel size must be"):
        project.set_pixel_size(0, -1)
    with pytest.raises(ValueError, match="integer label image"):
        project.set_objects(0, np.zeros((4, 4), np.int32))
    project.close()


def test_boundary_training_data_from_whole_painted_objects(tmp_path):
    from microlab.project import training

    project = Project(tmp_path / "b", classes=["background", "nuclei"])
    project.add_image(np.zeros((40, 40), np.uint8))
    layer = np.zeros((40, 40), np.uint8)
    layer[10:20, 10:20] = 2  # one whole nucleus (class 2)
    layer[35, :] = 1  # a background stroke
    project.set_annotation(0, layer)
    project.set_settings(mode="instance", object_class=2)
    _, (converted,) = training.training_data(project, output="boundary")
    assert converted[15, 15] == 3 and converted[10, 15] == 2 and converted[19, 12] == 2
    assert converted[35, 0] == 1  # the stroke: background
    assert converted[9, 15] == 4  # the ring: background or a touching neighbour's boundary
    assert converted[0, 0] == 0 and converted[25, 25] == 0  # unpainted stays unlabelled
    proba = np.broadcast_to(np.array([0.2, 0.3, 0.5], np.float32)[:, None, None],
                            (3, 40, 40))
    shown = training._boundary_as_classes(project, proba)
    assert np.allclose(shown[1], 0.8) and np.allclose(shown[0], 0.2)  # nuclei = class 2
    project.close()


@pytest.mark.slow
def test_unet_in_instance_mode_learns_objects_from_whole_painted_nuclei(tmp_path):
    pytest.importorskip("torch")
    project = Project(tmp_path / "u", classes=["nuclei", "background"])
    image, truth = microlab.data.synthetic_nuclei((192, 192), seed=0, radius=(6, 10))
    project.add_image((image * 1000).astype(np.uint16), name="nuclei0")
    from scipy import ndimage

    layer = np.zeros(truth.shape, np.uint8)
    for label in np.unique(truth)[1:9]:
        layer[truth == label] = 1  # whole nuclei, as the workbench asks
    rows = np.zeros(truth.shape, bool)
    rows[::16] = True
    layer[rows & ~ndimage.binary_dilation(truth > 0, iterations=2)] = 2
    project.set_annotation(0, layer)
    bench = Workbench(project)
    try:
        bench.objects.mode.value = "instance"
        bench.training.tier.value = "unet"
        bench.training.minutes.value = 0.5
        bench.training.train().join(300)
        assert bench.training.segmenter.output == "boundary", bench.messages.text
        assert project.models[-1]["kind"] == "unet"
        labels = project.objects(0)
        ap = microlab.measure.average_precision(truth, labels, iou=0.5)
        assert ap > 0.5, ap
        shown, _ = project.prediction(0)
        assert set(np.unique(shown)) <= {1, 2} and (shown[truth > 0] == 1).mean() > 0.7
        assert bench.objects.table is not None and len(bench.objects.table) > 10
    finally:
        bench.close()
        project.close()


def test_a_hint_when_the_background_strokes_are_far_from_the_objects(tmp_path):
    from skimage.draw import disk

    from microlab.project import training

    image = np.full((128, 256), 20, np.uint8)
    layer = np.zeros(image.shape, np.uint8)
    for y, x in ((30, 30), (64, 70), (100, 40)):
        image[disk((y, x), 10, shape=image.shape)] = 200
        layer[disk((y, x), 10, shape=image.shape)] = 1  # whole nuclei painted
    layer[10:120, 240:244] = 2  # background only far away
    project = Project(tmp_path / "h", classes=["nuclei", "background"])
    project.add_image(image)
    project.set_annotation(0, layer)
    project.set_settings(mode="instance")
    bench = Workbench(project)
    try:
        training.predict(project, training.train(project, save=False), 0)
        assert "background strokes are far" in bench.objects.hint.value
        far_area = project.objects(0).astype(bool).sum()
        bench.objects.whole.value = True  # the nuclei were filled whole: use their rings
        assert project.settings["whole_objects"]
        _, (ringed,) = training.training_data(project)
        assert ringed[64, 70 + 11] == 2 and ringed[64, 70 + 13] == 0  # a 2-pixel ring
        training.predict(project, training.train(project, save=False), 0)
        assert bench.objects.hint.value == ""
        ringed_area = project.objects(0).astype(bool).sum()
        truth_area = (image == 200).sum()
        assert abs(ringed_area - truth_area) <= abs(far_area - truth_area)
        bench.objects.whole.value = False
        ring = layer.copy()
        yy, xx = np.mgrid[:128, :256]
        for y, x in ((64, 70), (30, 30)):
            ring[(np.hypot(yy - y, xx - x) < 14) & (np.hypot(yy - y, xx - x) >= 12)] = 2
        project.set_annotation(0, ring)
        training.predict(project, training.train(project, save=False), 0)
        assert bench.objects.hint.value == ""
    finally:
        bench.close()
        project.close()


def test_a_hint_where_the_classifier_half_sees_dimmer_nuclei(tmp_path):
    from scipy import ndimage
    from skimage.draw import disk

    from microlab.project import training

    rng = np.random.default_rng(0)
    image = np.full((160, 320), 20.0)
    layer = np.zeros(image.shape, np.uint8)
    for y, x in ((35, 35), (35, 115), (120, 60), (120, 150)):  # bright, painted whole
        image[disk((y, x), 12, shape=image.shape)] = 200
        layer[disk((y, x), 12, shape=image.shape)] = 1
    dim = ((40, 200), (120, 240), (60, 280), (125, 300))  # dimmer, not painted
    for y, x in dim:
        image[disk((y, x), 12, shape=image.shape)] = 70
    image = ndimage.gaussian_filter(image, 1.5) + rng.normal(0, 6, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    layer[80, 5:170] = 2
    layer[5:155, 85] = 2
    project = Project(tmp_path / "d", classes=["nuclei", "background"])
    project.add_image(image)
    project.set_annotation(0, layer)
    project.set_settings(mode="instance", whole_objects=True)
    bench = Workbench(project)
    try:
        model = training.train(project, save=False)
        # whole painted nuclei in instance mode: the forest learns their boundaries itself
        assert model.mode == "instance" and model.classes == ["background", "boundary",
                                                              "interior"]
        training.predict(project, model, 0)
        assert project.objects(0).max() == 4  # the dim nuclei are left out ...
        hint = html.unescape(bench.objects.hint.value)
        assert "4 places look like 'nuclei' of the usual size" in hint  # ... and hinted
        assert all(f"x {x} y {y}" in hint for y, x in dim)  # where: each one's middle
        assert bench.objects.place_button.layout.display != "none"
        shown = set()
        for _ in dim:  # the button steps through the places, zoomed and outlined
            bench.objects.next_place()
            index, plane, (rows, cols) = bench.annotator.state.marker
            assert index == 0 and plane == ()
            shown |= {(y, x) for y, x in dim if rows.start < y < rows.stop
                      and cols.start < x < cols.stop}
        assert shown == set(dim)
        assert "background strokes are far" not in hint
        for y, x in dim[:2]:  # the user paints two of them
            layer[disk((y, x), 12, shape=image.shape)] = 1
        project.set_annotation(0, layer)
        training.predict(project, training.train(project, save=False), 0)
        assert project.objects(0).max() == 8
        assert bench.objects.hint.value == ""
        assert bench.objects.place_button.layout.display == "none"
    finally:
        bench.close()
        project.close()


def test_a_z_stack_gets_3d_objects_and_a_volume_table(tmp_path):
    from microlab.project import training

    volume, truth = microlab.data.synthetic_nuclei((24, 96, 96), radius=(5, 8),
                                                   spacing=(2.0, 1.0, 1.0), seed=2)
    project = Project(tmp_path / "z", classes=["nuclei", "background"])
    project.add_image(volume, axes="ZYX", spacing=(2.0, 1.0, 1.0))
    layer = np.zeros(truth.shape, np.uint8)
    for label in np.unique(truth)[1:6]:
        layer[truth == label] = 1
    background = np.zeros(truth.shape, bool)
    background[:, ::8] = True
    layer[background & (truth == 0)] = 2
    project.set_annotation(0, layer)
    project.set_settings(mode="instance")
    bench = Workbench(project)
    try:
        training.predict(project, training.train(project, save=False), 0)
        labels = project.objects(0)
        assert labels.shape == truth.shape
        planes = [len(np.unique(np.nonzero(labels == k)[0])) for k in np.unique(labels)[1:]]
        assert np.median(planes) >= 3  # objects extend through z: 3D, not per slice
        ap = microlab.measure.average_precision(truth, labels, iou=0.5)
        assert ap > 0.5, ap
        table = bench.objects.table
        assert "volume_µm³" in table.columns and len(table) == labels.max()
        assert bench.annotator.state.planes == {"Z": 12}  # shown on its middle plane
    finally:
        bench.close()
        project.close()


def test_channels_are_named_in_the_workbench_and_the_names_are_used(tmp_path):
    project = Project(tmp_path / "two-stains", classes=["nuclei", "background"])
    image, truth = microlab.data.synthetic_nuclei((128, 128), seed=0, radius=(6, 10))
    stains = np.stack([image, image[::-1]]) * 1000
    project.add_image(stains.astype(np.uint16), axes="CYX", name="stains")
    layer = np.zeros(truth.shape, np.uint8)
    layer[truth == np.unique(truth)[1]] = 1
    layer[::16, ::16][truth[::16, ::16] == 0] = 2
    project.set_annotation(0, layer)
    bench = Workbench(project)
    try:
        labels = [text for text, _ in bench.annotator.channel_select.options]
        assert labels[1:] == ["0 (blue in composite)", "1 (green in composite)"]
        bench.annotator.channel_names.value = "DAPI"  # one name for two channels
        assert "1 channel name" in bench.messages.text and project.images[0].channel_names is None
        bench.annotator.channel_names.value = "DAPI, tubulin"
        assert project.images[0].channel_names == ("DAPI", "tubulin")
        labels = [text for text, _ in bench.annotator.channel_select.options]
        assert labels[1:] == ["DAPI (blue in composite)", "tubulin (green in composite)"]
        bench.objects.mode.value = "instance"
        _train(bench)
        assert "2 channels of the image (DAPI, tubulin)" in bench.training.trained_on.value
        assert "DAPI" in bench.objects.header.value and "tubulin" in bench.objects.header.value
    finally:
        bench.close()
        project.close()


def test_the_split_by_image_box_sets_the_project_and_follows_it(bench):
    panel = bench.objects
    assert panel.split.value and bench.project.settings["split_by_image"]
    panel.split.value = False
    assert bench.project.settings["split_by_image"] is False
    bench.project.set_settings(split_by_image=True)  # from Python: the box follows
    assert panel.split.value is True
