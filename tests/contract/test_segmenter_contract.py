"""The Segmenter contract, as a specification every registered tier passes.

Parametrised over :data:`microlab.tiers.TIERS`: a new tier is added to the registry and
must pass this file unchanged. Variants of a tier that change what a caller sees (the U-Net
with an autocontext forest inside: another context, alignment and model file; either tier
working on enlarged images, ``object_scale``) pass it too.
Only the options that make each tier fast enough for a test
are tier-specific (``FAST``), and the tolerance of "the same" for a tier whose prediction is
not exactly translation-invariant (``CLOSE``).
"""

import threading
import time
import warnings

import numpy as np
import pytest

import microlab
from microlab import Segmenter
from microlab.inference import predict_region, predict_tiled
from microlab.tiers import TIERS

VARIANTS = {
    **{kind: (kind, {}) for kind in TIERS},
    "unet-autocontext": ("unet", {"autocontext": True}),
    "random-forest-scaled": ("random-forest", {"object_scale": 1.5}),
    "unet-scaled": ("unet", {"object_scale": 1.5}),
}
"""Each variant under test: (the tier's kind, options that make the variant)."""
_UNET_FAST = {"pretrained": False, "max_steps": 6, "patch_size": 64, "batch_size": 2,
              "progress": False}
FAST = {"random-forest": {"n_estimators": 20}, "unet": _UNET_FAST,
        "unet-autocontext": _UNET_FAST, "random-forest-scaled": {"n_estimators": 20},
        "unet-scaled": _UNET_FAST}
"""Options that keep each tier's fit to seconds."""
LONG = {"random-forest": {"n_estimators": 5000}, "unet": {"max_steps": 100_000},
        "unet-autocontext": {"max_steps": 100_000},
        "random-forest-scaled": {"n_estimators": 5000}, "unet-scaled": {"max_steps": 100_000}}
"""Options that would train for minutes: only a stop ends them in time."""
STEPS = {"random-forest": {"n_estimators": 75}, "unet": {}, "unet-autocontext": {},
         "random-forest-scaled": {"n_estimators": 75}, "unet-scaled": {}}
"""Options that make each tier's fit take several steps (and so several reports)."""
CLOSE = {"random-forest": (1e-5, 1.0), "unet": (0.03, 0.97), "unet-autocontext": (0.03, 0.97),
         "random-forest-scaled": (0.01, 0.97), "unet-scaled": (0.03, 0.97)}
"""(largest mean |Δp|, least share of equal labels) for tiled/region vs whole predictions."""

KINDS = [pytest.param(v, marks=[pytest.mark.slow] if v.startswith("unet") else [])
         for v, (kind, _) in VARIANTS.items() if TIERS[kind].available]


@pytest.fixture(scope="module")
def data():
    image, truth = microlab.data.sandstone()
    crop = microlab.Image(image.data[:160, :192], "YX", image.spacing, image.unit, "crop")
    strokes = microlab.labels.scribbles_from_truth(truth[:160, :192], fraction=0.02, seed=1)
    return crop, strokes


def make(variant, **options):
    kind, made_by = VARIANTS[variant]
    return TIERS[kind].create(list(microlab.data.SANDSTONE_CLASSES), None,
                              **{**FAST[variant], **made_by, **options})


@pytest.fixture(scope="module", params=KINDS)
def trained(request, data):
    image, strokes = data
    return request.param, make(request.param).fit(image, strokes, progress=False)


def test_every_tier_is_registered_under_its_own_kind():
    for kind, tier in TIERS.items():
        if tier.available:
            assert tier.load_class().kind == kind


def test_a_trained_segmenter_follows_the_protocol(trained):
    kind, seg = trained
    assert isinstance(seg, Segmenter)
    assert seg.kind == VARIANTS[kind][0]
    assert seg.classes == list(microlab.data.SANDSTONE_CLASSES)
    assert len(seg.colors) == len(seg.classes)
    assert isinstance(seg.context, int) and seg.context >= 0
    assert seg.channels == 1
    align = np.atleast_1d(seg.alignment)
    assert align.dtype.kind == "i" and (align >= 1).all()


def test_predictions_are_probabilities_and_labels(trained, data):
    _, seg = trained
    image, _ = data
    proba = seg.predict_proba(image)
    assert proba.shape == (4, *image.shape) and proba.dtype == np.float32
    assert np.allclose(proba.sum(0), 1, atol=1e-4) and proba.min() >= 0
    labels = seg.predict(image)
    assert labels.shape == image.shape and labels.dtype.kind == "u"
    assert np.array_equal(labels, proba.argmax(0) + 1)


