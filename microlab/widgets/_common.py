"""Shared by the widgets: the message line, the error guard and batched canvas drawing."""

from __future__ import annotations

import contextlib
import functools
import html
import threading
from collections.abc import Callable, Iterator

import ipywidgets as widgets

_DRAW_LOCK = threading.RLock()
_DEPTH = [0]


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """Batch canvas commands into one message; safe across threads and nesting.

    ipycanvas's ``hold_canvas`` switches a process-wide cache on and off and does not
    flush when the block raises; training threads draw too, so every drawing goes through
    this one lock and only the outermost block flushes.
    """
    from ipycanvas import hold_canvas

    with _DRAW_LOCK:
        if _DEPTH[0]:
            _DEPTH[0] += 1
            try:
                yield
            finally:
                _DEPTH[0] -= 1
            return
        hold = hold_canvas()
        hold.__enter__()
        _DEPTH[0] = 1
        try:
            yield
        finally:
            _DEPTH[0] = 0
            hold.__exit__(None, None, None)


class MessageLine:
    """One line of text under a widget for information and errors (never a traceback).

    Examples
    --------
    >>> line = MessageLine()
    >>> line.error(ValueError("paint two classes first"))
    >>> "paint two classes first" in line.widget.value, line.text
    (True, 'paint two classes first')
    """

    def __init__(self) -> None:
        self.widget = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self.text = ""
        self.level = "info"
        self.history: list[tuple[str, str]] = []

    def show(self, text: str, level: str = "info") -> None:
        """Show ``text`` (``level`` ``"info"``, ``"ok"`` or ``"error"``)."""
        self.text, self.level = str(text), level
        self.history = [*self.history[-49:], (level, self.text)]
        color = {"error": "#b00020", "ok": "#1b7a1b"}.get(level, "#444")
        icon = {"error": "⚠ ", "ok": "✓ "}.get(level, "")
        self.widget.value = (
            f'<span style="color:{color}" class="microlab-message microlab-{level}">'
            f"{icon}{html.escape(self.text)}</span>"
        )

    def info(self, text: str) -> None:
        """Show an information."""
        self.show(text, "info")

    def ok(self, text: str) -> None:
        """Show a success."""
        self.show(text, "ok")

    def error(self, error) -> None:
        """Show an error (an exception or a text)."""
        if isinstance(error, BaseException):
            text = str(error) or type(error).__name__
            if not isinstance(error, (ValueError, TypeError, OSError, KeyError, IndexError,
                                      RuntimeError)):
                text = f"{type(error).__name__}: {text}"
        else:
            text = str(error)
        self.show(text, "error")

    def clear(self) -> None:
        """Empty the line."""
        self.text, self.level = "", "info"
        self.widget.value = ""


def guarded(method: Callable) -> Callable:
    """Run a widget handler; show any error in the widget's message line instead of raising."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self.messages.error(exc)
            return None

    return wrapper


def short_channel_names(names, channels: int) -> list[str]:
    """Channel names for a control: the file's names without the prefix they all share
    (ImageJ labels such as ``plate_A02_s9_c1.tif`` become ``c1``), numbers where none.

    Examples
    --------
    >>> short_channel_names(("IXM_A02_s9_c1", "IXM_A02_s9_c2"), 2)
    ['c1', 'c2']
    >>> short_channel_names(("DAPI", "GFP"), 2), short_channel_names(None, 2)
    (['DAPI', 'GFP'], ['0', '1'])
    """
    if not names or len(names) != channels:
        return [str(c) for c in range(channels)]
    names = [str(n) for n in names]
    if len(names) > 1:
        chars = zip(*names, strict=False)  # up to the shortest name
        shared = next((i for i, c in enumerate(chars) if len(set(c)) > 1),
                      min(map(len, names)))
        prefix = names[0][:shared]
        cut = max(prefix.rfind(sep) for sep in "_- .") + 1
        if cut > 0 and all(n[cut:] for n in names):
            names = [n[cut:] for n in names]
    return names

