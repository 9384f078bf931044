"""OME-Zarr in and out: read_image opens a pyramid lazily at any level; images, probabilities
and labels are written as OME-Zarr that the spec's models (ome-zarr-models) and the reader
napari-ome-zarr uses (ome-zarr-py) accept."""

import json

import numpy as np
import pytest

import microlab
from microlab.io import OmeZarrAxesError, OmeZarrError, OmeZarrLevelError

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
models = pytest.importorskip("ome_zarr_models")


def _pixels(shape, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(dtype)


def _ome(path, key=None):
    """The OME attributes of a group (0.5: under 'ome'; 0.4: the attributes)."""
    attrs = zarr.open_group(str(path), mode="r").attrs.asdict()
    return attrs.get("ome", attrs) if key is None else attrs.get("ome", attrs)[key]


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("axes", "shape", "spacing"),
    [
        ("YX", (48, 40), (0.25, 0.5)),
        ("ZYX", (5, 32, 40), (2.0, 0.5, 0.5)),
        ("CYX", (3, 32, 40), (0.5, 0.5)),
        ("TCZYX", (2, 2, 3, 16, 16), (1.5, 0.3, 0.3)),
    ],
)
def test_round_trip_keeps_pixels_axes_spacing_and_unit(tmp_path, axes, shape, spacing):
    pixels = _pixels(shape)
    path = tmp_path / "img.ome.zarr"
    microlab.write_ome_zarr(path, microlab.Image(pixels, axes, spacing, "µm"))
    back = microlab.read_image(path)
    assert back.axes == axes
    assert back.spacing == pytest.approx(spacing)
    assert back.unit == "µm"
    assert back.name == "img.ome.zarr"
    assert back.dtype == np.uint16 and str(back.dtype) == "uint16"
    np.testing.assert_array_equal(np.asarray(back), pixels)


def test_read_image_is_lazy_pixels_are_read_when_computed(tmp_path):
    path = tmp_path / "lazy.zarr"
    microlab.write_ome_zarr(path, microlab.Image(np.zeros((64, 64), np.uint8), "YX"),
                            chunks=32)
    image = microlab.read_image(path)
    assert isinstance(image.data, da.Array)
    assert image.data.chunksize == (32, 32)
    zarr.open_array(str(path / "0"), mode="r+")[:] = 7  # change the pixels after opening
    assert int(image.data.max().compute()) == 7


def test_image_keeps_dask_data_lazy_through_channel_selection(tmp_path):
    path = tmp_path / "rgb.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((3, 16, 16)), "CYX"))
    green = microlab.read_image(path).channel(1)
    assert green.axes == "YX" and isinstance(green.data, da.Array)


def test_image_without_pixel_size_reads_back_without_one(tmp_path):
    path = tmp_path / "plain.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((16, 16)), "YX"))
    back = microlab.read_image(path)
    assert back.spacing is None and back.unit is None


def test_writes_a_dask_array_chunk_by_chunk(tmp_path):
    lazy = da.arange(64 * 96, dtype=np.uint16, chunks=1000).reshape(64, 96)
    path = tmp_path / "big.zarr"
    microlab.write_ome_zarr(path, microlab.Image(lazy, "YX"), chunks=(32, 32), levels=2)
    assert zarr.open_array(str(path / "0"), mode="r").chunks == (32, 32)
    np.testing.assert_array_equal(np.asarray(microlab.read_image(path)), lazy.compute())


# ----------------------------------------------------------------- levels


def test_level_one_has_half_the_size_and_twice_the_pixel_size(tmp_path):
    pixels = _pixels((64, 48))
    path = tmp_path / "pyr.zarr"
    microlab.write_ome_zarr(path, microlab.Image(pixels, "YX", (0.5, 0.25), "µm"), levels=3)
    one = microlab.read_image(path, level=1)
    assert one.shape == (32, 24)
    assert one.spacing == pytest.approx((1.0, 0.5))
    np.testing.assert_allclose(np.asarray(one), pixels.reshape(32, 2, 24, 2).mean((1, 3)),
                               atol=0.5)  # the mean of each 2 x 2 block, rounded
    assert microlab.read_image(path, level=2).shape == (16, 12)


