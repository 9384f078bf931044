"""`microlab measure`: a folder of label images into one CSV table."""

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

import microlab
from microlab.cli import main


def make_files(folder, count=2, spacing=0.5):
    (folder / "labels").mkdir()
    (folder / "images").mkdir()
    sizes = []
    for i in range(count):
        labels = np.zeros((30, 30), np.uint16)
        labels[2:8, 2:8] = 1
        labels[12:20, 12:20 + i] = 2
        microlab.write_labels(folder / "labels" / f"cells{i}_labels.tif", labels,
                              spacing=spacing)
        tifffile.imwrite(folder / "images" / f"cells{i}.tif",
                         np.full((30, 30), 10.0 * (i + 1), np.float32))
        sizes += [36, 64 + 8 * i]
    return sorted(str(p) for p in (folder / "labels").glob("*.tif")), sizes


def test_measure_writes_one_table_with_an_image_column(tmp_path, capsys):
    paths, sizes = make_files(tmp_path)
    out = tmp_path / "results.csv"
    assert main(["measure", "--out", str(out), "--no-progress", *paths]) == 0
    table = pd.read_csv(out)
    assert table["image"].tolist() == ["cells0_labels.tif"] * 2 + ["cells1_labels.tif"] * 2
    assert table["area_µm²"].tolist() == [s * 0.25 for s in sizes]
    assert capsys.readouterr().out.strip() == f"measured 4 objects in 2 image(s); wrote {out}"


def test_measure_adds_intensities_neighbours_and_a_given_spacing(tmp_path):
    _, sizes = make_files(tmp_path)
    out = tmp_path / "results.csv"
    code = main(["measure", "-o", str(out), "--image-dir", str(tmp_path / "images"),
                 "--spacing", "2", "--unit", "nm", "--neighbours", "1", "--no-progress",
                 str(tmp_path / "labels")])
    assert code == 0
    table = pd.read_csv(out)
    assert table["intensity_mean"].tolist() == [10, 10, 20, 20]
    assert table["area_nm²"].tolist() == [s * 4 for s in sizes]
    assert table["nearest_distance_nm"].notna().all()


def test_measure_reports_a_missing_file_and_exits_with_2(tmp_path, capsys):
    code = main(["measure", "--out", str(tmp_path / "r.csv"), str(tmp_path / "none.tif")])
    assert code == 2
    assert "no such label image" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_measure_reports_a_bad_label_image(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((5, 5), np.float32))
    code = main(["measure", "--out", str(tmp_path / "r.csv"), str(tmp_path / "float.tif")])
    assert code == 2
    assert "float.tif: labels must be an integer label image" in capsys.readouterr().err


def test_measure_refuses_to_overwrite_an_input_with_csv(tmp_path, capsys):
    """`microlab measure --out labels/*.tif` used to write CSV text over the first label
    image (issue 11, case 5): the shell expands the pattern, and its first file is --out."""
    paths, _ = make_files(tmp_path)
    before = Path(paths[0]).read_bytes()
    assert main(["measure", "--out", *paths, "--no-progress"]) == 2
    assert "does not end in .csv" in capsys.readouterr().err
    assert Path(paths[0]).read_bytes() == before
    assert main(["measure", "--out", str(tmp_path / "labels"), paths[1]]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_measure_refuses_intensity_image_as_labels(tmp_path, capsys):
    crop = microlab.data.sandstone()[0].data[:96, :96]
    tifffile.imwrite(tmp_path / "sandstone.tif", crop)
    out = tmp_path / "r.csv"
    assert main(["measure", "-o", str(out), "--no-progress", str(tmp_path / "sandstone.tif")]) == 2
    assert "sandstone.tif: labels does not look like a label image" in capsys.readouterr().err
    assert not out.exists()
    assert main(["measure", "-o", str(out), "--force", "--no-progress",
                 str(tmp_path / "sandstone.tif")]) == 0
    assert len(pd.read_csv(out)) == len(np.unique(crop[crop > 0]))


def test_measure_cyx_image_is_not_measured_as_z(tmp_path, capsys):
    labels = np.zeros((3, 30, 30), np.uint8)
    labels[0, 2:8, 2:8] = 1
    labels[1, 10:20, 10:20] = 2
    tifffile.imwrite(tmp_path / "cyx.tif", labels, imagej=True, metadata={"axes": "CYX"})
    out = tmp_path / "r.csv"
    assert main(["measure", "-o", str(out), "--no-progress", str(tmp_path / "cyx.tif")]) == 2
    assert "3 different channels" in capsys.readouterr().err
    assert main(["measure", "-o", str(out), "--channel", "1", "--no-progress",
                 str(tmp_path / "cyx.tif")]) == 0
    table = pd.read_csv(out)
    assert table["label"].tolist() == [2] and "area_px²" in table.columns
