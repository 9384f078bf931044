"""bioimage.io packages of the U-Net: valid, tested by bioimageio.core offline, read back to
the same predictions; other packages refused with a reason."""

import socket
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from microlab.intensity import normalise

from .helpers import two_phase

HALO = 32
"""A small halo keeps the package's smallest input (96 px) within the tiny test image."""


@pytest.fixture(scope="module")
def package(network_only, tmp_path_factory):
    """The tiny trained U-Net exported once: (path, model, image)."""
    model, image, _, _ = network_only
    path = tmp_path_factory.mktemp("bioimageio") / "two-phase.bioimageio.zip"
    written = model.export_bioimageio(path, image, authors=["Ada Lovelace"], halo=HALO,
                                      tags=["other"])
    assert written == path
    return path, model, image


@pytest.fixture
def offline(monkeypatch):
    """No network: any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_preprocessing_is_microlabs_normalisation_and_reads_back():
    from microlab.deep.bioimageio import preprocessing, ranges_from

    ranges = [(12.5, 4000.0), (0.0, 255.0)]
    image = np.random.default_rng(0).uniform(-100, 5000, (2, 8, 8))
    scale, clip = preprocessing(ranges)
    gain = np.array(scale.kwargs.gain)[:, None, None]
    offset = np.array(scale.kwargs.offset)[:, None, None]
    scaled = np.clip(image * gain + offset, clip.kwargs.min, clip.kwargs.max)
    np.testing.assert_allclose(scaled, normalise(image, ranges), atol=1e-6)
    np.testing.assert_allclose(ranges_from([scale, clip], 2), ranges, rtol=1e-12)


def test_other_preprocessing_is_not_read_as_microlabs():
    from bioimageio.spec.model import v0_5 as spec

    from microlab.deep.bioimageio import ranges_from

    percentiles = spec.ScaleRangeDescr(kwargs=spec.ScaleRangeKwargs(max_percentile=99.8))
    with pytest.raises(ValueError, match="scale_range"):
        ranges_from([percentiles])


@pytest.mark.slow
def test_the_package_is_a_valid_bioimageio_model_in_format_0_5(package):
    from bioimageio.spec import load_description
    from bioimageio.spec.model import v0_5

    path, model, _ = package
    descr = load_description(path)
    assert isinstance(descr, v0_5.ModelDescr), descr.validation_summary.format()
    assert descr.format_version.startswith("0.5.")
    assert descr.validation_summary.status == "valid-format"
    assert not [e for d in descr.validation_summary.details for e in d.errors]
    (raw,), (out,) = descr.inputs, descr.outputs
    assert [a.type for a in raw.axes] == ["batch", "channel", "space", "space"]
    assert [p.id for p in raw.preprocessing if p.id != "ensure_dtype"] == ["scale_linear",
                                                                           "clip"]
    assert out.axes[1].channel_names == model.classes
    assert [a.halo for a in out.axes[2:]] == [HALO, HALO]
    assert descr.weights.torchscript is not None
    assert descr.weights.pytorch_state_dict.architecture.callable == "probability_network"
    assert descr.config.model_extra["microlab"]["classes"] == model.classes
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"rdf.yaml", "cover.png", "README.md", "training.json", "network.py",
            "environment.yaml", "test_input.npy", "test_output.npy"} <= names


@pytest.mark.slow
def test_bioimageio_core_test_passes_offline(package, offline):
    from bioimageio.core import test_model

    summary = test_model(package[0])
    assert summary.status == "passed", summary.format()
    tested = {d.loc[1] for d in summary.details if d.loc[:1] == ("weights",)}
    assert tested == {"pytorch_state_dict", "torchscript"}


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["torchscript", "pytorch_state_dict"])
def test_the_package_computes_microlabs_probabilities_on_another_image(package, offline,
                                                                        weights, monkeypatch):
    from bioimageio.core import create_prediction_pipeline, load_description
    from bioimageio.core.digest_spec import create_sample_for_model

    path, model, _ = package
    monkeypatch.setattr(model, "predict_precision", "float32")  # as bioimage.io tools run
    image = two_phase(size=160, seed=1)[0][:, :128]  # another image, another shape
    expected = model.predict_proba(image)
    with create_prediction_pipeline(load_description(path), weight_format=weights) as pipe:

        def predict(**options):
            sample = create_sample_for_model(pipe.model_descr, inputs={"raw": image[None, None]},
                                             sample_id="s")
            out = pipe.predict_sample_without_blocking(sample, **options)
            return out.members["probabilities"].data.to_numpy()[0]

        # the whole image as microlab sees it: nothing mirrored around it
        exact = predict(skip_input_padding=True, skip_output_cropping=True)
        # as the tools predict a whole image: mirrored out by the halo, then cropped
        mirrored = predict()
    np.testing.assert_allclose(exact, expected, atol=1e-5)
    assert mirrored.shape == expected.shape
    inside = (slice(None), slice(2 * HALO, -2 * HALO), slice(2 * HALO, -2 * HALO))
    np.testing.assert_allclose(mirrored[inside], expected[inside], atol=0.02)
    assert (mirrored.argmax(0) == expected.argmax(0)).mean() > 0.99


@pytest.mark.slow
def test_a_two_channel_model_scales_each_channel_by_its_own_range(tmp_path):
    from bioimageio.core import create_prediction_pipeline, load_description
    from bioimageio.core.digest_spec import create_sample_for_model

    from microlab.deep import UNetSegmenter, load_bioimageio

    from .helpers import TINY

    image, _, scribbles = two_phase()
    channels = np.stack([image * 1000 + 50, image[::-1] * 3], axis=-1)  # (Y, X, C)
    model = UNetSegmenter(["dark", "bright"], max_steps=5, channel_axis=-1, autocontext=False,
                          **TINY)
    model.fit(channels, scribbles)
    model.predict_precision = "float32"  # as bioimage.io tools run
    path = model.export_bioimageio(tmp_path / "two.zip", channels, authors="Ada", halo=HALO)
    with create_prediction_pipeline(load_description(path), weight_format="torchscript") as pipe:
        sample = create_sample_for_model(
            pipe.model_descr, inputs={"raw": np.moveaxis(channels, -1, 0)[None]}, sample_id="s")
        out = pipe.predict_sample_without_blocking(sample, skip_input_padding=True,
                                                   skip_output_cropping=True)
    expected = model.predict_proba(channels)
    np.testing.assert_allclose(out.members["probabilities"].data.to_numpy()[0], expected,
                               atol=1e-5)
    back = load_bioimageio(path)
    back.predict_precision = "float32"
    assert back._ranges == model._ranges and back.channel_axis == -1
    np.testing.assert_array_equal(back.predict_proba(channels), expected)


@pytest.mark.slow
def test_export_then_import_predicts_identically(package):
    import microlab
    from microlab.deep import UNetSegmenter, load_bioimageio

    path, model, image = package
    back = load_bioimageio(path)
    assert isinstance(back, UNetSegmenter)
    assert (back.classes, back.colors, back.mode) == (model.classes, model.colors, model.mode)
    assert back._ranges == model._ranges
    np.testing.assert_array_equal(back.predict_proba(image), model.predict_proba(image))
    again = microlab.load_segmenter(path)
    np.testing.assert_array_equal(again.predict(image), model.predict(image))


def _unpacked(path, folder, edit):
    """The package unzipped into ``folder`` with its description changed by ``edit``."""
    from bioimageio.spec.utils import read_yaml, write_yaml

    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    rdf = folder / "rdf.yaml"
    content = read_yaml(rdf)
    edit(content)
    write_yaml(content, rdf)
    return rdf


def _unet2d(content):
    content["weights"]["pytorch_state_dict"]["architecture"].update(
        source="unet2d.py", callable="UNet2d", kwargs={"depth": 4})


def _torchscript_only(content):
    del content["weights"]["pytorch_state_dict"]
    del content["weights"]["torchscript"]["parent"]


@pytest.mark.slow
@pytest.mark.parametrize(("edit", "holds"), [
    (_unet2d, "architecture 'UNet2d' from unet2d.py"),
    (_torchscript_only, "weights only as torchscript"),
])
def test_a_package_of_another_architecture_is_refused_naming_it(package, tmp_path, edit,
                                                                holds):
    from microlab.deep import load_bioimageio

    rdf = _unpacked(package[0], tmp_path, edit)
    with pytest.raises(ValueError, match="another architecture") as caught:
        load_bioimageio(rdf)
    assert holds in str(caught.value) and "probability_network" in str(caught.value)


@pytest.mark.slow
def test_a_package_with_other_preprocessing_is_refused(package, tmp_path):
    from microlab.deep import load_bioimageio

    def percentiles(content):
        content["inputs"][0]["preprocessing"] = [
            {"id": "scale_range", "kwargs": {"min_percentile": 1, "max_percentile": 99.8}}]

    with pytest.raises(ValueError, match="preprocessing is \\['scale_range'\\]"):
        load_bioimageio(_unpacked(package[0], tmp_path, percentiles))


@pytest.mark.slow
def test_a_package_with_damaged_weights_is_refused(package, tmp_path):
    from microlab.deep import load_bioimageio

    rdf = _unpacked(package[0], tmp_path, lambda content: None)
    with (tmp_path / "weights.pt").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match=r"SHA256 mismatch for .*weights\.pt"):
        load_bioimageio(rdf)


def test_a_missing_package_is_named(tmp_path):
    from microlab.deep import load_bioimageio

    with pytest.raises(FileNotFoundError, match=r"nothing\.bioimageio\.zip"):
        load_bioimageio(tmp_path / "nothing.bioimageio.zip")


def test_a_zip_that_is_no_package_is_refused(tmp_path):
    from microlab.deep import load_bioimageio

    path = tmp_path / "notes.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "not a model")
    with pytest.raises(ValueError, match=r"notes\.zip is not a bioimage\.io package"):
        load_bioimageio(path)


def test_export_needs_a_trained_model():
    from microlab.deep import UNetSegmenter

    with pytest.raises(RuntimeError, match="not trained"):
        UNetSegmenter(pretrained=False).export_bioimageio("m.zip", np.zeros((64, 64)),
                                                          authors="Ada Lovelace")


@pytest.mark.parametrize(("path", "options", "message"), [
    ("model.tif", {"authors": "Ada"}, "is a zip file"),
    ("model.zip", {"authors": []}, "authors must name at least one person"),
    ("model.zip", {"authors": "Ada", "halo": -1}, "halo must be"),
])
def test_export_checks_its_arguments_first(network_only, tmp_path, path, options, message):
    model, image, _, _ = network_only
    with pytest.raises(ValueError, match=message):
        model.export_bioimageio(tmp_path / path, image, **options)
    assert not list(tmp_path.iterdir())
