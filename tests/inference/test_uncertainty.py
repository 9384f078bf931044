"""Uncertainty maps and the ranking of regions to annotate next."""

import numpy as np
import pytest

import microlab
from microlab.inference import rank_regions, uncertainty, worst_regions


def two_region_proba():
    """Left half confident (0.95 / 0.05), right half ambiguous (0.5 / 0.5)."""
    proba = np.empty((2, 64, 128), np.float32)
    proba[0, :, :64], proba[1, :, :64] = 0.95, 0.05
    proba[:, :, 64:] = 0.5
    return proba


@pytest.mark.parametrize("kind", ["margin", "entropy"])
def test_uncertainty_is_low_where_confident_and_high_where_ambiguous(kind):
    u = uncertainty(two_region_proba(), kind)
    assert u.dtype == np.float32 and u.shape == (64, 128)
    assert u[:, :64].max() < 0.35 and np.allclose(u[:, 64:], 1.0)
    assert 0.0 <= u.min() and u.max() <= 1.0


def test_uncertainty_rejects_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        uncertainty(two_region_proba(), "variance")
    with pytest.raises(ValueError, match="class axis first"):
        uncertainty(np.zeros(5))
    assert not uncertainty(np.ones((1, 4, 4))).any()


class FixedProba:
    """A stand-in Segmenter that returns a given probability map per image."""

    def __init__(self, probas):
        self.classes = ["a", "b"]
        self.probas = probas

    def predict_proba(self, image):
        return self.probas[int(np.asarray(image).flat[0])]


def test_worst_regions_puts_the_ambiguous_region_first_across_images():
    calm = np.zeros((2, 64, 128), np.float32)
    calm[0] = 1.0
    model = FixedProba([calm, two_region_proba()])
    images = [np.full((64, 128), 0), np.full((64, 128), 1)]
    regions = worst_regions(model, images, n=3, size=64)
    assert regions[0][0] == 1 and regions[0][1] == (slice(0, 64), slice(64, 128))
    assert regions[0][2] == pytest.approx(1.0)
    assert [score for *_, score in regions] == sorted([s for *_, s in regions], reverse=True)


def test_rank_regions_ignores_unpredicted_pixels_and_tiles_stacks_per_plane():
    maps = np.full((3, 20, 20), np.nan, np.float32)
    maps[2, :10, 10:] = 0.7
    maps[1] = 0.1
    (index, where, score), *rest = rank_regions([maps], n=10, size=10)
    assert (index, where, round(score, 2)) == (0, (slice(2, 3), slice(0, 10), slice(10, 20)), 0.7)
    assert len(rest) == 4
    with pytest.raises(ValueError, match="n must be a positive integer"):
        rank_regions([maps], n=0)


def test_worst_regions_with_a_random_forest_are_exported_at_top_level():
    image, truth = microlab.data.sandstone()
    rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"]).fit(
        image, microlab.labels.scribbles_from_truth(truth, 0.005), progress=False)
    regions = microlab.worst_regions(rf, [image], n=4, size=128)
    assert len(regions) == 4 and all(0 <= s <= 1 for *_, s in regions)
    u = microlab.uncertainty(rf.predict_proba(image))
    top = regions[0][1]
    assert u[top].mean() == pytest.approx(regions[0][2], rel=1e-5)
    assert u[top].mean() >= u.mean()
