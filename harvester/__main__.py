"""``python -m harvester`` behaves exactly like the ``harvester`` command (:func:`entry`)."""

from __future__ import annotations

import sys


def entry() -> int:
    """The ``harvester`` command: :func:`harvester.cli.main`, imported here.

    Why here: a Ctrl-C while the CLI's own modules load (the first tenth of a second, before
    ``main`` holds signals) raised KeyboardInterrupt out of ``from harvester.cli import
    main``, a traceback; it now ends as one just after does, one line and exit 130. This
    module imports nothing of harvester's at its top, so the console script's import of it
    is over before the window opens.
    """
    try:
        from harvester.cli import main
    except KeyboardInterrupt:
        from harvester.end_lines import INTERRUPTED  # (the words status reads a task's end by)

        print(f"{INTERRUPTED} before the command started: nothing was done", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry())
