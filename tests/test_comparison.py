"""microlab.compare: tiers trained and scored on spatially blocked folds of strokes."""

import numpy as np
import pytest
from scipy import ndimage

import microlab
from microlab.comparison import Comparison, compare, spatial_folds
from microlab.data import SANDSTONE_CLASSES

FAST_FOREST = {"features": ["Gaussian σ=1.0", "Sobel"], "n_estimators": 10, "n_jobs": 1}


class ConstantSegmenter:
    """Predicts the first class everywhere: a tier that learns nothing."""

    kind = "constant"

    def __init__(self):
        self.classes, self.colors = [], []

    def fit(self, images, annotations, *, progress=True, stop=None):
        return self

    def predict_proba(self, image):
        proba = np.zeros((len(self.classes), *np.shape(getattr(image, "data", image))),
                         np.float32)
        proba[0] = 1
        return proba


@pytest.fixture(scope="module")
def sandstone():
    image, truth = microlab.data.sandstone()
    return image, microlab.labels.scribbles_from_truth(truth, 0.02)


@pytest.fixture(scope="module")
def result(sandstone):
    image, strokes = sandstone
    return compare(image, strokes, classes=SANDSTONE_CLASSES, progress=False, tiers={
        "forest": microlab.RandomForestSegmenter(**FAST_FOREST),
        "constant": ConstantSegmenter(),
    })


def test_the_table_has_a_row_per_tier_and_a_column_per_class(result):
    assert isinstance(result, Comparison)
    assert list(result.table.index) == ["forest", "constant"]
    assert list(result.table.columns) == [
        *SANDSTONE_CLASSES, "mean IoU", "± folds", "fit s", "predict s"]
    ious = result.table[[*SANDSTONE_CLASSES, "mean IoU"]].to_numpy()
    assert np.all((ious >= 0) & (ious <= 1))
    assert (result.table[["fit s", "predict s"]].to_numpy() >= 0).all()


def test_a_tier_that_learns_nothing_scores_lower_and_is_not_recommended(result):
    assert result.table.loc["forest", "mean IoU"] > result.table.loc["constant", "mean IoU"] + 0.3
    assert result.recommendation.startswith("Use forest")
    assert "constant" in result.recommendation


def test_a_negligible_difference_is_on_par_even_when_the_folds_agree():
    import pandas as pd

    from microlab.comparison import _recommend

    table = pd.DataFrame({"mean IoU": [0.861, 0.858], "fit s": [0.3, 15.8]},
                         index=["Random Forest", "U-Net"])
    folds = {"Random Forest": [0.860, 0.862], "U-Net": [0.857, 0.859]}  # spread 0
    text = _recommend(table, folds, stopped=False)
    assert text.startswith("Random Forest and U-Net are on par") and "0.861 vs 0.858" in text
    folds["U-Net"] = [0.830, 0.832]
    table.loc["U-Net", "mean IoU"] = 0.831
    assert _recommend(table, folds, stopped=False).startswith("Use Random Forest")


def test_every_stroke_pixel_is_held_out_once(result, sandstone):
    assert result.held_out == np.count_nonzero(sandstone[1])
    assert result.folds == 3


def test_the_figure_has_a_bar_per_class_and_tier(result):
    ax = result.plot()
    assert len(ax.patches) == 2 * len(SANDSTONE_CLASSES)
    assert str(result.held_out) in ax.get_title()
    assert "forest" in repr(result) and "<table" in result._repr_html_()


@pytest.mark.parametrize("gap", [0, 5, 20])
def test_no_test_stroke_lies_within_the_gap_of_a_training_stroke(sandstone, gap):
    strokes = sandstone[1]
    plan = spatial_folds([strokes], 3, gap=gap, seed=1)
    held = np.zeros(strokes.shape, int)
    for (train,), (test,) in plan:
        distance = ndimage.distance_transform_edt(train == 0)
        assert distance[test > 0].min() > gap
        assert np.array_equal(test[test > 0], strokes[test > 0])
        held += test > 0
    assert np.array_equal(held, (strokes > 0).astype(int))


