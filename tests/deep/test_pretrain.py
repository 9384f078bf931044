"""The pretraining script: what it writes, what it reads, and what an interruption leaves."""

import numpy as np
import pytest
import tifffile

pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab.data.scenes import synthetic_cells, synthetic_phases, synthetic_textures
from microlab.deep.pretrain import (
    HELD_OUT,
    TASKS,
    VARIED,
    forest_channels,
    lineage,
    main,
    pretrain,
    real_images,
)
from microlab.deep.weights import read_pretrained

from .helpers import raise_at


def test_pretrain_writes_weights_card_and_scores(tiny_weights):
    path, info = tiny_weights
    assert set(info["scores"]) == {"nuclei", "phases", "cells", "textures"}  # no real data
    for figures in info["scores"].values():
        assert 0 <= figures["mean_iou"] <= figures["pixel_accuracy"] <= 1
    assert info["recipe"]["steps"] == 3
    card = path.with_suffix(".md").read_text()
    assert "## Held-out scores" in card and "| nuclei |" in card
    assert f'UNetSegmenter(pretrained="{path.name}")' in card  # how to start from this file
    config, state = read_pretrained(path)
    assert config["heads"] == info["heads"]
    assert sum(n for _, n in info["heads"].values()) == state["head.classify.bias"].numel()


def test_autocontext_pretraining_scores_the_network_against_its_forests(tiny_corrector):
    path, info = tiny_corrector
    for figures in info["scores"].values():
        assert 0 <= figures["forest_mean_iou"] <= 1
    card = path.with_suffix(".md").read_text()
    assert "4 channels of an autocontext forest's probabilities" in card
    assert info["recipe"]["overlap"] == 1.0  # every nuclei scene with a layer on top
    assert "In 100% of the nuclei scenes a second, sparser layer of nuclei" in card
    assert "| the forest's mean IoU |" in card


def test_forest_channels_come_from_a_forest_trained_on_strokes():
    rng = np.random.default_rng(0)
    image, labels = synthetic_phases((96, 96), 3, noise=0.02, seed=1)
    channels = forest_channels(image, labels, rng)
    assert channels.shape == (4, 96, 96) and not channels[3].any()  # 3 classes of 4 slots
    np.testing.assert_allclose(channels[:3].sum(0), 1, atol=1e-5)
    assert (channels[:3].argmax(0) + 1 == labels).mean() > 0.9


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("out of memory")],
                         ids=["ctrl-c", "error"])
def test_interrupted_pretraining_leaves_the_previous_weights_intact(tmp_path, error):
    path = tmp_path / "unet-mobilenet_v2-w0.25.safetensors"
    path.write_bytes(b"the weights shipped before")
    path.with_suffix(".md").write_text("their model card")
    with pytest.raises(type(error)):
        pretrain(path, width=0.25, steps=20, minutes=None, scenes=2, progress=False,
                 callbacks=[raise_at(2, error)])
    assert path.read_bytes() == b"the weights shipped before"
    assert path.with_suffix(".md").read_text() == "their model card"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".md").name, path.name]


def test_real_images_skip_held_out_slices(tmp_path):
    folder = tmp_path / "sandstone" / "images"
    folder.mkdir(parents=True)
    for name in ("Sandstone_Versa0000", HELD_OUT[0], HELD_OUT[-1]):
        tifffile.imwrite(folder / f"{name}.tif", np.zeros((40, 40), np.uint8))
    (tmp_path / "osteosarcoma").mkdir()
    colour = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "osteosarcoma" / "cells.tif", colour, photometric="rgb")
    images, names = real_images(tmp_path)
    assert names == ["sandstone/images/Sandstone_Versa0000.tif",
                     "osteosarcoma/cells.tif (3 channels)"]
    assert len(images) == 4 and all(im.shape == (40, 40) for im in images)
    assert real_images(tmp_path / "absent") == ([], [])


def test_command_line_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--minutes" in out and "--nuclei-radius" in out and "--workers" in out
    assert "--varied-nuclei" in out and "--learning-rate" in out


