"""The deep tier: a U-Net trained from the same sparse scribbles as the Random Forest.

Nothing here imports torch until it is used, so ``import microlab`` stays fast and works
without the ``deep`` extra (``pip install "microlab[deep]"``).
"""

from .augment import augment_examples, show_augmentations
from .curves import plot_history
from .unet import UNetSegmenter

__all__ = ["UNetSegmenter", "augment_examples", "plot_history", "show_augmentations"]
