"""RandomForestSegmenter(mode="instance"): background/boundary/interior from whole painted
objects, and objects split where it predicts boundary."""

import numpy as np
import pytest

import microlab
from microlab.data.synthetic import synthetic_nuclei
from microlab.labels import instance_annotations
from microlab.labels.boundary import OUTSIDE
from microlab.measure import average_precision


def painted(objects, keep, rows_every=16):
    """Whole objects ``keep`` painted (rings of "background or boundary" around them) and
    background strokes every ``rows_every`` rows away from every object, as a person paints."""
    from scipy import ndimage

    rows = np.zeros(objects.shape, bool)
    rows[::rows_every] = True
    background = rows & ~ndimage.binary_dilation(objects > 0, iterations=3)
    return instance_annotations(np.where(np.isin(objects, keep), objects, 0), background)


def test_instance_forest_separates_touching_nuclei_better_than_its_semantic_twin():
    image, objects = synthetic_nuclei((192, 192), seed=3)
    tests = [synthetic_nuclei((192, 192), seed=s) for s in (11, 12)]
    layer = painted(objects, np.unique(objects)[1:13])
    assert (layer == OUTSIDE).any()
    rf = microlab.RandomForestSegmenter(mode="instance").fit(image, layer, progress=False)
    assert rf.classes == ["background", "boundary", "interior"] and rf.output == "boundary"
    found = [average_precision(t, rf.predict_instances(img), iou=0.5) for img, t in tests]
    # the same strokes as two classes (object, background) and microlab.instances
    semantic = np.where(layer == 3, 1, np.where(layer > 0, 2, 0)).astype(np.uint8)
    twin = microlab.RandomForestSegmenter(["nucleus", "background"]).fit(
        image, semantic, progress=False)
    plain = [average_precision(t, microlab.instances(twin.predict_proba(img), foreground=0),
                               iou=0.5) for img, t in tests]
    assert np.mean(found) > 0.8
    assert np.mean(found) > np.mean(plain)


def test_instance_forest_round_trips_through_its_file(tmp_path):
    image, objects = synthetic_nuclei((96, 96), seed=1)
    rf = microlab.RandomForestSegmenter(mode="instance").fit(
        image, painted(objects, np.unique(objects)[1:6]), progress=False)
    rf.save(tmp_path / "rf.safetensors")
    loaded = microlab.load_segmenter(tmp_path / "rf.safetensors")
    assert loaded.mode == "instance" and loaded.output == "boundary"
    np.testing.assert_array_equal(loaded.predict_instances(image), rf.predict_instances(image))


def test_instance_mode_refuses_what_it_cannot_learn():
    with pytest.raises(ValueError, match="3 classes: background, boundary, interior; got 2"):
        microlab.RandomForestSegmenter(["a", "b"], mode="instance")
    with pytest.raises(ValueError, match="mode must be 'semantic' or 'instance'"):
        microlab.RandomForestSegmenter(mode="objects")
    image, objects = synthetic_nuclei((64, 64), seed=0)
    with pytest.raises(ValueError, match=r"got class 5.*instance_annotations"):
        microlab.RandomForestSegmenter(mode="instance").fit(
            image, np.where(objects > 0, 5, 1).astype(np.uint8), progress=False)
    semantic = microlab.RandomForestSegmenter().fit(
        image, np.where(objects > 0, 1, 2).astype(np.uint8), progress=False)
    with pytest.raises(ValueError, match=r"mode=.instance.*microlab\.instances"):
        semantic.predict_instances(image)
