"""Reading microscopy images and writing label images.

Axes convention
---------------
Every image inside microlab is ordered ``T, C, Z, Y, X`` with the axes a file does not have
left out (an axis of length 1 counts as absent: one z-slice is a 2D image), and
:attr:`Image.axes` names them: ``"YX"`` for a plain 2D image, ``"CYX"`` for
RGB, ``"ZYX"`` for a z-stack, ``"TCZYX"`` for a full hyperstack. The pixel size is kept per
spatial axis in :attr:`Image.spacing` (``(z, y, x)`` or ``(y, x)``) with :attr:`Image.unit`.
"""

from .image import Image
from .read import read_image
from .write import write_image, write_labels

__all__ = ["Image", "read_image", "write_image", "write_labels"]
