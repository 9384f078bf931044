"""Tiny helper to author notebooks as Python lists of cells: ``build(path, cells)``.

Cells are strings; a string starting with ``"md:"`` is a markdown cell. Used to (re)write the
tutorials, which are then executed (``python scripts/nb.py run notebooks/X.ipynb``) so the
committed file holds small outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def build(path: str | Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for cell in cells:
        text = cell.strip("\n")
        if text.startswith("md:"):
            nb.cells.append(nbformat.v4.new_markdown_cell(text[3:].strip()))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(text))
    nbformat.write(nb, str(path))


def run(path: str | Path, timeout: int = 900) -> None:
    import nbclient

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":  # drop the kernel's own start-up warnings
            cell.outputs = [o for o in cell.outputs if "IPKernelApp" not in o.get("text", "")]
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    if sys.argv[1] == "run":
        for name in sys.argv[2:]:
            run(name)
            print("executed", name, Path(name).stat().st_size // 1024, "KiB")
