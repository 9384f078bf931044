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


def test_dimmed_copy_dims_each_painted_object_by_its_own_factor_keeping_the_noise():
    from scipy import ndimage

    from microlab.deep.augment import dimmed_copy

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:256, :256]
    objects = (yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 < 64  # 64 discs of radius 8
    plane = (1000 + rng.normal(0, 20, (256, 256)) + 2000 * objects).astype(np.uint16)[None]
    layer = np.where(ndimage.binary_dilation(objects, iterations=3), 0, 1).astype(np.uint8)
    layer[ndimage.binary_erosion(objects)] = 3
    layer[objects & (layer != 3)] = 2
    layer[:, 128:] = 0  # the right half's discs are not painted
    out = dimmed_copy(plane, layer, np.random.default_rng(1))
    assert out.shape == plane.shape and out.dtype == np.uint16
    discs, n = ndimage.label(objects)
    gains = (ndimage.mean(out[0].astype(float), discs, range(1, n + 1)) - 1000) / 2000
    inside = ndimage.labeled_comprehension(layer, discs, range(1, n + 1), np.max, int, 0) == 3
    painted = gains[inside]
    assert painted.min() < 0.2 and painted.max() > 0.7  # some dim, others nearly intact
    assert 0.2 < np.median(painted) < 0.45  # evenly in log: 0.1 ** 0.5 = 0.32 in the middle
    assert np.mean(painted > 0.5) > 0.1
    for label in 1 + np.flatnonzero(inside):  # one factor per object: its texture stays
        pixels = out[0][ndimage.binary_erosion(discs == label, iterations=2)].astype(float)
        assert abs(pixels.mean() - 1000 - 2000 * gains[label - 1]) < 15
        assert 12 < pixels.std() < 30  # as noisy as the background, however dim
    background = layer == 1
    assert abs(np.median(out[0][background]) - 1000) < 5  # the background level stays
    assert 15 < out[0][background].std() < 25
    assert not np.array_equal(out, dimmed_copy(plane, layer, np.random.default_rng(2)))
    floats = dimmed_copy(plane.astype(np.float32), layer, np.random.default_rng(1))
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(dimmed_copy(plane, np.where(layer == 3, 0, layer), rng),
                                  plane)  # no painted interior: nothing to dim
    for low in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match="low must be above 0 and at most 1"):
            dimmed_copy(plane, layer, rng, low=low)
    with pytest.raises(ValueError, match="does not fit a plane"):
        dimmed_copy(plane, layer[:100], rng)


