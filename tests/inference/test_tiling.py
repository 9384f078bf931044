"""Tiled prediction: seam-free, equal to whole-image prediction, lazy in and out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

import microlab
from microlab.inference.tiling import predict_tiled
from microlab.labels import scribbles_from_truth

from .helpers import LocalMaximum, LocalSmoothing, StandIn, TileNormalised


def smooth_image(shape, seed=0):
    image = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 3)
    return ((image - image.min()) / (image.max() - image.min())).astype(np.float32)


@pytest.fixture(scope="module")
def sandstone():
    return microlab.data.sandstone()


def recording(base, **kwargs):
    """A ``base(**kwargs)`` stand-in and the list of the shapes of the images it predicts."""
    shapes = []

    class Recorder(base):
        def predict_proba(self, image):
            shapes.append(np.shape(image))
            return super().predict_proba(image)

    return Recorder(**kwargs), shapes


def fitted_rf(image, truth, features):
    rf = microlab.RandomForestSegmenter(features=features, n_estimators=10, n_jobs=1)
    return rf.fit(image, scribbles_from_truth(truth, fraction=0.01), progress=False)


# ---------------------------------------------------------------------- equal to whole image
@pytest.mark.parametrize(
    ("tile", "overlap"), [(64, 16), (100, 0), (37, 30), ((50, 80), (10, 0.25)), (48, 0.5)]
)
def test_tiled_equals_whole_image_when_context_is_read(tile, overlap):
    image = smooth_image((300, 417))
    model = LocalSmoothing()
    tiled = predict_tiled(model, image, tile=tile, overlap=overlap)
    assert tiled.dtype == np.float32 and tiled.shape == (2, 300, 417)
    np.testing.assert_allclose(tiled, model.predict_proba(image), atol=1e-6)


def test_a_model_with_a_wide_context_gets_tiles_that_read_fewer_pixels():
    from microlab.inference.tiling import DEFAULT_TILE, default_tile

    image = smooth_image((1300, 2600))
    # as the default U-Net: windows of 512-px tiles 1.6× larger
    model, calls = recording(LocalMaximum, radius=100)
    side = default_tile([100, 100], image.shape)
    assert side > DEFAULT_TILE and side % DEFAULT_TILE == 0
    tiled = predict_tiled(model, image)
    assert len(calls) == math.ceil(1300 / side) * math.ceil(2600 / side) < 3 * 6
    np.testing.assert_array_equal(tiled, model.predict_proba(image))
    assert default_tile([8, 8], image.shape) == DEFAULT_TILE  # a narrow context: 512
    assert default_tile([100] * 3, (64, *image.shape)) == DEFAULT_TILE  # volumes: 512


def test_without_context_tile_edges_differ_from_whole_image():
    image = smooth_image((200, 200))
    model = LocalSmoothing()
    whole = model.predict_proba(image)
    blind = predict_tiled(model, image, tile=64, overlap=16, context=0)
    assert np.abs(blind - whole).max() > 1e-4  # the context read is what makes it exact
    np.testing.assert_allclose(predict_tiled(model, image, tile=64, overlap=16), whole, atol=1e-6)


def test_random_forest_tiled_equals_whole_image(sandstone):
    image, truth = sandstone
    rf = fitted_rf(image, truth, ["Gaussian σ=1.0", "Sobel", "LoG σ=2.0", "Variance r=3"])
    tiled = predict_tiled(rf, image, tile=128, overlap=16)
    np.testing.assert_allclose(tiled, rf.predict_proba(image), atol=1e-6)


def test_random_forest_with_pyramid_features_is_exact_with_its_alignment(sandstone):
    image, truth = sandstone
    rf = fitted_rf(image, truth, ["Gaussian σ=16.0", "Gaussian σ=1.0", "Entropy r=5"])

    class Aligned(StandIn):  # what RandomForestSegmenter.alignment would return
        classes, context = rf.classes, rf.context
        alignment = rf._banks[0]._align

        def predict_proba(self, image):
            return rf.predict_proba(image)

    tiled = predict_tiled(Aligned(), image, tile=160, overlap=32)
    whole = rf.predict_proba(image)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    unaligned = predict_tiled(rf, image, tile=160, overlap=32)  # differs at a few pixels
    assert (unaligned.argmax(0) == whole.argmax(0)).mean() > 0.99


# ---------------------------------------------------------------------- no seams
def edge_steps(tile, overlap, blend):
    """Mean |change| between neighbouring columns at tile edges and overall, / the median."""
    y, x = np.mgrid[0:256, 0:384]
    image = (x / 383 + 0.3 * np.sin(y / 40)).astype(np.float32)
    out = predict_tiled(TileNormalised(), image, tile=tile, overlap=overlap, blend=blend)
    change = np.abs(np.diff(out, axis=2)).mean(axis=(0, 1))
    starts = np.arange(tile - overlap, 383, tile - overlap)
    ends = starts - (tile - overlap) + tile
    edges = np.concatenate([starts - 1, ends[ends < 384] - 1])
    typical = np.median(change)
    return change[edges].max() / typical, change.max() / typical


def test_gaussian_blending_leaves_no_step_at_tile_borders():
    hard_edges, hard_max = edge_steps(64, 0, "constant")
    edges, largest = edge_steps(64, 16, "gaussian")
    assert hard_edges > 20  # the segmenter really shows seams when tiles are butted
    assert edges < 1.5  # blended: a tile edge changes no more than a pixel inside a tile
    assert largest < hard_max / 5  # and the cross-fade between tiles is gradual


def test_constant_blending_still_steps_where_overlaps_start():
    edges, _ = edge_steps(64, 16, "constant")
    assert edges > 10


# ---------------------------------------------------------------------- lazy in, lazy out
def test_memmap_input_and_zarr_or_memmap_output_equal_in_memory(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = (smooth_image((260, 300)) * 255).astype(np.uint8)
    path = tmp_path / "image.u8"
    source = np.memmap(path, np.uint8, mode="w+", shape=image.shape)
    source[:] = image
    source.flush()
    source = np.memmap(path, np.uint8, mode="r", shape=image.shape)

    class Scaled(LocalSmoothing):
        def predict_proba(self, image):
            return super().predict_proba(np.asarray(image, np.float32) / 255)

    model = Scaled()
    expected = predict_tiled(model, image, tile=96, overlap=24)
    store = zarr.open(tmp_path / "p.zarr", mode="w", shape=(2, 260, 300), chunks=(2, 72, 72),
                      dtype="f4")
    assert predict_tiled(model, source, tile=96, overlap=24, out=store) is store
    np.testing.assert_array_equal(store[:], expected)
    mm = np.memmap(tmp_path / "p.f4", np.float32, mode="w+", shape=(2, 260, 300))
    predict_tiled(model, source, tile=96, overlap=24, out=mm, progress=True)
    np.testing.assert_array_equal(np.asarray(mm), expected)
    np.testing.assert_allclose(expected, model.predict_proba(image), atol=1e-6)


def test_zarr_and_dask_inputs_are_read_tile_by_tile(tmp_path):
    zarr = pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    image = smooth_image((150, 170))
    stored = zarr.open(tmp_path / "i.zarr", mode="w", shape=image.shape, chunks=(64, 64),
                       dtype="f4")
    stored[:] = image
    model = LocalSmoothing()
    expected = model.predict_proba(image)
    for lazy in (stored, da.from_array(image, chunks=50)):
        np.testing.assert_allclose(predict_tiled(model, lazy, tile=64, overlap=8), expected,
                                   atol=1e-6)


def test_only_tiles_are_read_from_the_input():
    image = smooth_image((200, 240))

    class Spy(np.ndarray):
        largest = 0

        def __getitem__(self, index):
            block = super().__getitem__(index)
            Spy.largest = max(Spy.largest, np.asarray(block).size)
            return block

    predict_tiled(LocalSmoothing(), image.view(Spy), tile=64, overlap=16)
    assert Spy.largest <= (64 + 2 * 8) ** 2


# ---------------------------------------------------------------------- 3D and channels
def test_volume_is_tiled_in_z_y_and_x():
    volume = smooth_image((40, 70, 90))
    model = LocalSmoothing()
    expected = model.predict_proba(volume)
    for tile, overlap in [(16, 4), ((40, 32, 32), 8)]:
        tiled = predict_tiled(model, volume, tile=tile, overlap=overlap)
        np.testing.assert_allclose(tiled, expected, atol=1e-6)


def test_channels_reach_the_model_as_an_image_with_axes():
    rgb = np.stack([smooth_image((120, 130), seed=s) / 3 for s in range(3)])
    model = LocalSmoothing()
    expected = model.predict_proba(microlab.Image(rgb, "CYX"))
    inputs = [(rgb, 0), (np.moveaxis(rgb, 0, -1), -1), (microlab.Image(rgb, "CYX"), None)]
    for image, axis in inputs:
        tiled = predict_tiled(model, image, tile=48, overlap=12, channel_axis=axis)
        np.testing.assert_allclose(tiled, expected, atol=1e-6)


def test_image_axes_and_spacing_are_passed_with_every_tile():
    seen = []

    class Recorder(LocalSmoothing):
        def predict_proba(self, image):
            seen.append((image.axes, image.spacing))
            return super().predict_proba(image)

    volume = microlab.Image(smooth_image((1, 12, 50, 60))[np.newaxis], "TCZYX", (3.0, 1.0, 1.0))
    tiled = predict_tiled(Recorder(), volume, tile=(12, 32, 32), overlap=8)
    assert tiled.shape == (2, 12, 50, 60)
    assert set(seen) == {("CZYX", (3.0, 1.0, 1.0))} and len(seen) == 1 * 2 * 3


def test_channel_axis_defaults_to_the_segmenters(sandstone):
    image, truth = sandstone
    rgb = np.stack([image.data] * 3, axis=-1)
    rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0"], n_estimators=5,
                                        channel_axis=-1, n_jobs=1)
    rf.fit(rgb, scribbles_from_truth(truth), progress=False)
    np.testing.assert_allclose(predict_tiled(rf, rgb, tile=200, overlap=20),
                               rf.predict_proba(rgb), atol=1e-6)


# ---------------------------------------------------------------------- sizes and errors
def test_image_smaller_than_a_tile_is_predicted_whole():
    model, calls = recording(LocalSmoothing)
    image = smooth_image((20, 30))
    tiled = predict_tiled(model, image)  # default tile 512
    assert calls == [(20, 30)]
    np.testing.assert_array_equal(tiled, LocalSmoothing().predict_proba(image))
    assert predict_tiled(LocalSmoothing(), np.ones((1, 1), np.float32)).shape == (2, 1, 1)


def test_tiles_cut_by_the_image_end_still_read_a_whole_tile():
    model, shapes = recording(TileNormalised)
    predict_tiled(model, smooth_image((100, 100)), tile=64, overlap=16)
    assert set(shapes) == {(64, 64)}


def test_tiles_read_with_a_context_and_an_alignment_all_read_windows_of_one_shape():
    # windows of a few shapes, each a little larger than the last, made glibc's heap grow
    # with every tile of a big image (the arrays of one did not fit where the last's were)
    model, shapes = recording(LocalMaximum, radius=3, grid=4)
    image = (np.random.default_rng(1).random((70, 90)) > 0.98).astype(np.float32)
    tiled = predict_tiled(model, image, tile=(22, 30), overlap=(6, 0))
    assert len(shapes) > 4 and len(set(shapes)) == 1, shapes
    np.testing.assert_allclose(tiled, model.predict_proba(image), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tile": 0}, ValueError, "tile must be an int >= 1"),
        ({"tile": (64, 64, 64)}, ValueError, "one per spatial axis"),
        ({"tile": 64.0}, TypeError, "tile must be an int"),
        ({"tile": 32, "overlap": 32}, ValueError, "smaller than the tile"),
        ({"overlap": -1}, ValueError, "overlap"),
        ({"overlap": 1.5}, ValueError, r"\[0, 1\)"),
        ({"overlap": "8"}, TypeError, "overlap"),
        ({"blend": "linear"}, ValueError, "'gaussian' or 'constant'"),
        ({"sigma_scale": 0}, ValueError, "sigma_scale"),
        ({"context": -2}, ValueError, "context"),
        ({"out": np.zeros((2, 64, 64), np.float64)}, ValueError, "float32 with shape"),
        ({"out": np.zeros((3, 64, 80), np.float32)}, ValueError, r"\(2, 64, 80\)"),
        ({"out": [[0.0]]}, TypeError, "writable array"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, error, match):
    with pytest.raises(error, match=match):
        predict_tiled(LocalSmoothing(), smooth_image((64, 80)), **kwargs)


def test_bad_images_and_segmenters_are_refused():
    model = LocalSmoothing()
    with pytest.raises(ValueError, match="2D"):
        predict_tiled(model, np.zeros(50, np.float32))
    with pytest.raises(ValueError, match="2D"):
        predict_tiled(model, np.zeros((2, 3, 4, 5, 6), np.float32))
    with pytest.raises(ValueError, match="channel_axis=-1"):
        predict_tiled(model, np.zeros((32, 32, 3), np.float32))
    with pytest.raises(TypeError, match="real numbers"):
        predict_tiled(model, np.array([["a"]]))
    with pytest.raises(TypeError, match="predict_proba"):
        predict_tiled(object(), np.zeros((8, 8)))
    readonly = np.zeros((2, 8, 8), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        predict_tiled(model, np.zeros((8, 8)), out=readonly)

    class Flat(TileNormalised):
        def predict_proba(self, image):
            return super().predict_proba(image)[:, 0]

    with pytest.raises(ValueError, match=r"\(classes, \*spatial\)"):
        predict_tiled(Flat(), np.zeros((8, 8)))


# ---------------------------------------------------------------------- the contract and the plan
def test_predict_tiled_refuses_or_warns_on_huge_tile_count():
    """overlap=0.99 used to plan ~10k tiles of a 1024² image and run for minutes."""
    model, calls = recording(LocalSmoothing)
    image = np.zeros((1024, 1024), np.float32)
    with pytest.raises(ValueError, match=r"plans 10816 tiles for an image of \(1024, 1024\): "
                       r"each pixel would be predicted \d+ times on average"):
        predict_tiled(model, image, tile=512, overlap=0.99)
    assert calls == []  # refused before any prediction
    predict_tiled(model, image[:600, :600], tile=512, overlap=0.5)  # 4 tiles: fine
    assert len(calls) == 4


def test_predict_tiled_uses_the_contract_not_optional_attributes():
    class NoAlignment:  # used to be tiled as if its alignment were 1
        classes, context, channel_axis = ["a", "b"], 0, None

        def predict_proba(self, image):
            return np.zeros((2, *np.shape(image)), np.float32)

    with pytest.raises(TypeError, match="NoAlignment lacks alignment, kind, colors, fit"):
        predict_tiled(NoAlignment(), np.zeros((8, 8)))


def test_the_segmenters_alignment_and_context_are_honoured():
    image = (np.random.default_rng(1).random((70, 90)) > 0.98).astype(np.float32)  # sparse dots
    model = LocalMaximum(radius=3, grid=4)
    whole = model.predict_proba(image)
    np.testing.assert_allclose(predict_tiled(model, image, tile=22, overlap=6), whole, atol=1e-6)
    blind = predict_tiled(model, image, tile=22, overlap=6, context=0)  # the override wins
    assert np.abs(blind - whole).max() > 0.1
    silent = LocalMaximum(radius=3, grid=4, alignment=1)  # does not say it needs the grid
    assert np.abs(predict_tiled(silent, image, tile=22, overlap=6) - whole).max() > 0.1
