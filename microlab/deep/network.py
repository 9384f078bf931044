"""The network: segmentation-models-pytorch's U-Net with a full-resolution input skip.

Also what fits weights made for other input channels to it (:func:`adapt_state`,
:func:`spread_input`) and its prediction-only copy (:func:`inference_network`). Imports
torch at module level; imports no other part of :mod:`microlab.deep` (it travels alone as
the architecture's source of bioimage.io packages).

Examples
--------
>>> net = build_network("mobilenet_v2", 0.25, in_channels=2, classes=3)
>>> net(torch.zeros(1, 2, 64, 64)).shape
torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import copy
import warnings

import torch

DECODER_CHANNELS = (256, 128, 64, 32, 16)
"""smp's decoder channels at ``width=1``, from coarsest to finest."""


class InputSkipHead(torch.nn.Module):
    """Segmentation head that also sees the input image at full resolution.

    smp's U-Net decoder has no skip connection at full resolution (its finest skip is at
    half resolution), so fine, per-pixel intensity detail reaches the head only through an
    upsampling. This head concatenates the decoder's output with the input image and
    applies two 3×3 convolutions, giving the last layers the full-resolution pixels.
    """

    def __init__(self, decoder_channels: int, in_channels: int, classes: int, hidden: int = 16):
        super().__init__()
        self.refine = torch.nn.Sequential(
            torch.nn.Conv2d(decoder_channels + in_channels, hidden, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(hidden),
            torch.nn.ReLU(inplace=True),
        )
        self.classify = torch.nn.Conv2d(hidden, classes, 3, padding=1)

    def forward(self, decoded, image):
        # in the decoder's number format: under bfloat16 autocast a float32 image would
        # make the concatenation, the largest layer, float32 (13 % of the U-Net's time)
        return self.classify(self.refine(torch.cat([decoded, image.to(decoded.dtype)], 1)))


PRIOR_FLOOR = 1e-3
"""Smallest prior probability the network adds (as its log) to its logits."""


class UNet(torch.nn.Module):
    """An smp ``Unet`` (encoder + decoder) with an :class:`InputSkipHead` (or smp's own head)."""

    def __init__(self, unet, head=None, prior: int = 0):
        super().__init__()
        self.encoder = unet.encoder
        self.decoder = unet.decoder
        self.head = head
        self.segmentation_head = unet.segmentation_head if head is None else None
        self.prior = int(prior)
        self.floor = PRIOR_FLOOR  # an attribute, not the global: TorchScript needs it so

    def forward(self, x):
        decoded = self.decoder(self.encoder(x))
        if self.head is None:
            logits = self.segmentation_head(decoded)
        else:
            logits = self.head(decoded, x)
        if self.prior:
            logits = logits + torch.log(x[:, -self.prior:].clamp(self.floor, 1.0))
        return logits


def build_network(encoder: str, width: float, in_channels: int, classes: int,
                  input_skip: bool = True, prior: int = 0) -> UNet:
    """A U-Net from smp with ``encoder``, decoder channels scaled by ``width``.

    ``input_skip``: replace smp's head by :class:`InputSkipHead` (full-resolution input
    skip connection). Encoder weights are never downloaded: pretrained weights come from
    local files (:mod:`microlab.deep.weights`).
    """
    import segmentation_models_pytorch as smp

    decoder = tuple(max(4, round(c * width)) for c in DECODER_CHANNELS)
    unet = smp.Unet(
        encoder_name=encoder,
        encoder_weights=None,
        in_channels=in_channels,
        classes=classes,
        decoder_channels=decoder,
    )
    head = InputSkipHead(decoder[-1], in_channels, classes) if input_skip else None
    return UNet(unet, head, prior)


class Probabilities(torch.nn.Module):
    """``network`` followed by a softmax over classes: per-class probabilities.

    What a bioimage.io package of a U-Net runs (:mod:`microlab.deep.bioimageio`): the
    softmax is part of the network there, so every consumer gets probabilities whether or
    not it implements the format's softmax step. Its state is the network's under
    ``network.``, as in microlab's model files.
    """

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x):
        return torch.softmax(self.network(x), dim=1)


def probability_network(encoder: str, width: float, in_channels: int, classes: int,
                        input_skip: bool = True) -> Probabilities:
    """:func:`build_network` with a softmax after it (:class:`Probabilities`).

    The callable a bioimage.io package names to rebuild the network from its state dict
    (this file travels in the package as the architecture's source).

    Examples
    --------
    >>> net = probability_network("mobilenet_v2", 0.25, in_channels=1, classes=3).eval()
    >>> float(net(torch.rand(1, 1, 32, 32)).detach().sum(1).mean())
    1.0
    """
    return Probabilities(build_network(encoder, width, in_channels, classes, input_skip))


