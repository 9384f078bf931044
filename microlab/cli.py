"""The ``microlab`` command: ``demo``, ``segment``, ``measure``.

Each subcommand is one ``_add_<name>`` function that declares its arguments and one
``_run_<name>`` function that does the work through the public Python API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microlab`` command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="microlab", description="AI microscopy segmentation workbench"
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_segment):
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
    p = sub.add_parser("demo", help="open JupyterLab on the quick-start notebook")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    raise NotImplementedError


def _add_segment(sub) -> None:
    p = sub.add_parser("segment", help="apply a saved model to images, writing label TIFFs")
    p.set_defaults(run=_run_segment)


def _run_segment(args) -> int:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
