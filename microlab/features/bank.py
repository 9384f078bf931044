"""The :class:`FeatureBank`: a chosen set of named features, computed chunk by chunk.

Large images are cut into chunks; each chunk is computed on a window that extends ``halo``
pixels of real neighbouring data past it on every side (mirrored only at the true image
border), and the chunk's centre is kept. Every filter reaches at most ``halo`` pixels, so a
chunked result equals the whole-image result: no seams.
"""

from __future__ import annotations

import math
import mmap
import numbers
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from .._checks import positive_spacing, refuse_newer_format, spatial_image
from . import _plane
from ._registry import check_ndim, default_specs, parse, registry
from ._volume import Volume
from ._window import spec_key

FORMAT_VERSION = 1
"""Version of :meth:`FeatureBank.to_dict`'s format (and of the feature definitions)."""
CHUNK_BYTES = 256 * 2**20
"""Default chunk size: a window's features (halo included) take at most this many bytes."""
CHUNK_BYTES_3D = 512 * 2**20
"""The same for 3D banks, whose halos are a larger share of a window: on a 48×256×256 stack
one 512 MB window computes the default bank in half the time of the 256 MB ones, at a peak
of 1.3 GB (scikit-image's ``multiscale_basic_features``: 2.6 GB for the whole stack; a
96×512×512 stack: 2.0 GB, ``benchmarks/bench_features_3d.py``)."""


