"""Small real sample images bundled with microlab (see ``ATTRIBUTION.md`` here).

Examples
--------
>>> import microlab
>>> image, truth = microlab.data.sandstone()
>>> image.axes, truth.max()
('YX', np.uint8(4))
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ..io import Image, read_image
from .synthetic import synthetic_nuclei

__all__ = [
    "SANDSTONE_CLASSES",
    "SANDSTONE_COLOURS",
    "SANDSTONE_SLICES",
    "bbbc022",
    "osteosarcoma",
    "sandstone",
    "synthetic_nuclei",
]

SANDSTONE_CLASSES = ["blue", "green", "red", "yellow"]
"""Names of the 4 sandstone classes, after the colours of the original masks."""

SANDSTONE_COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 0)]
"""RGB colour of each sandstone class in the original masks (class k is entry k-1)."""

SANDSTONE_SLICES = ["Sandstone_Versa0000", "Sandstone_Versa0200", "Sandstone_Versa0400"]


def _path(name: str):
    return resources.files(__name__).joinpath(name)


def sandstone(index: int = 0) -> tuple[Image, np.ndarray]:
    """A 512 × 512 micro-CT slice of sandstone and its 4-class ground truth.

    Parameters
    ----------
    index : int
        Which bundled slice: 0, 1 or 2 (``Sandstone_Versa0000``, ``0200``, ``0400``).

    Returns
    -------
    image : Image
        uint8 intensities, axes ``"YX"``, pixel size in µm.
    truth : ndarray of uint8
        Classes 1..4 (:data:`SANDSTONE_CLASSES`), same shape as the image.

    Examples
    --------
    >>> image, truth = sandstone(1)
    >>> image.name, image.data.shape, sorted(set(truth.ravel().tolist()))
    ('Sandstone_Versa0200', (512, 512), [1, 2, 3, 4])
    """
    n = len(SANDSTONE_SLICES)
    if not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise ValueError(f"index must be an integer from 0 to {n - 1}, got {index!r}")
    with resources.as_file(_path("sandstone.tif")) as p:
        stack = read_image(p)
    with resources.as_file(_path("sandstone_truth.tif")) as p:
        truth = read_image(p).data[index]
    image = Image(
        stack.data[index], "YX", stack.spacing[1:], stack.unit, name=SANDSTONE_SLICES[index]
    )
    return image, truth


def osteosarcoma() -> Image:
    """A 512 × 512 RGB crop of osteosarcoma cells; DAPI-stained nuclei are the blue channel.

    Returns
    -------
    Image
        uint8, axes ``"CYX"`` (channel 2 holds the nuclei).

    Examples
    --------
    >>> img = osteosarcoma()
    >>> img.axes, img.data.shape
    ('CYX', (3, 512, 512))
    """
    with resources.as_file(_path("osteosarcoma.tif")) as p:
        image = read_image(p)
    return Image(image.data, "CYX", name="Osteosarcoma_01")


def bbbc022() -> Image:
    """U2OS cells from a Cell Painting screen: 3 fluorescence channels, nuclei first.

    A 395 × 695 crop of BBBC022v1 (CC0; Gustafsdottir et al., PLOS ONE 2013; Broad Bioimage
    Benchmark Collection, Ljosa et al., Nature Methods 2012), 12-bit values in uint16. The
    file carries no pixel size: measurements are in pixels until one is set.

    Returns
    -------
    Image
        uint16, axes ``"CYX"``: channel 0 Hoechst (nuclei), 1 and 2 other Cell Painting
        stains.

    Examples
    --------
    >>> img = bbbc022()
    >>> img.axes, img.data.shape, img.data.dtype.name, img.spacing
    ('CYX', (3, 395, 695), 'uint16', None)
    """
    with resources.as_file(_path("bbbc022.tif")) as p:
        image = read_image(p)
    return Image(image.data, "CYX", name="BBBC022_IXMtest_A02_s9")
