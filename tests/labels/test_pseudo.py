"""confident_annotations: what a model is sure of, added to the person's annotations."""

import numpy as np
import pytest

from microlab.labels.boundary import BOUNDARY, INTERIOR, OUTSIDE, instance_annotations
from microlab.labels.pseudo import confident_annotations


def scene(sure=0.99):
    """Four 8×8 objects on a 40×60 image, the first painted; the model is ``sure`` of each
    object's interior and of the background."""
    objects = np.zeros((40, 60), np.int32)
    for k, x in enumerate((4, 18, 32, 46)):
        objects[10:18, x : x + 8] = k + 1
    proba = np.zeros((3, 40, 60), np.float32)
    proba[0] = 1.0
    proba[:, objects > 0] = [[(1 - sure) / 2], [(1 - sure) / 2], [sure]]
    painted = instance_annotations(np.where(objects == 1, 1, 0))
    return proba, objects, painted


def test_sure_objects_of_the_painted_size_are_added_whole():
    proba, objects, painted = scene()
    added = confident_annotations(proba, objects, painted)
    for k in (2, 3, 4):  # each found object: boundary, interior, ring around it
        inside = added[objects == k]
        assert set(np.unique(inside)) == {BOUNDARY, INTERIOR}
        ring = (np.abs(np.subtract.outer(np.arange(40), 13.5)) < 7)[:, None] & (objects == 0)
        assert OUTSIDE in added[ring]
    # the painted object and everything the person labelled stay as they were
    assert np.array_equal(added[painted > 0], painted[painted > 0])
    # background far from every object is added, not the pixels near one
    assert (added[30:] == 1).all()
    assert (added[objects == 0] != BOUNDARY).all()


def test_unsure_misshapen_and_border_objects_are_left_out():
    proba, objects, painted = scene()
    proba[:, objects == 2] = [[0.3], [0.3], [0.4]]           # unsure
    objects[objects == 3] = 0
    objects[10:11, 32:33] = 3                               # far smaller than painted
    proba[:, 10:18, 46:60] = np.array([0, 0, 1])[:, None, None]
    objects[10:18, 46:60] = 4                               # touches the border
    added = confident_annotations(proba, objects, painted)
    assert not np.isin(added[objects == 2], (BOUNDARY, INTERIOR)).any()
    assert not np.isin(added[objects == 3], (BOUNDARY, INTERIOR)).any()
    assert not np.isin(added[objects == 4], (BOUNDARY, INTERIOR)).any()
    # an object over a painted one is not added again (the strokes win)
    proba, objects, painted = scene()
    objects[objects == 1] = 0
    objects[9:19, 3:13] = 1
    added = confident_annotations(proba, objects, painted)
    assert np.array_equal(added[painted > 0], painted[painted > 0])


def test_without_painted_objects_the_found_objects_set_the_size():
    proba, objects, _ = scene()
    background = np.zeros(objects.shape, np.uint8)
    background[36:] = 1
    added = confident_annotations(proba, objects, background)
    assert np.isin(added[objects > 0], (BOUNDARY, INTERIOR)).all()
    assert confident_annotations(proba, np.zeros_like(objects), background).tolist() == \
        background.tolist()


def test_shapes_that_do_not_fit_are_refused():
    proba, objects, painted = scene()
    with pytest.raises(ValueError, match="background/boundary/interior"):
        confident_annotations(proba[:2], objects, painted)
    with pytest.raises(ValueError, match=r"\(40, 60\)"):
        confident_annotations(proba, objects, painted[:, :50])


def test_object_numbers_with_gaps_are_handled_without_warnings():
    import warnings

    proba, objects, painted = scene()
    objects[objects == 2] = 0  # number 2 is missing now
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        added = confident_annotations(proba, objects, painted)
    assert np.isin(added[objects == 3], (BOUNDARY, INTERIOR)).all()
