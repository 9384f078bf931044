"""Pictures: feature galleries, prediction overlays, colour-coded object maps, errors.

matplotlib is imported only when a plotting function is called.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule of microlab.viz that defines it
_LAZY = {
    "color_objects": "objects",
    "overlay": "objects",
    "object_summary": "objects",
    "scatter_objects": "objects",
    "show_errors": "objects",
    "feature_gallery": "features",
    "show_prediction": "segmentation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'microlab.viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
