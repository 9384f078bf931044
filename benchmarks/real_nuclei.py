"""Scenes of real nuclei with exact truth, for benchmarks of objects on real images.

The real fluorescence images in ``../shared/data`` have no ground truth. Their isolated,
single nuclei do: :mod:`microlab.data.real_nuclei` cuts them out with their own masks
(:func:`isolated_nuclei`), packs them touching (:func:`collage`) and makes the scenes harder
the way microscopes do (:func:`degrade`). The nuclei's texture, shape and brightness spread
are real; only their arrangement is made, and their mask (the truth) is the one their own
image gives.

Weights pretrained with ``--real-nuclei`` have seen the first half of each image's nuclei
(:func:`microlab.data.real_nuclei.split_nuclei`); ``held_out`` gives the other half, on which
such weights can be judged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microlab.data.real_nuclei import (  # noqa: F401  (the benchmarks import them from here)
    collage,
    degrade,
    isolated_nuclei,
    nuclei_sources,
    split_nuclei,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sources() -> dict[str, np.ndarray]:
    """The nuclei channel of each real fluorescence image in ``../shared/data``."""
    return nuclei_sources(SHARED)


def held_out(found):
    """``(nuclei, background, noise)`` of :func:`isolated_nuclei` with only the half of the
    nuclei that ``--real-nuclei`` pretraining leaves out."""
    nuclei, background, noise = found
    return split_nuclei(nuclei)[1], background, noise
