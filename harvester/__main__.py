"""``python -m harvester`` behaves exactly like the ``harvester`` command."""

from __future__ import annotations

import sys

from harvester.cli import main

if __name__ == "__main__":
    sys.exit(main())
