"""The ``microlab`` command: ``demo``, ``train``, ``compare``, ``segment``, ``measure``.

Each subcommand is one ``_add_<name>`` function that declares its arguments and one
``_run_<name>`` function that does the work through the public Python API. A run checks
everything it can (files, names, outputs) before the long work starts, never writes over
one of its inputs, prints each file it writes, and reports a user's mistake as one line
on stderr with exit status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microlab`` command line; returns the exit status.

    A mistake (a missing file, an output that would overwrite an input, ...) is reported
    as one line on stderr, ``microlab <command>: error: ...``, with exit status 2.

    Examples
    --------
    >>> main(["measure", "--out", "cells.tif", "cells.tif"])  # --out is not a .csv name
    2
    """
    parser = argparse.ArgumentParser(
        prog="microlab", description="AI microscopy segmentation workbench"
    )
    parser.add_argument("--version", action="version", version=f"microlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_train, _add_compare, _add_segment, _add_measure):
        add(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"microlab {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _command(sub, name: str, run, **parser_options) -> argparse.ArgumentParser:
    # a subcommand whose arguments go to run(args)
    parser = sub.add_parser(name, **parser_options)
    parser.set_defaults(run=run)
    return parser


def _flags(parser, flags: dict[str, str]) -> None:
    # on/off options: name → help
    for name, text in flags.items():
        parser.add_argument(name, action="store_true", help=text)


def _add_demo(sub) -> None:
    p = _command(
        sub, "demo", _run_demo,
        help="open JupyterLab on the quick-start notebook with the bundled sample data",
    )
    p.add_argument("--port", type=int, default=None, help="port for JupyterLab")
    p.add_argument(
        "--folder",
        type=Path,
        default=Path("~/microlab-demo"),
        help="where the tutorial notebooks are copied and served from (default "
        "~/microlab-demo); notebooks already there are kept, with your changes",
    )
    _flags(p, {
        "--no-browser": "do not open a browser tab",
        "--print-command": "print the command instead of running it",
    })


def notebooks_dir() -> Path:
    """The tutorial notebooks: the source checkout's ``notebooks/`` or the current folder's."""
    for candidate in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if (candidate / "00_quickstart.ipynb").exists():
            return candidate
    raise FileNotFoundError(
        "notebooks/00_quickstart.ipynb not found; run `microlab demo` from a clone of the "
        "microlab repository (pip install -e . there)"
    )


def demo_notebooks(folder: Path) -> tuple[list[Path], list[Path]]:
    """Copy the tutorial notebooks into ``folder``; keep any copy already there.

    The demo serves copies, never the installed or cloned originals, so saving a notebook
    in JupyterLab (or its autosave) changes only the user's copy. Returns the notebooks
    copied and those kept.
    """
    import shutil

    source = notebooks_dir()
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--folder {folder} is a file; give a folder for the notebooks")
    folder.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for notebook in sorted(source.glob("*.ipynb")):
        target = folder / notebook.name
        if target.exists():
            kept.append(target)
        else:
            shutil.copyfile(notebook, target)
            copied.append(target)
    return copied, kept


def _run_demo(args) -> int:
    copied, kept = demo_notebooks(args.folder)
    folder = args.folder.expanduser()
    print(f"microlab demo: {len(copied)} notebook(s) copied to {folder}"
          + (f", {len(kept)} kept as you left them" if kept else ""))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--notebook-dir",
        str(folder),
        # the address JupyterLab prints (and opens) leads to the quick start, not the Launcher
        "--ServerApp.default_url=/lab/tree/00_quickstart.ipynb",
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


_TRAIN_HELP = """\
Train a segmenter of any tier on images and their sparse annotations, and save it as a
model file for `microlab segment` and microlab.load_segmenter.

Images and annotations are paired by name: the annotation of images/cells.tif is a file
called cells.tif (in another folder), or cells_annotations.tif, cells_scribbles.tif,
cells_labels.tif, cells_mask.tif (any extension), so a microlab project's images/ and
annotations/ folders pair as they are. An annotation is an integer TIFF of its image's
size: 0 = unlabelled, 1..C = the classes. Images without an annotation are left out (the
run says which).
"""

_TRAIN_EPILOG = """\
Put --annotations after the images (it takes every name that follows it), or give it a
folder. Ctrl-C once ends training early and saves the model trained so far; a SIGTERM
(kill, a job scheduler's time limit) ends the run with status 143 and writes no model file.

examples:
  microlab train --tier random-forest --out rf.safetensors --classes pore,grain \\
      images/*.tif --annotations annotations/
  microlab train --tier unet --objects nuclei --classes nuclei,background \\
      --out nuclei.safetensors images/ --annotations annotations/
  microlab segment --model nuclei.safetensors --objects --out results/ images/
  microlab measure --out objects.csv --image-dir images/ results/*_objects.tif
"""


def _command_on_strokes(sub, name: str, run, description: str, epilog: str,
                        **options) -> argparse.ArgumentParser:
    """A subcommand that reads images and their annotations (paired by :func:`_pair`)."""
    p = _command(sub, name, run, description=description, epilog=epilog,
                 formatter_class=argparse.RawDescriptionHelpFormatter, **options)
    p.add_argument("images", nargs="+", help="image files, folders or patterns")
    p.add_argument(
        "--annotations", "-a", nargs="+", required=True, metavar="ANNOTATION",
        help="annotation TIFFs, folders or patterns (paired with the images by name)",
    )
    return p


def _strokes(args, outputs: Sequence[Path | None]) -> tuple[list, list, list]:
    """The (image, annotation) path pairs of a :func:`_command_on_strokes` command and
    their arrays, after refusing ``outputs`` that would overwrite one of them."""
    from .io.paths import IMAGE_SUFFIXES, TIFF_SUFFIXES, expand_paths

    images = expand_paths(args.images, what="image", suffixes=IMAGE_SUFFIXES)
    annotations = expand_paths(args.annotations, what="annotation", suffixes=TIFF_SUFFIXES)
    _refuse_overwriting([p for p in outputs if p is not None], [*images, *annotations])
    pairs = _pair(images, annotations)
    return pairs, *_training_data(pairs, args.channel)


def _add_train(sub) -> None:
    from .tiers import TIERS

    p = _command_on_strokes(
        sub, "train", _run_train, _TRAIN_HELP, _TRAIN_EPILOG,
        help="train a segmenter on images and their annotation TIFFs, writing a model file",
    )
    p.add_argument(
        "--out", "-o", required=True, type=Path, help="the model file to write (.safetensors)"
    )
    p.add_argument(
        "--tier", default="random-forest", choices=list(TIERS),
        help="the kind of segmenter (default: random-forest; unet needs microlab[deep])",
    )
    p.add_argument(
        "--classes", default=None, metavar="A,B,...",
        help="class names, comma-separated, for annotation values 1, 2, ... "
        "(default: class 1, class 2, ...)",
    )
    p.add_argument(
        "--minutes", type=float, default=None, metavar="N",
        help="training time budget in minutes, for tiers that have one ("
        + ", ".join(kind for kind, t in TIERS.items() if t.budget) + ")",
    )
    p.add_argument("--channel", type=int, default=None, help="use this channel of the images")
    objects = p.add_argument_group(
        "objects",
        "Paint a few whole objects (every pixel of each, one connected blob per object) and "
        "some background; then segment --objects separates touching objects.",
    )
    objects.add_argument(
        "--objects", default=None, metavar="CLASS",
        help="the class whose painted blobs are whole objects (its name in --classes, or "
        "its annotation value). "
        + "; ".join(f"{t.label}: " + ("learns to separate objects itself (instance mode)"
                                     if t.instance is not None else
                                     "the ring just outside each painted object is taken "
                                     "as the first other class")
                    for t in TIERS.values()),
    )
    _flags(objects, {"--self-train": "halfway through training, add the objects the model "
                     "is sure of to the annotations (with --objects; "
                     + ", ".join(t.label for t in TIERS.values() if t.self_training is not None)
                     + " only)"})
    _flags(p, {"--no-progress": "hide the progress bars"})


def _class_value(text: str, names: Sequence[str] | None, option: str) -> int:
    """The class value (1, 2, ...) that ``option`` names: one of ``names``, or a number
    (any number >= 1 when the class names are not known)."""
    if names is not None and text in names:
        return list(names).index(text) + 1
    if text.isdigit() and int(text) >= 1 and (names is None or int(text) <= len(names)):
        return int(text)
    known = (f"one of {', '.join(names)} or its number 1..{len(names)}" if names else
             "the class's annotation value (1, 2, ...)")
    raise ValueError(f"{option} {text!r} is not a class: give {known}")


def _run_train(args) -> int:
    from .labels import painted_objects, whole_object_rings
    from .tiers import tier

    chosen = tier(args.tier)
    _check_output_file(args.out, "model.safetensors", "model file")
    options = {}
    if args.minutes is not None:
        if chosen.budget is None:
            raise ValueError(
                f"the {chosen.label} tier has no time budget; leave out --minutes"
            )
        if not args.minutes > 0:
            raise ValueError(f"--minutes must be a positive number, got {args.minutes}")
        options[chosen.budget] = args.minutes
    names = _class_names(args.classes)
    value = None if args.objects is None else _class_value(args.objects, names, "--objects")
    if args.self_train:
        if chosen.self_training is None:
            raise ValueError(f"the {chosen.label} tier cannot self-train; leave out "
                             "--self-train")
        if value is None:
            raise ValueError("--self-train adds sure objects: it goes with --objects CLASS")
        options.update(chosen.self_training)
    learns_objects = value is not None and chosen.instance is not None
    if learns_objects:
        options.update(chosen.instance)
    segmenter = chosen.create(None if learns_objects else names, None, **options)
    pairs, arrays, layers = _strokes(args, [args.out])
    if value is not None:
        if not any((layer == value).any() for layer in layers):
            raise ValueError(
                f"--objects {args.objects}: no annotation holds class value {value}; paint a "
                "few whole objects with it"
            )
        if learns_objects:
            layers = [painted_objects(layer, value) for layer in layers]
        else:  # the ring is the first other class, as in a project
            layers = [whole_object_rings(layer, value) for layer in layers]
    print(f"training a {chosen.label} on {len(pairs)} image(s)"
          + ("" if value is None else f", class {value} painted as whole objects") + ":")
    for image, annotation in pairs:
        print(f"  {image} <- {annotation}")
    with _stop_on_interrupt() as stop:
        segmenter.fit(arrays, layers, progress=not args.no_progress, stop=stop)
    if stop.is_set():
        print("training ended early (Ctrl-C); saving the model trained so far")
    segmenter.save(args.out)
    print(f"wrote {args.out} ({chosen.label}; classes: {', '.join(segmenter.classes)})")
    return 0


def _class_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(
            f"--classes {text!r} has an empty name; give names separated by commas, "
            "e.g. --classes background,nuclei"
        )
    return names


def _pair(images: list[Path], annotations: list[Path]) -> list[tuple[Path, Path]]:
    """Each annotation with the image of its name (see _TRAIN_HELP), in image order."""
    from .io.paths import partner

    both = {os.path.realpath(p) for p in images} & {os.path.realpath(p) for p in annotations}
    if both:
        raise ValueError(
            f"{', '.join(sorted(both))} is given both as an image and as an annotation; "
            "list the images, then --annotations and their annotation files"
        )
    if len(images) == 1 and len(annotations) == 1:
        return [(images[0], annotations[0])]
    owner: dict[Path, Path] = {}
    unmatched = []
    for annotation in annotations:
        try:
            image = partner(annotation, images, where="the images given", what="image")
        except FileNotFoundError:
            unmatched.append(annotation.name)
            continue
        if image in owner:
            raise ValueError(
                f"{owner[image]} and {annotation} both match the image {image}; keep one "
                "annotation per image"
            )
        owner[image] = annotation
    if unmatched:
        raise ValueError(
            f"no image among the {len(images)} given matches the annotation(s) "
            f"{', '.join(unmatched)}; an annotation is named like its image (cells.tif, "
            "cells_annotations.tif, ...), see microlab train --help"
        )
    left_out = [image.name for image in images if image not in owner]
    if left_out:
        print(f"not annotated, left out: {', '.join(left_out)}")
    return [(image, owner[image]) for image in images if image in owner]


def _training_data(pairs, channel: int | None) -> tuple[list, list]:
    """Read and check each image and its annotation, naming the files in any error."""
    from ._checks import annotation_array, spatial_image
    from .io import read_image

    arrays, layers = [], []
    for image_path, annotation_path in pairs:
        image = _pick_channel(read_image(image_path), channel)
        spatial_image(image, image_path.name)
        annotation = read_image(annotation_path)
        if annotation.axes not in ("YX", "ZYX"):
            raise ValueError(
                f"{annotation_path.name} has axes {annotation.axes!r}; an annotation is one "
                "integer plane (Y, X) or stack (Z, Y, X), 0 = unlabelled, 1..C = classes"
            )
        layers.append(annotation_array(annotation.data, image.spatial_shape,
                                       annotation_path.name))
        arrays.append(image)
    return arrays, layers


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """An event that the first Ctrl-C sets (the segmenter's ``stop``); a second one aborts."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


_COMPARE_HELP = """\
Compare segmenter tiers on the same images and annotations, honestly: each tier is trained
on part of the strokes and scored on strokes it did not see (spatially blocked folds, so
neighbouring pixels do not leak from training to scoring). Prints a table (IoU per class,
mean IoU and its spread over the folds, AP@0.5 of objects with --objects and how many were
merged with a neighbour or missed, fit and predict seconds) and a plain recommendation
(with --objects, by the objects' AP@0.5). Images and annotations pair as for microlab train.
"""

_COMPARE_EPILOG = """\
Ctrl-C once ends the comparison after the current fit; the tiers finished are reported.

example:
  microlab compare --tiers random-forest unet --minutes 1 --objects nuclei \\
      --classes nuclei,background --plot compare.png images/ --annotations annotations/
"""


def _add_compare(sub) -> None:
    from .tiers import TIERS

    p = _command_on_strokes(
        sub, "compare", _run_compare, _COMPARE_HELP, _COMPARE_EPILOG,
        help="train each tier on part of the strokes and score it on the rest: which to use",
    )
    p.add_argument(
        "--tiers", nargs="+", default=None, choices=list(TIERS), metavar="KIND",
        help="the tiers to compare (default: every tier installed: "
        + ", ".join(TIERS) + ")",
    )
    p.add_argument(
        "--minutes", type=float, default=1.0, metavar="N",
        help="training budget per fold, for tiers that have one (default 1)",
    )
    p.add_argument("--folds", type=int, default=3, help="spatial folds (default 3)")
    p.add_argument(
        "--classes", default=None, metavar="A,B,...",
        help="class names, comma-separated, for annotation values 1, 2, ...",
    )
    p.add_argument(
        "--objects", default=None, metavar="CLASS",
        help="a class whose strokes paint whole objects (name or number): also score the "
        "objects each tier finds (AP@0.5), and recommend by them",
    )
    p.add_argument("--channel", type=int, default=None, help="use this channel of the images")
    p.add_argument(
        "--out", "-o", type=Path, default=None, help="also write the table as CSV (.csv)"
    )
    p.add_argument(
        "--plot", type=Path, default=None, metavar="FILE",
        help="also draw the per-class IoU of each tier as a bar chart (.png, .svg or .pdf)",
    )
    _flags(p, {"--no-progress": "hide the progress bars"})


def _run_compare(args) -> int:
    from ._atomic import atomic_path
    from .comparison import compare
    from .tiers import available_tiers

    if args.out is not None:
        _check_output_file(args.out, "comparison.csv", "table")
    if args.plot is not None:
        if args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ValueError(f"--plot {args.plot}: give a .png, .svg or .pdf file name")
        if not args.plot.parent.exists():
            raise FileNotFoundError(f"the folder of --plot, {args.plot.parent}, does not exist")
    if not args.minutes > 0:
        raise ValueError(f"--minutes must be a positive number, got {args.minutes}")
    tiers = args.tiers or list(available_tiers())
    pairs, arrays, layers = _strokes(args, [args.out, args.plot])
    objects = args.objects
    if objects is not None and objects.isdigit():
        objects = int(objects)
    print(f"comparing {', '.join(tiers)} on {len(pairs)} image(s) in {args.folds} folds "
          f"({args.minutes:g} min per fit for tiers with a time budget):")
    with _stop_on_interrupt() as stop:
        result = compare(arrays, layers, tiers=tiers, folds=args.folds,
                         minutes=args.minutes, classes=_class_names(args.classes),
                         objects=objects, progress=not args.no_progress, stop=stop)
    print(result.table.round(3).to_string())
    print(result.recommendation)
    if result.stopped:
        print("the comparison ended early (Ctrl-C): only the tiers above were finished")
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            result.table.to_csv(tmp, encoding="utf-8")
        print(f"wrote {args.out}")
    if args.plot is not None:
        with atomic_path(args.plot) as tmp:
            result.figure().savefig(tmp, format=args.plot.suffix[1:].lower(), dpi=150,
                                    bbox_inches="tight")
        print(f"wrote {args.plot}")
    return 0


_SEGMENT_HELP = """\
Segment images with a saved model into one label TIFF per image, OUT/<name>_labels.tif.
Where two images have the same name (day1/img.tif, day2/img.tif) their parent folders are
put in front (day1_img_labels.tif, day2_img_labels.tif). An output that would overwrite an
input is refused; every file written is printed.
"""


def _add_segment(sub) -> None:
    p = _command(
        sub, "segment", _run_segment,
        help="apply a saved model to images, writing label TIFFs",
        description=_SEGMENT_HELP,
    )
    p.add_argument(
        "images", nargs="+",
        help="image files (TIFF, PNG, JPEG), OME-Zarr folders (.zarr, .ome.zarr) or URLs "
        "(s3://…, https://…), folders or patterns",
    )
    p.add_argument("--model", "-m", required=True, type=Path, help="a saved model file")
    p.add_argument("--out", "-o", required=True, type=Path, help="output folder (created)")
    p.add_argument(
        "--channel", type=int, default=None, help="use this channel of multichannel images"
    )
    p.add_argument(
        "--object-class", default=None, metavar="CLASS",
        help="with --objects, for a model that does not separate objects itself: the class "
        "of the objects (its name, or its number 1, 2, ...)",
    )
    _flags(p, {
        "--objects": "also write the objects, touching ones split, as label TIFFs "
        "OUT/<name>_objects.tif (0 = background, 1..N = one number per object; "
        "microlab measure reads them); with --ome-zarr as an OME-Zarr input's "
        "labels/microlab-objects group, else OUT/<name>_objects.ome.zarr",
        "--probabilities": "also write float32 probability TIFFs, OUT/<name>_proba.tif",
        "--no-progress": "hide the progress bars",
        "--ome-zarr": "write the labels as OME-Zarr: into an OME-Zarr input's own "
        "labels/microlab group (refused if there, unless --overwrite), else as "
        "OUT/<name>.ome.zarr (one resolution level); with --probabilities, "
        "OUT/<name>_proba.ome.zarr",
    })
    cluster = p.add_argument_group(
        "on a Dask cluster",
        "Segment block by block on a Dask cluster, all images as one task graph, into zarr "
        "arrays OUT/<name>_labels.zarr (and OUT/<name>_proba.zarr), one chunk per block "
        "(needs pip install 'microlab[cluster]'). A block is read with the model's context "
        "around it, so it is predicted as the whole image would be.",
    )
    where = cluster.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="start a local cluster of N worker processes (one core each)",
    )
    where.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="use the running cluster whose scheduler is at ADDRESS, e.g. tcp://host:8786",
    )
    cluster.add_argument(
        "--tile", type=int, default=None, metavar="N",
        help="block (and zarr chunk) size in pixels (default 512)",
    )
    _flags(cluster, {
        "--resume": "finish the outputs of an interrupted run: predict only the missing blocks",
        "--overwrite": "replace zarr outputs that already hold blocks (with --ome-zarr: "
        "replace existing OME-Zarr outputs and labels/microlab groups)",
    })


def _run_segment(args) -> int:
    from tqdm.auto import tqdm

    from .intensity import IntensityWarning
    from .io import Image, read_image, write_image, write_labels
    from .io.paths import IMAGE_SUFFIXES, OME_ZARR_SUFFIXES, expand_paths
    from .segmenter import labels_from_proba
    from .tiers import load_segmenter

    if args.out.exists() and not args.out.is_dir():
        raise ValueError(
            f"--out {args.out} is a file; segment writes one label image per input into a "
            "folder: give a folder name (it is created)"
        )
    cluster = args.workers if args.workers is not None else args.scheduler
    if cluster is None and (args.tile is not None or args.resume):
        raise ValueError("--tile and --resume go with --workers or --scheduler")
    if cluster is None and args.overwrite and not args.ome_zarr:
        raise ValueError("--overwrite goes with --workers, --scheduler or --ome-zarr")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: give at least 1")
    if args.tile is not None and args.tile < 1:
        raise ValueError(f"--tile {args.tile}: give a block size of at least 1 pixel")
    if args.objects and cluster is not None:
        raise ValueError(
            "--objects finds objects across the whole image, not block by block on a "
            "cluster; leave out --workers/--scheduler, or run microlab.instances on the "
            "labels the cluster writes"
        )
    if args.object_class is not None and not args.objects:
        raise ValueError("--object-class goes with --objects")
    urls = [entry for entry in args.images if "://" in entry]
    local = [entry for entry in args.images if "://" not in entry]
    images: list = [*(expand_paths(local, what="image", suffixes=IMAGE_SUFFIXES
                                   + OME_ZARR_SUFFIXES) if local else []), *urls]
    names = _output_names(images)
    suffix = ".tif" if cluster is None else ".zarr"
    targets = [args.out / f"{name}_labels{suffix}" for name in names]
    extra = [args.out / f"{name}_proba{suffix}" for name in names] if args.probabilities else []
    if args.ome_zarr:
        targets = [_ome_zarr_labels(path, args.out / f"{name}.ome.zarr", args.overwrite)
                   for path, name in zip(images, names, strict=True)]
        extra = [args.out / f"{name}_proba.ome.zarr" for name in names] \
            if args.probabilities else []
        for output in extra:
            _refuse_existing(output, args.overwrite)
    objects = []
    if args.objects:
        objects = [args.out / f"{name}_objects.tif" for name in names]
        if args.ome_zarr:
            objects = [_ome_zarr_labels(path, args.out / f"{name}_objects.ome.zarr",
                                        args.overwrite, group="microlab-objects")
                       for path, name in zip(images, names, strict=True)]
    _refuse_overwriting([t for t in [*targets, *extra, *objects] if isinstance(t, Path)],
                        [*images, args.model])
    model = load_segmenter(args.model)
    read_objects = _object_reading(model, args.object_class) if args.objects else None
    args.out.mkdir(parents=True, exist_ok=True)
    if cluster is not None:
        return _segment_on_cluster(args, cluster, model, images, targets, extra)
    for i, path in enumerate(tqdm(images, desc="segment", unit="image",
                                  disable=args.no_progress)):
        image = _pick_channel(read_image(path), args.channel)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IntensityWarning)
            proba = model.predict_proba(image)
        for warning in caught:
            if issubclass(warning.category, IntensityWarning):
                tqdm.write(f"warning: {path}: {warning.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        if args.ome_zarr:
            _write_ome_zarr(args, model, image, path, labels_from_proba(proba), proba,
                            targets[i], extra[i] if extra else None)
        else:
            write_labels(targets[i], labels_from_proba(proba), spacing=image.spacing,
                         unit=image.unit or "µm")
            if args.probabilities:
                write_image(extra[i], Image(proba, "C" + image.spatial_axes, image.spacing,
                                            image.unit))
        tqdm.write(f"wrote {targets[i]}")
        if extra:
            tqdm.write(f"wrote {extra[i]}")
        if objects:
            _write_objects(args, image, path, proba, read_objects, objects[i])
            tqdm.write(f"wrote {objects[i]}")
    print(f"wrote {len(targets)} label image(s) to {args.out}")
    return 0


def _object_reading(model, object_class: str | None) -> dict:
    """The options of :func:`microlab.instances` that read ``model``'s probabilities as
    objects: its own boundary output, or ``object_class`` as the foreground."""
    if model.output == "boundary":
        if object_class is not None:
            raise ValueError(
                "this model separates objects itself (it was trained on whole painted "
                "objects); leave out --object-class"
            )
        return {"kind": "boundary"}
    if object_class is None:
        raise ValueError(
            "--objects needs --object-class for this model, the class of the objects: one "
            f"of {', '.join(model.classes)} (or its number 1..{len(model.classes)})"
        )
    value = _class_value(object_class, model.classes, "--object-class")
    return {"kind": "classes", "foreground": value - 1}


def _write_objects(args, image, path, proba, read: dict, target) -> None:
    """Find one image's objects in its probabilities and write them (TIFF or OME-Zarr)."""
    from .io import write_labels
    from .postprocess import instances

    # the image guides where touching blobs of a class split (as the workbench does)
    extra = {"image": image} if read["kind"] == "classes" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no foreground": no objects
        labels = instances(proba, spacing=image.spacing, **read, **extra)
    if args.ome_zarr:
        _write_labels_ome_zarr(args, image, path, labels, target, "microlab-objects")
    else:
        write_labels(target, labels, spacing=image.spacing, unit=image.unit or "µm")


def _ome_zarr_labels(image, fallback: Path, overwrite: bool, group: str = "microlab"):
    """Where ``--ome-zarr`` writes an image's labels: an OME-Zarr image's own
    ``labels/<group>`` group (a path, or a URL string), else ``fallback``."""
    from .io.omezarr import is_ome_zarr, local_path

    if not is_ome_zarr(image):
        _refuse_existing(fallback, overwrite)
        return fallback
    where = f"{str(image).rstrip('/')}/labels/{group}"
    folder = local_path(where)
    if folder is None:
        return where  # an object store: write_labels_ome_zarr refuses an existing one
    _refuse_existing(folder, overwrite)
    return folder


def _refuse_existing(output: Path, overwrite: bool) -> None:
    """Refuse an OME-Zarr output that exists, unless ``overwrite`` (before any is written)."""
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")


def _write_ome_zarr(args, model, image, path, labels, proba, target, extra) -> None:
    """Write one image's labels (and probabilities) as OME-Zarr for ``--ome-zarr``.

    Labels go into an OME-Zarr input's ``labels/microlab`` group; for other inputs they are
    an image of their own, with one resolution level (a pyramid would average labels).
    ``labels`` and ``proba`` may be dask arrays (from a cluster's zarr blocks): they are
    written chunk by chunk.
    """
    import numpy as np

    from .io import Image, write_probabilities_ome_zarr

    _write_labels_ome_zarr(args, image, path, labels, target, "microlab",
                           classes=model.classes, colors=model.colors)
    if extra is not None:
        proba = proba if hasattr(proba, "dask") else np.asarray(proba, np.float32)
        unit = image.unit if image.spacing is not None else None
        write_probabilities_ome_zarr(
            extra, Image(proba, "C" + image.spatial_axes, image.spacing, unit),
            classes=model.classes, colors=model.colors, overwrite=args.overwrite)


def _write_labels_ome_zarr(args, image, path, labels, target, group: str, **names) -> None:
    """Labels as OME-Zarr: into an OME-Zarr input's ``labels/<group>``, else as ``target``,
    an image of their own with one resolution level (a pyramid would average labels).
    ``names``: the ``classes`` and ``colors`` of semantic labels."""
    from .io import Image, write_labels_ome_zarr, write_ome_zarr
    from .io.omezarr import is_ome_zarr

    if is_ome_zarr(path):
        write_labels_ome_zarr(path, labels, group, overwrite=args.overwrite, **names)
    else:
        unit = image.unit if image.spacing is not None else None
        write_ome_zarr(target, Image(labels, image.spatial_axes, image.spacing, unit),
                       levels=1, overwrite=args.overwrite)


def _segment_on_cluster(args, cluster, model, images, targets, extra) -> int:
    """Predict on the cluster into zarr arrays; with ``--ome-zarr`` the blocks go to a work
    folder first (``OUT/.microlab-work``, where ``--resume`` finds them) and are then
    written as OME-Zarr chunk by chunk, and the work folder is removed."""
    import shutil

    from .inference.distributed import image_file, predict_on_cluster

    opened = []
    for path in images:
        try:
            opened.append(image_file(path, channel=args.channel))
        except IndexError as exc:
            raise ValueError(f"--channel {args.channel} does not exist: {exc}") from None
    blocks, block_extra = targets, extra
    if args.ome_zarr:
        work = args.out / ".microlab-work"
        names = _output_names(images)
        blocks = [work / f"{name}_labels.zarr" for name in names]
        block_extra = [work / f"{name}_proba.zarr" for name in names] if extra else []
    predict_on_cluster(
        model, opened, block_extra or [None] * len(images), labels=blocks,
        tile=args.tile or 512, cluster=cluster, resume=args.resume,
        overwrite=args.overwrite, progress=not args.no_progress,
    )
    if args.ome_zarr:
        import dask.array as da

        for i, (path, image) in enumerate(zip(images, opened, strict=True)):
            labels = da.from_zarr(str(blocks[i]))
            proba = da.from_zarr(str(block_extra[i])) if extra else None
            _write_ome_zarr(args, model, image, path, labels, proba, targets[i],
                            extra[i] if extra else None)
            for done in (blocks[i], *(block_extra[i:i + 1] if extra else [])):
                shutil.rmtree(done)
        if not any(work.iterdir()):
            work.rmdir()
    for target in [*targets, *extra]:
        print(f"wrote {target}")
    print(f"wrote {len(targets)} label {'image' if args.ome_zarr else 'array'}(s) to "
          f"{args.out}")
    return 0


def _output_names(images: list) -> list[str]:
    """One output name per image (a path, or a URL string): its stem, with parent folders
    where stems collide."""
    from urllib.parse import urlparse

    from .io.paths import IMAGE_SUFFIXES, OME_ZARR_SUFFIXES, distinct_names

    def bare(path) -> Path:
        if isinstance(path, str) and "://" in path:
            url = urlparse(path.rstrip("/"))
            path = Path(url.netloc + url.path)
        lower = path.name.lower()
        for suffix in sorted(IMAGE_SUFFIXES + OME_ZARR_SUFFIXES, key=len, reverse=True):
            if lower.endswith(suffix):
                return path.with_name(path.name[: -len(suffix)])
        return path.with_suffix("")

    keys = [bare(path) for path in images]
    seen: dict[str, Path] = {}
    for path, key in zip(images, keys, strict=True):
        other = seen.setdefault(os.path.normcase(os.path.abspath(key)), path)
        if other != path:
            raise ValueError(
                f"{other} and {path} differ only in their extension and would be written to "
                f"the same {key.name}_labels.tif; rename one, or segment them separately"
            )
    names = [name.replace("/", "_") for name in distinct_names(keys)]
    if len({name.casefold() for name in names}) < len(names):
        raise ValueError(
            f"the images {[str(p) for p in images]} give clashing output names {names}; "
            "rename the images or segment them separately"
        )
    return names


def _pick_channel(image, channel: int | None):
    if channel is None:
        return image
    try:
        return image.channel(channel)
    except IndexError as exc:
        raise ValueError(f"--channel {channel} does not exist: {exc}") from None


def _refuse_overwriting(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Raise if an output file is one of the inputs."""
    given = {os.path.realpath(path): path for path in inputs}
    for output in outputs:
        found = given.get(os.path.realpath(output))
        if found is not None:
            raise ValueError(
                f"the output {output} would overwrite the input {found}; choose another "
                "--out"
            )


def _check_output_file(path: Path, example: str, what: str) -> None:
    """Refuse an --out that is a folder, lacks the suffix of ``example`` or has no folder."""
    suffix = Path(example).suffix
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give the name of the {what} to write")
    if not path.name.lower().endswith(suffix):
        raise ValueError(
            f"--out {path} does not end in {suffix}: give the {what}'s name, e.g. "
            f"--out {example}. (Did the shell expand a pattern into --out? Then the "
            "first file it matched would have been overwritten.)"
        )
    if not path.parent.exists():
        raise FileNotFoundError(f"the folder of --out, {path.parent}, does not exist")


_MEASURE_HELP = """\
Measure every object of the label images (files, folders or patterns such as
'labels/*.tif') into one CSV table with an 'image' column (the file name; with its parent
folders where two files have the same name); sizes are in physical units when the files
(or --spacing) give a pixel size. A file that looks like an intensity image rather than
labels is refused (--force measures it).
"""


def _add_measure(sub) -> None:
    p = _command(
        sub, "measure", _run_measure,
        help="measure the objects of label images into one CSV table",
        description=_MEASURE_HELP,
    )
    p.add_argument("labels", nargs="+", help="label images, folders of them, or patterns")
    p.add_argument(
        "--out", "-o", required=True, type=Path,
        help="the CSV file to write (its name must end in .csv)",
    )
    p.add_argument(
        "--image-dir", type=Path, default=None,
        help="folder of the intensity images (same file name, or the label name without "
        "_labels/_mask/_objects) to add intensity columns",
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
    p.add_argument(
        "--channel", type=int, default=None,
        help="measure this channel of label images with several channels",
    )
    _flags(p, {
        "--force": "measure files even where they look like intensity images, not labels",
        "--no-progress": "hide the progress bar",
    })


def _run_measure(args) -> int:
    from ._atomic import atomic_path
    from .io.paths import expand_paths
    from .measure import files

    _check_output_file(args.out, "results.csv", "table")
    labels = expand_paths(args.labels)
    _refuse_overwriting([args.out], labels)
    spacing = args.spacing[0] if args.spacing and len(args.spacing) == 1 else args.spacing
    table = files(
        labels, image_dir=args.image_dir, spacing=spacing, unit=args.unit,
        neighbours=args.neighbours, channel=args.channel, force=args.force,
        progress=not args.no_progress,
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8")
    images = table["image"].nunique()
    print(f"measured {len(table)} objects in {images} image(s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
