"""From pixel predictions to objects: watershed instances and size cleanup.

Examples
--------
>>> import numpy as np, microlab
>>> mask = np.zeros((20, 40), bool); mask[5:15, 5:15] = mask[5:15, 25:35] = True
>>> int(microlab.instances(mask).max())
2
"""

from ._doubtful import doubtful_objects
from ._instances import instances, remove_small, typical_radius

__all__ = ["doubtful_objects", "instances", "remove_small", "typical_radius"]
