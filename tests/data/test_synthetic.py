"""microlab.data.synthetic: touching nuclei with ground truth."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from microlab.data.synthetic import synthetic_nuclei
from microlab.measure import objects


def touching_pairs(labels):
    """Number of distinct label pairs that touch (4-connectivity)."""
    pairs = set()
    for axis in range(labels.ndim):
        a = np.moveaxis(labels, axis, 0)
        left, right = a[:-1].ravel(), a[1:].ravel()
        both = (left > 0) & (right > 0) & (left != right)
        pairs |= set(zip(left[both].tolist(), right[both].tolist(), strict=True))
    return len({tuple(sorted(p)) for p in pairs})


def test_the_same_seed_gives_the_same_image():
    a, la = synthetic_nuclei((96, 96), seed=3)
    b, lb = synthetic_nuclei((96, 96), seed=3)
    c, _ = synthetic_nuclei((96, 96), seed=4)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


def test_labels_number_the_nuclei_placed_and_match_the_image():
    image, labels = synthetic_nuclei((128, 128), n=25, seed=0)
    assert image.shape == labels.shape == (128, 128)
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert sorted(np.unique(labels).tolist()) == list(range(26))
    # nuclei are brighter than the background
    assert image[labels > 0].mean() > 3 * image[labels == 0].mean()


def test_touching_nuclei_touch_and_separate_ones_do_not():
    _, clumped = synthetic_nuclei((256, 256), n=60, seed=1)
    _, apart = synthetic_nuclei((256, 256), n=30, touching=False, seed=1)
    assert touching_pairs(clumped) >= 15
    assert touching_pairs(apart) == 0
    assert ndi.label(apart > 0)[1] == apart.max()


def test_sizes_follow_the_radius_range():
    _, labels = synthetic_nuclei((256, 256), n=40, radius=(5, 9), touching=False,
                                 noise=0, seed=2)
    table = objects(labels)
    inside = table[(table["centroid_y_px"].between(12, 244))
                   & (table["centroid_x_px"].between(12, 244))]
    radius = inside["equivalent_diameter_px"] / 2
    assert radius.min() > 4 and radius.max() < 10


def test_a_3d_stack_with_anisotropic_spacing_has_flat_nuclei_in_voxels():
    image, labels = synthetic_nuclei((24, 64, 64), n=8, radius=(6, 8), spacing=(2, 1, 1),
                                     touching=False, seed=5)
    assert image.shape == labels.shape == (24, 64, 64)
    table = objects(labels, spacing=(2, 1, 1))
    ref = objects(labels)
    # round in µm, but half as tall in slices as wide in pixels
    z_extent = [np.ptp(np.nonzero(labels == k)[0]) + 1 for k in table["label"]]
    y_extent = [np.ptp(np.nonzero(labels == k)[1]) + 1 for k in table["label"]]
    assert np.median(np.array(z_extent) / np.array(y_extent)) < 0.7
    assert (table["volume_µm³"] == 2 * ref["volume_px³"]).all()


def test_uint16_output_uses_a_12_bit_range():
    image, _ = synthetic_nuclei((64, 64), n=5, dtype=np.uint16)
    assert image.dtype == np.uint16 and 1000 < image.max() <= 4095 * 1.5


def test_noise_and_blur_can_be_turned_off():
    image, labels = synthetic_nuclei((64, 64), n=5, noise=0, blur=0, illumination=0)
    assert np.allclose(image[labels == 0], image[labels == 0].flat[0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"shape": (10,)}, ValueError),
        ({"shape": (10, 0)}, ValueError),
        ({"radius": (5, 2)}, ValueError),
        ({"radius": 3}, TypeError),
        ({"noise": -1}, ValueError),
        ({"illumination": 1}, ValueError),
        ({"n": -2}, ValueError),
        ({"spacing": (1, 0)}, ValueError),
        ({"dtype": np.int8}, TypeError),
        ({"elongation": -0.1}, ValueError),
        ({"elongation": 3}, ValueError),
        ({"bright": 1.5}, ValueError),
        ({"chromatin": 0.3}, TypeError),
        ({"chromatin": (1.2, 2.0)}, ValueError),
        ({"chromatin": (0.2, 0)}, ValueError),
    ],
)
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error):
        synthetic_nuclei(**kwargs)


def aspect_ratios(labels):
    from skimage.measure import regionprops

    return np.array([p.axis_major_length / p.axis_minor_length
                     for p in regionprops(labels) if p.area > 30])


def test_the_look_options_default_to_the_images_drawn_before_them():
    # the benchmarks' made scenes must not change: explicit defaults draw the same image
    plain = synthetic_nuclei((96, 96), seed=7)
    spelled = synthetic_nuclei((96, 96), seed=7, elongation=0.25, chromatin=(0.12, 1.5),
                               bright=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(plain, spelled, strict=True))


def test_elongation_draws_longer_nuclei():
    _, round_ish = synthetic_nuclei((384, 384), radius=(8, 12), seed=2)
    _, long = synthetic_nuclei((384, 384), radius=(8, 12), seed=2, elongation=0.7)
    assert np.median(aspect_ratios(round_ish)) < 1.3 < np.median(aspect_ratios(long))
    assert aspect_ratios(long).max() > 2.5 > aspect_ratios(round_ish).max()


def test_coarse_chromatin_darkens_patches_inside_the_nuclei():
    def spread(labels, image):  # median relative spread of the grey levels inside a nucleus
        inner = ndi.binary_erosion(labels > 0, iterations=2) * labels
        return np.median([image[inner == k].std() / image[inner == k].mean()
                          for k in np.unique(inner)[1:] if (inner == k).sum() > 40])

    fine = synthetic_nuclei((256, 256), radius=(9, 12), seed=5, noise=0.0, blur=0.0)
    coarse = synthetic_nuclei((256, 256), radius=(9, 12), seed=5, noise=0.0, blur=0.0,
                              chromatin=(0.35, 3.0))
    assert np.array_equal(fine[1], coarse[1])  # the same nuclei, another texture
    assert spread(coarse[1], coarse[0]) > 1.5 * spread(fine[1], fine[0])


def test_a_bright_share_draws_a_few_condensed_nuclei_far_above_the_rest():
    image, labels = synthetic_nuclei((384, 384), radius=(8, 12), seed=3, bright=0.1,
                                     noise=0.0, blur=0.0)
    means = ndi.mean(image, labels, np.arange(1, labels.max() + 1))
    typical = np.median(means)
    share = np.mean(means > 1.8 * typical)
    assert 0.02 < share < 0.25
    assert means.max() > 2.5 * typical
    plain_image, plain = synthetic_nuclei((384, 384), radius=(8, 12), seed=3, noise=0.0,
                                          blur=0.0)
    plain_means = ndi.mean(plain_image, plain, np.arange(1, plain.max() + 1))
    assert plain_means.max() < 2.5 * np.median(plain_means)
