"""Every script in benchmarks/ still runs, at a tiny size, and prints both sides of its claim.

The benchmarks are the evidence behind the README's table; nothing else runs them, so one
that stops working (as ``bench_widget.py`` did once a project refused a second writer) went
unnoticed until someone measured again. Here each runs as a user runs it, in its own
process, with the smallest arguments it takes; the test checks that it ends without an
error and prints microlab's figure and the anchor's (or the other tier's). The figures
themselves are not judged here: at these sizes they mean nothing, and timings belong to
the benchmarks, on a quiet machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"[-+]?\d+(?:\.\d+)?"


def _benchmark(module: str):
    """A module of benchmarks/ (a folder, not a package), imported as the scripts see it."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


# (script and its smallest arguments, patterns its output must hold)
RUNS = {
    "rf": (["bench_rf.py", "--runs", "1"],
           [rf"anchor \(skimage \+ sklearn RF\)\s+{NUMBER}",
            rf"microlab RandomForestSegmenter\s+{NUMBER}", r"faster than the anchor"]),
    "features": (["bench_features.py", "--runs", "3"],
                 [rf"microlab FeatureBank, 41 features: {NUMBER} s/Mpx",
                  rf"skimage multiscale_basic_features, 20 features: {NUMBER} s/Mpx",
                  r"peak RSS x"]),
    "features_3d": (["bench_features_3d.py", "--runs", "1", "--no-memory"],
                    [rf"anchor \(skimage, 25 features\)\s+{NUMBER} s",
                     rf"microlab \(default 3D bank, 42\)\s+{NUMBER} s", r"the anchor's Mvox/s"]),
    "forest_kernel": (["bench_forest_kernel.py", "--runs", "1"],
                      [rf"sandstone\s+target: 50 trees.*\s{NUMBER}x",
                       r"noise\s+segmenter defaults"]),
    "measure": (["bench_measure.py", "--runs", "1"],
                [rf"objects 2D, 10000 objects\s+{NUMBER}\s+{NUMBER}",
                 rf"neighbours k=8, 100 000 pts\s+{NUMBER}\s+{NUMBER}"]),
    "objects_panel": (["bench_objects_panel.py", "--repeats", "1", "--images", "2"],
                      [rf"objects \+ table \+ overlay after a prediction\s+{NUMBER} ms",
                       rf"anchor: skimage regionprops_table alone\s+{NUMBER} ms",
                       rf"apply to all, 2 images .*{NUMBER} s"]),
    "widget": (["bench_widget.py", "--repeats", "1"],
               [rf"first view of 4096²: median {NUMBER} s", r"anchor \(full-resolution PNG\)",
                rf"brush on 4096².*median {NUMBER} ms", rf"live update .*median {NUMBER} s"]),
    "tiling": (["bench_tiling.py", "--sizes", "1024", "2048", "--anchor-size", "1024"],
               [rf"predict_tiled 2048² memmap -> zarr: peak RSS {NUMBER} MB",
                rf"anchor: whole-image predict_proba 1024² in memory: peak RSS {NUMBER} MB"]),
    "distributed": (["bench_distributed.py", "--sizes", "2048", "--runs", "1"],
                    [rf"2048² ome-zarr, 2 worker\(s\): {NUMBER} Mpx/s",
                     rf"2 workers / 1 worker = {NUMBER}×"]),
    "instances": (["bench_instances.py", "--runs", "1", "--images", "1", "--volumes", "1"],
                  [rf"2D\s+{NUMBER}\s+{NUMBER}", rf"3D\s+{NUMBER}\s+{NUMBER}"]),
    "instances_real": (["bench_instances.py", "--real", "--seeds", "1", "--radii", "8"],
                       [rf"microlab {NUMBER}\s+anchor {NUMBER}",
                        rf"all\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}"]),
    "rf_instances": (["bench_rf_instances.py", "--seeds", "1", "--radii", "8"],
                     [rf"microlab {NUMBER}\s+\+ image {NUMBER}\s+anchor {NUMBER}"]),
    "unet": (["bench_unet.py", "--minutes", "0.05", "--transfer-minutes", "0.05", "--runs", "1",
              "--keep-start", "0.5"],
             [rf"Random Forest\s+{NUMBER}", rf"U-Net 0.05 min\s+{NUMBER}",
              rf"pretrained, keep 0.5 - random init, keep 0.5 = {NUMBER}"]),
    "unet_nuclei": (["bench_unet_nuclei.py", "--runs", "1", "--minutes", "0.05", "--size", "256",
                     "--test", "1", "--pretrained", "false", "true",
                     "--learning-rates", "0.002", "0.0004",
                     "--radius", "4", "7", "--object-scales", "1", "auto"],
                    [rf"forest \+ instances, ring\s+{NUMBER}\s+{NUMBER}",
                     rf"forest, instance mode, scale auto\s+{NUMBER}\s+{NUMBER}",
                     r"UNetSegmenter, object_scale=auto: images enlarged 1\.\d+ times",
                     r"UNetSegmenter, object_scale=1: images at their own scale",
                     rf"U-Net instance, 0.05 min, lr 0.0004, pretrained, scale 1\s+{NUMBER}",
                     rf"lr 0.0004, scale auto: pretrained - random init = {NUMBER} AP@0.5",
                     r"run 1: forest, instance mode.*merged \d+ missed \d+ split \d+ spurious \d+",
                     r"fit s\s+merged\s+missed\s+split\s+spurious"]),
    "unet_nuclei_real": (["bench_unet_nuclei.py", "--real", "--runs", "1", "--minutes", "0.05",
                          "--size", "256", "--test", "1", "--pretrained", "false", "true",
                          "--keep-start", "0", "0.5", "--spread", "1.6", "--degrade", "blur",
                          "--patch-size", "64", "--boundary-widths", "2", "3"],
                         [r"U-Nets train on 64² patches",
                          r"real nuclei of radius 9 px ÷/× 1.6 \(log-uniform\).*degraded: blur",
                          rf"forest \+ instances, ring\s+{NUMBER}\s+{NUMBER}",
                          rf"U-Net instance, 0.05 min, keep 0, boundary 2, pretrained\s+"
                          rf"{NUMBER}\s+{NUMBER}",
                          rf"U-Net instance, 0.05 min, keep 0.5, boundary 3, random init\s+"
                          rf"{NUMBER}",
                          rf"keep 0.5, boundary 3: pretrained - random init = {NUMBER} "
                          r"AP@0.5"]),
    "unet_device": (["bench_unet_device.py", "--device", "cpu", "--steps", "2", "--side", "640",
                     "--runs", "1", "--forest-side", "256", "--precisions", "auto"],
                    [rf"U-Net fit, 2 steps on cpu: {NUMBER} s",
                     rf"U-Net predict_tiled, auto\s+{NUMBER}\s+{NUMBER}",
                     rf"RF predict_tiled \(CPU\)\s+{NUMBER}\s+{NUMBER}",
                     r"sandstone mosaic 640² \(forest 256²\)"]),
    "notebooks": (["bench_notebooks.py", "00"],
                  [rf"\(anchor: import microlab\)\s+{NUMBER} s",
                   rf"00_quickstart.ipynb\s+{NUMBER} s"]),
}
DEEP = {"unet", "unet_nuclei", "unet_nuclei_real", "unet_device"}


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """Run a benchmark script (``args[0]`` in benchmarks/) as a user does, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_every_benchmark_script_is_run_here():
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == {args[0] for args, _ in RUNS.values()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_the_benchmark_runs_and_prints_both_sides(name):
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    if name in DEEP:
        pytest.importorskip("torch")
    args, patterns = RUNS[name]
    done = _run(args)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for pattern in patterns:
        assert re.search(pattern, output), f"{pattern!r} not in the output:\n{output[-4000:]}"


@pytest.mark.slow
def test_the_nuclei_benchmark_paints_one_half_of_a_labelled_image_and_scores_the_other(
        tmp_path):
    """``--image/--mask``: the issue's check on a real labelled image, here made nuclei saved
    as TIFF files the way a user's would be (uint16 image, label mask)."""
    pytest.importorskip("torch")
    import tifffile

    import microlab

    image, truth = microlab.data.synthetic_nuclei((192, 256), seed=3, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "mask.tif", truth.astype(np.uint16))
    done = _run(["bench_unet_nuclei.py", "--image", str(tmp_path / "img.tif"),
                 "--mask", str(tmp_path / "mask.tif"), "--runs", "2", "--minutes", "0.05",
                 "--painted", "5", "--pretrained", "false", "--dimmed", "default", "true",
                 "--merge-unbounded", "false", "true", "--merge-pieces", "false", "true",
                 "--merge-enlarged", "false", "true"])
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "trained on the left half" in output and "trained on the right half" in output
    objects = len(np.unique(truth)) - 1
    assert re.search(rf"img\.tif \({objects} labelled objects, median radius {NUMBER} px\), "
                     r"half of it painted, the other half scored, 5 whole nuclei painted; "
                     r"medians of 2 runs\n", output), output[-2000:]
    assert re.search(rf"forest, instance mode\s+{NUMBER}\s+{NUMBER}", output)
    assert re.search(rf"U-Net instance, 0.05 min\s+{NUMBER}\s+{NUMBER}", output)
    assert re.search(r"run 2: the U-Net trains on dimmed copies: (yes|no) \(\d+ of \d+ "
                     r"unpainted blobs", output)
    assert re.search(rf"U-Net instance, 0.05 min, dimmed\s+{NUMBER}\s+{NUMBER}", output)
    assert re.search(rf"U-Net instance, 0.05 min, dimmed, seeds only\s+{NUMBER}\s+{NUMBER}",
                     output)
    assert re.search(rf"U-Net instance, 0.05 min, pieces apart\s+{NUMBER}\s+{NUMBER}", output)
    assert re.search(rf"U-Net instance, 0.05 min, dimmed, seeds only, pieces apart\s+{NUMBER}"
                     rf"\s+{NUMBER}", output)
    assert re.search(rf"forest, instance mode, merged enlarged\s+{NUMBER}\s+{NUMBER}", output)
    assert re.search(rf"U-Net instance, 0.05 min, dimmed, merged enlarged\s+{NUMBER}"
                     rf"\s+{NUMBER}", output)


