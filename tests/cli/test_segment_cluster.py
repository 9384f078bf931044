"""`microlab segment --workers N | --scheduler ADDRESS`: all images as one Dask run, into zarr."""

import socket

import numpy as np
import pytest
import tifffile

import microlab
from microlab.cli import main
from microlab.inference import predict_tiled
from microlab.segmenter import labels_from_proba

zarr = pytest.importorskip("zarr")
pytest.importorskip("distributed")


def write_images(folder, sandstone_crops, names):
    paths = []
    for name, (image, _) in zip(names, sandstone_crops, strict=False):
        tifffile.imwrite(folder / name, image)
        paths.append(folder / name)
    return paths


@pytest.mark.slow
def test_segment_on_local_workers_writes_zarr_labels_equal_to_one_process(
        tmp_path, sandstone_crops, forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif", "b.tif"])
    out = tmp_path / "out"
    command = ["segment", "-m", str(forest_file), "-o", str(out), "--workers", "2",
               "--tile", "48", "--probabilities", *map(str, paths)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "Dask dashboard: http" in printed
    for name in ("a_labels", "a_proba", "b_labels", "b_proba"):
        assert f"wrote {out / name}.zarr" in printed
    rf = microlab.load_segmenter(forest_file)
    for path in paths:
        stem = path.name.removesuffix(".tif")
        labels = zarr.open_array(str(out / f"{stem}_labels.zarr"), mode="r")
        proba = zarr.open_array(str(out / f"{stem}_proba.zarr"), mode="r")
        expected = predict_tiled(rf, microlab.read_image(path), tile=48, overlap=0)
        assert labels.chunks == (48, 48) and proba.chunks == (4, 48, 48)
        assert np.array_equal(proba[:], expected)
        assert np.array_equal(labels[:], labels_from_proba(expected))

    assert main(command) == 2  # a second run would write over the first
    assert "--resume" in capsys.readouterr().err
    assert main([*command, "--resume"]) == 0  # everything is written: nothing to do


def test_segment_on_a_scheduler_that_does_not_answer_is_a_clean_error(
        tmp_path, sandstone_crops, forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    code = main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "out"),
                 "--scheduler", address, str(paths[0])])
    assert code == 2
    err = capsys.readouterr().err
    assert f"no Dask scheduler answers at {address}" in err and "Traceback" not in err


def test_segment_cluster_options_need_a_cluster(tmp_path, sandstone_crops, forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif"])
    code = main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "out"), "--tile", "64",
                 str(paths[0])])
    assert code == 2
    assert "go with --workers or --scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_segment_on_workers_writes_ome_zarr_equal_to_one_process(
        tmp_path, sandstone_crops, forest_file, capsys):
    from microlab.io import write_ome_zarr

    [tif] = write_images(tmp_path, sandstone_crops, ["a.tif"])
    image = sandstone_crops[1][0]
    ome = tmp_path / "b.ome.zarr"
    write_ome_zarr(ome, microlab.Image(image, "YX", (0.5, 0.5), "µm"), levels=2, chunks=64)
    one, many = tmp_path / "one", tmp_path / "many"
    assert main(["segment", "-m", str(forest_file), "-o", str(one), "--ome-zarr",
                 "--probabilities", str(tif)]) == 0
    expected_b = microlab.read_image(tmp_path / "b.ome.zarr")
    rf = microlab.load_segmenter(forest_file)
    expected_b = labels_from_proba(rf.predict_proba(np.asarray(expected_b)))
    capsys.readouterr()
    command = ["segment", "-m", str(forest_file), "-o", str(many), "--ome-zarr", "--workers",
               "2", "--tile", "48", "--probabilities", str(tif), str(ome)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert f"wrote {many / 'a.ome.zarr'}" in printed and "to " + str(many) in printed
    # a TIFF input: its own OME-Zarr labels image and probabilities, as one process writes
    for name in ("a.ome.zarr", "a_proba.ome.zarr"):
        got, want = microlab.read_image(many / name), microlab.read_image(one / name)
        assert got.axes == want.axes and np.array_equal(np.asarray(got), np.asarray(want))
    # an OME-Zarr input: the labels go into its labels/microlab group, with its pixel size
    labels = microlab.read_image(ome / "labels" / "microlab")
    assert labels.spacing == (0.5, 0.5) and labels.unit == "µm"
    assert np.array_equal(np.asarray(labels), expected_b)
    assert not (many / ".microlab-work").exists()  # the blocks are not left behind
    assert main(command) == 2  # the outputs exist now
    assert "--overwrite" in capsys.readouterr().err
