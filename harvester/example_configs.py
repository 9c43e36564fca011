"""Where this machine's copy of the example configs (``configs/`` of the source tree) is.

The README tells users to copy one (``configs/default.toml`` lists every key), and a
relative ``configs/demo.toml`` typed outside the source tree is not found. The answer
depends on how harvester got here:

- run from a source tree (a checkout, an unpacked sdist, an editable install): its
  ``configs/`` beside the package;
- installed from the wheel or the sdist: pyproject's ``data-files`` put them under the
  environment's prefix, ``share/harvester/configs/`` (``.venv/share/...`` in a venv,
  ``~/.local/share/...`` with ``pip install --user``, pipx's own venv with pipx). Only the
  installer knew that prefix, so the installed distribution's RECORD is asked where it
  put them, rather than guessing from ``sys.prefix``.

Only an error hint asks, so :mod:`importlib.metadata` is imported when it does, not at
start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The example every key is listed in: a folder holding it is the examples' folder.
DEFAULT_CONFIG: Final = "default.toml"

#: Where the wheel installs them, under the environment's prefix (pyproject's data-files).
INSTALLED_UNDER: Final = ("share", "harvester", "configs")


def example_configs_dir() -> Path | None:
    """The folder of the example configs this harvester came with; None when it has none
    (a wheel unpacked by hand, a distribution whose files are not recorded, a copy of the
    package that no installed distribution records)."""
    tree = Path(__file__).resolve().parents[1]
    if (tree / "pyproject.toml").is_file() and (tree / "configs" / DEFAULT_CONFIG).is_file():
        return tree / "configs"
    return _installed_dir()


def _installed_dir() -> Path | None:
    """The installed ``share/harvester/configs/``, as the distribution's RECORD names it,
    where that RECORD lists this very module: ``distribution("harvester")`` is the first
    one on ``sys.path``, which need not be the copy running (a checkout without configs,
    or a copy put first on ``PYTHONPATH``, beside an installed harvester of another
    version): its configs were named as this harvester's."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        recorded = distribution("harvester").files or []
    except PackageNotFoundError:
        return None
    here = Path(__file__).resolve()
    ours = False
    found: Path | None = None
    for entry in recorded:
        if entry.name == here.name and entry.parent.parts[-1:] == (here.parent.name,):
            ours = ours or Path(str(entry.locate())).resolve() == here
        elif entry.name == DEFAULT_CONFIG and entry.parent.parts[-3:] == INSTALLED_UNDER:
            path = Path(str(entry.locate())).resolve()
            found = path.parent if path.is_file() else found
    return found if ours else None
