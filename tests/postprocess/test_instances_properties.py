"""Property tests of microlab.instances on random masks of overlapping disks and balls."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import microlab

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def masks(draw):
    """A 2D or 3D mask of a few overlapping disks (balls), and a pixel size."""
    ndim = draw(st.sampled_from([2, 2, 3]))
    shape = tuple(draw(st.integers(8, 48 if ndim == 2 else 20)) for _ in range(ndim))
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    mask = np.zeros(shape, bool)
    for _ in range(draw(st.integers(0, 6))):
        centre = [draw(st.integers(0, n - 1)) for n in shape]
        radius = draw(st.integers(1, 8))
        mask |= sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) <= radius**2
    spacing = tuple(draw(st.sampled_from([1.0, 2.0])) for _ in range(ndim))
    return mask, spacing


@SETTINGS
@given(masks(), st.integers(0, 30), st.booleans())
@example((np.ones((8, 8), bool), (1.0, 1.0)), 0, False)  # all foreground: one object, no 0
def test_objects_are_numbered_consecutively_and_kept_to_the_foreground(case, min_size, fill):
    mask, spacing = case
    labels = microlab.instances(mask, min_size=min_size, fill_holes=fill, spacing=spacing)
    assert labels.dtype == np.int32 and labels.shape == mask.shape
    numbers = set(np.unique(labels).tolist()) - {0}  # no 0 where all is foreground
    assert numbers == set(range(1, int(labels.max()) + 1))
    allowed = ndi.binary_fill_holes(mask) if fill else mask
    assert not (labels > 0)[~allowed].any()
    sizes = np.bincount(labels.ravel())[1:]
    assert (sizes >= min_size).all()


@SETTINGS
@given(masks())
def test_without_size_cleanup_every_foreground_pixel_belongs_to_an_object(case):
    mask, spacing = case
    labels = microlab.instances(mask, min_size=0, fill_holes=False, spacing=spacing)
    np.testing.assert_array_equal(labels > 0, mask)


@SETTINGS
@given(masks())
def test_each_object_is_one_connected_piece(case):
    mask, spacing = case
    labels = microlab.instances(mask, min_size=0, spacing=spacing)
    full = np.ones((3,) * mask.ndim, bool)
    for value in range(1, int(labels.max()) + 1):
        assert ndi.label(labels == value, structure=full)[1] == 1


@SETTINGS
@given(masks())
def test_the_same_mask_gives_the_same_objects(case):
    mask, spacing = case
    first = microlab.instances(mask, spacing=spacing)
    np.testing.assert_array_equal(microlab.instances(mask.copy(), spacing=spacing), first)
    as_proba = np.stack([~mask, mask]).astype(np.float32)  # a Segmenter's (C, ...) output
    np.testing.assert_array_equal(microlab.instances(as_proba, spacing=spacing), first)


@SETTINGS
@given(st.integers(0, 10**6), st.sampled_from([2, 3]))
def test_a_blob_without_a_seed_gets_one_at_its_highest_point(seed, ndim):
    from microlab.postprocess._instances import _seed_every_blob

    rng = np.random.default_rng(seed)
    shape = (20, 20) if ndim == 2 else (8, 12, 12)
    blobs, n = ndi.label(rng.random(shape) > rng.uniform(0.3, 0.8))
    height = rng.random(shape)  # no ties: scipy's pick among equal heights is its own
    seeds = (rng.random(shape) > 0.9) & (blobs > 0)
    got = _seed_every_blob(seeds, blobs, n, height)
    seeded = np.zeros(n + 1, bool)
    seeded[blobs[seeds]] = True
    missing = np.flatnonzero(~seeded[1:]) + 1
    want = seeds.copy()
    if len(missing):
        want[tuple(np.array(ndi.maximum_position(height, blobs, missing)).T)] = True
    assert np.array_equal(got, want)
    assert set(np.unique(blobs[got])) == set(range(1, n + 1))  # every blob seeded
