"""Model files: tensors in safetensors, configuration in JSON, with versions.

Both tiers save through here, so every model file says what it is, which format version
wrote it and which microlab, and loading an unknown, foreign or newer file fails with a
message that says why. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._checks import refuse_newer_format

MAGIC = "microlab-model"


def write_model(
    path: str | os.PathLike, kind: str, format_version: int, config: dict, tensors: dict
) -> None:
    """Write ``tensors`` (name → ndarray) and ``config`` (JSON-safe) atomically to ``path``."""
    from safetensors.numpy import save_file

    from . import __version__

    header = {
        "magic": MAGIC,
        "kind": kind,
        "format_version": str(format_version),
        "microlab_version": __version__,
        "config": json.dumps(config),
    }
    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata=header)


def content_digest(data: bytes) -> str:
    """SHA-256 of a model file's content: equal for equal models, however the file orders
    its header (safetensors writes the header's keys in no fixed order).

    Examples
    --------
    >>> import json, struct
    >>> def file(header):
    ...     text = json.dumps(header).encode()
    ...     return struct.pack("<Q", len(text)) + text
    >>> a = file({"__metadata__": {"kind": "k", "magic": "m"}})
    >>> b = file({"__metadata__": {"magic": "m", "kind": "k"}})
    >>> a != b and content_digest(a) == content_digest(b)
    True
    """
    import hashlib

    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    canonical = json.dumps(header, sort_keys=True).encode()
    return hashlib.sha256(canonical + data[8 + size:]).hexdigest()


def read_header(path: str | os.PathLike) -> dict:
    """Return the string header of a microlab model file, checking that it is one."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            header = dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"{path.name} is not a microlab model file (it could not be read as safetensors: "
            f"{exc}); pass a file written by a segmenter's .save()"
        ) from exc
    if header.get("magic") != MAGIC:
        raise ValueError(
            f"{path.name} is a safetensors file but not a microlab model (no microlab header); "
            "pass a file written by a segmenter's .save()"
        )
    return header


def format_version(header: dict, name: str) -> int:
    """The format version a model file's header records, checked to be a whole number.

    Examples
    --------
    >>> format_version({"format_version": "2"}, "rf.safetensors")
    2
    >>> format_version({"format_version": "2.1"}, "rf.safetensors")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: rf.safetensors records the model format version '2.1', which is not a whole ...
    """
    value = header.get("format_version", "0")
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ValueError(
            f"{name} records the model format version {value!r}, which is not a whole "
            "number: the file is damaged or was not written by microlab; save the model again"
        )
    return int(value)


def read_model(
    path: str | os.PathLike, kind: str, max_format_version: int
) -> tuple[dict, dict[str, np.ndarray], dict]:
    """Read a model file written by :func:`write_model`; return (config, tensors, header).

    Raises ``ValueError`` naming the problem when the file is not a microlab model, is a
    model of another kind, or was written by a newer format than this microlab reads.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    header = read_header(path)
    if header.get("kind") != kind:
        raise ValueError(
            f"{path.name} holds a {header.get('kind')!r} model, not a {kind!r} model; "
            f"load it with the matching class"
        )
    refuse_newer_format(format_version(header, path.name), max_format_version,
                        f"{path.name} ({kind} model)", written_by=header.get("microlab_version"))
    try:
        tensors = load_file(str(path))
        config = json.loads(header["config"])
    except Exception as exc:
        raise ValueError(f"{path.name} is a damaged microlab model file: {exc}") from exc
    return config, tensors, header
