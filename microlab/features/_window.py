"""Computing the features of one window (a chunk plus its halo), reusing intermediates.

A window asks for quantities by key ``(kind, scale, index, angles)``, the same key a feature
spec has, so a feature and an intermediate that happen to be the same array (the Gaussian σ=2
is a feature and the input of the σ=2 derivatives) are computed once, straight into the output
plane when the bank includes that feature. :class:`Window` holds what 2D and 3D share; the
filters live in :mod:`._plane` (2D, OpenCV + numba) and :mod:`._volume` (3D, scipy.ndimage).
"""

from __future__ import annotations

import threading

import numpy as np

from ._kernels import entropy_table
from ._registry import ENTROPY_BINS, MEDIAN_LEVELS, Spec

Key = tuple


def key(kind: str, scale=0, index: int = 0, angles: tuple = ()) -> Key:
    """The cache key of a quantity (the same for a feature and its spec)."""
    return (kind, scale, index, angles)


def spec_key(spec: Spec) -> Key:
    """The cache key of a feature."""
    return key(spec.kind, spec.scale, spec.index, spec.angles)


POOL_BYTES = 256 * 2**20
"""Scratch memory each thread keeps between windows at most (see :class:`ScratchPool`)."""


class ScratchPool:
    """Scratch arrays kept between windows, per thread.

    Fresh memory costs a page fault per page (the kernel zeroes it), which for a bank's
    dozen full-size intermediates is a third of the 2D compute time; reusing the arrays of
    the previous window (same shape, usually) avoids it. Only the last window's arrays are
    kept, at most :data:`POOL_BYTES`.
    """

    _local = threading.local()

    @classmethod
    def free_lists(cls) -> dict:
        lists = getattr(cls._local, "free", None)
        if lists is None:
            lists = cls._local.free = {}
        return lists

    @classmethod
    def take(cls, shape: tuple[int, ...], dtype) -> np.ndarray:
        stack = cls.free_lists().get((tuple(shape), np.dtype(dtype).str))
        return stack.pop() if stack else np.empty(shape, dtype)

    @classmethod
    def give_back(cls, arrays: list[np.ndarray]) -> None:
        """Keep the arrays one window used (the next window most likely has the same shape)."""
        lists: dict = {}
        total = 0
        for a in sorted(arrays, key=lambda a: a.nbytes):
            total += a.nbytes
            if total > POOL_BYTES:
                break
            lists.setdefault((a.shape, a.dtype.str), []).append(a)
        cls._local.free = lists


def gauss_radius(sigma: float) -> int:
    """Half-width of a Gaussian kernel truncated at 4σ, as OpenCV and scipy size it."""
    opencv = (round(sigma * 8 + 1) | 1) // 2  # cv2.GaussianBlur, float images
    scipy = int(4.0 * sigma + 0.5)  # scipy.ndimage.gaussian_filter, truncate=4
    return max(opencv, scipy)


def axis_radius(r: int, rel: float) -> int:
    """A window radius in pixels along an axis whose pixels are ``rel`` times the finest."""
    return round(r / rel)


class Window:
    """The features of one window of a single-channel image.

    Parameters
    ----------
    x : ndarray of float32
        The window's intensities.
    rel : tuple of float
        Pixel size along each axis relative to the finest axis (all >= 1).
    intensity_range : (float, float) or None
        The bank's quantisation range (entropy, median) and centre (variance).
    planes : dict
        Destination array of each feature key the bank outputs.
    """

    def __init__(self, x: np.ndarray, rel: tuple[float, ...], intensity_range, planes: dict):
        self.x = x
        self.rel = rel
        self.intensity_range = intensity_range
        self.planes = planes
        self.cache: dict[Key, np.ndarray] = {key("intensity"): x}
        self._scratch: list[np.ndarray] = []
        self._free: dict[tuple, list[np.ndarray]] = {}

    def fill(self, specs: list[Spec]) -> None:
        """Compute every spec into its plane, then hand the scratch arrays back."""
        try:
            for spec in specs:
                k = spec_key(spec)
                value = self.get(k)
                if value is not self.planes[k]:
                    np.copyto(self.planes[k], value)
        finally:
            self.cache.clear()
            ScratchPool.give_back(self._scratch)
            self._scratch = []

    def empty(self, shape: tuple[int, ...] | None = None, dtype=np.float32) -> np.ndarray:
        """A scratch array (from this thread's pool), valid until the window is done or
        until it is handed to :meth:`release`."""
        shape = self.x.shape if shape is None else tuple(shape)
        free = self._free.get((shape, np.dtype(dtype).str))
        if free:
            return free.pop()
        a = ScratchPool.take(shape, dtype)
        self._scratch.append(a)
        return a

    def release(self, *arrays: np.ndarray) -> None:
        """Scratch arrays (from :meth:`empty`) this window no longer needs: later
        :meth:`empty` calls reuse them, so a window's memory is its live arrays, not every
        temporary it ever made."""
        for a in arrays:
            self._free.setdefault((a.shape, a.dtype.str), []).append(a)

    def get(self, k: Key) -> np.ndarray:
        """The quantity ``k`` at full resolution, computed once."""
        value = self.cache.get(k)
        if value is None:
            value = getattr(self, "_" + k[0])(k)
            self.cache[k] = value
        return value

    def out(self, k: Key) -> np.ndarray:
        """Where to write ``k``: its output plane, or a scratch array of the window's shape."""
        plane = self.planes.get(k)
        return plane if plane is not None else self.empty()

    # ---------------------------------------------------------------- shared helpers
    def quantised(self, levels: int, rounding: bool) -> np.ndarray:
        """The window as uint8 levels ``0..levels-1`` over the bank's intensity range."""
        k = key("quantised", levels)
        if k not in self.cache:
            low, high = self.intensity_range
            scale = levels / (high - low) if not rounding else (levels - 1) / (high - low)
            self.cache[k] = self._quantise(low, scale, 0.5 if rounding else 0.0, levels - 1)
        return self.cache[k]

    def dequantise(self, q: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Map median levels back to intensities."""
        low, high = self.intensity_range
        np.multiply(q, np.float32((high - low) / (MEDIAN_LEVELS - 1)), out=out, casting="unsafe")
        if low:
            out += np.float32(low)
        return out

    def centred(self) -> np.ndarray:
        """``x`` minus the centre of the intensity range: small values, accurate variances."""
        k = key("centred")
        if k not in self.cache:
            low, high = self.intensity_range
            self.cache[k] = np.subtract(self.x, np.float32(0.5 * (low + high)),
                                        out=self.empty())
        return self.cache[k]

    def entropy_bins(self) -> np.ndarray:
        return self.quantised(ENTROPY_BINS, rounding=False)

    def median_levels(self) -> np.ndarray:
        return self.quantised(MEDIAN_LEVELS, rounding=True)

    def _intensity(self, k: Key) -> np.ndarray:  # pragma: no cover - always cached
        return self.x

    def _dog(self, k: Key) -> np.ndarray:
        low, high = k[1]
        out = self.out(k)
        np.subtract(self.get(key("gaussian", low)), self.get(key("gaussian", high)), out=out)
        return out

    @staticmethod
    def table(n: int) -> np.ndarray:
        return entropy_table(n)
