"""``python -m harvester.emulator``: the emulator alone (same options as ``harvester emulate``)."""

from __future__ import annotations

import sys

from harvester.emulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
