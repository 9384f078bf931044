"""Pieces that a blob-following split cuts off a nucleus are merged back; neighbours are not."""

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

import microlab
import microlab.postprocess._fragments as fragments
from microlab.postprocess._fragments import merge_fragments


def _disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_a_piece_cut_off_an_oval_is_merged_back():
    labels = np.zeros((40, 60), np.int32)
    oval = ((np.mgrid[:40, :60][0] - 20) / 9) ** 2 + ((np.mgrid[:40, :60][1] - 25) / 16) ** 2 <= 1
    labels[oval] = 1
    labels[oval & (np.mgrid[:40, :60][1] >= 35)] = 2  # the end, a third of the oval
    image = 0.1 + oval.astype(np.float32)
    merged = merge_fragments(labels, image, typical=float(oval.sum()))
    assert set(np.unique(merged).tolist()) == {0, 1}
    assert (merged[oval] == 1).all()


def test_touching_nuclei_with_a_dim_line_between_stay_apart():
    shape = (40, 60)
    big, small = _disk(shape, 20, 22, 10), _disk(shape, 20, 37, 6) & ~_disk(shape, 20, 22, 10)
    labels = big.astype(np.int32) + 2 * small
    contact = (labels == 1) & ndi.binary_dilation(labels == 2) | (
        (labels == 2) & ndi.binary_dilation(labels == 1))
    image = 0.1 + (labels > 0) - 0.6 * contact  # dimmer where they meet
    kept = merge_fragments(labels, image.astype(np.float32), typical=float(big.sum()))
    assert np.array_equal(kept, labels)
    # the same pair without the valley is a convex nucleus cut in two: merged
    flat = (0.1 + (labels > 0)).astype(np.float32)
    union = merge_fragments(labels, flat, typical=float(big.sum()))
    solid = (labels > 0).sum() / big.sum()
    assert solid < fragments._LARGEST
    assert len(np.unique(union)) == (2 if _convex(labels > 0) else 3)


def _convex(mask):
    return fragments._solidity(mask) >= fragments._SOLIDITY


