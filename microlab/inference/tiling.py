"""Tiled prediction of images of any size with any :class:`microlab.Segmenter`.

The image is cut into overlapping tiles; each tile is read on its own from the (possibly lazy)
input, predicted, weighted by a smooth window and blended with its neighbours, so no seams
show at tile borders. Finished regions are written out as soon as no later tile touches them:
memory stays bounded by a few tiles and one overlap strip, whatever the image size.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from functools import reduce
from itertools import product
from typing import NamedTuple

import numpy as np

from .._checks import as_array, spatial_image
from .._memory import reuse_freed_memory
from ..features.bank import _release
from ..io import Image
from ..segmenter import Segmenter

_MIN_WEIGHT = 1e-6
"""Floor of the blending window (its maximum is 1): every tile keeps some weight everywhere."""
MAX_PREDICTIONS_PER_PIXEL = 64
"""A tile plan that predicts each pixel more often than this, on average, is refused: an
overlap of 7/8 of the tile in 2D (3/4 in 3D) gives no better blending than 1/2 and costs
16 (8) times more; an overlap of 0.99 would cost 10,000 times a whole-image prediction."""
DEFAULT_OVERLAP = 64
"""Blending overlap in pixels for tiles read without context."""
_HEAD, _BODY = 0, 1


DEFAULT_TILE = 512
"""Tile side (pixels) of :func:`predict_tiled` unless a 2D model's context asks for more."""
_WIDE_TILES = (512, 1024, 1536, 2048)
"""Tile sides :func:`default_tile` chooses from for a model with a wide context."""


def default_tile(margins: Sequence[int], shape: Sequence[int]) -> int:
    """:func:`predict_tiled`'s tile side for an image of ``shape`` read with ``margins``
    (context per axis).

    ``DEFAULT_TILE`` (512), except for a 2D image and a model whose context is wider than
    an eighth of that (the default U-Net reads 263 px around each tile: a 512-px tile's
    window is 4× its area). Then the side from 512 to 2048 that reads the fewest pixels in
    all (windows clipped to the image; ties to the smaller tile, which needs less memory).

    Examples
    --------
    >>> default_tile([8, 8], [4096, 4096]), default_tile([263, 263], [4096, 4096])
    (512, 2048)
    >>> default_tile([263, 263], [1000, 1000]), default_tile([263] * 3, [64, 512, 512])
    (1024, 512)
    """
    if len(shape) != 2 or 8 * max(margins) <= DEFAULT_TILE:
        return DEFAULT_TILE

    def read(side: int) -> int:
        total = 1
        for n, m in zip(shape, margins, strict=True):
            total *= sum(min(n, start + side + m) - max(0, start - m)
                         for start in range(0, n, side))
        return total

    return min(_WIDE_TILES, key=read)


