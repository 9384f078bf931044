"""Load any saved segmenter by the kind its file records."""

from __future__ import annotations

import importlib
import os

from ._modelfile import read_header

# model kind recorded in the file -> class that loads it
KINDS = {
    "random-forest": "microlab.classic.forest:RandomForestSegmenter",
    "unet": "microlab.deep.unet:UNetSegmenter",
}


def load_segmenter(path: str | os.PathLike):
    """Load a model file saved by any microlab segmenter.

    Parameters
    ----------
    path : str or path-like
        A file written by ``segmenter.save(path)``.

    Returns
    -------
    Segmenter
        A :class:`microlab.RandomForestSegmenter` (or another tier's segmenter).

    Examples
    --------
    >>> import tempfile, pathlib, microlab
    >>> image, truth = microlab.data.sandstone()
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"]).fit(
    ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> rf.save(path)
    >>> type(microlab.load_segmenter(path)).__name__
    'RandomForestSegmenter'
    """
    kind = read_header(path).get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"{os.fspath(path)} holds a model of kind {kind!r} that this microlab does not "
            f"know (known: {sorted(KINDS)}); upgrade microlab"
        )
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name).load(path)
