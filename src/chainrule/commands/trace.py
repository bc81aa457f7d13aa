"""``chainrule trace``: placeholder until the inspect issue lands."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression")


def run(args: argparse.Namespace) -> int:
    raise ValueError("trace is not implemented yet")
