"""The viewer: prediction and uncertainty overlays, a gallery of every image with its
prediction, and the "next region to annotate" button that closes the active-learning loop."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np

from ..inference import rank_regions
from ._common import MessageLine, guarded
from ._view import View, auto_contrast, label_lut, sample, to_gray

if TYPE_CHECKING:
    from ..project import Project
    from .annotator import Annotator


class Viewer(widgets.VBox):
    """Overlay controls, a gallery of the project's images and the next region to annotate.

    Parameters
    ----------
    project : microlab.Project
        Whose images and predictions to show.
    annotator : Annotator
        The canvas the overlays are drawn on and the regions are shown in.
    messages : MessageLine, optional
        Where to show information and errors.
    thumbnail : int
        Size in pixels of the gallery pictures.
    region_size : int
        Edge in image pixels of the regions ranked by uncertainty.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> from microlab.widgets import Annotator, Viewer
    >>> project = microlab.Project(tempfile.mkdtemp())
    >>> _ = project.add_image(np.zeros((64, 64), np.uint8))
    >>> viewer = Viewer(project, Annotator(project))
    >>> viewer.next_region()
    >>> viewer.messages.text
    'no prediction yet: train a model first; the next region is where it is least sure'
    """

    def __init__(self, project: Project, annotator: Annotator, *,
                 messages: MessageLine | None = None, thumbnail: int = 128,
                 region_size: int = 128) -> None:
        self.project = project
        self.annotator = annotator
        self.messages = messages or annotator.messages
        self.thumbnail_size = int(thumbnail)
        self.region_size = int(region_size)
        self.regions: list[tuple[int, tuple[slice, ...], float]] = []
        self._next = 0
        self.overlay = widgets.ToggleButtons(
            options=[("prediction", "prediction"), ("uncertainty", "uncertainty"),
                     ("objects", "objects"), ("off", "none")],
            value=annotator.overlay, style={"button_width": "82px"},
            tooltips=["the predicted class of each pixel", "where the model is unsure",
                      "each object its own colour (instance mode; pan tool: click one "
                      "to see its row)", "hide the overlay"],
        )
        self.opacity = widgets.FloatSlider(value=annotator.opacity, min=0, max=1, step=0.05,
                                           description="opacity",
                                           layout=widgets.Layout(width="240px"),
                                           style={"description_width": "52px"})
        self.next_button = widgets.Button(description="next region to annotate",
                                          icon="crosshairs", layout=widgets.Layout(
                                              width="220px"),
                                          tooltip="jump to the most uncertain region (n)")
        self.next_button.add_class("microlab-next-region")
        self.overlay.observe(lambda c: self.set_overlay(c["new"]), "value")
        self.opacity.observe(lambda c: self.set_opacity(c["new"]), "value")
        self.next_button.on_click(lambda _: self.next_region())
        self.gallery = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.gallery.add_class("microlab-gallery")
        self._cards: list[widgets.VBox] = []
        self._contrast: dict[int, tuple[float, float]] = {}
        annotator.add_shortcut("n", "next region", self.next_region)
        annotator.add_shortcut("o", "overlay on/off", self.toggle_overlay)
        annotator.on("overlay", self._show_overlay)
        annotator.on("opacity", self._show_opacity)
        self._handlers = {"prediction": self._on_prediction, "images": self._on_images,
                          "classes": self._on_classes, "model": self._on_model}
        for event, handler in self._handlers.items():
            project.on(event, handler)
        super().__init__([
            widgets.HTML("<b>View</b>"),
            self.overlay,
            self.opacity,
            self.next_button,
        ])
        self.add_class("microlab-viewer")
        self.refresh_gallery()

    # ------------------------------------------------------------------ overlay
    def set_overlay(self, mode: str) -> None:
        """Show the ``"prediction"``, the ``"uncertainty"``, the ``"objects"`` or ``"none"``."""
        self.annotator.set_overlay(mode)

    def set_opacity(self, value: float) -> None:
        """Overlay opacity, 0 (invisible) to 1 (opaque)."""
        self.annotator.set_opacity(value)

    def _show_overlay(self, mode: str) -> None:
        self.overlay.value = mode

    def _show_opacity(self, value: float) -> None:
        self.opacity.value = value

    def toggle_overlay(self) -> None:
        """Switch the overlay off, or back to the prediction."""
        self.set_overlay("none" if self.annotator.overlay != "none" else "prediction")

    # ------------------------------------------------------------------ next region
    @guarded
    def next_region(self) -> None:
        """Jump to the next most uncertain region across all images (press again for more)."""
        if not self.regions:
            self.regions = self._rank()
            self._next = 0
        if not self.regions:
            self.messages.info("no prediction yet: train a model first; the next region is "
                               "where it is least sure")
            return
        index, where, score = self.regions[self._next % len(self.regions)]
        self._next += 1
        info = self.project.images[index]
        leading = info.layer_shape[:-2]
        plane = np.unravel_index(where[0].start, leading) if leading else ()
        box = where[-2:]
        self.annotator.show_region(index, tuple(int(p) for p in plane), box)
        self.messages.info(
            f"region {self._next}: {info.name}, y {box[0].start}–{box[0].stop}, "
            f"x {box[1].start}–{box[1].stop}, mean uncertainty {score:.2f} — paint here, "
            "then train"
        )

    def _rank(self) -> list:
        maps, owners = [], []
        for i, info in enumerate(self.project.images):
            result = self.project.prediction(i)
            if result is None:
                continue
            unsure = result[1]
            maps.append(unsure.reshape(-1, *info.layer_shape[-2:]) if unsure.ndim > 2
                        else unsure)
            owners.append(i)
        if not maps:
            return []
        ranked = rank_regions(maps, n=100, size=self.region_size)
        return [(owners[i], where, score) for i, where, score in ranked]

    # ------------------------------------------------------------------ gallery
    def refresh_gallery(self) -> None:
        """Rebuild the gallery: one picture per image, with its prediction."""
        self._cards = [self._card(i) for i in range(len(self.project))]
        self.gallery.children = self._cards

    def _card(self, index: int) -> widgets.VBox:
        info = self.project.images[index]
        picture = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{self.thumbnail_size}px", height=f"{self.thumbnail_size}px",
            object_fit="contain"))
        picture.value = self.thumbnail(index)
        button = widgets.Button(description=info.name[:18], tooltip=f"annotate {info.name}",
                                layout=widgets.Layout(width=f"{self.thumbnail_size}px"))
        button.on_click(lambda _: self.annotator.show_image(index))
        return widgets.VBox([picture, button])

    def thumbnail(self, index: int) -> bytes:
        """A PNG of the image's middle plane, its prediction blended over it."""
        from PIL import Image as PILImage

        info = self.project.images[index]
        image = self.project.image(index)
        lead = tuple(n // 2 if a == "Z" else 0 for a, n in
                     zip(info.layer_axes[:-2], info.layer_shape[:-2], strict=True))
        planes = iter(lead)
        index_ = tuple(0 if a == "C" else next(planes) for a in image.axes[:-2])
        plane = image.data[index_]
        side = self.thumbnail_size
        view = View.fit(plane.shape, side, side)
        rect = view.image_rect(plane.shape)
        if index not in self._contrast:
            self._contrast[index] = auto_contrast(plane)
        gray = to_gray(sample(plane, view, rect), *self._contrast[index]).astype(np.float32)
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        result = self.project.prediction(index)
        if result is not None:
            labels = sample(result[0][lead], view, rect)
            lut = label_lut(self.project.colors, 255)[:, :3].astype(np.float32)
            mask = labels > 0
            rgb[mask] = 0.55 * rgb[mask] + 0.45 * lut[labels[mask]]
        buffer = io.BytesIO()
        PILImage.fromarray(rgb.astype(np.uint8)).save(buffer, "PNG")
        return buffer.getvalue()

    @guarded
    def _on_prediction(self, index: int, region) -> None:
        self.regions = []
        if index < len(self._cards):
            self._cards[index].children[0].value = self.thumbnail(index)

    @guarded
    def _on_model(self, name: str) -> None:
        """A new model: the suggested region and its message are stale."""
        self.regions = []
        self.annotator.state.clear_marker()
        if self.messages.text.startswith("region "):
            self.messages.clear()

    @guarded
    def _on_images(self, index: int) -> None:
        self.refresh_gallery()

    @guarded
    def _on_classes(self) -> None:
        self.refresh_gallery()

    def close(self) -> None:
        """Stop observing the project and the annotator, and close the widgets."""
        for event, handler in self._handlers.items():
            self.project.off(event, handler)
        self.annotator.off("overlay", self._show_overlay)
        self.annotator.off("opacity", self._show_opacity)
        self.annotator.remove_shortcut("n")
        self.annotator.remove_shortcut("o")
        super().close()