def test_folds_are_whole_blocks(sandstone):
    strokes = sandstone[1]
    block = 64
    owner = np.full(strokes.shape, -1)
    for f, (_, (test,)) in enumerate(spatial_folds([strokes], 3, block=block)):
        owner[test > 0] = f
    for y in range(0, 512, block):
        for x in range(0, 512, block):
            folds = set(np.unique(owner[y:y + block, x:x + block]).tolist()) - {-1}
            assert len(folds) <= 1


def test_the_same_seed_gives_the_same_folds_and_scores(sandstone):
    strokes = sandstone[1]
    first = spatial_folds([strokes], 3, seed=3)
    again = spatial_folds([strokes], 3, seed=3)
    other = spatial_folds([strokes], 3, seed=4)
    assert all(np.array_equal(a[1][0], b[1][0]) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a[1][0], b[1][0]) for a, b in zip(first, other, strict=True))
    image = sandstone[0].data[:256, :256]
    crop = strokes[:256, :256]
    tiers = {"forest": microlab.RandomForestSegmenter(**FAST_FOREST)}
    scores = [compare(image, crop, tiers=tiers, progress=False, seed=3).table
              for _ in range(2)]
    iou = [t.drop(columns=["fit s", "predict s"]) for t in scores]
    assert iou[0].equals(iou[1])


def test_too_few_strokes_say_which_class_and_how_many_more_places():
    image = np.random.default_rng(0).random((120, 120))
    strokes = np.zeros((120, 120), np.uint8)
    strokes[10:110:20, 10:110:20] = 1
    strokes[50:53, 50:53] = 2                       # nuclei painted in one place only
    with pytest.raises(ValueError, match=r"class 'nuclei' .* only 1 block .*at least 1 more"):
        compare(image, strokes, classes=["background", "nuclei"], tiers=["random-forest"])


def test_strokes_in_too_few_blocks_say_how_many_more_are_needed():
    strokes = np.zeros((120, 120), np.uint8)
    strokes[5:8, 5:8] = 1
    strokes[5:8, 10:13] = 2
    with pytest.raises(ValueError, match=r"only 1 block\(s\).*at least 2 more place"):
        spatial_folds([strokes], 3)


def test_bad_arguments_are_named():
    strokes = np.zeros((60, 60), np.uint8)
    strokes[::6, ::6] = 1
    strokes[3::6, 3::6] = 2
    with pytest.raises(ValueError, match="folds must be"):
        spatial_folds([strokes], 1)
    with pytest.raises(ValueError, match="unknown segmenter kind"):
        compare(np.zeros((60, 60)), strokes, tiers=["no-such-tier"])
    with pytest.raises(ValueError, match="objects='cells' is not a class"):
        compare(np.zeros((60, 60)), strokes, objects="cells")


def test_objects_are_scored_with_average_precision():
    image, truth = microlab.data.synthetic_nuclei((160, 160), touching=False, seed=2)
    strokes = np.zeros(truth.shape, np.uint8)
    keep = np.isin(truth, np.unique(truth)[1::2])   # every other nucleus, painted whole
    strokes[keep] = 2
    strokes[::9, ::9] = np.where(truth[::9, ::9] == 0, 1, strokes[::9, ::9])
    found = compare(image, strokes, classes=["background", "nuclei"], objects="nuclei",
                    tiers={"forest": microlab.RandomForestSegmenter(**FAST_FOREST)},
                    progress=False)
    # separate nuclei are easy; the unpainted ones beside the background dots are not
    # counted against the tier (they were, at 0.74, before only strokes reaching an
    # object's inner half made it count)
    assert 0.9 < found.table.loc["forest", "AP@0.5"] <= 1
    assert "AP@0.5" in found.recommendation and len(found.fold_ap["forest"]) == 3
    ax = found.plot()  # a bar per class, and one for the objects' AP
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "objects\nAP@0.5"
    assert len(ax.patches) == 3
    assert ax.patches[-1].get_height() == pytest.approx(found.table.loc["forest", "AP@0.5"])
    lost = found.table.loc["forest", ["objects merged", "objects missed"]]
    assert (lost >= 0).all() and lost.sum() <= (np.unique(truth[keep]) > 0).sum()


