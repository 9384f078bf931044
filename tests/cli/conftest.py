"""Small images, annotations and a trained forest for the command-line tests."""

import numpy as np
import pytest

import microlab
from microlab.labels import scribbles_from_truth


@pytest.fixture(scope="session")
def sandstone_crops():
    """Three 96 × 96 sandstone crops with their sparse annotations (4 classes)."""
    image, truth = microlab.data.sandstone()
    scribbles = scribbles_from_truth(truth, fraction=0.05)
    cuts = [np.s_[:96, :96], np.s_[96:192, :96], np.s_[:96, 96:192]]
    return [(image.data[c], scribbles[c]) for c in cuts]


@pytest.fixture(scope="session")
def forest_file(tmp_path_factory, sandstone_crops):
    """A small forest saved to a model file."""
    images = [image for image, _ in sandstone_crops]
    layers = [layer for _, layer in sandstone_crops]
    rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"], n_estimators=10,
                                        n_jobs=1)
    path = tmp_path_factory.mktemp("model") / "rf.safetensors"
    rf.fit(images, layers, progress=False).save(path)
    return path
