"""Autosave: a background thread that writes changed annotation layers soon after a stroke,
and a flush of every open project when the interpreter exits.

A stroke still being painted is saved when it ends (painting stays smooth: no
16-megapixel write competes with the brush), a finished one at most ``0.75`` s after it
ended, and nothing waits longer than ``10`` s. A script that ends without ``close()`` loses
nothing either: :func:`flush_at_exit` closes every project still open.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable

MAX_AFTER_STROKE = 0.75
"""Seconds after a stroke ends by which it is on disk."""
MAX_WAIT = 10.0
"""Seconds after which even an unfinished stroke is written."""

_OPEN: weakref.WeakSet = weakref.WeakSet()


class Autosaver:
    """Runs ``flush()`` in a daemon thread when ``annotations`` have quietly changed.

    Parameters
    ----------
    lock : threading.RLock
        The project's lock (the thread waits on a condition of it).
    annotations : Annotations
        Tells whether layers are dirty, whether a stroke is open, and when things changed.
    flush : callable
        Writes the unsaved layers; returns False to stop the thread (nothing can be saved).
    delay : float
        Seconds to wait for more strokes before writing (the debounce).
    """

    def __init__(self, lock: threading.RLock, annotations, flush: Callable[[], bool],
                 delay: float) -> None:
        self._annotations = annotations
        self._flush = flush
        self.delay = delay
        self._wake = threading.Condition(lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    def wake(self) -> None:
        """Something changed: start the thread if needed and let it look (lock held)."""
        if self._closed:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="microlab-autosave",
                                            daemon=True)
            self._thread.start()
        self._wake.notify_all()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the write it may be doing)."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        annotations = self._annotations
        while True:
            with self._wake:
                while not self._closed and not annotations.dirty():
                    self._wake.wait()
                if self._closed:
                    return
                first = time.monotonic()
                while not self._closed:
                    now = time.monotonic()
                    ended = annotations.pending_since
                    if ended is None:  # a stroke is being painted: write when it ends
                        if now - first >= MAX_WAIT:
                            break
                        self._wake.wait(min(0.25, first + MAX_WAIT - now))
                        continue
                    deadline = min(annotations.last_change + self.delay,
                                   ended + MAX_AFTER_STROKE)
                    if deadline <= now:
                        break
                    self._wake.wait(deadline - now)
                annotations.pending_since = None
            if not self._flush():
                return


def keep_open(project) -> None:
    """Remember an open project so :func:`flush_at_exit` saves it."""
    _OPEN.add(project)


def forget(project) -> None:
    _OPEN.discard(project)


@atexit.register
def flush_at_exit() -> None:
    """Close every project still open: its unsaved strokes are written."""
    for project in list(_OPEN):
        project._close_quietly()
