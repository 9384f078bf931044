"""A project: one folder on disk holding images, annotations, classes, models and results.

Layout (human-readable; Fiji and napari open every TIFF)::

    project.json                  format version, microlab version, classes and colours,
                                  the image list (name, file, shape, dtype, axes, pixel
                                  size, source, digest), the models, and the manifest of
                                  the files the project wrote (it never touches others)
    .microlab.lock                held by the session that has the project open
    images/NAME.tif               copies of the images (ImageJ hyperstacks), unless an
                                  image is kept as a reference to its original file
    annotations/NAME.tif          sparse labels: 0 = unlabelled, 1..C = classes (uint8/16)
    models/NAME.safetensors       trained segmenters (``microlab.load_segmenter`` reads them)
    predictions/NAME.tif          labels 1..C predicted by the last model
    predictions/NAME_uncertainty.tif   float32 uncertainty in [0, 1]

Every file is written atomically (to a temporary file, then renamed), and annotations are
saved by a background thread within a second of each stroke and at interpreter exit, so a
crash, a kernel restart or a script without ``close()`` loses nothing: ``Project(path)``
reopens with every stroke. A second session on the same folder opens it read-only.

Modules: :mod:`.store` (the folder), :mod:`.annotations` (paint, erase, undo),
:mod:`.autosave`, :mod:`.events`, :mod:`.info` (what is recorded per image),
:mod:`.project` (the :class:`Project` facade), :mod:`.training` (train and predict on a
project through the :class:`microlab.Segmenter` contract).
"""

from . import training
from .events import EVENTS
from .info import ImageInfo
from .project import Project
from .store import FORMAT_VERSION, PROJECT_FILE, ProjectVersionError

__all__ = [
    "EVENTS",
    "FORMAT_VERSION",
    "PROJECT_FILE",
    "ImageInfo",
    "Project",
    "ProjectVersionError",
    "training",
]
