"""Every tutorial notebook at the budgets it is committed with: wall time and peak memory.

A course or a Binder session runs these on a small machine; the target is ≤ 5 minutes and
≤ 2 GB peak RSS per notebook on 2 CPUs. Each notebook runs top to bottom in a fresh kernel
(``nbclient``), as a student's "Run All" would, with the environment of a user (no CI
shortening: ``MICROLAB_TUTORIAL_MINUTES`` is removed). Peak RSS is the largest sum, sampled
every 0.1 s, of the kernel process and its children (PyTorch data loaders, Dask workers).

The anchor is an empty notebook (``import microlab`` only) in the same run: the cost of a
kernel itself.

Usage::

    python benchmarks/bench_notebooks.py                 # all tutorials
    python benchmarks/bench_notebooks.py 03 06           # those whose names start so
    python benchmarks/bench_notebooks.py --markdown      # the table for the README
    python benchmarks/bench_notebooks.py 04 --cells      # where one notebook's time and memory go
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BUDGET_MB = 300.0, 2048.0


def _tree_rss(pid: int) -> float:
    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def run(path: Path, workdir: Path, cells: bool = False) -> dict:
    """Run one notebook in a fresh kernel; wall time, peak RSS and whether it failed (with
    ``cells``, print the time and peak so far after each code cell)."""
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    peak, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            if pid:
                peak[0] = max(peak[0], _tree_rss(pid))
            time.sleep(0.1)

    env_before = dict(os.environ)
    os.environ.pop("MICROLAB_TUTORIAL_MINUTES", None)
    os.environ["MICROLAB_PROJECT"] = str(workdir / "quickstart-project")
    os.environ["HF_HUB_OFFLINE"] = "1"
    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    error = None
    try:
        with client.setup_kernel():
            sampler.start()
            for index, cell in enumerate(nb.cells):
                before = peak[0]
                client.execute_cell(cell, index)
                if cells and cell.cell_type == "code":
                    time.sleep(0.2)  # one more sample
                    grew = f"  (peak +{peak[0] - before:.0f} MB)" if peak[0] > before else ""
                    print(f"  cell {index:2d}: {time.perf_counter() - start:6.1f} s, peak "
                          f"{peak[0]:5.0f} MB{grew}", flush=True)
    except Exception as exc:  # a failing notebook is reported, the others still run
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        elapsed = time.perf_counter() - start
        stop.set()
        sampler.join()
        os.environ.clear()
        os.environ.update(env_before)
    return {"notebook": path.name, "seconds": elapsed, "peak_mb": peak[0], "error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--cells", action="store_true",
                        help="print the time and peak RSS so far after each code cell")
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.prefixes:
        paths = [p for p in paths if p.name.startswith(tuple(args.prefixes))]
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; budget per notebook "
          f"{BUDGET_S / 60:.0f} min and {BUDGET_MB / 1024:.0f} GB", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        anchor = Path(tmp) / "anchor.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell("import microlab")]
        nbformat.write(nb, str(anchor))
        rows.append({**run(anchor, Path(tmp)), "notebook": "(anchor: import microlab)"})
        print(f"{rows[-1]['notebook']:45s} {rows[-1]['seconds']:7.1f} s "
              f"{rows[-1]['peak_mb']:7.0f} MB", flush=True)
        for path in paths:
            with tempfile.TemporaryDirectory() as work:
                row = run(path, Path(work), cells=args.cells)
            ok = (row["error"] is None and row["seconds"] <= BUDGET_S
                  and row["peak_mb"] <= BUDGET_MB)
            row["within"] = "yes" if ok else "NO"
            rows.append(row)
            print(f"{row['notebook']:45s} {row['seconds']:7.1f} s {row['peak_mb']:7.0f} MB  "
                  f"within budget: {row['within']}" + (f"  {row['error']}" if row["error"]
                                                         else ""), flush=True)
    if args.markdown:
        print("\n| notebook | wall time | peak RSS | within 5 min / 2 GB |")
        print("| --- | ---: | ---: | :---: |")
        for row in rows:
            print(f"| `{row['notebook']}` | {row['seconds']:.0f} s | {row['peak_mb']:.0f} MB | "
                  f"{row.get('within', '')} |")
    return 0 if all(r.get("within", "yes") == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
