"""Tiled prediction on a Dask cluster: the same result as in one process, whatever happens.

Every cluster here is on the loopback interface; every test runs under a deadline and stops
every process it starts, also when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import microlab
from microlab.inference import image_file, predict_on_cluster, predict_tiled
from microlab.labels import scribbles_from_truth
from microlab.segmenter import labels_from_proba

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

DEADLINE = 120
"""Seconds a test may run before it fails (SIGALRM): nothing here may hang CI."""


@pytest.fixture(autouse=True)
def deadline():
    def expire(signum, frame):
        raise TimeoutError(f"the test ran past its deadline of {DEADLINE} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(DEADLINE)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def local_cluster(workers: int = 2):
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", memory_limit="2GiB",
    )


@pytest.fixture(scope="module")
def client():
    """Two worker processes on the loopback interface, shared by the tests that do not
    harm them."""
    cluster = local_cluster()
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def fitted_forest(features=("Gaussian σ=1.0", "Sobel", "LoG σ=2.0"), seed=0):
    image, truth = microlab.data.sandstone()
    rf = microlab.RandomForestSegmenter(features=list(features), n_estimators=10, n_jobs=1)
    strokes = scribbles_from_truth(truth, fraction=0.01, seed=seed)
    return rf.fit(image, strokes, progress=False)


@pytest.fixture(scope="module")
def forest():
    return fitted_forest()


@pytest.fixture(scope="module")
def picture():
    """A 640 × 768 uint8 image: sandstone, larger than one block in both directions."""
    image, _ = microlab.data.sandstone()
    return np.tile(np.asarray(image.data), (2, 2))[:640, :768].copy()


def chunk_files(path) -> int:
    return sum(1 for _ in (path / "c").rglob("*") if _.is_file()) if (path / "c").exists() else 0


# ---------------------------------------------------------------------- same as one process
@pytest.mark.slow
def test_blocks_on_two_workers_equal_one_process_bit_for_bit(client, forest, picture, tmp_path):
    stored = zarr.create_array(str(tmp_path / "image.zarr"), shape=picture.shape,
                               chunks=(100, 100), dtype=picture.dtype)
    stored[:] = picture
    out = predict_tiled(forest, stored, tile=128, cluster=client, out=tmp_path / "p.zarr")
    assert out.chunks == (4, 128, 128) and out.dtype == np.float32
    single = predict_tiled(forest, picture, tile=128, overlap=0)
    assert np.array_equal(out[:], single)
    np.testing.assert_allclose(out[:], forest.predict_proba(picture), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["numpy", "memmap", "dask", "image file", "zarr path"])
def test_every_kind_of_input_reaches_the_workers(client, forest, picture, tmp_path, kind):
    image = picture[:300, :400]
    if kind == "memmap":
        data = np.memmap(tmp_path / "image.u8", np.uint8, "w+", shape=image.shape)
        data[:] = image
    elif kind == "dask":
        data = da.from_array(image, chunks=(90, 120))
    elif kind == "image file":
        microlab.io.write_image(tmp_path / "image.tif", microlab.Image(image, "YX"))
        data = image_file(tmp_path / "image.tif")
    elif kind == "zarr path":
        data = tmp_path / "image.zarr"
        stored = zarr.create_array(str(data), shape=image.shape, chunks=(64, 64), dtype="u1")
        stored[:] = image
    else:
        data = image
    [proba] = predict_on_cluster(forest, [data], [tmp_path / "p.zarr"],
                                 labels=[tmp_path / "l.zarr"], tile=96, cluster=client)
    single = predict_tiled(forest, image, tile=96, overlap=0)
    assert np.array_equal(proba[:], single)
    labels = zarr.open_array(str(tmp_path / "l.zarr"), mode="r")
    assert labels.chunks == (96, 96)
    assert np.array_equal(labels[:], labels_from_proba(single))



@pytest.mark.slow
@pytest.mark.parametrize("kind", ["path", "file URL", "image file", "read image"])
def test_an_ome_zarr_is_read_per_block_on_the_workers(client, forest, picture, tmp_path, kind):
    pytest.importorskip("ome_zarr_models")
    image = picture[:300, :400]
    path = tmp_path / "image.ome.zarr"
    microlab.write_ome_zarr(path, microlab.Image(image, "YX"), levels=2, chunks=64)
    given = {"path": path, "file URL": path.as_uri(), "image file": image_file(path),
             "read image": microlab.read_image(path)}[kind]
    if kind == "image file":
        assert not hasattr(given.data, "compute")  # a handle, not the pixels
    out = predict_tiled(forest, given, tile=96, cluster=client, out=tmp_path / "p.zarr")
    single = predict_tiled(forest, image, tile=96, overlap=0)
    assert np.array_equal(out[:], single)


def test_image_file_of_an_ome_zarr_level_reads_that_level(picture, tmp_path):
    pytest.importorskip("ome_zarr_models")
    path = tmp_path / "image.ome.zarr"
    microlab.write_ome_zarr(path, microlab.Image(picture[:300, :400], "YX"), levels=2)
    for where in (path, path.as_uri()):
        opened = image_file(where, level=1)
        expected = np.asarray(microlab.read_image(path, level=1).data)
        assert opened.shape == (150, 200)
        assert np.array_equal(opened.data[10:20, 30:50], expected[10:20, 30:50])

@pytest.mark.slow
def test_many_images_are_one_run(client, forest, picture, tmp_path):
    images = [picture[:200, :300], picture[100:400, 50:250], microlab.Image(picture[:160], "YX")]
    outs = [tmp_path / f"p{i}.zarr" for i in range(3)]
    probas = predict_on_cluster(forest, images, outs, tile=128, cluster=client)
    for image, proba in zip(images, probas, strict=True):
        assert np.array_equal(proba[:], predict_tiled(forest, image, tile=128, overlap=0))


@pytest.mark.slow
def test_unet_blocks_equal_one_process(client, tmp_path):
    pytest.importorskip("torch")
    image, truth = microlab.data.sandstone()
    crop = microlab.Image(image.data[:192, :256], "YX")
    unet = microlab.tiers.tier("unet").create(
        ["a", "b", "c", "d"], None, pretrained=False, max_steps=4, patch_size=64,
        batch_size=2, progress=False)
    unet.fit(crop, scribbles_from_truth(truth[:192, :256], fraction=0.02, seed=1),
             progress=False)
    out = predict_tiled(unet, crop, tile=128, cluster=client, out=tmp_path / "p.zarr")
    np.testing.assert_allclose(out[:], predict_tiled(unet, crop, tile=128, overlap=0),
                               atol=1e-5)


# ---------------------------------------------------------------------- resume and refuse
@pytest.mark.slow
def test_resume_predicts_only_the_missing_blocks(client, forest, picture, tmp_path):
    path = tmp_path / "p.zarr"
    out = predict_tiled(forest, picture, tile=128, cluster=client, out=path)
    single = predict_tiled(forest, picture, tile=128, overlap=0)
    for key in ("c/0/1/2", "c/0/4/5", "c/0/0/0"):  # as if the run had stopped before these
        (path / key).unlink()
    out[:, 128:256, 0:128] = -1.0  # a written block, marked: resume must not touch it
    with pytest.raises(ValueError, match="resume=True"):
        predict_tiled(forest, picture, tile=128, cluster=client, out=path)
    predict_tiled(forest, picture, tile=128, cluster=client, out=path, resume=True)
    result = out[:]
    assert (result[:, 128:256, 0:128] == -1).all()
    result[:, 128:256, 0:128] = single[:, 128:256, 0:128]
    assert np.array_equal(result, single)


def test_an_output_of_another_model_or_of_no_model_is_refused(forest, picture, tmp_path):
    path = tmp_path / "p.zarr"
    other = fitted_forest(["Gaussian σ=2.0", "Sobel"], seed=3)
    out = zarr.create_array(str(path), shape=(4, *picture.shape), chunks=(4, 128, 128),
                            dtype="f4")
    out[:, :128, :128] = 0.25
    with pytest.raises(ValueError, match="data not written by microlab"):
        predict_tiled(forest, picture, cluster=2, out=path)  # refused before any cluster starts
    out.update_attributes({"microlab": {"kind": "random-forest", "model_digest": "0" * 64,
                                        "context": [1, 1], "classes": list(other.classes)}})
    with pytest.raises(ValueError, match="overwrite=True"):
        predict_tiled(forest, picture, cluster=2, out=path, resume=True)
    assert (out[:, :128, :128] == 0.25).all()


@pytest.mark.slow
def test_overwrite_replaces_another_models_blocks(client, forest, picture, tmp_path):
    path = tmp_path / "p.zarr"
    other = fitted_forest(["Gaussian σ=2.0", "Sobel"], seed=3)
    image = picture[:256, :384]
    predict_tiled(other, image, tile=128, cluster=client, out=path)
    out = predict_tiled(forest, image, tile=128, cluster=client, out=path, overwrite=True)
    assert np.array_equal(out[:], predict_tiled(forest, image, tile=128, overlap=0))


def test_an_unreachable_scheduler_fails_fast_and_names_the_address(forest, picture, tmp_path):
    with socket.socket() as s:  # a free port on the loopback interface: nobody answers
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=address):
        predict_tiled(forest, picture, cluster=address, out=tmp_path / "p.zarr")
    assert time.monotonic() - start < 15


def test_bad_cluster_arguments_say_what_to_do(forest, picture, tmp_path):
    with pytest.raises(ValueError, match="give out= a zarr array"):
        predict_tiled(forest, picture, cluster=2)
    with pytest.raises(ValueError, match="leave overlap out"):
        predict_tiled(forest, picture, cluster=2, overlap=16, out=tmp_path / "p.zarr")
    with pytest.raises(ValueError, match="in memory"):
        predict_tiled(forest, picture, cluster=2,
                      out=zarr.create_array({}, shape=(4, *picture.shape), dtype="f4"))
    with pytest.raises(ValueError, match="split the classes"):
        predict_tiled(forest, picture, cluster=2, out=zarr.create_array(
            str(tmp_path / "q.zarr"), shape=(4, *picture.shape), chunks=(1, 64, 64),
            dtype="f4"))
    with pytest.raises(TypeError, match="number of local worker processes"):
        predict_tiled(forest, picture, cluster=2.5, out=tmp_path / "r.zarr")


# ---------------------------------------------------------------------- faults
@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_corrupts_nothing(forest, picture, tmp_path):
    path = tmp_path / "p.zarr"
    total = (640 // 32) * (768 // 32)
    killed: dict = {}
    cluster = local_cluster()
    try:
        with distributed.Client(cluster) as client:
            victim = next(iter(client.run(os.getpid).values()))

            def kill_when_started():
                stop = time.monotonic() + 60
                while time.monotonic() < stop and chunk_files(path) < total // 8:
                    time.sleep(0.005)
                killed["written"] = chunk_files(path)
                os.kill(victim, signal.SIGKILL)

            killer = threading.Thread(target=kill_when_started, daemon=True)
            killer.start()
            out = predict_tiled(forest, picture, tile=32, cluster=client, out=path)
            killer.join(10)
            assert 0 < killed["written"] < total  # the kill came mid-run
            assert victim not in client.run(os.getpid).values()
    finally:
        cluster.close()
    assert np.array_equal(out[:], predict_tiled(forest, picture, tile=32, overlap=0))


@pytest.mark.slow
def test_a_scheduler_and_workers_started_apart_give_the_same_output(client, forest, picture,
                                                                   tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    processes = []
    try:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        stop = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < stop:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                 "1", "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "2GiB"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout="30s") as apart:
            apart.wait_for_workers(2, timeout=60)
        out = predict_tiled(forest, picture, tile=128, cluster=address, out=tmp_path / "a.zarr")
        local = predict_tiled(forest, picture, tile=128, cluster=client, out=tmp_path / "l.zarr")
        assert np.array_equal(out[:], local[:])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
