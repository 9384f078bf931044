"""Jupyter widgets: the annotation canvas, the training panel, the viewer and the workbench
that joins them. They sit on top of the public API (a :class:`microlab.Project` holds the
data; the widgets only observe and draw it).

Modules: :mod:`.annotator` (the canvas: layout and drawing), :mod:`.state` (what the
canvas shows, with events; plain Python), :mod:`.keys` (key bindings and the help line),
:mod:`.stroke` (mouse events → strokes in the project), :mod:`.training` (the training
panel), :mod:`.viewer` (overlays, gallery, next region), :mod:`.objects` (instance mode,
the measurement table, colour by column, apply to all, export), :mod:`.workbench` (all in
one).

The widget classes import ipywidgets and ipycanvas when first used, so ``import
microlab.widgets.state`` (or ``import microlab``) loads neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .annotator import Annotator
    from .objects import ObjectsPanel
    from .training import TrainingPanel
    from .viewer import Viewer
    from .workbench import Workbench

_WIDGETS = {
    "Annotator": ".annotator",
    "ObjectsPanel": ".objects",
    "TrainingPanel": ".training",
    "Viewer": ".viewer",
    "Workbench": ".workbench",
}

__all__ = ["Annotator", "ObjectsPanel", "TrainingPanel", "Viewer", "Workbench"]


def __getattr__(name: str):
    if name in _WIDGETS:
        return getattr(importlib.import_module(_WIDGETS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
