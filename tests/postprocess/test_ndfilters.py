"""microlab._ndfilters gives scipy.ndimage's results, through OpenCV where it can."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

import microlab
from microlab import _ndfilters as f

shapes = st.tuples(st.integers(1, 90), st.integers(1, 90))
sigmas = st.one_of(st.floats(0.05, 9.0), st.tuples(st.floats(0.05, 9.0), st.floats(0.05, 9.0)))


def _image(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.random(shape), 1.0) * 50).astype(dtype)


@settings(max_examples=60, deadline=None)
@given(shapes, sigmas, st.integers(0, 10**6), st.sampled_from([np.float32, np.float64]))
def test_the_gaussian_filters_are_scipys(shape, sigma, seed, dtype):
    a = _image(shape, seed, dtype)
    for mine, theirs in ((f.gaussian_filter, ndi.gaussian_filter),
                         (f.gaussian_laplace, ndi.gaussian_laplace)):
        got, want = mine(a, sigma), theirs(a, sigma)
        assert got.dtype == want.dtype and got.shape == want.shape
        if dtype == np.float64 or mine is f.gaussian_filter:  # scipy's, or scipy's rounding
            assert np.array_equal(got, want)
        else:  # the Laplacian: on rare pixels one unit in the last place
            assert np.abs(got.astype(float) - want).max() <= 1e-7 * (np.abs(want).max() + 1e-12)


@settings(max_examples=60, deadline=None)
@given(shapes, st.floats(0.02, 0.98), st.integers(0, 10**6),
       st.sampled_from([None, 1.0, 0.37, (2.0, 2.0), (1.0, 3.0)]))
def test_the_distance_transform_is_scipys_exactly(shape, share, seed, sampling):
    mask = np.random.default_rng(seed).random(shape) > share
    got = f.distance_transform_edt(mask, sampling)
    want = ndi.distance_transform_edt(mask, sampling=sampling)
    assert got.dtype == want.dtype == np.float64
    if sampling in (None, 1.0):
        assert np.array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_large_images_with_small_objects_go_through_opencv_exactly(monkeypatch):
    rng = np.random.default_rng(1)
    mask = ndi.binary_opening(rng.random((3100, 1600)) > 0.3)  # sides over 1448 px
    want = ndi.distance_transform_edt(mask)
    monkeypatch.setattr(f.ndi, "distance_transform_edt", None)  # scipy is not called
    assert np.array_equal(f.distance_transform_edt(mask), want)


@settings(max_examples=60, deadline=None)
@given(shapes, st.floats(0.02, 0.98), st.integers(0, 10**6), st.integers(1, 6))
def test_the_morphology_is_scipys_exactly(shape, share, seed, iterations):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) > share
    assert np.array_equal(f.binary_fill_holes(mask), ndi.binary_fill_holes(mask))
    assert np.array_equal(f.binary_dilation(mask, iterations),
                          ndi.binary_dilation(mask, iterations=iterations))
    a = np.round(rng.random(shape) * 3).astype(np.float32)  # ties, where order could matter
    assert np.array_equal(f.maximum_filter3(a), ndi.maximum_filter(a, size=3, mode="nearest"))


@pytest.mark.parametrize("case", ["3d", "integers", "all foreground", "anisotropic",
                                  "far from the background", "no holes"])
def test_what_opencv_cannot_do_goes_to_scipy(case):
    rng = np.random.default_rng(0)
    if case == "3d":
        a = rng.random((6, 20, 20)).astype(np.float32)
        assert np.array_equal(f.gaussian_filter(a, 1.0), ndi.gaussian_filter(a, 1.0))
        assert np.array_equal(f.binary_fill_holes(a > 0.5), ndi.binary_fill_holes(a > 0.5))
        assert np.array_equal(f.distance_transform_edt(a > 0.2),
                              ndi.distance_transform_edt(a > 0.2))
    elif case == "integers":
        a = (rng.random((30, 30)) * 200).astype(np.uint8)
        assert np.array_equal(f.gaussian_filter(a, 2.0), ndi.gaussian_filter(a, 2.0))
    elif case == "all foreground":
        mask = np.ones((12, 9), bool)
        assert np.array_equal(f.distance_transform_edt(mask), ndi.distance_transform_edt(mask))
    elif case == "anisotropic":
        mask = rng.random((40, 30)) > 0.3
        assert np.array_equal(f.distance_transform_edt(mask, (1.0, 2.5)),
                              ndi.distance_transform_edt(mask, sampling=(1.0, 2.5)))
    elif case == "far from the background":  # squares beyond float32's exact integers
        mask = np.ones((3, 6000), bool)
        mask[:, 0] = False
        got = f.distance_transform_edt(mask)
        assert got[0, -1] == 5999 and np.array_equal(got, ndi.distance_transform_edt(mask))
    else:
        mask = np.zeros((7, 7), bool)
        assert not f.binary_fill_holes(mask).any()
        assert f.binary_fill_holes(~mask).all()


def test_the_input_is_left_as_it_was():
    a = np.random.default_rng(1).random((50, 60)).astype(np.float32)
    mask = a > 0.5
    before, before_mask = a.copy(), mask.copy()
    f.gaussian_filter(a, 2.0), f.gaussian_laplace(a, 2.0), f.maximum_filter3(a)
    f.distance_transform_edt(mask), f.binary_dilation(mask, 3), f.binary_fill_holes(mask)
    assert np.array_equal(a, before) and np.array_equal(mask, before_mask)


def test_views_with_strides_give_scipys_results():
    rng = np.random.default_rng(2)
    a = rng.random((80, 90)).astype(np.float32)
    for view in (a.T, a[::2, ::3], a[:, ::-1], np.asfortranarray(a)):
        assert np.array_equal(f.gaussian_filter(view, 1.3), ndi.gaussian_filter(view, 1.3))
        assert np.array_equal(f.maximum_filter3(view),
                              ndi.maximum_filter(view, size=3, mode="nearest"))
        mask = view > 0.4
        assert np.array_equal(f.distance_transform_edt(mask), ndi.distance_transform_edt(mask))
        assert np.array_equal(f.binary_dilation(mask, 2), ndi.binary_dilation(mask, iterations=2))
        assert np.array_equal(f.binary_fill_holes(mask), ndi.binary_fill_holes(mask))


def _scipy_filters(monkeypatch):
    """The object finder's filters as scipy's own (what it used before microlab._ndfilters)."""
    from microlab.postprocess import _instances

    for name in ("distance_transform_edt", "gaussian_filter", "gaussian_laplace",
                 "binary_fill_holes"):
        monkeypatch.setattr(_instances, name, getattr(ndi, name))
    monkeypatch.setattr(_instances, "maximum_filter3",
                        lambda a: ndi.maximum_filter(a, size=3, mode="nearest"))


def _finds(image, mask, probability):
    return [microlab.instances(mask), microlab.instances(mask, image=image),
            microlab.instances(probability, foreground=0),
            microlab.instances(probability, foreground=0, image=image)]


def _cases(shared_data):
    for seed, radius in ((0, (4, 7)), (1, (6, 12)), (2, (10, 20))):
        image, truth = microlab.data.synthetic_nuclei((256, 256), radius=radius, seed=seed)
        yield image, truth > 0
    for name in ("BBBC022_IXMtest_A02_s9.tif", "BBBC038_0bf4b1.tif"):
        image = microlab.read_image(shared_data / "unlabelled" / name).data
        image = image[0] if image.ndim == 3 else image  # BBBC022's first channel: nuclei
        yield image, image > threshold_otsu(image)


def test_the_object_finder_finds_scipys_objects_pixel_for_pixel(shared_data, monkeypatch):
    found = []
    for image, mask in _cases(shared_data):
        x = ndi.gaussian_filter(image.astype(np.float32), 1.0)
        lo, hi = np.percentile(x, [1, 99.8])
        p = np.clip((x - lo) / (hi - lo), 0, 1)
        found.append((image, mask, np.stack([p, 1 - p])))
    ours = [_finds(*case) for case in found]
    _scipy_filters(monkeypatch)
    theirs = [_finds(*case) for case in found]
    for mine, want in zip(ours, theirs, strict=True):
        for a, b in zip(mine, want, strict=True):
            assert a.max() > 0 and np.array_equal(a, b)
