import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab.deep.data import PatchSampler, class_weights, hold_out  # noqa: E402


def test_patches_are_drawn_around_labelled_pixels_rare_classes_as_often():
    labels = np.zeros((100, 100), np.int64)
    labels[10, 10] = 1
    labels[50:90, 50:90] = 2  # 1600 pixels of class 2, one of class 1
    image = np.zeros((1, 100, 100), np.float32)

    def share_of_rare(balanced):
        sampler = PatchSampler([image], [labels], 16, 200, seed=0, balanced=balanced)
        patches = [sampler[i] for i in range(200)]
        assert all(bool((y > 0).any()) for _, y in patches)  # always around a labelled pixel
        return np.mean([bool((y == 1).any()) for _, y in patches])

    assert 0.3 < share_of_rare(True) < 0.7  # each class equally often
    assert share_of_rare(False) < 0.05  # classes as often as they are painted
    x, y = PatchSampler([image], [labels], 16, 1, seed=0)[0]
    assert x.shape == (1, 16, 16) and y.shape == (1, 16, 16) and x.dtype == torch.float32


def test_hold_out_keeps_every_class_for_training():
    rng = np.random.default_rng(0)
    layer = np.zeros((96, 96), np.int64)
    layer[::4] = 1
    layer[2::4, :48] = 2
    train, val = hold_out([layer], rng)
    assert val is not None and (val[0] > 0).sum() >= 20
    assert set(np.unique(train[0])) == {0, 1, 2}
    np.testing.assert_array_equal(train[0] + val[0], layer)
    few = np.zeros((96, 96), np.int64)
    few[5, 5], few[50, 50] = 1, 2
    assert hold_out([few], rng) == ([few], None)  # too few pixels to hold any out


def test_hold_out_of_dense_labels_and_from_sources():
    rng = np.random.default_rng(1)
    dense = np.ones((96, 96), np.int64)
    dense[:, 48:] = 2  # every pixel labelled: validation is still held out
    train, val = hold_out([dense], rng)
    assert val is not None and (val[0] > 0).sum() >= 20
    np.testing.assert_array_equal(train[0] + val[0], dense)
    strokes = np.zeros((96, 96), np.int64)
    strokes[::3] = dense[::3]  # what a person painted
    _, before = hold_out([strokes], np.random.default_rng(2))
    train, val = hold_out([dense], np.random.default_rng(2), sources=[strokes])
    np.testing.assert_array_equal(val[0], before[0])  # the person's pixels, same blocks
    blocks = np.zeros((96, 96), bool)  # the 16-pixel blocks holding validation pixels
    for y, x in zip(*np.nonzero(val[0]), strict=True):
        blocks[y // 16 * 16 : y // 16 * 16 + 16, x // 16 * 16 : x // 16 * 16 + 16] = True
    assert not train[0][blocks].any()  # nothing there is trained on, pseudo or not
    assert (train[0][~blocks] == dense[~blocks]).all()


def test_class_weights_favour_rare_classes():
    weights = class_weights([np.array([[1] * 90 + [2] * 10 + [0] * 50])], 3)
    assert weights[1] > weights[0] and weights[2] == 1.0  # absent class: weight 1
    assert weights[:2].mean() == pytest.approx(1.0)


def test_pretraining_batches_shuffle_classes_and_forest_channels_alike():
    from microlab.deep.data import TaskBatches

    labels = np.ones((1, 40, 40), np.int64)
    labels[0, :, 20:] = 2
    labels[0, :5] = 3
    images = np.zeros((1, 5, 40, 40), np.float32)  # image, then 4 forest channels
    images[0, 0] = 0.5
    for c in (1, 2, 3):
        images[0, c] = labels[0] == c
    batches = iter(TaskBatches({"a": (images, labels)}, 32, 8, 0, classes={"a": 3}))
    orders = set()
    for _ in range(3):
        x, y, _ = next(batches)
        for b in range(len(x)):
            for slot in (1, 2, 3):  # the forest channel of each slot is that slot's class
                np.testing.assert_array_equal(x[b, slot].numpy() > 0.5, y[b].numpy() == slot)
            assert not x[b, 4].any()
            # where the smallest class (3, the top rows) went: shuffled among the slots
            orders.add(int(np.argmin([(y[b] == c).sum() for c in (1, 2, 3)])))
        assert (x[:, 0] != 0.5).any()  # gain and offset change the image only
    assert len(orders) > 1
