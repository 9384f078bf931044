"""Instance-mode annotations at another size: ``resample_annotation`` and ``painted_radius``,
what ``object_scale`` trains the tiers on."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from microlab._scale import check_object_scale, default_scale, resample, scale_words
from microlab.labels.boundary import (
    BOUNDARY,
    INTERIOR,
    OUTSIDE,
    instance_annotations,
    painted_radius,
    resample_annotation,
)


def two_touching_squares():
    objects = np.zeros((20, 30), int)
    objects[4:16, 3:15], objects[4:16, 15:27] = 1, 2
    return objects


def test_enlarged_objects_keep_a_boundary_of_the_same_width_and_stay_divided():
    objects = two_touching_squares()
    layer = instance_annotations(objects, background=True, width=2)
    big = resample_annotation(layer, (40, 60), width=2)
    assert big.shape == (40, 60)
    # the two painted squares stay two interiors, divided by boundary
    _, n = ndi.label(big == INTERIOR)
    assert n == 2
    # along a row through both: 2 boundary pixels at each edge, not 4 as enlarged pixels
    row = big[20]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row == BOUNDARY, 0])))[::2]
    assert runs.tolist() == [2, 4, 2]
    # every object pixel is still an object pixel, background stays background
    inside = np.isin(resample(layer, (40, 60), 0), (BOUNDARY, INTERIOR))
    assert np.array_equal(np.isin(big, (BOUNDARY, INTERIOR)), inside)


def test_the_ring_around_enlarged_objects_keeps_its_width():
    objects = np.zeros((24, 24), int)
    objects[8:16, 8:16] = 1
    stroke = np.zeros((24, 24), bool)
    stroke[0, 0] = True  # background painted elsewhere: the ring is "background or boundary"
    layer = instance_annotations(objects, background=stroke, width=1)
    assert (layer == OUTSIDE).any()
    big = resample_annotation(layer, (48, 48), width=1)
    distance = ndi.distance_transform_edt(~np.isin(big, (BOUNDARY, INTERIOR)))
    assert (big == OUTSIDE).any() and distance[big == OUTSIDE].max() <= 1
    # what lay further out in the enlarged ring is unlabelled now, not background
    enlarged_ring = resample(layer, (48, 48), 0) == OUTSIDE
    assert (big[enlarged_ring & (distance > 1)] == 0).all()
    assert (enlarged_ring & (distance > 1)).any()


def test_the_same_size_changes_nothing_and_unseeded_objects_keep_their_classes():
    layer = instance_annotations(two_touching_squares(), background=True)
    assert np.array_equal(resample_annotation(layer, layer.shape), layer)
    thin = np.zeros((10, 10), np.uint8)
    thin[4, 2:8] = BOUNDARY  # an object with no interior: nothing to redraw it from
    assert np.array_equal(resample_annotation(thin, (20, 20)), resample(thin, (20, 20), 0))


def test_painted_objects_that_touch_count_one_each():
    from skimage.draw import disk

    objects = np.zeros((60, 120), int)
    for k, x in enumerate(range(10, 110, 10), 1):  # ten disks in a row, each touching the next
        objects[disk((30, x), 6)] = k
    layer = instance_annotations(objects, True)
    _, parts = ndi.label(np.isin(layer, (BOUNDARY, INTERIOR)))
    assert parts == 1  # one connected painted part...
    alone = np.sqrt(np.bincount(objects.ravel())[1:] / np.pi)
    radius = painted_radius(layer)  # ...of ten objects of their own size
    assert np.median(alone) - 0.5 < radius < np.median(alone) + 0.5
    # in a stack, and beside an object too thin for an interior (one object of its own)
    thin = np.zeros((3, 60, 120), np.uint8)
    thin[1] = layer
    thin[2, 5, 5:9] = BOUNDARY
    areas = np.r_[np.bincount(objects.ravel())[1:], 4]
    assert painted_radius(thin) == pytest.approx(np.sqrt(np.median(areas) / np.pi), abs=0.3)


def test_painted_radius_and_the_default_scale():
    from skimage.draw import disk

    objects = np.zeros((80, 80), int)
    for k, centre in enumerate([(15, 15), (15, 60), (60, 30)], 1):
        objects[disk(centre, 5)] = k
    radius = painted_radius([instance_annotations(objects, True)])
    assert 4.5 < radius < 5.5
    assert default_scale(radius) == pytest.approx(9 / radius, abs=0.01)
    assert painted_radius(np.zeros((5, 5), np.uint8)) is None
    assert default_scale(None) == 1.0 and default_scale(8.5) == 1.0  # too little to gain
    assert default_scale(2.0) == 2.0  # at most twice
    for wrong in (0, -1, 5, True, "2"):
        with pytest.raises(ValueError, match="object_scale must be None"):
            check_object_scale(wrong)


def test_scale_words():
    assert scale_words(0.5) == "shrunk to 0.5 times their size"
    assert scale_words(1.6) == "enlarged 1.6 times"
    assert default_scale(32.0) == 1.0  # by default large objects are never shrunk


def test_shrinking_averages_the_pixels_it_covers():
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.5, 0.2, (2, 90, 120)).astype(np.float32)
    small = resample(noisy, (30, 40), 1)
    assert small.shape == (2, 30, 40) and small.dtype == np.float32
    # each new pixel the mean of 3 x 3 old ones: none skipped, the noise averaged down
    blocks = noisy.reshape(2, 30, 3, 40, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(small, blocks, atol=1e-6)
    assert small.std() < 0.5 * noisy.std()
    # any factor keeps the mean; integer images keep their dtype
    odd = resample(noisy[0], (37, 51), 1)
    assert odd.shape == (37, 51) and abs(float(odd.mean() - noisy[0].mean())) < 1e-3
    grey = resample((noisy[0] * 1000).astype(np.uint16), (45, 60), 1)
    assert grey.dtype == np.uint16 and grey.shape == (45, 60)
    # probabilities shrunk keep summing to 1
    proba = rng.dirichlet(np.ones(3), size=(64, 64)).transpose(2, 0, 1).astype(np.float32)
    assert np.allclose(resample(proba, (25, 25), 1).sum(axis=0), 1, atol=1e-5)
