"""The packed forest engine gives scikit-learn's predict_proba, faster."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from microlab.classic._forest_kernel import pack_forest, predict_packed


def fitted(x, y, **params):
    params = {"n_estimators": 10, "random_state": 0, **params}
    return RandomForestClassifier(**params).fit(x, y)


def expected(forest, features):
    """scikit-learn's probabilities for a feature-major stack, as (C, *spatial)."""
    n = features.shape[0]
    proba = forest.predict_proba(features.reshape(n, -1).T)
    return proba.T.reshape(-1, *features.shape[1:]).astype(np.float32)


def assert_same(proba, reference):
    assert proba.dtype == np.float32
    assert proba.shape == reference.shape
    np.testing.assert_allclose(proba, reference, rtol=0, atol=1e-5)
    # the most probable class agrees wherever scikit-learn's choice is not a near tie
    ordered = np.sort(reference, axis=0)
    clear = ordered[-1] - ordered[-2] > 1e-5 if len(reference) > 1 else True
    assert np.array_equal(proba.argmax(0)[clear], reference.argmax(0)[clear])


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] + 0.5 * x[:, 2] > 0.3)
    noisy = rng.random(len(y)) < 0.1  # label noise: deeper trees
    y[noisy] = rng.integers(0, 4, size=noisy.sum())
    return fitted(x, y, n_estimators=12, max_depth=9, max_samples=0.5)


@pytest.mark.parametrize("spatial", [(37, 70), (3, 17, 33), (5000,), (1,), (16, 64)])
def test_probabilities_equal_sklearn_for_any_spatial_shape(forest, spatial):
    features = np.random.default_rng(1).normal(size=(6, *spatial)).astype(np.float32)
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


@pytest.mark.parametrize("shape, crop", [
    ((6, 45, 70), np.s_[:, 3:40, 5:66]),  # a 2D window cut to its chunk
    ((6, 5, 21, 33), np.s_[:, 1:4, 2:19, 7:30]),  # a 3D one
    ((8, 45, 70), np.s_[1:7, 3:40, 5:66]),  # some of the block's features
])
def test_a_crop_of_a_feature_block_is_read_in_place_as_its_copy(forest, shape, crop):
    from microlab.classic._forest_kernel import _checked_features

    view = np.random.default_rng(4).normal(size=shape).astype(np.float32)[crop]
    assert not view.flags.c_contiguous and _checked_features(view, 6) is view
    packed = pack_forest(forest)
    copy = np.ascontiguousarray(view)
    np.testing.assert_array_equal(predict_packed(packed, view), predict_packed(packed, copy))
    assert_same(predict_packed(packed, view), expected(forest, copy))


def test_strided_features_that_are_no_crop_are_copied(forest):
    from microlab.classic._forest_kernel import _checked_features

    block = np.random.default_rng(5).normal(size=(6, 40, 60)).astype(np.float32)
    for view in (block[:, :, ::2], block.transpose(0, 2, 1), block[:, ::-1]):
        checked = _checked_features(view, 6)
        assert checked is not view and checked.flags.c_contiguous
        assert_same(predict_packed(pack_forest(forest), view),
                    expected(forest, np.ascontiguousarray(view)))


def test_smooth_image_features_equal_sklearn(forest):
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(2).normal(size=(6, 120, 90))
    features = np.stack([gaussian_filter(f, 3) * 8 for f in noise]).astype(np.float32)
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_columns_follow_classes_when_labels_are_a_subset():
    rng = np.random.default_rng(3)
    x = rng.random((600, 3), dtype=np.float32)
    y = np.choose((x[:, 0] * 3).astype(int), [1, 3, 4])
    forest = fitted(x, y)
    assert list(forest.classes_) == [1, 3, 4]
    features = rng.random((3, 20, 30), dtype=np.float32)
    proba = predict_packed(pack_forest(forest), features)
    assert proba.shape == (3, 20, 30)
    assert_same(proba, expected(forest, features))


def test_thresholds_that_round_up_in_float32_still_split_exactly():
    # consecutive float32 values with alternating labels: every midpoint is a threshold and
    # half of them round up to the next float32, where a naive float32 threshold is wrong
    x = np.float32(1024) + np.arange(400, dtype=np.float32)[:, None] * np.float32(2**-13)
    y = np.arange(400) % 2
    forest = fitted(x, y, n_estimators=3, bootstrap=False)
    features = np.ascontiguousarray(x.T)
    proba = predict_packed(pack_forest(forest), features)
    assert_same(proba, expected(forest, features))
    assert np.array_equal(proba.argmax(0), y)


