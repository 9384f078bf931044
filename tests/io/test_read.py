"""microlab.read_image: every format, whole or not at all."""

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

import microlab
from microlab.io import Image


def test_read_plain_tiff_keeps_pixels_and_axes(tmp_path):
    data = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10)
    tifffile.imwrite(tmp_path / "a.tif", data)
    img = microlab.read_image(tmp_path / "a.tif")
    assert img.axes == "YX"
    np.testing.assert_array_equal(img.data, data)
    assert img.spacing is None


def test_read_imagej_hyperstack_orders_axes_tczyx_and_keeps_pixel_size(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, (2, 3, 4, 16, 20), dtype=np.uint8)
    # ImageJ stores TZCYX
    tifffile.imwrite(
        tmp_path / "h.tif",
        data,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.5),
        metadata={"axes": "TZCYX", "spacing": 2.0, "unit": "micron"},
    )
    img = microlab.read_image(tmp_path / "h.tif")
    assert img.axes == "TCZYX"
    assert img.data.shape == (2, 4, 3, 16, 20)
    np.testing.assert_array_equal(img.data[1, 2, 0], data[1, 0, 2])
    assert img.spacing == pytest.approx((2.0, 0.5, 0.25))
    assert img.unit == "µm"


def test_read_ome_tiff_pixel_size(tmp_path):
    data = np.zeros((5, 8, 9), np.uint16)
    tifffile.imwrite(
        tmp_path / "o.ome.tif",
        data,
        ome=True,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.5},
    )
    img = microlab.read_image(tmp_path / "o.ome.tif")
    assert img.axes == "ZYX"
    assert img.spacing == pytest.approx((1.5, 0.2, 0.1))


def test_read_lzw_compressed_real_mask(shared_data):
    img = microlab.read_image(shared_data / "sandstone" / "masks" / "Sandstone_Versa0000.tif")
    assert img.axes == "CYX" and img.data.shape == (3, 1024, 996)
    assert set(np.unique(img.data)) <= {0, 255}


def test_read_real_sandstone_keeps_micron_pixel_size(shared_data):
    img = microlab.read_image(shared_data / "sandstone" / "images" / "Sandstone_Versa0000.tif")
    assert img.data.dtype == np.uint8 and img.axes == "YX"
    assert img.spacing == pytest.approx((2.2314, 2.2314), rel=1e-3)
    assert img.unit == "µm"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_read_png_and_jpeg_rgb_channels_first(tmp_path, suffix):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 2] = 200
    PILImage.fromarray(rgb).save(tmp_path / f"c{suffix}")
    img = microlab.read_image(tmp_path / f"c{suffix}")
    assert img.axes == "CYX" and img.data.shape == (3, 10, 12)
    assert abs(int(img.data[2].mean()) - 200) <= 2
    assert img.channel(2).axes == "YX"


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_grey_image_stored_as_colour_png_is_read_as_one_channel(tmp_path, mode):
    # the 2018 Data Science Bowl's fluorescence nuclei are RGBA PNGs of one grey plane
    grey = np.random.default_rng(0).integers(0, 256, (6, 7), dtype=np.uint8)
    planes = {"RGB": [grey] * 3, "RGBA": [grey] * 3 + [np.full_like(grey, 255)],
              "LA": [grey, np.full_like(grey, 255)]}[mode]
    PILImage.fromarray(np.dstack(planes), mode).save(tmp_path / "nuclei.png")
    img = microlab.read_image(tmp_path / "nuclei.png")
    assert img.axes == "YX" and np.array_equal(img.data, grey)


@pytest.mark.parametrize("change", ["colour", "alpha"])
def test_colour_or_transparency_keeps_every_channel(tmp_path, change):
    grey = np.full((6, 7), 100, np.uint8)
    alpha = np.full_like(grey, 255)
    blue = grey.copy()
    if change == "colour":
        blue[2, 3] = 101  # one pixel of colour is colour
    else:
        alpha[0, 0] = 0  # one transparent pixel is information
    PILImage.fromarray(np.dstack([grey, grey, blue, alpha]), "RGBA").save(tmp_path / "c.png")
    img = microlab.read_image(tmp_path / "c.png")
    assert img.axes == "CYX" and img.data.shape == (4, 6, 7)


@pytest.mark.parametrize(("shape", "axes"), [((6, 7), "YX"), ((2, 6, 7), "ZYX")])
def test_grey_image_stored_as_rgb_tiff_is_read_as_one_channel(tmp_path, shape, axes):
    # ImageJ's "RGB Color" of a grey image: three equal samples per pixel
    grey = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "g.tif", np.stack([grey] * 3, -1), photometric="rgb")
    img = microlab.read_image(tmp_path / "g.tif")
    assert img.axes == axes and np.array_equal(img.data, grey)
    coloured = np.stack([grey] * 3, -1)
    coloured[..., 0, 0, 2] += 1  # one pixel of colour keeps the three channels
    tifffile.imwrite(tmp_path / "c.tif", coloured, photometric="rgb")
    assert microlab.read_image(tmp_path / "c.tif").axes == "C" + axes


def test_read_grayscale_png(tmp_path):
    PILImage.fromarray(np.full((4, 5), 7, np.uint8)).save(tmp_path / "g.png")
    img = microlab.read_image(tmp_path / "g.png")
    assert img.axes == "YX" and int(img.data[0, 0]) == 7


def test_truncated_tiff_is_a_clear_value_error(tmp_path):
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((256, 256), np.uint16))
    raw = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match=r"cut\.tif"):
        microlab.read_image(tmp_path / "cut.tif")


