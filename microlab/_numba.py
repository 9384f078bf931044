"""Saying, once, that numba is compiling kernels that later runs load from its cache."""

from __future__ import annotations

import os
import sys


def compiled_before(dispatcher) -> bool:
    """Whether numba's on-disk cache holds compiled code of this function's module.

    Looks where the dispatcher's cache locator does (``NUMBA_CACHE_DIR``, ``__pycache__``
    or the user-wide cache) for an index file of any function of the same module; True
    when that cannot be told, so nothing is announced wrongly.
    """
    try:
        index = dispatcher._cache._cache_file._index_path
    except AttributeError:  # pragma: no cover - a numba without this layout
        return True
    folder, name = os.path.split(index)
    module = name.split(".")[0]
    return os.path.isdir(folder) and any(
        entry.startswith(module + ".") and entry.endswith(".nbi") for entry in os.listdir(folder)
    )


def announce_compile(dispatcher, what: str, seconds: str) -> None:
    """Print one line on stderr before ``what`` is compiled for the first time.

    The first run after installing microlab compiles its kernels (numba, ``cache=True``);
    every later process loads them from the cache in well under a second. Without a word,
    that first pass looks like microlab is slow.
    """
    if not compiled_before(dispatcher):
        print(
            f"microlab: compiling the {what} once ({seconds}); later runs load the "
            "compiled code from numba's cache",
            file=sys.stderr,
            flush=True,
        )


def prepare_target() -> None:
    """Ready numba's CPU compiler tables, which its first compiled or cached function
    otherwise loads (about 0.15 s of imports): lets a background thread do it ahead of
    that first call."""
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    except (ImportError, AttributeError):  # pragma: no cover - a numba without this layout
        pass
