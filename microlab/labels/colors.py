"""Class colours that travel with a model."""

from __future__ import annotations

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]


def hex_color(value, name: str = "color") -> str:
    """Return ``value`` (``"#rrggbb"``, or an RGB tuple of ints 0-255 or floats 0-1) as hex.

    Examples
    --------
    >>> hex_color((255, 0, 0)), hex_color("#00FF00"), hex_color((0.0, 0.0, 1.0))
    ('#ff0000', '#00ff00', '#0000ff')
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdef" for c in text[1:]):
            return text
        raise ValueError(f"{name} {value!r} must be a '#rrggbb' string or an RGB tuple")
    try:
        rgb = [float(v) for v in value]
    except TypeError as exc:
        raise TypeError(f"{name} {value!r} must be a '#rrggbb' string or an RGB tuple") from exc
    if len(rgb) not in (3, 4) or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"{name} {value!r} must be 3 numbers in 0-1 or 0-255")
    floats = all(isinstance(v, float) for v in value[:3])
    scale = 255.0 if floats and all(v <= 1 for v in rgb[:3]) else 1.0
    return "#" + "".join(f"{round(v * scale):02x}" for v in rgb[:3])


def default_colors(n: int) -> list[str]:
    """The first ``n`` colours of the default palette (cycled).

    Examples
    --------
    >>> default_colors(2)
    ['#1f77b4', '#ff7f0e']
    """
    return [PALETTE[i % len(PALETTE)] for i in range(n)]
