import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from microlab.deep.network import build_network, inference_network  # noqa: E402
from microlab.deep.upsampling import UpsampleConv, fuse_upsampling  # noqa: E402


def reference(conv, low, size, skips, activation=None):
    """What the decoder computes: upsample, concatenate, convolve, activate."""
    y = conv(torch.cat([F.interpolate(low, size=size, mode="nearest"), *skips], 1))
    return y if activation is None else activation(y)


@pytest.mark.parametrize("skip_channels", [0, 3])
@pytest.mark.parametrize("attr", ["none", "relu", "hardtanh"])
def test_folded_upsampling_computes_what_upsample_concatenate_convolve_does(
        skip_channels, attr):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(5 + skip_channels, 7, 3, padding=1)
    low = torch.randn(2, 5, 9, 12)  # odd sizes: borders of both parities
    skips = [torch.randn(2, skip_channels, 18, 24)] if skip_channels else []
    activation = {"none": None, "relu": torch.relu,
                  "hardtanh": lambda y: F.hardtanh(y, 0.0, 6.0)}[attr]
    folded = UpsampleConv(conv.weight, conv.bias, up_channels=5, attr=attr,
                          scalars=(0.0, 6.0) if attr == "hardtanh" else ())
    expected = reference(conv, low, (18, 24), skips, activation)
    with torch.inference_mode():
        for layout in (torch.contiguous_format, torch.channels_last):
            got = folded(low.contiguous(memory_format=layout), (18, 24),
                         *[s.contiguous(memory_format=layout) for s in skips])
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # not a doubling: upsampled and concatenated as the network does
    odd = reference(conv, low, (19, 25), [torch.nn.functional.pad(s, (0, 1, 0, 1))
                                           for s in skips], activation)
    with torch.inference_mode():
        got = folded(low, (19, 25), *[torch.nn.functional.pad(s, (0, 1, 0, 1))
                                       for s in skips])
    torch.testing.assert_close(got, odd, rtol=1e-5, atol=1e-5)


def test_folded_upsampling_in_bfloat16_stays_close_to_float32():
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(6, 4, 3, padding=1)
    low, skip = torch.randn(1, 4, 16, 16), torch.randn(1, 2, 32, 32)
    folded = UpsampleConv(conv.weight, conv.bias, up_channels=4)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        half = folded(low, (32, 32), skip)
    assert half.dtype == torch.bfloat16
    assert (half.float() - reference(conv, low, (32, 32), [skip])).abs().max() < 0.1


def test_every_decoder_upsampling_of_the_inference_network_is_folded():
    torch.manual_seed(2)
    network = build_network("mobilenet_v2", 0.25, in_channels=4, classes=3, prior=3).eval()
    for module in network.modules():  # batch norms that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    fast = fuse_upsampling(inference_network(network))
    folded = [m for m in fast.modules() if isinstance(m, UpsampleConv)]
    assert len(folded) == len(network.decoder.blocks)  # one per decoder block
    calls = {node.target for node in fast.graph.nodes if node.op == "call_function"}
    assert F.interpolate not in calls
    x = torch.rand(1, 4, 96, 160)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)),
                                   network(x), rtol=1e-4, atol=1e-4)


def test_the_fold_is_not_used_where_it_computes_something_else(monkeypatch):
    from torch.fx.experimental.optimization import fuse

    graph = fuse(build_network("mobilenet_v2", 0.25, in_channels=1, classes=2).eval())
    assert fuse_upsampling(graph) is not graph
    monkeypatch.setattr(UpsampleConv, "forward", lambda self, x, size, *skips: x)
    assert fuse_upsampling(graph) is graph
