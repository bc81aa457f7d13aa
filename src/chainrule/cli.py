"""The ``chainrule`` command line: ``chainrule train`` and ``chainrule trace``.

Each subcommand lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``. Mistakes (bad options, malformed expressions, missing
data) exit non-zero with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

COMMANDS = {
    "train": ("chainrule.commands.train", "train a multilayer perceptron (default: digits, offline)"),
    "trace": ("chainrule.commands.trace", "show the evaluation trace of an expression"),
}


class UsageError(Exception):
    """A mistake in what the user typed: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description="Derivatives by the chain rule.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 1 and argv[0] == "trace" and _looks_like_negated_expression(argv[1]):
        argv[1] = " " + argv[1]  # "-x^2" is an expression, not an option
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (ValueError, OSError, FileNotFoundError) as error:
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


def _looks_like_negated_expression(arg: str) -> bool:
    return arg.startswith("-") and not arg.startswith("--") and arg not in ("-h",)


if __name__ == "__main__":
    sys.exit(main())
