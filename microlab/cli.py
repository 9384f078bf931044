"""The ``microlab`` command: ``demo``, ``segment``, ``measure``.

Each subcommand is one ``_add_<name>`` function that declares its arguments and one
``_run_<name>`` function that does the work through the public Python API.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microlab`` command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="microlab", description="AI microscopy segmentation workbench"
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_segment, _add_measure):
        add(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"microlab {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _version() -> str:
    from . import __version__

    return f"microlab {__version__}"


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="open JupyterLab on the quick-start notebook with the bundled sample data",
    )
    p.add_argument("--port", type=int, default=None, help="port for JupyterLab")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument(
        "--print-command", action="store_true", help="print the command instead of running it"
    )
    p.set_defaults(run=_run_demo)


def notebooks_dir() -> Path:
    """The tutorial notebooks: the source checkout's ``notebooks/`` or the current folder's."""
    for candidate in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if (candidate / "00_quickstart.ipynb").exists():
            return candidate
    raise FileNotFoundError(
        "notebooks/00_quickstart.ipynb not found; run `microlab demo` from a clone of the "
        "microlab repository (pip install -e . there)"
    )


def _run_demo(args) -> int:
    folder = notebooks_dir()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--notebook-dir",
        str(folder),
        # lets brush strokes reach the kernel without the websocket's small-message delay
        "--ServerApp.jpserver_extensions=microlab.widgets._nodelay=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    if args.port:
        command += ["--port", str(args.port)]
    if args.no_browser:
        command.append("--no-browser")
    command.append(str(folder / "00_quickstart.ipynb"))
    if args.print_command:
        print(" ".join(command))
        return 0
    return subprocess.call(command)


def _add_segment(sub) -> None:
    p = sub.add_parser("segment", help="apply a saved model to images, writing label TIFFs")
    p.add_argument("images", nargs="+", type=Path, help="image files (TIFF, PNG, JPEG)")
    p.add_argument("--model", "-m", required=True, type=Path, help="a saved model file")
    p.add_argument("--out", "-o", required=True, type=Path, help="output folder (created)")
    p.add_argument(
        "--channel", type=int, default=None, help="use this channel of multichannel images"
    )
    p.add_argument(
        "--probabilities", action="store_true", help="also write float32 probability TIFFs"
    )
    p.set_defaults(run=_run_segment)


def _run_segment(args) -> int:
    from tqdm.auto import tqdm

    from .io import read_image, write_labels
    from .tiers import load_segmenter
    from .segmenter import labels_from_proba

    model = load_segmenter(args.model)
    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image file(s): {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in tqdm(args.images, desc="segment", unit="image"):
        image = read_image(path)
        if args.channel is not None:
            image = image.channel(args.channel)
        proba = model.predict_proba(image)
        target = args.out / f"{path.stem}_labels.tif"
        write_labels(target, labels_from_proba(proba), spacing=image.spacing,
                     unit=image.unit or "µm")
        if args.probabilities:
            _write_probabilities(args.out / f"{path.stem}_proba.tif", proba)
    print(f"wrote {len(args.images)} label image(s) to {args.out}")
    return 0


def _write_probabilities(path: Path, proba) -> None:
    import tifffile

    from ._atomic import atomic_path

    with atomic_path(path) as tmp:
        axes = "C" + "ZYX"[1 - proba.ndim :]
        tifffile.imwrite(tmp, proba, compression="zlib", metadata={"axes": axes})


def _add_measure(sub) -> None:
    p = sub.add_parser(
        "measure",
        help="measure the objects of label images into one CSV table",
        description="Measure every object of the label images (files, folders or patterns "
        "such as 'labels/*.tif') into one CSV table with an 'image' column; sizes are in "
        "physical units when the files (or --spacing) give a pixel size.",
    )
    p.add_argument("labels", nargs="+", help="label images, folders of them, or patterns")
    p.add_argument("--out", "-o", required=True, type=Path, help="the CSV file to write")
    p.add_argument(
        "--image-dir", type=Path, default=None,
        help="folder of the intensity images (same file name, or the label name without "
        "_labels/_mask) to add intensity columns",
    )
    p.add_argument(
        "--spacing", type=float, nargs="+", default=None, metavar="S",
        help="pixel size for all files: one number, or one per axis (y x, or z y x)",
    )
    p.add_argument("--unit", default=None, help="unit of --spacing (default µm)")
    p.add_argument(
        "--neighbours", type=int, default=None, metavar="K",
        help="also add the mean distance to the K nearest objects and a local density",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_run_measure)


def _run_measure(args) -> int:
    from ._atomic import atomic_path
    from .measure import files

    if not args.out.parent.exists():
        raise FileNotFoundError(f"the folder of --out, {args.out.parent}, does not exist")
    spacing = args.spacing[0] if args.spacing and len(args.spacing) == 1 else args.spacing
    table = files(
        args.labels, image_dir=args.image_dir, spacing=spacing, unit=args.unit,
        neighbours=args.neighbours, progress=not args.no_progress,
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8")
    images = table["image"].nunique()
    print(f"measured {len(table)} objects in {images} image(s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