def predict_tiled(
    segmenter,
    image,
    *,
    tile: int | Sequence[int] | None = None,
    overlap: int | float | Sequence[int | float] | None = None,
    blend: str = "gaussian",
    sigma_scale: float = 0.125,
    out=None,
    channel_axis: int | None = None,
    context: int | Sequence[int] | None = None,
    progress: bool = False,
    cluster=None,
    resume: bool = False,
    overwrite: bool = False,
):
    """Per-class probabilities of an image of any size, predicted tile by tile without seams.

    Overlapping tiles are predicted with ``segmenter.predict_proba`` and blended with a
    smooth window (a Gaussian importance map, as MONAI's sliding-window inference), so a
    model whose output depends on where the tile edges fall shows no step at them. Only one
    tile of the input is read at a time (``image[slices]``), and finished regions are
    written to ``out`` as soon as no later tile overlaps them, so an image larger than
    memory is segmented with memory bounded by a few tiles plus one overlap strip
    ``(C, overlap, X)`` (``(C, overlap, Y, X)`` for a 3D volume).

    Parameters
    ----------
    segmenter : Segmenter
        Any :class:`microlab.Segmenter`. Its contract says all the tiler needs:
        ``predict_proba(image) -> (C, *spatial)``, ``classes``, ``channel_axis``,
        ``context`` (pixels of neighbourhood a prediction needs, e.g. the feature halo of
        :class:`microlab.RandomForestSegmenter`) and ``alignment`` (multiples of pixels,
        per axis, on which its input windows must start).
    image : array-like or microlab.Image
        2D ``(Y, X)`` or 3D ``(Z, Y, X)``, with an optional channel axis: a numpy array,
        ``np.memmap``, zarr or dask array (read lazily, tile by tile) or a
        :class:`microlab.Image` (its axes and spacing are passed on with every tile).
    tile : int or sequence of int, optional
        Tile size in pixels, one for all spatial axes or one per axis. 3D volumes are tiled
        along Z, Y and X (pass e.g. ``tile=(n_z, 256, 256)`` to keep whole columns in Z).
        Default: 512; for a 2D image read with a wide context, the side from 512 to 2048
        that reads the fewest pixels (:func:`default_tile`): the default U-Net reads 263 px
        around each tile, so a 4096² image is cut into tiles of 2048, predicted 1.7-2× faster
        than tiles of 512, whose windows are 4× their area (the process then peaks at about
        2.4 GB instead of 1.5 GB, session 46: pass ``tile=512`` where memory is short).
        Every tile reads a window of the same shape (a tile at the image end reads more on
        its inner side), so each tile's arrays fit in the memory the last one freed.
        An image smaller than the tile along an axis is predicted whole along it, so a small
        image is simply predicted in one call.
    overlap : int, float or sequence, optional
        Pixels shared by neighbouring tiles (or a fraction of the tile in ``[0, 1)``);
        must be smaller than the tile. This is where tiles are blended. Default: 0 when
        the tiles are read with a context (the segmenter's, or ``context=``): each tile is
        then already predicted as the whole image would be, and blending adds only cost;
        64 pixels otherwise, to hide the tiles' edges. A plan that would
        predict each pixel more than :data:`MAX_PREDICTIONS_PER_PIXEL` times on average
        (an overlap of nearly the whole tile) is refused.
    blend : {"gaussian", "constant"}
        Weight window across a tile: a Gaussian peaking at the tile centre, or uniform
        (plain averaging of the overlaps, which leaves small steps where they start).
    sigma_scale : float
        σ of the Gaussian window as a fraction of the tile size (MONAI's default, 0.125).
        The window is floored at 1e-6 of its peak, so every pixel keeps some weight.
    out : array, optional
        Where to write the result: an ``np.ndarray``, ``np.memmap`` or zarr array of float32
        with shape ``(C, *spatial)``, e.g. ``zarr.open(path, mode="w", shape=shape,
        chunks=(C, step, step), dtype="f4")``. Finished blocks are written at multiples of
        ``step = tile - overlap``, so chunks of that size are written whole, once.
        Default: a new in-memory array.
    channel_axis : int, optional
        For a plain array with channels: the channel axis (each tile is then passed as a
        ``microlab.Image`` with axes ``"CYX"`` or ``"CZYX"``). Default: the segmenter's
        ``channel_axis``. Ignored for a ``microlab.Image``.
    context : int or sequence of int, optional
        Pixels of neighbourhood read around every tile, passed to the model and cropped
        from its prediction. Default: ``segmenter.context``. A model that sees at least
        its context predicts each tile as it would predict the whole image (exactly for
        the Random Forest; for the U-Net to about 0.01 in probability, one label in 10⁴),
        so the tiled result equals the whole-image one; a smaller context is faster and
        leaves the overlap to hide the difference at the tiles' edges.
    progress : bool
        Show a progress bar over the tiles (with ``cluster``: Dask's progress bar, after
        the address of the Dask dashboard).
    cluster : int, str, distributed.Client or a Dask cluster, optional
        Predict on a Dask ``distributed`` cluster instead of in this process (see
        :mod:`microlab.inference.distributed`): an int starts a ``LocalCluster`` of that many
        worker processes, a string is a scheduler's address (``"tcp://host:8786"``). Each
        chunk of ``out`` is one task, read with the context around it and not blended
        (``overlap`` must be left out), so the result equals ``predict_tiled(segmenter,
        image, tile=chunk, overlap=0)``. ``out`` must then be a zarr array whose chunks
        hold all classes, or a path where one is created with chunks ``(C, *tile)``.
    resume, overwrite : bool
        With ``cluster``: finish an ``out`` this model partly wrote, skipping its written
        chunks; or replace whatever ``out`` holds. Without either, an ``out`` that already
        holds blocks is refused.

    Returns
    -------
    ndarray, np.memmap or zarr array
        float32 probabilities ``(C, *spatial)``: ``out`` if given, else a new array (with
        ``cluster``, the zarr array).

    Raises
    ------
    TypeError
        If the segmenter does not follow the :class:`microlab.Segmenter` contract, the
        image is not numeric or ``out`` is not a writable array.
    ValueError
        For sizes that do not fit (``overlap >= tile``, a wrong ``out`` shape or dtype),
        a plan of absurdly many tiles (the message gives the numbers), images that are not
        2D or 3D, or a prediction of the wrong shape.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, microlab
    >>> from microlab.inference.tiling import predict_tiled
    >>> image, truth = microlab.data.sandstone()
    >>> rf = microlab.RandomForestSegmenter(features=["Gaussian σ=1.0", "Sobel"])
    >>> rf = rf.fit(image, microlab.labels.scribbles_from_truth(truth), progress=False)
    >>> proba = predict_tiled(rf, image, tile=256, overlap=32)
    >>> proba.shape, proba.dtype
    ((4, 512, 512), dtype('float32'))
    >>> bool(np.allclose(proba, rf.predict_proba(image), atol=1e-6))
    True

    Writing into a file instead of memory:

    >>> path = pathlib.Path(tempfile.mkdtemp()) / "proba.f4"
    >>> out = np.memmap(path, np.float32, mode="w+", shape=(4, 512, 512))
    >>> predict_tiled(rf, image, tile=256, overlap=32, out=out) is out
    True

    On two local worker processes, into a zarr array of 256 × 256 chunks:

    >>> zarr_out = predict_tiled(rf, image, tile=256, cluster=2,
    ...                          out=path.with_suffix(".zarr"))  # doctest: +SKIP
    >>> single = predict_tiled(rf, image, tile=256, overlap=0)
    >>> bool(np.array_equal(zarr_out[:], single))  # doctest: +SKIP
    True
    """
    from tqdm.auto import tqdm

    _check_segmenter(segmenter)
    if cluster is not None:
        if out is None:
            raise ValueError(
                "with cluster=, give out= a zarr array or a path for one (e.g. "
                "out='proba.zarr'): the workers write their blocks into it"
            )
        if overlap not in (None, 0):
            raise ValueError(
                f"overlap={overlap!r} with cluster=: blocks are predicted apart, each with "
                "its context around it, and are not blended; leave overlap out"
            )
        from .distributed import predict_on_cluster

        return predict_on_cluster(
            segmenter, [image], [out], tile=DEFAULT_TILE if tile is None else tile,
            context=context, channel_axis=channel_axis,
            cluster=cluster, resume=resume, overwrite=overwrite, progress=progress,
        )[0]
    if channel_axis is None:
        channel_axis = segmenter.channel_axis
    source = _Source(image, channel_axis)
    shape = source.spatial
    ndim = len(shape)
    if context is None:
        context = segmenter.context
    margins = _per_axis(context, ndim, "context", minimum=0)
    tiles = _per_axis(default_tile(margins, shape) if tile is None else tile, ndim, "tile",
                      minimum=1)
    if overlap is None:
        overlap = 0 if min(margins) > 0 else DEFAULT_OVERLAP
    overlaps = _overlaps(overlap, tiles)
    if blend not in ("gaussian", "constant"):
        raise ValueError(f"blend must be 'gaussian' or 'constant', got {blend!r}")
    if isinstance(sigma_scale, bool) or not (
        isinstance(sigma_scale, numbers.Real) and 0 < sigma_scale < math.inf
    ):
        raise ValueError(f"sigma_scale must be a positive number, got {sigma_scale!r}")
    aligns = _per_axis(segmenter.alignment, ndim, "alignment", minimum=1)
    classes = len(segmenter.classes) or None
    _check_out(out, classes, shape)

    axes = [
        _Axis(n, t, o, blend, float(sigma_scale), m, a)
        for n, t, o, m, a in zip(shape, tiles, overlaps, margins, aligns, strict=True)
    ]
    _check_plan(axes, shape, overlaps)
    grid = [len(axis.starts) for axis in axes]
    pending: dict[tuple[int, ...], dict[tuple[int, ...], np.ndarray]] = {}
    if out is None and classes is not None:  # made before the scope: not on the heap
        out = np.empty((classes, *shape), np.float32)
    # each tile reuses the memory earlier ones freed (11 % faster for the default U-Net)
    with reuse_freed_memory(), tqdm(total=math.prod(grid), desc="tiles", unit="tile",
                                    disable=not progress) as bar:
        for index in np.ndindex(*grid):
            plan = [axis.plan(k) for axis, k in zip(axes, index, strict=True)]
            window = tuple(slice(p.read_lo, p.read_hi) for p in plan)
            proba = _predict(segmenter.predict_proba, source.read(window), classes, window)
            if classes is None:
                classes = proba.shape[0]
                _check_out(out, classes, shape)
            if out is None:
                out = np.empty((classes, *shape), np.float32)
            crop = tuple(slice(p.start - p.read_lo, p.end - p.read_lo) for p in plan)
            weight = reduce(np.multiply, np.ix_(*(p.weight for p in plan)))
            q = proba[(slice(None), *crop)] * weight
            _blend_tile(q, index, plan, axes, pending)
            own = tuple(slice(0, p.finish - p.start) for p in plan)
            out[(slice(None), *(slice(p.start, p.finish) for p in plan))] = q[(slice(None), *own)]
            del proba, q  # freed before the next tile's arrays are made: they may reuse it
            _drop_pages(out)
            _drop_pages(source.data)
            bar.update()
    return out


