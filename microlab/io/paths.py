"""File lists for the commands that read many images: patterns and folders expanded, files
paired by name, and output names that never collide.

Examples
--------
>>> from pathlib import Path
>>> distinct_names([Path("day1/img.tif"), Path("day2/img.tif"), Path("day2/other.tif")])
['day1/img.tif', 'day2/img.tif', 'other.tif']
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".png", ".jpg", ".jpeg")
OME_ZARR_SUFFIXES = (".ome.zarr", ".zarr")
"""Endings of an OME-Zarr image: a folder that :func:`expand_paths` takes as one image."""
DERIVED_SUFFIXES = (
    "_labels", "_label", "_masks", "_mask", "_seg", "-labels", "-label",
    "_annotations", "_annotation", "_scribbles", "_objects",
)
"""Endings of a file stem that name a file derived from an image (``cells_labels.tif``)."""


def expand_paths(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    what: str = "label image",
    suffixes: tuple[str, ...] = TIFF_SUFFIXES,
) -> list[Path]:
    """Turn paths, folders and glob patterns into a list of existing files.

    A folder stands for its files ending in one of ``suffixes``, a pattern such as
    ``"labels/*.tif"`` for the files it matches (both sorted). A folder whose own name ends
    in one of ``suffixes`` (``cells.ome.zarr`` with :data:`OME_ZARR_SUFFIXES`) is one entry,
    never walked. A file listed twice (a file and a pattern that matches it) is kept once,
    where it first appears.

    Parameters
    ----------
    paths : path, pattern, folder, or a list of them
        What the user gave.
    what : str
        What the files are, for the messages (``"label image"``, ``"annotation"``).
    suffixes : tuple of str
        The endings of the files (and OME-Zarr folders) taken from a folder.

    Returns
    -------
    list of Path

    Raises
    ------
    FileNotFoundError
        If a path does not exist or a pattern matches nothing.
    ValueError
        If nothing is given, or a folder holds no such file.

    Examples
    --------
    >>> expand_paths([])
    Traceback (most recent call last):
    ...
    ValueError: no label images given; pass files, a folder or a pattern like 'labels/*.tif'
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir() and path.name.lower().endswith(suffixes):
            found.append(path)  # an OME-Zarr image is a folder
        elif path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.name.lower().endswith(suffixes))
            if not inside:
                raise ValueError(
                    f"the folder {path} holds no {what} ({' or '.join(suffixes)} files)"
                )
            found += inside
        elif path.exists():
            found.append(path)
        elif glob.has_magic(str(path)):
            matches = sorted(Path(p) for p in glob.glob(str(path)))
            if not matches:
                raise FileNotFoundError(f"no file matches {str(path)!r}")
            found += matches
        else:
            raise FileNotFoundError(f"no such {what}: {path}")
    if not found:
        raise ValueError(
            f"no {what}s given; pass files, a folder or a pattern like 'labels/*.tif'"
        )
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.normcase(os.path.abspath(path)), path)
    return list(unique.values())


def distinct_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The shortest end of each path that tells it apart from the others.

    A path's name is its file name, unless another path has the same name (compared
    without case, as on macOS and Windows): then as many parent folders as it takes are
    put in front (``day1/img.tif``, ``day2/img.tif``).

    Parameters
    ----------
    paths : sequence of path-like
        Different files.

    Returns
    -------
    list of str
        One name per path, with ``/`` between folders.

    Raises
    ------
    ValueError
        If two paths cannot be told apart (the same file twice), naming them.

    Examples
    --------
    >>> distinct_names(["a/x/img.tif", "b/x/img.tif", "c.tif"])
    ['a/x/img.tif', 'b/x/img.tif', 'c.tif']
    """
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    depth = [1] * len(parts)

    def name(i: int) -> str:
        return "/".join(parts[i][-depth[i]:])

    while True:
        groups: dict[str, list[int]] = defaultdict(list)
        for i in range(len(parts)):
            groups[name(i).casefold()].append(i)
        clashes = [group for group in groups.values() if len(group) > 1]
        if not clashes:
            return [name(i) for i in range(len(parts))]
        grown = False
        for group in clashes:
            for i in group:
                if depth[i] < len(parts[i]):
                    depth[i] += 1
                    grown = True
        if not grown:
            listed = "; ".join(" and ".join(str(paths[i]) for i in g) for g in clashes)
            raise ValueError(f"these paths name the same file: {listed}; list each file once")


def stem(path: str | os.PathLike) -> str:
    """A file's name up to its first dot (``cells.ome.tif`` → ``cells``).

    Examples
    --------
    >>> stem("data/cells_labels.ome.tif")
    'cells_labels'
    """
    return Path(path).name.split(".")[0]


def partner(path: Path, candidates: Sequence[Path], *, where: str, what: str = "file") -> Path:
    """The one file among ``candidates`` that belongs to ``path``, by name.

    That is the file with the same name, else the same stem, else the stem without a
    :data:`DERIVED_SUFFIXES` ending (``cells_labels.tif`` → ``cells.png``).

    Parameters
    ----------
    path : Path
        A label image or annotation file.
    candidates : sequence of Path
        The files to pick from.
    where : str
        Where the candidates come from, for the messages.
    what : str
        What the candidates are, for the messages (``"intensity image"``).

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        If no candidate matches.
    ValueError
        If several match equally well.

    Examples
    --------
    >>> partner(Path("ann/cells_scribbles.tif"), [Path("im/cells.tif"), Path("im/b.tif")],
    ...         where="im/").name
    'cells.tif'
    """
    same = [c for c in candidates if c.name == path.name]
    if len(same) == 1:
        return same[0]
    stems = [stem(path)]
    stems += [stems[0][: -len(s)] for s in DERIVED_SUFFIXES if stems[0].lower().endswith(s)]
    for wanted in stems:
        found = [c for c in candidates if stem(c) == wanted]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"several {what}s in {where} match {path.name}: "
                f"{[str(c) for c in found]}; keep one per name"
            )
    raise FileNotFoundError(
        f"no {what} for {path.name} in {where} (looked for "
        f"{' or '.join(s + '.*' for s in stems)})"
    )
