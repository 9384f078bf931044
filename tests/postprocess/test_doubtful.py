"""Doubtful objects: blobs the classifier half-sees outside the objects it found."""

import numpy as np
import pytest
from skimage.draw import disk

import microlab
from microlab.postprocess import doubtful_objects


def _scene():
    """Foreground probabilities: three sure nuclei, one dim nucleus at 0.2, one unsure speck,
    and each sure nucleus' blurred rim."""
    p = np.zeros((96, 160), np.float32)
    for y, x in ((25, 25), (25, 80), (70, 40)):
        p[disk((y, x), 12, shape=p.shape)] = 0.95
        ring = np.zeros(p.shape, bool)
        ring[disk((y, x), 14, shape=p.shape)] = True
        ring[disk((y, x), 12, shape=p.shape)] = False
        p[ring] = 0.3  # the rim: unsure, but no object
    p[disk((70, 120), 11, shape=p.shape)] = 0.2  # a dim nucleus the classifier half-sees
    p[10:13, 140:143] = 0.4  # a speck
    proba = np.stack([1 - p, p])
    return proba, microlab.instances(proba)


def test_the_half_seen_nucleus_is_found_and_nothing_else():
    proba, objects = _scene()
    assert objects.max() == 3
    blobs = doubtful_objects(microlab.uncertainty(proba), objects)
    assert blobs.max() == 1
    assert blobs[70, 120] == 1
    assert blobs.dtype == np.int32 and blobs.shape == objects.shape
    dim = np.zeros(objects.shape, bool)
    dim[disk((70, 120), 11, shape=dim.shape)] = True
    assert (blobs > 0).sum() > 0.5 * dim.sum() and not (blobs[~dim] > 0).any()


def test_where_and_level_limit_what_is_reported():
    proba, objects = _scene()
    unsure = microlab.uncertainty(proba)
    assert doubtful_objects(unsure, objects, where=proba[1] > 0.5).max() == 0
    assert doubtful_objects(unsure, objects, level=0.5).max() == 0  # the blob's 0.4 < 0.5
    assert doubtful_objects(unsure, objects, share=2.0).max() == 0  # larger than any object


def test_without_objects_or_doubt_nothing_is_reported():
    proba, objects = _scene()
    assert not doubtful_objects(microlab.uncertainty(proba), np.zeros_like(objects)).any()
    assert not doubtful_objects(np.zeros(objects.shape), objects).any()
    unsure = microlab.uncertainty(proba)
    unsure[np.isnan(unsure)] = 0
    unsure[:, :100] = np.nan  # not predicted there: counts as certain
    assert doubtful_objects(unsure, objects).max() == 1


def test_a_z_stack():
    objects = np.zeros((20, 40, 40), np.int32)
    objects[2:8, 5:15, 5:15] = 1
    unsure = np.zeros(objects.shape, np.float32)
    unsure[10:16, 25:35, 25:35] = 0.7
    blobs = doubtful_objects(unsure, objects)
    assert blobs.max() == 1 and blobs[13, 30, 30] == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.zeros((10, 10)), np.zeros((10, 12), np.int32)), {}, ValueError, "one shape"),
        ((np.zeros(10), np.zeros(10, np.int32)), {}, ValueError, "2D or 3D"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {}, TypeError, "integer labels"),
        ((np.zeros((10, 10)), np.zeros((10, 10), np.int32)), {"level": 0}, ValueError,
         r"level must be in \(0, 1\]"),
        ((np.zeros((10, 10)), np.ones((10, 10), np.int32)), {"where": np.ones((9, 9))},
         ValueError, "where must have"),
    ],
)
def test_bad_input_says_what_is_wrong(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        doubtful_objects(*args, **kwargs)
