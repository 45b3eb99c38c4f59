"""The ``tam-label`` command line.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``
(which registers the sub-command and sets ``func``) and keeps heavy imports
(torch, fiftyone, cvat-sdk) inside the function that runs it, so that
``tam-label --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Sub-command modules (``<name>_cmd.py``), in the order ``--help`` lists them.
_COMMANDS = ("demo", "track", "export", "eval", "weights", "cvat")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other error (argparse prints the
    whole usage block first); sub-commands inherit it through add_subparsers."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tam-label",
        description="Track Anything (SAM + XMem) for labeling tools: click, track, fix, export.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}_cmd").add_parser(sub)
    return parser


def _version() -> str:
    from tam_core import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    from tam_core.errors import TamError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _say_the_machines_choice()
    try:
        return int(args.func(args) or 0)
    except TamError as exc:
        # User mistakes and environment problems: one line, no traceback.
        print(f"tam-label: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tam-label: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


class _StderrLine(logging.Handler):
    """The segmenter "auto" chose, as one ``tam-label:`` line on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"tam-label: {record.getMessage()}", file=sys.stderr)


def _say_the_machines_choice() -> None:
    from tam_core.segmenters.auto import log

    if not any(isinstance(h, _StderrLine) for h in log.handlers):
        log.addHandler(_StderrLine(logging.INFO))
        log.setLevel(logging.INFO)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
