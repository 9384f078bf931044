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


def test_write_labels_opens_as_imagej_with_pixel_size(tmp_path):
    labels = np.zeros((3, 20, 30), np.int32)
    labels[1, 5:9, 5:9] = 300
    microlab.write_labels(tmp_path / "l.tif", labels, spacing=(2.0, 0.5, 0.5))
    with tifffile.TiffFile(tmp_path / "l.tif") as tif:
        assert tif.is_imagej
        assert tif.series[0].dtype == np.uint16
        assert tif.imagej_metadata["spacing"] == 2.0
    back = microlab.read_image(tmp_path / "l.tif")
    assert back.axes == "ZYX" and back.spacing == pytest.approx((2.0, 0.5, 0.5))
    np.testing.assert_array_equal(back.data, labels)


def test_write_labels_uses_smallest_integer_type(tmp_path):
    microlab.write_labels(tmp_path / "s.tif", np.array([[0, 1], [2, 3]], np.int64))
    assert microlab.read_image(tmp_path / "s.tif").data.dtype == np.uint8


def test_write_labels_beyond_65535_warns_and_roundtrips(tmp_path):
    labels = np.array([[0, 70000]], np.uint32)
    with pytest.warns(UserWarning, match="ImageJ"):
        microlab.write_labels(tmp_path / "big.tif", labels)
    np.testing.assert_array_equal(microlab.read_image(tmp_path / "big.tif").data, labels)


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (np.zeros((4, 4), np.float32), TypeError, "integer"),
        (-np.ones((4, 4), np.int16), ValueError, "non-negative"),
        (np.zeros(4, np.uint8), ValueError, "2D"),
    ],
)
def test_write_labels_rejects_bad_labels(tmp_path, labels, error, match):
    with pytest.raises(error, match=match):
        microlab.write_labels(tmp_path / "x.tif", labels)
    assert not (tmp_path / "x.tif").exists()


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "keep.tif"
    microlab.write_labels(target, np.ones((4, 4), np.uint8))
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    with pytest.raises(OSError, match="disk full"):
        microlab.write_labels(target, np.zeros((4, 4), np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_image_rejects_axes_out_of_order():
    with pytest.raises(ValueError, match="subsequence"):
        Image(np.zeros((4, 4, 3)), "YXC")


def test_atomic_writes_give_files_the_usual_permissions(tmp_path):
    import os

    from microlab._atomic import atomic_path

    old = os.umask(0o022)
    try:
        target = tmp_path / "labels.tif"
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
        assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
        target.chmod(0o640)
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"y")
        assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    finally:
        os.umask(old)