class FeatureBank:
    """A set of named features for single-channel 2D or 3D images.

    Parameters
    ----------
    names : list of str, optional
        Features to compute, in this order (see :func:`available`). Default: the default
        set for ``ndim`` (:func:`default_names`).
    ndim : {2, 3}
        2 for ``(Y, X)`` images, 3 for ``(Z, Y, X)`` stacks (genuine 3D filters).
    spacing : float or sequence of float, optional
        Physical pixel size per axis, e.g. ``(3, 1, 1)`` for Z steps three times the
        in-plane pixel size. Only the ratios matter: scales are in pixels of the finest axis,
        so σ along Z is σ/3 pixels there. Default: isotropic.
    intensity_range : (float, float), optional
        Intensities mapped to the first and last grey level by the features that quantise
        (entropy: 16 bins, median: 256 levels); values outside are clipped. A model must see
        the same quantisation on every image, so :class:`microlab.RandomForestSegmenter`
        sets it from its training images. Default: the dtype's full range for uint8 and
        bool images, and for other dtypes the 0.1 and 99.9 percentiles of each image.

    Attributes
    ----------
    names : list of str
    ndim : int
    spacing : tuple of float or None
    intensity_range : tuple of float or None
    halo : int
        Pixels of context each side that the features need.

    Examples
    --------
    >>> import numpy as np
    >>> bank = FeatureBank(["Gaussian σ=2.0", "Sobel", "Entropy r=5"])
    >>> features = bank.compute(np.random.default_rng(0).random((64, 80)))
    >>> features.shape, features.dtype, len(bank)
    ((3, 64, 80), dtype('float32'), 3)
    >>> FeatureBank.from_dict(bank.to_dict()) == bank
    True
    """

    def __init__(
        self,
        names: Sequence[str] | None = None,
        *,
        ndim: int = 2,
        spacing: float | Sequence[float] | None = None,
        intensity_range: tuple[float, float] | None = None,
    ):
        self.ndim = check_ndim(ndim)
        self._specs = default_specs(self.ndim) if names is None else parse(names, self.ndim)
        self.names = [spec.name for spec in self._specs]
        self.spacing = positive_spacing(spacing, self.ndim)
        self.intensity_range = _check_range(intensity_range)
        self._rel = _relative(self.spacing, self.ndim)
        self._pyramid = self.ndim == 2 and all(r == 1.0 for r in self._rel)
        levels = max(_plane.level(spec, self._pyramid) for spec in self._specs)
        self._align = _plane.alignment(self.ndim, levels)
        self.halo = max(_plane.support(spec, self._rel, self._pyramid) for spec in self._specs)
        # along a coarser axis (rel > 1) the filters reach halo / rel pixels, plus the two
        # of the derivatives; the windows reach a little further, to start on aligned
        # pixels (see alignment)
        reach = [min(self.halo, math.ceil(self.halo / rel) + 2) for rel in self._rel]
        self._halos = tuple(-(-h // a) * a for h, a in zip(reach, self._align, strict=True))

    # ------------------------------------------------------------------ configuration
    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (("spacing", self.spacing), ("intensity_range", self.intensity_range))
            if v is not None
        )
        return f"FeatureBank({len(self)} features, ndim={self.ndim}{extra})"

    def _config(self) -> tuple:
        return (tuple(self.names), self.ndim, self.spacing, self.intensity_range)

    def __eq__(self, other) -> bool:
        if not isinstance(other, FeatureBank):
            return NotImplemented
        return self._config() == other._config()

    def __hash__(self) -> int:
        return hash(self._config())

    def subset(self, names: Sequence[str]) -> FeatureBank:
        """The same bank (dimensions, spacing, intensity range) computing only ``names``.

        Examples
        --------
        >>> bank = FeatureBank(intensity_range=(0, 255))
        >>> small = bank.subset(["Sobel", "Intensity"])
        >>> small.names, small.intensity_range, small.halo < bank.halo
        (['Sobel', 'Intensity'], (0.0, 255.0), True)
        """
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"{unknown} are not features of this bank ({self!r})")
        return FeatureBank(names, ndim=self.ndim, spacing=self.spacing,
                           intensity_range=self.intensity_range)

    def to_dict(self) -> dict:
        """The configuration as a JSON-safe dict (with a format ``"version"``).

        Examples
        --------
        >>> FeatureBank(["Sobel"], intensity_range=(0, 255)).to_dict()["intensity_range"]
        [0.0, 255.0]
        """
        return {
            "version": FORMAT_VERSION,
            "names": list(self.names),
            "ndim": self.ndim,
            "spacing": list(self.spacing) if self.spacing is not None else None,
            "intensity_range": (
                list(self.intensity_range) if self.intensity_range is not None else None
            ),
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureBank:
        """Rebuild a bank from :meth:`to_dict`'s output.

        Raises ``ValueError`` for a newer format version or names this version does not know.

        Examples
        --------
        >>> bank = FeatureBank(["Gaussian σ=1.0"], ndim=3, spacing=(2, 1, 1))
        >>> FeatureBank.from_dict(bank.to_dict()).spacing
        (2.0, 1.0, 1.0)
        """
        if not isinstance(d, dict) or "names" not in d:
            raise ValueError(f"not a FeatureBank configuration (no 'names'): {d!r}")
        refuse_newer_format(d.get("version"), FORMAT_VERSION, "the feature bank")
        rng = d.get("intensity_range")
        return cls(
            d["names"],
            ndim=d.get("ndim", 2),
            spacing=d.get("spacing"),
            intensity_range=tuple(rng) if rng is not None else None,
        )

    # ------------------------------------------------------------------ computing
    def compute(
        self,
        image,
        *,
        out: np.ndarray | None = None,
        chunk_size: int | Sequence[int] | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """The features of ``image`` as a float32 ``(F, *spatial)`` array.

        Parameters
        ----------
        image : array-like or microlab.Image
            One channel, ``(Y, X)`` for a 2D bank or ``(Z, Y, X)`` for a 3D one; any real
            dtype (computed in float32).
        out : ndarray, optional
            A float32 array (e.g. an ``np.memmap``) of shape ``(F, *spatial)`` to write into
            chunk by chunk; it is returned.
        chunk_size : int or sequence of int, optional
            Spatial chunk shape, rounded up so that chunks start on aligned pixels (a
            multiple of 16 along X, of 64 with the coarsest scales). Default: chunks whose
            features, halo included, take at most 256 MB.
        progress : bool
            Show a progress bar over the chunks.

        Returns
        -------
        ndarray of float32
            ``out`` if given, else a new array.

        Examples
        --------
        >>> import numpy as np
        >>> bank = FeatureBank(["Intensity", "Gaussian σ=1.0"])
        >>> bank.compute(np.full((20, 30), 7, np.uint16))[1].max()
        np.float32(7.0)
        """
        array = self._check_image(image)
        spatial = array.shape
        if out is None:
            out = np.empty((len(self), *spatial), np.float32)
        else:
            _check_out(out, (len(self), *spatial))
        grid = self._grid(spatial, chunk_size)
        rng = self._resolve_range(array)
        target = np.asarray(out)
        if len(grid) == 1 and target.flags.c_contiguous:
            self._window(array, tuple(slice(0, n) for n in spatial), rng, target)
            _release(out)
        else:
            buffer = None
            for chunk, window in _maybe_progress(grid, progress):
                shape = (len(self), *(w.stop - w.start for w in window))
                if buffer is None or buffer.shape != shape:
                    buffer = np.empty(shape, np.float32)
                self._window(array, window, rng, buffer)
                crop = _crop(chunk, window)
                for i, plane in enumerate(buffer):
                    target[(i, *chunk)] = plane[crop]
                    _release(out, i)
        return out

    def iter_chunks(
        self, image, *, chunk_size: int | Sequence[int] | None = None
    ) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
        """Yield ``(slices, block)`` over the image, chunk by chunk.

        ``slices`` index the image's spatial axes; ``block`` is the float32
        ``(F, *chunk_shape)`` features of that region, equal to the same region of
        :meth:`compute`'s result. Memory stays bounded by the chunk size, so this is how a
        classifier predicts images of any size.

        Examples
        --------
        >>> import numpy as np
        >>> bank = FeatureBank(["Gaussian σ=2.0", "Variance r=3"])
        >>> image = np.random.default_rng(1).random((100, 90))
        >>> blocks = list(bank.iter_chunks(image, chunk_size=64))
        >>> len(blocks), blocks[0][0], blocks[0][1].shape
        (4, (slice(0, 64, None), slice(0, 64, None)), (2, 64, 64))
        """
        return self._blocks(image, chunk_size=chunk_size, reuse=False)

    def _blocks(self, image, *, chunk_size=None, reuse: bool, views: bool = False
                ) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
        """:meth:`iter_chunks`; with ``reuse`` the blocks are views of one buffer, as big as
        the largest window, valid only until this thread asks any bank for its next block
        (fresh memory costs a page fault per page: 8 % of a forest's prediction); a buffer of
        at most :data:`REUSE_BYTES` is kept by this thread from call to call. For callers
        that are done with each block before the next. With ``views`` a chunk read with a
        halo is a view of its window rather than a contiguous copy (the forest's kernel
        reads such a crop in place: the copy took 7 % of the U-Net's tiled prediction)."""
        array = self._check_image(image)
        grid = self._grid(array.shape, chunk_size)
        rng = self._resolve_range(array)
        shapes = [(len(self), *(w.stop - w.start for w in window)) for _, window in grid]
        # every window of the grid in one buffer, as big as the largest: windows of a few
        # sizes, each allocated while the caller held the last, made glibc's heap grow by
        # the largest twice or more in every prediction (see microlab._memory)
        flat = None
        if reuse:
            size = max(math.prod(shape) for shape in shapes)
            flat = _reused(size) if 4 * size <= REUSE_BYTES else np.empty(size, np.float32)
        for (chunk, window), shape in zip(grid, shapes, strict=True):
            buffer = (flat[: math.prod(shape)].reshape(shape)
                      if flat is not None and (chunk == window or views)
                      else np.empty(shape, np.float32))
            self._window(array, window, rng, buffer)
            if chunk == window:
                yield chunk, buffer
            elif views:
                yield chunk, buffer[(slice(None), *_crop(chunk, window))]
            else:
                yield chunk, np.ascontiguousarray(buffer[(slice(None), *_crop(chunk, window))])

    # ------------------------------------------------------------------ internals
    def _check_image(self, image) -> np.ndarray:
        array = spatial_image(image, ndim=self.ndim)
        if array.shape[0] != 1:
            raise ValueError(
                f"image has {array.shape[0]} channels; a FeatureBank computes one channel at "
                "a time: pass one channel (e.g. image.data[c]) or use a multichannel "
                "RandomForestSegmenter"
            )
        return array[0]

    def _resolve_range(self, array: np.ndarray) -> tuple[float, float] | None:
        if self.intensity_range is not None:
            return self.intensity_range
        if not any(s.kind in ("entropy", "median", "variance") for s in self._specs):
            return None
        return default_range(array)

    def _grid(self, spatial: tuple[int, ...], chunk_size) -> list[tuple[tuple, tuple]]:
        """(chunk slices, window slices) for every chunk, in C order."""
        chunk = self._chunk_shape(spatial, chunk_size)
        starts = [range(0, n, c) for n, c in zip(spatial, chunk, strict=True)]
        grid = []
        for corner in np.ndindex(*[len(s) for s in starts]):
            c_slices, w_slices = [], []
            for axis, i in enumerate(corner):
                lo = starts[axis][i]
                hi = min(lo + chunk[axis], spatial[axis])
                halo = self._halos[axis]
                c_slices.append(slice(lo, hi))
                w_slices.append(slice(max(0, lo - halo), min(spatial[axis], hi + halo)))
            grid.append((tuple(c_slices), tuple(w_slices)))
        return grid

    def _chunk_shape(self, spatial: tuple[int, ...], chunk_size) -> tuple[int, ...]:
        align, halos = self._align, self._halos
        if chunk_size is not None:
            sizes = _check_chunk_size(chunk_size, self.ndim)
            return tuple(
                min(n, -(-c // a) * a) for n, c, a in zip(spatial, sizes, align, strict=True)
            )
        per_window = CHUNK_BYTES if self.ndim == 2 else CHUNK_BYTES_3D
        return best_chunks(spatial, align, halos, per_window // (4 * len(self)))

    def _window(self, array, window: tuple[slice, ...], rng, dest: np.ndarray) -> None:
        """Compute every feature of ``array[window]`` into ``dest`` (F, *window shape)."""
        planes = {spec_key(spec): dest[i] for i, spec in enumerate(self._specs)}
        intensity = planes.get(spec_key(registry(self.ndim)["Intensity"]))
        x = intensity if intensity is not None else np.empty(dest.shape[1:], np.float32)
        np.copyto(x, array[window], casting="unsafe")
        if self.ndim == 2:
            engine = _plane.Plane(x, self._rel, rng, planes, pyramid=self._pyramid)
        else:
            engine = Volume(x, self._rel, rng, planes)
        engine.fill(self._specs)


def best_chunks(spatial, align, halos, budget: int) -> tuple[int, ...]:
    """The chunk shape that computes the fewest pixels, halos included, with windows of at
    most ``budget`` pixels (or the smallest chunks allowed, if none fits).

    Chunks are multiples of ``align`` (or the whole axis); the grid is a product of per-axis
    splits, so its total window size is the product of the per-axis totals.

    Examples
    --------
    >>> best_chunks((48, 256, 256), (1, 1, 16), (19, 33, 48), 3_300_000)  # fits whole
    (48, 256, 256)
    >>> best_chunks((48, 256, 256), (1, 1, 16), (19, 33, 48), 1_600_000)
    (48, 128, 128)
    """
    axes = []
    for n, a, h in zip(spatial, align, halos, strict=True):
        splits = sorted(set(range(1, 65)) | {int(1.25**i) for i in range(20, 60)})
        options: dict[int, tuple[int, int]] = {}
        for k in splits:
            c = min(n, max(a, -(-math.ceil(n / k) // a) * a))
            if c in options:
                continue
            lengths = [min(n, lo + c + h) - max(0, lo - h) for lo in range(0, n, c)]
            options[c] = (sum(lengths), max(lengths))
            if c <= a:
                break
        axes.append(sorted(options.items(), reverse=True))
    totals = [np.array([t for _, (t, _) in opts], np.float64) for opts in axes]
    largest = [np.array([m for _, (_, m) in opts], np.float64) for opts in axes]
    total, largest_window = totals[0], largest[0]
    for t, m in zip(totals[1:], largest[1:], strict=True):
        total, largest_window = np.multiply.outer(total, t), np.multiply.outer(largest_window, m)
    fits = largest_window <= budget
    if not fits.any():
        return tuple(opts[-1][0] for opts in axes)
    # the fewest pixels computed; among equals, the first (largest chunks: options run from
    # the whole axis down)
    best = np.unravel_index(np.argmin(np.where(fits, total, np.inf)), total.shape)
    return tuple(opts[i][0] for opts, i in zip(axes, best, strict=True))


def default_range(array: np.ndarray) -> tuple[float, float]:
    """The quantisation range used when a bank has none: see :class:`FeatureBank`.

    Examples
    --------
    >>> import numpy as np
    >>> default_range(np.zeros((4, 4), np.uint8))
    (0.0, 255.0)
    """
    if array.dtype == np.bool_:
        return 0.0, 1.0
    if array.dtype == np.uint8:
        return 0.0, 255.0
    step = max(1, array.size // 4_000_000)
    values = np.asarray(array).ravel()[::step]
    low, high = (float(v) for v in np.percentile(values, [0.1, 99.9]))
    if not high > low:
        high = low + 1.0
    return low, high


def _relative(spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    finest = min(spacing)
    return tuple(s / finest for s in spacing)


def _check_range(value) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"intensity_range must be a pair (low, high) of numbers, got {value!r}"
        ) from exc
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(
            f"intensity_range must be finite with low < high, got ({low}, {high})"
        )
    return low, high


def _check_chunk_size(value, ndim: int) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral):
        value = (int(value),) * ndim
    try:
        sizes = tuple(value)
    except TypeError as exc:
        raise TypeError(f"chunk_size must be an int or {ndim} ints, got {value!r}") from exc
    if len(sizes) != ndim or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(f"chunk_size must be a positive int or {ndim} of them, got {value!r}")
    return tuple(int(s) for s in sizes)


def _check_out(out, shape: tuple[int, ...]) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array (or np.memmap), got {type(out).__name__}")
    if out.dtype != np.float32 or tuple(out.shape) != shape:
        raise ValueError(
            f"out must be float32 with shape {shape} (features, *spatial); got {out.dtype} "
            f"{tuple(out.shape)}"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only; open the memmap with mode 'w+' or 'r+'")


def _crop(chunk: tuple[slice, ...], window: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(c.start - w.start, c.stop - w.start) for c, w in zip(chunk, window, strict=True)
    )


def _maybe_progress(grid: list, progress: bool):
    if not progress:
        return grid
    from tqdm.auto import tqdm

    return tqdm(grid, desc="features", unit="chunk")


REUSE_BYTES = 64 * 2**20
"""Largest feature block a thread keeps for reuse between predictions (12 features of a
megapixel fit; a bigger block is allocated afresh, not held)."""
_REUSED = threading.local()


def _reused(size: int) -> np.ndarray:
    """This thread's reusable flat float32 buffer of at least ``size`` values (one kept at
    a time, at most :data:`REUSE_BYTES`)."""
    buffer = getattr(_REUSED, "buffer", None)
    if buffer is None or buffer.size < size:
        _REUSED.buffer = None  # let the old one go before taking the new one
        buffer = _REUSED.buffer = np.empty(size, np.float32)
    return buffer


def _release(out: np.ndarray, index: int | None = None) -> None:
    """Drop a memmap's written pages (all, or those of plane ``index``) from this process.

    The data stays in the page cache (a shared file mapping's pages belong to the file), which
    the kernel writes back in the background; only the process's resident memory shrinks, so
    streaming a huge result into a memmap keeps memory bounded by the chunk size.
    """
    mm = getattr(out, "_mmap", None) if isinstance(out, np.memmap) else None
    advise = getattr(mm, "madvise", None)
    dontneed = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or dontneed is None:
        return
    if index is None or not out.flags.c_contiguous:
        advise(dontneed)
        return
    import ctypes

    base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    start = out[index].ctypes.data - base
    page = mmap.PAGESIZE
    low = start // page * page
    high = min(len(mm), -(-(start + out[index].nbytes) // page) * page)
    advise(dontneed, low, high - low)