def test_the_nuclei_benchmark_says_when_the_mask_does_not_fit_the_image(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "img.tif", np.zeros((64, 80), np.uint16))
    tifffile.imwrite(tmp_path / "mask.tif", np.zeros((64, 64), np.uint16))
    done = _run(["bench_unet_nuclei.py", "--image", str(tmp_path / "img.tif"),
                 "--mask", str(tmp_path / "mask.tif")])
    assert done.returncode != 0
    assert "--image is (64, 80) but --mask is (64, 64)" in done.stderr
    done = _run(["bench_unet_nuclei.py", "--image", str(tmp_path / "img.tif")])
    assert done.returncode == 2 and "--image needs --mask" in done.stderr
    done = _run(["bench_unet_nuclei.py", "--held-out-nuclei"])
    assert done.returncode == 2 and "--held-out-nuclei chooses among the nuclei of --real" \
        in done.stderr
    done = _run(["bench_unet_nuclei.py", "--ignore", str(tmp_path / "mask.tif")])
    assert done.returncode == 2 and "--ignore marks unknown pixels of --image" in done.stderr
    tifffile.imwrite(tmp_path / "mask.tif", np.arange(64 * 80, dtype=np.uint16).reshape(
        64, 80) % 3)
    tifffile.imwrite(tmp_path / "unknown.tif", np.zeros((64, 64), np.uint8))
    done = _run(["bench_unet_nuclei.py", "--image", str(tmp_path / "img.tif"),
                 "--mask", str(tmp_path / "mask.tif"), "--ignore",
                 str(tmp_path / "unknown.tif")])
    assert done.returncode != 0 and "--ignore is (64, 64) but --image is (64, 80)" \
        in done.stderr


