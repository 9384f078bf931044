"""Tiled prediction on a Dask cluster: throughput of 1 vs 2 workers, peak memory per worker.

Model: a RandomForestSegmenter with a few features (``FEATURES``), trained on a 256² crop of
the bundled sandstone slice from 1 % scribbles. Input: a uint8 OME-Zarr image per size
(default 8192², 16384², 32768²; ``--input zarr`` for a bare zarr array) in a temporary
folder, written chunk by chunk (1024²) from the sandstone slice repeated with wrap-around, so
it never exists whole in memory; the workers read it by its path
(``microlab.inference.image_file``). Each run
starts a fresh ``LocalCluster`` (one thread per worker process), loads the model and compiles
the kernels on every worker outside the timing, then times
``predict_tiled(rf, image, tile=TILE, cluster=client, out=zarr)``; the workers' resident
memory is sampled with psutil every 0.1 s. Reported: the median over ``--runs`` of Mpx/s and
of the largest worker's peak RSS, and the cores the workers kept busy (CPU time / wall time:
below the number of workers when other processes share the machine).

Targets (issue): 2 workers vs 1 worker >= 1.7× the throughput on a 2-core machine; each
worker's peak RSS flat within 20 % from the smallest to the largest size.

Usage::

    python benchmarks/bench_distributed.py [--sizes 8192 16384 32768] [--runs 3] [--tile 1024]
                                           [--input ome-zarr|zarr]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import microlab

FEATURES = ["Gaussian σ=1.0", "Gaussian σ=4.0", "Sobel", "LoG σ=2.0", "Variance r=3"]
CHUNK = 1024
TARGET_SPEEDUP = 1.7
TARGET_FLAT = 0.20


def write_image(path: Path, size: int):
    """A uint8 zarr image of ``size``², written one chunk at a time from the sandstone."""
    import zarr

    cell = np.asarray(microlab.data.sandstone(0)[0].data)
    image = zarr.create_array(str(path), shape=(size, size), chunks=(CHUNK, CHUNK),
                              dtype="u1")
    for y in range(0, size, CHUNK):
        rows = np.arange(y, min(y + CHUNK, size)) % cell.shape[0]
        for x in range(0, size, CHUNK):
            cols = np.arange(x, min(x + CHUNK, size)) % cell.shape[1]
            image[y : y + len(rows), x : x + len(cols)] = cell[np.ix_(rows, cols)]
    return image


def write_ome_zarr_image(path: Path, size: int):
    """The same image as an OME-Zarr (one level, 1024² chunks), opened as workers read it."""
    import dask.array as da

    from microlab.inference.distributed import image_file
    from microlab.io import write_ome_zarr

    cell = np.asarray(microlab.data.sandstone(0)[0].data)

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return cell[np.ix_(np.arange(y0, y1) % cell.shape[0], np.arange(x0, x1) % cell.shape[1])]

    pixels = da.map_blocks(block, chunks=((CHUNK,) * (size // CHUNK),) * 2, dtype=np.uint8)
    write_ome_zarr(path, microlab.Image(pixels, "YX", (1.0, 1.0), "µm"), levels=1,
                   chunks=CHUNK)
    return image_file(path)


def warm_up(model_path: str) -> None:
    """On a worker: import, load the model and compile the kernels (outside the timing)."""
    model = microlab.load_segmenter(model_path)
    model.predict_proba(microlab.data.sandstone(0)[0].data[:64, :64])


class Sampler:
    """The peak resident memory of each worker process, sampled every 0.1 s, and the CPU
    time they used (on a shared machine, cores busy elsewhere show up as less than N)."""

    def __init__(self, pids) -> None:
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.peaks = [0] * len(self.processes)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(0.1):
            for i, process in enumerate(self.processes):
                self.peaks[i] = max(self.peaks[i], process.memory_info().rss)

    def _cpu(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.processes)

    def __enter__(self) -> Sampler:
        self.cpu = -self._cpu()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        self.cpu += self._cpu()


def one_run(rf, model_path: Path, image, folder: Path, workers: int, tile: int) -> tuple:
    """(seconds, largest worker peak RSS in MB, cores used) of one prediction on a fresh
    cluster."""
    from distributed import Client, LocalCluster

    from microlab.inference import predict_tiled

    out = folder / "proba.zarr"
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(warm_up, str(model_path))
        with Sampler(client.run(os.getpid).values()) as sampler:
            start = time.perf_counter()
            predict_tiled(rf, image, tile=tile, cluster=client, out=out, overwrite=True)
            seconds = time.perf_counter() - start
    return seconds, max(sampler.peaks) / 2**20, sampler.cpu / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384, 32768])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tile", type=int, default=1024, help="block (zarr chunk) size")
    parser.add_argument("--input", choices=["ome-zarr", "zarr"], default="ome-zarr")
    args = parser.parse_args()

    image, truth = microlab.data.sandstone(0)
    scribbles = microlab.labels.scribbles_from_truth(truth, fraction=0.01)
    crop = microlab.Image(image.data[:256, :256], "YX")
    rf = microlab.RandomForestSegmenter(microlab.data.SANDSTONE_CLASSES, features=FEATURES)
    rf.fit(crop, scribbles[:256, :256], progress=False)
    print(f"model: RandomForestSegmenter, {len(FEATURES)} features, context {rf.context} px; "
          f"tile {args.tile}; input {args.input}; {os.cpu_count()} CPU cores; median of "
          f"{args.runs} run(s)")
    rates: dict[tuple[int, int], float] = {}
    peaks: dict[tuple[int, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path = folder / "model.safetensors"
        rf.save(model_path)
        for size in sorted(args.sizes):
            if args.input == "ome-zarr":
                stored = write_ome_zarr_image(folder / f"image{size}.ome.zarr", size)
            else:
                stored = write_image(folder / f"image{size}.zarr", size)
            for workers in (1, 2):
                runs = [one_run(rf, model_path, stored, folder, workers, args.tile)
                        for _ in range(args.runs)]
                seconds = statistics.median(r[0] for r in runs)
                rates[size, workers] = size * size / 1e6 / seconds
                peaks[size, workers] = statistics.median(r[1] for r in runs)
                cores = statistics.median(r[2] for r in runs)
                print(f"  {size}² {args.input}, {workers} worker(s): "
                      f"{rates[size, workers]:.2f} Mpx/s "
                      f"({seconds:.1f} s, {cores:.2f} cores busy), peak RSS per worker "
                      f"{peaks[size, workers]:.0f} MB")
    for size in sorted(args.sizes):
        speedup = rates[size, 2] / rates[size, 1]
        print(f"{size}²: 2 workers / 1 worker = {speedup:.2f}× (target >= {TARGET_SPEEDUP}: "
              f"{'met' if speedup >= TARGET_SPEEDUP else 'MISSED'})")
    small, large = min(args.sizes), max(args.sizes)
    if large != small:
        for workers in (1, 2):
            ratio = peaks[large, workers] / peaks[small, workers]
            print(f"peak RSS per worker, {workers} worker(s), {large}² / {small}²: {ratio:.2f} "
                  f"(target <= {1 + TARGET_FLAT:.2f}: "
                  f"{'met' if ratio <= 1 + TARGET_FLAT else 'MISSED'})")


if __name__ == "__main__":
    main()
