"""Big temporary arrays without page faults: glibc told to keep freed memory for a while.

glibc's ``malloc`` gives every allocation above 32 MB (its largest mmap threshold) pages of
its own, mapped fresh from the system, and unmaps them on ``free``. A prediction makes and
drops many such arrays (a feature plane of a 2048² tile is 16 MB, a network layer's output
at full resolution 130 MB), so each one is zero-filled again, page by page, by the kernel:
measured on a 2560² window of the default U-Net, about 40 % of its network's time.

:func:`reuse_freed_memory` tells glibc, for the time of a prediction, to take every
allocation from its heap (``M_MMAP_MAX`` 0) and to keep what is freed there
(``M_TRIM_THRESHOLD`` 2 GiB), so the next array reuses pages already mapped; on leaving, the
thresholds go to where glibc's own dynamic rule takes them once an array of 32 MB has been
freed (mmap above 32 MB, trim above 64 MB), and the freed memory goes back to the system
(``malloc_trim``). Nested and concurrent uses count: the outermost one sets and restores.

The heap is reused only where the next arrays fit into the holes the last ones left: arrays
a little larger each time (tiles whose windows grew by a few pixels from one to the next)
are put above them, and the heap grows by about a tile's memory with every tile. So
:func:`~microlab.predict_tiled` reads windows of one shape, and a feature bank puts every
window of one prediction in one buffer as big as the largest (session 46: the default
U-Net's first tiled call on a 4096² image grew the process by 1.3 GB instead of 2.8).

Elsewhere than glibc (macOS, Windows, musl) it does nothing, and nothing either with the
environment variable ``MICROLAB_REUSE_MEMORY=0``: the price is peak memory (the default
U-Net's tiled prediction in a new process peaks at 2.3-2.9 GB instead of 1.9-2.0, for twice
the speed; see the README).

Examples
--------
>>> import numpy as np
>>> with reuse_freed_memory():
...     total = sum(float(np.ones(2**22).sum()) for _ in range(3))
>>> total
12582912.0
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
"""glibc's ``mallopt`` parameters (``malloc.h``)."""
KEEP = 2**31 - 1
"""Trim threshold while a prediction runs: keep what is freed (``mallopt`` takes a C int)."""
AFTER = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20}
"""Settings on leaving: glibc's mmap count, and its dynamic thresholds at their largest."""

_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[None]:
    """While inside, freed big arrays stay mapped for the next ones (glibc only).

    See the module's description. Safe to nest and to enter from several threads.
    """
    global _depth
    libc = _glibc()
    if libc is None or os.environ.get("MICROLAB_REUSE_MEMORY") == "0":
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for parameter, value in AFTER.items():
                    libc.mallopt(parameter, value)
                libc.malloc_trim(0)
