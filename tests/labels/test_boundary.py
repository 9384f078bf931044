import numpy as np
import pytest

import microlab
from microlab.labels.boundary import boundary_labels, instance_annotations


def two_touching_squares():
    objects = np.zeros((12, 20), np.int32)
    objects[2:10, 2:10] = 1
    objects[2:10, 10:18] = 2
    return objects


def test_boundary_separates_touching_squares():
    classes = boundary_labels(two_touching_squares(), width=1)
    assert classes.dtype == np.uint8
    assert classes[6].tolist() == [1, 1, 2, 3, 3, 3, 3, 3, 3, 2, 2, 3, 3, 3, 3, 3, 3, 2, 1, 1]
    assert (classes[2, 2:18] == 2).all() and (classes[0] == 1).all()


@pytest.mark.parametrize("width", [1, 2, 3])
def test_boundary_width_counts_pixels_inside_each_object(width):
    classes = boundary_labels(two_touching_squares(), width=width)
    row = classes[6, 2:18]
    assert (row[:width] == 2).all() and row[width] == 3
    assert (row[8 - width : 8 + width] == 2).all()
    assert row[8 - width - 1] == 3 and row[8 + width] == 3
    assert (row[-width:] == 2).all()


def test_boundary_mask_is_split_into_components_and_interiors_stay_apart():
    mask = two_touching_squares() > 0
    mask[2:10, 10] = False  # a gap: two components
    classes = boundary_labels(mask, width=1)
    assert microlab.instances(classes, kind="boundary", min_size=0).max() == 2


def test_boundary_3d():
    objects = np.zeros((7, 7, 7), np.int32)
    objects[1:6, 1:6, 1:6] = 1
    classes = boundary_labels(objects, width=1)
    assert classes[3, 3, 3] == 3 and classes[1, 3, 3] == 2 and classes[0, 0, 0] == 1


def test_boundary_rejects_bad_inputs():
    with pytest.raises(ValueError, match="width"):
        boundary_labels(two_touching_squares(), width=0)
    with pytest.raises(TypeError, match="instance labels"):
        boundary_labels(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="negative"):
        boundary_labels(-np.ones((5, 5), int))
    with pytest.raises(ValueError, match="2D"):
        boundary_labels(np.zeros(5, int))


def test_instance_annotations_leave_unpainted_pixels_unlabelled():
    objects = np.zeros((30, 30), np.int32)
    objects[5:12, 5:12] = 1
    ann = instance_annotations(objects, width=1)
    assert ann[20, 20] == 0  # far from the painted object: unlabelled
    assert ann[4, 8] == 1 and ann[5, 8] == 2 and ann[8, 8] == 3
    background = np.zeros((30, 30), bool)
    background[25:, :] = True
    ann = instance_annotations(objects, background, width=1)
    # the painted background; the ring a whole object implies around itself is "background
    # or boundary" (4): it may be the boundary of a touching neighbour nobody painted
    assert (ann[25:] == 1).all() and ann[4, 8] == 4 and ann[8, 8] == 3
    background[4, :] = True  # where the ring was painted as background, it is background
    assert instance_annotations(objects, background, width=1)[4, 8] == 1
    assert ann[2, 8] == 0 and ann[20, 20] == 0
    assert (instance_annotations(objects, True, width=1) > 0).all()
    with pytest.raises(ValueError, match="same shape"):
        instance_annotations(objects, np.zeros((3, 3), bool))
