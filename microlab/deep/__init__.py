"""The deep tier: a U-Net trained from the same sparse scribbles as the Random Forest.

Nothing here imports torch until it is used, so ``import microlab`` stays fast and works
without the ``deep`` extra (``pip install "microlab[deep]"``).

Modules, each importing only those listed before it (no cycle):

- ``runtime``: the device, and the libraries' chatter kept quiet.
- ``curves``: plotting a training history.
- ``network``: the smp U-Net with its input-skip head; fitting weights to other channels.
- ``weights``: shipped pretrained weights, their file format, loading them.
- ``module``: the LightningModules (loss, metrics, AdamW, the warm-up + cosine schedule).
- ``data``: patches, the validation hold-out, class weights, the LightningDataModule.
- ``augment``: augmentation of images with their sparse labels.
- ``callbacks``: best weights, history, live plot, stopping on a ``threading.Event``.
- ``trainer``: the one Lightning ``Trainer`` set-up.
- ``bioimageio``: bioimage.io model packages (export, and reading them back).
- ``unet``: :class:`UNetSegmenter`, the segmenter.
- ``pretrain``: making the shipped weights (``python -m microlab.deep.pretrain``).
"""

from .augment import augment_examples, show_augmentations
from .curves import plot_history
from .unet import UNetSegmenter

load_bioimageio = UNetSegmenter.load_bioimageio
"""A bioimage.io package written by :meth:`UNetSegmenter.export_bioimageio`, as a
:class:`UNetSegmenter` (:meth:`UNetSegmenter.load_bioimageio`)."""

__all__ = ["UNetSegmenter", "augment_examples", "load_bioimageio", "plot_history",
           "show_augmentations"]
