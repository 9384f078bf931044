"""microlab: an AI microscopy-segmentation workbench for Jupyter.

The public API is re-exported here and loaded lazily, so ``import microlab`` is fast
and never imports torch.

Examples
--------
>>> import microlab
>>> image, truth = microlab.data.sandstone()
>>> image.data.shape == truth.shape
True
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "Image": "microlab.io",
    "read_image": "microlab.io",
    "write_labels": "microlab.io",
    "write_ome_zarr": "microlab.io",
    "write_labels_ome_zarr": "microlab.io",
    "write_probabilities_ome_zarr": "microlab.io",
    "Segmenter": "microlab.segmenter",
    "RandomForestSegmenter": "microlab.classic",
    "instances": "microlab.postprocess",
    "doubtful_objects": "microlab.postprocess",
    "compare": "microlab.comparison",
    "load_segmenter": "microlab.tiers",
    "Project": "microlab.project",
    "Workbench": "microlab.widgets",
    "uncertainty": "microlab.inference",
    "worst_regions": "microlab.inference",
    "predict_tiled": "microlab.inference",
    "UNetSegmenter": "microlab.deep",
}
_SUBMODULES = {
    "io",
    "data",
    "features",
    "labels",
    "classic",
    "postprocess",
    "measure",
    "viz",
    "segmenter",
    "tiers",
    "intensity",
    "cli",
    "widgets",
    "inference",
    "project",
    "deep",
}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"microlab.{name}")
    else:
        raise AttributeError(f"module 'microlab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
