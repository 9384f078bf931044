"""UNetSegmenter: the Segmenter contract, training, stopping, persistence, intensities."""

import os
import signal
import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import microlab  # noqa: E402
from microlab._modelfile import read_model, write_model  # noqa: E402
from microlab.deep import UNetSegmenter  # noqa: E402
from microlab.intensity import IntensityWarning  # noqa: E402
from microlab.tiers import tier  # noqa: E402

from .helpers import TINY, at_step, raise_at, two_phase  # noqa: E402


def weights_of(model):
    return torch.cat([p.detach().flatten().cpu() for p in model._network.parameters()])


def test_unet_follows_the_segmenter_contract():
    model = UNetSegmenter(["a", "b"], **TINY)
    assert isinstance(model, microlab.Segmenter)
    assert model.kind == UNetSegmenter.kind == "unet"
    assert tier("unet").load_class() is UNetSegmenter
    assert model.context % model.alignment == 0 and model.context >= 128
    assert model.alignment == 32


def test_unet_learns_two_phase_image_from_scribbles(trained):
    model, image, truth, _ = trained
    proba = model.predict_proba(image)
    assert proba.shape == (2, *image.shape) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(0), 1.0, atol=1e-5)
    assert (model.predict(image) == truth).mean() > 0.9
    assert not model.stopped


def test_unet_region_with_its_context_predicts_like_the_whole_image(network_only):
    model, image, _, _ = network_only  # the network's own context (with a forest: contract)
    big = np.tile(image, (4, 4))  # 384², larger than a region with its context
    whole = model.predict_proba(big)
    region = (slice(192, 224), slice(160, 192))
    c = model.context
    assert all(s.start % model.alignment == 0 and s.start >= c for s in region)
    window = big[region[0].start - c : region[0].stop + c, region[1].start - c : region[1].stop + c]
    part = model.predict_proba(window)[:, c:-c, c:-c]
    np.testing.assert_allclose(part, whole[(slice(None), *region)], atol=0.02)


def test_unet_network_reuses_freed_memory_up_to_a_tile_window_only(trained, monkeypatch):
    """Layer outputs of a tile-sized batch reuse freed memory (faster); a bigger batch does not
    (the heap's leftovers would add to its peak); the predictions are the same either way."""
    import contextlib

    from microlab.deep import unet as module

    model, image, _, _ = trained
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append(True)
        yield

    monkeypatch.setattr(module, "reuse_freed_memory", recording)
    reused = model.predict_proba(image)
    assert entered == [True]
    monkeypatch.setattr(module, "REUSE_PIXELS", image.size - 1)
    not_reused = model.predict_proba(image)
    assert entered == [True]
    np.testing.assert_array_equal(reused, not_reused)


def test_unet_save_load_round_trip_gives_identical_predictions(trained, tmp_path):
    model, image, _, _ = trained
    path = tmp_path / "unet.safetensors"
    model.save(path)
    loaded = microlab.load_segmenter(path)
    assert isinstance(loaded, UNetSegmenter)
    assert loaded.classes == ["dark", "bright"] and loaded.colors == model.colors
    np.testing.assert_array_equal(loaded.predict_proba(image), model.predict_proba(image))


def test_unet_load_refuses_other_kinds_and_architectures(trained, tmp_path):
    model, image, _, scribbles = trained
    rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0"]).fit(
        image, scribbles, progress=False
    )
    rf.save(tmp_path / "rf.safetensors")
    with pytest.raises(ValueError, match="random-forest"):
        UNetSegmenter.load(tmp_path / "rf.safetensors")
    model.save(tmp_path / "unet.safetensors")
    config, tensors, _ = read_model(tmp_path / "unet.safetensors", "unet", 1)
    write_model(tmp_path / "other.safetensors", "unet", 1, {**config, "encoder": "resnet18"},
                tensors)
    with pytest.raises(ValueError, match="do not fit a U-Net with encoder 'resnet18'"):
        UNetSegmenter.load(tmp_path / "other.safetensors")


