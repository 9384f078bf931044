"""Small scenes and settings shared by the deep-tier tests."""

import numpy as np

TINY = {"width": 0.25, "patch_size": 64, "batch_size": 4, "steps_per_epoch": 10,
        "pretrained": False, "progress": False}
"""A U-Net small and quick enough for tests (a step takes a fraction of a second)."""


def two_phase(size=96, seed=0):
    """A bright disk on a dark background, noisy, with a few scribbles of each phase."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    truth = np.where((yy - c) ** 2 + (xx - c) ** 2 < (size // 3) ** 2, 2, 1).astype(np.uint8)
    image = np.where(truth == 2, 0.7, 0.3) + rng.normal(0, 0.08, truth.shape)
    scribbles = np.zeros_like(truth)
    scribbles[c, c - 18 : c + 18] = 2
    scribbles[c - 12 : c + 12, c] = 2
    scribbles[5, 5:-5] = scribbles[-5, 5:-5] = scribbles[5:-5, 4] = 1
    return image.astype(np.float32), truth, scribbles


def at_step(step, action):
    """A Lightning callback that calls ``action()`` after every step from ``step`` on."""
    import lightning as L

    class AtStep(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.global_step >= step:
                action()

    return AtStep()


def raise_at(step, error):
    """A Lightning callback that raises ``error`` once ``step`` optimiser steps are done."""

    def throw():
        raise error

    return at_step(step, throw)
