"""`microlab train --objects` and `microlab segment --objects`: whole painted objects in,
separated objects out, through the command line as through the workbench."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage

import microlab
from microlab.cli import main
from microlab.labels import painted_objects, whole_object_rings
from microlab.tiers import tier


@pytest.fixture(scope="module")
def nuclei_folders(tmp_path_factory):
    """images/n0.tif, n1.tif (touching generated nuclei) and annotations/n0.tif: eight
    whole nuclei painted with class 1 and two background strokes (class 2)."""
    root = tmp_path_factory.mktemp("nuclei")
    (root / "images").mkdir()
    (root / "annotations").mkdir()
    truths = []
    for i in range(2):
        image, truth = microlab.data.synthetic_nuclei((128, 128), radius=(6, 9), seed=i + 3)
        tifffile.imwrite(root / "images" / f"n{i}.tif", image)
        truths.append(truth)
    truth = truths[0]
    layer = np.zeros(truth.shape, np.uint8)
    inside = ndimage.binary_erosion(truth > 0, iterations=4)
    for value in np.unique(truth[inside])[:8]:  # whole objects away from the others
        layer[truth == value] = 1
    layer[2:4, :] = np.where(truth[2:4, :] == 0, 2, 0)
    layer[-4:-2, :] = np.where(truth[-4:-2, :] == 0, 2, 0)
    microlab.write_labels(root / "annotations" / "n0.tif", layer)
    return root, truths, layer


def train(root, *extra):
    return main(["train", "--no-progress", "-o", str(root / "model.safetensors"), *extra,
                 str(root / "images" / "n0.tif"), "-a", str(root / "annotations")])


def test_forest_objects_train_in_instance_mode_and_segment_writes_measurable_objects(
        nuclei_folders, capsys):
    root, truths, layer = nuclei_folders
    assert train(root, "--classes", "nuclei,background", "--objects", "nuclei") == 0
    assert "class 1 painted as whole objects" in capsys.readouterr().out
    model = microlab.load_segmenter(root / "model.safetensors")
    assert model.kind == "random-forest" and model.mode == "instance"
    assert model.classes == ["background", "boundary", "interior"]
    image = microlab.read_image(root / "images" / "n1.tif")
    # the same forest as one trained in Python on the painted objects' boundary annotations
    rf = microlab.RandomForestSegmenter(mode="instance").fit(
        microlab.read_image(root / "images" / "n0.tif"), painted_objects(layer, 1),
        progress=False)
    np.testing.assert_allclose(model.predict_proba(image), rf.predict_proba(image), atol=1e-6)

    out = root / "results"
    assert main(["segment", "--no-progress", "-m", str(root / "model.safetensors"),
                 "--objects", "-o", str(out), str(root / "images" / "n1.tif")]) == 0
    assert f"wrote {out / 'n1_objects.tif'}" in capsys.readouterr().out
    objects = microlab.read_image(out / "n1_objects.tif").data
    np.testing.assert_array_equal(objects, model.predict_instances(image))
    found, true = len(np.unique(objects)) - 1, len(np.unique(truths[1])) - 1
    assert abs(found - true) <= 0.25 * true, (found, true)
    assert main(["segment", "--no-progress", "-m", str(root / "model.safetensors"),
                 "--objects", "--object-class", "1", "-o", str(out / "again"),
                 str(root / "images" / "n1.tif")]) == 2
    assert "this model separates objects itself" in capsys.readouterr().err

    table = root / "objects.csv"
    assert main(["measure", "-o", str(table), "--image-dir", str(root / "images"),
                 str(out / "n1_objects.tif")]) == 0
    assert len(pd.read_csv(table)) == found


def test_forest_without_objects_stays_a_pixel_classifier_whose_objects_need_a_class(
        nuclei_folders, capsys):
    """Without --objects the forest learns the painted classes; segment --objects then
    finds objects from the class probabilities (microlab.instances)."""
    root, _, layer = nuclei_folders
    ringed = root / "ringed"
    ringed.mkdir(exist_ok=True)
    microlab.write_labels(ringed / "n0.tif", whole_object_rings(layer, 1, 2))
    assert main(["train", "--no-progress", "-o", str(root / "pixels.safetensors"),
                 "--classes", "nuclei,background", str(root / "images" / "n0.tif"),
                 "-a", str(ringed)]) == 0
    model = microlab.load_segmenter(root / "pixels.safetensors")
    assert model.mode == "semantic" and model.classes == ["nuclei", "background"]
    image = microlab.read_image(root / "images" / "n1.tif")
    out = root / "pixel-results"
    assert main(["segment", "--no-progress", "-m", str(root / "pixels.safetensors"),
                 "--objects", "--object-class", "nuclei", "-o", str(out),
                 str(root / "images" / "n1.tif")]) == 0
    objects = microlab.read_image(out / "n1_objects.tif").data
    expected = microlab.instances(model.predict_proba(image), foreground=0, image=image)
    np.testing.assert_array_equal(objects, expected)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("train_args", "segment_args", "message"),
    [
        (["--objects", "cells"], None, "--objects 'cells' is not a class: give one of "
                                       "nuclei, background or its number 1..2"),
        (["--objects", "3"], None, "--objects '3' is not a class: give one of"),
        (["--objects", "background"], None, None),  # painted: trains
        (["--self-train"], None, "the Random Forest tier cannot self-train"),
        (None, ["--objects"], "--objects needs --object-class for this model, the class of "
                              "the objects: one of nuclei, background"),
        (None, ["--objects", "--object-class", "cells"], "--object-class 'cells' is not a "
                                                         "class: give one of nuclei, "),
        (None, ["--object-class", "nuclei"], "--object-class goes with --objects"),
        (None, ["--objects", "--object-class", "1", "--workers", "1"],
         "--objects finds objects across the whole image, not block by block"),
    ],
)
def test_object_mistakes_are_one_line_errors(nuclei_folders, capsys, tmp_path, train_args,
                                              segment_args, message):
    root, _, _ = nuclei_folders
    if train_args is not None:
        code = main(["train", "--no-progress", "-o", str(tmp_path / "m.safetensors"),
                     "--classes", "nuclei,background", *train_args,
                     str(root / "images" / "n0.tif"), "-a", str(root / "annotations")])
        if message is None:
            assert code == 0
            return
        assert code == 2 and not (tmp_path / "m.safetensors").exists()
    else:
        model = tmp_path / "m.safetensors"
        assert main(["train", "--no-progress", "-o", str(model), "--classes",
                     "nuclei,background", str(root / "images" / "n0.tif"),
                     "-a", str(root / "annotations")]) == 0
        capsys.readouterr()
        code = main(["segment", "--no-progress", "-m", str(model), "-o",
                     str(tmp_path / "out"), *segment_args, str(root / "images" / "n1.tif")])
        assert code == 2 and not (tmp_path / "out" / "n1_objects.tif").exists()
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_objects_of_a_class_nobody_painted_are_refused(nuclei_folders, capsys, tmp_path):
    root, _, layer = nuclei_folders
    (tmp_path / "annotations").mkdir()
    microlab.write_labels(tmp_path / "annotations" / "n0.tif", np.where(layer == 1, 0, layer))
    code = main(["train", "--no-progress", "-o", str(tmp_path / "m.safetensors"),
                 "--objects", "1", str(root / "images" / "n0.tif"),
                 "-a", str(tmp_path / "annotations")])
    assert code == 2
    assert "no annotation holds class value 1" in capsys.readouterr().err


@pytest.mark.skipif(not tier("unet").available, reason="the deep tier is not installed")
def test_self_train_needs_objects(nuclei_folders, capsys, tmp_path):
    root, _, _ = nuclei_folders
    code = main(["train", "--tier", "unet", "--self-train", "-o",
                 str(tmp_path / "m.safetensors"), str(root / "images" / "n0.tif"),
                 "-a", str(root / "annotations")])
    assert code == 2
    assert "--self-train adds sure objects: it goes with --objects" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not tier("unet").available, reason="the deep tier is not installed")
@pytest.mark.parametrize("self_train", [False, True])
def test_unet_objects_train_in_instance_mode_and_segment_by_its_boundaries(
        nuclei_folders, capsys, self_train):
    root, _, _ = nuclei_folders
    extra = ["--self-train"] if self_train else []
    assert train(root, "--tier", "unet", "--minutes", "0.1", "--objects", "1", *extra) == 0
    model = microlab.load_segmenter(root / "model.safetensors")
    assert model.kind == "unet" and model.mode == "instance"
    assert model.classes == ["background", "boundary", "interior"]
    assert model.pseudo_labels is self_train

    out = root / f"unet-results-{self_train}"
    assert main(["segment", "--no-progress", "-m", str(root / "model.safetensors"),
                 "--objects", "-o", str(out), str(root / "images" / "n1.tif")]) == 0
    image = microlab.read_image(root / "images" / "n1.tif")
    objects = microlab.read_image(out / "n1_objects.tif").data
    np.testing.assert_array_equal(objects, model.predict_instances(image))
    capsys.readouterr()
    assert main(["segment", "--no-progress", "-m", str(root / "model.safetensors"),
                 "--objects", "--object-class", "1", "-o", str(out / "again"),
                 str(root / "images" / "n1.tif")]) == 2
    assert "this model separates objects itself" in capsys.readouterr().err