def test_held_out_nuclei_are_the_half_the_pretraining_leaves_out():
    held_out = _benchmark("real_nuclei").held_out
    nuclei = [("light", "mask", float(r)) for r in range(7)]
    kept, background, noise = held_out((nuclei, 3.0, 0.5))
    assert [r for *_, r in kept] == [1.0, 3.0, 5.0] and (background, noise) == (3.0, 0.5)


def test_the_halves_are_the_image_cut_in_two_with_objects_numbered_anew():
    halves = _benchmark("bench_unet_nuclei").halves
    image = np.arange(8 * 6).reshape(8, 6)
    truth = np.zeros((8, 6), int)
    truth[1:3, 1:5] = 7  # cut by a left/right split: one object in each half
    truth[5:7, 4:6] = 9
    (train, train_truth, none), (test, test_truth, _) = halves(image, truth, "right")
    assert (train == image[:, 3:]).all() and (test == image[:, :3]).all()
    assert set(np.unique(train_truth)) == {0, 1, 2} and set(np.unique(test_truth)) == {0, 1}
    assert none is None
    unknown = image % 5 == 0
    (train, _, train_unknown), (test, _, test_unknown) = halves(image, truth, "top", unknown)
    assert train.shape == test.shape == (4, 6) and (test == image[4:]).all()
    assert (train_unknown == unknown[:4]).all() and (test_unknown == unknown[4:]).all()


