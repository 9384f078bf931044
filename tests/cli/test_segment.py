"""`microlab segment`: a saved model applied to images, one label TIFF per image."""

import numpy as np
import pytest
import tifffile
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import microlab
from microlab.cli import main


def write_images(folder, sandstone_crops, names):
    paths = []
    for name, (image, _) in zip(names, sandstone_crops, strict=False):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, image)
        paths.append(path)
    return paths


def test_segment_with_colliding_basenames_writes_unique_names(tmp_path, sandstone_crops,
                                                              forest_file, capsys):
    """`segment e1/img.tif e2/img.tif` used to write one img_labels.tif and claim two
    (issue 11, case 3)."""
    paths = write_images(tmp_path, sandstone_crops, ["e1/img.tif", "e2/img.tif", "e2/b.tif"])
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out), *map(str, paths)]) == 0
    written = [out / "e1_img_labels.tif", out / "e2_img_labels.tif", out / "b_labels.tif"]
    assert sorted(out.iterdir()) == sorted(written)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {p}" for p in written] + [f"wrote 3 label image(s) to {out}"]
    rf = microlab.load_segmenter(forest_file)
    for path, target in zip(paths, written, strict=True):
        expected = rf.predict(microlab.read_image(path))
        np.testing.assert_array_equal(microlab.read_image(target).data, expected)


def test_segment_refuses_to_overwrite_an_input(tmp_path, sandstone_crops, forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif", "a_labels.tif"])
    before = paths[1].read_bytes()
    assert main(["segment", "-m", str(forest_file), "-o", str(tmp_path), *map(str, paths)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert paths[1].read_bytes() == before
    assert not (tmp_path / "a_labels_labels.tif").exists()  # nothing written at all


def test_segment_refuses_images_that_differ_only_in_their_extension(tmp_path, sandstone_crops,
                                                                    forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["img.tif", "img.tiff"])
    code = main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "out"),
                 *map(str, paths)])
    assert code == 2
    assert "differ only in their extension" in capsys.readouterr().err


def test_segment_writes_probabilities_and_says_so(tmp_path, sandstone_crops, forest_file,
                                                  capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif"])
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out), "--probabilities",
                 str(paths[0])]) == 0
    assert f"wrote {out / 'a_proba.tif'}" in capsys.readouterr().out
    proba = microlab.read_image(out / "a_proba.tif")
    assert proba.axes == "CYX" and proba.shape == (4, 96, 96) and proba.dtype == np.float32


def test_cli_out_existing_file_is_a_clean_error(tmp_path, sandstone_crops, forest_file, capsys):
    """--out naming an existing file used to end in a FileExistsError traceback."""
    paths = write_images(tmp_path, sandstone_crops, ["a.tif"])
    (tmp_path / "results").write_text("keep me")
    code = main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "results"),
                 str(paths[0])])
    assert code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and "Traceback" not in err
    assert (tmp_path / "results").read_text() == "keep me"


def test_cli_bad_channel_is_a_clean_error(tmp_path, sandstone_crops, forest_file, capsys):
    """A --channel the image does not have used to end in an IndexError traceback."""
    paths = write_images(tmp_path, sandstone_crops, ["grey.tif"])
    code = main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "out"),
                 "--channel", "3", str(paths[0])])
    assert code == 2
    err = capsys.readouterr().err
    assert "--channel 3 does not exist: image 'grey.tif' has one channel" in err
    assert "Traceback" not in err


def test_model_header_with_non_integer_version_is_a_clean_error(tmp_path, forest_file,
                                                                capsys):
    """A header with format_version "2.1" used to fail with invalid literal for int()."""
    with safe_open(str(forest_file), framework="numpy") as handle:
        header = dict(handle.metadata())
    header["format_version"] = "2.1"
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(forest_file)), str(bad), metadata=header)
    with pytest.raises(ValueError, match=r"bad\.safetensors records the model format version "
                       r"'2\.1', which is not a whole number"):
        microlab.load_segmenter(bad)
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((8, 8), np.uint8))
    code = main(["segment", "-m", str(bad), "-o", str(tmp_path / "out"),
                 str(tmp_path / "a.tif")])
    assert code == 2
    assert "not a whole number" in capsys.readouterr().err


def test_segment_says_when_an_image_is_far_outside_the_training_range(tmp_path, capsys):
    """Issue 11 case 7, on the command line: a forest trained on 12-bit images applied to
    an 8-bit export of the same scene says so on stderr, naming the image."""
    image, truth = microlab.data.sandstone()
    crop, strokes = image.data[:256, :256], truth[:256, :256]
    twelve = crop.astype(np.uint16) * 16
    marks = microlab.labels.scribbles_from_truth(strokes, 0.02, seed=0)
    rf = microlab.RandomForestSegmenter(n_estimators=10).fit(twelve, marks, progress=False)
    model = tmp_path / "rf12.safetensors"
    rf.save(model)
    tifffile.imwrite(tmp_path / "twelve.tif", twelve)
    tifffile.imwrite(tmp_path / "eight.tif", crop)
    out = tmp_path / "out"
    assert main(["segment", "-m", str(model), "-o", str(out), str(tmp_path / "twelve.tif")]) == 0
    assert "intensit" not in capsys.readouterr().err.lower()
    assert main(["segment", "-m", str(model), "-o", str(out), str(tmp_path / "eight.tif")]) == 0
    err = capsys.readouterr().err
    assert "intensit" in err.lower() and "eight.tif" in err


def test_segment_no_progress_hides_the_bar_and_keeps_the_file_list(tmp_path, sandstone_crops,
                                                                   forest_file, capsys):
    paths = write_images(tmp_path, sandstone_crops, ["a.tif"])
    out = tmp_path / "out"
    assert main(["segment", "-m", str(forest_file), "-o", str(out), str(paths[0])]) == 0
    shown = capsys.readouterr()
    assert "segment" in shown.err  # the bar (tqdm writes to stderr)
    assert main(["segment", "-m", str(forest_file), "-o", str(tmp_path / "quiet"),
                 "--no-progress", str(paths[0])]) == 0
    quiet = capsys.readouterr()
    assert "segment" not in quiet.err
    assert f"wrote {tmp_path / 'quiet' / 'a_labels.tif'}" in quiet.out
