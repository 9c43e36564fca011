"""``harvester emulate``: glue between the main CLI and the emulator's own CLI module.

The emulator package is imported only when ``emulate`` is the command being
run (or its help is shown): registering the subcommand happens on every
``harvester`` start, and a ``harvester harvest`` must not pay for loading the
emulator (tests/unit/test_startup_imports.py).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from harvester.emulator.cli import add_arguments

    add_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    """Run the emulator until SIGINT/SIGTERM (the emulator CLI's own runner)."""
    from harvester.emulator.cli import run

    return run(args)


def register(subparsers: Any) -> None:
    """Add the ``emulate`` subcommand to the main parser's ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulate",
        help="serve the IDR API emulator on loopback",
        description=(
            "Serve an emulator of the IDR / OMERO.web HTTP API (synthetic, deterministic data, "
            "optional faults). Prints one line 'serving http://HOST:PORT' (https:// with "
            "--tls-cert) once ready; "
            "stops on Ctrl-C or SIGTERM."
        ),
    )
    defer = getattr(parser, "defer_arguments", None)
    if callable(defer):  # harvester's own parser: add the options only when needed
        defer(_add_arguments)
    else:  # a plain argparse parser (embedding, tests): add them now
        _add_arguments(parser)
    parser.set_defaults(run=_run)
