"""bioimage.io model packages of the U-Net: written for other tools, read back by microlab.

A package is one zip: its description (``rdf.yaml``, bioimage.io model format 0.5), the
weights, test tensors, a cover, documentation and the training record. It runs wherever
bioimage.io models run: ilastik's Neural Network Classification workflow, deepImageJ,
QuPath and ``bioimageio.core``, whose test it passes (offline).
:meth:`microlab.deep.UNetSegmenter.export_bioimageio` writes one (through
:func:`export_package`) and :func:`microlab.deep.load_bioimageio` reads one back (through
:func:`read_package`). Imports only :mod:`microlab.deep.network` of the deep tier (whose
file travels in the package as the architecture's source). Needs the ``deep`` and
``formats`` extras (``pip install "microlab[deep,formats]"``).

What the package describes, and how it matches microlab:

- Input ``raw``: axes ``batch, channel, y, x``; each side ``min + n × 32`` pixels (the
  encoder's stride), ``min`` just above twice the halo.
- Preprocessing: ``scale_linear`` then ``clip`` to 0–1, per channel, with the fixed
  range the model recorded at training (the 1st and 99.8th percentiles of the training
  images, :mod:`microlab.intensity`). That is what microlab does: it scales every image
  by the training images' range, not by its own. The format's ``scale_range`` measures
  percentiles on each image it is given, so it would rescale a darker image (or one tile)
  differently from microlab; the fixed scaling reproduces microlab's normalisation
  exactly, and like microlab it expects images of the training images' bit depth and
  exposure.
- Weights: TorchScript (what deepImageJ and QuPath run) and a PyTorch state dict whose
  architecture is :func:`microlab.deep.network.probability_network`, shipped as
  ``network.py`` with an ``environment.yaml`` (torch, segmentation-models-pytorch). The
  softmax is part of the network, so every consumer gets probabilities, whether or not
  it implements the format's softmax step.
- Output ``probabilities``: axes ``batch, channel, y, x``, one channel per class, float32
  in 0–1 summing to 1, the same size as the input; what
  :meth:`~microlab.deep.UNetSegmenter.predict_proba` returns. Its halo (default 160,
  the U-Net's :attr:`~microlab.deep.UNetSegmenter.context`) tells tiling tools how much
  to crop from each tile's edges.
- The test tensors are a window of the image given at export and microlab's prediction
  of it: ``bioimageio.core``'s test reproduces microlab's probabilities (to float
  rounding, about 1e-6). Tools that predict a whole image first mirror it out by the halo
  (and crop that off again); microlab does not, so within a few tens of pixels of the
  image's border their probabilities differ from microlab's (a few labels there change),
  and elsewhere they agree to float rounding.

The Random Forest has no bioimage.io form (the format describes neural-network weights
only); it stays in microlab's own safetensors model file.

Reading back: only 2D U-Net packages microlab wrote (the ``probability_network``
architecture with microlab's record, ``config.microlab``) become a segmenter; any other
package is refused with what it holds. Nothing from the package is executed: the network
is built by this microlab and the state dict is loaded with ``weights_only=True``.

Examples
--------
The preprocessing of a model trained on images whose range was 10–20:

>>> steps = preprocessing([(10.0, 20.0)])
>>> [step.id for step in steps]
['scale_linear', 'clip']
>>> ranges_from(steps)
[(10.0, 20.0)]
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..intensity import PERCENTILES, normalise
from ..labels.colors import default_colors

ARCHITECTURE = "probability_network"
"""The callable of :mod:`microlab.deep.network` a microlab package builds its network with."""
INPUT, OUTPUT = "raw", "probabilities"
LARGEST_TEST = 512
"""Largest side of the test tensors (a window of the image given at export)."""
U_NET = "10.1007/978-3-319-24574-4_28"
"""DOI of Ronneberger, Fischer and Brox (2015), U-Net, cited by every package."""


def preprocessing(ranges: Sequence[tuple[float, float]]) -> list:
    """The package's preprocessing for per-channel intensity ``ranges``: ``scale_linear``
    (``ranges[c]`` → 0–1) then ``clip`` to 0–1, as :func:`microlab.intensity.normalise`.
    """
    from bioimageio.spec.model import v0_5 as spec

    gains = [1.0 / (high - low) for low, high in ranges]
    offsets = [-low / (high - low) for low, high in ranges]
    if len(ranges) == 1:
        kwargs = spec.ScaleLinearKwargs(gain=gains[0], offset=offsets[0])
    else:
        kwargs = spec.ScaleLinearAlongAxisKwargs(axis=spec.AxisId("channel"), gain=gains,
                                                 offset=offsets)
    return [spec.ScaleLinearDescr(kwargs=kwargs),
            spec.ClipDescr(kwargs=spec.ClipKwargs(min=0.0, max=1.0))]


def ranges_from(steps: Sequence, channels: int = 1) -> list[tuple[float, float]]:
    """The per-channel intensity ranges of :func:`preprocessing` ``steps`` (the inverse).

    Raises
    ------
    ValueError
        For any other preprocessing (microlab could not reproduce it).
    """
    kept = [s for s in steps if s.id != "ensure_dtype"]
    clip = kept[1].kwargs if len(kept) == 2 and kept[1].id == "clip" else None
    if (len(kept) != 2 or kept[0].id != "scale_linear" or clip is None
            or (clip.min, clip.max) != (0.0, 1.0)):
        raise ValueError(
            f"its input preprocessing is {[s.id for s in kept]}, not microlab's fixed "
            "intensity scaling ['scale_linear', 'clip' to 0-1]"
        )
    gains, offsets = kept[0].kwargs.gain, kept[0].kwargs.offset
    if not isinstance(gains, list):
        gains, offsets = [gains] * channels, [offsets] * channels
    return [(-offset / gain, (1.0 - offset) / gain) for gain, offset in zip(gains, offsets,
                                                                            strict=True)]


def export_package(
    path: str | os.PathLike,
    plane: np.ndarray,
    *,
    predict: Callable[[np.ndarray], np.ndarray],
    network,
    config: dict,
    training: dict,
    authors,
    name: str | None = None,
    description: str | None = None,
    license: str = "CC-BY-4.0",
    tags: Sequence[str] = (),
    cite: Sequence = (),
    cover_image: str | os.PathLike | None = None,
    halo: int,
    stride: int,
) -> Path:
    """Write a U-Net's bioimage.io package (see the module's description) to ``path``.

    Called by :meth:`microlab.deep.UNetSegmenter.export_bioimageio`, which documents the
    user's parameters.

    Parameters
    ----------
    path : path
        The ``.zip`` to write (atomically).
    plane : ndarray
        ``(C, Y, X)`` image the test tensors and the cover are cut from.
    predict : callable
        ``(C, Y, X)`` → ``(classes, Y, X)`` probabilities: microlab's prediction.
    network : torch.nn.Module
        The trained U-Net (:func:`microlab.deep.network.build_network`).
    config : dict
        The segmenter's model-file configuration; travels as ``config.microlab``.
    training : dict
        The training record (``fit_info``, ``history``), written to ``training.json``.
    halo, stride : int
        Pixels to crop from each side of a tile; the encoder's total stride (sizes are
        multiples of it).
    """
    import pydantic

    target = Path(path)
    if target.suffix.lower() != ".zip":
        raise ValueError(f"a bioimage.io package is a zip file: name it e.g. "
                         f"{target.with_suffix('.bioimageio.zip').name}, got {target.name}")
    if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
        raise ValueError(f"halo must be a whole number of pixels >= 0, got {halo!r}")
    people = _people(authors)
    classes = config["classes"]
    if name is None:  # the format allows letters, digits, spaces and _+-() in names
        label = re.sub(r"[^A-Za-z0-9_+\- ]", "", " ".join(classes))[:40].strip()
        name = f"microlab U-Net ({label})" if label else "microlab U-Net"
    description = description or (
        f"U-Net pixel classifier ({', '.join(classes)}) trained in microlab from sparse "
        "scribbles; outputs per-class probabilities")
    fit_info = training.get("fit_info") or {}
    smallest = stride * (2 * halo // stride + 1)
    window = _window(plane, smallest, stride)
    proba = predict(window)
    with tempfile.TemporaryDirectory() as folder:
        files = _write_files(Path(folder), window, proba, network, config, training,
                             cover_image)
        _write_readme(files["README.md"], name, description, config, fit_info, halo,
                      smallest, stride)
        try:
            descr = _describe(files, window, config, fit_info, authors=people, name=name,
                              description=description, license=license, tags=tags,
                              cite=cite, halo=halo, smallest=smallest, stride=stride)
        except pydantic.ValidationError as exc:
            raise ValueError(f"cannot describe this model for bioimage.io: {exc}") from None
        _save(descr, target)
    return target


def read_package(path: str | os.PathLike) -> tuple[dict, dict]:
    """A microlab U-Net package's model-file configuration and network state.

    Returns
    -------
    config : dict
        As :meth:`microlab.deep.UNetSegmenter.save` records it, with what the package
        does (classes, architecture, intensity ranges) taken from its description.
    state : dict
        The network's state dict (torch tensors).

    Raises
    ------
    FileNotFoundError
        Where ``path`` does not exist.
    ValueError
        For a file that is not a valid bioimage.io model, or a model that is not a 2D
        U-Net microlab exported (naming what it holds instead).
    """
    import io

    import torch
    from bioimageio.spec import InvalidDescr, load_description
    from bioimageio.spec.model import v0_5 as spec

    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"no such bioimage.io package: {source}")
    try:
        with _quiet():
            descr = load_description(source, format_version="latest",
                                     perform_io_checks=False)
    except Exception as exc:  # the library's parsers raise many kinds for a foreign file
        raise ValueError(f"{source.name} is not a bioimage.io package: {exc}") from None
    if isinstance(descr, InvalidDescr):
        raise ValueError(f"{source.name} is not a valid bioimage.io description: "
                         f"{descr.validation_summary.format()}")
    if not isinstance(descr, spec.ModelDescr):
        raise ValueError(f"{source.name} describes a bioimage.io {descr.type}, not a model")
    entry = descr.weights.pytorch_state_dict
    record = (descr.config.model_extra or {}).get("microlab")
    architecture = None if entry is None else entry.architecture
    if architecture is None or architecture.callable != ARCHITECTURE or not record:
        raise ValueError(
            f"{source.name} is a bioimage.io model of another architecture "
            f"({_holds(descr)}); microlab reads back only the 2D U-Nets it exports "
            f"(PyTorch state dict weights of its {ARCHITECTURE!r} architecture, with "
            "microlab's record in config.microlab). Run this model in a bioimage.io tool "
            "(bioimageio.core, ilastik, deepImageJ, QuPath) instead"
        )
    kwargs = architecture.kwargs
    try:
        inputs, outputs = _io_layout(descr)
        classes = [str(c) for c in outputs.channel_names]
        channels = len(inputs.channel_names)
        if (channels, len(classes)) != (kwargs["in_channels"], kwargs["classes"]):
            raise ValueError(f"its tensors ({channels} channels in, {len(classes)} out) "
                             f"disagree with its network {dict(kwargs)}")
        ranges = ranges_from(descr.inputs[0].preprocessing, channels)
        recorded = [tuple(r) for r in record["normalisation"]["ranges"]]
        if np.allclose(recorded, ranges, rtol=1e-9, atol=0):
            ranges = recorded  # the exact numbers; the package's scaling says the same
        colors = record.get("colors") or []
        config = {
            **record,
            "classes": classes,
            "colors": colors if len(colors) == len(classes) else default_colors(len(classes)),
            "encoder": kwargs["encoder"],
            "width": kwargs["width"],
            "input_skip": kwargs["input_skip"],
            "in_channels": channels,
            "normalisation": {**record["normalisation"], "ranges": [list(r) for r in ranges]},
        }
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{source.name} is not a U-Net package microlab can read: "
                         f"{exc}") from None
    weights = entry.get_reader().read()  # checks the SHA-256 the description records
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    return config, {k.removeprefix("network."): v for k, v in state.items()}


def _window(plane: np.ndarray, smallest: int, stride: int) -> np.ndarray:
    """The centre of ``(C, Y, X)`` ``plane`` cut to a size the package accepts (a multiple
    of ``stride``, at least ``smallest``, at most :data:`LARGEST_TEST`), mirrored out
    where the plane is smaller."""
    out = plane
    for axis in (1, 2):
        n = out.shape[axis]
        size = max(smallest, min(n, LARGEST_TEST) // stride * stride)
        if n < size:
            before = (size - n) // 2
            pad = [(0, 0)] * 3
            pad[axis] = (before, size - n - before)
            out = np.pad(out, pad, mode="symmetric")
        else:
            start = (n - size) // 2
            out = np.take(out, range(start, start + size), axis=axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def _write_files(folder: Path, window, proba, network, config, training, cover_image) -> dict:
    """Every file of the package but its description, in ``folder``: name → path."""
    import segmentation_models_pytorch as smp
    import tifffile
    import torch
    from bioimageio.spec.conda_env import BioimageioCondaEnv, PipDeps
    from bioimageio.spec.utils import save_array, write_yaml

    from . import network as network_module

    files = {name: folder / name for name in (
        "test_input.npy", "test_output.npy", "sample_input.tif", "sample_output.tif",
        "weights.pt", "weights.torchscript", "environment.yaml", "training.json",
        "README.md")}
    save_array(files["test_input.npy"], window[None])
    save_array(files["test_output.npy"], proba[None].astype(np.float32))
    tifffile.imwrite(files["sample_input.tif"], window)
    tifffile.imwrite(files["sample_output.tif"], proba.astype(np.float32))
    files["architecture"] = Path(network_module.__file__)

    model = network_module.Probabilities(copy.deepcopy(network).cpu().eval())
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               files["weights.pt"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*torch.jit.* is deprecated", FutureWarning)
        torch.jit.script(model).save(str(files["weights.torchscript"]))
    environment = BioimageioCondaEnv(dependencies=[
        f"pytorch=={_torch_version()}",
        PipDeps(pip=[f"segmentation-models-pytorch=={smp.__version__}"]),
    ])
    write_yaml(environment.model_dump(mode="json", exclude_none=True),
               files["environment.yaml"])

    files["training.json"].write_text(json.dumps(_clean({**training, "config": config}),
                                                 indent=1))
    if cover_image is None:
        files["cover.png"] = folder / "cover.png"
        _cover(window, proba, config).save(files["cover.png"])
    else:
        files["cover.png"] = Path(cover_image)
        if not files["cover.png"].is_file():
            raise FileNotFoundError(f"no such cover image: {cover_image}")
    return files


def _describe(files, window, config, fit_info, *, authors, name, description, license, tags,
              cite, halo, smallest, stride):
    """The package's description (bioimage.io model format 0.5)."""
    from bioimageio.spec.model import v0_5 as spec

    from .. import __version__

    classes = config["classes"]
    instance = config["mode"] == "instance"
    space = spec.ParameterizedSize(min=smallest, step=stride)
    inputs = spec.InputTensorDescr(
        id=spec.TensorId(INPUT),
        description="image, in the intensities of the training images",
        axes=[spec.BatchAxis(),
              spec.ChannelAxis(channel_names=[f"channel{c}" for c in range(len(window))]),
              spec.SpaceInputAxis(id=spec.AxisId("y"), size=space),
              spec.SpaceInputAxis(id=spec.AxisId("x"), size=space)],
        test_tensor=spec.FileDescr(source=files["test_input.npy"]),
        sample_tensor=spec.FileDescr(source=files["sample_input.tif"]),
        preprocessing=preprocessing(config["normalisation"]["ranges"]),
    )
    same = {a: spec.SizeReference(tensor_id=spec.TensorId(INPUT), axis_id=spec.AxisId(a))
            for a in ("y", "x")}
    space_out = ([spec.SpaceOutputAxisWithHalo(id=spec.AxisId(a), halo=halo, size=same[a])
                  for a in ("y", "x")] if halo else
                 [spec.SpaceOutputAxis(id=spec.AxisId(a), size=same[a]) for a in ("y", "x")])
    outputs = spec.OutputTensorDescr(
        id=spec.TensorId(OUTPUT),
        description="per-class probabilities (softmax over the channel axis)",
        axes=[spec.BatchAxis(), spec.ChannelAxis(channel_names=list(classes)), *space_out],
        test_tensor=spec.FileDescr(source=files["test_output.npy"]),
        sample_tensor=spec.FileDescr(source=files["sample_output.tif"]),
        data=spec.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    torch_version = spec.Version(_torch_version())
    kwargs = {"encoder": config["encoder"], "width": config["width"],
              "in_channels": config["in_channels"], "classes": len(classes),
              "input_skip": config["input_skip"]}
    return spec.ModelDescr(
        name=name,
        description=description,
        authors=[spec.Author(**a) for a in authors],
        cite=[spec.CiteEntry(text="Ronneberger, Fischer and Brox (2015): U-Net: Convolutional "
                             "Networks for Biomedical Image Segmentation", doi=spec.Doi(U_NET)),
              *(spec.CiteEntry(**c) for c in cite)],
        license=license,
        tags=list(dict.fromkeys([
            "2d", "pytorch", "unet", "microlab", "ilastik", "deepimagej",
            "instance-segmentation" if instance else "semantic-segmentation", *tags])),
        documentation=spec.FileDescr(source=files["README.md"]),
        covers=[spec.FileDescr(source=files["cover.png"])],
        attachments=[spec.FileDescr(source=files["training.json"])],
        inputs=[inputs],
        outputs=[outputs],
        weights=spec.WeightsDescr(
            pytorch_state_dict=spec.PytorchStateDictWeightsDescr(
                source=files["weights.pt"],
                architecture=spec.ArchitectureFromFileDescr(
                    source=files["architecture"], callable=ARCHITECTURE, kwargs=kwargs),
                pytorch_version=torch_version,
                dependencies=spec.FileDescr(source=files["environment.yaml"]),
                comment=f"written by microlab {__version__}"),
            torchscript=spec.TorchscriptWeightsDescr(
                source=files["weights.torchscript"], pytorch_version=torch_version,
                parent="pytorch_state_dict", comment="torch.jit.script of the same network"),
        ),
        config={
            "bioimageio": {
                "architecture_type": "U-Net",
                "architecture_description": (
                    f"segmentation-models-pytorch Unet, encoder {config['encoder']}, decoder "
                    f"channels × {config['width']}"
                    + (", a head that also sees the full-resolution input"
                       if config["input_skip"] else "") + ", softmax"),
                "task": "instance-segmentation" if instance else "semantic-segmentation",
                "training": {
                    "training_preprocessing": _NORMALISATION,
                    "training_epochs": fit_info.get("epochs"),
                    "training_batch_size": config["batch_size"],
                    "initial_learning_rate": config["learning_rate"],
                    "learning_rate_schedule": "50-step linear warm-up, then cosine decay to "
                                              "2 %",
                    "loss_function": "cross-entropy over the labelled pixels only",
                    "optimizer": "AdamW",
                },
            },
            "microlab": {**config, "microlab_version": __version__},
        },
    )


_NORMALISATION = (
    f"per channel, the {PERCENTILES[0]:g}th and {PERCENTILES[1]:g}th percentiles of the "
    "training images map to 0 and 1, clipped (microlab.intensity)")


def _write_readme(path: Path, name, description, config, fit_info, halo, smallest,
                  stride) -> None:
    """The package's documentation: what the model does, how to use it, how it was made."""
    classes, colors = config["classes"], config["colors"]
    ranges = config["normalisation"]["ranges"]
    rows = "\n".join(f"| {k} | {c} | `{colors[k] if k < len(colors) else ''}` |"
                     for k, c in enumerate(classes))
    scaling = "; ".join(f"channel {c}: {low:.6g} → 0, {high:.6g} → 1"
                        for c, (low, high) in enumerate(ranges))
    steps = fit_info.get("steps")
    trained = (f"{steps} optimiser steps ({fit_info.get('epochs')} epochs)" if steps
               else "not recorded (the model was saved without its training record)")
    loss = fit_info.get("best_val_loss")
    validation = (
        f"microlab held out {fit_info.get('validation_pixels')} of the labelled pixels (in "
        f"16-pixel blocks) and kept the weights with the lowest validation loss: {loss:.4g}."
        if loss is not None else "No validation loss was recorded.")
    path.write_text(f"""# {name}

{description}.

A U-Net ({config['encoder']} encoder, decoder width × {config['width']}) trained in
microlab from sparse scribbles. Mode: {config['mode']}.

## Output

`{OUTPUT}`: per-class probabilities, axes (batch, channel, y, x), float32, one channel per
class (they sum to 1; the softmax is part of the network):

| channel | class | colour |
| --- | --- | --- |
{rows}

The most probable class of each pixel is its label (channel k is label k + 1 in
microlab). The output has the input's size; tiling tools should crop {halo} pixels (the
halo) from the edges of each tile. Tools that mirror a whole image out by the halo before
predicting it differ from microlab's prediction (which does not) near the image's border.

## Input

`{INPUT}`: a 2D image, axes (batch, channel, y, x), {config['in_channels']} channel(s), float32.
Each side must be {smallest} + n × {stride} pixels (tools pad to that).

Preprocessing (fixed, as in microlab): {_NORMALISATION}. The recorded range is
{scaling}. Images are scaled by this range, not by their own: give the model images
of the bit depth and exposure it was trained on (rescale others first).

## Use

- ilastik: Neural Network Classification workflow, load this zip.
- deepImageJ, QuPath: install the zip as a bioimage.io model (TorchScript weights).
- Python: `bioimageio.core` (`bioimageio predict`), or microlab:
  `microlab.deep.load_bioimageio("this.zip")` gives back the microlab segmenter.

## Training

Trained for {trained}, batch size {config['batch_size']}, patch size
{config['patch_size']}, AdamW at learning rate {config['learning_rate']} (50-step warm-up,
cosine decay), cross-entropy over the labelled pixels only, with augmentation. The
full record (loss curves, configuration) is in `training.json`.

## Validation

{validation} There was no independent test set: check the predictions on your own
images. The test tensors are a window of an image and microlab's prediction of it;
`bioimageio.core`'s test reproduces them.

## Limitations

Trained from a few scribbles on a few images: it knows what it was shown and no more.
""", encoding="utf-8")


def _save(descr, target: Path) -> None:
    from bioimageio.spec import save_bioimageio_package

    with _quiet(), atomic_path(target) as tmp:
        save_bioimageio_package(descr, output_path=tmp)  # which validates what it wrote


def _io_layout(descr):
    """The channel axes of a 2D package's one input and one output (else ValueError)."""
    layouts = []
    for tensors in (descr.inputs, descr.outputs):
        axes = [(a.type, str(a.id)) for a in tensors[0].axes] if len(tensors) == 1 else None
        if axes != [("batch", "batch"), ("channel", "channel"), ("space", "y"),
                    ("space", "x")]:
            raise ValueError(f"microlab reads one 2D input and output with axes (batch, "
                             f"channel, y, x), found {axes or f'{len(tensors)} tensors'}")
        layouts.append(tensors[0].axes[1])
    return layouts


def _holds(descr) -> str:
    """What a package's network is, in words (for the error that refuses it)."""
    entry = descr.weights.pytorch_state_dict
    if entry is None:
        present = [format_ for format_, weights in descr.weights if weights is not None]
        return f"weights only as {', '.join(present)}, no PyTorch state dict"
    architecture = entry.architecture
    where = getattr(architecture, "import_from", None) or Path(
        str(getattr(architecture, "source", "?"))).name
    return f"architecture {architecture.callable!r} from {where}"


def _people(authors) -> list[dict]:
    """Authors as the format's dicts: a name, a dict of Author fields, or a list of them."""
    if isinstance(authors, str | dict):
        authors = [authors]
    people = [{"name": a} if isinstance(a, str) else dict(a) for a in authors or ()]
    if not people or not all(p.get("name") for p in people):
        raise ValueError("authors must name at least one person, e.g. authors=['Ada "
                         "Lovelace'] or [{'name': 'Ada Lovelace', 'affiliation': '...'}]")
    return people


def _cover(window, proba, config):
    """Image and prediction side by side: grey left; right, each pixel in the colours of
    the classes weighted by their probabilities, over the grey."""
    from PIL import Image

    grey = normalise(window, config["normalisation"]["ranges"]).mean(0)[..., None]
    colors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in config["colors"]],
                      np.float32) / 255
    painted = 0.4 * grey + 0.6 * np.tensordot(proba, colors, axes=(0, 0))
    both = np.concatenate([np.repeat(grey, 3, axis=-1), painted], axis=1)
    return Image.fromarray((np.clip(both, 0, 1) * 255).round().astype(np.uint8))


def _clean(value):
    """JSON-safe: NaN (an epoch without validation accuracy) becomes null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """bioimageio's log lines (loguru) off inside the block."""
    from loguru import logger

    logger.disable("bioimageio")
    try:
        yield
    finally:
        logger.enable("bioimageio")