def _discs(shape=(128, 128), period=32, radius=7):
    """Discs (balls in 3D) on a grid, their labels and the grid's coordinates."""
    from scipy import ndimage

    grid = np.indices(shape)
    inside = sum((g % period - period // 2) ** 2 for g in grid) < radius**2
    return inside, ndimage.label(inside)[0], grid


def test_dim_blobs_counts_unpainted_blobs_much_dimmer_than_the_painted_objects():
    """Unpainted discs a tenth as bright as the painted ones are dim; as bright, they are
    counted but not dim; a disc's glow on the background ring does not hide dim ones, and
    texture on a broad plateau (a cell body) is not a dim blob; with several channels the
    one where the painted objects stand out decides; no painted object or no background:
    nothing to compare with."""
    from microlab.deep.augment import dim_blobs, many_dim
    from microlab.labels.boundary import instance_annotations, three_classes

    discs, objects, grid = _discs()
    xx = grid[-1]
    rng = np.random.default_rng(0)
    painted = np.where(xx < 64, objects, 0)
    layer = three_classes([instance_annotations(painted, True, width=2)])[0]
    layer[:, 64:] = 0  # the right half unannotated: 8 discs nobody painted
    for right, expected in ((0.1, 8), (1.0, 0)):
        image = 100 + rng.normal(0, 5, discs.shape) + 1000 * discs * np.where(xx < 64, 1, right)
        dim, blobs = dim_blobs([image[None]], [layer])
        assert (dim, blobs) == (expected, 8)
        assert many_dim(dim, blobs) is (expected == 8)
    # dim texture on a cell body (a broad plateau) is not a dim nucleus
    from scipy import ndimage

    from microlab.deep import augment

    yy = grid[0]
    body = (xx >= 72) & (yy >= 8) & (yy < 120)  # no discs on the right: one cell's body
    texture = ndimage.gaussian_filter(rng.normal(0, 1, discs.shape), 3)
    cells = (100 + rng.normal(0, 5, discs.shape) + 1000 * discs * (xx < 64)
             + body * (200 + 300 * texture))
    dim, bumps = dim_blobs([cells[None]], [layer])
    assert dim == 0 and bumps >= 5
    with pytest.MonkeyPatch.context() as patch:  # its bumps are dim, but not blobs
        patch.setattr(augment, "DIM_PROMINENT", -np.inf)
        assert dim_blobs([cells[None]], [layer]) == (bumps, bumps)
    # a second channel of noise alone does not change the count
    noise = rng.normal(0, 5, discs.shape)
    assert dim_blobs([np.stack([noise, image]) * 1.0], [layer]) == (0, 8)
    assert dim_blobs([image[None]], [np.where(layer == 3, 0, layer)]) == (0, 0)
    assert dim_blobs([image[None]], [np.where(layer == 1, 0, layer)]) == (0, 0)


def test_dim_blobs_measures_contrast_above_an_uneven_background():
    """Stray light lifting one side of the field (a ramp of three times the dim discs'
    contrast) does not hide the dim discs: their contrast is taken above the background
    near them, not above one level for the whole plane, whose spread the ramp inflates."""
    from microlab.deep import augment
    from microlab.deep.augment import dim_blobs
    from microlab.labels.boundary import instance_annotations, three_classes

    discs, objects, grid = _discs()
    xx = grid[-1]
    painted = np.where(xx < 64, objects, 0)
    layer = three_classes([instance_annotations(painted, True, width=2)])[0]
    layer[:, 64:] = 0
    rng = np.random.default_rng(1)
    ramp = 300.0 * grid[0] / grid[0].max()  # brighter towards the bottom, both halves
    image = (100 + ramp + rng.normal(0, 5, discs.shape)
             + 1000 * discs * np.where(xx < 64, 1, 0.1))
    assert dim_blobs([image[None]], [layer]) == (8, 8)
    with pytest.MonkeyPatch.context() as patch:  # one level for the plane: lost in the ramp
        patch.setattr(augment, "DIM_LOCAL", False)
        assert dim_blobs([image[None]], [layer])[0] < 8


def test_background_surface_follows_a_ramp_under_the_objects():
    from microlab.deep.augment import background_surface

    discs, _, grid = _discs()
    ramp = 1.0 * grid[-1]  # 127 over the image: an eighth of the discs' height
    surface = background_surface(100 + ramp + 1000 * discs, 7)
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(surface - (100 + ramp))[inner].max() < 30  # under 3 % of the discs' height
    assert np.all(np.diff(surface[64, 16:-16]) > 0)  # rises with the ramp


def test_dim_blobs_does_not_count_small_bright_specks():
    """Specks a third of a nucleus' radius across, as bright as the painted nuclei, look dim
    once smoothed at half a radius; on the finely smoothed image they are as bright as the
    nuclei, so they are not dim (without the fine test they would all be), while dim
    nuclei beside them still are."""
    from microlab.deep import augment
    from microlab.deep.augment import dim_blobs, many_dim
    from microlab.labels.boundary import instance_annotations, three_classes

    discs, objects, grid = _discs()
    yy, xx = grid
    specks = ((yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 < 2.5**2) & (xx >= 64)
    rng = np.random.default_rng(2)
    painted = np.where(xx < 64, objects, 0)
    layer = three_classes([instance_annotations(painted, True, width=2)])[0]
    layer[:, 64:] = 0  # the right half unannotated: 8 specks nobody painted
    image = 100 + rng.normal(0, 5, discs.shape) + 1000 * ((discs & (xx < 64)) | specks)
    dim, blobs = dim_blobs([image[None]], [layer])
    assert (dim, blobs) == (0, 8) and not many_dim(dim, blobs)
    with pytest.MonkeyPatch.context() as patch:  # smoothed at half a radius they are dim
        patch.setattr(augment, "DIM_FINE_BELOW", np.inf)
        assert dim_blobs([image[None]], [layer]) == (8, 8)
    # four of the specks replaced by dim nuclei: those four are dim
    dim_nuclei = discs & (xx >= 64) & (yy < 64)
    bright = (discs & (xx < 64)) | (specks & (yy >= 64))
    image = 100 + rng.normal(0, 5, discs.shape) + 1000 * bright + 100 * dim_nuclei
    assert dim_blobs([image[None]], [layer]) == (4, 8)


def test_dim_blobs_works_on_volumes():
    """3D planes (C, Z, Y, X): balls nobody painted, a tenth as bright, are dim."""
    from microlab.deep.augment import dim_blobs
    from microlab.labels.boundary import instance_annotations, three_classes

    balls, objects, grid = _discs((32, 64, 64), period=32, radius=6)
    xx = grid[-1]
    noise = np.random.default_rng(1).normal(0, 5, balls.shape)
    image = 100 + noise + 1000 * balls * np.where(xx < 32, 1, 0.1)
    layer = three_classes([instance_annotations(np.where(xx < 32, objects, 0), True,
                                                width=1)])[0]
    layer[..., 32:] = 0
    assert dim_blobs([image[None]], [layer]) == (2, 2)
