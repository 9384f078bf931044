"""Shipped and pretrained weights, and starting a UNetSegmenter from them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab._modelfile import read_header  # noqa: E402
from microlab.deep import UNetSegmenter  # noqa: E402
from microlab.deep.network import build_network  # noqa: E402
from microlab.deep.pretrain import HELD_OUT  # noqa: E402
from microlab.deep.weights import KIND, read_pretrained, shipped_path  # noqa: E402

from .helpers import TINY, two_phase  # noqa: E402


def test_unet_starts_from_pretrained_weights(tiny_weights):
    path, _ = tiny_weights
    assert read_header(path)["kind"] == KIND
    _, source = read_pretrained(path)
    model = UNetSegmenter(["a", "b"], width=0.25, pretrained=path, progress=False)
    state = model._build(1).state_dict()
    for key in ("encoder.features.0.0.weight", "decoder.blocks.0.conv1.0.weight",
                "head.refine.0.weight"):
        assert torch.equal(state[key], source[key])
    assert state["head.classify.weight"].shape[0] == 2  # a new last layer for 2 classes
    random = UNetSegmenter(["a", "b"], width=0.25, pretrained=False)._build(1).state_dict()
    assert not torch.equal(random["encoder.features.0.0.weight"],
                           source["encoder.features.0.0.weight"])


def test_pretrained_first_layers_spread_over_channels(tiny_weights):
    path, _ = tiny_weights
    _, source = read_pretrained(path)
    model = UNetSegmenter(["a", "b"], width=0.25, pretrained=path)
    state = model._build(3).state_dict()
    first = state["encoder.features.0.0.weight"]
    assert first.shape[1] == 3
    torch.testing.assert_close(first.sum(1, keepdim=True), source["encoder.features.0.0.weight"])
    refine, original = state["head.refine.0.weight"], source["head.refine.0.weight"]
    torch.testing.assert_close(refine[:, :-3], original[:, :-1])
    torch.testing.assert_close(refine[:, -3:].sum(1), original[:, -1])


def test_forest_channels_start_from_zero_with_weights_pretrained_on_the_image(tiny_weights):
    path, _ = tiny_weights
    _, source = read_pretrained(path)
    model = UNetSegmenter(["a", "b", "c"], width=0.25, pretrained=path)
    model._channels = 2  # a 2-channel image, then the autocontext forest's 3 classes
    state = model._build(2 + 3).state_dict()
    first = state["encoder.features.0.0.weight"]
    torch.testing.assert_close(first[:, :2].sum(1, keepdim=True),
                               source["encoder.features.0.0.weight"])
    assert not first[:, 2:].any()  # the pretrained layer sees the image as it did
    refine, original = state["head.refine.0.weight"], source["head.refine.0.weight"]
    torch.testing.assert_close(refine[:, :-5], original[:, :-1])
    torch.testing.assert_close(refine[:, -5:-3].sum(1), original[:, -1])
    assert not refine[:, -3:].any()


def test_a_forest_corrector_keeps_its_forest_channels_and_outputs(tiny_corrector):
    path, info = tiny_corrector
    config, source = read_pretrained(path)
    assert config["autocontext"] == 4 and set(config["input_layers"]) == {
        "encoder.features.0.0.weight", "head.refine.0.weight"}
    assert all(start == 0 for start, _ in info["heads"].values())  # one shared head
    first, refine = source["encoder.features.0.0.weight"], source["head.refine.0.weight"]
    assert first.shape[1] == 5 and first[:, 1:].abs().sum() > 0

    model = UNetSegmenter(["a", "b", "c"], width=0.25, pretrained=path)
    model._channels = 1
    state = model._build(1 + 3).state_dict()  # the same layout as in pretraining, 3 classes
    torch.testing.assert_close(state["encoder.features.0.0.weight"], first[:, :4])
    torch.testing.assert_close(state["head.refine.0.weight"], refine[:, :-1])
    torch.testing.assert_close(state["head.classify.weight"], source["head.classify.weight"][:3])

    model._channels = 2  # two image channels share the image's weights; forest in order
    state = model._build(2 + 3).state_dict()
    torch.testing.assert_close(state["encoder.features.0.0.weight"][:, :2].sum(1), first[:, 0])
    torch.testing.assert_close(state["encoder.features.0.0.weight"][:, 2:], first[:, 1:4])

    many = UNetSegmenter([str(k) for k in range(6)], width=0.25, pretrained=path)
    many._channels = 1  # more classes than the corrector's 4: a new last layer, 2 zero inputs
    state = many._build(1 + 6).state_dict()
    torch.testing.assert_close(state["encoder.features.0.0.weight"][:, 1:5], first[:, 1:])
    assert not state["encoder.features.0.0.weight"][:, 5:].any()
    assert state["head.classify.weight"].shape[0] == 6

    plain = UNetSegmenter(["a", "b"], width=0.25, pretrained=path, autocontext=False)
    plain._channels = 1  # no forest: the image's weights only, and a new last layer
    state = plain._build(1).state_dict()
    torch.testing.assert_close(state["encoder.features.0.0.weight"], first[:, :1])
    assert not torch.equal(state["head.classify.weight"], source["head.classify.weight"][:2])


def test_instance_mode_starts_from_the_nuclei_outputs(tiny_weights):
    path, info = tiny_weights
    start, n = info["heads"]["nuclei"]
    model = UNetSegmenter(mode="instance", width=0.25, pretrained=path)
    state = model._build(1).state_dict()
    torch.testing.assert_close(state["head.classify.weight"],
                               read_pretrained(path)[1]["head.classify.weight"][start : start + n])


def test_pretrained_of_another_architecture_is_refused(tiny_weights):
    path, _ = tiny_weights
    image, _, scribbles = two_phase(64)
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
    config, _ = read_pretrained(path)
    assert not set(config["data"]["real"]) & {f"sandstone/images/{n}.tif" for n in HELD_OUT}
    model = UNetSegmenter(["a", "b", "c"])
    assert model.pretrained == str(path)
    state = model._build(2).state_dict()
    assert state["encoder.features.0.0.weight"].shape[1] == 2


def test_unet_loads_local_encoder_weights(tmp_path):
    from safetensors.torch import save_file

    encoder = build_network("mobilenet_v2", 0.25, 3, 2).encoder  # an "ImageNet" RGB encoder
    state = {k: v.contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, tmp_path / "encoder.safetensors")
    image, _, scribbles = two_phase(64)
    model = UNetSegmenter(weights=tmp_path / "encoder.safetensors", max_steps=1,
                          learning_rate=1e-12, autocontext=False, **TINY).fit(image, scribbles)
    loaded = model._network.encoder.state_dict()
    name = next(k for k in state if k.endswith("weight") and state[k].ndim == 4
                and state[k].shape[1] != 3)
    torch.testing.assert_close(loaded[name].cpu(), state[name], atol=1e-6, rtol=1e-4)
    first = next(k for k in state if state[k].ndim == 4 and state[k].shape[1] == 3)
    assert loaded[first].shape[1] == 1  # RGB first layer folded onto one channel
    save_file({k: v.contiguous() for k, v in build_network("resnet18", 0.25, 1, 2)
               .encoder.state_dict().items()}, tmp_path / "resnet.safetensors")
    with pytest.raises(ValueError, match="does not hold weights"):
        UNetSegmenter(weights=tmp_path / "resnet.safetensors", **TINY).fit(image, scribbles)
    assert np.isfinite(model.predict_proba(image)).all()