@pytest.mark.parametrize("shape", [(9, 12), (5, 9, 12)])
def test_a_union_on_one_line_is_convex_without_qhull_warnings(shape):
    union = np.zeros(shape, bool)
    union[(slice(2, 3),) * (len(shape) - 1) + (slice(1, 9),)] = True  # one row of 8 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-image turns qhull's refusal into a warning
        assert fragments._solidity(union) == 1.0
    # a short second row beside it: convex, not flat in 2D (qhull's hull), a plane in 3D
    union[(2,) * (len(shape) - 2) + (3, slice(2, 4))] = True
    assert np.linalg.matrix_rank(np.argwhere(union) - np.argwhere(union)[0]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fragments._solidity(union) == 1.0


def test_two_round_nuclei_meeting_at_a_neck_stay_apart():
    shape = (40, 60)
    a, b = _disk(shape, 20, 20, 9), _disk(shape, 20, 37, 9)
    labels = a.astype(np.int32) + 2 * (b & ~a)
    image = (0.1 + (labels > 0)).astype(np.float32)  # no valley, but a neck
    assert not _convex(labels > 0)
    kept = merge_fragments(labels, image, typical=float(a.sum()) * 1.5)
    assert np.array_equal(kept, labels)


def test_objects_of_a_typical_size_are_never_merged():
    labels = np.zeros((30, 60), np.int32)
    labels[5:25, 5:30], labels[5:25, 30:55] = 1, 2  # a convex box cut in two halves
    image = (0.1 + (labels > 0)).astype(np.float32)
    assert np.array_equal(merge_fragments(labels, image, typical=500.0),
                          labels)


def test_a_piece_in_3d_is_merged_with_anisotropic_spacing():
    labels = np.zeros((12, 30, 40), np.int32)
    zz, yy, xx = np.mgrid[:12, :30, :40]
    body = ((zz - 6) / 4) ** 2 + ((yy - 15) / 9) ** 2 + ((xx - 18) / 14) ** 2 <= 1
    labels[body] = 1
    labels[body & (xx >= 27)] = 2
    image = (0.1 + body).astype(np.float32)
    merged = merge_fragments(labels, image, typical=float(body.sum()))
    assert set(np.unique(merged).tolist()) == {0, 1}


def test_instances_with_the_image_merges_what_its_blobs_cut(monkeypatch):
    """An oval nucleus with three bright spots beside three round ones: the image's blobs
    cut the oval; the pieces without a valley between them are merged back."""
    yy, xx = np.mgrid[:100, :200]
    fg = ((yy - 50) / 12) ** 2 + ((xx - 60) / 26) ** 2 <= 1
    image = 0.05 + 0.6 * fg
    for cy, cx in ((25, 140), (72, 140), (50, 175)):
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 144
        fg |= disk
        image = image + 0.6 * disk
    for cx in (40, 62, 80):
        image = image + 0.5 * np.exp(-((yy - 50) ** 2 + (xx - cx) ** 2) / 18) * fg
    image = ndi.gaussian_filter(image, 1).astype(np.float32)
    p = ndi.gaussian_filter(fg.astype(np.float32), 1.5)
    proba = np.stack([1 - p, p])
    merged = microlab.instances(proba, image=image)
    monkeypatch.setattr(fragments, "_SOLIDITY", 2.0)  # nothing is convex enough: no merging
    cut = microlab.instances(proba, image=image)
    oval = fg & (xx < 100)
    assert len(np.unique(merged[oval])) < len(np.unique(cut[oval]))
    # the round nuclei are untouched
    assert np.array_equal(merged[xx >= 100] > 0, cut[xx >= 100] > 0)


def _peanut_scene(dip: float = 0.0):
    """A nucleus of two round lobes (radius 6, 7.5 px apart: a shallow waist, nearly convex)
    beside three round nuclei of a typical size, as a forest's foreground probability; with
    ``dip``, the probability falls by that much on the line where the lobes meet."""
    xx = np.mgrid[:50, :140][1]
    peanut = _disk((50, 140), 25, 22, 6) | _disk((50, 140), 25, 29.5, 6)
    fg = peanut.copy()
    for cx in (60, 90, 120):
        fg |= _disk((50, 140), 25, cx, 7.8)
    p = 0.01 + 0.98 * fg
    p[peanut & (np.abs(xx - 25.75) <= 1)] -= dip
    return np.stack([1 - p, p]).astype(np.float32), peanut


def _objects_in(labels, where):
    return len(set(np.unique(labels[where]).tolist()) - {0})


def test_instances_without_the_image_merges_a_lobe_the_distance_cut_off(monkeypatch):
    """Without the image, the distance transform's bumps cut a lobed nucleus in two; with no
    dip in the foreground probability between the pieces they are merged back, with one
    they are two touching nuclei and stay apart."""
    proba, peanut = _peanut_scene()
    assert _objects_in(microlab.instances(proba), peanut) == 1
    assert _objects_in(microlab.instances(proba, h=0.2), peanut) == 2  # the seeds given: no merge
    dipped, _ = _peanut_scene(dip=0.5)
    assert _objects_in(microlab.instances(dipped), peanut) == 2
    monkeypatch.setattr(fragments, "_SOLIDITY", 2.0)  # nothing is convex enough: no merging
    assert _objects_in(microlab.instances(proba), peanut) == 2
    assert microlab.instances(proba).max() == 5


@pytest.mark.parametrize("labels", [np.zeros((10, 10), np.int32),
                                    np.pad(np.ones((4, 4), np.int32), 3)])
def test_nothing_to_merge(labels):
    image = labels.astype(np.float32)
    assert np.array_equal(merge_fragments(labels, image, typical=16.0),
                          labels)


def _oval_in_halves(shape=(40, 80), cy=20, cx=35, ry=10, rx=24):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    oval = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    labels = np.where(oval, np.where(xx < cx, 1, 2), 0).astype(np.int32)
    return labels, oval


def test_halves_the_predicted_boundary_does_not_divide_are_merged():
    """A large oval cut in two halves, each as large as a typical object (too large for
    ``merge_fragments``): one object again where the network drew no boundary between them,
    two where it did."""
    labels, oval = _oval_in_halves()
    typical = oval.sum() / 2
    undrawn = np.full(labels.shape, 0.3, np.float32)
    merged = fragments.merge_unbounded(labels, undrawn, typical)
    assert set(np.unique(merged).tolist()) == {0, 1} and (merged[oval] == 1).all()
    assert np.array_equal(merge_fragments(labels, (labels > 0).astype(np.float32), typical),
                          labels)  # the size rule of the image's pieces keeps them apart
    drawn = np.full(labels.shape, 0.7, np.float32)
    assert np.array_equal(fragments.merge_unbounded(labels, drawn, typical), labels)
    # too large together for one object: kept apart
    assert np.array_equal(fragments.merge_unbounded(labels, undrawn, oval.sum() / 3), labels)


def test_round_nuclei_touching_at_a_neck_stay_apart_without_a_drawn_boundary():
    shape = (40, 60)
    a, b = _disk(shape, 20, 20, 9), _disk(shape, 20, 36, 9)
    labels = a.astype(np.int32) + 2 * (b & ~a)
    assert fragments._solidity(labels > 0) < fragments._UNBOUNDED_SOLIDITY
    undrawn = np.zeros(shape, np.float32)
    assert np.array_equal(fragments.merge_unbounded(labels, undrawn, float(a.sum())), labels)


def test_a_chain_of_pieces_merges_each_piece_once():
    """Three thirds of a box: the pair with the least boundary between them merges first,
    and the third piece stays apart instead of joining a chain."""
    labels = np.zeros((20, 50), np.int32)
    labels[5:15, 5:20], labels[5:15, 20:35], labels[5:15, 35:45] = 1, 2, 3
    boundary = np.full(labels.shape, 0.2, np.float32)
    boundary[:, 34:36] = 0.4  # a little more boundary between 2 and 3
    merged = fragments.merge_unbounded(labels, boundary, typical=300.0)
    assert merged[10, 10] == merged[10, 25] == 1 and merged[10, 40] == 3


def _boundary_prediction(dip: float):
    """Background/boundary/interior probabilities of a long oval nucleus whose interior the
    network is less sure of across its middle (``dip``: the boundary probability there) and
    of two round nuclei touching along a drawn boundary."""
    shape = (60, 140)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    oval = ((yy - 30) / 11) ** 2 + ((xx - 40) / 28) ** 2 <= 1
    left, right = _disk(shape, 30, 95, 10), _disk(shape, 30, 113, 10)
    objects = oval | left | right
    edge = objects & ~ndi.binary_erosion(objects, iterations=2)
    meet = left & right | (ndi.binary_dilation(left, iterations=2)
                           & ndi.binary_dilation(right, iterations=2))
    boundary = np.where(edge | meet, 0.8, 0.02)
    interior = np.where(objects & ~(edge | meet), 0.96, 0.02)
    middle = oval & (np.abs(xx - 40) <= 2)
    boundary[middle], interior[middle] = dip, 0.3
    background = np.clip(1 - boundary - interior, 0, 1)
    stack = np.stack([background, boundary, interior]).astype(np.float32)
    return ndi.gaussian_filter(stack, (0, 1, 1)), oval, left, right


def test_instances_of_a_boundary_prediction_merge_what_no_boundary_divides(monkeypatch):
    import microlab.postprocess._instances as found_instances

    proba, oval, left, right = _boundary_prediction(dip=0.3)
    found = microlab.instances(proba, kind="boundary", min_size=0)
    assert _objects_in(found, oval) == 1
    assert _objects_in(found, left | right) == 2  # the drawn boundary keeps them apart
    monkeypatch.setattr(found_instances, "_MERGE_UNBOUNDED", False)
    assert _objects_in(microlab.instances(proba, kind="boundary", min_size=0), oval) == 2
    monkeypatch.undo()
    drawn, *_ = _boundary_prediction(dip=0.65)  # a boundary across the middle: two nuclei
    assert _objects_in(microlab.instances(drawn, kind="boundary", min_size=0), oval) == 2


def test_small_objects_found_enlarged_are_left_to_their_seeds(monkeypatch):
    """Small nuclei are found enlarged; there two touching ones look convex together at any
    neck, so the predicted boundary does not merge them."""
    calls = []

    def recording(labels, *args, **kwargs):
        calls.append(labels.shape)
        return labels

    monkeypatch.setattr(fragments, "merge_unbounded", recording)
    proba, *_ = _boundary_prediction(dip=0.3)
    microlab.instances(proba, kind="boundary")
    assert calls == [proba.shape[1:]]  # at the prediction's own pixels
    small = np.ascontiguousarray(proba[:, ::3, ::3])  # the same nuclei, radius 3-4 px
    microlab.instances(small, kind="boundary")
    assert len(calls) == 1
    microlab.instances(proba, kind="boundary", h=0.1)  # seeds given: nothing merged
    assert len(calls) == 1


def test_merging_among_objects_found_enlarged_is_a_switch(monkeypatch):
    """``_MERGE_ENLARGED`` (off by default, a benchmark's switch) merges an oval of radius
    3-4 px that the seeds cut in two where no boundary is drawn, and still keeps two small
    round nuclei with a drawn boundary apart."""
    import microlab.postprocess._instances as found_instances

    proba, oval, left, right = _boundary_prediction(dip=0.3)
    small = np.ascontiguousarray(proba[:, ::3, ::3])
    oval, pair = oval[::3, ::3], (left | right)[::3, ::3]
    found = microlab.instances(small, kind="boundary")
    assert _objects_in(found, oval) == 2 and _objects_in(found, pair) == 2
    monkeypatch.setattr(found_instances, "_MERGE_ENLARGED", True)
    found = microlab.instances(small, kind="boundary")
    assert _objects_in(found, oval) == 1 and _objects_in(found, pair) == 2


def test_touching_doubtful_pieces_that_make_an_object_are_merged():
    """Small, unsure pieces (each one debris would remove) become one object where together
    they are nucleus-sized and convex; sure objects, too small or too large groups and bent
    chains are left as they are."""
    labels = np.zeros((40, 90), np.int32)
    labels[10:30, 5:15], labels[10:30, 15:25] = 1, 2  # a dim nucleus in two pieces
    labels[10:30, 40:50], labels[10:30, 50:60] = 3, 4  # two sure objects side by side
    doubtful = np.array([False, True, True, False, False])
    merged = fragments.merge_pieces(labels, doubtful, typical=400.0, smallest=120)
    assert merged[20, 10] == merged[20, 20] == 1
    assert merged[20, 45] == 3 and merged[20, 55] == 4
    # together below the least size of an object, or above 1.5 typical ones: kept apart
    assert np.array_equal(fragments.merge_pieces(labels, doubtful, typical=400.0,
                                                 smallest=500), labels)
    assert np.array_equal(fragments.merge_pieces(labels, doubtful, typical=200.0,
                                                 smallest=60), labels)
    # an L-shaped chain of pieces is not one nucleus
    chain = np.zeros((40, 40), np.int32)
    chain[0:20, 0:6], chain[20:26, 0:6], chain[20:26, 6:26] = 1, 2, 3
    bent = fragments.merge_pieces(chain, np.array([False, True, True, True]), typical=300.0,
                                  smallest=90)
    assert fragments._solidity(chain > 0) < fragments._PIECES_SOLIDITY
    assert np.array_equal(bent, chain)


def _dim_nucleus_in_pieces():
    """Background/boundary/interior probabilities of four bright round nuclei and one dim
    one whose interior the network only half-sees, in four quarters with boundary between."""
    shape = (60, 160)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    bright = np.zeros(shape, bool)
    for cx in (15, 45, 75, 105):
        bright |= _disk(shape, 30, cx, 11)
    dim = _disk(shape, 30, 138, 11)
    edge = (bright & ~ndi.binary_erosion(bright, iterations=2)) | (
        dim & ~ndi.binary_erosion(dim, iterations=2))
    cross = dim & ((np.abs(yy - 30) <= 1) | (np.abs(xx - 138) <= 1))
    boundary = np.where(edge, 0.8, np.where(cross, 0.55, np.where(dim, 0.25, 0.02)))
    interior = np.where(bright & ~edge, 0.96, np.where(dim & ~edge & ~cross, 0.5, 0.02))
    background = np.clip(1 - boundary - interior, 0, 1)
    stack = np.stack([background, boundary, interior]).astype(np.float32)
    return ndi.gaussian_filter(stack, (0, 1, 1)), dim


def test_instances_find_a_dim_nucleus_whose_pieces_together_make_it(monkeypatch):
    import microlab.postprocess._instances as found_instances

    proba, dim = _dim_nucleus_in_pieces()
    found = microlab.instances(proba, kind="boundary")
    assert found.max() == 5 and _objects_in(found, dim) == 1
    assert (found[dim] > 0).mean() > 0.8
    monkeypatch.setattr(found_instances, "_MERGE_PIECES", False)
    alone = microlab.instances(proba, kind="boundary")  # each piece removed as debris
    assert alone.max() == 4 and _objects_in(alone, dim) == 0
