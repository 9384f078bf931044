"""Jupyter widgets: the annotation canvas, the training panel, the viewer and the workbench
that joins them. They sit on top of the public API (a :class:`microlab.Project` holds the
data; the widgets only observe and draw it) and import ipywidgets and ipycanvas, so
``import microlab`` does not load this package until a widget is used.
"""

from .annotator import Annotator
from .training import TrainingPanel
from .viewer import Viewer
from .workbench import Workbench

__all__ = ["Annotator", "TrainingPanel", "Viewer", "Workbench"]
