"""Key bindings: the one table that maps keys to actions and writes the help line.

Keys are named as the browser names them (``"b"``, ``"+"``, ``"ArrowLeft"``); with Ctrl
or ⌘ held they read ``"ctrl+z"``, ``"ctrl+shift+z"`` (see :func:`combo`). Bindings that
share a label (the nine digit keys under ``"1-9"``) show once in the help line.

Examples
--------
>>> keys = KeyBindings()
>>> pressed = []
>>> keys.bind("b", "brush", lambda: pressed.append("brush"))
>>> keys.bind(("+", "="), "zoom", lambda: pressed.append("in"), label="+ -")
>>> keys.bind("-", "zoom", lambda: pressed.append("out"), label="+ -")
>>> keys.dispatch("="), keys.dispatch("-"), keys.dispatch("q"), pressed
(True, True, False, ['in', 'out'])
>>> keys.help_line()
'b brush · + - zoom'
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass


def combo(key: str, *, shift: bool = False, ctrl: bool = False, meta: bool = False) -> str:
    """The name of a key press in a :class:`KeyBindings` table.

    Ctrl and ⌘ (meta) are the same command modifier; Shift counts only with it (without
    it the key itself says it: ``"+"``, ``"Z"``).

    Examples
    --------
    >>> combo("Z", shift=True, meta=True), combo("+", shift=True), combo("y", ctrl=True)
    ('ctrl+shift+z', '+', 'ctrl+y')
    """
    if ctrl or meta:
        return f"ctrl+{'shift+' if shift else ''}{key.lower()}"
    return key


@dataclass(frozen=True)
class Binding:
    """What one key does, and how the help line lists it."""

    key: str
    description: str
    action: Callable[[], object]
    label: str


class KeyBindings:
    """Keys → actions, in the order bound; the help line is written from the same table.

    Binding a key that is bound already replaces its action.
    """

    def __init__(self) -> None:
        self._bindings: dict[str, Binding] = {}
        self._observers: list[Callable[[], None]] = []

    def bind(self, keys: str | Iterable[str], description: str, action: Callable[[], object],
             *, label: str | None = None) -> None:
        """Make ``keys`` (one, or several doing the same) call ``action()``.

        Parameters
        ----------
        keys : str or iterable of str
            Key names as :func:`combo` writes them.
        description : str
            What the action does, for the help line.
        action : callable
            Called with no argument.
        label : str, optional
            How the help line names the keys (default: the keys, space-separated); bindings
            with the same label are listed once.
        """
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"keys must be non-empty key names, got {keys!r}")
        if not callable(action):
            raise TypeError(f"action for {keys} must be callable, got {action!r}")
        label = label or " ".join(keys)
        for key in keys:
            self._bindings[key] = Binding(key, description, action, label)
        self._changed()

    def unbind(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not bound)."""
        if self._bindings.pop(key, None) is not None:
            self._changed()

    def __contains__(self, key: str) -> bool:
        return key in self._bindings

    def __iter__(self):
        return iter(self._bindings.values())

    def __len__(self) -> int:
        return len(self._bindings)

    def dispatch(self, key: str) -> bool:
        """Run the action bound to ``key``; False if none is."""
        binding = self._bindings.get(key)
        if binding is None:
            return False
        binding.action()
        return True

    def help_items(self) -> list[tuple[str, str]]:
        """(label, description) of each binding, once per label, in the order bound."""
        items: dict[str, str] = {}
        for binding in self._bindings.values():
            items.setdefault(binding.label, binding.description)
        return list(items.items())

    def help_line(self, *, markup: bool = False) -> str:
        """Every binding in one line; with ``markup``, HTML with the keys in bold."""
        if markup:
            return " · ".join(f"<b>{html.escape(label)}</b> {html.escape(description)}"
                              for label, description in self.help_items())
        return " · ".join(f"{label} {description}" for label, description in self.help_items())

    def observe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever a binding is added, replaced or removed."""
        self._observers.append(callback)

    def _changed(self) -> None:
        for callback in list(self._observers):
            callback()
