"""Tiled prediction on a Dask ``distributed`` cluster: one task per block of a zarr output.

A block is one chunk (or shard) of the output array. Its task reads the block with the
segmenter's ``context`` around it (the window origin snapped to its ``alignment``, exactly
as :func:`~microlab.inference.predict_tiled` reads a tile with ``overlap=0``), predicts and
writes the block's chunk whole. So no two tasks write one chunk, a task the scheduler reruns
(because its worker died) writes the same bytes again, and an interrupted run is resumed by
predicting only the blocks whose chunks are not written yet. The result equals
``predict_tiled(segmenter, image, tile=chunk, overlap=0)``: bit for bit for the Random
Forest, to float rounding (1e-5) for the U-Net.

The model reaches the workers as the bytes of its model file (safetensors and a JSON header:
no pickle of weights) and is loaded once per worker process. Each worker thread predicts on
one core: a worker runs with ``OMP_NUM_THREADS=1`` (set by its nanny), which microlab's
feature kernels and torch honour.

How the image reaches the workers:

- a zarr array, or an image opened with :func:`image_file`: the handle travels with each
  task and every task reads only its window (an image file is read once per worker; an
  OME-Zarr, by path or URL, is opened on the worker and only the chunks under the window
  are read);
- an ``np.memmap``: reopened read-only on the worker from its file;
- a dask array: each window is computed by the cluster, as part of the same task graph;
- an in-memory ``np.ndarray``: copied once to every worker (``client.scatter``), so it must
  fit in each worker's memory; give a zarr array or a memmap for anything larger.

The output must be a zarr array in a store the workers can reach (a path on a file system
they share, or an object store), never an in-memory one.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import tempfile
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._modelfile import content_digest
from ..io import Image
from ..segmenter import labels_from_proba
from .tiling import _Axis, _check_out, _check_segmenter, _per_axis, _predict, _Source

CONNECT_TIMEOUT = 5
"""Seconds to wait for a scheduler given by address before saying it does not answer."""
RECORD = "microlab"
"""The output array's attribute that says which model (and context) wrote its blocks."""

__all__ = ["CONNECT_TIMEOUT", "image_file", "predict_on_cluster"]