def _check_segmenter(segmenter) -> None:
    if not isinstance(segmenter, Segmenter):
        missing = [name for name in _CONTRACT if not hasattr(segmenter, name)]
        raise TypeError(
            f"segmenter must follow the microlab.Segmenter contract; "
            f"{type(segmenter).__name__} lacks {', '.join(missing)}"
        )


_CONTRACT = ("predict_proba", "classes", "channel_axis", "context", "alignment", "kind",
             "colors", "fit", "predict", "save", "load", "channels", "output", "description")


def _check_plan(axes: list[_Axis], shape: tuple[int, ...], overlaps: tuple[int, ...]) -> None:
    """Refuse a plan that predicts each pixel absurdly often (an overlap near the tile)."""
    passes = math.prod(axis.covered / axis.size for axis in axes)
    if passes > MAX_PREDICTIONS_PER_PIXEL:
        tiles = tuple(axis.tile for axis in axes)
        count = math.prod(len(axis.starts) for axis in axes)
        raise ValueError(
            f"tile={tiles} with overlap={overlaps} plans {count} tiles for an image of "
            f"{shape}: each pixel would be predicted {passes:.0f} times on average (at most "
            f"{MAX_PREDICTIONS_PER_PIXEL} is accepted). Use a smaller overlap, e.g. "
            f"overlap={max(tiles) // 8}; the context read around each tile already makes "
            "tile edges exact for models with a finite context"
        )