def test_varied_nuclei_scenes_draw_longer_nuclei_and_the_command_records_them():
    from scipy import ndimage as ndi
    from skimage.measure import regionprops

    from microlab.deep.pretrain import _nuclei, command

    def aspects(varied):
        rng = np.random.default_rng(0)
        found = []
        for _ in range(6):
            _, labels = _nuclei(rng, 160, radius=(8.0, 12.0), varied=varied)
            parts = ndi.label(labels == 3)[0]  # interiors, one per nucleus
            found += [p.axis_major_length / p.axis_minor_length
                      for p in regionprops(parts) if p.area > 30]
        return np.array(found)

    plain, varied = aspects(False), aspects(True)
    assert np.percentile(varied, 90) > np.percentile(plain, 90) + 0.3
    assert VARIED["elongation"][1] > 0.25  # wider than synthetic_nuclei's default
    recipe = {"budget": {"minutes": 60, "steps": None, "schedule_steps": None},
              "scenes_per_task": 2048, "batch_size": 8, "learning_rate": 0.001,
              "overlap": 0.5, "nuclei_radius": [4.0, 16.0], "workers": 2, "seed": 0,
              "device": "cpu", "autocontext": False, "real": True, "varied_nuclei": True}
    line = command({"encoder": "mobilenet_v2", "width": 0.5, "recipe": recipe})
    assert line.endswith("--learning-rate 0.001 --overlap 0.5 --workers 2 --varied-nuclei")


def test_a_varied_pretraining_says_so_in_its_recipe_and_card(tmp_path, monkeypatch):
    path = tmp_path / "varied.safetensors"
    info = pretrain(path, width=0.25, steps=1, minutes=None, scenes=2, progress=False,
                    varied_nuclei=True, learning_rate=1e-3, data=None)
    assert info["recipe"]["varied_nuclei"] == {k: list(v) for k, v in VARIED.items()}
    assert info["recipe"]["learning_rate"] == 1e-3
    card = path.with_suffix(".md").read_text()
    assert "draws its nuclei's look (elongation 0.25–0.7" in card
    assert "--learning-rate 0.001" in card and "--varied-nuclei" in card

    # a card written again gives the ranges its file was drawn from
    from microlab.deep import pretrain as module

    config, _ = read_pretrained(path)
    monkeypatch.setitem(module.VARIED, "elongation", (0.1, 0.9))  # the ranges change later
    module._write_card(tmp_path / "again.md", config, path.stat().st_size)
    assert "(elongation 0.25–0.7," in (tmp_path / "again.md").read_text()
    config["recipe"]["varied_nuclei"] = True  # as files written before session 55 say
    module._write_card(tmp_path / "older.md", config, path.stat().st_size)
    assert "(elongation 0.1–0.9," in (tmp_path / "older.md").read_text()


@pytest.mark.parametrize("make", [synthetic_phases, synthetic_cells, synthetic_textures])
def test_scenes_are_seeded_and_labelled(make):
    image, labels = make((80, 96), seed=4)
    again, labels_again = make((80, 96), seed=4)
    assert image.shape == labels.shape == (80, 96)
    assert image.dtype == np.float32 and np.isfinite(image).all()
    np.testing.assert_array_equal(image, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert labels.min() >= 1 and len(np.unique(labels)) >= 2
    # classes differ in the image (grey level or texture): per-class means or spreads differ
    stats = [(image[labels == k].mean(), image[labels == k].std()) for k in np.unique(labels)]
    assert np.ptp([s[0] for s in stats]) > 0.02 or np.ptp([s[1] for s in stats]) > 0.01


def test_pretraining_draws_scenes_in_worker_processes_with_the_radii_asked_for(tmp_path):
    path = tmp_path / "wide.safetensors"
    info = pretrain(path, width=0.25, steps=3, minutes=None, scenes=3, progress=False,
                    workers=2, nuclei_radius=(3, 5))
    recipe = info["recipe"]
    assert recipe["nuclei_radius"] == [3.0, 5.0] and recipe["workers"] == 2
    assert recipe["schedule"] == "AdamW, cosine decay over the 3 steps"
    card = path.with_suffix(".md").read_text()
    assert "nuclei of radius 3–5 px" in card
    config, _ = read_pretrained(path)
    assert config["recipe"] == recipe  # the file's header holds the same recipe
    # the card gives the command that makes them again; it runs the same recipe
    line = ("python -m microlab.deep.pretrain --width 0.25 --minutes 0 --steps 3 --scenes 3 "
            "--nuclei-radius 3 5 --workers 2 --no-real")
    assert f"`{line}`" in card
    again = tmp_path / "again.safetensors"
    main([*line.split()[3:], "--out", str(again)])
    redone, _ = read_pretrained(again)
    assert {**redone["recipe"], "minutes": 0} == {**recipe, "minutes": 0}


def test_scene_pool_does_not_depend_on_the_number_of_workers():
    from microlab.deep.pretrain import make_pool

    one = make_pool(5, 48, seed=3, real=[], progress=False, workers=1,
                    radius=(3.0, 5.0))
    three = make_pool(5, 48, seed=3, real=[], progress=False, workers=3,
                      radius=(3.0, 5.0))
    other = make_pool(5, 48, seed=4, real=[], progress=False, workers=1)
    for task, (images, labels) in one.items():
        assert images.shape == (5, 1, 48, 48) and labels.shape == (5, 48, 48)
        np.testing.assert_array_equal(images, three[task][0])
        np.testing.assert_array_equal(labels, three[task][1])
        assert not np.array_equal(images, other[task][0])


def test_scene_pool_draws_nuclei_of_the_radii_asked_for():
    from scipy import ndimage as ndi

    from microlab.deep.pretrain import make_pool

    def interiors(radius):  # areas of the nuclei's interiors (class 3) in px
        labels = make_pool(3, 128, seed=0, real=[], progress=False, radius=radius)[
            "nuclei"][1]
        return np.concatenate([np.bincount(ndi.label(scene == 3)[0].ravel())[1:]
                               for scene in labels])

    small, large = interiors((3.0, 5.0)), interiors((12.0, 16.0))
    assert np.median(small) < np.pi * 6**2 < np.pi * 10**2 < np.median(large)


@pytest.mark.parametrize("radius", [(5, 3), (0, 4), (4,)])
def test_nuclei_radius_must_be_a_range_of_positive_sizes(radius):
    with pytest.raises(ValueError, match="smallest and largest radius"):
        pretrain("never.safetensors", nuclei_radius=radius, steps=1, minutes=None)


def test_overlap_must_be_a_share():
    with pytest.raises(ValueError, match=r"from 0 to 1; got 1\.5"):
        pretrain("never.safetensors", overlap=1.5, steps=1, minutes=None)


def test_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="shape must be"):
        synthetic_phases((4, 4))
    with pytest.raises(ValueError, match="classes must be an integer from 2 to 8"):
        synthetic_phases(classes=1)
    with pytest.raises(ValueError, match="classes must be an integer from 2 to 6"):
        synthetic_textures(classes=9)
    assert TASKS["nuclei"] == 3


