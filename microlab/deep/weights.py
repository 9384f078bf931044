"""Pretrained weights: where the shipped ones live, their file format, loading them.

A pretrained file is a microlab model file (:mod:`microlab._modelfile`) of kind
:data:`KIND`: the whole network of :func:`microlab.deep.network.build_network` with one
input channel and one output group per pretraining task (``config["heads"]``), written by
``python -m microlab.deep.pretrain``. :class:`~microlab.deep.UNetSegmenter` starts from
it; a local file of encoder weights only (e.g. converted ImageNet weights) is the other
way in. Nothing is ever downloaded. Imports torch only when weights are loaded.

Examples
--------
>>> shipped_path("mobilenet_v2", 0.5).name
'unet-mobilenet_v2-w0.5.safetensors'
>>> pretrained_file(True, "mobilenet_v2", 0.5) == str(shipped_path("mobilenet_v2", 0.5))
True
"""

from __future__ import annotations

import os
from pathlib import Path

from .._modelfile import read_model, write_model

KIND = "unet-pretrained"
"""The ``kind`` of a pretrained weights file."""
FORMAT_VERSION = 1
"""The newest pretrained-file format this microlab reads and writes."""
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""The package folder of the shipped weights (and their model cards)."""


def shipped_path(encoder: str, width: float) -> Path:
    """Where the shipped weights of ``encoder`` at ``width`` live (they may not exist)."""
    return WEIGHTS_DIR / f"unet-{encoder}-w{width:g}.safetensors"


def pretrained_file(pretrained, encoder: str, width: float) -> str | None:
    """The weights file ``UNetSegmenter(pretrained=...)`` means, checked to exist.

    ``True``: the shipped file for ``encoder`` and ``width``; a path: that file;
    ``False`` or None: none (random initialisation).

    Raises
    ------
    ValueError
        ``True`` where no weights ship for that architecture.
    FileNotFoundError, TypeError
        A path that does not exist; something else than a bool or a path.
    """
    if pretrained is False or pretrained is None:
        return None
    if pretrained is True:
        path = shipped_path(encoder, width)
        if not path.exists():
            shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
            raise ValueError(
                f"no pretrained weights ship for encoder={encoder!r} with "
                f"width={width:g} (shipped: {', '.join(shipped) or 'none'}). Pass "
                "pretrained=False to start from random weights, or pretrained='file' with "
                "weights made by `python -m microlab.deep.pretrain --encoder ... --width ...`"
            )
        return os.fspath(path)
    if isinstance(pretrained, str | os.PathLike):
        if not os.path.exists(pretrained):
            raise FileNotFoundError(f"no such pretrained weights file: {pretrained}")
        return os.fspath(pretrained)
    raise TypeError(f"pretrained must be True, False or a path, got {pretrained!r}")


def write_pretrained(path: str | os.PathLike, config: dict, network) -> None:
    """Write ``network``'s weights and ``config`` as a pretrained file, atomically.

    The file at ``path`` is replaced only once the new one is complete.
    """
    tensors = {f"network.{k}": v.detach().cpu().numpy()
               for k, v in network.state_dict().items()}
    write_model(path, KIND, FORMAT_VERSION, config, tensors)


def read_pretrained(path: str | os.PathLike) -> tuple[dict, dict]:
    """The configuration and the network's state dict (torch tensors) of a pretrained file.

    Examples
    --------
    >>> config, state = read_pretrained(shipped_path("mobilenet_v2", 0.5))
    >>> config["encoder"], config["in_channels"], state["head.classify.bias"].numel()
    ('mobilenet_v2', 1, 16)
    """
    import torch

    config, tensors, _ = read_model(path, KIND, FORMAT_VERSION)
    return config, {k.removeprefix("network."): torch.from_numpy(v) for k, v in tensors.items()}


def load_pretrained(network, path: str | os.PathLike, *, encoder: str, width: float,
                    task: str | None = None, image_channels: int | None = None) -> None:
    """Copy encoder, decoder and shared head layers from a pretrained file into ``network``.

    Layers made for one input channel are spread over ``network``'s image channels
    (:func:`~microlab.deep.network.spread_input`; ``image_channels``, default all of its
    input channels). The channels after the image's (an autocontext forest's
    probabilities) take the file's forest channels where it has them (a file written by
    ``pretrain --autocontext``, ``config["autocontext"]`` channels: channel ``k`` for class
    ``k``), and start from zero weights otherwise. The last layer is kept from the file for
    ``task`` (e.g. ``"nuclei"`` in instance mode: its output group), or, from a file with
    forest channels, for a ``network`` that adds the forest's log-probabilities to its
    logits (``network.prior``) with at most as many classes: output ``k`` corrects the
    forest's class ``k``. Otherwise it stays new, for the user's classes.

    Raises
    ------
    ValueError
        When the file was made for another encoder, width or architecture.
    """
    from .network import spread_input

    config, source = read_pretrained(path)
    name = os.path.basename(path)
    if config.get("encoder") != encoder or float(config.get("width", -1)) != width:
        raise ValueError(
            f"{name} holds a U-Net with encoder {config.get('encoder')!r} and width "
            f"{config.get('width')}, not {encoder!r} and {width:g}; pass the same "
            "encoder and width, or pretrained=False"
        )
    slots = int(config.get("autocontext", 0))
    head = ("head.classify.weight", "head.classify.bias")
    if slots:  # a forest corrector: its outputs only where the network corrects a forest
        classes = network.state_dict()[head[1]].numel()
        corrects = bool(getattr(network, "prior", 0)) and classes <= slots
        for key in head:
            if corrects:
                source[key] = source[key][:classes]
            else:
                source.pop(key, None)
    elif task is not None and task in config.get("heads", {}):
        start, n = config["heads"][task]
        for key in head:
            source[key] = source[key][start : start + n]
    inputs = set(config.get("input_layers", ()))
    target = network.state_dict()
    state = {}
    for key, want in target.items():
        value = source.get(key)
        if value is None:
            continue
        if value.shape != want.shape or key in inputs:
            value = spread_input(value, want.shape, image_channels, slots)
        if value is not None:
            state[key] = value
    missing = [k for k in target if k not in state and not k.startswith("head.classify")
               and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(
            f"{name} does not fit this U-Net ({len(missing)} tensors missing or of another "
            f"shape, e.g. {missing[0]}); it was made for another architecture"
        )
    network.load_state_dict(state, strict=False)


def load_encoder(network, path: str | os.PathLike, encoder: str) -> None:
    """Load a local safetensors file of encoder weights (e.g. ImageNet's) into ``network``.

    Keys may carry an ``encoder.`` prefix; an RGB first layer is fitted to the network's
    input channels (:func:`~microlab.deep.network.adapt_state`).

    Raises
    ------
    ValueError
        When the file holds weights of another encoder.
    """
    from safetensors.torch import load_file

    from .network import adapt_state

    state = {k.removeprefix("encoder."): v for k, v in load_file(os.fspath(path)).items()}
    target = network.encoder.state_dict()
    try:
        network.encoder.load_state_dict(adapt_state(state, target))
    except RuntimeError as exc:
        raise ValueError(
            f"{os.fspath(path)} does not hold weights for the {encoder!r} encoder: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
