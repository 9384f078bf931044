import numpy as np
import pytest

import microlab
from microlab.measure.scores import class_iou, mean_iou
from microlab.viz.segmentation import label_overlay


def test_class_iou_by_hand():
    truth = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    pred = np.array([[1, 2, 2, 2], [1, 1, 2, 2]])
    # class 1: 3 shared of 4 in the union; class 2: 4 shared of 5
    np.testing.assert_allclose(class_iou(pred, truth), [3 / 4, 4 / 5])
    assert mean_iou(pred, truth) == pytest.approx((0.75 + 0.8) / 2)


def test_class_iou_ignores_unknown_truth_and_reports_absent_classes_as_nan():
    truth = np.array([0, 0, 1, 1])
    pred = np.array([3, 3, 1, 1])
    ious = class_iou(pred, truth, classes=3)
    assert ious[0] == 1.0 and np.isnan(ious[1]) and np.isnan(ious[2])


def test_class_iou_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        class_iou(np.zeros((2, 2), int), np.zeros((3, 2), int))


def test_overlay_leaves_unlabelled_pixels_gray_and_tints_labelled_ones():
    image = np.linspace(0, 1, 16).reshape(4, 4)
    labels = np.zeros((4, 4), np.uint8)
    labels[0, 3] = 1
    rgb = label_overlay(image, labels, ["#00ff00"], alpha=0.5)
    assert np.allclose(rgb[2, 2, 0], rgb[2, 2, 1])          # gray where unlabelled
    assert rgb[0, 3, 1] > rgb[0, 3, 0]                        # green where labelled


def test_show_prediction_draws_a_legend_with_class_names():
    image, truth = microlab.data.sandstone()
    ax = microlab.viz.show_prediction(image.data, truth, classes=list("abcd"))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list("abcd")
