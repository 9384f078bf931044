import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from microlab.deep import augment_examples  # noqa: E402
from microlab.deep.augment import make_augmenter  # noqa: E402

from .helpers import two_phase  # noqa: E402


def test_augmentation_moves_labels_with_the_image_and_invents_nothing():
    rng = np.random.default_rng(1)
    labels = np.zeros((1, 1, 64, 64), np.float32)
    labels[0, 0, 8:30, 8:40] = 1
    labels[0, 0, 35:60, 20:50] = 2
    labels[0, 0, 10:20, 45:60] = 3
    labels[0, 0, rng.random((64, 64)) < 0.05] = 0  # scattered unlabelled pixels
    y = torch.from_numpy(labels).repeat(16, 1, 1, 1)
    x = 0.25 * y  # image = f(labels)
    torch.manual_seed(0)
    xa, ya = make_augmenter(intensity=False, resample="nearest")(x, y)
    assert torch.equal(xa, 0.25 * ya)  # same transform on both; padding is unlabelled
    assert set(torch.unique(ya).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert not torch.equal(ya, y)  # something did move
    assert (ya == 0).float().mean() >= (y == 0).float().mean() * 0.5


def test_augment_examples_keep_label_values_and_leave_outside_unlabelled():
    image, _, scribbles = two_phase(64)
    images, labels = augment_examples(image, scribbles, n=6, seed=3)
    assert images.shape == (6, 1, 64, 64) and labels.shape == (6, 64, 64)
    assert set(np.unique(labels)) <= set(np.unique(scribbles))
    assert np.isfinite(images).all()
    full = np.ones((64, 64), np.uint8)  # a fully labelled image: only padding can become 0
    _, labels = augment_examples(image, full, n=6, seed=4, heavy=True)
    corners = labels[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert set(np.unique(labels)) <= {0, 1} and (labels == 1).mean() > 0.3
    assert (corners == 0).any() or (labels == 1).all(axis=(1, 2)).any()