def predict_on_cluster(
    segmenter,
    images: Sequence,
    outs: Sequence,
    *,
    labels: Sequence | None = None,
    tile: int | Sequence[int] = 512,
    context: int | Sequence[int] | None = None,
    channel_axis: int | None = None,
    cluster=2,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> list:
    """Predict several images block by block on a Dask cluster, as one task graph.

    Parameters
    ----------
    segmenter : Segmenter
        Any trained :class:`microlab.Segmenter`; it is sent to the workers as its model
        file (``segmenter.save``) and loaded there with :func:`microlab.load_segmenter`.
    images : sequence of array-like or microlab.Image
        2D or 3D images, each a zarr array, ``np.memmap``, dask array, ``np.ndarray``, a
        :class:`microlab.Image` of one of these, or a path read with :func:`image_file`
        (an OME-Zarr folder or URL included; a folder holding a bare zarr array is read as
        that array).
        See the module's notes on how each reaches the workers.
    outs : sequence of zarr arrays, paths or None
        Where each image's float32 probabilities ``(C, *spatial)`` go: a zarr array whose
        chunks hold all C classes (``chunks=(C, ...)``), or a path where one is created with
        chunks ``(C, *tile)``, or None to write labels only. An existing array's chunks
        (or shards) are the blocks.
    labels : sequence of zarr arrays, paths or None, optional
        Also write labels 1..C (:func:`microlab.segmenter.labels_from_proba`) per image,
        in the same blocks.
    tile : int or sequence of int
        Block size of the arrays created from paths (one value, or one per spatial axis).
    context : int or sequence of int, optional
        Pixels read around each block; default ``segmenter.context``.
    channel_axis : int, optional
        For plain arrays with channels; default ``segmenter.channel_axis``.
    cluster : int, str, distributed.Client or a Dask cluster
        An int starts a ``LocalCluster`` of that many worker processes (one thread each)
        for this call; a string is a scheduler's address (``"tcp://host:8786"``); a
        ``Client`` (kept open) or a cluster object such as ``SLURMCluster`` is used as is.
    resume : bool
        Finish an output this model (with this context) has partly written, predicting
        only the blocks that are missing.
    overwrite : bool
        Replace what an output holds, whoever wrote it (its written chunks are deleted
        first, so no stale block survives an interrupted run).
    progress : bool
        Print the Dask dashboard's address and show Dask's progress bar.

    Returns
    -------
    list of zarr arrays
        The probability arrays (None where ``outs`` had None), in the order of ``images``.

    Raises
    ------
    ValueError
        If an output holds blocks of another model (or of this one, without ``resume``),
        unless ``overwrite``; for outputs of the wrong shape, dtype or chunks.
    ConnectionError
        If no scheduler answers at the address within :data:`CONNECT_TIMEOUT` seconds.

    Examples
    --------
    >>> import tempfile, pathlib, microlab
    >>> from microlab.inference import predict_on_cluster
    >>> image, truth = microlab.data.sandstone()
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"]).fit(
    ...     image, microlab.labels.scribbles_from_truth(truth), progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> [proba] = predict_on_cluster(rf, [image], [folder / "proba.zarr"],
    ...                              labels=[folder / "labels.zarr"], tile=256,
    ...                              cluster=2)  # doctest: +SKIP
    >>> proba.shape, proba.chunks  # doctest: +SKIP
    ((4, 512, 512), (4, 256, 256))
    """
    _check_segmenter(segmenter)
    missing = [name for name in ("distributed", "zarr") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"predicting on a cluster needs {' and '.join(missing)}: "
            "pip install 'microlab[cluster]'"
        )
    _check_cluster(cluster)
    images, outs = list(images), list(outs)
    labels = [None] * len(images) if labels is None else list(labels)
    if not len(images) == len(outs) == len(labels):
        raise ValueError(
            f"got {len(images)} images, {len(outs)} outs and {len(labels)} labels; give one "
            "output (or None) of each per image"
        )
    classes = len(segmenter.classes)
    if not classes:
        raise ValueError("the segmenter names no classes; train it (or load a trained one) first")
    if channel_axis is None:
        channel_axis = segmenter.channel_axis
    model, digest = _model_file(segmenter)
    jobs = []
    for i, (image, out, label) in enumerate(zip(images, outs, labels, strict=True)):
        if out is None and label is None:
            raise ValueError(f"image {i} has neither an out nor a labels output; give one")
        jobs.append(_Job(segmenter, image, out, label, tile=tile, context=context,
                         channel_axis=channel_axis, classes=classes, overwrite=overwrite))
    for job in jobs:  # refuse before anything is written or started
        job.find_done({"model_digest": digest, "kind": segmenter.kind, "context":
                       list(job.margins), "classes": list(segmenter.classes)},
                      resume=resume, overwrite=overwrite)
    for job in jobs:
        job.claim(overwrite=overwrite)
    if any(job.todo for job in jobs):
        with _client(cluster) as client:
            _run(client, jobs, model, digest, progress=progress)
    return [job.proba for job in jobs]


def image_file(
    path: str | os.PathLike, *, channel: int | None = None, level: int = 0
) -> Image:
    """An image file as a :class:`microlab.Image` whose pixels are read where they are used.

    The file is read once here, for its shape, axes and pixel size; the returned image holds
    only a handle, so a Dask task that uses it reads the file on its worker (once per worker
    process) instead of receiving the pixels from the client. An OME-Zarr (a folder or an
    fsspec URL) is opened on the worker by its path or URL and level, and each task reads
    only the chunks under its window.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`microlab.read_image` reads, or an OME-Zarr folder or URL.
    channel : int, optional
        Keep only this channel.
    level : int
        The resolution level of an OME-Zarr (0: full resolution).

    Returns
    -------
    microlab.Image
        Its ``data`` is indexable like an array (``data[index]`` reads the file).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, microlab
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.tif"
    >>> pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> microlab.io.write_image(path, microlab.Image(pixels, "YX"))
    >>> image = image_file(path)
    >>> image.shape, image.data[1:, 2].tolist()
    ((3, 4), [6, 10])
    """
    from ..io import read_image
    from ..io.omezarr import is_ome_zarr

    image = read_image(path, level=level)
    if channel is not None:
        image = image.channel(channel)
    if is_ome_zarr(path):
        where = path if isinstance(path, str) and "://" in path else str(Path(path).resolve())
        handle = _OmeZarr(where, level, channel, image.data.shape, image.data.dtype)
    else:
        handle = _ImageFile(Path(path).resolve(), channel, image.data.shape, image.data.dtype)
    return dataclasses.replace(image, data=handle)


# ---------------------------------------------------------------------- one image's blocks
class _Job:
    """One image: how it is read, where its blocks go, and which blocks are still to do."""

    def __init__(self, segmenter, image, out, label, *, tile, context, channel_axis,
                 classes: int, overwrite: bool) -> None:
        self.source = _Source(_opened(image), channel_axis)
        shape = self.source.spatial
        ndim = len(shape)
        tiles = _per_axis(tile, ndim, "tile", minimum=1)
        self.margins = _per_axis(segmenter.context if context is None else context, ndim,
                                 "context", minimum=0)
        aligns = _per_axis(segmenter.alignment, ndim, "alignment", minimum=1)
        block = tuple(min(t, n) for t, n in zip(tiles, shape, strict=True))
        self.proba = None if out is None else _output(
            out, (classes, *shape), (classes, *block), np.float32, "out", overwrite)
        if self.proba is not None:
            _check_out(self.proba, classes, shape)
        dtype = labels_from_proba(np.zeros((classes, 1), np.float32)).dtype
        self.labels = None if label is None else _output(label, shape, block, dtype, "labels",
                                                         overwrite)
        if self.labels is not None and (
            tuple(self.labels.shape) != shape or self.labels.dtype.kind not in "iu"
            or np.iinfo(self.labels.dtype).max < classes
        ):
            raise ValueError(
                f"labels must be an integer array of shape {shape} that holds {classes} "
                f"classes (e.g. {dtype}), got {self.labels.dtype} {self.labels.shape}"
            )
        axes = [_Axis(n, b, 0, "constant", 1.0, m, a)
                for n, b, m, a in zip(shape, self._block_shape(), self.margins, aligns,
                                      strict=True)]
        self.plans = {
            index: [axis.plan(k) for axis, k in zip(axes, index, strict=True)]
            for index in np.ndindex(*(len(axis.starts) for axis in axes))
        }
        self.todo = list(self.plans)
        self.record: dict = {}
        self.written: dict[int, set[str]] = {}

    def arrays(self) -> list:
        return [a for a in (self.proba, self.labels) if a is not None]

    def _block_shape(self) -> tuple[int, ...]:
        ndim = len(self.source.spatial)
        if self.proba is not None and (self.proba.shards or self.proba.chunks)[0] != \
                self.proba.shape[0]:
            raise ValueError(
                f"out's chunks {self.proba.chunks} split the classes; chunk it as (C, ...) = "
                f"{(self.proba.shape[0], *self.proba.chunks[1:])} so that each block is one "
                "chunk"
            )
        shapes = {tuple((a.shards or a.chunks)[-ndim:]) for a in self.arrays()}
        if len(shapes) > 1:
            raise ValueError(
                f"out and labels are chunked differently in space ({sorted(shapes)}); give "
                "them the same chunks, so that each block is one chunk of each"
            )
        return shapes.pop()

    def _key(self, array, index: tuple[int, ...]) -> str:
        """The store key of block ``index``'s chunk (or shard) of ``array``."""
        coords = (0, *index) if array is self.proba else index
        return array.metadata.encode_chunk_key(coords)

    def find_done(self, record: dict, *, resume: bool, overwrite: bool) -> None:
        """Check that this run may write the outputs; keep the blocks still to do.

        A block is done when its chunk is stored in every output: chunks are written
        whole and atomically (a temporary file renamed, or one object put), so a stored
        chunk is a finished one.
        """
        self.record = record
        for array in self.arrays():
            stored = _stored_keys(array)
            self.written[id(array)] = {
                key for key in (self._key(array, i) for i in self.plans) if key in stored
            }
        if overwrite:
            return
        done = {index for index in self.plans if all(
            self._key(a, index) in self.written[id(a)] for a in self.arrays())}
        for array in self.arrays():
            if not self.written[id(array)]:
                continue
            found = array.attrs.get(RECORD)
            if found != record:
                what = (f"a {found.get('kind')} model (digest "
                        f"{str(found.get('model_digest'))[:12]}…, context "
                        f"{found.get('context')})" if isinstance(found, dict)
                        else "data not written by microlab")
                raise ValueError(
                    f"{_where(array)} already holds blocks of {what}, not of this "
                    f"{record['kind']} model (digest {record['model_digest'][:12]}…, context "
                    f"{record['context']}); pass overwrite=True (--overwrite) to replace "
                    "them, or choose another output"
                )
            if not resume:
                raise ValueError(
                    f"{_where(array)} already holds {len(done)} of {len(self.plans)} blocks "
                    "predicted by this model; pass resume=True (--resume) to predict only "
                    "the missing ones, or overwrite=True (--overwrite) to start again"
                )
        self.todo = [index for index in self.plans if index not in done]

    def claim(self, *, overwrite: bool) -> None:
        """Record this model on the outputs (after deleting their chunks if overwriting)."""
        for array in self.arrays():
            if overwrite:
                _delete_keys(array, self.written[id(array)])
            array.update_attributes({RECORD: self.record})

    def blocks(self) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]]:
        """(index, window read, region written) of each block still to do."""
        for index in self.todo:
            plan = self.plans[index]
            yield (index, tuple(slice(p.read_lo, p.read_hi) for p in plan),
                   tuple(slice(p.start, p.end) for p in plan))