# ---------------------------------------------------------------------- the tile grid
class _TilePlan(NamedTuple):
    """One tile along one axis: where it lies, what is read and how it is weighted."""

    start: int
    end: int
    finish: int
    read_lo: int
    read_hi: int
    weight: np.ndarray
    pieces: list[tuple[int, int, int, int]]  # (block, head or body, from, to) it covers


class _Axis:
    """The tiles along one spatial axis.

    Tile ``k`` covers ``[start_k, end_k)`` with ``start_k = k * step``; the last one is cut
    at the image end. Block ``k = [start_k, finish_k)`` (``finish_k = start_{k+1}``) is
    finished once tile ``k`` is done: no later tile reaches it. Its *head*
    ``[start_k, head_k)`` is also covered by earlier tiles, its *body* only by tile ``k``.
    Along the axis every pixel's weights sum to 1 (the window divided by the sum of the
    windows); an N-d tile's weight is the product of its axes' weights, which sums to 1
    too, because the tiles form a grid.
    """

    def __init__(self, size, tile, overlap, blend, sigma_scale, margin, align):
        self.size = size
        tile = min(tile, size)
        step = max(tile - overlap, 1)
        count = 1 if tile >= size else -(-(size - tile) // step) + 1
        starts = [k * step for k in range(count)]
        ends = [min(s + tile, size) for s in starts]
        finishes = [*starts[1:], size]
        heads = [starts[0]] + [
            min(f, e) for f, e in zip(finishes[1:], ends[:-1], strict=True)
        ]
        self.starts, self.ends, self.finishes, self.heads = starts, ends, finishes, heads
        self.covered = sum(e - s for s, e in zip(starts, ends, strict=True))
        self.tile, self.margin, self.align = tile, margin, align
        window = _window(tile, blend, sigma_scale)
        total = np.zeros(size)
        for s, e in zip(starts, ends, strict=True):
            total[s:e] += window[: e - s]
        self._weights = [
            (window[: e - s] / total[s:e]).astype(np.float32)
            for s, e in zip(starts, ends, strict=True)
        ]

        # every window as long as the longest: windows of a few lengths made each tile's
        # arrays a little larger than the last one's, which glibc's heap could not fit into
        # the memory the last tile freed (a 4096² image's U-Net prediction grew the process
        # by 1.3 GB more); as long as a window ending at the image end can be, starting on
        # the alignment
        longest = max(hi - lo for lo, hi in map(self._reads, range(count)))
        self.length = size - (size - longest) // align * align

    def _reads(self, k: int) -> tuple[int, int]:
        """What tile ``k`` reads before the windows are evened out: its context around it
        (a tile cut by the image end still reads a whole tile's worth of image)."""
        read_lo = max(0, min(self.starts[k] - self.margin, self.size - self.tile - self.margin))
        return read_lo // self.align * self.align, min(self.size, self.ends[k] + self.margin)

    def plan(self, k: int) -> _TilePlan:
        start, end, finish = self.starts[k], self.ends[k], self.finishes[k]
        read_lo, read_hi = self._reads(k)
        read_hi = max(read_hi, read_lo + self.length)
        if read_hi > self.size:  # on the alignment: see self.length
            read_lo, read_hi = self.size - self.length, self.size
        pieces = []
        if self.heads[k] > start:
            pieces.append((k, _HEAD, start, self.heads[k]))
        if finish > self.heads[k]:
            pieces.append((k, _BODY, self.heads[k], finish))
        b = k + 1
        while b < len(self.starts) and self.starts[b] < end:
            pieces.append((b, _HEAD, self.starts[b], min(self.heads[b], end)))
            b += 1
        return _TilePlan(start, end, finish, read_lo, read_hi, self._weights[k], pieces)

    def cell(self, block: int, part: int) -> tuple[int, int]:
        """Extent of a block's head or body."""
        if part == _HEAD:
            return self.starts[block], self.heads[block]
        return self.heads[block], self.finishes[block]


def _window(length: int, blend: str, sigma_scale: float) -> np.ndarray:
    """1D blending window of a tile, peak 1 (MONAI's Gaussian importance map, per axis)."""
    if blend == "constant":
        return np.ones(length)
    offsets = np.arange(length) - (length - 1) / 2
    gauss = np.exp(-0.5 * (offsets / (sigma_scale * length)) ** 2)
    return np.maximum(gauss, _MIN_WEIGHT)


def _blend_tile(q: np.ndarray, index: tuple, plan: list, axes: list, pending: dict) -> None:
    """Add earlier tiles' shares to this tile's own block, and keep its share of later ones.

    ``q`` is the tile's weighted prediction; on return its own block (the leading corner
    ``[start, finish)`` on every axis) holds final values. Shares of later blocks wait in
    ``pending``, one array per block head/body cell, until those blocks are finished.
    """
    for parts, acc in pending.pop(index, {}).items():
        lows = [
            axis.cell(k, part)[0] - p.start
            for axis, k, part, p in zip(axes, index, parts, plan, strict=True)
        ]
        target = tuple(slice(lo, lo + n) for lo, n in zip(lows, acc.shape[1:], strict=True))
        q[(slice(None), *target)] += acc
    for pieces in product(*(p.pieces for p in plan)):
        blocks = tuple(piece[0] for piece in pieces)
        if blocks == index:
            continue
        parts = tuple(piece[1] for piece in pieces)
        cells = pending.setdefault(blocks, {})
        extents = [axis.cell(b, part) for axis, b, part in zip(axes, blocks, parts, strict=True)]
        acc = cells.get(parts)
        if acc is None:
            acc = np.zeros((q.shape[0], *(hi - lo for lo, hi in extents)), np.float32)
            cells[parts] = acc
        source = tuple(
            slice(piece[2] - p.start, piece[3] - p.start)
            for piece, p in zip(pieces, plan, strict=True)
        )
        target = tuple(
            slice(piece[2] - lo, piece[3] - lo)
            for piece, (lo, _) in zip(pieces, extents, strict=True)
        )
        acc[(slice(None), *target)] += q[(slice(None), *source)]


# ---------------------------------------------------------------------- input and output
class _Source:
    """The image, read one window at a time and handed to the model in its own axes."""

    def __init__(self, image, channel_axis) -> None:
        self.axes = getattr(image, "axes", None)
        data = image.data if self.axes is not None else image
        if not all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__")):
            data = as_array(data, "image")
        if np.dtype(data.dtype).kind not in "biuf":
            raise TypeError(
                f"image must hold real numbers (bool, integer or float), got dtype {data.dtype}"
            )
        # validate the axes on a stand-in of the same shape, so that nothing is read
        stand_in = np.broadcast_to(np.zeros((), np.uint8), tuple(data.shape))
        if self.axes is not None:
            stand_in = Image(stand_in, self.axes)
            channel_axis = None
        checked = spatial_image(stand_in, "image", channel_axis=channel_axis)
        self.data = data
        self.spatial = tuple(int(n) for n in checked.shape[1:])
        self.image = image
        self.channel_axis = None if channel_axis is None else channel_axis % len(data.shape)

    def read(self, window: tuple[slice, ...]):
        """The model's input for ``window``: always an Image, whose axes say what a plain
        array's block could not (a ``(Z, Y, 3)`` block of a volume is not an RGB image)."""
        return self.wrap(self.take(self.index(window)), len(window))

    def index(self, window: tuple[slice, ...]) -> tuple:
        """The index of ``self.data`` that holds ``window`` (all channels, time point 0)."""
        if self.axes is not None:
            spatial = iter(window)
            return tuple(
                0 if a == "T" else slice(None) if a == "C" else next(spatial) for a in self.axes
            )
        if self.channel_axis is None:
            return window
        index = list(window)
        index.insert(self.channel_axis, slice(None))
        return tuple(index)

    def take(self, index: tuple) -> np.ndarray:
        """``self.data[index]`` in memory (a copy for a memmap, so no page stays mapped)."""
        block = np.asarray(self.data[index])
        return np.array(block) if isinstance(self.data, np.memmap) else block

    def wrap(self, block: np.ndarray, ndim: int):
        """An Image of ``block`` (read at :meth:`index`) with axes; ``ndim`` spatial axes."""
        if self.axes is not None:
            image = self.image
            return Image(block, self.axes.replace("T", ""), image.spacing, image.unit, image.name)
        if self.channel_axis is None:
            return Image(block, "ZYX"[-ndim:])
        return Image(np.moveaxis(block, self.channel_axis, 0), "C" + "ZYX"[-ndim:])


def _predict(predict, tile, classes: int | None, window: tuple[slice, ...]) -> np.ndarray:
    proba = np.asarray(predict(tile), dtype=np.float32)
    shape = tuple(w.stop - w.start for w in window)
    if proba.ndim != len(shape) + 1 or proba.shape[1:] != shape:
        raise ValueError(
            f"segmenter.predict_proba returned shape {proba.shape} for a tile of shape "
            f"{shape}; a Segmenter must return (classes, *spatial) probabilities"
        )
    if classes is not None and proba.shape[0] != classes:
        raise ValueError(
            f"segmenter.predict_proba returned {proba.shape[0]} classes for the tile at "
            f"{window} but {classes} were expected (its classes, or the earlier tiles)"
        )
    return proba


def _check_out(out, classes: int | None, spatial: tuple[int, ...]) -> None:
    if out is None:
        return
    if not all(hasattr(out, a) for a in ("shape", "dtype", "__setitem__")) or type(
        out
    ).__module__.startswith("dask"):
        raise TypeError(
            f"out must be a writable array (np.ndarray, np.memmap or zarr array), got "
            f"{type(out).__name__}"
        )
    shape = tuple(out.shape)
    expected = (classes, *spatial) if classes else ("C", *spatial)
    if np.dtype(out.dtype) != np.float32 or len(shape) != len(expected) or (
        shape[1:] != spatial or (classes and shape[0] != classes)
    ):
        example = (classes or 2, *spatial)
        raise ValueError(
            f"out must be float32 with shape {expected} (classes, *spatial); got "
            f"{np.dtype(out.dtype)} {shape}. Create it e.g. with zarr.open(path, mode='w', "
            f"shape={example}, dtype='f4') or np.memmap(path, np.float32, mode='w+', "
            f"shape={example})"
        )
    if (isinstance(out, np.ndarray) and not out.flags.writeable) or getattr(
        out, "read_only", False
    ):
        raise ValueError("out is read-only; open it for writing (mode 'w+'/'r+' or 'a')")


def _drop_pages(array) -> None:
    """Unmap the pages of a memmap this process touched, keeping memory flat (see _release)."""
    if isinstance(array, np.memmap) and array.mode != "c":
        _release(array)


def _per_axis(value, ndim: int, name: str, *, minimum: int) -> tuple[int, ...]:
    values = (value,) * ndim if isinstance(value, numbers.Integral) else value
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of {ndim} ints, got {value!r}"
        ) from None
    if len(values) != ndim or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
        for v in values
    ):
        raise ValueError(
            f"{name} must be an int >= {minimum} or {ndim} of them (one per spatial axis), "
            f"got {value!r}"
        )
    return tuple(int(v) for v in values)


def _overlaps(value, tiles: tuple[int, ...]) -> tuple[int, ...]:
    ndim = len(tiles)
    if isinstance(value, numbers.Real):
        value = (value,) * ndim
    try:
        values = tuple(value) if not isinstance(value, str) else None
    except TypeError:
        values = None
    if values is None:
        raise TypeError(f"overlap must be a number or {ndim} of them, got {value!r}") from None
    if len(values) != ndim:
        raise ValueError(f"overlap needs {ndim} values (one per spatial axis), got {value!r}")
    result = []
    for v, t in zip(values, tiles, strict=True):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"overlap must be pixels (int) or a fraction (float), got {v!r}")
        if isinstance(v, numbers.Integral):
            pixels = int(v)
        elif 0 <= v < 1:
            pixels = round(v * t)
        else:
            raise ValueError(f"a fractional overlap must be in [0, 1), got {v!r}")
        if not 0 <= pixels < t:
            raise ValueError(
                f"overlap ({pixels} pixels) must be >= 0 and smaller than the tile ({t}); "
                f"e.g. overlap={t // 8} for tile={t}"
            )
        result.append(pixels)
    return tuple(result)