def test_anisotropic_stack_keeps_z_until_the_voxels_are_coarser_across(tmp_path):
    path = tmp_path / "stack.zarr"
    stack = microlab.Image(_pixels((8, 64, 64)), "ZYX", (2.0, 0.5, 0.5), "µm")
    microlab.write_ome_zarr(path, stack, levels=4)
    shapes = [microlab.read_image(path, level=k).shape for k in range(4)]
    assert shapes == [(8, 64, 64), (8, 32, 32), (8, 16, 16), (4, 8, 8)]
    assert microlab.read_image(path, level=3).spacing == pytest.approx((4.0, 4.0, 4.0))


def test_default_pyramid_halves_until_512_pixels(tmp_path):
    path = tmp_path / "auto.zarr"
    microlab.write_ome_zarr(path, microlab.Image(np.zeros((1100, 300), np.uint8), "YX"))
    assert [d["path"] for d in _ome(path, "multiscales")[0]["datasets"]] == ["0", "1", "2"]


def test_a_missing_level_says_which_levels_exist(tmp_path):
    path = tmp_path / "two.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((32, 32)), "YX"), levels=2)
    with pytest.raises(OmeZarrLevelError, match=r"two\.zarr has 2 resolution level.*level=5"):
        microlab.read_image(path, level=5)
    with pytest.raises(ValueError, match="level must be"):
        microlab.read_image(path, level=-1)


