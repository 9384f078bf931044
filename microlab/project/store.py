"""The project folder on disk: its layout, ``project.json``, the lock and the files it owns.

Everything a project writes goes through a :class:`Store`: atomic writes (a crash never
leaves half a file), only inside the folder (paths read from ``project.json`` are checked),
never over a file the project did not write itself (a manifest in ``project.json`` lists
what it owns), and only while this session holds the folder's lock (a second session on the
same folder opens it read-only instead of overwriting the first one's work).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._checks import refuse_newer_format
from ..io import Image, write_image, write_labels
from .info import ImageInfo

FORMAT_VERSION = 2
"""Version of the ``project.json`` layout this microlab writes (it reads 1 and 2)."""
PROJECT_FILE = "project.json"
LOCK_FILE = ".microlab.lock"
FORMAT = "microlab-project"


class ProjectVersionError(ValueError):
    """A project folder written by a newer microlab than this one."""


class Store:
    """A project folder: reads and writes its files.

    Parameters
    ----------
    path : Path
        The folder (absolute).

    Attributes
    ----------
    read_only : bool
        Nothing is written: the folder cannot be written, or another session holds it.
    why_read_only : str or None
        The reason, in words a user can act on.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = False
        self.why_read_only: str | None = None
        self.owned: set[str] = set()
        self._lock_file = None

    # ------------------------------------------------------------------ paths
    def inside(self, relative: str, what: str) -> Path:
        """``path / relative``, refusing anything that leaves the folder."""
        if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
            raise ValueError(
                f"{self.path / PROJECT_FILE} is damaged: {what} {relative!r} must be a path "
                "inside the project folder"
            )
        full = (self.path / relative).resolve()
        if not full.is_relative_to(self.path):
            raise ValueError(
                f"{self.path / PROJECT_FILE} names {what} {relative!r}, which lies outside the "
                "project folder; microlab never reads or writes there. Fix or remove that "
                "entry"
            )
        return full

    def free_stem(self, name: str, taken: set[str]) -> str:
        """A file stem for ``name`` that no project file and no file on disk uses."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "image"
        if stem.lower().endswith((".tif", ".tiff")):
            stem = stem.rsplit(".", 1)[0] or "image"
        candidate, n = stem, 2
        while candidate in taken or any(
            (self.path / sub / f"{candidate}{ext}").exists()
            for sub, ext in (("images", ".tif"), ("annotations", ".tif"),
                             ("predictions", ".tif"), ("models", ".safetensors"))
        ):
            candidate, n = f"{stem}_{n}", n + 1
        return candidate

    # ------------------------------------------------------------------ lock
    def acquire(self) -> bool:
        """Take the folder's inter-process lock; False (and read-only) if another holds it."""
        file = self.path / LOCK_FILE
        try:
            handle = open(file, "a+", encoding="utf-8")
        except OSError:
            self._refuse("the folder is read-only")
            return False
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            self._refuse(
                f"the project is open in another session ({holder}); close it there, or keep "
                "working here and save a copy with project.save_as('other/folder')"
            )
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._lock_file = handle
        return True

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                self._lock_file.close()
            self._lock_file = None

    def _refuse(self, why: str) -> None:
        self.read_only = True
        self.why_read_only = why

    # ------------------------------------------------------------------ writes
    def guarded(self, what: str, write: Callable[[], None]) -> None:
        """Run a write; a read-only folder becomes a clear PermissionError."""
        if self.read_only:
            raise PermissionError(
                f"cannot save {what} in {self.path}: {self.why_read_only}. Nothing is lost: "
                "the data stay in memory; save the project to a folder you can write with "
                "project.save_as('new/folder')"
            )
        try:
            write()
        except PermissionError as exc:
            self._refuse("the folder is read-only")
            raise PermissionError(
                f"cannot save {what} in {self.path}: the folder is read-only. Nothing is "
                "lost: the data stay in memory; save the project to a folder you can write "
                "with project.save_as('new/folder')"
            ) from exc

    def target(self, relative: str) -> Path:
        """Where to write ``relative``: inside, its folder made, never over a foreign file."""
        full = self.inside(relative, "file")
        if full.exists() and relative not in self.owned:
            raise FileExistsError(
                f"{full} exists but was not written by this project; microlab does not "
                "overwrite it. Move it away, or open the project in another folder"
            )
        full.parent.mkdir(parents=True, exist_ok=True)
        self.owned.add(relative)
        return full

    def write_json(self, meta: dict) -> None:
        meta = {**meta, "files": sorted(self.owned)}
        text = json.dumps(meta, indent=2, ensure_ascii=False)
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path / PROJECT_FILE) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")

    def read_json(self, microlab_version: str) -> dict:
        file = self.path / PROJECT_FILE
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot read {file}: {exc}. The file is damaged; restore it from a backup "
                "or open the annotations/*.tif files directly"
            ) from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{file} is not a microlab project file")
        refuse_newer_format(
            meta.get("format_version"), FORMAT_VERSION, f"the project {self.path}",
            written_by=meta.get("microlab_version", "?"), error=ProjectVersionError,
            after=f" to open it (this is microlab {microlab_version}); the folder was left "
            "untouched",
        )
        files = meta.get("files")
        if files is None:  # format 1 had no manifest: it owned what it listed
            files = [i[k] for i in meta.get("images", []) for k in ("file", "annotations")
                     if isinstance(i, dict) and isinstance(i.get(k), str)
                     and not Path(i[k]).is_absolute()]
            files += [m.get("file") for m in meta.get("models", []) if isinstance(m, dict)]
        self.owned = {f for f in files if isinstance(f, str)}
        return meta

    def write_image(self, relative: str, image: Image) -> None:
        """An image as an ImageJ hyperstack (:func:`microlab.io.write_image`)."""
        write_image(self.target(relative), image)

    def write_layer(self, relative: str, layer: np.ndarray, info: ImageInfo) -> None:
        """An annotation or label layer (ImageJ TIFF, with the image's pixel size)."""
        write_labels(self.target(relative), layer, spacing=info.spacing,
                     unit=info.unit or "µm", axes=info.layer_axes)

    def write_float(self, relative: str, values: np.ndarray, axes: str) -> None:
        """A float32 map (e.g. uncertainty) as an ImageJ TIFF."""
        write_image(self.target(relative), Image(values.astype(np.float32), axes))

    def write_bytes(self, relative: str, blob: bytes) -> None:
        with atomic_path(self.target(relative)) as tmp:
            tmp.write_bytes(blob)


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (tried, not guessed from permissions)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".microlab-write-test.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def _try_lock(handle) -> bool:
    """An exclusive, non-blocking lock on an open file (released when it is closed)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
