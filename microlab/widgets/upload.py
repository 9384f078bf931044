"""Add your own images to a project from the browser: a file picker (drag and drop onto
it works too) built on ipywidgets' ``FileUpload``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..io.paths import IMAGE_SUFFIXES
from ._common import MessageLine, guarded

if TYPE_CHECKING:
    from ..project import Project

ACCEPT = ",".join(sorted({*IMAGE_SUFFIXES, ".ome.tiff"}))
"""The file types offered: TIFF (ImageJ, OME-TIFF), PNG, JPEG."""


class ImageUpload(widgets.HBox):
    """A button that adds the chosen (or dropped) image files to a project.

    Each file is read as :func:`microlab.read_image` reads it (axes, channels, pixel size)
    and copied into the project. A file that is not an image, is truncated, or does not fit
    the project's images (other channels, 2D vs 3D) is reported by name in the message
    line; the others are added.

    Parameters
    ----------
    project : microlab.Project
    messages : MessageLine, optional
    on_added : callable, optional
        Called with the index of the last image added.

    Examples
    --------
    >>> import tempfile, io, numpy as np, microlab, tifffile
    >>> from microlab.widgets.upload import ImageUpload
    >>> project = microlab.Project(tempfile.mkdtemp())
    >>> buffer = io.BytesIO(); tifffile.imwrite(buffer, np.zeros((16, 16), np.uint16))
    >>> upload = ImageUpload(project)
    >>> upload.add_files([{"name": "cells.tif", "content": buffer.getvalue()},
    ...                   {"name": "notes.tif", "content": b"not an image"}])
    [0]
    >>> [info.name for info in project.images]
    ['cells']
    >>> upload.messages.text.startswith("added 1 image (cells); notes.tif could not be read")
    True
    """

    def __init__(self, project: Project, *, messages: MessageLine | None = None,
                 on_added=None) -> None:
        self.project = project
        self.messages = messages or MessageLine()
        self.on_added = on_added
        self.picker = widgets.FileUpload(accept=ACCEPT, multiple=True,
                                         description="Add images",
                                         tooltip="TIFF, OME-TIFF, PNG or JPEG files: click "
                                                 "to choose, or drop files here",
                                         layout=widgets.Layout(width="150px"))
        self.picker.add_class("microlab-upload")
        self.picker.observe(self._on_upload, "value")
        super().__init__([self.picker])

    @guarded
    def _on_upload(self, change) -> None:
        files = list(change["new"] or ())
        if not files:
            return
        self.add_files(files)

    def add_files(self, files) -> list[int]:
        """Add uploaded files (dicts with ``name`` and ``content``); returns their indices."""
        added, problems, names = [], [], []
        with tempfile.TemporaryDirectory(prefix="microlab-upload-") as folder:
            for file in files:
                name = Path(str(file["name"])).name
                path = Path(folder) / name
                try:
                    path.write_bytes(bytes(file["content"]))
                    before = len(self.project)
                    index = self.project.add_image(path)
                except Exception as exc:  # not an image, truncated, does not fit: say why
                    problems.append(f"{name} could not be read ({_reason(exc)})")
                    continue
                if len(self.project) > before:
                    added.append(index)
                    names.append(self.project.images[index].name)
                else:
                    problems.append(f"{name} is already in the project")
        text = []
        if added:
            text.append(f"added {len(added)} image{'s' if len(added) > 1 else ''} "
                        f"({', '.join(names)})")
        text += problems
        if problems:
            self.messages.error("; ".join(text))
        else:
            self.messages.ok("; ".join(text))
        if added and self.on_added is not None:
            self.on_added(added[-1])
        return added


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "…"
