"""Property tests: for any tile and overlap, tiled prediction equals whole-image prediction
for a segmenter that honestly states its context and alignment."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import microlab
from microlab.inference.tiling import predict_tiled

from .helpers import LocalMaximum

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def plans(draw):
    """An image, a stand-in segmenter and tile sizes and overlaps for it."""
    ndim = draw(st.sampled_from([2, 2, 3]))
    shape = tuple(draw(st.integers(1, 24 if ndim == 3 else 60)) for _ in range(ndim))
    tiles = tuple(draw(st.integers(1, 32)) for _ in range(ndim))
    # up to half a tile of overlap: a plan that never predicts a pixel more than 2**ndim
    # times (an overlap near the whole tile is refused; see test_tiling.py)
    overlaps = tuple(draw(st.integers(0, t // 2)) for t in tiles)
    seed = draw(st.integers(0, 2**16))
    image = (np.random.default_rng(seed).random(shape) > 0.9).astype(np.float32)
    model = LocalMaximum(radius=draw(st.integers(0, 3)), grid=draw(st.integers(1, 4)))
    blend = draw(st.sampled_from(["gaussian", "constant"]))
    return image, model, tiles, overlaps, blend


def dotted_volume():
    image = np.zeros((6, 6, 7), np.float32)
    image[(2, 4, 5), (2, 3, 4), (2, 1, 6)] = 1
    return image


@SETTINGS
@given(plans())
# tiles 3 pixels wide of a plain volume used to reach the model as (Z, Y, 3) arrays, which
# it refused as RGB images; tiles are handed over as microlab.Image(..., "ZYX") now
@example((dotted_volume(), LocalMaximum(radius=0), (6, 6, 3), (0, 0, 0), "gaussian"))
def test_tiled_equals_whole_for_any_tile_and_overlap(plan):
    image, model, tiles, overlaps, blend = plan
    volume = microlab.Image(image, "ZYX"[-image.ndim:])
    whole = model.predict_proba(volume)
    tiled = predict_tiled(model, volume, tile=tiles, overlap=overlaps, blend=blend)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    try:
        plain = predict_tiled(model, image, tile=tiles, overlap=overlaps, blend=blend)
    except ValueError as exc:  # a plain (Z, Y, 3) array is ambiguous: it must be said ZYX
        assert "looks like an RGB" in str(exc) and image.shape[-1] in (3, 4)
    else:
        np.testing.assert_allclose(plain, whole, atol=1e-5)


@SETTINGS
@given(plans(), st.integers(1, 3))
def test_channels_and_axes_of_an_image_reach_every_tile(plan, channels):
    image, model, tiles, overlaps, _ = plan
    stack = np.stack([image * (c + 1) / channels for c in range(channels)])
    axes = "C" + "ZYX"[-image.ndim:]
    wrapped = microlab.Image(stack, axes, spacing=(0.5,) * image.ndim)
    tiled = predict_tiled(model, wrapped, tile=tiles, overlap=overlaps)
    np.testing.assert_allclose(tiled, model.predict_proba(wrapped), atol=1e-5)
    moved = predict_tiled(model, np.moveaxis(stack, 0, -1), tile=tiles, overlap=overlaps,
                          channel_axis=-1)
    np.testing.assert_allclose(moved, tiled, atol=1e-5)
