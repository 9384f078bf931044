import numpy as np
import pytest

from microlab.labels import paint_disk, scribbles_from_truth


def test_scribbles_cover_about_the_requested_fraction_of_each_class():
    truth = np.ones((200, 200), np.uint8)
    truth[:, 150:] = 2
    truth[:20, :20] = 3
    marks = scribbles_from_truth(truth, fraction=0.02, radius=3, seed=1)
    for k in (1, 2):
        share = (marks == k).sum() / (truth == k).sum()
        assert 0.02 <= share < 0.03
    # a class smaller than one brush dab's share still gets a dab, and no more than one
    assert 8 <= (marks == 3).sum() <= 29
    # scribbles never cross into another class
    assert np.all((marks == 0) | (marks == truth))


def test_scribbles_are_reproducible_by_seed():
    truth = np.random.default_rng(0).integers(1, 4, (64, 64)).astype(np.uint8)
    a = scribbles_from_truth(truth, 0.05, seed=3)
    assert np.array_equal(a, scribbles_from_truth(truth, 0.05, seed=3))
    assert not np.array_equal(a, scribbles_from_truth(truth, 0.05, seed=4))


def test_scribbles_work_in_3d():
    truth = np.ones((10, 30, 30), np.uint8)
    truth[:, :, 15:] = 2
    marks = scribbles_from_truth(truth, 0.05, radius=2)
    assert set(np.unique(marks)) == {0, 1, 2}


def test_paint_and_erase_share_one_function():
    layer = np.zeros((9, 9), np.uint8)
    assert paint_disk(layer, (4, 4), 2, 1) == 13
    assert paint_disk(layer, (4, 4), 1, 0) == 5
    assert (layer == 1).sum() == 8


def test_paint_off_the_edge_is_clipped():
    layer = np.zeros((5, 5), np.uint8)
    assert paint_disk(layer, (-1, 2), 1.5, 2) == 3


def test_bad_fraction_is_rejected():
    with pytest.raises(ValueError, match="fraction"):
        scribbles_from_truth(np.ones((4, 4), np.uint8), 0)
