"""``harvester emulate``: glue between the main CLI and the emulator's own CLI module."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``emulate`` subcommand to the main parser's ``subparsers``."""
    from harvester.emulator.cli import add_arguments, run

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulate",
        help="serve the IDR API emulator on loopback",
        description=(
            "Serve an emulator of the IDR / OMERO.web HTTP API (synthetic, deterministic data, "
            "optional faults). Prints one line 'serving http://HOST:PORT' once ready; "
            "stops on Ctrl-C or SIGTERM."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(run=run)
