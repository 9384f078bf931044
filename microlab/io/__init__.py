"""Reading microscopy images and writing label images.

Axes convention
---------------
Every image inside microlab is ordered ``T, C, Z, Y, X`` with the axes a file does not have
left out (an axis of length 1 counts as absent: one z-slice is a 2D image), and
:attr:`Image.axes` names them: ``"YX"`` for a plain 2D image, ``"CYX"`` for
RGB, ``"ZYX"`` for a z-stack, ``"TCZYX"`` for a full hyperstack. The pixel size is kept per
spatial axis in :attr:`Image.spacing` (``(z, y, x)`` or ``(y, x)``) with :attr:`Image.unit`.

OME-Zarr
--------
:func:`read_image` opens an OME-Zarr (a ``.zarr`` folder or an fsspec URL) lazily, at the
resolution level asked for; :func:`write_ome_zarr`, :func:`write_probabilities_ome_zarr`
and :func:`write_labels_ome_zarr` write images, probabilities and labels (into the image's
``labels/`` group) that napari, vizarr and Fiji's MoBIE open. They need
``pip install 'microlab[formats]'``.
"""

from .image import Image
from .omezarr import OmeZarrAxesError, OmeZarrError, OmeZarrLevelError
from .omezarr_write import write_labels_ome_zarr, write_ome_zarr, write_probabilities_ome_zarr
from .read import read_image
from .write import write_image, write_labels

__all__ = [
    "Image",
    "OmeZarrAxesError",
    "OmeZarrError",
    "OmeZarrLevelError",
    "read_image",
    "write_image",
    "write_labels",
    "write_labels_ome_zarr",
    "write_ome_zarr",
    "write_probabilities_ome_zarr",
]
