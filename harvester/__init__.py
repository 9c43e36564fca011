"""harvester: mirror image data out of IDR and any OMERO.web server.

Fast (async, concurrent), polite (rate-limited, adaptive) and resumable
(atomic files, append-only journals). See README.md for the manual.
"""

from __future__ import annotations

__version__ = "0.1.27"
