import os
import signal
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import microlab  # noqa: E402
from microlab.deep import UNetSegmenter, augment_examples  # noqa: E402
from microlab.deep._lightning import build_network, sparse_loss  # noqa: E402
from microlab.deep.augment import make_augmenter  # noqa: E402

TINY = {"width": 0.25, "patch_size": 64, "batch_size": 4, "steps_per_epoch": 10,
        "pretrained": False, "progress": False}


def two_phase(size=96, seed=0):
    """A bright disk on a dark background, noisy, with a few scribbles of each phase."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    truth = np.where((yy - c) ** 2 + (xx - c) ** 2 < (size // 3) ** 2, 2, 1).astype(np.uint8)
    image = np.where(truth == 2, 0.7, 0.3) + rng.normal(0, 0.08, truth.shape)
    scribbles = np.zeros_like(truth)
    scribbles[c, c - 18 : c + 18] = 2
    scribbles[c - 12 : c + 12, c] = 2
    scribbles[5, 5:-5] = scribbles[-5, 5:-5] = scribbles[5:-5, 4] = 1
    return image.astype(np.float32), truth, scribbles


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tests run beside other work on few cores: oversubscribed threads slow torch tenfold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread):
    image, truth, scribbles = two_phase()
    model = UNetSegmenter(["dark", "bright"], max_steps=60, **TINY).fit(image, scribbles)
    return model, image, truth, scribbles


def weights_of(model):
    return torch.cat([p.detach().flatten().cpu() for p in model._network.parameters()])


def test_sparse_loss_ignores_unlabelled_pixels():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    labels = torch.zeros(2, 8, 8)
    labels[:, :4] = torch.randint(1, 4, (2, 4, 8)).float()
    loss = sparse_loss(logits, labels, torch.tensor([1.0, 2.0, 0.5]))
    loss.backward()
    assert torch.all(logits.grad[:, :, 4:] == 0)
    assert torch.any(logits.grad[:, :, :4] != 0)
    changed = logits.detach().clone()
    changed[:, :, 4:] = torch.randn(2, 3, 4, 8) * 10
    assert torch.isclose(sparse_loss(changed, labels, torch.tensor([1.0, 2.0, 0.5])), loss)
    assert sparse_loss(logits, torch.zeros(2, 8, 8)).item() == 0.0


def test_unet_learns_two_phase_image_from_scribbles(trained):
    model, image, truth, _ = trained
    proba = model.predict_proba(image)
    assert proba.shape == (2, *image.shape) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(0), 1.0, atol=1e-5)
    assert (model.predict(image) == truth).mean() > 0.9
    assert isinstance(model, microlab.Segmenter)


def test_unet_save_load_round_trip_gives_identical_predictions(trained, tmp_path):
    model, image, _, _ = trained
    path = tmp_path / "unet.safetensors"
    model.save(path)
    loaded = UNetSegmenter.load(path)
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
    from microlab._modelfile import read_model, write_model

    config, tensors, _ = read_model(tmp_path / "unet.safetensors", "unet", 1)
    write_model(tmp_path / "other.safetensors", "unet", 1, {**config, "encoder": "resnet18"},
                tensors)
    with pytest.raises(ValueError, match="do not fit a U-Net with encoder 'resnet18'"):
        UNetSegmenter.load(tmp_path / "other.safetensors")


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
    with pytest.raises(ValueError, match="mode"):
        UNetSegmenter(mode="panoptic")
    with pytest.raises(ValueError, match="encoder"):
        UNetSegmenter(encoder="no-such-net", **TINY).fit(image, scribbles)
    with pytest.raises(RuntimeError, match="not trained"):
        UNetSegmenter().predict(image)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_unet_cuda_without_gpu_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        UNetSegmenter(device="cuda")


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
    stack = np.stack([image, image[::-1]])
    proba = unet.predict_proba(stack)
    assert proba.shape == (2, 2, *image.shape)
    # slice-wise, with the stack normalised as a whole (here: same intensities per slice)
    np.testing.assert_allclose(proba[:, 0], unet.predict_proba(image), atol=1e-3)


def test_unet_max_minutes_stops_cleanly():
    image, truth, scribbles = two_phase()
    model = UNetSegmenter(max_minutes=0.05, max_epochs=10_000, patience=10_000, **TINY)
    model.fit(image, scribbles)
    assert not model.interrupted
    assert model.predict(image).shape == truth.shape


def test_unet_keyboard_interrupt_leaves_a_usable_model(monkeypatch):
    from microlab.deep import _lightning

    def interrupt(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step >= 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(_lightning.KeepBest, "on_train_batch_end", interrupt, raising=False)
    image, _, scribbles = two_phase()
    handler = signal.getsignal(signal.SIGINT)
    with pytest.warns(UserWarning, match="interrupted"):
        model = UNetSegmenter(max_steps=50, **TINY).fit(image, scribbles)
    assert model.interrupted and model.is_fitted
    assert signal.getsignal(signal.SIGINT) is handler
    assert np.isfinite(model.predict_proba(image)).all()


def test_unet_fit_again_fine_tunes_from_current_weights(trained, tmp_path):
    model, image, truth, scribbles = trained
    model.save(tmp_path / "unet.safetensors")
    tuned = UNetSegmenter.load(tmp_path / "unet.safetensors")
    tuned.learning_rate, tuned.max_steps, tuned.progress = 1e-5, 3, False
    before = weights_of(tuned)
    initial = torch.cat([p.detach().flatten() for p in
                         UNetSegmenter(["dark", "bright"], **TINY)._build(1).parameters()])
    tuned.fit(image, scribbles)
    after = weights_of(tuned)
    assert (after - before).norm() < 0.05 * (initial - before).norm()
    assert (tuned.predict(image) == truth).mean() > 0.9


def test_unet_loads_local_encoder_weights(tmp_path):
    from safetensors.torch import save_file

    encoder = build_network("mobilenet_v2", 0.25, 3, 2).encoder  # an "ImageNet" RGB encoder
    state = {k: v.contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, tmp_path / "encoder.safetensors")
    image, _, scribbles = two_phase(64)
    model = UNetSegmenter(weights=tmp_path / "encoder.safetensors", max_steps=1,
                          learning_rate=1e-12, **TINY).fit(image, scribbles)
    loaded = model._network.encoder.state_dict()
    name = next(k for k in state if k.endswith("weight") and state[k].ndim == 4
                and state[k].shape[1] != 3)
    torch.testing.assert_close(loaded[name].cpu(), state[name], atol=1e-6, rtol=1e-4)
    first = next(k for k in state if state[k].ndim == 4 and state[k].shape[1] == 3)
    assert loaded[first].shape[1] == 1  # RGB first layer folded onto one channel
    save_file({k: v.contiguous() for k, v in build_network("resnet18", 0.25, 1, 2)
               .encoder.state_dict().items()}, tmp_path / "resnet.safetensors")
    with pytest.raises(ValueError, match="does not hold weights"):
        UNetSegmenter(weights=tmp_path / "resnet.safetensors", **TINY).fit(image, scribbles)


# ---------------------------------------------------------------------- augmentation
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
    _, labels = augment_examples(image, full, n=6, seed=4)
    corners = labels[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert set(np.unique(labels)) <= {0, 1} and (labels == 1).mean() > 0.3
    assert (corners == 0).any() or (labels == 1).all(axis=(1, 2)).any()


# ---------------------------------------------------------------------- instances
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


def test_fit_records_history_and_plots_it_live(trained):
    from microlab.deep import plot_history
    from microlab.deep.live import History, LivePlot

    model, *_ = trained
    history = model.history
    assert len(history["step"]) == model.fit_info["steps"] == 60
    assert np.all(np.diff(history["step"]) > 0) and np.isfinite(history["train_loss"]).all()
    assert len(history["val_loss"]) == len(history["val_acc"]) >= 1
    fig = plot_history(history)
    labels = [line.get_label() for ax in fig.axes for line in ax.lines]
    assert "validation loss (held-out strokes)" in labels and "validation accuracy" in labels

    class Seen(History):
        pass

    image, _, scribbles = two_phase(seed=2)
    extra = Seen()
    again = UNetSegmenter(["dark", "bright"], max_steps=4, **TINY)
    again.fit(image, scribbles, plot=True, callbacks=[extra])
    assert len(extra.records["step"]) == 4  # extra Lightning callbacks run
    live = LivePlot(History(), every=0.0)
    live.history.records.update(step=[1, 2], train_loss=[1.0, 0.5])
    live.on_train_end(None, None)  # outside IPython: draws, keeps the figure, shows nothing
    assert live.figure is not None


def test_learning_rate_warms_up_then_decays():
    from microlab.deep._lightning import CosineSchedule

    schedule = CosineSchedule(1e-3, max_steps=1000, max_seconds=None, warmup=50)
    rates = [schedule.rate(s) for s in (0, 25, 49, 50, 500, 999, 1000)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(rates[3], rel=1e-3)
    assert rates[3] > rates[4] > rates[5] >= rates[6] == pytest.approx(2e-5)
    assert rates[4] == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5), rel=1e-6)
    clock = iter([0.0, 30.0])
    timed = CosineSchedule(1e-3, max_steps=10**6, max_seconds=60.0, warmup=0)
    timed._clock = lambda: next(clock)
    timed.on_train_start(None, None)
    assert timed.progress(10) == pytest.approx(0.5)  # half the time budget is spent


def test_fast_prediction_network_matches_the_trained_one(trained):
    from microlab.deep.augment import normalise

    model, image, _, _ = trained
    proba = model.predict_proba(image)
    x = normalise(image[None].astype(np.float32), model._ranges)
    x = np.pad(x, ((0, 0), (0, -x.shape[1] % 32), (0, -x.shape[2] % 32)), mode="symmetric")
    with torch.inference_mode():
        plain = torch.softmax(model._network.eval()(torch.from_numpy(x[None])), 1)[0].numpy()
    np.testing.assert_allclose(proba, plain[:, : image.shape[0], : image.shape[1]], atol=1e-4)
    names = {type(m).__name__ for m in model._inference_network().modules()}
    assert "BatchNorm2d" not in names  # folded into the convolutions
