"""microlab.measure.files: many label images into one table."""


import numpy as np
import pytest
import tifffile

import microlab
from microlab.data.synthetic import synthetic_nuclei
from microlab.measure import files


def write_pair(folder, name, seed, spacing=0.5):
    image, labels = synthetic_nuclei((64, 64), n=6, seed=seed)
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    microlab.write_labels(folder / "labels" / f"{name}_labels.tif", labels, spacing=spacing)
    tifffile.imwrite(folder / "images" / f"{name}.tif", image)
    return labels


def test_files_measures_each_label_image_into_one_table(tmp_path):
    a = write_pair(tmp_path, "a", 1)
    b = write_pair(tmp_path, "b", 2)
    table = files(tmp_path / "labels" / "*.tif", image_dir=tmp_path / "images",
                  neighbours=3, progress=False)
    assert table.columns[0] == "image"
    counts = table["image"].value_counts()
    assert counts["a_labels.tif"] == a.max() and counts["b_labels.tif"] == b.max()
    assert "intensity_mean" in table.columns and "mean_distance_k3_µm" in table.columns
    assert table["area_µm²"].sum() == pytest.approx(((a > 0).sum() + (b > 0).sum()) * 0.25)
    same = files([tmp_path / "labels"], progress=False)
    assert len(same) == len(table)


def test_files_says_which_image_is_missing(tmp_path):
    write_pair(tmp_path, "a", 1)
    (tmp_path / "images" / "a.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"no intensity image for a_labels\.tif"):
        files(tmp_path / "labels", image_dir=tmp_path / "images", progress=False)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        files(tmp_path / "nothing*.tif", progress=False)
    with pytest.raises(ValueError, match="no label images"):
        files([], progress=False)


def test_files_with_colliding_basenames_get_distinct_image_names(tmp_path):
    labels = np.zeros((20, 20), np.uint8)
    labels[2:6, 2:6] = 1
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        microlab.write_labels(tmp_path / day / "cells.tif", labels)
    microlab.write_labels(tmp_path / "day2" / "other.tif", labels)
    table = files(sorted(tmp_path.glob("day*/*.tif")), progress=False)
    assert table["image"].tolist() == ["day1/cells.tif", "day2/cells.tif", "other.tif"]


def test_files_measures_one_channel_of_multichannel_labels(tmp_path):
    labels = np.zeros((2, 20, 20), np.uint8)
    labels[0, 2:6, 2:6] = 1
    labels[1, 8:18, 8:18] = 5
    tifffile.imwrite(tmp_path / "two.tif", labels, imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(ValueError, match=r"two\.tif: labels has 2 different channels"):
        files(tmp_path / "two.tif", progress=False)
    assert files(tmp_path / "two.tif", channel=1, progress=False)["label"].tolist() == [5]
    with pytest.raises(ValueError, match=r"two\.tif: .*has 2 channels; asked for channel 2"):
        files(tmp_path / "two.tif", channel=2, progress=False)