def _opened(image):
    """A path opened lazily: a bare zarr array (a folder or URL), else an
    :func:`image_file` (an OME-Zarr image, or any other image file)."""
    if not isinstance(image, (str, os.PathLike)):
        return image
    from ..io.omezarr import is_ome_zarr

    if is_ome_zarr(image):
        import zarr

        node = zarr.open(str(image), mode="r")
        if isinstance(node, zarr.Array):
            return node
    return image_file(image)


def _output(target, shape, chunks, dtype, name: str, overwrite: bool):
    """The zarr array ``target`` is or names, created at a path if it is not there yet."""
    import zarr

    if isinstance(target, zarr.Array):
        array = target
    elif isinstance(target, (str, os.PathLike)):
        path = Path(target)
        if path.exists():
            try:
                array = zarr.open_array(path, mode="r+")
            except Exception as exc:  # zarr says why in its own words
                raise ValueError(
                    f"{name} {path} exists but is not a zarr array ({exc}); choose another path"
                ) from exc
            fits = tuple(array.shape) == tuple(shape) and array.dtype == np.dtype(dtype)
            if not (fits or overwrite):
                raise ValueError(
                    f"{name} {path} is a {array.dtype} array of shape {array.shape}, but this "
                    f"prediction needs {np.dtype(dtype)} {tuple(shape)}; choose another path "
                    "or pass overwrite=True (--overwrite) to replace it"
                )
            if not fits:
                array = zarr.create_array(str(path), shape=shape, chunks=chunks, dtype=dtype,
                                          fill_value=0, overwrite=True)
        else:
            array = zarr.create_array(str(path), shape=shape, chunks=chunks, dtype=dtype,
                                      fill_value=0)
    else:
        raise TypeError(
            f"with cluster=, {name} must be a zarr array or a path for a new one (the workers "
            f"write their blocks into it), got {type(target).__name__}"
        )
    if isinstance(array.store, zarr.storage.MemoryStore):
        raise ValueError(
            f"{name} is a zarr array in memory, which worker processes cannot write; give a "
            "path (on a file system the workers share) or an object store"
        )
    return array.with_config({"write_empty_chunks": True})


