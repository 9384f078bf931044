"""Lean prediction: the forest is grown again on its most important features and predicts with
only those; labels come straight from the kernel; feature buffers are reused."""

import re
import threading

import numpy as np
import pytest

import microlab
from microlab import RandomForestSegmenter
from microlab.classic._forest_kernel import pack_forest, predict_labels_packed, predict_packed
from microlab.classic.forest import PRUNE_AT_LEAST, important_columns
from microlab.labels import scribbles_from_truth
from microlab.measure import mean_iou
from microlab.segmenter import labels_from_proba


@pytest.fixture(scope="module")
def sandstone():
    image, truth = microlab.data.sandstone(0)
    return image, truth, scribbles_from_truth(truth, 0.01, seed=0)


@pytest.fixture(scope="module")
def pruned(sandstone):
    image, _, strokes = sandstone
    return RandomForestSegmenter(classes=microlab.data.SANDSTONE_CLASSES).fit(
        image, strokes, progress=False)


def test_pruned_forest_computes_only_its_kept_features(pruned):
    bank = pruned._banks[0]
    full = microlab.features.FeatureBank(ndim=2)
    assert pruned.pruned_features, "the 41-feature default bank should lose some features"
    assert PRUNE_AT_LEAST <= len(bank) < len(full)
    assert sorted(bank.names + pruned.pruned_features) == sorted(full.names)
    assert pruned.input_feature_names == bank.names
    assert pruned._packed["n_features"][0] == len(bank)
    assert set(pruned.feature_importances().index) == set(bank.names)
    # the halo follows the kept features: never wider than the whole bank's
    assert pruned.context <= full.halo


def test_pruned_forest_is_as_accurate_as_the_whole_bank(sandstone, pruned):
    image, _, strokes = sandstone
    whole = RandomForestSegmenter(classes=microlab.data.SANDSTONE_CLASSES, prune=False).fit(
        image, strokes, progress=False)
    assert not whole.pruned_features and len(whole.input_feature_names) == 41
    scores = []
    for k in (1, 2):  # slices neither forest saw
        test, truth = microlab.data.sandstone(k)
        scores.append((mean_iou(pruned.predict(test), truth, classes=4),
                       mean_iou(whole.predict(test), truth, classes=4)))
    ours, theirs = np.mean(scores, axis=0)
    assert ours > theirs - 0.02, scores


def test_pruning_survives_save_and_load(tmp_path, sandstone, pruned):
    image = microlab.data.sandstone(1)[0]
    pruned.save(tmp_path / "rf.safetensors")
    loaded = RandomForestSegmenter.load(tmp_path / "rf.safetensors")
    assert loaded.prune and loaded.pruned_features == pruned.pruned_features
    assert loaded.feature_names is None  # what was asked for: the default bank
    assert loaded.input_feature_names == pruned.input_feature_names
    assert np.array_equal(loaded.predict(image), pruned.predict(image))


def test_small_banks_and_stopped_fits_are_not_pruned(sandstone):
    image, _, strokes = sandstone
    few = ["Gaussian σ=1.0", "Gaussian σ=4.0", "Sobel", "Variance r=3"]
    rf = RandomForestSegmenter(features=few).fit(image, strokes, progress=False)
    assert rf.input_feature_names == few and rf.pruned_features == []
    stop = threading.Event()
    stop.set()
    rf = RandomForestSegmenter(n_estimators=50).fit(image, strokes, progress=False, stop=stop)
    assert rf.stopped and len(rf.input_feature_names) == 41