def test_with_objects_the_recommendation_follows_their_ap_not_the_pixels():
    import pandas as pd

    from microlab.comparison import _recommend_objects

    table = pd.DataFrame({"mean IoU": [0.86, 0.85], "AP@0.5": [0.70, 0.90],
                          "fit s": [0.2, 15.0]}, index=["forest", "net"])
    steady = {"forest": [0.68, 0.72], "net": [0.89, 0.91]}
    text = _recommend_objects(table, steady, {}, stopped=False)
    assert text.startswith("Use net for the objects") and "0.20 above forest" in text
    assert "mean IoU 0.850 vs 0.860" in text
    close = table.assign(**{"AP@0.5": [0.70, 0.71]})
    text = _recommend_objects(close, {"forest": [0.7, 0.7], "net": [0.71, 0.71]}, {}, False)
    assert "on par" in text and "less than 0.02 apart" in text and text.endswith("forest.")
    shaky = {"forest": [0.5, 0.9], "net": [0.95, 0.85]}  # the folds disagree on the order
    text = _recommend_objects(table, shaky, {}, stopped=False)
    assert "on par" in text and "within the fold-to-fold spread" in text


def test_held_out_objects_found_as_one_are_counted_as_merged():
    from microlab.comparison import _object_ap

    layer = np.zeros((24, 44), np.uint8)
    layer[::4, ::4] = 1  # background strokes
    layer[8:16, 4:12] = layer[8:16, 13:21] = layer[8:16, 22:30] = 2  # three painted nuclei
    layer[8:16, 12] = layer[8:16, 21] = 0  # a pixel apart
    foreground = np.zeros(layer.shape, np.float32)
    foreground[8:16, 4:30] = 1  # predicted as one blob
    ap, errors = _object_ap(np.stack([1 - foreground, foreground]), layer, layer, 2)
    assert ap == 0 and errors["merged"] == 3 and errors["merging"] == 1


def test_objects_nobody_painted_beside_a_stroke_are_not_false_positives():
    from microlab.comparison import _object_ap

    layer = np.zeros((40, 60), np.uint8)
    layer[8:16, 6:14] = 2                      # a painted nucleus
    layer[30, :] = 1                           # a background stroke along row 30
    layer[4, 40:56] = 1                        # and one through a false blob
    foreground = np.zeros(layer.shape, np.float32)
    foreground[8:16, 6:14] = 1                 # the painted nucleus, found
    foreground[22:31, 20:29] = 1               # a nucleus nobody painted, its edge on row 30
    foreground[1:8, 44:51] = 1                 # debris that the stroke on row 4 crosses
    ap, errors = _object_ap(np.stack([1 - foreground, foreground]), layer, layer, 2)
    assert errors["found"] == 2 and errors["spurious"] == 1 and errors["matched"] == 1
    assert ap == 0.5
    foreground[1:8, 44:51] = 0                 # without the debris, nothing is false
    ap, errors = _object_ap(np.stack([1 - foreground, foreground]), layer, layer, 2)
    assert ap == 1 and errors["found"] == 1


@pytest.mark.slow
def test_the_unet_tier_runs_on_a_tiny_budget(sandstone):
    pytest.importorskip("torch")
    image, strokes = sandstone
    found = compare(image.data[:256, :256], strokes[:256, :256], tiers=["unet"],
                    minutes=0.05, progress=False)
    assert list(found.table.index) == ["U-Net"]
    assert 0 <= found.table.loc["U-Net", "mean IoU"] <= 1


def test_compare_is_public_and_stays_the_function():
    import microlab.comparison  # importing the module must not shadow the function

    assert microlab.compare is compare
    assert "compare" in microlab.__all__