def test_tiff_holds_level_zero_only(tmp_path):
    path = tmp_path / "a.tif"
    microlab.write_labels(path, np.eye(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="level=1 does not exist"):
        microlab.read_image(path, level=1)


def test_too_many_levels_for_the_image_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at most 3"):
        microlab.write_ome_zarr(tmp_path / "x.zarr",
                                microlab.Image(np.zeros((4, 4), np.uint8), "YX"), levels=4)
    assert not (tmp_path / "x.zarr").exists()


# ----------------------------------------------------------------- labels


@pytest.fixture
def cells(tmp_path):
    """A 2-channel 2D image with three levels, and its labels (values 0, 3, 200)."""
    path = tmp_path / "cells.ome.zarr"
    image = microlab.Image(_pixels((2, 64, 48)), "CYX", (0.5, 0.5), "µm")
    microlab.write_ome_zarr(path, image, levels=3, chunks=16)
    labels = np.zeros((64, 48), np.uint16)
    labels[5:30, 3:20] = 3
    labels[40:61, 25:46] = 200
    labels[::7, ::5] = 3  # thin structure: interpolation would blend it into new values
    return path, labels


def test_labels_go_into_the_image_labels_group_with_its_pyramid(cells):
    path, labels = cells
    microlab.write_labels_ome_zarr(path, labels, "seg")
    assert _ome(path / "labels", "labels") == ["seg"]
    label_meta = _ome(path / "labels" / "seg")
    assert label_meta["image-label"]["source"] == {"image": "../../"}
    image_sets = _ome(path, "multiscales")[0]["datasets"]
    label_sets = label_meta["multiscales"][0]["datasets"]
    assert [d["path"] for d in label_sets] == [d["path"] for d in image_sets]
    for image_set, label_set in zip(image_sets, label_sets, strict=True):
        for image_t, label_t in zip(image_set["coordinateTransformations"],
                                    label_set["coordinateTransformations"], strict=True):
            assert label_t[label_t["type"]] == image_t[image_t["type"]][1:]  # channel dropped
    for level in range(3):
        image = microlab.read_image(path, level=level)
        seg = microlab.read_image(path / "labels" / "seg", level=level)
        assert seg.axes == "YX" and seg.shape == image.spatial_shape
        assert seg.spacing == image.spacing and seg.dtype == np.uint16
        assert set(np.unique(np.asarray(seg))) <= {0, 3, 200}
    np.testing.assert_array_equal(np.asarray(microlab.read_image(path / "labels" / "seg")),
                                  labels)
    level1 = np.asarray(microlab.read_image(path / "labels" / "seg", level=1))
    np.testing.assert_array_equal(level1, labels[1::2, 1::2])  # the nearest pixel


def test_labels_record_classes_and_colours(cells):
    path, labels = cells
    microlab.write_labels_ome_zarr(path, (labels > 0).astype(np.uint8) + 1,
                                   classes=["background", "cell"], colors=["#000000", "red"])
    meta = _ome(path / "labels" / "microlab", "image-label")
    assert meta["properties"] == [{"label-value": 1, "class": "background"},
                                  {"label-value": 2, "class": "cell"}]
    assert meta["colors"][1] == {"label-value": 2, "rgba": [255, 0, 0, 255]}


def test_several_label_images_are_listed_and_an_existing_one_is_kept(cells):
    path, labels = cells
    microlab.write_labels_ome_zarr(path, labels, "a")
    microlab.write_labels_ome_zarr(path, labels, "b")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        microlab.write_labels_ome_zarr(path, np.zeros_like(labels), "a")
    assert np.asarray(microlab.read_image(path / "labels" / "a")).max() == 200
    microlab.write_labels_ome_zarr(path, np.zeros_like(labels), "a", overwrite=True)
    assert np.asarray(microlab.read_image(path / "labels" / "a")).max() == 0
    assert _ome(path / "labels", "labels") == ["a", "b"]
    assert sorted(p.name for p in (path / "labels").iterdir()) == ["a", "b", "zarr.json"]


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (np.zeros((64, 47), np.uint8), ValueError, r"shape \(64, 47\).*\(64, 48\) \(YX\)"),
        (np.zeros((64, 48), np.float32), TypeError, "integer"),
        (-np.ones((64, 48), np.int16), ValueError, "non-negative"),
        (da.from_array(-np.ones((64, 48), np.int32), chunks=16), ValueError, "non-negative"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_left(cells, labels, error, match):
    path, _ = cells
    with pytest.raises(error, match=match):
        microlab.write_labels_ome_zarr(path, labels, "bad")
    assert not (path / "labels").exists()


def test_labels_of_a_stack_with_singleton_axes(tmp_path):
    """A TCZYX file with T = C = 1: the labels are given as read_image shows the image."""
    path = tmp_path / "t.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((1, 1, 4, 16, 16)), "TCZYX"))
    assert microlab.read_image(path).axes == "ZYX"
    labels = np.arange(4 * 16 * 16, dtype=np.uint32).reshape(4, 16, 16)
    microlab.write_labels_ome_zarr(path, labels)
    assert zarr.open_array(str(path / "labels" / "microlab" / "0"), mode="r").shape == (
        1, 4, 16, 16)
    np.testing.assert_array_equal(
        np.asarray(microlab.read_image(path / "labels" / "microlab")), labels)


# ----------------------------------------------------------------- the spec and other readers


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_written_metadata_validates_against_the_spec(tmp_path, version, cells):
    _, labels = cells
    path = tmp_path / f"v{version}.zarr"
    image = microlab.Image(_pixels((2, 3, 32, 24)), "CZYX", (1.0, 0.5, 0.5), "nm")
    microlab.write_ome_zarr(path, image, levels=2, version=version)
    microlab.write_labels_ome_zarr(path, labels[:32, :24][None].repeat(3, 0), classes=["a"],
                                   colors=["blue"])
    module = models.v05 if version == "0.5" else models.v04
    from importlib import import_module

    group = zarr.open_group(str(path), mode="r")
    opened = models.open_ome_zarr(group)
    assert isinstance(opened, import_module(f"{module.__name__}.image").Image)
    listed = import_module(f"{module.__name__}.labels").Labels.from_zarr(group["labels"])
    assert listed.ome_attributes.labels == ["microlab"]
    label = import_module(f"{module.__name__}.image_label").ImageLabel
    assert label.from_zarr(group["labels/microlab"]).ome_attributes.image_label.colors
    assert group.metadata.zarr_format == (3 if version == "0.5" else 2)
    back = microlab.read_image(path, level=1)
    assert back.unit == "nm" and back.spacing == pytest.approx((1.0, 1.0, 1.0))


def test_ome_zarr_py_sees_the_image_and_its_labels(cells):
    """ome-zarr-py's reader is what napari-ome-zarr uses to open an OME-Zarr."""
    reader_module = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    path, labels = cells
    microlab.write_labels_ome_zarr(path, labels, colors={3: "red", 200: "blue"})
    nodes = list(reader_module.Reader(parse_url(str(path)))())
    found = {n.zarr.path.rstrip("/").split("/")[-1]: n for n in nodes}
    assert [d.shape for d in found["cells.ome.zarr"].data] == [(2, 64, 48), (2, 32, 24),
                                                               (2, 16, 12)]
    label = found["microlab"]
    assert any(isinstance(s, reader_module.Label) for s in label.specs)
    assert label.metadata["color"][200] == [0.0, 0.0, 1.0, 1.0]


def test_reads_an_image_written_by_ome_zarr_py(tmp_path):
    writer = pytest.importorskip("ome_zarr.writer")
    pixels = _pixels((1, 2, 1, 64, 64))  # T, C, Z of one: read as CYX
    group = zarr.open_group(str(tmp_path / "py.zarr"), mode="w")
    writer.write_image(pixels, group, axes="tczyx", scale_factors=[2],
                       scale={"t": 1.0, "c": 1.0, "z": 3.0, "y": 0.2, "x": 0.2},
                       axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"})
    back = microlab.read_image(tmp_path / "py.zarr", level=1)
    assert back.axes == "CYX" and back.shape == (2, 32, 32)
    assert back.spacing == pytest.approx((0.4, 0.4)) and back.unit == "µm"


def test_global_scale_of_the_multiscale_applies(tmp_path):
    path = tmp_path / "g.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((16, 16)), "YX", (0.5, 0.5), "µm"))
    group = zarr.open_group(str(path), mode="r+")
    ome = group.attrs["ome"]
    ome["multiscales"][0]["coordinateTransformations"] = [{"type": "scale", "scale": [2, 3]}]
    group.attrs["ome"] = ome
    assert microlab.read_image(path).spacing == pytest.approx((1.0, 1.5))


# ----------------------------------------------------------------- URLs


def test_reads_and_writes_fsspec_urls(tmp_path):
    pytest.importorskip("fsspec")
    pixels = _pixels((3, 32, 32))
    url = "memory://microlab-test/cells.ome.zarr"
    microlab.write_ome_zarr(url, microlab.Image(pixels, "CYX", (0.5, 0.5), "µm"), levels=2,
                            overwrite=True)
    microlab.write_labels_ome_zarr(url, (pixels[0] > 2000).astype(np.uint8), overwrite=True)
    back = microlab.read_image(url, level=1)
    assert back.shape == (3, 16, 16) and back.spacing == (1.0, 1.0)
    assert back.name == "cells.ome.zarr"
    labels = microlab.read_image(url + "/labels/microlab")
    np.testing.assert_array_equal(np.asarray(labels), pixels[0] > 2000)
    with pytest.raises(FileExistsError, match=r"memory://microlab-test/cells\.ome\.zarr"):
        microlab.write_ome_zarr(url, microlab.Image(pixels, "CYX"))

    local = tmp_path / "local.zarr"
    microlab.write_ome_zarr(f"file://{local}", microlab.Image(pixels, "CYX"))
    np.testing.assert_array_equal(np.asarray(microlab.read_image(f"file://{local}")), pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["local.zarr"]  # written atomically


# ----------------------------------------------------------------- writing safely


def test_an_existing_image_is_not_overwritten_unless_asked(tmp_path):
    path = tmp_path / "x.zarr"
    microlab.write_ome_zarr(path, microlab.Image(np.ones((8, 8), np.uint8), "YX"))
    with pytest.raises(FileExistsError, match=r"x\.zarr already exists; pass overwrite=True"):
        microlab.write_ome_zarr(path, microlab.Image(np.zeros((8, 8), np.uint8), "YX"))
    assert np.asarray(microlab.read_image(path)).min() == 1
    microlab.write_ome_zarr(path, microlab.Image(np.zeros((8, 8), np.uint8), "YX"),
                            overwrite=True)
    assert np.asarray(microlab.read_image(path)).max() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["x.zarr"]


def test_a_failed_write_leaves_the_previous_image_intact(tmp_path, monkeypatch):
    path = tmp_path / "keep.zarr"
    microlab.write_ome_zarr(path, microlab.Image(np.ones((8, 8), np.uint8), "YX"))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(da, "store", boom)
    with pytest.raises(OSError, match="disk full"):
        microlab.write_ome_zarr(path, microlab.Image(np.zeros((8, 8), np.uint8), "YX"),
                                overwrite=True)
    assert np.asarray(microlab.read_image(path)).min() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.zarr"]


def test_probabilities_are_written_as_float_channels_named_after_the_classes(tmp_path):
    proba = np.random.default_rng(1).random((2, 3, 32, 32)).astype(np.float32)
    path = tmp_path / "proba.zarr"
    microlab.write_probabilities_ome_zarr(path, proba, spacing=(2.0, 0.5, 0.5),
                                          classes=["cell", "background"],
                                          colors=["#ff0000", (0, 0, 255)])
    back = microlab.read_image(path)
    assert back.axes == "CZYX" and back.dtype == np.float32
    assert back.spacing == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(np.asarray(back), proba)
    channels = _ome(path, "omero")["channels"]
    assert [c["label"] for c in channels] == ["cell", "background"]
    assert [c["color"] for c in channels] == ["FF0000", "0000FF"]
    with pytest.raises(TypeError, match="floating-point"):
        microlab.write_probabilities_ome_zarr(tmp_path / "i.zarr", proba.astype(np.uint8))
    with pytest.raises(ValueError, match="1 classes given for 2"):
        microlab.write_probabilities_ome_zarr(tmp_path / "c.zarr", proba, classes=["a"])


def test_unknown_unit_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unit 'furlong' has no OME-Zarr name"):
        microlab.write_ome_zarr(tmp_path / "u.zarr",
                                microlab.Image(np.zeros((4, 4), np.uint8), "YX", (1, 1), "furlong"))


# ----------------------------------------------------------------- bad input


def _handmade(path, axes, shape):
    """A Zarr 3 group with OME-Zarr 0.5 metadata written by hand (for bad input)."""
    group = zarr.open_group(str(path), mode="w")
    group.create_array("0", shape=shape, dtype="uint8", dimension_names=[a["name"] for a in axes])
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": axes,
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0] * len(axes)}]}],
    }]}