def test_integer_features_exactly_at_thresholds():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 8, size=(3000, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 7).astype(int) + (x[:, 2] > x[:, 3])
    forest = fitted(x, y, max_features=None)
    assert np.all(np.isin(forest.estimators_[0].tree_.threshold % 1, [0.5, 0]))
    # integers, the half-integer thresholds themselves, and their float32 neighbours
    grid = np.arange(-1, 9, 0.5, dtype=np.float32)
    values = np.concatenate([grid, np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf)])
    features = rng.choice(values, size=(4, 50, 60)).astype(np.float32)
    features[:, 0, :] = 3.5  # rows at a threshold, and signed zeros
    features[:, 1, ::2], features[:, 1, 1::2] = 0.0, -0.0
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_forest_of_one_class_predicts_probability_one():
    x = np.random.default_rng(5).random((50, 2), dtype=np.float32)
    forest = fitted(x, np.full(50, 7))
    features = np.random.default_rng(6).random((2, 9, 11), dtype=np.float32)
    proba = predict_packed(pack_forest(forest), features)
    assert proba.shape == (1, 9, 11)
    assert np.all(proba == 1)


def test_single_tree_and_single_node_trees():
    rng = np.random.default_rng(7)
    x = rng.random((300, 3), dtype=np.float32)
    y = (x[:, 0] > 0.5) + (x[:, 1] > 0.7)
    features = rng.random((3, 25, 40), dtype=np.float32)
    one_tree = fitted(x, y, n_estimators=1)
    stumps = fitted(x, y, n_estimators=4, min_samples_split=1000)  # every root is a leaf
    assert all(e.tree_.node_count == 1 for e in stumps.estimators_)
    for forest in (one_tree, stumps):
        assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_deep_trees_with_many_leaves():
    rng = np.random.default_rng(8)
    x = rng.random((3000, 5), dtype=np.float32)
    y = rng.integers(0, 5, size=3000)  # pure noise: trees grow hundreds of leaves
    forest = fitted(x, y, n_estimators=5, max_depth=None)
    assert min(e.tree_.n_leaves for e in forest.estimators_) > 500
    features = rng.random((5, 40, 50), dtype=np.float32)
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_trees_grown_best_first_are_read_in_left_to_right_leaf_order():
    rng = np.random.default_rng(12)
    x = rng.random((2000, 4), dtype=np.float32)
    y = rng.integers(0, 3, size=2000)
    forest = fitted(x, y, n_estimators=4, max_leaf_nodes=60)  # nodes not in depth-first order
    tree = forest.estimators_[0].tree_
    split = tree.children_left != -1
    assert np.any(tree.children_left[split] != np.flatnonzero(split) + 1)
    features = rng.random((4, 30, 40), dtype=np.float32)
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_nan_goes_where_sklearn_sends_it():
    rng = np.random.default_rng(9)
    x = rng.random((1500, 3), dtype=np.float32)
    y = (x[:, 0] > 0.4).astype(int) + (x[:, 1] > 0.6)
    x[rng.random(x.shape) < 0.1] = np.nan  # trained with missing values, both directions
    forest = fitted(x, y)
    assert len(np.unique(forest.estimators_[0].tree_.missing_go_to_left)) == 2
    features = rng.random((3, 30, 300), dtype=np.float32)
    features[rng.random(features.shape) < 0.05] = np.nan
    features[:, :, 256:] = rng.random((3, 30, 44))  # some blocks without NaN
    assert_same(predict_packed(pack_forest(forest), features), expected(forest, features))


def test_out_is_written_in_place_and_other_dtypes_are_converted(forest):
    features = np.random.default_rng(10).normal(size=(6, 30, 20))
    out = np.full((4, 30, 20), -1, np.float32)
    result = predict_packed(pack_forest(forest), features, out=out)
    assert result is out
    assert_same(out, expected(forest, features.astype(np.float32)))


def test_packed_forest_is_plain_numeric_arrays_that_survive_safetensors(forest, tmp_path):
    from safetensors.numpy import load_file, save_file

    packed = pack_forest(forest)
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "iuf" for v in packed.values())
    save_file(packed, tmp_path / "forest.safetensors")
    loaded = load_file(tmp_path / "forest.safetensors")
    features = np.random.default_rng(11).normal(size=(6, 33, 44)).astype(np.float32)
    np.testing.assert_array_equal(
        predict_packed(loaded, features), predict_packed(packed, features)
    )


def test_wrong_inputs_are_refused_with_the_fix(forest):
    packed = pack_forest(forest)
    with pytest.raises(ValueError, match=r"\(6, \*spatial\)"):
        predict_packed(packed, np.zeros((5, 10, 10), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        predict_packed(packed, np.zeros((6, 10, 10), np.float32), out=np.zeros((4, 10, 10)))
    with pytest.raises(ValueError, match="lacks"):
        predict_packed({"format": packed["format"]}, np.zeros((6, 4), np.float32))
    with pytest.raises(ValueError, match="fit"):
        pack_forest(RandomForestClassifier())


def test_import_does_not_compile():
    code = (
        "import microlab.classic._forest_kernel as k; assert k._kernels.cache_info().currsize == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
