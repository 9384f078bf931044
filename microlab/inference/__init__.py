"""Inference helpers on top of any :class:`microlab.Segmenter`: seam-free tiled prediction
of images larger than memory, uncertainty maps and the ranking of the regions most worth
annotating next.

Examples
--------
>>> import numpy as np
>>> from microlab.inference import uncertainty
>>> proba = np.array([[[1.0, 0.5]], [[0.0, 0.5]]], np.float32)   # sure | undecided
>>> uncertainty(proba).tolist()
[[0.0, 1.0]]
"""

from .distributed import image_file, predict_on_cluster
from .region import predict_region
from .tiling import predict_tiled
from .uncertainty import rank_regions, uncertainty, worst_regions

__all__ = [
    "image_file",
    "predict_on_cluster",
    "predict_region",
    "predict_tiled",
    "rank_regions",
    "uncertainty",
    "worst_regions",
]
