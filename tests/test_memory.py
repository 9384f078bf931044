"""microlab._memory: big freed arrays stay mapped for the next ones while a prediction runs."""

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from microlab import _memory
from microlab._memory import reuse_freed_memory

glibc = pytest.mark.skipif(_memory._glibc() is None,
                           reason="the allocator settings exist only in glibc (Linux)")
BIG = 64 * 2**20  # above glibc's largest mmap threshold (32 MB)
ROOT = Path(__file__).resolve().parents[1]


def released_on_free() -> int:
    """Bytes of resident memory that freeing a big, filled array gives back at once."""
    array = np.ones(BIG, np.uint8)
    before = resident()
    del array
    return before - resident()


def resident() -> int:
    """Resident memory of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def in_fresh_process(body: str, **env: str) -> None:
    """Run ``body`` (with this module's helpers) in a new Python process; fail if it fails.

    glibc's allocator settings belong to the whole process: a prediction that an earlier
    test left running in a thread of the test process would hold them changed, so the checks
    that compare against glibc's defaults run where no other thread can.
    """
    code = "\n".join(["import numpy as np", "from tests.test_memory import *", body])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})
    assert done.returncode == 0, done.stdout + done.stderr


@glibc
def test_inside_freed_big_arrays_stay_mapped_for_the_next_ones():
    in_fresh_process("""
assert released_on_free() > BIG // 2  # glibc's default: unmapped at once
with reuse_freed_memory():
    released_on_free()  # the heap grows once
    assert released_on_free() < BIG // 10  # kept: the next array reuses its pages
assert released_on_free() > BIG // 2  # settings restored on leaving
""")


@glibc
def test_leaving_gives_the_freed_memory_back():
    with reuse_freed_memory():
        kept = np.ones(4 * BIG, np.uint8)
        del kept
        inside = resident()
    assert resident() < inside - 2 * BIG


def test_nested_and_concurrent_uses_restore_once_at_the_end():
    errors = []

    def work():
        try:
            for _ in range(20):
                with reuse_freed_memory(), reuse_freed_memory():
                    np.ones(2**20).sum()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _memory._depth == 0


def test_an_error_inside_still_restores():
    with pytest.raises(RuntimeError, match="boom"), reuse_freed_memory():
        raise RuntimeError("boom")
    assert _memory._depth == 0


@glibc
def test_the_environment_can_turn_it_off():
    in_fresh_process("""
with reuse_freed_memory():
    released_on_free()
    assert released_on_free() > BIG // 2  # as without it
""", MICROLAB_REUSE_MEMORY="0")
