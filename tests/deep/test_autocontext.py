"""Autocontext: the U-Net with a Random Forest's probabilities as extra input channels."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab._modelfile import read_model, write_model  # noqa: E402
from microlab.deep import UNetSegmenter  # noqa: E402
from microlab.deep.autocontext import (  # noqa: E402
    _checkerboard,
    train_forest,
    training_inputs,
)
from microlab.deep.network import PRIOR_FLOOR  # noqa: E402

from .helpers import TINY, two_phase  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    image, truth, scribbles = two_phase(128)
    model = UNetSegmenter(max_steps=60, autocontext=True, **TINY).fit(image, scribbles)
    return model, image, truth, scribbles


def test_training_inputs_come_from_forests_that_did_not_see_the_strokes_there():
    image, _, scribbles = two_phase(128, seed=3)
    plane = (image + np.random.default_rng(0).normal(0, 0.3, image.shape))[None]  # hard
    forest = train_forest([plane], [scribbles], ["dark", "bright"], seed=0)
    inside = training_inputs(forest, [plane], [scribbles], seed=0, out_of_fold=False)[0]
    outside = training_inputs(forest, [plane], [scribbles], seed=0)[0]
    assert inside.shape == outside.shape == (2, 128, 128)
    np.testing.assert_allclose(outside.sum(0), 1, atol=1e-5)
    labelled = scribbles > 0
    rows = scribbles[labelled] - 1
    own = inside[:, labelled][rows, np.arange(rows.size)]
    held = outside[:, labelled][rows, np.arange(rows.size)]
    # on its own strokes a forest is surer than a forest that never saw them
    assert own.mean() > held.mean() and own.min() > held.min()
    # both folds of the checkerboard held strokes, so both were replaced
    fold = _checkerboard(scribbles.shape)
    for k in (0, 1):
        part = labelled & (fold == k)
        assert part.any() and not np.allclose(inside[:, part], outside[:, part])


def test_a_fold_without_two_classes_keeps_the_full_forest():
    image, _, _ = two_phase(64)
    strokes = np.zeros((64, 64), np.uint8)
    strokes[2:6, 2:6] = 1  # one block of the checkerboard holds every stroke of class 1
    strokes[40:44, 40:44] = 2
    fold = _checkerboard(strokes.shape)
    assert fold[2, 2] == fold[40, 40]
    forest = train_forest([image[None]], [strokes], ["dark", "bright"], seed=0)
    full = training_inputs(forest, [image[None]], [strokes], seed=0, out_of_fold=False)[0]
    kept = training_inputs(forest, [image[None]], [strokes], seed=0)[0]
    np.testing.assert_array_equal(kept, full)


def test_autocontext_unet_learns_and_sees_the_forest(trained):
    model, image, truth, _ = trained
    first = next(m for m in model._network.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1 + 2  # the image and the forest's two probabilities
    assert model.channels == 1
    assert (model.predict(image) == truth).mean() > 0.9
    # the forest's halo adds to the network's context, on a grid both agree with
    plain = UNetSegmenter(**TINY)
    assert model.context == plain.context + model._forest.context
    assert model.alignment % plain.alignment == 0


def test_autocontext_model_file_keeps_the_forest(trained, tmp_path):
    model, image, _, _ = trained
    path = tmp_path / "unet.safetensors"
    model.save(path)
    loaded = UNetSegmenter.load(path)
    assert loaded.autocontext and loaded._forest is not None
    np.testing.assert_allclose(loaded.predict_proba(image), model.predict_proba(image),
                               atol=1e-5)
    config, tensors, _ = read_model(path, "unet", 1)
    damaged = tmp_path / "damaged.safetensors"
    write_model(damaged, "unet", 1, config,
                {k: v for k, v in tensors.items() if not k.startswith("autocontext.")})
    with pytest.raises(ValueError, match="autocontext forest"):
        UNetSegmenter.load(damaged)


def test_autocontext_unet_on_a_stack_and_refused_by_bioimageio(trained, tmp_path):
    model, image, _, _ = trained
    stack = np.stack([image, image[::-1], image])
    proba = model.predict_proba(stack)
    assert proba.shape == (2, 3, *image.shape)
    np.testing.assert_allclose(proba[:, 0], model.predict_proba(image), atol=1e-3)
    with pytest.raises(ValueError, match="autocontext=False"):
        model.export_bioimageio(tmp_path / "m.zip", image, authors=["A"])


def test_fine_tuning_retrains_the_forest_on_the_new_strokes(trained):
    model, image, _, scribbles = trained
    before = model._forest
    more = scribbles.copy()
    more[60:64, 10:20] = 1
    model.max_steps = 2
    model.fit(image, more)
    assert model._forest is not before and model.predict(image).shape == image.shape


def test_the_prediction_averages_the_network_and_the_forest(trained):
    model, image, _, _ = trained
    weight = model.forest_weight
    assert weight == 0.7  # the default
    forest = model._forest.predict_proba(image[None])
    mixed = model.predict_proba(image)
    try:
        model.forest_weight = 1.0
        np.testing.assert_allclose(model.predict_proba(image), forest, atol=1e-6)
        model.forest_weight = 0.0
        network = model.predict_proba(image)
    finally:
        model.forest_weight = weight
    np.testing.assert_allclose(mixed, (1 - weight) * network + weight * forest, atol=1e-5)
    assert not np.allclose(network, forest, atol=1e-2)  # two models, not one twice


def test_the_network_corrects_the_forest_it_reads(trained):
    model, image, _, _ = trained
    assert model._network.prior == len(model.classes) == 2
    forest = model._forest.predict_proba(image[None])
    network = model._network
    head = network.head.classify
    saved = head.weight.detach().clone(), head.bias.detach().clone()
    weight, model.forest_weight = model.forest_weight, 0.0
    try:
        with torch.no_grad():  # a network that learnt nothing answers what the forest does
            head.weight.zero_()
            head.bias.zero_()
        model._fast = None
        expected = np.clip(forest, PRIOR_FLOOR, 1)
        np.testing.assert_allclose(model.predict_proba(image), expected / expected.sum(0),
                                   atol=1e-5)
    finally:
        with torch.no_grad():
            head.weight.copy_(saved[0])
            head.bias.copy_(saved[1])
        model._fast = None
        model.forest_weight = weight


def test_the_prior_travels_with_the_model_and_older_files_keep_theirs(trained, tmp_path):
    model, image, _, _ = trained
    model.save(tmp_path / "m.safetensors")
    again = UNetSegmenter.load(tmp_path / "m.safetensors")
    assert again._network.prior == 2
    np.testing.assert_allclose(again.predict_proba(image), model.predict_proba(image),
                               atol=1e-5)
    # a file from before the prior: its network adds nothing to its logits
    config, tensors, _ = read_model(tmp_path / "m.safetensors", "unet", 1)
    del config["forest_prior"]
    write_model(tmp_path / "old.safetensors", "unet", 1, config, tensors)
    older = UNetSegmenter.load(tmp_path / "old.safetensors")
    assert older._network.prior == 0
    assert not np.allclose(older.predict_proba(image), model.predict_proba(image), atol=1e-3)


@pytest.mark.parametrize("weight", [-0.1, 1.5, "half", True])
def test_forest_weight_must_be_a_share(weight):
    with pytest.raises(ValueError, match="forest_weight must be a number from 0 to 1"):
        UNetSegmenter(autocontext=True, forest_weight=weight, **TINY)


def test_from_few_painted_objects_the_forest_counts_where_it_tells_objects(tmp_path):
    """Instance mode from fewer than ``FEW_OBJECTS`` painted whole objects: the forest's
    share at a pixel is ``forest_weight`` × ``|1 − 2 p_forest(background)|``, kept by the
    model file; fine-tuned from more painted objects, the plain average again."""
    from microlab.data import synthetic_nuclei
    from microlab.deep.autocontext import FEW_OBJECTS
    from microlab.labels import instance_annotations

    image, nuclei = synthetic_nuclei((96, 96), seed=0)
    two = instance_annotations(np.where(np.isin(nuclei, [1, 2]), nuclei, 0), True)
    model = UNetSegmenter(mode="instance", max_steps=2, patience=100, object_scale=1,
                          **TINY).fit(image, two)
    assert model.fit_info["painted_objects"] == 2 < FEW_OBJECTS
    assert "less where it is not (only 2 painted)" in model.description
    weight = model.forest_weight
    try:
        model.forest_weight = 0.0
        network = model.predict_proba(image)
        model._painted, model.forest_weight = FEW_OBJECTS, 1.0  # as from more: the forest's
        forest = model.predict_proba(image)
    finally:
        model._painted, model.forest_weight = 2, weight
    share = weight * np.abs(1 - 2 * forest[:1])  # class 0 is the background
    assert share.min() < 0.2 and share.max() > 0.6  # unsure somewhere, sure elsewhere
    blended = model.predict_proba(image)
    np.testing.assert_allclose(blended, (1 - share) * network + share * forest, atol=1e-5)
    model.save(tmp_path / "m.safetensors")
    again = UNetSegmenter.load(tmp_path / "m.safetensors")
    assert again._few_painted()
    np.testing.assert_allclose(again.predict_proba(image), blended, atol=1e-5)
    model.fit(image, instance_annotations(nuclei, True))  # every nucleus painted
    assert model.fit_info["painted_objects"] >= FEW_OBJECTS and not model._few_painted()
    assert "painted)" not in model.description
    forest = model._forest.predict_proba(image[None])
    model.forest_weight = 0.0
    network = model.predict_proba(image)
    model.forest_weight = weight
    np.testing.assert_allclose(model.predict_proba(image),
                               (1 - weight) * network + weight * forest, atol=1e-5)
