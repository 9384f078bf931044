"""`microlab segment` on OME-Zarr inputs, and `--ome-zarr`: labels written as OME-Zarr."""

import numpy as np
import pytest
import tifffile

import microlab
from microlab.cli import main

pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")


@pytest.fixture
def ome_zarr_image(tmp_path, sandstone_crops):
    path = tmp_path / "cells.ome.zarr"
    image = microlab.Image(sandstone_crops[0][0], "YX", (0.5, 0.5), "µm")
    microlab.write_ome_zarr(path, image, levels=2, chunks=32)
    return path


def test_segment_writes_labels_into_the_ome_zarr_input(ome_zarr_image, tmp_path, forest_file,
                                                       sandstone_crops, capsys):
    out = tmp_path / "out"
    command = ["segment", "-m", str(forest_file), "-o", str(out), "--ome-zarr",
               "--probabilities", str(ome_zarr_image)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    where = ome_zarr_image / "labels" / "microlab"
    assert f"wrote {where}" in printed and f"wrote {out / 'cells_proba.ome.zarr'}" in printed
    rf = microlab.load_segmenter(forest_file)
    image = microlab.read_image(ome_zarr_image)
    labels = microlab.read_image(str(ome_zarr_image) + "/labels/microlab")
    assert labels.spacing == (0.5, 0.5)
    assert np.array_equal(np.asarray(labels.data), rf.predict(image))
    coarse = microlab.read_image(str(ome_zarr_image) + "/labels/microlab", level=1)
    assert coarse.shape == (48, 48)
    proba = microlab.read_image(out / "cells_proba.ome.zarr")
    assert proba.axes == "CYX" and proba.channels == len(rf.classes)
    np.testing.assert_allclose(np.asarray(proba.data), rf.predict_proba(image), atol=1e-6)

    assert main(command) == 2  # labels/microlab is there: refused, nothing written
    assert "--overwrite" in capsys.readouterr().err
    assert main([*command, "--overwrite"]) == 0
    assert np.array_equal(np.asarray(microlab.read_image(where).data), rf.predict(image))


def test_a_tiff_input_gets_labels_as_an_ome_zarr_of_their_own(tmp_path, forest_file,
                                                               sandstone_crops, capsys):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, sandstone_crops[1][0])
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out), "--ome-zarr",
                 str(path)]) == 0
    assert f"wrote {out / 'a.ome.zarr'}" in capsys.readouterr().out
    labels = microlab.read_image(out / "a.ome.zarr")
    rf = microlab.load_segmenter(forest_file)
    assert labels.dtype.kind in "iu"
    assert np.array_equal(np.asarray(labels.data), rf.predict(microlab.read_image(path)))


def test_an_ome_zarr_folder_is_one_input_and_gives_tiff_labels(ome_zarr_image, tmp_path,
                                                                forest_file, capsys):
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out),
                 ome_zarr_image.as_uri()]) == 0
    assert f"wrote {out / 'cells_labels.tif'}" in capsys.readouterr().out
    rf = microlab.load_segmenter(forest_file)
    expected = rf.predict(microlab.read_image(ome_zarr_image))
    assert np.array_equal(tifffile.imread(out / "cells_labels.tif"), expected)
    assert microlab.io.paths.expand_paths(
        [ome_zarr_image], suffixes=microlab.io.paths.OME_ZARR_SUFFIXES) == [ome_zarr_image]


def test_objects_go_beside_the_labels_as_ome_zarr(ome_zarr_image, tmp_path, forest_file,
                                                 sandstone_crops, capsys):
    tiff = tmp_path / "a.tif"
    tifffile.imwrite(tiff, sandstone_crops[1][0])
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out), "--ome-zarr", "--objects",
                 "--object-class", "3", "--no-progress", str(ome_zarr_image), str(tiff)]) == 0
    printed = capsys.readouterr().out
    inside = ome_zarr_image / "labels" / "microlab-objects"
    assert f"wrote {inside}" in printed and f"wrote {out / 'a_objects.ome.zarr'}" in printed
    rf = microlab.load_segmenter(forest_file)
    for image, written in [(microlab.read_image(ome_zarr_image), str(inside)),
                           (microlab.read_image(tiff), out / "a_objects.ome.zarr")]:
        objects = microlab.read_image(written)
        expected = microlab.instances(rf.predict_proba(image), foreground=2, image=image,
                                      spacing=image.spacing)
        assert expected.max() > 1
        assert np.array_equal(np.asarray(objects.data), expected)
        assert objects.spacing == image.spacing or image.spacing is None
