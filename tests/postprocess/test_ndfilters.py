"""microlab._ndfilters gives scipy.ndimage's results, through OpenCV where it can."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

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
        # float32: scipy's rounding after each axis is reproduced; float64: summation order
        scale = np.abs(want).max() + 1e-12
        tolerance = 1e-7 if dtype == np.float32 else 1e-13
        assert np.abs(got.astype(float) - want).max() <= tolerance * scale


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


@pytest.mark.parametrize("case", ["3d", "integers", "all foreground", "anisotropic", "no holes"])
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
