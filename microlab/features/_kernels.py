"""Running the fused 2D numba kernels (:mod:`._jit`) in row bands on a small thread pool.

Each kernel reads a smoothed image once and writes several features in the same pass, so the
2D bank touches memory as few times as possible. Kernels release the GIL (``nogil``) and take a
row range, so :func:`run_rows` splits an image into bands and runs them on threads; this is
thread-safe, unlike numba's own parallel layers. numba is imported on first use only:
``import microlab.features`` stays fast.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import numpy as np

_MIN_PIXELS_PER_BAND = 1 << 16


@cache
def _threads() -> int:
    """Threads per kernel: the cores this process may use, at most ``OMP_NUM_THREADS``.

    A Dask worker process runs with ``OMP_NUM_THREADS=1`` (its nanny sets it, as for
    BLAS and torch), so each worker thread uses one core and N workers use N cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    if limit.isdigit() and int(limit) > 0:
        cores = min(cores, int(limit))
    return max(1, cores)


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="microlab-features")


def _bands(n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    """Row ranges splitting ``n_rows`` rows over the cores (one per core, none too small)."""
    bands = min(_threads(), max(1, n_rows * n_cols // _MIN_PIXELS_PER_BAND), n_rows)
    edges = np.linspace(0, n_rows, bands + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _on_pool(fn, calls) -> None:
    """Run ``fn(*args)`` for each ``args`` in ``calls`` on the pool and wait for all."""
    futures = [_pool().submit(fn, *args) for args in calls]
    for future in futures:
        future.result()


def run_rows(kernel, n_rows: int, n_cols: int, *args) -> None:
    """Run ``kernel(*args, y0, y1)`` over ``[0, n_rows)`` split into bands, one per core."""
    bands = _bands(n_rows, n_cols)
    if len(bands) <= 1:
        kernel(*args, 0, n_rows)
        return
    _on_pool(kernel, [(*args, a, b) for a, b in bands])


def run_bands(fn, n_rows: int, n_cols: int, reach: int) -> bool:
    """Run ``fn(lo, hi, y0, y1)`` on row bands in threads; False (nothing run) when one band
    would do. Band ``[y0, y1)`` reads rows ``[lo, hi)``: ``reach`` more on each side, so a
    filter of that radius gives in the band what it gives on the whole image."""
    bands = _bands(n_rows, n_cols)
    if len(bands) <= 1 or reach * 4 > n_rows // len(bands):
        return False
    _on_pool(fn, [(max(0, a - reach), min(n_rows, b + reach), a, b) for a, b in bands])
    return True


@cache
def kernels():
    """The numba kernels (module :mod:`._jit`), imported on first use."""
    from .._numba import announce_compile
    from . import _jit

    announce_compile(_jit.sobel, "feature kernels", "about 10 s")
    return _jit


def _load_volume_kernels():
    from .._numba import announce_compile, prepare_target
    from . import _jit_volume

    announce_compile(_jit_volume.eigen3, "3D feature kernels", "about 10 s")
    prepare_target()
    return _jit_volume


_volume_loading: list[Future] = []
_volume_lock = threading.Lock()


def start_volume_kernels() -> Future:
    """Start loading the 3D numba kernels on a background thread (once per process).

    Importing numba and readying its compiler's tables takes about 0.3 s of Python, once
    per process, before the first kernel can run. A 3D window starts this as it begins, so
    it runs while the first filters (scipy.ndimage, which releases the GIL) work on the
    pool, not after them.
    """
    with _volume_lock:
        failed = _volume_loading and _volume_loading[0].done() and _volume_loading[0].exception()
        if not _volume_loading or failed:  # a failed load is tried again, as on first use
            loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microlab-numba")
            _volume_loading[:] = [loader.submit(_load_volume_kernels)]
            loader.shutdown(wait=False)
        return _volume_loading[0]


def volume_kernels():
    """The 3D numba kernels (module :mod:`._jit_volume`), imported on first use (waits for
    :func:`start_volume_kernels`' thread if it is still loading them)."""
    return start_volume_kernels().result()


def entropy_table(n: int) -> np.ndarray:
    """``c * log2(c)`` for counts ``c = 0..n`` (0 for c = 0)."""
    c = np.arange(n + 1, dtype=np.float64)
    table = np.zeros(n + 1)
    table[1:] = c[1:] * np.log2(c[1:])
    return table
