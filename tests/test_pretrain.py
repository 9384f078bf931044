"""Pretraining script, shipped weights, and starting a UNetSegmenter from them."""

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab._modelfile import read_header, read_model  # noqa: E402
from microlab.data.scenes import synthetic_cells, synthetic_phases, synthetic_textures  # noqa: E402
from microlab.deep import UNetSegmenter  # noqa: E402
from microlab.deep.pretrain import (  # noqa: E402
    HELD_OUT,
    KIND,
    TASKS,
    main,
    pretrain,
    real_images,
    shipped_path,
)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A real (tiny, 3-step) pretraining run on generated scenes only."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("pretrained") / "tiny.safetensors"
    info = pretrain(path, width=0.25, steps=3, minutes=None, scenes=2, progress=False)
    torch.set_num_threads(threads)
    return path, info


def state_of(path):
    _, tensors, _ = read_model(path, KIND, 1)
    return {k.removeprefix("network."): torch.from_numpy(v) for k, v in tensors.items()}


def test_pretrain_writes_weights_card_and_scores(tiny_weights):
    path, info = tiny_weights
    assert read_header(path)["kind"] == KIND
    assert set(info["scores"]) == {"nuclei", "phases", "cells", "textures"}  # no real data
    for figures in info["scores"].values():
        assert 0 <= figures["mean_iou"] <= figures["pixel_accuracy"] <= 1
    assert info["recipe"]["steps"] == 3
    card = path.with_suffix(".md").read_text()
    assert "## Held-out scores" in card and "| nuclei |" in card
    heads = info["heads"]
    assert sum(n for _, n in heads.values()) == state_of(path)["head.classify.bias"].numel()


def test_unet_starts_from_pretrained_weights(tiny_weights):
    path, _ = tiny_weights
    source = state_of(path)
    model = UNetSegmenter(["a", "b"], width=0.25, pretrained=path, progress=False)
    model.classes = ["a", "b"]
    network = model._build(1)
    state = network.state_dict()
    for key in ("encoder.features.0.0.weight", "decoder.blocks.0.conv1.0.weight",
                "head.refine.0.weight"):
        assert torch.equal(state[key], source[key])
    assert state["head.classify.weight"].shape[0] == 2  # a new last layer for 2 classes
    random = UNetSegmenter(["a", "b"], width=0.25, pretrained=False)._build(1).state_dict()
    assert not torch.equal(random["encoder.features.0.0.weight"],
                           source["encoder.features.0.0.weight"])


def test_pretrained_first_layers_spread_over_channels(tiny_weights):
    path, _ = tiny_weights
    source = state_of(path)
    model = UNetSegmenter(["a", "b"], width=0.25, pretrained=path)
    state = model._build(3).state_dict()
    first = state["encoder.features.0.0.weight"]
    assert first.shape[1] == 3
    torch.testing.assert_close(first.sum(1, keepdim=True), source["encoder.features.0.0.weight"])
    refine, original = state["head.refine.0.weight"], source["head.refine.0.weight"]
    torch.testing.assert_close(refine[:, :-3], original[:, :-1])
    torch.testing.assert_close(refine[:, -3:].sum(1), original[:, -1])


def test_instance_mode_starts_from_the_nuclei_outputs(tiny_weights):
    path, info = tiny_weights
    start, n = info["heads"]["nuclei"]
    model = UNetSegmenter(mode="instance", width=0.25, pretrained=path)
    state = model._build(1).state_dict()
    torch.testing.assert_close(state["head.classify.weight"],
                               state_of(path)["head.classify.weight"][start : start + n])


def test_pretrained_of_another_architecture_is_refused(tiny_weights):
    path, _ = tiny_weights
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    scribbles = np.zeros((64, 64), np.uint8)
    scribbles[10, 5:50], scribbles[50, 5:50] = 1, 2
    model = UNetSegmenter(width=0.5, pretrained=path, max_steps=1, progress=False)
    with pytest.raises(ValueError, match=r"encoder 'mobilenet_v2' and width 0\.25"):
        model.fit(image, scribbles)


def test_bad_pretrained_arguments():
    with pytest.raises(ValueError, match="no pretrained weights ship for encoder='resnet18'"):
        UNetSegmenter(encoder="resnet18")
    with pytest.raises(FileNotFoundError, match="no such pretrained weights file"):
        UNetSegmenter(pretrained="missing.safetensors")
    with pytest.raises(TypeError, match="pretrained must be"):
        UNetSegmenter(pretrained=3)
    assert UNetSegmenter(encoder="resnet18", pretrained=False).pretrained is None


def test_shipped_weights_load_offline_with_model_card():
    path = shipped_path("mobilenet_v2", 0.5)
    assert path.exists(), "the package must ship the default pretrained weights"
    assert path.stat().st_size <= 25e6
    card = path.with_suffix(".md").read_text()
    assert "Held out, never read" in card
    config, _, _ = read_model(path, KIND, 1)
    assert not set(config["data"]["real"]) & {f"sandstone/images/{n}.tif" for n in HELD_OUT}
    model = UNetSegmenter(["a", "b", "c"])
    assert model.pretrained == str(path)
    state = model._build(2).state_dict()
    assert state["encoder.features.0.0.weight"].shape[1] == 2


def test_real_images_skip_held_out_slices(tmp_path):
    folder = tmp_path / "sandstone" / "images"
    folder.mkdir(parents=True)
    for name in ("Sandstone_Versa0000", HELD_OUT[0], HELD_OUT[-1]):
        tifffile.imwrite(folder / f"{name}.tif", np.zeros((40, 40), np.uint8))
    (tmp_path / "osteosarcoma").mkdir()
    tifffile.imwrite(tmp_path / "osteosarcoma" / "cells.tif", np.zeros((40, 40, 3), np.uint8),
                     photometric="rgb")
    images, names = real_images(tmp_path)
    assert names == ["sandstone/images/Sandstone_Versa0000.tif",
                     "osteosarcoma/cells.tif (3 channels)"]
    assert len(images) == 4 and all(im.shape == (40, 40) for im in images)
    assert real_images(tmp_path / "absent") == ([], [])


def test_command_line_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--minutes" in capsys.readouterr().out


@pytest.mark.parametrize("make", [synthetic_phases, synthetic_cells, synthetic_textures])
def test_scenes_are_seeded_and_labelled(make):
    image, labels = make((80, 96), seed=4)
    again, labels_again = make((80, 96), seed=4)
    assert image.shape == labels.shape == (80, 96)
    assert image.dtype == np.float32 and np.isfinite(image).all()
    np.testing.assert_array_equal(image, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert labels.min() >= 1 and len(np.unique(labels)) >= 2
    # classes differ in the image (grey level or texture): per-class means or spreads differ
    stats = [(image[labels == k].mean(), image[labels == k].std()) for k in np.unique(labels)]
    assert np.ptp([s[0] for s in stats]) > 0.02 or np.ptp([s[1] for s in stats]) > 0.01


def test_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="shape must be"):
        synthetic_phases((4, 4))
    with pytest.raises(ValueError, match="classes must be an integer from 2 to 8"):
        synthetic_phases(classes=1)
    with pytest.raises(ValueError, match="classes must be an integer from 2 to 6"):
        synthetic_textures(classes=9)
    assert TASKS["nuclei"] == 3
