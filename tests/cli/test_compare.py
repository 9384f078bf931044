"""`microlab compare`: the tiers trained on part of the strokes, scored on the rest."""

import numpy as np
import pandas as pd
import pytest
import tifffile

import microlab
from microlab.cli import main
from microlab.tiers import tier


@pytest.fixture
def folders(tmp_path):
    """Two 128 × 512 strips of the sandstone sample with 3 % strokes of each class."""
    image, truth = microlab.data.sandstone()
    strokes = microlab.labels.scribbles_from_truth(truth, 0.03, seed=1)
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    for i, cut in enumerate([np.s_[:128], np.s_[128:256]]):
        tifffile.imwrite(tmp_path / "images" / f"s{i}.tif", image.data[cut])
        microlab.write_labels(tmp_path / "annotations" / f"s{i}.tif", strokes[cut])
    return tmp_path


def run(folders, *extra):
    return main(["compare", "--no-progress", *extra, str(folders / "images"),
                 "-a", str(folders / "annotations")])


def test_compare_prints_the_table_and_writes_it_and_its_figure(folders, capsys):
    table, figure = folders / "comparison.csv", folders / "comparison.png"
    assert run(folders, "--tiers", "random-forest", "--classes", "pore,clay,quartz,feldspar",
               "-o", str(table), "--plot", str(figure)) == 0
    out = capsys.readouterr().out
    assert out.startswith("comparing random-forest on 2 image(s) in 3 folds")
    assert "mean IoU" in out and "Random Forest" in out
    assert f"wrote {table}" in out and f"wrote {figure}" in out
    written = pd.read_csv(table, index_col=0)
    assert list(written.index) == ["Random Forest"]
    assert {"pore", "feldspar", "mean IoU", "± folds", "fit s"} <= set(written.columns)
    assert 0.3 < written.loc["Random Forest", "mean IoU"] <= 1
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same folds and forest as compare() in Python give the same table
    images = [microlab.read_image(folders / "images" / f"s{i}.tif") for i in (0, 1)]
    layers = [microlab.read_image(folders / "annotations" / f"s{i}.tif").data for i in (0, 1)]
    result = microlab.compare(images, layers, tiers=["random-forest"], progress=False,
                              classes=["pore", "clay", "quartz", "feldspar"])
    assert result.recommendation in out
    np.testing.assert_allclose(written.loc["Random Forest", "mean IoU"],
                               result.table.loc["Random Forest", "mean IoU"])


def test_compare_scores_objects(tmp_path, capsys):
    image, truth = microlab.data.synthetic_nuclei((192, 192), radius=(6, 9), touching=False,
                                                  seed=2)
    layer = np.where(truth > 0, 1, 2).astype(np.uint8)
    layer[::2] = 0  # half the rows unpainted; whole objects stay connected column-wise
    layer = np.where(truth > 0, 1, layer).astype(np.uint8)
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    tifffile.imwrite(tmp_path / "images" / "n.tif", image)
    microlab.write_labels(tmp_path / "annotations" / "n.tif", layer)
    table = tmp_path / "c.csv"
    assert run(tmp_path, "--tiers", "random-forest", "--objects", "1", "-o", str(table)) == 0
    out = capsys.readouterr().out
    assert "AP@0.5" in out and "on the held-out objects" in out  # the recommendation's too
    assert 0 < pd.read_csv(table, index_col=0).loc["Random Forest", "AP@0.5"] <= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plot", "c.jpg"], "--plot c.jpg: give a .png, .svg or .pdf file name"),
        (["--out", "c.txt"], "does not end in .csv"),
        (["--minutes", "0"], "--minutes must be a positive number"),
        (["--objects", "cells"], "objects='cells' is not a class"),
        (["--folds", "1"], "folds must be an integer >= 2, got 1"),
    ],
)
def test_compare_mistakes_are_one_line_errors(folders, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(folders)
    assert run(folders, "--tiers", "random-forest", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (folders / "c.jpg").exists() and not (folders / "c.txt").exists()


@pytest.mark.slow
@pytest.mark.skipif(not tier("unet").available, reason="the deep tier is not installed")
def test_compare_both_tiers_on_a_tiny_budget(folders, capsys):
    assert run(folders, "--tiers", "random-forest", "unet", "--minutes", "0.05") == 0
    out = capsys.readouterr().out
    assert "Random Forest" in out and "U-Net" in out