def _stored_keys(array) -> set[str]:
    """The keys (relative to the array) of everything its store holds for it."""
    from zarr.core.sync import sync

    prefix = _prefix(array)

    async def listing() -> set[str]:
        return {key[len(prefix):] async for key in array.store.list_prefix(prefix)}

    return sync(listing())


def _delete_keys(array, keys) -> None:
    import asyncio

    from zarr.core.sync import sync

    prefix = _prefix(array)

    async def delete() -> None:
        await asyncio.gather(*(array.store.delete(prefix + key) for key in keys))

    sync(delete())


def _prefix(array) -> str:
    path = array.store_path.path
    return f"{path}/" if path else ""


def _where(array) -> str:
    return f"the zarr array at {array.store_path}"


# ---------------------------------------------------------------------- the cluster
def _check_cluster(cluster) -> None:
    from distributed import Client
    from distributed.deploy import Cluster

    if isinstance(cluster, bool) or not isinstance(cluster, (int, str, Client, Cluster)):
        raise TypeError(
            "cluster must be a number of local worker processes, a scheduler address such as "
            f"'tcp://host:8786', a distributed.Client or a Dask cluster; got {cluster!r}"
        )
    if isinstance(cluster, int) and cluster < 1:
        raise ValueError(f"cluster={cluster}: give at least 1 worker process")


