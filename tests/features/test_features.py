"""The filter bank, as a specification: names, filter responses, chunking, 3D, errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

import microlab
from microlab.features import FeatureBank, available, compute, default_names, default_range


def blob(shape, sigma=3.0):
    """A bright Gaussian blob at the centre of an image or volume."""
    grids = np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij")
    return np.exp(-sum(g**2 for g in grids) / (2 * sigma**2)).astype(np.float32)


def checkerboard(shape, levels=(0.0, 1.0)):
    parity = np.indices(shape).sum(axis=0) % 2
    return np.where(parity == 0, *levels).astype(np.float32)


def centre(features, bank, name):
    plane = features[bank.names.index(name)]
    return plane[tuple(n // 2 for n in plane.shape)]


@pytest.fixture(scope="module")
def sandstone():
    image, _ = microlab.data.sandstone()
    return image.data


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("ndim", [2, 3])
def test_default_set_has_at_least_33_unique_named_features(ndim):
    names = default_names(ndim)
    assert len(names) >= 33
    assert len(set(names)) == len(names)
    assert set(names) <= set(available(ndim))
    assert FeatureBank(ndim=ndim).names == names


def test_names_say_the_kind_and_the_scale():
    names = available(2)
    for name in ["Intensity", "Gaussian σ=2.0", "Sobel", "Gradient magnitude σ=1.0",
                 "LoG σ=4.0", "DoG σ=2.0-4.0", "Hessian eig1 σ=1.0", "Hessian eig2 σ=1.0",
                 "Structure tensor eig1 σ=2.0", "Entropy r=5", "Gabor θ=45° λ=8",
                 "Median r=3", "Variance r=7"]:
        assert name in names
    kinds = {n.split(" σ")[0].split(" r=")[0].split(" θ")[0] for n in default_names(2)}
    assert {"Intensity", "Gaussian", "Sobel", "Gradient magnitude", "LoG", "DoG",
            "Entropy", "Gabor", "Median", "Variance"} <= kinds
    assert sum(n.startswith("Gabor") for n in default_names(2)) >= 4


def test_3d_has_three_eigenvalues_and_oriented_gabor_kernels():
    names = available(3)
    assert "Hessian eig3 σ=1.0" in names and "Structure tensor eig3 σ=2.0" in names
    assert "Hessian eig3 σ=1.0" not in available(2)
    assert sum(n.startswith("Gabor") for n in default_names(3)) >= 3
    assert "Gabor θ=0° φ=90° λ=8" in names  # along Z


def test_a_subset_is_computed_in_the_order_given():
    image = np.random.default_rng(0).random((40, 50))
    names = ["Variance r=3", "Intensity", "Gaussian σ=1.0"]
    features = compute(image, names)
    assert FeatureBank(names).names == names
    np.testing.assert_allclose(features[1], image.astype(np.float32))
    np.testing.assert_allclose(features, compute(image)[[default_names().index(n)
                                                         for n in names]], atol=1e-6)


def test_output_is_float32_one_plane_per_feature_for_any_dtype():
    for dtype in (np.uint8, np.uint16, np.int32, np.float64, np.bool_):
        image = (np.arange(30 * 40).reshape(30, 40) % 7).astype(dtype)
        features = compute(image)
        assert features.dtype == np.float32
        assert features.shape == (len(default_names()), 30, 40)
        assert np.isfinite(features).all()


# ---------------------------------------------------------------- filter responses
def test_gaussian_of_a_constant_is_the_constant_at_every_scale():
    names = [n for n in available(2) if n.startswith("Gaussian")]
    features = compute(np.full((90, 110), 42.0), names)
    np.testing.assert_allclose(features, 42.0, rtol=1e-5)


def test_sobel_and_gradient_magnitude_peak_at_a_step_edge():
    image = np.zeros((40, 100), np.float32)
    image[:, 50:] = 100.0
    bank = FeatureBank(["Sobel", "Gradient magnitude σ=1.0", "Gradient magnitude σ=8.0"])
    features = bank.compute(image)
    for plane in features:
        row = plane[20]
        assert row.argmax() in (49, 50)
        assert row[:10].max() < 1e-3 * row.max()  # 5σ and more from the edge
    assert features[0, 20, 49] == pytest.approx(50.0)  # (100 - 0) / 2 pixels


@pytest.mark.parametrize("ndim", [2, 3])
def test_log_and_hessian_eigenvalues_are_negative_at_a_bright_blob(ndim):
    image = blob((33,) * ndim)
    names = ["LoG σ=2.0", *[f"Hessian eig{k} σ=2.0" for k in range(1, ndim + 1)]]
    bank = FeatureBank(names, ndim=ndim)
    features = bank.compute(image)
    for name in names:
        assert centre(features, bank, name) < 0
    eigs = [centre(features, bank, f"Hessian eig{k} σ=2.0") for k in range(1, ndim + 1)]
    assert eigs == sorted(eigs, reverse=True)
    assert centre(features, bank, "LoG σ=2.0") == pytest.approx(sum(eigs), rel=1e-4)


def test_structure_tensor_sees_one_orientation_in_stripes():
    x = np.arange(64)
    stripes = np.tile(np.sin(2 * np.pi * x / 16), (64, 1)).astype(np.float32)
    bank = FeatureBank(["Structure tensor eig1 σ=2.0", "Structure tensor eig2 σ=2.0"])
    e1, e2 = bank.compute(stripes)[:, 16:48, 16:48]
    assert (e1 >= e2).all()
    assert e2.max() < 1e-3 * e1.mean()


def test_entropy_is_zero_on_a_constant_and_one_bit_on_a_checkerboard():
    bank = FeatureBank(["Entropy r=3", "Entropy r=8"])
    flat = bank.compute(np.full((50, 50), 7, np.uint8))
    np.testing.assert_allclose(flat, 0.0, atol=1e-6)
    board = bank.compute(checkerboard((50, 50), (0, 255)).astype(np.uint8))
    np.testing.assert_allclose(board, 1.0, atol=1e-3)  # 25 vs 24 of 49: 0.9992 bit


def test_variance_of_a_constant_is_zero_and_of_a_checkerboard_a_quarter():
    bank = FeatureBank(["Variance r=3", "Variance r=7"])
    np.testing.assert_allclose(bank.compute(np.full((40, 40), 3.5)), 0.0, atol=1e-6)
    board = bank.compute(checkerboard((40, 40)))
    np.testing.assert_allclose(board, 0.25, atol=1e-3)


def test_median_removes_an_isolated_spike():
    image = np.full((30, 30), 100, np.uint8)
    image[15, 15] = 255
    features = compute(image, ["Median r=1", "Median r=2"])
    np.testing.assert_array_equal(features, 100.0)


def test_gabor_responds_most_to_stripes_of_its_orientation():
    x = np.arange(96)
    vertical = np.tile(np.cos(2 * np.pi * x / 8), (96, 1)).astype(np.float32)  # varies along X
    names = [f"Gabor θ={t}° λ=8" for t in (0, 45, 90, 135)]
    for image, best in ((vertical, 0), (vertical.T, 2)):
        response = compute(image, names)[:, 32:64, 32:64].mean(axis=(1, 2))
        assert response.argmax() == best
        assert response[best] > 5 * np.delete(response, best).max()


def test_quantisation_follows_the_intensity_range():
    assert default_range(np.zeros((4, 4), np.uint8)) == (0.0, 255.0)
    assert default_range(np.zeros((4, 4), bool)) == (0.0, 1.0)
    image = np.random.default_rng(1).random((60, 60))
    names = ["Entropy r=5", "Median r=2"]
    # floats default to the image's own percentiles: scaling the image scales nothing
    np.testing.assert_allclose(compute(image, names)[0], compute(3 * image, names)[0],
                               atol=1e-5)
    # a fixed range (what a classifier sets from its training images) is the same for both
    fixed = FeatureBank(names, intensity_range=(0.0, 3.0))
    assert not np.allclose(fixed.compute(image)[0], fixed.compute(3 * image)[0])
    assert fixed.compute(image)[1].max() <= 1.0 + 3.0 / 255


# ---------------------------------------------------------------- 3D
def test_3d_filters_see_the_neighbouring_slices():
    volume = np.zeros((11, 32, 32), np.float32)
    volume[5, 12:20, 12:20] = 1.0
    features = compute(volume, ["Gaussian σ=1.0", "Sobel", "Variance r=2"])
    assert (features[:, 6, 16, 16] > 0.01).all()  # an empty slice, next to the square
    assert (features[:, 9, 16, 16] < features[:, 6, 16, 16]).all()


def test_anisotropic_spacing_shrinks_the_smoothing_along_z():
    impulse = np.zeros((21, 41, 41), np.float32)
    impulse[10, 20, 20] = 1.0
    z = np.arange(21) - 10.0
    x = np.arange(41) - 20.0

    def spread(spacing):
        g = compute(impulse, ["Gaussian σ=2.0"], spacing=spacing)[0]
        pz, px = g.sum(axis=(1, 2)), g.sum(axis=(0, 1))
        return np.sqrt((pz * z**2).sum() / pz.sum()), np.sqrt((px * x**2).sum() / px.sum())

    assert spread(None) == pytest.approx((2.0, 2.0), rel=0.02)
    assert spread((2, 1, 1)) == pytest.approx((1.0, 2.0), rel=0.02)  # σ/2 pixels along Z
    assert spread((4.0, 2.0, 2.0)) == pytest.approx((1.0, 2.0), rel=0.02)  # only ratios matter


# ---------------------------------------------------------------- chunks
def test_chunked_result_equals_the_whole_image_in_2d(sandstone):
    bank = FeatureBank()
    whole = bank.compute(sandstone)
    for chunk_size in (160, (100, 200)):  # neither divides 512
        chunked = bank.compute(sandstone, chunk_size=chunk_size)
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


def test_chunked_result_equals_the_whole_volume_in_3d():
    rng = np.random.default_rng(2)
    volume = rng.integers(0, 256, (26, 70, 66)).astype(np.uint8)
    bank = FeatureBank(ndim=3, spacing=(2, 1, 1))
    whole = bank.compute(volume)
    chunked = bank.compute(volume, chunk_size=(9, 30, 40))
    # OpenCV's vector code sums in another order for another row length: near-zero values
    # (LoG, Hessian) differ by a few float32 steps of the 0-255 intensities, never more
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-4)


def test_anisotropic_2d_is_chunked_without_seams_too():
    image = np.random.default_rng(3).random((150, 130))
    bank = FeatureBank(spacing=(2.0, 1.0))
    np.testing.assert_allclose(bank.compute(image, chunk_size=50), bank.compute(image),
                               rtol=1e-5, atol=1e-5)


def test_iter_chunks_tiles_the_image_with_blocks_of_compute(sandstone):
    image = sandstone[:300, :260]
    bank = FeatureBank(["Gaussian σ=16.0", "Entropy r=8", "Hessian eig1 σ=8.0"])
    whole = bank.compute(image)
    covered = np.zeros(image.shape, int)
    for slices, block in bank.iter_chunks(image, chunk_size=(128, 100)):
        assert block.dtype == np.float32 and block.flags.c_contiguous
        assert block.shape == (3, *(s.stop - s.start for s in slices))
        np.testing.assert_allclose(block, whole[(slice(None), *slices)], rtol=1e-5, atol=1e-5)
        covered[slices] += 1
    assert (covered == 1).all()


def test_halo_grows_with_the_largest_scale():
    small = FeatureBank(["Gaussian σ=1.0"]).halo
    large = FeatureBank(["Gaussian σ=16.0"]).halo
    assert 4 <= small < large
    assert large >= 64  # 4σ


def test_default_chunks_fit_the_memory_budget():
    bank = FeatureBank()
    window = [s.stop - s.start for s in bank._grid((4096, 4096), None)[0][1]]
    assert np.prod(window) * 4 * len(bank) <= 256 * 2**20
    assert len(bank._grid((1024, 996), None)) == 1  # a megapixel is one chunk


def test_out_memmap_is_filled_chunk_by_chunk_and_returned(tmp_path, sandstone):
    bank = FeatureBank(["Gaussian σ=2.0", "Sobel", "Entropy r=3"])
    out = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float32,
                                    shape=(3, *sandstone.shape))
    result = bank.compute(sandstone, out=out, chunk_size=200)
    assert result is out
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), bank.compute(sandstone),
                               rtol=1e-5, atol=1e-5)


def test_pyramid_scales_match_full_resolution_filters(sandstone):
    names = ["Gaussian σ=8.0", "Gaussian σ=16.0", "DoG σ=8.0-16.0"]
    fast = FeatureBank(names)
    exact = FeatureBank(names)
    exact._pyramid = False  # every scale at full resolution
    a, b = fast.compute(sandstone), exact.compute(sandstone)
    assert np.abs(a[:2] - b[:2]).max() < 0.005 * 255
    assert np.corrcoef(a[2].ravel(), b[2].ravel())[0, 1] > 0.999


@pytest.mark.parametrize("spacing", [None, (2.0, 1.0)])
def test_every_way_of_blurring_gives_the_same_features(monkeypatch, sandstone, spacing):
    """Plane.blur runs OpenCV's blur whole, in row bands on the cores, or padded with the
    image's mirror image up to a megapixel (IPP's path): the features must not tell."""
    from microlab.features import _plane

    names = ["Gaussian σ=1.0", "Gaussian σ=4.0", "Gradient magnitude σ=2.0",
             "Hessian eig1 σ=4.0"]
    image = sandstone[:300, :410]
    ways = {"whole": (float("inf"), (float("inf"), float("inf"))),
            "bands": (float("inf"), (0, 1 << 20)),
            "padded": (0, (0, 1 << 20))}
    results = {}
    for way, (padded_from, banded) in ways.items():
        monkeypatch.setattr(_plane, "_PADDED_BLUR", padded_from)
        monkeypatch.setattr(_plane, "_BANDED_BLUR", banded)
        bank = FeatureBank(names, spacing=spacing)
        bank._pyramid = False  # every blur at full resolution, on the whole image
        results[way] = bank.compute(image)
    for way in ("bands", "padded"):
        np.testing.assert_allclose(results[way], results["whole"], rtol=1e-6, atol=1e-5,
                                   err_msg=way)


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize("bank", [
    FeatureBank(["Sobel", "Entropy r=5"], intensity_range=(0, 4095)),
    FeatureBank(ndim=3, spacing=(3, 1, 1)),
])
def test_configuration_round_trips_through_json(bank):
    d = json.loads(json.dumps(bank.to_dict()))
    assert d["version"] >= 1
    again = FeatureBank.from_dict(d)
    assert again == bank and hash(again) == hash(bank) and len(again) == len(bank)
    assert again.names == bank.names and again.halo == bank.halo
    assert FeatureBank(["Sobel"]) != FeatureBank(["Sobel"], intensity_range=(0, 1))


def test_a_newer_or_foreign_configuration_is_refused():
    d = FeatureBank(["Sobel"]).to_dict()
    with pytest.raises(ValueError, match="format version 99; this microlab reads format"):
        FeatureBank.from_dict({**d, "version": 99})
    with pytest.raises(ValueError, match="unknown feature 'Quantum flux σ=9'"):
        FeatureBank.from_dict({**d, "names": ["Quantum flux σ=9"]})


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ValueError, match=r"did you mean 'Gaussian σ=2.0'.*available\(ndim=2\)"):
        FeatureBank(["Gaussian σ=2"])
    with pytest.raises(ValueError, match="3D images only"):
        FeatureBank(["Hessian eig3 σ=1.0"])
    with pytest.raises(ValueError, match="unique"):
        FeatureBank(["Sobel", "Sobel"])
    with pytest.raises(TypeError, match=r"\['Sobel'\]"):
        FeatureBank("Sobel")
    with pytest.raises(ValueError, match="ndim must be 2"):
        FeatureBank(ndim=4)


def test_bad_images_are_refused_with_what_to_do():
    bank = FeatureBank(["Sobel"])
    nan = np.zeros((20, 20))
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bank.compute(nan)
    with pytest.raises(ValueError, match="RGB"):
        compute(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="2D"):
        compute(np.zeros(100))
    with pytest.raises(ValueError, match="4 spatial dimensions"):
        compute(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="must be 3D"):
        FeatureBank(ndim=3).compute(np.zeros((16, 16)))
    with pytest.raises(TypeError, match="real numbers"):
        bank.compute(np.full((8, 8), "a"))
    with pytest.raises(ValueError, match="3 channels"):
        compute(microlab.data.osteosarcoma())
    with pytest.raises(ValueError, match="shape"):
        bank.compute(np.zeros((8, 8)), out=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="chunk_size"):
        bank.compute(np.zeros((8, 8)), chunk_size=0)
    with pytest.raises(ValueError, match="intensity_range"):
        FeatureBank(intensity_range=(5, 5))


def test_a_microlab_image_brings_its_spacing():
    image = microlab.Image(blob((9, 32, 32)), "ZYX", spacing=(2.0, 0.5, 0.5), unit="µm")
    np.testing.assert_allclose(
        compute(image, ["Gaussian σ=2.0"]),
        compute(image.data, ["Gaussian σ=2.0"], spacing=(4, 1, 1)),
    )


def test_importing_the_features_loads_neither_numba_nor_opencv():
    code = ("import sys, microlab.features; "
            "print(any(m in sys.modules for m in ('numba', 'cv2', 'scipy.ndimage')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- gallery
def test_feature_gallery_titles_each_picture_with_its_name(sandstone):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["Sobel", "Entropy r=5", "Gaussian σ=2.0", "Gabor θ=45° λ=8", "Median r=1"]
    fig = microlab.viz.feature_gallery(sandstone[:128, :128], names, ncols=2)
    assert [ax.get_title() for ax in fig.axes] == names
    volume_fig = microlab.viz.feature_gallery(blob((8, 24, 24)), ["LoG σ=1.0"])
    assert volume_fig.axes[0].get_images()[0].get_array().shape == (24, 24)
    plt.close("all")
