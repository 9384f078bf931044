"""`microlab train`: images and annotation TIFFs in, a model file of any tier out."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import microlab
from microlab.cli import main
from microlab.tiers import tier


@pytest.fixture
def folders(tmp_path, sandstone_crops):
    """images/s0..s2.tif and annotations for s0 and s1, as a project folder holds them."""
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    for i, (image, layer) in enumerate(sandstone_crops):
        tifffile.imwrite(tmp_path / "images" / f"s{i}.tif", image)
        if i < 2:
            microlab.write_labels(tmp_path / "annotations" / f"s{i}_annotations.tif", layer)
    return tmp_path


def images(folder):
    return sorted(str(p) for p in (folder / "images").glob("*.tif"))


def test_train_writes_a_forest_that_segment_applies(folders, capsys):
    model = folders / "rf.safetensors"
    code = main(["train", "--tier", "random-forest", "--out", str(model),
                 "--classes", "pore,clay,quartz,feldspar", *images(folders),
                 "--annotations", str(folders / "annotations")])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "not annotated, left out: s2.tif",
        "training a Random Forest on 2 image(s):",
        f"  {folders / 'images' / 's0.tif'} <- {folders / 'annotations' / 's0_annotations.tif'}",
        f"  {folders / 'images' / 's1.tif'} <- {folders / 'annotations' / 's1_annotations.tif'}",
        f"wrote {model} (Random Forest; classes: pore, clay, quartz, feldspar)",
    ]
    rf = microlab.load_segmenter(model)
    assert rf.kind == "random-forest" and rf.classes == ["pore", "clay", "quartz", "feldspar"]
    assert main(["segment", "-m", str(model), "-o", str(folders / "labels"),
                 *images(folders)]) == 0
    labels = microlab.read_image(folders / "labels" / "s2_labels.tif").data
    np.testing.assert_array_equal(labels, rf.predict(microlab.read_image(images(folders)[2])))


def test_train_pairs_annotations_given_as_files_in_any_order(folders, capsys):
    annotations = sorted(str(p) for p in (folders / "annotations").glob("*.tif"))[::-1]
    model = folders / "rf.safetensors"
    assert main(["train", "-o", str(model), "--no-progress", *images(folders)[:2],
                 "-a", *annotations]) == 0
    out = capsys.readouterr().out.splitlines()
    for i in (0, 1):
        image, annotation = folders / "images", folders / "annotations"
        assert f"  {image / f's{i}.tif'} <- {annotation / f's{i}_annotations.tif'}" in out
    assert microlab.load_segmenter(model).classes == [f"class {k}" for k in range(1, 5)]


def test_train_refuses_to_overwrite_an_input(folders, capsys):
    first = images(folders)[0]
    before = Path(first).read_bytes()
    assert main(["train", "--out", *images(folders), "-a", str(folders / "annotations")]) == 2
    assert "does not end in .safetensors" in capsys.readouterr().err
    assert Path(first).read_bytes() == before
    renamed = folders / "images" / "s9.safetensors"
    os.replace(first, renamed)
    assert main(["train", "--out", str(renamed), str(renamed), *images(folders),
                 "-a", str(folders / "annotations")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--minutes", "1"], "the Random Forest tier has no time budget; leave out --minutes"),
        (["--classes", "a,b"], "use class 4 but only 2 classes are named"),
        (["--classes", "a"], "use class 4 but only 1 class is named"),
        (["--classes", "a,,b"], "has an empty name"),
        (["--channel", "1"], "--channel 1 does not exist"),
    ],
)
def test_train_reports_mistakes_in_one_line(folders, capsys, extra, message):
    code = main(["train", "-o", str(folders / "m.safetensors"), "--no-progress", *extra,
                 *images(folders), "-a", str(folders / "annotations")])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (folders / "m.safetensors").exists()


def test_train_refuses_a_file_given_as_image_and_annotation(folders, capsys):
    image = images(folders)[0]
    assert main(["train", "-o", str(folders / "m.safetensors"), image, "-a", image]) == 2
    assert "both as an image and as an annotation" in capsys.readouterr().err


def test_train_names_an_annotation_that_matches_no_image(folders, capsys):
    microlab.write_labels(folders / "annotations" / "other_annotations.tif",
                          np.ones((96, 96), np.uint8))
    code = main(["train", "-o", str(folders / "m.safetensors"), *images(folders),
                 "-a", str(folders / "annotations")])
    assert code == 2
    assert "matches the annotation(s) other_annotations.tif" in capsys.readouterr().err


def test_train_names_an_annotation_of_the_wrong_size(folders, capsys):
    microlab.write_labels(folders / "annotations" / "s0_annotations.tif",
                          np.ones((50, 50), np.uint8))
    code = main(["train", "-o", str(folders / "m.safetensors"), *images(folders),
                 "-a", str(folders / "annotations")])
    assert code == 2
    assert "s0_annotations.tif has shape (50, 50) but its image" in capsys.readouterr().err


def test_huge_label_value_fails_fast(folders, capsys, sandstone_crops):
    """An annotation value of 2**33 used to exhaust memory and kill the process."""
    image, layer = sandstone_crops[0]
    huge = layer.astype(np.int64)
    huge[huge == 4] = 2**33
    with pytest.raises(ValueError, match=r"classes are numbered 1\.\.65535"):
        microlab.RandomForestSegmenter(n_jobs=1).fit(image, huge, progress=False)
    with pytest.warns(UserWarning, match="64-bit"):
        microlab.write_labels(folders / "annotations" / "s0_annotations.tif", huge)
    started = time.perf_counter()
    code = main(["train", "-o", str(folders / "m.safetensors"), *images(folders),
                 "-a", str(folders / "annotations")])
    assert code == 2 and time.perf_counter() - started < 10
    assert "s0_annotations.tif holds the class value 8589934592" in capsys.readouterr().err


def test_first_ctrl_c_ends_training_early_and_keeps_the_model(folders, capsys, monkeypatch):
    forest = tier("random-forest").load_class()
    fit = forest.fit

    def interrupted_fit(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C came before the first trees
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(forest, "fit", interrupted_fit)
    model = folders / "rf.safetensors"
    before = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN in a background job
    assert main(["train", "-o", str(model), "--no-progress", *images(folders),
                 "-a", str(folders / "annotations")]) == 0
    assert "training ended early (Ctrl-C)" in capsys.readouterr().out
    rf = microlab.load_segmenter(model)
    assert rf.predict(microlab.read_image(images(folders)[0])).shape == (96, 96)
    assert signal.getsignal(signal.SIGINT) is before  # the handler put back


@pytest.mark.slow
@pytest.mark.skipif(not tier("unet").available, reason="the deep tier is not installed")
def test_train_a_unet_within_its_minutes(folders, capsys):
    model = folders / "unet.safetensors"
    code = main(["train", "--tier", "unet", "--minutes", "0.05", "--no-progress",
                 "-o", str(model), *images(folders), "-a", str(folders / "annotations")])
    assert code == 0
    unet = microlab.load_segmenter(model)
    assert unet.kind == "unet" and len(unet.classes) == 4


@pytest.mark.slow
@pytest.mark.skipif(not tier("unet").available, reason="the deep tier is not installed")
def test_sigterm_during_unet_training_ends_the_run_and_leaves_the_old_model(folders):
    import subprocess
    import sys

    model = folders / "unet.safetensors"
    model.write_bytes(b"the model of an earlier run")
    command = [sys.executable, "-c", "import sys; from microlab.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "train", "--tier", "unet", "--minutes", "2",
               "--no-progress", "-o", str(model), *images(folders),
               "-a", str(folders / "annotations")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env) as run:
        assert "training a U-Net" in run.stdout.readline() + run.stdout.readline()
        time.sleep(10)  # the network is training (Lightning's SIGTERM handler is in place)
        started = time.perf_counter()
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err[-2000:]
    assert time.perf_counter() - started < 30  # not the two minutes' budget
    assert model.read_bytes() == b"the model of an earlier run"
