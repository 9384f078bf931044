"""Property tests of microlab.measure.objects on random blocky label images."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from scipy import ndimage as ndi

from microlab.measure import objects

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def label_images(draw):
    """A 2D or 3D label image of blocky objects (values need not be consecutive), and a
    pixel size."""
    ndim = draw(st.sampled_from([2, 2, 3]))
    coarse = tuple(draw(st.integers(1, 6 if ndim == 2 else 4)) for _ in range(ndim))
    block = draw(st.integers(2, 4))
    values = draw(st.lists(st.integers(0, 40), min_size=1, max_size=int(np.prod(coarse))))
    grid = np.resize(np.array(values, np.int32), coarse)
    labels = np.kron(grid, np.ones((block,) * ndim, np.int32))
    spacing = tuple(draw(st.sampled_from([0.5, 1.0, 2.5])) for _ in range(ndim))
    return labels, spacing


def size_column(ndim):
    return "area_µm²" if ndim == 2 else "volume_µm³"


@SETTINGS
@given(label_images())
def test_sizes_sum_to_the_foreground(case):
    labels, spacing = case
    table = objects(labels, spacing=spacing)
    assert table["label"].tolist() == sorted(set(np.unique(labels)) - {0})
    foreground = np.count_nonzero(labels) * np.prod(spacing)
    assert table[size_column(labels.ndim)].sum() == pytest.approx(foreground)


@SETTINGS
@given(label_images())
def test_centroids_lie_inside_the_bounding_boxes(case):
    labels, spacing = case
    table = objects(labels, spacing=spacing).set_index("label")
    for value in table.index:
        box = ndi.find_objects((labels == value).astype(np.int8))[0]
        for axis, name in enumerate("zyx"[3 - labels.ndim:]):
            centre = table.loc[value, f"centroid_{name}_µm"] / spacing[axis]
            assert box[axis].start <= centre + 1e-9 and centre <= box[axis].stop - 1 + 1e-9
    assert ((table["extent"] > 0) & (table["extent"] <= 1 + 1e-12)).all()
    assert ((table["solidity"] > 0) & (table["solidity"] <= 1 + 1e-12)).all()


@SETTINGS
@given(label_images(), st.randoms(use_true_random=False))
def test_relabelling_changes_nothing_but_the_labels(case, random):
    labels, spacing = case
    values = [v for v in np.unique(labels) if v]
    new = random.sample(range(1, 10**6), len(values))
    lut = dict(zip(values, new, strict=True))
    relabelled = np.vectorize(lambda v: lut.get(v, 0), otypes=[np.int64])(labels)
    back = dict(zip(new, values, strict=True))
    before = objects(labels, spacing=spacing)
    after = objects(relabelled, spacing=spacing)
    after["label"] = np.array([back[v] for v in after["label"]], np.int64)
    after = after.sort_values("label", ignore_index=True)
    assert_frame_equal(before, after)


@SETTINGS
@given(label_images(), st.integers(1, 5))
@example((np.kron([[0, 1, 0], [1, 0, 1]], np.ones((4, 4), np.int32)), (0.5, 0.5)), 4)
def test_padding_shifts_centroids_and_keeps_every_shape_value(case, pad):
    """The example: an object along X used to measure -90° or +90° by where it lay."""
    labels, spacing = case
    before = objects(labels, spacing=spacing)
    after = objects(np.pad(labels, pad), spacing=spacing)
    for axis, name in enumerate("zyx"[3 - labels.ndim:]):
        column = f"centroid_{name}_µm"
        after[column] -= pad * spacing[axis]
    assert_frame_equal(before, after, check_exact=False, rtol=1e-9, atol=1e-9)