def test_overlapping_nuclei_add_their_light_and_give_shared_pixels_to_the_one_on_top():
    from microlab.data import synthetic_nuclei
    from microlab.deep.pretrain import overlapping_nuclei

    options = {"radius": (6, 9), "blur": 1.0, "noise": 0.05, "illumination": 0.2}
    image, labels = overlapping_nuclei((128, 128), seed=4, **options)
    rng = np.random.default_rng(4)
    under, below = synthetic_nuclei((128, 128), seed=int(rng.integers(2**31)), **options)
    assert image.shape == labels.shape == (128, 128) and image.dtype == np.float32
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))  # numbered 0..N
    assert labels.max() > below.max()  # a layer of nuclei on top
    # the upper layer's nuclei cover some nuclei below: shared pixels belong to them
    on_top = (labels > 0) & (below > 0) & (labels != below)
    assert on_top.sum() > 50
    # and their light adds up there: brighter than the nuclei below alone
    assert np.median(image[on_top] - under[on_top]) > 0.2
    # elsewhere the lower layer is as drawn
    alone = (below > 0) & ~on_top
    assert np.array_equal(labels[alone] > 0, np.ones(alone.sum(), bool))
    again, same = overlapping_nuclei((128, 128), seed=4, **options)
    assert np.array_equal(image, again) and np.array_equal(labels, same)


def test_pretraining_goes_on_from_earlier_weights(tiny_weights, tmp_path):
    path, info = tiny_weights
    out = tmp_path / "more.safetensors"
    more = pretrain(out, width=0.25, steps=1, minutes=None, scenes=2, progress=False,
                    init=path, seed=1)
    assert more["recipe"]["init"] == {"file": path.name, "recipe": info["recipe"]}
    card = out.with_suffix(".md").read_text()
    assert f"These steps went on from the weights of `{path.name}` (3 steps" in card
    # the card gives both commands, in order, the first writing the file the second goes on from
    first, second = (line for line in card.splitlines() if ". `python -m" in line)
    assert first.startswith(f"1. `python -m microlab.deep.pretrain --out {path.name} ")
    assert second.startswith("2. `python -m microlab.deep.pretrain ")
    assert f"--init {path.name}" in second and "--out" not in second
    _, before = read_pretrained(path)
    _, after = read_pretrained(out)
    key = "encoder.features.0.0.weight"
    # one AdamW step from the earlier weights (another seed would start far from them)
    assert float((after[key] - before[key]).abs().max()) < 0.01
    # a third pretraining names the whole line of weights it comes from
    last = pretrain(tmp_path / "last.safetensors", width=0.25, steps=1, minutes=None, scenes=2,
                    progress=False, init=out, seed=2)
    assert [(name, r["steps"]) for name, r in lineage(last)] == [
        (path.name, 3), (out.name, 1), (None, 1)]
    card = (tmp_path / "last.md").read_text()
    assert (f"These steps went on from the weights of `{out.name}` (1 steps on cpu" in card
            and f"which went on from the weights of `{path.name}` (3 steps on cpu" in card)
    commands = [line for line in card.splitlines() if ". `python -m" in line]
    assert [line[:3] for line in commands] == ["1. ", "2. ", "3. "]
    assert f"--out {out.name}" in commands[1] and f"--init {out.name}" in commands[2]
    with pytest.raises(ValueError, match="pretrained for another network or other tasks"):
        pretrain(tmp_path / "wider.safetensors", width=0.5, steps=1, minutes=None, scenes=2,
                 progress=False, init=path)
    assert not (tmp_path / "wider.safetensors").exists()


