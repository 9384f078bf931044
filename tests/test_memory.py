"""microlab._memory: big freed arrays stay mapped for the next ones while a prediction runs."""

import resource
import threading

import numpy as np
import pytest

from microlab import _memory
from microlab._memory import reuse_freed_memory

glibc = pytest.mark.skipif(_memory._glibc() is None,
                           reason="the allocator settings exist only in glibc (Linux)")
BIG = 64 * 2**20  # above glibc's largest mmap threshold (32 MB)


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


@glibc
def test_inside_freed_big_arrays_stay_mapped_for_the_next_ones():
    assert released_on_free() > BIG // 2  # glibc's default: unmapped at once
    with reuse_freed_memory():
        released_on_free()  # the heap grows once
        assert released_on_free() < BIG // 10  # kept: the next array reuses its pages
    assert released_on_free() > BIG // 2  # settings restored on leaving


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
def test_the_environment_can_turn_it_off(monkeypatch):
    monkeypatch.setenv("MICROLAB_REUSE_MEMORY", "0")
    with reuse_freed_memory():
        released_on_free()
        assert released_on_free() > BIG // 2  # as without it