def test_not_an_image_is_a_clear_value_error(tmp_path):
    (tmp_path / "notes.tif").write_text("hello, not a tiff")
    with pytest.raises(ValueError, match="not a valid TIFF"):
        microlab.read_image(tmp_path / "notes.tif")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image"):
        microlab.read_image(tmp_path / "nope.tif")


def test_image_rejects_axes_out_of_order():
    with pytest.raises(ValueError, match="subsequence"):
        Image(np.zeros((4, 4, 3)), "YXC")


# ---------------------------------------------------------------------- whole or not at all
STACK_FORMATS = {
    "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
    "imagej-zlib": {"imagej": True, "metadata": {"axes": "ZYX"}, "compression": "zlib"},
    "ome": {"ome": True, "metadata": {"axes": "ZYX"}},
    "ome-lzw": {"ome": True, "metadata": {"axes": "ZYX"}, "compression": "lzw"},
    "plain-zlib": {"compression": "zlib"},
}


def random_stack(shape=(10, 64, 64), seed=0):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("fmt", STACK_FORMATS)
def test_truncated_imagej_stack_raises(tmp_path, fmt):
    """A z-stack missing its last 5 KB used to read as one 2D plane (issue 11, case 6)."""
    tifffile.imwrite(tmp_path / "z.tif", random_stack(), **STACK_FORMATS[fmt])
    raw = (tmp_path / "z.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(raw[:-5000])
    with pytest.raises(ValueError, match=r"cut\.tif .*(truncated|damaged)"):
        microlab.read_image(tmp_path / "cut.tif")


@pytest.mark.parametrize("fmt", STACK_FORMATS)
def test_a_stack_cut_anywhere_is_never_read_as_something_else(tmp_path, fmt):
    stack = random_stack()
    tifffile.imwrite(tmp_path / "z.tif", stack, **STACK_FORMATS[fmt])
    raw = (tmp_path / "z.tif").read_bytes()
    for cut in range(8, len(raw), 1009):
        (tmp_path / "cut.tif").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=r"cut\.tif"):
            microlab.read_image(tmp_path / "cut.tif")


def end_page_chain(path, pages):
    """Rewrite a TIFF so that its chain of pages ends after ``pages`` (data left in place)."""
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[pages - 1].offset
    tags = int.from_bytes(raw[offset : offset + 2], "little")
    next_offset = offset + 2 + 12 * tags
    raw[next_offset : next_offset + 4] = bytes(4)
    path.write_bytes(bytes(raw))


def test_ome_stack_with_pages_missing_is_refused_not_filled_with_zeros(tmp_path):
    tifffile.imwrite(tmp_path / "o.ome.tif", random_stack(), ome=True, metadata={"axes": "ZYX"})
    end_page_chain(tmp_path / "o.ome.tif", 6)
    with pytest.raises(ValueError, match=r"4 of the 10 pages .* are not in the file"):
        microlab.read_image(tmp_path / "o.ome.tif")


def test_tiff_with_two_series_is_refused_or_read_whole(tmp_path):
    """The second series used to be dropped without a word: now the file is refused,
    naming every series, and each one can be read by its number."""
    first, second = random_stack((3, 8, 8)), random_stack((4, 5), seed=1).astype(np.uint16)
    with tifffile.TiffWriter(tmp_path / "two.tif") as tif:
        tif.write(first, photometric="minisblack", metadata={"axes": "ZYX"})
        tif.write(second, metadata={"axes": "YX"})
    with pytest.raises(ValueError, match=r"two\.tif holds 2 image series \(0: ZYX \(3, 8, 8\) "
                       r"uint8; 1: YX \(4, 5\) uint16\).*series=k"):
        microlab.read_image(tmp_path / "two.tif")
    np.testing.assert_array_equal(microlab.read_image(tmp_path / "two.tif", series=0).data, first)
    np.testing.assert_array_equal(microlab.read_image(tmp_path / "two.tif", series=1).data,
                                  second)
    with pytest.raises(ValueError, match="series=2 does not exist"):
        microlab.read_image(tmp_path / "two.tif", series=2)


# ---------------------------------------------------------------------- pixel sizes
@pytest.mark.parametrize("size", [0.0, -1.0, float("nan")])
def test_zero_pixel_size_is_refused_at_read_naming_the_file(tmp_path, size):
    """A pixel size of 0, below 0 or NaN used to be accepted here and fail later."""
    tifffile.imwrite(tmp_path / "bad.ome.tif", np.zeros((3, 8, 9), np.uint16), ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": size, "PhysicalSizeY": 0.2})
    with pytest.raises(ValueError, match=r"bad\.ome\.tif records a pixel size of .* along X"):
        microlab.read_image(tmp_path / "bad.ome.tif")


def test_zero_z_step_of_an_imagej_stack_is_refused_naming_the_file(tmp_path):
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((3, 8, 9), np.uint8), imagej=True,
                     resolution=(2.0, 2.0), metadata={"axes": "ZYX", "spacing": 0.0,
                                                       "unit": "micron"})
    with pytest.raises(ValueError, match=r"flat\.tif records a pixel size of 0 µm along Z"):
        microlab.read_image(tmp_path / "flat.tif")


@pytest.mark.parametrize("spacing", [(0.0, 1.0), (1.0, -0.5), (float("inf"), 1.0)])
def test_image_refuses_a_pixel_size_that_is_not_positive_and_finite(spacing):
    with pytest.raises(ValueError, match="positive and finite"):
        Image(np.zeros((4, 4)), "YX", spacing)


def test_a_zero_pixel_size_along_an_absent_axis_is_ignored(tmp_path):
    tifffile.imwrite(tmp_path / "flat.ome.tif", np.zeros((8, 9), np.uint16), ome=True,
                     metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                               "PhysicalSizeZ": 0})
    assert microlab.read_image(tmp_path / "flat.ome.tif").spacing == (0.5, 0.5)
