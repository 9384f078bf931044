import numpy as np
import pytest
from scipy import ndimage as ndi

import microlab
from microlab.labels.boundary import (
    BACKGROUND,
    BOUNDARY,
    INTERIOR,
    OUTSIDE,
    boundary_labels,
    instance_annotations,
    painted_objects,
)


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


def test_whole_object_rings_label_the_rim_of_painted_objects_as_background():
    from microlab.labels import whole_object_rings

    layer = np.zeros((40, 40), np.uint8)
    yy, xx = np.mgrid[:40, :40]
    nucleus = (yy - 20) ** 2 + (xx - 20) ** 2 < 8**2
    layer[nucleus] = 1
    layer[0, :] = 2  # background far away
    layer[20, 29] = 3  # a stroke of another class inside the ring stays as it is
    ringed = whole_object_rings(layer, width=2)
    distance = ndi.distance_transform_edt(~nucleus)
    ring = (distance > 0) & (distance <= 2)
    assert (ringed[ring & (layer == 0)] == 2).all()
    assert ringed[20, 29] == 3 and (ringed[nucleus] == 1).all() and (ringed[0] == 2).all()
    assert (ringed[(distance > 2) & (layer == 0)] == 0).all()  # nothing else labelled
    assert ringed.dtype == layer.dtype and (layer[ring] != 2).any()  # a new layer
    # another object class and background class, and a 3D stack
    assert (whole_object_rings(layer, object_class=2, background_class=5)[1, :] == 5).all()
    stack = np.zeros((5, 20, 20), np.uint16)
    stack[2, 8:12, 8:12] = 1
    assert whole_object_rings(stack, width=1)[1, 10, 10] == 2  # the slice above


def test_whole_object_rings_refuse_bad_input():
    from microlab.labels import whole_object_rings

    layer = np.zeros((10, 10), np.uint8)
    assert (whole_object_rings(layer) == 0).all()  # nothing painted: nothing to add
    with pytest.raises(TypeError, match="class numbers"):
        whole_object_rings(layer.astype(float))
    with pytest.raises(ValueError, match="must differ"):
        whole_object_rings(layer, object_class=2, background_class=2)
    with pytest.raises(ValueError, match="class number >= 1"):
        whole_object_rings(layer, object_class=0)
    with pytest.raises(ValueError, match="does not fit"):
        whole_object_rings(layer, background_class=300)
    with pytest.raises(ValueError, match="2D"):
        whole_object_rings(np.zeros(5, np.uint8))


def test_a_forest_given_the_rings_of_whole_painted_nuclei_finds_them_at_their_size():
    """Issue 12: whole nuclei painted, background strokes kept away from them: without the
    rings the forest's objects came out too large."""
    from microlab.labels import whole_object_rings

    image, truth = microlab.data.synthetic_nuclei((192, 192), n=30, radius=(8, 11), seed=2,
                                                  blur=2.0)
    layer = np.where(np.isin(truth, np.arange(1, truth.max() + 1, 3)), 1, 0).astype(np.uint8)
    far = ndi.distance_transform_edt(truth == 0) > 8
    layer[::12][far[::12]] = 2
    sizes = {}
    for name, strokes in (("far", layer), ("rings", whole_object_rings(layer))):
        forest = microlab.RandomForestSegmenter(["nuclei", "background"], random_state=0)
        proba = forest.fit(image, strokes, progress=False).predict_proba(image)
        sizes[name] = (proba[0] > 0.5).sum() / (truth > 0).sum()
    assert sizes["rings"] < sizes["far"]
    assert abs(sizes["rings"] - 1) < 0.15, sizes


def test_painted_objects_make_each_blob_an_object_and_other_classes_background():
    layer = np.zeros((12, 20), np.uint8)
    layer[2:8, 2:8] = 1
    layer[2:8, 8:14] = 1          # touching the first: one blob, so one object
    layer[10, :] = 3              # a background stroke of another class
    out = painted_objects(layer, 1, width=1)
    objects, _ = ndi.label(layer == 1)
    expected = instance_annotations(objects, background=layer == 3, width=1)
    np.testing.assert_array_equal(out, expected)
    assert out[10].tolist() == [1] * 20 and out[5, 7] == INTERIOR
    assert set(np.unique(out)) == {0, BACKGROUND, BOUNDARY, INTERIOR, OUTSIDE}
    stack = painted_objects(np.stack([layer, layer]), 1, width=1)
    assert stack.shape == (2, 12, 20) and stack[0, 5, 7] == INTERIOR
    gap = layer.copy()
    gap[2:8, 8] = 0               # an unpainted pixel between them: two objects
    apart = painted_objects(gap, 1, width=1)
    assert ndi.label(apart == INTERIOR)[1] == 2
    assert (apart[2:8, 8] == OUTSIDE).all()  # the gap: background or boundary
    with pytest.raises(TypeError, match="class numbers"):
        painted_objects(layer.astype(float))
    with pytest.raises(ValueError, match="object_class must be a class number"):
        painted_objects(layer, 0)
