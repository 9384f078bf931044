"""The workbench: annotator, training panel and viewer in one widget."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

import ipywidgets as widgets

from ..project import Project
from ._common import MessageLine
from .annotator import Annotator
from .objects import ObjectsPanel
from .training import TrainingPanel
from .upload import ImageUpload
from .viewer import Viewer


class Workbench(widgets.VBox):
    """Paint, train, look, find and measure objects, export: the application note's
    walk-through in one widget.

    Parameters
    ----------
    project_or_images : Project, path, image or list of images
        A :class:`microlab.Project`; the folder of one (opened, or created if new); or
        images (``microlab.Image``, arrays or files) to put in a new project at ``path``.
    path : str or path-like
        The project folder when images are given (reopened if it exists, so re-running a
        notebook keeps every stroke).
    classes, colors : list, optional
        Class names and colours of a new project.
    canvas_size : (int, int), optional
        Canvas height and width in screen pixels. Default: the first image's aspect, at
        most 512 pixels high and 640 wide (a square image gets 512 × 512).

    Problems (a newer project version, a read-only folder, an image that does not fit)
    are shown in the widget's message line, not raised.

    Examples
    --------
    >>> import tempfile, microlab
    >>> image, _ = microlab.data.sandstone(0)
    >>> bench = microlab.Workbench([image], path=tempfile.mkdtemp(), classes=["a", "b"])
    >>> bench.project.images[0].name, type(bench.annotator).__name__
    ('Sandstone_Versa0000', 'Annotator')
    """

    def __init__(
        self,
        project_or_images,
        *,
        path: str | os.PathLike = "microlab-project",
        classes: Sequence[str] | None = None,
        colors: Sequence | None = None,
        canvas_size: tuple[int, int] | None = None,
    ) -> None:
        self.messages = MessageLine()
        self.project = None
        self.annotator = self.training = self.viewer = self.objects = self.upload = None
        try:
            self.project = _open(project_or_images, path, classes, colors)
        except (ValueError, TypeError, OSError, KeyError) as exc:
            self.messages.error(exc)
            super().__init__([widgets.HTML("<b>microlab workbench</b>"), self.messages.widget])
            self.add_class("microlab-workbench")
            return
        if canvas_size is None:
            canvas_size = fitted_canvas(self.project)
        self.annotator = Annotator(self.project, canvas_size=canvas_size,
                                   messages=self.messages)
        self.training = TrainingPanel(self.project, self.annotator, messages=self.messages)
        self.viewer = Viewer(self.project, self.annotator, messages=self.messages)
        self.objects = ObjectsPanel(self.project, self.annotator, messages=self.messages,
                                    model=lambda: self.training.segmenter)
        title = widgets.HTML(
            f"<b>microlab workbench</b> <span style='color:#777'>— project "
            f"{html.escape(str(self.project.path))}</span>"
        )
        self.upload = ImageUpload(self.project, messages=self.messages,
                                  on_added=self.annotator.show_image)
        side = widgets.VBox([self.training, self.viewer, self.objects],
                            layout=widgets.Layout(margin="0 0 0 12px", min_width="370px",
                                                  flex="1 1 370px", overflow="hidden"))
        # the canvas fits the notebook's width and is never clipped: it grows up to its own
        # size beside the panels, shrinks (keeping its aspect) to stay beside them down to
        # 480 px, and below that the panels wrap under it and it takes the whole width
        self.annotator.layout.flex = f"4 1 {min(canvas_size[1], 480)}px"
        self.annotator.layout.min_width = "280px"
        self.annotator.layout.max_width = f"{max(canvas_size[1], 560)}px"
        super().__init__([
            title,
            widgets.HBox([self.annotator, side],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            widgets.HBox([widgets.HTML("<b>Images</b> <span style='color:#777'>(click one to "
                                       "annotate it)</span>&nbsp;"), self.upload]),
            self.viewer.gallery,
        ])
        self.add_class("microlab-workbench")
        if self.project.read_only:
            self.messages.error(
                f"{self.project.path} is read-only: you can look and paint, but strokes are "
                "kept in memory only; save the project elsewhere with "
                "bench.project.save_as('new/folder')"
            )

    def close(self) -> None:
        """Stop training and close the parts: none of them observes the project after.

        The project stays open (its autosave keeps every stroke); close it yourself.
        """
        for part in (self.objects, self.training, self.viewer, self.annotator):
            if part is not None:
                part.close()
        super().close()


def fitted_canvas(project: Project, height: int = 600, width: int = 800) -> tuple[int, int]:
    """A canvas size with the first image's aspect, at most ``height`` × ``width``.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> project = microlab.Project(tempfile.mkdtemp())
    >>> _ = project.add_image(np.zeros((395, 695), np.uint16))
    >>> fitted_canvas(project)
    (455, 800)
    """
    if not len(project):
        return height, height
    ny, nx = project.images[0].layer_shape[-2:]
    scale = min(height / ny, width / nx)
    return max(128, round(ny * scale)), max(128, round(nx * scale))


def _open(source, path, classes, colors) -> Project:
    if isinstance(source, Project):
        return source
    if isinstance(source, (str, os.PathLike)) and (
        os.path.isdir(source) or not os.path.exists(source)
    ):
        return Project(source, classes=classes, colors=colors)
    project = Project(path, classes=classes, colors=colors)
    for image in source if isinstance(source, (list, tuple)) else [source]:
        project.add_image(image)
    return project