@contextmanager
def _client(cluster) -> Iterator:
    """A ``distributed.Client`` for ``cluster`` (see :func:`predict_on_cluster`)."""
    from distributed import Client, LocalCluster
    from distributed.deploy import Cluster

    if isinstance(cluster, Client):
        yield cluster
        return
    if isinstance(cluster, Cluster):
        with Client(cluster) as client:
            yield client
        return
    if isinstance(cluster, int):
        with LocalCluster(n_workers=cluster, threads_per_worker=1, processes=True) as local, \
                Client(local) as client:
            yield client
        return
    try:
        client = Client(cluster, timeout=f"{CONNECT_TIMEOUT}s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"no Dask scheduler answers at {cluster} (waited {CONNECT_TIMEOUT} s): start one "
            f"(`dask scheduler`) and its workers (`dask worker {cluster}`), or check the "
            "address"
        ) from exc
    with client:
        yield client


def _run(client, jobs: list[_Job], model: bytes, digest: str, *, progress: bool) -> None:
    """Submit every job's blocks as one task graph and wait for them."""
    import dask
    from distributed import progress as progress_bar

    if not client.scheduler_info().get("workers"):
        warnings.warn(
            f"no worker has joined the scheduler at {client.scheduler.address} yet; the "
            "blocks wait for one (start workers with `dask worker ADDRESS`)",
            RuntimeWarning, stacklevel=4,
        )
    stored = client.scatter(model, broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    tasks = []
    for i, job in enumerate(jobs):
        source = job.source
        computed = type(source.data).__module__.split(".")[0] == "dask"
        reader = _Reader(source.axes, getattr(source.image, "spacing", None),
                         getattr(source.image, "unit", None), getattr(source.image, "name", ""),
                         source.channel_axis, tuple(source.data.shape),
                         np.dtype(source.data.dtype), computed)
        data = None if computed else _shipped(source.data, client)
        writer = _Writer(job.proba, job.labels)
        for index, window, region in job.blocks():
            if computed:
                at = source.index(window)
                data = (source.data[at], at)
            name = "-".join(map(str, (f"predict-block-{token}", i, *index)))
            tasks.append(dask.delayed(_predict_block, pure=False)(
                stored, digest, data, reader, writer, window, region, dask_key_name=name))
    futures = client.compute(tasks)
    if progress:
        print(f"Dask dashboard: {client.dashboard_link}")
        widget = progress_bar(futures)  # a text bar that waits, or a notebook's widget
        if widget is not None:
            from IPython.display import display

            display(widget)
    client.gather(futures)


def _model_file(segmenter) -> tuple[bytes, str]:
    """The bytes of the segmenter's model file and the digest of their content."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        segmenter.save(path)
        data = path.read_bytes()
    return data, content_digest(data)


def _shipped(data, client):
    """What the tasks receive for an image's pixels: a small handle, or the scattered array."""
    import mmap

    if isinstance(data, np.memmap) and isinstance(data.base, mmap.mmap):
        return _Memmap(data)
    if isinstance(data, np.ndarray):
        return client.scatter(data, broadcast=True, hash=False)
    return data


# ---------------------------------------------------------------------- on the worker
_MODELS: OrderedDict[str, object] = OrderedDict()
"""The models this worker process has loaded, by the SHA-256 of their file (2 kept)."""
_MODELS_LOCK = threading.Lock()


def _predict_block(model: bytes, digest: str, data, reader: _Reader, writer: _Writer,
                   window: tuple[slice, ...], region: tuple[slice, ...]) -> None:
    """One task: read ``window``, predict it, write ``region`` (its block) to the outputs."""
    segmenter = _loaded(model, digest)
    proba = _predict(segmenter.predict_proba, reader.source(data).read(window),
                     len(segmenter.classes), window)
    crop = tuple(slice(r.start - w.start, r.stop - w.start)
                 for r, w in zip(region, window, strict=True))
    writer.write(region, proba[(slice(None), *crop)])


def _loaded(model: bytes, digest: str):
    from ..tiers import load_segmenter

    with _MODELS_LOCK:
        if digest not in _MODELS:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model.safetensors"
                path.write_bytes(model)
                _MODELS[digest] = load_segmenter(path)
            while len(_MODELS) > 2:
                _MODELS.popitem(last=False)
        _MODELS.move_to_end(digest)
        return _MODELS[digest]


@dataclasses.dataclass(frozen=True)
class _Reader:
    """How a task turns what it receives into the image it reads its window from."""

    axes: str | None  # a microlab.Image's (with spacing, unit, name); None for an array
    spacing: tuple[float, ...] | None
    unit: str | None
    name: str
    channel_axis: int | None
    shape: tuple[int, ...]
    dtype: np.dtype
    computed: bool  # a dask array's window, computed by the cluster, arrives with its index

    def source(self, data) -> _Source:
        if self.computed:
            data = _Computed(*data, self.shape, self.dtype)
        image = data if self.axes is None else Image(data, self.axes, self.spacing, self.unit,
                                                     self.name)
        return _Source(image, self.channel_axis)


@dataclasses.dataclass(frozen=True)
class _Writer:
    """The outputs of one image: probabilities and/or labels, written one block at a time."""

    proba: object
    labels: object

    def write(self, region: tuple[slice, ...], proba: np.ndarray) -> None:
        if self.proba is not None:
            self.proba[(slice(None), *region)] = proba
        if self.labels is not None:
            self.labels[region] = labels_from_proba(proba)


class _Handle:
    """An array-like that reads its pixels where it is indexed (shape, dtype, ndim, [])."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


class _Memmap(_Handle):
    """An ``np.memmap`` reopened read-only where it is read: only its file name travels."""

    def __init__(self, array: np.memmap) -> None:
        self.filename, self.offset = array.filename, array.offset
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"

    def __getitem__(self, index) -> np.ndarray:
        mapped = np.memmap(self.filename, self.dtype, "r", self.offset, self.shape, self.order)
        return np.array(mapped[index])


class _ImageFile(_Handle):
    """An image file (see :func:`image_file`), read once per process where it is indexed."""

    def __init__(self, path: Path, channel: int | None, shape, dtype) -> None:
        self.path, self.channel = path, channel
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        stat = os.stat(self.path)
        return np.array(_pixels(self.path, self.channel, stat.st_mtime_ns, stat.st_size)[index])


@functools.lru_cache(maxsize=2)
def _pixels(path: Path, channel: int | None, mtime_ns: int, size: int) -> np.ndarray:
    from ..io import read_image

    image = read_image(path)
    pixels = (image if channel is None else image.channel(channel)).data
    pixels.flags.writeable = False
    return pixels


class _OmeZarr(_Handle):
    """An OME-Zarr level (see :func:`image_file`), opened once per process where it is
    indexed; only the chunks under the index are read."""

    def __init__(self, where: str, level: int, channel: int | None, shape, dtype) -> None:
        self.where, self.level, self.channel = where, level, channel
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        lazy = _ome_zarr_pixels(self.where, self.level, self.channel)[index]
        return np.asarray(lazy.compute(scheduler="synchronous"))


@functools.lru_cache(maxsize=4)
def _ome_zarr_pixels(where: str, level: int, channel: int | None):
    """The lazy (dask) pixels of one OME-Zarr level, as :func:`image_file` sees them."""
    from ..io import read_image

    image = read_image(where, level=level)
    return (image if channel is None else image.channel(channel)).data


class _Computed(_Handle):
    """The window of a dask-array image one task reads, computed by the cluster; it stands
    in for the whole array and is indexed only there."""

    def __init__(self, block: np.ndarray, index: tuple, shape, dtype) -> None:
        self.block, self.index = block, index
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        if index != self.index:
            raise IndexError(f"this task computed the window {self.index}, not {index}")
        return self.block