def adapt_state(state: dict, target: dict) -> dict:
    """Fit 3-channel (ImageNet) first-layer weights to another number of input channels.

    Examples
    --------
    >>> rgb = {"conv.weight": torch.ones(8, 3, 3, 3)}
    >>> adapt_state(rgb, {"conv.weight": torch.zeros(8, 1, 3, 3)})["conv.weight"].shape
    torch.Size([8, 1, 3, 3])
    """
    out = {}
    for key, value in state.items():
        want = target.get(key)
        if (
            want is not None
            and value.ndim == 4
            and want.ndim == 4
            and value.shape[0] == want.shape[0]
            and value.shape[2:] == want.shape[2:]
            and value.shape[1] != want.shape[1]
        ):
            n = want.shape[1]
            index = torch.arange(n) % value.shape[1]
            value = value.sum(1, keepdim=True) if n == 1 else value[:, index] * (3.0 / n)
        out[key] = value
    return out


def spread_input(value, shape, image_channels: int | None = None, slots: int = 0):
    """Fit a layer pretrained on 1 input channel to ``shape`` (its input channels differ).

    The layer's input is ``[features…, image…, forest…]``: the pretrained layer has one
    image channel, then ``slots`` forest-probability channels (autocontext pretraining; the
    encoder's first convolution has no features, the input-skip head has the decoder's).
    The image weights are shared equally over the new image channels, so a grey image copied
    into every channel gives the pretrained response. ``image_channels`` (default: all the
    new input channels) says how many of them are the image's; the others (an autocontext
    forest's probabilities) take the pretrained forest channels in order, and where there
    are none, start from zero weights: the pretrained layer first responds to the image as
    it did in pretraining and learns what the extra channels add. None when the shapes do
    not fit that way.

    Examples
    --------
    >>> spread = spread_input(torch.ones(4, 1, 3, 3), (4, 2, 3, 3))
    >>> spread.shape, float(spread.sum(1).mean())
    (torch.Size([4, 2, 3, 3]), 1.0)
    >>> spread = spread_input(torch.ones(4, 1, 3, 3), (4, 3, 3, 3), image_channels=1)
    >>> [float(spread[:, c].abs().sum()) for c in range(3)]
    [36.0, 0.0, 0.0]
    >>> pretrained = torch.arange(5.0).reshape(1, 5, 1, 1)  # image, then 4 forest slots
    >>> spread_input(pretrained, (1, 5, 1, 1), image_channels=2, slots=4).flatten().tolist()
    [0.0, 0.0, 1.0, 2.0, 3.0]
    """
    if value.ndim != len(shape) or value.ndim < 2 or value.shape[0] != shape[0] \
            or value.shape[2:] != tuple(shape[2:]):
        return None
    features = value.shape[1] - 1 - slots
    inputs = shape[1] - features
    channels = inputs if image_channels is None else int(image_channels)
    if features < 0 or channels < 1 or channels > inputs:
        return None
    image = value[:, features : features + 1]
    image = image.repeat(1, channels, *([1] * (value.ndim - 2))) / channels
    extra = value.new_zeros((value.shape[0], inputs - channels, *value.shape[2:]))
    kept = min(slots, inputs - channels)
    extra[:, :kept] = value[:, features + 1 : features + 1 + kept]
    return torch.cat([value[:, :features], image, extra], 1)


