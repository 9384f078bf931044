"""Real nuclei cut out of real images and packed anew (microlab.data.real_nuclei)."""

import numpy as np
import pytest

from microlab.data import bbbc022
from microlab.data.real_nuclei import (
    DEGRADATIONS,
    collage,
    degrade,
    isolated_nuclei,
    nuclei_sources,
    split_nuclei,
)


@pytest.fixture(scope="module")
def found():
    return isolated_nuclei(bbbc022().data[0])


def test_isolated_nuclei_are_single_and_lie_above_the_background(found):
    nuclei, _, noise = found
    assert len(nuclei) >= 5 and noise > 0
    for light, mask, radius in nuclei:
        assert light.shape == mask.shape and mask.any()
        assert light[mask].mean() > 3 * noise  # above the background, which is taken off
        assert abs(radius - np.sqrt(mask.sum() / np.pi)) < 1e-6
        assert not mask[0].any() and not mask[:, 0].any()  # a margin all round


def test_the_split_halves_are_disjoint_and_cover_every_nucleus(found):
    nuclei = found[0]
    first, second = split_nuclei(nuclei)
    assert len(first) + len(second) == len(nuclei) and len(first) - len(second) in (0, 1)
    assert not {id(n) for n in first} & {id(n) for n in second}


def test_a_collage_packs_nuclei_touching_with_their_own_masks(found):
    nuclei, background, noise = found
    image, truth = collage(nuclei, background, noise, radius=8, density=0.4, size=128, seed=1)
    again, _ = collage(nuclei, background, noise, radius=8, density=0.4, size=128, seed=1)
    np.testing.assert_array_equal(image, again)  # seeded
    assert image.shape == truth.shape == (128, 128) and image.dtype == np.float32
    assert 0.3 < (truth > 0).mean() < 0.6  # about the density asked for
    areas = np.bincount(truth.ravel())[1:]
    assert len(areas) >= 10 and np.median(np.sqrt(areas / np.pi)) == pytest.approx(8, rel=0.3)
    assert image[truth > 0].mean() > image[truth == 0].mean() + 3 * noise


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_degradations_change_the_image_and_unknown_ones_are_refused(found, kind):
    nuclei, background, noise = found
    image, truth = collage(nuclei, background, noise, radius=8, density=0.4, size=96, seed=2)
    worse = degrade(kind, image, truth, background, noise, 8, seed=3)
    assert worse.shape == image.shape and not np.allclose(worse, image)
    with pytest.raises(ValueError, match="unknown degradation 'fog'"):
        degrade("fog", image, truth, background, noise, 8, seed=3)


def test_nuclei_sources_read_the_shared_images_or_say_which_is_missing(shared_data, tmp_path):
    images = nuclei_sources(shared_data)
    assert sorted(images) == ["bbbc022", "bbbc038", "osteosarcoma"]
    assert all(image.ndim == 2 for image in images.values())
    with pytest.raises(FileNotFoundError, match=r"Osteosarcoma_01\.tif"):
        nuclei_sources(tmp_path)
