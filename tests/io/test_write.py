"""microlab.write_labels: label TIFFs that Fiji and napari open, written atomically."""

import numpy as np
import pytest
import tifffile

import microlab


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


def test_labels_above_65535_do_not_wrap(tmp_path):
    """Class 70000 used to come out of a prediction as 4464 (issue 11, case 10)."""
    from microlab.segmenter import labels_from_proba

    proba = np.zeros((70000, 1, 3), np.float32)
    proba[[0, 254, 69999], 0, [0, 1, 2]] = 1
    labels = labels_from_proba(proba)
    assert labels.tolist() == [[1, 255, 70000]]
    with pytest.warns(UserWarning, match="32-bit"):
        microlab.write_labels(tmp_path / "many.tif", labels)
    assert microlab.read_image(tmp_path / "many.tif").data.tolist() == [[1, 255, 70000]]


def test_labels_take_the_smallest_type_that_holds_every_class():
    from microlab.segmenter import labels_from_proba

    for classes, dtype in [(2, np.uint8), (255, np.uint8), (256, np.uint16), (65536, np.uint32)]:
        assert labels_from_proba(np.zeros((classes, 1, 1), np.float32)).dtype == dtype


def test_label_values_beyond_32_bits_are_written_whole(tmp_path):
    labels = np.array([[0, 2**33]], np.int64)  # used to be written as 0
    with pytest.warns(UserWarning, match="64-bit"):
        microlab.write_labels(tmp_path / "huge.tif", labels)
    np.testing.assert_array_equal(microlab.read_image(tmp_path / "huge.tif").data, labels)
