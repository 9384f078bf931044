"""Property tests: whatever small image is written as TIFF, ImageJ or OME-TIFF, read_image
gives back the same pixels, axes and pixel size (an axis of length 1 is an absent axis)."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import microlab

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
FORMATS = {
    "tiff": ("uint8", "uint16", "int16", "uint32", "float32", "float64"),
    "imagej": ("uint8", "uint16", "float32"),  # the types ImageJ stores
    "ome": ("uint8", "uint16", "int16", "uint32", "float32", "float64"),
}


@st.composite
def microscopy_images(draw):
    """(format, data in TCZYX order, axes, spacing per Z/Y/X letter or None, compression)."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    axes = "".join(a for a in "TCZ" if draw(st.booleans())) + "YX"
    # tifffile writes an ImageJ stack one pixel wide as one page that contradicts its own
    # metadata (read_image rightly refuses that file), so ImageJ images are 2+ pixels wide
    shape = tuple(draw(st.integers(1, 3)) if a in "TCZ"
                  else draw(st.integers(2 if fmt == "imagej" and a == "X" else 1, 12))
                  for a in axes)
    dtype = np.dtype(draw(st.sampled_from(FORMATS[fmt])))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if dtype.kind == "f":
        data = rng.normal(0, 100, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    sizes = st.floats(0.01, 20, allow_nan=False).map(lambda v: round(v, 3))
    spacing = None
    if fmt != "tiff" and draw(st.booleans()):
        spacing = {a: draw(sizes) for a in "ZYX"}
        if fmt == "imagej":
            spacing["Y"] = spacing["X"]  # ImageJ keeps one pixel width... and height
    compression = draw(st.sampled_from([None, "zlib"]))
    return fmt, data, axes, spacing, compression


def write(path, fmt, data, axes, spacing, compression):
    kwargs = {"photometric": "minisblack", "compression": compression}
    if fmt == "imagej":
        order = [axes.index(a) for a in "TZCYX" if a in axes]  # ImageJ stores TZCYX
        metadata = {"axes": "".join(axes[i] for i in order)}
        if spacing:
            metadata |= {"unit": "micron", "spacing": spacing["Z"]}
            kwargs["resolution"] = (1 / spacing["X"], 1 / spacing["Y"])
        tifffile.imwrite(path, np.transpose(data, order), imagej=True, metadata=metadata,
                         **kwargs)
    elif fmt == "ome":
        metadata = {"axes": axes}
        if spacing:
            metadata |= {f"PhysicalSize{a}": v for a, v in spacing.items()}
        tifffile.imwrite(path, data, ome=True, metadata=metadata, **kwargs)
    else:
        tifffile.imwrite(path, data, metadata={"axes": axes}, **kwargs)


@SETTINGS
@given(microscopy_images())
@example(("tiff", np.array([[[95]]], np.uint8), "ZYX", None, None))  # one z-slice is 2D
def test_written_images_read_back_equal(case):
    fmt, data, axes, spacing, compression = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"image.{'ome.' if fmt == 'ome' else ''}tif"
        write(path, fmt, data, axes, spacing, compression)
        image = microlab.read_image(path)
    kept = "".join(a for a, n in zip(axes, data.shape, strict=True) if n > 1 or a in "YX")
    assert image.axes == kept
    assert image.dtype == data.dtype
    np.testing.assert_array_equal(image.data, data.reshape(image.shape))
    spatial = "".join(a for a in kept if a in "ZYX")
    if spacing is None:
        assert image.spacing is None
    else:
        assert image.unit == "µm"
        assert image.spacing == pytest.approx([spacing[a] for a in spatial], rel=1e-5)
