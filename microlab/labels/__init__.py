"""Sparse annotation layers: 0 = unlabelled, 1..C = classes.

Examples
--------
>>> import numpy as np
>>> from microlab.labels import paint_disk
>>> layer = np.zeros((5, 5), np.uint8)
>>> paint_disk(layer, (2, 2), radius=1, value=3)
5
"""

from .boundary import boundary_labels, instance_annotations, painted_objects, whole_object_rings
from .scribbles import paint_disk, scribbles_from_truth

__all__ = ["boundary_labels", "instance_annotations", "paint_disk", "painted_objects",
           "scribbles_from_truth", "whole_object_rings"]
