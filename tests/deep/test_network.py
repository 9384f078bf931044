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
    names = {type(m).__name__ for m in model._inference_network().modules()}
    assert "BatchNorm2d" not in names  # folded into the convolutions


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
