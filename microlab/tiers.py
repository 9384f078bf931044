"""The one registry of segmenter tiers: kind → class, for model files, projects, the
widgets and the CLI alike.

A tier is named by its ``kind`` (what model files and ``project.json`` record). Its class
is imported only when asked for, so the registry is cheap to read and ``import microlab``
never imports torch.

Examples
--------
>>> from microlab.tiers import TIERS, tier
>>> sorted(TIERS)
['random-forest', 'unet']
>>> tier("random-forest").label
'Random Forest'
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ._modelfile import read_header


@dataclass(frozen=True)
class Tier:
    """One kind of segmenter.

    Attributes
    ----------
    kind : str
        The name model files and projects record.
    label : str
        What the user reads (widgets, CLI help).
    target : str
        ``"module:Class"`` of the segmenter, imported on first use.
    live : dict or None
        Options for a fast retrain after every stroke (the workbench's live mode); None
        where the tier is too slow for it.
    budget : str or None
        The constructor option that bounds training time in minutes, if the tier has one.
    instance : dict or None
        Options that make the tier learn to separate objects itself from painted whole
        objects (``output == "boundary"``) in a project's instance mode; None where the
        objects come from its class probabilities (:func:`microlab.instances`).
    instance_needs_whole : bool
        Whether the tier learns objects itself (``instance``) only when the painted objects
        are declared whole (a project's ``whole_objects`` setting; ``train --objects`` always
        declares them so); otherwise, in instance mode, it learns the painted classes and
        its objects come from its probabilities. True for the forest, whose strokes across
        objects are common; the U-Net always takes painted objects as whole.
    self_training : dict or None
        Options that make the tier, in instance mode, add the objects it is sure of to the
        annotations halfway through training (the workbench's "self-train" box); None
        where it cannot.
    aliases : tuple of str
        Older names of the kind, still read from files.
    """

    kind: str
    label: str
    target: str
    live: dict | None = None
    budget: str | None = None
    instance: dict | None = None
    instance_needs_whole: bool = False
    self_training: dict | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def module(self) -> str:
        return self.target.split(":")[0]

    @property
    def available(self) -> bool:
        """Whether this installation can import the tier (the deep tier needs torch)."""
        try:
            return importlib.util.find_spec(self.module) is not None and all(
                importlib.util.find_spec(dep) is not None for dep in _NEEDS.get(self.kind, ())
            )
        except (ModuleNotFoundError, ValueError):
            return False

    def load_class(self) -> type:
        """The segmenter class (imports its module)."""
        module, name = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise ImportError(
                f"the {self.label} tier needs packages that are not installed ({exc}); "
                "install them with pip install 'microlab[deep]'"
            ) from exc

    def learns_objects(self, settings: dict) -> bool:
        """Whether, with a project's ``settings``, this tier learns objects itself
        (``instance`` options): instance mode, and whole objects where the tier needs them.

        Examples
        --------
        >>> forest, unet = tier("random-forest"), tier("unet")
        >>> settings = {"mode": "instance", "whole_objects": False}
        >>> forest.learns_objects(settings), unet.learns_objects(settings)
        (False, True)
        >>> forest.learns_objects({"mode": "instance", "whole_objects": True})
        True
        >>> unet.learns_objects({"mode": "semantic", "whole_objects": True})
        False
        """
        return (self.instance is not None and settings["mode"] == "instance"
                and (settings["whole_objects"] or not self.instance_needs_whole))

    def create(self, classes=None, colors=None, **options):
        """A new, untrained segmenter of this tier."""
        return self.load_class()(classes, colors=colors, **options)


TIERS: dict[str, Tier] = {
    t.kind: t
    for t in (
        Tier("random-forest", "Random Forest", "microlab.classic.forest:RandomForestSegmenter",
             live={"n_estimators": 16}, instance={"mode": "instance"},
             instance_needs_whole=True),
        Tier("unet", "U-Net", "microlab.deep.unet:UNetSegmenter", budget="max_minutes",
             instance={"mode": "instance"}, self_training={"pseudo_labels": True},
             aliases=("u-net-segmenter",)),
    )
}
"""Every tier this microlab knows, by kind."""

_NEEDS = {"unet": ("torch", "segmentation_models_pytorch", "lightning")}


def tier(kind: str) -> Tier:
    """The tier called ``kind`` (or one of its older names).

    Raises
    ------
    ValueError
        For an unknown kind, listing the known ones.
    """
    if kind in TIERS:
        return TIERS[kind]
    for t in TIERS.values():
        if kind in t.aliases:
            return t
    raise ValueError(
        f"unknown segmenter kind {kind!r}; known: {sorted(TIERS)}. A newer microlab may "
        "know it: pip install -U microlab"
    )


def available_tiers() -> dict[str, str]:
    """Kind → label of the tiers this installation can use.

    Examples
    --------
    >>> available_tiers()["random-forest"]
    'Random Forest'
    """
    return {kind: t.label for kind, t in TIERS.items() if t.available}


def load_segmenter(path: str | os.PathLike):
    """Load a model file saved by any microlab segmenter, or a U-Net's bioimage.io package.

    Parameters
    ----------
    path : str or path-like
        A file written by ``segmenter.save(path)``, or a bioimage.io package (its
        ``.zip``, or the ``rdf.yaml`` of an unpacked one) written by
        :meth:`microlab.deep.UNetSegmenter.export_bioimageio`.

    Returns
    -------
    Segmenter
        A :class:`microlab.RandomForestSegmenter` (or another tier's segmenter).

    Examples
    --------
    >>> import tempfile, pathlib, microlab
    >>> image, truth = microlab.data.sandstone()
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"]).fit(
    ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> rf.save(path)
    >>> type(microlab.load_segmenter(path)).__name__
    'RandomForestSegmenter'
    """
    if Path(path).suffix.lower() in (".yaml", ".yml") or zipfile.is_zipfile(path):
        return tier("unet").load_class().load_bioimageio(path)  # model files are no zips
    kind = read_header(path).get("kind")
    try:
        found = tier(kind)
    except ValueError:
        raise ValueError(
            f"{os.fspath(path)} holds a model of kind {kind!r} that this microlab does not "
            f"know (known: {sorted(TIERS)}); upgrade microlab"
        ) from None
    return found.load_class().load(path)
