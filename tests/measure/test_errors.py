"""object_errors / error_kinds / viz.show_errors: why objects were not matched."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import microlab
from microlab.measure import average_precision, error_kinds, object_errors


def scene():
    """One of each kind: a match, three nuclei found as one, a nucleus missed, one found in
    three pieces, one found twice too large, and a speck of debris."""
    truth = np.zeros((40, 60), int)
    found = np.zeros((40, 60), int)
    truth[2:8, 2:8] = 1
    found[2:8, 2:8] = 11  # matched
    truth[12:18, 2:8], truth[12:18, 8:14], truth[12:18, 14:20] = 2, 3, 4
    found[12:18, 2:20] = 12  # merging 2, 3 and 4
    truth[24:30, 2:8] = 5  # missed
    truth[2:11, 30:39] = 6
    found[2:11, 30:33], found[2:11, 33:36], found[2:11, 36:39] = 13, 14, 15  # split in three
    truth[20:26, 30:36] = 7
    found[20:32, 30:42] = 16  # misshapen: holds all of 7, IoU 36 / 144
    found[36:38, 56:58] = 17  # spurious
    return truth, found


def test_each_kind_of_error_is_counted_once():
    truth, found = scene()
    assert object_errors(truth, found) == {
        "true": 7, "found": 7, "matched": 1,
        "merged": 3, "missed": 1, "split": 1, "misshapen": 1,
        "merging": 1, "spurious": 1, "fragments": 4,  # 3 pieces + the misshapen one
    }


def test_each_object_gets_its_kind():
    truth, found = scene()
    true_kinds, found_kinds = error_kinds(truth, found)
    assert true_kinds == {1: "matched", 2: "merged", 3: "merged", 4: "merged", 5: "missed",
                          6: "split", 7: "misshapen"}
    assert found_kinds == {11: "matched", 12: "merging", 13: "fragments", 14: "fragments",
                           15: "fragments", 16: "fragments", 17: "spurious"}


@pytest.mark.parametrize("iou", [0.3, 0.5, 0.75])
def test_counts_add_up_to_the_objects_and_to_average_precision(iou):
    truth = microlab.data.synthetic_nuclei((128, 128), seed=3)[1]
    rng = np.random.default_rng(0)
    found = microlab.instances(np.roll(truth, 1, axis=0) > 0)
    found[rng.random(found.shape) < 0.002] = found.max() + 1  # specks
    errors = object_errors(truth, found, iou=iou)
    assert errors["true"] == len(np.unique(truth)) - 1
    assert errors["found"] == len(np.unique(found)) - 1
    assert sum(errors[k] for k in ("matched", "merged", "missed", "split",
                                   "misshapen")) == errors["true"]
    assert sum(errors[k] for k in ("matched", "merging", "spurious",
                                   "fragments")) == errors["found"]
    assert errors["matched"] / (errors["true"] + errors["found"] - errors["matched"]) == \
        pytest.approx(average_precision(truth, found, iou=iou))
    assert errors["spurious"] >= 1


def test_below_one_half_each_object_is_matched_once():
    truth = np.zeros((10, 20), int)
    truth[2:8, 2:8], truth[2:8, 8:14] = 1, 2
    found = np.zeros((10, 20), int)
    found[2:8, 2:14] = 1  # IoU 0.5 with both
    errors = object_errors(truth, found, iou=0.3)
    assert errors["matched"] == 1 and errors["merged"] == 1


def test_empty_images_have_no_errors():
    empty = np.zeros((5, 5), int)
    assert object_errors(empty, empty) == dict.fromkeys(
        ["true", "found", "matched", "merged", "missed", "split", "misshapen", "merging",
         "spurious", "fragments"], 0)


@pytest.mark.parametrize("iou, message", [([0.5, 0.75], "one threshold"),
                                          (0.0, r"\(0, 1\]"), (1.5, r"\(0, 1\]")])
def test_object_errors_refuses_a_bad_threshold(iou, message):
    truth, found = scene()
    with pytest.raises(ValueError, match=message):
        object_errors(truth, found, iou=iou)


def test_object_errors_refuses_images_of_different_shapes():
    with pytest.raises(ValueError, match="same image"):
        object_errors(np.zeros((5, 5), int), np.zeros((5, 6), int))


def test_show_errors_outlines_found_objects_by_kind_and_lost_ones_in_cyan():
    from matplotlib.colors import to_rgba

    from microlab.viz.objects import _ERROR_COLOURS, _LOST_COLOUR

    truth, found = scene()
    ax = microlab.viz.show_errors(np.ones(truth.shape), truth, found, title="errors")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["matched: 1", "merging: 1", "fragments: 4", "spurious: 1",
                      "true objects lost: 6"]
    rgba = ax.images[-1].get_array()
    assert np.allclose(rgba[12, 10], to_rgba(_ERROR_COLOURS["merging"]))  # merge's outline
    assert np.allclose(rgba[36, 56], to_rgba(_ERROR_COLOURS["spurious"]))
    assert np.allclose(rgba[24, 4], to_rgba(_LOST_COLOUR))  # the missed nucleus
    assert np.allclose(rgba[5, 5], 0)  # inside the matched one: nothing drawn
    assert ax.get_title() == "errors"


def test_show_errors_draws_one_slice_of_a_stack():
    truth, found = scene()
    ax = microlab.viz.show_errors(None, np.stack([truth] * 3), np.stack([found] * 3), z=1)
    assert ax.images[-1].get_array().shape == (*truth.shape, 4)
