import numpy as np
import pytest

torch = pytest.importorskip("torch")

from microlab.deep.network import build_network, spread_input  # noqa: E402
from microlab.intensity import normalise  # noqa: E402


def test_network_head_sees_the_input_at_full_resolution():
    network = build_network("mobilenet_v2", 0.25, in_channels=2, classes=3).eval()
    assert network.head.refine[0].in_channels == 4 + 2  # finest decoder channels + image
    assert network(torch.zeros(1, 2, 64, 96)).shape == (1, 3, 64, 96)
    plain = build_network("mobilenet_v2", 0.25, in_channels=1, classes=3, input_skip=False).eval()
    assert plain.head is None and plain(torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)


def test_spread_input_keeps_the_response_to_a_grey_image():
    layer = torch.randn(8, 5, 3, 3)  # 4 feature channels + 1 image channel
    spread = spread_input(layer, (8, 7, 3, 3))  # 4 features + 3 image channels
    torch.testing.assert_close(spread[:, :4], layer[:, :4])
    torch.testing.assert_close(spread[:, 4:].sum(1), layer[:, 4])
    assert spread_input(layer, (6, 7, 3, 3)) is None  # other outputs: does not fit


def test_fast_prediction_network_matches_the_trained_one(network_only, monkeypatch):
    model, image, _, _ = network_only
    monkeypatch.setattr(model, "predict_precision", "float32")
    proba = model.predict_proba(image)
    x = normalise(image[None].astype(np.float32), model._ranges)
    x = np.pad(x, ((0, 0), (0, -x.shape[1] % 32), (0, -x.shape[2] % 32)), mode="symmetric")
    with torch.inference_mode():
        plain = torch.softmax(model._network.eval()(torch.from_numpy(x[None])), 1)[0].numpy()
    np.testing.assert_allclose(proba, plain[:, : image.shape[0], : image.shape[1]], atol=1e-4)
    fast = model._inference_network()
    names = {type(m).__name__ for m in fast.modules()}
    assert "BatchNorm2d" not in names  # folded into the convolutions
    assert "UpsampleConv" in names  # and the decoder's upsampling too
    if torch.backends.mkldnn.is_available():  # and each ReLU/ReLU6 into its convolution
        assert not names & {"ReLU", "ReLU6", "Conv2d"}
        attrs = {m.attr for m in fast.modules() if type(m).__name__ == "FusedConv"}
        assert attrs == {"none", "relu", "hardtanh"}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="oneDNN fuses on CPU")
def test_fused_convolutions_compute_what_the_layers_do_in_both_precisions():
    from torch.fx.experimental.optimization import fuse

    from microlab.deep.network import FusedConv, fuse_activations

    network = build_network("mobilenet_v2", 0.25, in_channels=2, classes=3).eval()
    graph = fuse(network)
    fused = fuse_activations(graph)
    assert fused is not graph
    kinds = [m.attr for m in fused.modules() if isinstance(m, FusedConv)]
    relu6 = sum(isinstance(m, torch.nn.ReLU6) for m in graph.modules())
    assert kinds.count("hardtanh") == relu6 > 0 and kinds.count("relu") > 0
    x = torch.rand(1, 2, 96, 64)
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), graph(x), rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # as the U-Net predicts
            half, expected = fused(x), graph(x)
    assert half.dtype == expected.dtype == torch.bfloat16
    assert (half.float() - expected.float()).abs().max() < 0.05
    # a CPU without native bfloat16: each convolution and its activation as two calls
    for module in fused.modules():
        if isinstance(module, FusedConv):
            module.native_bfloat16 = False
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        separate = fused(x)
    assert separate.dtype == torch.bfloat16
    assert (separate.float() - expected.float()).abs().max() < 0.05


def test_fusion_leaves_the_network_as_it_is_where_it_cannot_be_checked(monkeypatch):
    from torch.fx.experimental.optimization import fuse

    from microlab.deep.network import FusedConv, fuse_activations

    graph = fuse(build_network("mobilenet_v2", 0.25, in_channels=1, classes=2).eval())
    # a fused copy that computes something else is not used
    monkeypatch.setattr(FusedConv, "forward", lambda self, x: torch.zeros(()))
    assert fuse_activations(graph) is graph
    monkeypatch.undo()
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert fuse_activations(graph) is graph


def test_bfloat16_prediction_gives_float32s_labels_and_auto_follows_the_cpu(
        network_only, monkeypatch):
    from microlab.deep.runtime import prediction_precision

    model, image, _, _ = network_only
    found = {}
    for precision in ("float32", "bfloat16"):
        monkeypatch.setattr(model, "predict_precision", precision)
        found[precision] = model.predict_proba(image)
    exact, fast = found["float32"], found["bfloat16"]
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    assert np.abs(fast - exact).max() < 0.05
    assert (fast.argmax(0) == exact.argmax(0)).mean() > 0.99
    # "auto" is bfloat16 exactly where oneDNN computes it natively, never on a GPU
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert prediction_precision("auto", "cpu") == ("bfloat16" if native else "float32")
    assert prediction_precision("auto", "cuda:0") == "float32"
    with pytest.raises(ValueError, match="predict_precision must be one of"):
        prediction_precision("float16", "cpu")


def test_an_unknown_prediction_precision_is_refused():
    from microlab.deep import UNetSegmenter

    with pytest.raises(ValueError, match=r"predict_precision must be one of \('auto'"):
        UNetSegmenter(predict_precision="half")