def inference_network(network: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``network`` for prediction only: batch norms folded into the convolutions
    (torch.fx), each convolution and the ReLU after it run as one oneDNN call on a CPU
    (:func:`fuse_activations`), channels-last memory layout. About twice as fast on a CPU;
    same outputs to float rounding. (The U-Net also folds its decoder's upsampling into
    the convolutions: :func:`microlab.deep.upsampling.fuse_upsampling`.)
    """
    fast = copy.deepcopy(network).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        fast = fuse(fast)
    except Exception:  # an untraceable encoder: keep the unfused copy
        warnings.warn("could not fold batch norms for faster prediction; using the network "
                      "as it is", stacklevel=2)
    else:
        fast = fuse_activations(fast)
    return fast.to(memory_format=torch.channels_last)


class FusedConv(torch.nn.Module):
    """A 2D convolution and the activation after it (``attr``: ``"relu"``, ``"hardtanh"``
    with ``scalars`` its bounds, or ``"none"``) in one oneDNN call, for prediction on a CPU.

    The activation is applied to each block of output while it is still in the cache, so
    the layer output is written once instead of written, read and written again: the
    default U-Net's ReLU and ReLU6 layers took as long as its convolutions in bfloat16.
    Under ``torch.autocast`` it computes in the autocast type as a convolution would (its
    weights cast once and kept); in bfloat16 on a CPU without native bfloat16 (where
    oneDNN refuses it) it runs the convolution and the activation as two calls.

    Examples
    --------
    >>> conv = torch.nn.Conv2d(2, 4, 3, padding=1)
    >>> x = torch.randn(1, 2, 8, 8)
    >>> torch.allclose(FusedConv(conv, "relu")(x), torch.relu(conv(x)), atol=1e-6)
    True
    """

    def __init__(self, conv: torch.nn.Conv2d, attr: str, scalars: tuple[float, ...] = ()):
        super().__init__()
        self.register_buffer("weight", conv.weight.detach().clone())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.padding = [int(p) for p in conv.padding]
        self.stride = [int(s) for s in conv.stride]
        self.dilation = [int(d) for d in conv.dilation]
        self.groups = int(conv.groups)
        self.attr = attr
        self.scalars = [float(s) for s in scalars]
        self._cast: dict[torch.dtype, tuple] = {}
        self.native_bfloat16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def forward(self, x):
        weight, bias = self.weight, self.bias
        if torch.is_autocast_enabled(x.device.type):
            dtype = torch.get_autocast_dtype(x.device.type)
            if dtype not in self._cast:
                self._cast[dtype] = (weight.to(dtype),
                                     None if bias is None else bias.to(dtype))
            weight, bias = self._cast[dtype]
            x = x.to(dtype)
        if x.dtype == torch.bfloat16 and not self.native_bfloat16:
            return self._separate(x, weight, bias)
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, bias, self.padding, self.stride, self.dilation, self.groups,
            self.attr, self.scalars, "")

    def _separate(self, x, weight, bias):
        """The convolution, then the activation: what the fused call computes."""
        y = torch.nn.functional.conv2d(x, weight, bias, self.stride, self.padding,
                                       self.dilation, self.groups)
        if self.attr == "relu":
            return torch.relu_(y)
        if self.attr == "hardtanh":
            return torch.nn.functional.hardtanh_(y, *self.scalars)
        return y


def fuse_activations(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """``graph`` with every 2D convolution run by :class:`FusedConv` on a CPU, together
    with the ReLU or ReLU6 that alone reads its output.

    Left as it is where oneDNN is not there, the parameters are not on a CPU, or the fused
    copy does not give the same output on a test input. With its 46 activations fused, the
    default U-Net's network took 2.5 s instead of 4.25 s in bfloat16 on the four 2311²
    windows of a 4096² image (this project's 2-CPU machine), with the same probabilities.
    """
    parameters = list(graph.parameters())
    convs = [m for m in graph.modules() if type(m) is torch.nn.Conv2d]
    if (not convs or not torch.backends.mkldnn.is_available()
            or any(p.device.type != "cpu" for p in parameters)):
        return graph
    fused = copy.deepcopy(graph)
    modules = dict(fused.named_modules())

    def replace(node, module):
        parent, _, name = node.target.rpartition(".")
        setattr(fused.get_submodule(parent), name, module)
        modules[node.target] = module

    for node in list(fused.graph.nodes):
        module = modules.get(node.target) if node.op == "call_module" else None
        if type(module) is not torch.nn.Conv2d:
            continue
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            return graph
        users = list(node.users)
        after = modules.get(users[0].target) if (
            len(users) == 1 and users[0].op == "call_module") else None
        if type(after) is torch.nn.ReLU:
            attr, scalars = "relu", ()
        elif isinstance(after, torch.nn.Hardtanh):  # ReLU6 included
            attr, scalars = "hardtanh", (after.min_val, after.max_val)
        else:
            replace(node, FusedConv(module, "none"))
            continue
        replace(node, FusedConv(module, attr, scalars))
        users[0].replace_all_uses_with(node)
        fused.graph.erase_node(users[0])
    return checked_rewrite(fused, graph, torch.rand(2, convs[0].in_channels, 64, 64))


def checked_rewrite(fused: torch.fx.GraphModule, graph: torch.fx.GraphModule,
                    x: torch.Tensor) -> torch.fx.GraphModule:
    """``fused`` (a rewritten copy of ``graph``, its graph edited) made callable, if it
    computes what ``graph`` does on ``x``; ``graph`` otherwise."""
    fused.graph.lint()
    fused.delete_all_unused_submodules()
    fused.recompile()
    try:
        with torch.inference_mode():
            same = torch.allclose(fused(x), graph(x), rtol=1e-4, atol=1e-4)
    except Exception:  # an op this build of PyTorch lacks
        same = False
    return fused if same else graph
