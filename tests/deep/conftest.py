"""Fixtures of the deep-tier tests: one trained tiny U-Net and one tiny pretraining run,
each made once per session."""

import pytest

from .helpers import TINY, two_phase


@pytest.fixture(scope="session")
def trained():
    """A tiny U-Net trained for 60 steps on :func:`two_phase`: (model, image, truth, scribbles)."""
    pytest.importorskip("lightning")
    from microlab.deep import UNetSegmenter

    image, truth, scribbles = two_phase()
    model = UNetSegmenter(["dark", "bright"], max_steps=60, **TINY).fit(image, scribbles)
    return model, image, truth, scribbles


@pytest.fixture(scope="session")
def network_only():
    """:func:`trained` without the autocontext forest (what bioimage.io packages hold)."""
    pytest.importorskip("lightning")
    from microlab.deep import UNetSegmenter

    image, truth, scribbles = two_phase()
    model = UNetSegmenter(["dark", "bright"], max_steps=60, autocontext=False, **TINY)
    model.fit(image, scribbles)
    return model, image, truth, scribbles


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A real (tiny, 3-step) pretraining run on generated scenes only: (path, info)."""
    pytest.importorskip("lightning")
    from microlab.deep.pretrain import pretrain

    path = tmp_path_factory.mktemp("pretrained") / "tiny.safetensors"
    info = pretrain(path, width=0.25, steps=3, minutes=None, scenes=2, progress=False)
    return path, info


@pytest.fixture(scope="session")
def tiny_corrector(tmp_path_factory):
    """A real (tiny, 3-step) autocontext pretraining run: a forest corrector (path, info)."""
    pytest.importorskip("lightning")
    from microlab.deep.pretrain import pretrain

    path = tmp_path_factory.mktemp("pretrained") / "corrector.safetensors"
    info = pretrain(path, width=0.25, steps=3, minutes=None, scenes=2, progress=False,
                    autocontext=True, overlap=1.0)
    return path, info