def test_unknown_pixels_get_no_strokes_and_objects_on_them_are_not_scored():
    """``--ignore``: nuclei a mask leaves unlabelled are neither painted as background nor
    held against a method that finds them."""
    bench = _benchmark("bench_unet_nuclei")
    strokes = bench.strokes
    without_unknown = bench.without_unknown
    truth = np.zeros((48, 48), int)
    truth[5:15, 5:15] = 1
    unknown = np.zeros((48, 48), bool)
    unknown[:, 30:40] = True  # a column of unlabelled nuclei
    for seed in range(5):
        free = strokes(truth, 1, np.random.default_rng(seed))
        layer = strokes(truth, 1, np.random.default_rng(seed), unknown=unknown)
        assert (free[:, 30:40] == 2).any() and not (layer[:, 28:42] == 2).any()
        assert (layer == 2).any() and (layer[5:15, 5:15] == 1).all()
    found = np.zeros((48, 48), int)
    found[5:15, 5:15] = 3  # a true nucleus
    found[10:20, 31:39] = 5  # wholly on unknown pixels: dropped
    found[40:44, 26:34] = 6  # half on them, not more: kept
    kept = without_unknown(found, unknown)
    assert set(np.unique(kept)) == {0, 3, 6} and (kept[found != 5] == found[found != 5]).all()
    assert without_unknown(found, None) is found


def test_ignore_auto_finds_the_nuclei_a_mask_left_out():
    unlabelled_nuclei = _benchmark("bench_unet_nuclei").unlabelled_nuclei
    import microlab

    image, truth = microlab.data.synthetic_nuclei((256, 256), seed=4, dtype=np.uint16)
    left_out = np.unique(truth)[1:][::4]  # an automatic mask that skipped every fourth
    mask = np.where(np.isin(truth, left_out), 0, truth)
    unknown = unlabelled_nuclei(image, mask)
    found = [label for label in left_out if unknown[truth == label].mean() > 0.5]
    assert len(found) >= 0.8 * len(left_out)
    assert not (unknown & (mask > 0)).any()  # never on a labelled nucleus
    assert not unlabelled_nuclei(image, truth)[truth == 0].mean() > 0.01  # a whole mask