def test_a_custom_axis_is_refused_naming_the_file_and_the_axis(tmp_path):
    axes = [{"name": "angle", "type": "custom"}, {"name": "y", "type": "space"},
            {"name": "x", "type": "space"}]
    _handmade(tmp_path / "angles.zarr", axes, (3, 8, 8))
    with pytest.raises(OmeZarrAxesError, match=r"angles\.zarr: axis 'angle' \(type 'custom'"):
        microlab.read_image(tmp_path / "angles.zarr")
    _handmade(tmp_path / "one.zarr", axes, (1, 8, 8))  # of length one it is no axis at all
    assert microlab.read_image(tmp_path / "one.zarr").axes == "YX"


def test_two_channel_axes_are_refused(tmp_path):
    axes = [{"name": "c", "type": "channel"}, {"name": "q", "type": "channel"},
            {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    _handmade(tmp_path / "cc.zarr", axes, (2, 2, 8, 8))
    with pytest.raises(OmeZarrAxesError, match=r"cc\.zarr breaks the OME-Zarr 0.5 .*channel axes"):
        microlab.read_image(tmp_path / "cc.zarr")


def test_a_folder_that_is_not_ome_zarr_is_refused(tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(OmeZarrError, match=r"empty\.zarr is not a Zarr group"):
        microlab.read_image(tmp_path / "empty.zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").attrs["hello"] = 1
    with pytest.raises(OmeZarrError, match=r"plain\.zarr is not an OME-Zarr image.*hello"):
        microlab.read_image(tmp_path / "plain.zarr")
    with pytest.raises(FileNotFoundError):
        microlab.read_image(tmp_path / "missing.zarr")


def test_the_labels_group_and_old_versions_say_what_to_do(cells, tmp_path):
    path, labels = cells
    microlab.write_labels_ome_zarr(path, labels)
    with pytest.raises(OmeZarrError, match=r"labels group; pass one label image.*microlab"):
        microlab.read_image(path / "labels")
    old = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    old.attrs["multiscales"] = [{"version": "0.3", "axes": ["y", "x"],
                                 "datasets": [{"path": "0"}]}]
    with pytest.raises(OmeZarrError, match=r"OME-Zarr 0.3 .*reads OME-Zarr 0.4"):
        microlab.read_image(tmp_path / "old.zarr")


def test_a_missing_level_array_is_reported(tmp_path):
    path = tmp_path / "cut.zarr"
    microlab.write_ome_zarr(path, microlab.Image(_pixels((16, 16)), "YX"), levels=2)
    import shutil

    shutil.rmtree(path / "1")
    with pytest.raises(OmeZarrError, match=r"cut\.zarr is incomplete: resolution level 1"):
        microlab.read_image(path)


def test_bioformats2raw_folders_pick_a_series(tmp_path):
    root = tmp_path / "b2r.zarr"
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    group.attrs["bioformats2raw.layout"] = 3
    for k in (0, 1):
        microlab.write_ome_zarr(root / str(k), microlab.Image(np.full((8, 8), k, np.uint8),
                                                              "YX"), version="0.4")
    with pytest.raises(OmeZarrError, match=r"holds 2 images .*series=k"):
        microlab.read_image(root)
    assert np.asarray(microlab.read_image(root, series=1)).max() == 1
    json.dumps(_ome(root / "1"))  # plain JSON on disk