def test_fit_learns_from_sparse_strokes(trained, data):
    kind, seg = trained
    image, strokes = data
    labelled = strokes > 0
    accuracy = (seg.predict(image)[labelled] == strokes[labelled]).mean()
    assert accuracy > (0.9 if kind == "random-forest" else 0.4)


def test_save_and_load_give_the_same_predictions(trained, data, tmp_path):
    kind, seg = trained
    image, _ = data
    path = tmp_path / "model.safetensors"
    seg.save(path)
    loaded = microlab.load_segmenter(path)
    assert type(loaded) is type(seg) and loaded.kind == VARIANTS[kind][0]
    assert loaded.classes == seg.classes and loaded.colors == seg.colors
    assert np.allclose(loaded.predict_proba(image), seg.predict_proba(image), atol=1e-5)


def test_a_grey_image_stored_as_equal_colour_planes_is_predicted_as_grey(trained, data):
    # an RGB export of a grey image (ImageJ's "RGB Color") to a model trained on grey
    _, seg = trained
    image, _ = data
    crop = image.data[:64, :96]
    rgb = microlab.Image(np.stack([crop] * 3), "CYX")
    assert np.array_equal(seg.predict_proba(rgb), seg.predict_proba(crop))
    coloured = rgb.data.copy()
    coloured[2, 0, 0] += 1  # one pixel of colour: not a grey image, so not the model's
    with pytest.raises(ValueError, match="trained on 1-channel images but this image has 3"):
        seg.predict_proba(microlab.Image(coloured, "CYX"))


def agree(kind, part, whole):
    mean_diff, share = CLOSE[kind]
    assert np.abs(part - whole).mean() <= mean_diff
    assert (part.argmax(0) == whole.argmax(0)).mean() >= share


def test_tiled_prediction_equals_the_whole_image(trained, data):
    kind, seg = trained
    image, _ = data
    whole = seg.predict_proba(image)
    tiled = predict_tiled(seg, image, tile=96, overlap=32)
    agree(kind, tiled, whole)


def test_region_prediction_honours_context(trained, data):
    kind, seg = trained
    image, _ = data
    region = (slice(37, 101), slice(50, 150))
    part = predict_region(seg, image, region)
    assert part.shape == (4, 64, 100)
    agree(kind, part, seg.predict_proba(image)[(slice(None), *region)])


@pytest.mark.parametrize("kind", KINDS)
def test_stop_mid_fit_leaves_a_usable_model(kind, data):
    image, strokes = data
    seg = make(kind, **LONG[kind])
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    start = time.monotonic()
    seg.fit(image, strokes, progress=False, stop=stop)
    assert time.monotonic() - start < 60
    assert seg.stopped
    labels = seg.predict(image)
    assert labels.shape == image.shape and set(np.unique(labels)) <= {1, 2, 3, 4}


@pytest.mark.parametrize("kind", KINDS)
def test_fit_without_stop_is_not_marked_stopped(kind, data):
    image, strokes = data
    seg = make(kind).fit(image, strokes, progress=False, stop=threading.Event())
    assert not seg.stopped


@pytest.mark.parametrize("kind", KINDS)
def test_progress_callable_gets_a_report_after_each_step(kind, data):
    image, strokes = data
    reports = []
    seg = make(kind, **STEPS[kind]).fit(image, strokes, progress=reports.append)
    assert seg.is_fitted and len(reports) >= 2
    fractions = [r["fraction"] for r in reports]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] >= 0.99
    seconds = [r["seconds"] for r in reports]
    assert seconds == sorted(seconds) and seconds[0] >= 0
    for r in reports[:-1]:
        assert r["remaining"] is None or r["remaining"] >= 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_untrained_segmenter_follows_the_protocol_too(kind):
    seg = make(kind)
    assert isinstance(seg, Segmenter)  # reading every member works before training
    assert seg.channels is None and seg.output == "classes"


@pytest.mark.parametrize("kind", KINDS)
def test_strokes_only_at_the_border_are_warned_about(kind, data):
    from microlab.segmenter import StrokesWarning

    image, strokes = data
    _, truth = microlab.data.sandstone()
    edge = np.zeros_like(strokes)
    edge[:, :6] = truth[:160, :6]  # every class found in the six leftmost columns
    assert len(np.unique(edge[edge > 0])) >= 2
    with pytest.warns(StrokesWarning, match="away from the edges"):
        make(kind).fit(image, edge, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StrokesWarning)  # strokes all over: no warning
        make(kind).fit(image, strokes, progress=False)