def _real_nuclei_folder(shared_data, tmp_path):
    """A data folder with the real fluorescence images only (no sandstone to read)."""
    for rel in ("osteosarcoma/Osteosarcoma_01.tif", "unlabelled/BBBC022_IXMtest_A02_s9.tif",
                "unlabelled/BBBC038_0bf4b1.tif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).symlink_to(shared_data / rel)
    return tmp_path


def test_packed_real_nuclei_scenes_use_the_first_half_and_leave_other_scenes_as_they_were(
        shared_data, tmp_path):
    from microlab.data.real_nuclei import isolated_nuclei, nuclei_sources
    from microlab.deep.pretrain import _nuclei, real_packs

    packs, counts = real_packs(_real_nuclei_folder(shared_data, tmp_path))
    for (name, image), (nuclei, _, _) in zip(nuclei_sources(shared_data).items(), packs,
                                             strict=True):
        every = isolated_nuclei(image)[0]
        assert counts[name] == len(nuclei) == (len(every) + 1) // 2
        assert np.array_equal(nuclei[1][1], every[2][1])  # the 2nd kept is the 3rd found
        assert not any(np.array_equal(nuclei[1][1], n[1]) for n in every[1::2])
    image, labels = _nuclei(np.random.default_rng(0), 128, packs=packs, packed=1.0)
    assert image.shape == labels.shape == (128, 128)
    assert set(np.unique(labels)) == {1, 2, 3}  # background / boundary / interior
    # with no share packed, the draws are those of before (the shipped pools are unchanged)
    plain = _nuclei(np.random.default_rng(5), 96)
    same = _nuclei(np.random.default_rng(5), 96, packs=packs, packed=0.0)
    np.testing.assert_array_equal(plain[0], same[0])


def test_a_pretraining_on_real_nuclei_records_them_in_recipe_card_and_command(
        shared_data, tmp_path):
    data = _real_nuclei_folder(shared_data, tmp_path / "data")
    path = tmp_path / "packed.safetensors"
    info = pretrain(path, width=0.25, steps=1, minutes=None, scenes=2, progress=False,
                    real_nuclei=1.0, data=data)
    packed = info["recipe"]["real_nuclei"]
    assert packed["share"] == 1.0 and sorted(packed["nuclei"]) == ["bbbc022", "bbbc038",
                                                                     "osteosarcoma"]
    card = path.with_suffix(".md").read_text()
    assert "100% of the nuclei scenes are real nuclei packed touching" in card
    assert "--real-nuclei 1" in card
    assert read_pretrained(path)[0]["recipe"]["real_nuclei"] == packed


@pytest.mark.parametrize(("options", "message"), [
    ({"real_nuclei": 1.5, "data": None}, "share of nuclei scenes made of real nuclei"),
    ({"real_nuclei": 0.5, "data": None}, "pass data="),
])
def test_real_nuclei_asked_for_wrongly_is_refused_before_any_work(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        pretrain(tmp_path / "never.safetensors", steps=1, minutes=None, scenes=2,
                 progress=False, **options)
    assert not (tmp_path / "never.safetensors").exists()


def test_a_pretraining_logged_to_a_file_writes_plain_progress_lines(tmp_path, capsys):
    # under pytest stderr is not a terminal, as under nohup: Lightning's live bar would
    # show nothing until the end, so plain lines say how far the run has got
    import logging

    import lightning as L

    class Level(L.Callback):  # what Lightning's own warnings would meet during the run
        def on_train_start(self, trainer, module):
            self.level = logging.getLogger("lightning.pytorch").level

    level = Level()
    pretrain(tmp_path / "logged.safetensors", width=0.25, steps=2, minutes=None, scenes=2,
             progress=True, data=None, callbacks=[level])
    assert level.level == logging.WARNING  # kept in the log, though there is no bar
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("step 1 of 2, ") and ", loss " in line for line in lines)
    last = [line for line in lines if line.startswith("done: ")]
    assert len(last) == 1 and last[0].startswith("done: step 2 of 2, ")
    assert "steps/s" in last[0]
    assert not any("Epoch" in line for line in lines)  # no Lightning bar
