"""Measure objects: per-object tables in physical units, neighbourhoods, accuracy.

* :func:`objects` -- one row per object: centroid, size, shape, intensity per channel;
* :func:`neighbours` -- distances to the *k* nearest objects and a local density;
* :func:`files` -- a folder of label images into one table (``microlab measure``);
* :func:`average_precision` -- instance accuracy against ground truth, and
  :func:`object_errors` -- what went wrong: objects merged, missed, split, spurious
  (:func:`error_kinds`: the kind of each object);
* :func:`class_iou`, :func:`mean_iou` -- semantic (per-class) accuracy.

Examples
--------
>>> import numpy as np, microlab
>>> labels = np.zeros((20, 20), int); labels[2:6, 2:6] = 1; labels[10:15, 10:15] = 2
>>> table = microlab.measure.objects(labels, spacing=0.5)
>>> table["area_µm²"].tolist()
[4.0, 6.25]
>>> microlab.measure.neighbours(table, k=1)["nearest_distance_µm"].round(2).tolist()
[6.01, 6.01]
"""

from .files import files
from .metrics import average_precision, error_kinds, object_errors
from .neighbours import neighbours
from .objects import column_names, objects
from .scores import class_iou, mean_iou

__all__ = [
    "average_precision",
    "class_iou",
    "column_names",
    "error_kinds",
    "files",
    "mean_iou",
    "neighbours",
    "object_errors",
    "objects",
]