def test_progress_runs_once_from_zero_to_one_over_both_fits(sandstone):
    image, _, strokes = sandstone
    seen = []
    RandomForestSegmenter(n_estimators=50).fit(image, strokes, progress=seen.append)
    fractions = [r["fraction"] for r in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert len(fractions) == 14  # 6 steps of 8 trees and one of 2, twice
    assert all(r["remaining"] >= 0 for r in seen)


def test_one_progress_bar_counts_the_trees_of_both_fits(sandstone, capsys):
    image, _, strokes = sandstone
    RandomForestSegmenter(n_estimators=30).fit(image, strokes, progress=True)
    bars = capsys.readouterr().err
    assert "60/60" in bars and "kept features" in bars
    RandomForestSegmenter(n_estimators=30, prune=False).fit(image, strokes, progress=True)
    bars = capsys.readouterr().err
    totals = {int(t) for t in re.findall(r"\d+/(\d+) \[", bars.split("trees")[-1])}
    assert "30/30" in bars and totals == {30}


def test_each_channel_keeps_a_feature():
    rng = np.random.default_rng(0)
    truth = np.zeros((128, 128), np.uint8)
    truth[:, 64:] = 1
    informative = (truth * 100 + rng.normal(0, 5, truth.shape)).astype(np.float32)
    noise = rng.normal(0, 5, truth.shape).astype(np.float32)
    image = np.stack([informative, noise], axis=-1)
    strokes = scribbles_from_truth(truth + 1, 0.2, seed=0)
    assert (strokes > 0).sum() >= 2000
    rf = RandomForestSegmenter(channel_axis=-1).fit(image, strokes, progress=False)
    assert rf.pruned_features and all(n.startswith(("ch0 ", "ch1 ")) for n in rf.pruned_features)
    assert min(len(bank) for bank in rf._banks) >= 1
    assert len(rf.input_feature_names) == sum(len(bank) for bank in rf._banks)
    assert (rf.predict(image) == truth + 1).mean() > 0.95


def test_few_strokes_are_not_pruned():
    image, truth = microlab.data.sandstone(0)
    strokes = scribbles_from_truth(truth, 0.002, seed=0)
    assert (strokes > 0).sum() < 2000
    rf = RandomForestSegmenter().fit(image, strokes, progress=False)
    assert rf.pruned_features == [] and len(rf.input_feature_names) == 41


def test_important_columns():
    imp = np.array([0.5, 0.01, 0.4, 0.05, 0.04])
    assert important_columns(imp, at_least=1).tolist() == [0, 2, 3]
    assert important_columns(imp, at_least=4).tolist() == [0, 2, 3, 4]
    assert important_columns(imp, groups=[3, 2], at_least=1, share=0.5).tolist() == [0, 3]
    assert important_columns(np.zeros(5)).tolist() == [0, 1, 2, 3, 4]


def test_kernel_labels_match_argmax_of_probabilities():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    x = rng.random((500, 3), dtype=np.float32)
    y = 1 + (x[:, 0] > 0.5) + 2 * (x[:, 1] > 0.5) + 4 * (x[:, 2] > 0.7)  # 8 classes
    forest = RandomForestClassifier(n_estimators=7, random_state=0).fit(x, y)
    packed = pack_forest(forest)
    features = rng.random((3, 40, 33), dtype=np.float32)
    features[0, 0, :5] = np.nan
    expected = forest.classes_[predict_packed(packed, features).argmax(0)]
    got = predict_labels_packed(packed, features, forest.classes_)
    assert got.dtype == np.uint8 and np.array_equal(got, expected)
    wide = predict_labels_packed(packed, features, forest.classes_ + 300)
    assert wide.dtype == np.uint16 and np.array_equal(wide, expected + 300)
    with pytest.raises(ValueError, match="label_of must give"):
        predict_labels_packed(packed, features, [1, 2])


def test_predict_is_the_argmax_of_predict_proba_even_with_unpainted_classes(sandstone):
    image, _, strokes = sandstone
    strokes = np.where(strokes == 2, 0, strokes)  # class 2 never painted
    for smooth in (0.0, 1.0):
        rf = RandomForestSegmenter(classes=microlab.data.SANDSTONE_CLASSES, smooth=smooth)
        rf.fit(image, strokes, progress=False)
        assert np.array_equal(rf.predict(image), labels_from_proba(rf.predict_proba(image)))


def test_reused_feature_buffers_never_leak_between_images(pruned):
    a, _ = microlab.data.sandstone(1)
    b, _ = microlab.data.sandstone(2)
    first_a, first_b = pruned.predict(a), pruned.predict(b)
    assert not np.array_equal(first_a, first_b)
    assert np.array_equal(pruned.predict(a), first_a)  # not b's features left over
    assert np.array_equal(pruned.predict_proba(b).argmax(0) + 1, first_b)
    # the public iterator still hands out a fresh array per block
    bank = pruned._banks[0]
    blocks = [block for _, block in bank.iter_chunks(a)] + [block for _, block in
                                                            bank.iter_chunks(b)]
    assert not np.shares_memory(blocks[0], blocks[1])
    assert np.array_equal(blocks[0], bank.compute(a))


def test_only_small_feature_blocks_are_kept_between_predictions():
    from microlab.features import bank as bank_module

    big = np.random.default_rng(0).random((1100, 1000)).astype(np.float32)  # > 64 MB of 41
    bank = microlab.features.FeatureBank(intensity_range=(0, 1))
    bank_module._REUSED.buffer = None
    for _, block in bank._blocks(big, reuse=True):
        assert block.nbytes > bank_module.REUSE_BYTES
    assert bank_module._REUSED.buffer is None  # not held after the prediction
    small = bank.subset(bank.names[:12])
    blocks = [block for _, block in small._blocks(big, reuse=True)]
    assert np.shares_memory(bank_module._REUSED.buffer, blocks[-1])  # 12 of 1.1 Mpx: kept


def test_windows_of_one_prediction_share_one_buffer_as_big_as_the_largest(monkeypatch):
    from microlab.features import bank as bank_module

    image = np.random.default_rng(0).random((300, 250)).astype(np.float32)
    bank = microlab.features.FeatureBank(["Gaussian σ=2.0", "Variance r=3"],
                                         intensity_range=(0, 1))
    monkeypatch.setattr(bank_module, "CHUNK_BYTES", 2**17)  # windows of several sizes
    monkeypatch.setattr(bank_module, "REUSE_BYTES", 0)  # none kept between predictions
    grid = bank._grid(image.shape, None)
    sizes = {(w[0].stop - w[0].start) * (w[1].stop - w[1].start) for _, w in grid}
    assert len(sizes) > 1
    expected = bank.compute(image)
    bases = set()
    for slices, block in bank._blocks(image, reuse=True, views=True):
        base = block
        while base.base is not None:
            base = base.base
        assert base.size == len(bank) * max(sizes)  # the largest window's
        bases.add(id(base))
        np.testing.assert_allclose(block, expected[(slice(None), *slices)], atol=1e-6)
    assert len(bases) == 1


def test_chunks_read_with_a_halo_predict_and_train_as_one_chunk(sandstone, pruned,
                                                                 monkeypatch):
    from microlab.features import bank as bank_module

    image, _, _ = sandstone
    whole, labels = pruned.predict_proba(image), pruned.predict(image)
    bank = pruned._banks[0]
    features = bank.compute(image)
    # windows of 64 kB: many chunks, each a crop of its window the kernel reads in place
    monkeypatch.setattr(bank_module, "CHUNK_BYTES", 2**16)
    grid = bank._grid(image.shape, None)
    assert len(grid) > 4 and any(chunk != window for chunk, window in grid)
    np.testing.assert_allclose(pruned.predict_proba(image), whole, atol=1e-6)
    assert np.array_equal(pruned.predict(image), labels)
    # what training reads, block by block (views of the windows), is the image's features
    seen = np.full_like(features, np.nan)
    for slices, block in pruned._feature_blocks(pruned._check_image(image), None):
        seen[(slice(None), *slices)] = block
    np.testing.assert_allclose(seen, features, atol=1e-5)