def test_unet_records_training_intensities_and_warns_far_outside_them(trained, tmp_path):
    model, image, _, _ = trained
    model.save(tmp_path / "unet.safetensors")
    config, tensors, _ = read_model(tmp_path / "unet.safetensors", "unet", 1)
    assert config["normalisation"]["dtype"] == "float32"
    assert len(config["normalisation"]["ranges"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_proba(image[:48])  # the training range: no warning
    with pytest.warns(IntensityWarning, match="this U-Net"):
        model.predict_proba((image * 4000).astype(np.uint16))
    del config["normalisation"]["dtype"]  # a file written before the dtype was recorded
    write_model(tmp_path / "old.safetensors", "unet", 1, config, tensors)
    old = UNetSegmenter.load(tmp_path / "old.safetensors")
    np.testing.assert_array_equal(old.predict_proba(image), model.predict_proba(image))


def test_unet_rejects_bad_inputs(trained):
    _, image, _, scribbles = trained
    with pytest.raises(ValueError, match="only class 1"):
        UNetSegmenter(**TINY).fit(image, (scribbles == 1).astype(np.uint8))
    with pytest.raises(ValueError, match="no labelled pixel"):
        UNetSegmenter(**TINY).fit(image, np.zeros_like(scribbles))
    with pytest.raises(ValueError, match="spatial shape"):
        UNetSegmenter(**TINY).fit(image, scribbles[:10])
    with pytest.raises(ValueError, match="multiple of 32"):
        UNetSegmenter(patch_size=50)
    with pytest.raises(ValueError, match="predict_batch_size"):
        UNetSegmenter(predict_batch_size=0)
    with pytest.raises(ValueError, match="mode"):
        UNetSegmenter(mode="panoptic")
    with pytest.raises(ValueError, match="encoder"):
        UNetSegmenter(encoder="no-such-net", **TINY).fit(image, scribbles)
    with pytest.raises(RuntimeError, match="not trained"):
        UNetSegmenter().predict(image)


def test_unet_trains_on_an_image_smaller_than_a_patch():
    image, _, scribbles = two_phase(40)
    model = UNetSegmenter(max_steps=2, **TINY).fit(image, scribbles)
    assert model.predict_proba(image).shape == (2, 40, 40)


def test_unet_multichannel_and_slice_wise_3d(trained):
    image, _, scribbles = two_phase(64)
    two = np.stack([image, 1 - image], axis=-1)
    model = UNetSegmenter(max_steps=2, channel_axis=-1, **TINY).fit(two, scribbles)
    assert model.channels == 2 and model.predict(two).shape == (64, 64)
    with pytest.raises(ValueError, match="2-channel"):
        model.predict_proba(image[..., None])
    unet, image, _, _ = trained
    stack = np.stack([image, image[::-1], image, image[:, ::-1], image])
    unet.predict_batch_size = 2  # planes predicted in batches of 2, 2 and 1
    proba = unet.predict_proba(stack, progress=False)
    unet.predict_batch_size = 4
    assert proba.shape == (2, 5, *image.shape)
    # slice-wise, with the stack normalised as a whole (here: same intensities per slice)
    np.testing.assert_allclose(proba[:, 0], unet.predict_proba(image), atol=1e-3)
    np.testing.assert_allclose(proba[:, 4], proba[:, 0], atol=1e-6)


def test_unet_max_minutes_stops_cleanly():
    image, truth, scribbles = two_phase()
    model = UNetSegmenter(max_minutes=0.02, max_epochs=10_000, patience=10_000, **TINY)
    model.fit(image, scribbles)
    assert not model.stopped
    assert model.predict(image).shape == truth.shape


def test_unet_stop_event_ends_training_and_keeps_a_usable_model():
    image, _, scribbles = two_phase()
    stop = threading.Event()
    model = UNetSegmenter(max_steps=50, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a requested stop is no cause for a warning
        model.fit(image, scribbles, stop=stop, callbacks=[at_step(3, stop.set)])
    assert model.stopped and model.is_fitted
    assert model.fit_info["steps"] == 3
    assert np.isfinite(model.predict_proba(image)).all()
    model.max_steps = 5
    model.fit(image, scribbles, stop=threading.Event())  # a fresh event: trains on
    assert not model.stopped and model.fit_info["steps"] == 5


def test_unet_keyboard_interrupt_leaves_a_usable_model():
    image, _, scribbles = two_phase()
    handler = signal.getsignal(signal.SIGINT)
    with pytest.warns(UserWarning, match="interrupted"):
        model = UNetSegmenter(max_steps=50, **TINY).fit(
            image, scribbles, callbacks=[raise_at(3, KeyboardInterrupt)])
    assert model.stopped and model.is_fitted
    assert signal.getsignal(signal.SIGINT) is handler
    assert np.isfinite(model.predict_proba(image)).all()


def test_unet_fit_again_fine_tunes_from_current_weights(trained, tmp_path):
    model, image, truth, scribbles = trained
    model.save(tmp_path / "unet.safetensors")
    tuned = UNetSegmenter.load(tmp_path / "unet.safetensors")
    tuned.learning_rate, tuned.max_steps, tuned.progress = 1e-5, 3, False
    before = weights_of(tuned)
    initial = torch.cat([p.detach().flatten() for p in
                         UNetSegmenter(["dark", "bright"], **TINY)._build(tuned._inputs())
                         .parameters()])
    tuned.fit(image, scribbles)
    after = weights_of(tuned)
    assert (after - before).norm() < 0.05 * (initial - before).norm()
    assert (tuned.predict(image) == truth).mean() > 0.9


@pytest.mark.slow
def test_unet_instance_mode_splits_touching_nuclei():
    from microlab.data.synthetic import synthetic_nuclei
    from microlab.labels.boundary import instance_annotations

    image, objects = synthetic_nuclei((128, 128), seed=1)
    annotations = instance_annotations(objects, True, width=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UNetSegmenter(mode="instance", width=0.5, patch_size=64, batch_size=8,
                              max_steps=int(os.environ.get("MICROLAB_TEST_STEPS", 300)),
                              learning_rate=3e-3, progress=False).fit(image, annotations)
    found = model.predict_instances(image, min_size=10)
    assert model.classes == ["background", "boundary", "interior"]
    n = int(objects.max())
    assert 0.7 * n <= found.max() <= 1.3 * n


def test_unet_instance_mode_trains_on_rings_of_background_or_boundary():
    from microlab.labels.boundary import OUTSIDE, instance_annotations

    objects = np.zeros((48, 48), np.int32)
    objects[8:20, 8:20], objects[8:20, 20:32] = 1, 2  # two touching squares, one painted
    image = (objects > 0).astype(np.float32)
    background = np.zeros(objects.shape, bool)
    background[40:] = True
    annotations = instance_annotations(np.where(objects == 1, 1, 0), background, width=2)
    assert (annotations[8:20, 20:22] == OUTSIDE).all()  # the ring lies on the neighbour
    model = UNetSegmenter(mode="instance", width=0.25, patch_size=32, batch_size=4,
                          max_steps=3, pretrained=False, progress=False).fit(image, annotations)
    assert model.classes == ["background", "boundary", "interior"]  # 4 is no class
    assert model.predict_proba(image).shape == (3, 48, 48)
    with pytest.raises(ValueError, match="4 = background or boundary"):
        UNetSegmenter(mode="instance", progress=False).fit(image, np.where(annotations == 4, 5,
                                                                            annotations))


@pytest.mark.parametrize("n, c, k, h, w", [(1, 1, 4, 70, 45), (3, 2, 0, 64, 33),
                                           (1, 1, 2, 5, 3), (2, 3, 1, 32, 1)])
def test_network_input_is_the_padded_concatenation_channels_last(n, c, k, h, w):
    """Written once, the input equals concatenating, mirroring as np.pad does (margins
    narrower and wider than the image) and moving the channels last; as the permuted tensor
    the network gets, it is already channels-last."""
    import torch

    from microlab.deep.unet import ALIGNMENT, network_input

    rng = np.random.default_rng(n + c + k + h + w)
    image = rng.random((n, c, h, w), dtype=np.float32)
    forest = rng.random((n, k, h, w), dtype=np.float32) if k else None
    planes = network_input(image, forest)
    whole = image if forest is None else np.concatenate([image, forest], axis=1)
    pad = ((0, 0), (0, 0), (0, -h % ALIGNMENT), (0, -w % ALIGNMENT))
    expected = np.moveaxis(np.pad(whole, pad, mode="symmetric"), 1, -1)
    np.testing.assert_array_equal(planes, expected)
    tensor = torch.from_numpy(planes).permute(0, 3, 1, 2)
    assert tensor.is_contiguous(memory_format=torch.channels_last)


def squares_scene():
    """Nine bright 10×10 squares on a dark 96² image, one painted whole, background strokes."""
    from microlab.labels.boundary import instance_annotations

    rng = np.random.default_rng(0)
    objects = np.zeros((96, 96), np.int32)
    for k, (y, x) in enumerate((y, x) for y in (12, 42, 72) for x in (12, 42, 72)):
        objects[y : y + 10, x : x + 10] = k + 1
    image = np.where(objects > 0, 0.8, 0.2) + rng.normal(0, 0.03, objects.shape)
    background = np.zeros(objects.shape, bool)
    background[2, :], background[:, 2] = True, True
    annotations = instance_annotations(np.where(objects == 1, 1, 0), background, width=2)
    return image.astype(np.float32), objects, annotations


def test_unet_pseudo_labels_train_the_second_half_on_the_objects_it_is_sure_of():
    image, _, annotations = squares_scene()
    reports = []
    model = UNetSegmenter(mode="instance", width=0.25, patch_size=32, batch_size=4,
                          max_steps=30, pretrained=False, progress=reports.append,
                          pseudo_labels=True, seed=0).fit(image, annotations, plot=True)
    info = model.fit_info["pseudo_labels"]
    assert info["objects"] >= 4  # of the 8 squares nobody painted
    assert info["labelled"] > 2 * np.mean(annotations > 0)
    assert model.fit_info["steps"] == 30  # 15 + 15
    steps = model.history["step"]  # one history over both halves
    assert steps == sorted(set(steps)) and steps[-1] == 30 and steps[0] <= 2
    # validated on the person's annotations only: the blocks a fit without
    # pseudo-labels holds out, not the pseudo-labelled pixels around them
    plain = UNetSegmenter(mode="instance", width=0.25, patch_size=32, batch_size=4,
                          max_steps=2, pretrained=False, progress=False,
                          seed=0).fit(image, annotations)
    assert model.fit_info["validation_pixels"] == plain.fit_info["validation_pixels"] > 0
    fractions = [r["fraction"] for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert fractions[0] < 0.5 < fractions[-1]  # one bar over both halves
    assert model.predict_instances(image).max() >= 4
    # the setting travels with the model file
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pseudo-{os.getpid()}.safetensors")
    try:
        model.save(path)
        assert UNetSegmenter.load(path).pseudo_labels is True
    finally:
        os.remove(path)


def test_unet_pseudo_labels_of_a_stack_come_from_its_annotated_planes(monkeypatch):
    import microlab.labels.pseudo as pseudo

    image, _, annotations = squares_scene()
    stack = microlab.Image(np.stack([image, image, image]), "ZYX")
    layers = np.stack([annotations, np.zeros_like(annotations), annotations])
    shapes, confident = [], pseudo.confident_annotations

    def recorded(proba, objects, annotation, **kwargs):
        shapes.append(annotation.shape)
        return confident(proba, objects, annotation, **kwargs)

    monkeypatch.setattr(pseudo, "confident_annotations", recorded)
    model = UNetSegmenter(mode="instance", width=0.25, patch_size=32, batch_size=4,
                          max_steps=20, pretrained=False, progress=False,
                          pseudo_labels=True, seed=0).fit(stack, layers)
    assert shapes == [annotations.shape, annotations.shape]  # planes 0 and 2, one each
    assert model.fit_info["pseudo_labels"]["objects"] >= 2
    assert model.predict_instances(stack).shape == layers.shape


def test_unet_pseudo_labels_stop_in_the_first_half_skips_the_second():
    image, _, annotations = squares_scene()
    stop = threading.Event()
    stop.set()
    model = UNetSegmenter(mode="instance", width=0.25, patch_size=32, batch_size=4,
                          max_steps=30, pretrained=False, progress=False, pseudo_labels=True)
    model.fit(image, annotations, stop=stop)
    assert model.stopped and "pseudo_labels" not in model.fit_info
    assert model.predict_proba(image).shape == (3, 96, 96)


def test_unet_pseudo_labels_are_for_instance_mode():
    with pytest.raises(ValueError, match="mode='instance'"):
        UNetSegmenter(["a", "b"], pseudo_labels=True)
    with pytest.raises(TypeError, match="True or False"):
        UNetSegmenter(mode="instance", pseudo_labels="yes")


def test_unet_learning_rate_by_default_spares_a_pretrained_instance_head(tmp_path):
    from microlab.data.synthetic import synthetic_nuclei
    from microlab.deep.unet import FINE_TUNE_RATE, KEEP_RADIUS, LEARNING_RATE
    from microlab.labels.boundary import instance_annotations

    tiny = {k: v for k, v in TINY.items() if k not in ("pretrained", "width")}
    # the shipped weights (head included) in instance mode: a fifth of the rate
    model = UNetSegmenter(mode="instance", width=0.5, max_steps=2, **tiny)
    assert model._rate() == FINE_TUNE_RATE < LEARNING_RATE
    # semantic mode (a new head), random initialisation, or a rate given: as asked
    assert UNetSegmenter(["a", "b"], width=0.5, **tiny)._rate() == LEARNING_RATE
    assert UNetSegmenter(mode="instance", **TINY)._rate() == LEARNING_RATE
    assert UNetSegmenter(mode="instance", learning_rate=1e-3, **tiny)._rate() == 1e-3
    # ... and only where the painted objects' typical radius is at most KEEP_RADIUS
    assert model._rate(KEEP_RADIUS) == FINE_TUNE_RATE
    assert model._rate(KEEP_RADIUS + 0.5) == LEARNING_RATE
    assert UNetSegmenter(mode="instance", learning_rate=1e-3, **tiny)._rate(40.0) == 1e-3
    with pytest.raises(ValueError, match="learning_rate"):
        UNetSegmenter(learning_rate=0)

    rates = []
    image, objects = synthetic_nuclei((64, 64), seed=0)
    import lightning as L

    class Peak(L.Callback):  # the optimiser's own peak rate, not the attribute
        def on_train_start(self, trainer, module):
            rates.append(trainer.optimizers[0].param_groups[0]["initial_lr"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(image, instance_annotations(objects, True, width=2), callbacks=[Peak()])
    assert rates == [FINE_TUNE_RATE]
    assert model.fit_info["learning_rate"] == FINE_TUNE_RATE
    model.save(tmp_path / "m.safetensors")
    again = UNetSegmenter.load(tmp_path / "m.safetensors")
    assert again.learning_rate == FINE_TUNE_RATE  # fine-tuning the file goes on at that rate

    # large painted objects: the full rate from the same shipped weights
    image, objects = synthetic_nuclei((96, 96), 6, radius=(19, 22), touching=False, seed=1)
    large = UNetSegmenter(mode="instance", width=0.5, max_steps=2, **tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        large.fit(image, instance_annotations(objects, True, width=2), callbacks=[Peak()])
    assert large.scale == 1 and large._radius > KEEP_RADIUS
    assert rates[-1] == LEARNING_RATE == large.fit_info["learning_rate"]


def test_unet_keeps_a_share_of_its_start_weights_after_a_fit(tmp_path):
    import lightning as L
    import torch

    from microlab.data.synthetic import synthetic_nuclei
    from microlab.deep.unet import KEEP_RADIUS, KEEP_START
    from microlab.labels.boundary import instance_annotations

    # by default: instance mode keeps KEEP_START of its start, semantic mode none
    assert UNetSegmenter(mode="instance", **TINY)._kept() == KEEP_START == 0.5
    assert UNetSegmenter(["a", "b"], **TINY)._kept() == 0.0
    assert UNetSegmenter(["a", "b"], keep_start=0.25, **TINY)._kept() == 0.25
    # ... where the painted objects' typical radius is at most KEEP_RADIUS
    assert UNetSegmenter(mode="instance", **TINY)._kept(KEEP_RADIUS) == 0.5
    assert UNetSegmenter(mode="instance", **TINY)._kept(KEEP_RADIUS + 0.5) == 0.0
    assert UNetSegmenter(mode="instance", keep_start=0.5, **TINY)._kept(40.0) == 0.5
    for wrong in (1, -0.1, True, "half"):
        with pytest.raises(ValueError, match="keep_start must be a number from 0 to below 1"):
            UNetSegmenter(keep_start=wrong)

    seen = {}

    class Ends(L.Callback):  # the weights as training starts and as it ends
        def on_train_start(self, trainer, module):
            seen["start"] = {k: v.detach().clone() for k, v in
                             module.network.state_dict().items()}

        def on_train_end(self, trainer, module):
            seen["trained"] = {k: v.detach().clone() for k, v in
                               module.network.state_dict().items()}

    image, objects = synthetic_nuclei((64, 64), seed=0)
    model = UNetSegmenter(mode="instance", max_steps=3, patience=100, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(image, instance_annotations(objects, True, width=2), callbacks=[Ends()])
    assert model.fit_info["keep_start"] == 0.5
    final = model._network.state_dict()
    moved = 0
    for name, value in final.items():
        start, trained = seen["start"][name], seen["trained"][name]
        if value.is_floating_point():
            torch.testing.assert_close(value, (start + trained) / 2, rtol=1e-5, atol=1e-6)
            moved += int(not torch.equal(start, trained))
        else:
            assert torch.equal(value, trained)
    assert moved > 10  # training did change the weights the average is of
    model.save(tmp_path / "m.safetensors")
    assert UNetSegmenter.load(tmp_path / "m.safetensors").keep_start == 0.5

    # painted objects larger than KEEP_RADIUS: the trained weights, nothing kept
    image, objects = synthetic_nuclei((96, 96), 6, radius=(19, 22), touching=False, seed=1)
    large = UNetSegmenter(mode="instance", max_steps=3, patience=100, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        large.fit(image, instance_annotations(objects, True, width=2), callbacks=[Ends()])
    assert large.scale == 1 and large.fit_info["keep_start"] == 0.0
    for name, value in large._network.state_dict().items():
        assert torch.equal(value, seen["trained"][name])


def test_unet_learns_small_painted_objects_enlarged(tmp_path):
    from microlab.data.synthetic import synthetic_nuclei
    from microlab.labels.boundary import instance_annotations

    image, objects = synthetic_nuclei((96, 96), radius=(3, 4), seed=0)
    painted = instance_annotations(objects, True, width=2)
    model = UNetSegmenter(mode="instance", max_steps=3, patience=100, autocontext=False,
                          **TINY)
    plain = UNetSegmenter(mode="instance", max_steps=3, patience=100, autocontext=False,
                          object_scale=1, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(image, painted)
        plain.fit(image, painted)
    assert 1.2 <= model.scale <= 2 and plain.scale == 1
    assert "enlarged" in model.description and "enlarged" not in plain.description
    assert model.context == int(np.ceil(plain.context / model.scale)) + 1
    proba = model.predict_proba(image)
    assert proba.shape == (3, 96, 96) and np.allclose(proba.sum(0), 1, atol=1e-4)
    assert model.predict_instances(image).shape == image.shape
    # the file keeps the scale; fine-tuning keeps it too, whatever the new objects' size
    model.save(tmp_path / "small.safetensors")
    loaded = UNetSegmenter.load(tmp_path / "small.safetensors")
    assert loaded.scale == model.scale
    np.testing.assert_allclose(loaded.predict_proba(image), proba, atol=1e-5)
    big_image, big = synthetic_nuclei((96, 96), radius=(10, 14), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded.fit(big_image, instance_annotations(big, True, width=2))
    assert loaded.scale == model.scale
    # a bioimage.io package predicts at the image's own scale: refused with the way out
    with pytest.raises(ValueError, match="object_scale=1 to export it"):
        model.export_bioimageio(tmp_path / "m.zip", image, authors=["Ada"])
    with pytest.raises(ValueError, match="object_scale must be None"):
        UNetSegmenter(object_scale=0)


def test_unet_learns_large_painted_objects_shrunk_when_asked(tmp_path):
    from microlab.data.synthetic import synthetic_nuclei
    from microlab.inference import predict_tiled
    from microlab.labels.boundary import instance_annotations

    image, objects = synthetic_nuclei((160, 160), radius=(22, 26), seed=0)
    painted = instance_annotations(objects, True, width=2)
    model = UNetSegmenter(mode="instance", max_steps=3, patience=100, autocontext=False,
                          object_scale=0.67, **TINY)
    plain = UNetSegmenter(mode="instance", max_steps=3, patience=100, autocontext=False,
                          **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(image, painted)
        plain.fit(image, painted)
    assert model.scale == 0.67 and plain.scale == 1  # by default: the own scale
    assert "shrunk" in model.description and "shrunk" not in plain.description
    assert model.context == int(np.ceil(plain.context / model.scale)) + 1
    proba = model.predict_proba(image)
    assert proba.shape == (3, 160, 160) and np.allclose(proba.sum(0), 1, atol=1e-4)
    assert model.predict_instances(image).shape == image.shape
    tiled = predict_tiled(model, image, tile=96)
    assert tiled.shape == proba.shape and np.abs(tiled - proba).mean() < 0.02
    model.save(tmp_path / "large.safetensors")
    assert UNetSegmenter.load(tmp_path / "large.safetensors").scale == model.scale


def test_unet_dimmed_copies_teach_it_objects_dimmer_than_the_painted_ones(tmp_path,
                                                                          monkeypatch):
    """``dimmed=True`` (instance mode) adds a dimmed copy of each training plane, for the
    network and its autocontext forest alike: from bright painted discs, the forest then
    finds unpainted discs ten times dimmer, which it misses without; the default (None)
    chooses it here, where the unpainted discs are that much dimmer, and says so."""
    from scipy import ndimage

    from microlab.deep import autocontext
    from microlab.labels.boundary import instance_annotations

    assert UNetSegmenter(mode="instance", dimmed=True, **TINY).dimmed
    assert UNetSegmenter(mode="instance", **TINY).dimmed is None
    assert UNetSegmenter(["a", "b"], **TINY).dimmed is None
    with pytest.raises(TypeError, match="dimmed must be True, False or None"):
        UNetSegmenter(mode="instance", dimmed="yes")
    with pytest.raises(ValueError, match="dimmed is for mode='instance'"):
        UNetSegmenter(["a", "b"], dimmed=True)

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:192, :192]
    discs = (yy % 32 - 16) ** 2 + (xx % 32 - 16) ** 2 < 81  # radius 9, 36 of them
    objects, _ = ndimage.label(discs)
    contrast = np.where(xx < 96, 2000.0, 200.0)  # the right half's discs: a tenth as bright
    image = (1000 + rng.normal(0, 20, discs.shape) + contrast * discs).astype(np.uint16)
    layer = instance_annotations(np.where(xx < 96, objects, 0), True, width=2)
    layer[:, 96:] = 0  # only the bright half is painted
    planes = []
    train = autocontext.train_forest
    monkeypatch.setattr(autocontext, "train_forest", lambda slices, *a, **k: (
        planes.append(len(slices)), train(slices, *a, **k))[1])
    found = {}
    for dimmed in (True, False, None):
        planes.clear()
        model = UNetSegmenter(mode="instance", max_steps=2, patience=100, forest_weight=1.0,
                              dimmed=dimmed, **TINY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(image, layer)
        interior = model.predict_proba(image)[model.classes.index("interior")]
        found[dimmed] = (interior[discs & (xx >= 96)] > 0.5).mean()
        assert model.fit_info["dimmed"] is (dimmed is not False)
        assert planes[0] == (1 if dimmed is False else 2)  # the dimmed copy beside the plane
        if dimmed is None:
            model.save(tmp_path / "m.safetensors")
            loaded = UNetSegmenter.load(tmp_path / "m.safetensors")
            assert loaded.dimmed is None and loaded.dimming is True
            assert model.fit_info["dim_blobs"][0] >= 10  # the dim discs on the right
            assert "painted objects dimmed, as" in model.description
    assert found[True] > 0.4 > 0.1 > found[False]
    assert found[None] > 0.4


def test_unet_does_not_dim_where_the_unpainted_objects_are_as_bright(tmp_path):
    """With ``dimmed=None`` (the default), painted discs as bright as the unpainted ones
    choose no dimmed copies; the choice is kept when the model is fine-tuned, and a
    semantic model never dims."""
    from microlab.labels.boundary import instance_annotations

    image, nuclei = microlab.data.synthetic_nuclei((160, 160), seed=2)
    painted = np.where(np.isin(nuclei, np.unique(nuclei)[1:6]), nuclei, 0)
    layer = instance_annotations(painted, True, width=2)
    model = UNetSegmenter(mode="instance", max_steps=1, patience=100, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(image, layer)
        assert model.dimming is False and model.fit_info["dimmed"] is False
        model.dimmed = True  # a later fit does not choose again
        model.fit(image, layer)
    assert model.dimming is False
    semantic = UNetSegmenter(["a", "b"], max_steps=1, **TINY)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[nuclei > 0], scribbles[::9][nuclei[::9] == 0] = 1, 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        semantic.fit(image, scribbles)
    assert semantic.dimming is False
