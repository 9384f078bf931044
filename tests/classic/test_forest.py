import json

import numpy as np
import pytest

import microlab
from microlab import RandomForestSegmenter
from microlab.labels import scribbles_from_truth

FEW = ["Gaussian σ=1.0", "Gaussian σ=4.0", "Sobel", "Variance r=3"]


def two_phase(shape=(96, 96), seed=0):
    """A bright disk on a dark noisy background and its truth (1 = background, 2 = disk)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(shape)
    truth = np.where((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < (shape[0] / 4) ** 2,
                     2, 1).astype(np.uint8)
    image = (truth * 60 + rng.normal(0, 15, shape)).clip(0, 255).astype(np.uint8)
    return image, truth


@pytest.fixture(scope="module")
def sandstone_model():
    image, truth = microlab.data.sandstone(0)
    rf = RandomForestSegmenter(classes=microlab.data.SANDSTONE_CLASSES)
    return rf.fit(image, scribbles_from_truth(truth, 0.01), progress=False)


def test_rf_learns_sandstone_from_one_percent_scribbles(sandstone_model):
    image, truth = microlab.data.sandstone(2)       # a slice it never saw
    pred = sandstone_model.predict(image)
    ious = [((pred == k) & (truth == k)).sum() / ((pred == k) | (truth == k)).sum()
            for k in range(1, 5)]
    assert np.mean(ious) > 0.75


def test_predict_proba_is_float32_probabilities(sandstone_model):
    image, _ = microlab.data.sandstone(1)
    proba = sandstone_model.predict_proba(image)
    assert proba.dtype == np.float32 and proba.shape == (4, 512, 512)
    np.testing.assert_allclose(proba.sum(0), 1, atol=1e-5)
    assert np.array_equal(sandstone_model.predict(image), proba.argmax(0) + 1)


def test_rf_ignores_unlabelled_pixels():
    image, truth = two_phase((200, 200))
    marks = np.zeros_like(truth)
    marks[90:110:3, 30:70:3] = truth[90:110:3, 30:70:3]     # strokes across the disk's edge
    a = RandomForestSegmenter(features=FEW).fit(image, marks, progress=False)
    # scrambling the image only far from every labelled pixel must not change the forest
    from scipy.ndimage import maximum_filter

    halo = a._banks[0].halo
    far = ~maximum_filter(marks > 0, size=2 * halo + 1, mode="constant")
    assert far.mean() > 0.1
    scrambled = image.copy()
    scrambled[far] = np.random.default_rng(5).integers(0, 255, far.sum())
    b = RandomForestSegmenter(features=FEW).fit(scrambled, marks, progress=False)
    assert np.array_equal(a.predict_proba(image), b.predict_proba(image))


def test_fit_on_several_images_and_multichannel(tmp_path):
    (i1, t1), (i2, t2) = two_phase(seed=1), two_phase(seed=2)
    rgb1 = np.stack([i1, 255 - i1, i1 // 2])
    rgb2 = np.stack([i2, 255 - i2, i2 // 2])
    rf = RandomForestSegmenter(features=FEW, channel_axis=0)
    rf.fit([rgb1, rgb2], [scribbles_from_truth(t1, 0.02), np.zeros_like(t2)], progress=False)
    assert len(rf.input_feature_names) == 3 * len(FEW)
    assert rf.input_feature_names[0].startswith("ch0 ")
    assert (rf.predict(rgb2) == t2).mean() > 0.95


def test_rf_in_3d_with_anisotropic_image():
    rng = np.random.default_rng(0)
    truth = np.ones((12, 40, 40), np.uint8)
    truth[:, 10:30, 10:30] = 2
    volume = (truth * 80 + rng.normal(0, 20, truth.shape)).clip(0, 255).astype(np.uint8)
    image = microlab.Image(volume, "ZYX", spacing=(3.0, 1.0, 1.0), unit="µm")
    rf = RandomForestSegmenter(features=FEW).fit(
        image, scribbles_from_truth(truth, 0.03), progress=False
    )
    assert rf.ndim == 3
    assert (rf.predict(image) == truth).mean() > 0.95


def test_class_names_and_colours_travel_with_the_saved_model(tmp_path):
    image, truth = two_phase()
    rf = RandomForestSegmenter(["background", "disk"], colors=["#000000", (255, 0, 0)],
                               features=FEW)
    rf.fit(image, scribbles_from_truth(truth, 0.05), progress=False)
    rf.save(tmp_path / "m.safetensors")
    back = microlab.load_segmenter(tmp_path / "m.safetensors")
    assert back.classes == ["background", "disk"]
    assert back.colors == ["#000000", "#ff0000"]
    np.testing.assert_array_equal(back.predict_proba(image), rf.predict_proba(image))


def test_save_is_not_a_pickle(tmp_path):
    image, truth = two_phase()
    rf = RandomForestSegmenter(features=FEW).fit(image, scribbles_from_truth(truth, 0.05),
                                                 progress=False)
    rf.save(tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])          # safetensors: JSON header + tensors
    assert header["__metadata__"]["kind"] == "random-forest"
    assert b"\x80\x04\x95" not in raw[:64]                  # no pickle protocol marker


def test_class_painted_never_gets_zero_probability_columns():
    image, truth = two_phase()
    marks = scribbles_from_truth(truth, 0.05)
    rf = RandomForestSegmenter(["a", "b", "never painted"], features=FEW)
    proba = rf.fit(image, marks, progress=False).predict_proba(image)
    assert proba.shape[0] == 3 and proba[2].max() == 0


@pytest.mark.parametrize(
    ("annotations", "match"),
    [
        (np.zeros((96, 96), np.uint8), "no labelled pixel"),
        (np.ones((96, 96), np.uint8), "only class 1"),
        (np.zeros((50, 96), np.uint8), "shape"),
        (np.full((96, 96), 0.5), "whole class numbers"),
    ],
)
def test_bad_annotations_are_explained(annotations, match):
    image, _ = two_phase()
    with pytest.raises((ValueError, TypeError), match=match):
        RandomForestSegmenter(features=FEW).fit(image, annotations, progress=False)


def test_bad_images_are_explained():
    image, truth = two_phase()
    marks = scribbles_from_truth(truth, 0.05)
    rf = RandomForestSegmenter(features=FEW)
    bad = image.astype(float)
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rf.fit(bad, marks, progress=False)
    with pytest.raises(ValueError, match="RGB"):
        rf.fit(np.zeros((96, 96, 3), np.uint8), marks, progress=False)
    with pytest.raises(ValueError, match="2D"):
        rf.fit(np.zeros(96, np.uint8), marks[0], progress=False)
    rf.fit(image, marks, progress=False)
    with pytest.raises(ValueError, match="channel"):
        rf.predict(microlab.Image(np.stack([image, 255 - image]), "CYX"))
    with pytest.raises(ValueError, match="trained on 2D"):
        rf.predict(np.zeros((4, 96, 96), np.uint8))


def test_predict_before_fit_says_what_to_do():
    with pytest.raises(RuntimeError, match="fit"):
        RandomForestSegmenter().predict(np.zeros((8, 8)))


def test_loading_a_file_that_is_not_a_model_is_explained(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="not a microlab model"):
        RandomForestSegmenter.load(tmp_path / "x.safetensors")


def test_loading_a_newer_format_or_foreign_features_is_explained(tmp_path):
    from microlab._modelfile import read_model, write_model

    image, truth = two_phase()
    rf = RandomForestSegmenter(features=FEW).fit(image, scribbles_from_truth(truth, 0.05),
                                                 progress=False)
    rf.save(tmp_path / "m.safetensors")
    config, tensors, _ = read_model(tmp_path / "m.safetensors", "random-forest", 1)
    write_model(tmp_path / "newer.safetensors", "random-forest", 99, config, tensors)
    with pytest.raises(ValueError, match="Upgrade microlab"):
        RandomForestSegmenter.load(tmp_path / "newer.safetensors")
    config["banks"][0]["names"] = ["Quantum flux σ=9"]
    write_model(tmp_path / "foreign.safetensors", "random-forest", 1, config, tensors)
    with pytest.raises(ValueError, match="feature configuration"):
        RandomForestSegmenter.load(tmp_path / "foreign.safetensors")


def test_cli_segment_writes_label_tiffs(tmp_path, capsys):
    image, truth = two_phase()
    rf = RandomForestSegmenter(["bg", "disk"], features=FEW)
    rf.fit(image, scribbles_from_truth(truth, 0.05), progress=False).save(tmp_path / "m.st")
    (tmp_path / "in").mkdir()
    for i in range(2):
        microlab.write_labels(tmp_path / "in" / f"img{i}.tif", image, spacing=(0.5, 0.5))
    inputs = [str(p) for p in sorted((tmp_path / "in").iterdir())]
    code = microlab.cli.main(
        ["segment", "--model", str(tmp_path / "m.st"), "--out", str(tmp_path / "out"), *inputs]
    )
    assert code == 0
    out = microlab.read_image(tmp_path / "out" / "img1_labels.tif")
    assert out.spacing == pytest.approx((0.5, 0.5))
    assert (out.data == truth).mean() > 0.95


def test_cli_segment_reports_bad_model_without_traceback(tmp_path, capsys):
    (tmp_path / "m.st").write_text("nope")
    code = microlab.cli.main(["segment", "-m", str(tmp_path / "m.st"), "-o", str(tmp_path),
                              str(tmp_path / "m.st")])
    assert code == 2
    assert "not a microlab model" in capsys.readouterr().err



def test_forest_trained_on_12_bit_says_so_for_an_8_bit_image():
    """Issue 11 case 7: a forest fitted on 12-bit data gave one class everywhere on an
    8-bit image of the same scene, silently."""
    import warnings

    from microlab.intensity import IntensityWarning

    image, truth = microlab.data.sandstone()
    twelve = (image.data.astype(np.uint16) * 16)  # the same scene in 12 bits
    strokes = microlab.labels.scribbles_from_truth(truth, 0.01, seed=0)
    rf = microlab.RandomForestSegmenter(n_estimators=10).fit(twelve, strokes, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IntensityWarning)
        rf.predict(twelve[:128, :128])  # a crop of the training data's kind: no warning
    with pytest.warns(IntensityWarning, match=r"trained 0.*4\.\d+e\+03|trained"):
        rf.predict(image.data)  # the 8-bit export
    path_free = microlab.RandomForestSegmenter.load  # the range travels with the file
    import pathlib
    import tempfile

    file = pathlib.Path(tempfile.mkdtemp()) / "rf.safetensors"
    rf.save(file)
    with pytest.warns(IntensityWarning):
        path_free(file).predict(image.data)


def test_a_dense_mask_trains_on_a_random_share_of_each_class(monkeypatch):
    import microlab.classic.forest as forest_module

    image, truth = two_phase((160, 160))
    truth[:3, :4] = 3  # a rare third class: 12 pixels
    seen = []
    grow = RandomForestSegmenter._grow

    def spy(self, x, y, **kwargs):
        seen.append(np.bincount(y, minlength=4))
        return grow(self, x, y, **kwargs)

    monkeypatch.setattr(RandomForestSegmenter, "_grow", spy)
    monkeypatch.setattr(forest_module, "MAX_TRAINING_PIXELS", 2000)
    rf = RandomForestSegmenter(features=FEW, prune=False, n_estimators=8)
    rf.fit(image, truth, progress=False)
    counts = seen[-1]
    assert 1800 < counts.sum() < 2600  # about the cap, not the 25,600 painted pixels
    assert counts[3] == 12  # a rare class keeps every pixel
    painted = np.bincount(truth.ravel(), minlength=4)
    assert abs(counts[2] / counts[1] - painted[2] / painted[1]) < 0.1  # the painted balance
    assert float((rf.predict(image) == truth)[3:].mean()) > 0.95
    seen.clear()
    RandomForestSegmenter(features=FEW, prune=False, n_estimators=8).fit(image, truth,
                                                                        progress=False)
    assert np.array_equal(seen[-1], counts)  # seeded by random_state: the same pixels
    monkeypatch.setattr(forest_module, "MAX_TRAINING_PIXELS", 200_000)
    seen.clear()
    RandomForestSegmenter(features=FEW, prune=False, n_estimators=8).fit(image, truth,
                                                                        progress=False)
    assert np.array_equal(seen[-1], painted)  # under the cap: every annotated pixel
