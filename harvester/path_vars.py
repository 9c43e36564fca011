"""Environment variables in paths: expanded in a config file's, caught left literal on the
command line.

Why: on a cluster a path is written ``$SCRATCH/mirror``; a config file's ``out =
"$SCRATCH/mirror"`` made a folder literally named ``$SCRATCH`` in the current one, and
``--out '$SCRATCH/mirror'`` (single quotes: the shell expands nothing) did the same. A
config file's paths are expanded once, where the file is read (:func:`expand_variables`),
so that what a run records, a plan keeps and a SLURM script passes on is the path itself,
not one that a task on another node would read in its own environment. On the command line
the shell expands; a new folder that begins with a set variable's name is refused
(:func:`leading_variable`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from harvester.errors import ConfigError
from harvester.text import quoted

#: ``$NAME`` or ``${...}`` (checked to hold a name alone: no shell ``${NAME:-default}``),
#: or ``$$``, a ``$`` of the name itself (``$$RECYCLE.BIN``): matched first, so that the
#: ``$NAME`` after it is no variable.
_VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}]*)(?P<close>\}?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names_variable(text: str) -> bool:
    """Whether ``text`` holds a ``$NAME`` or ``${NAME}`` that :func:`expand_variables`
    would replace."""
    return any(_expands(m) for m in _VARIABLE.finditer(text))


def _expands(match: re.Match[str]) -> bool:
    """Whether a match of :data:`_VARIABLE` is a variable expanded: ``$NAME``, or
    ``${NAME}`` closed (``${SCRATCH/mirror``, a brace left open, is none: it was kept as a
    folder named ``${SCRATCH``, where a shell says "bad substitution")."""
    if match["braced"] is not None and not match["close"]:
        return False
    return _NAME.fullmatch(match["name"] or match["braced"] or "") is not None


def expand_variables(key: str, text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with each ``$NAME`` and ``${NAME}`` replaced by the variable's value, for
    config-file key ``key``; a one-line :class:`ConfigError` naming the key and the
    variable where one is not set or is empty (``$SCRATCH`` unset made ``/mirror`` of
    ``$SCRATCH/mirror``, at the top of the filesystem), or ``${...}`` holds more than a
    name or is not closed (a shell's ``${SCRATCH:-/tmp}``, ``${SCRATCH/mirror``, which
    would have been kept as a folder's name).
    A ``$`` before no name stays as written; ``$$`` is one ``$``, so that a folder whose
    name holds ``$NAME`` (``$RECYCLE.BIN``, or a ``$SCRATCH`` made literally before paths
    were expanded) can be written (it was refused as a variable not set, and
    ``$$SCRATCH`` was ``$`` and SCRATCH's value)."""
    env = os.environ if environ is None else environ

    def value_of(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name = match["name"] or match["braced"]
        if not _expands(match):
            raise ConfigError(
                f"{key}: {quoted(match[0])} in {quoted(text)} is not a variable harvester"
                " expands: only $NAME and ${NAME} are",
                hint=f"write $NAME or ${{NAME}} alone, or the path itself, in {key}",
            )
        value = env.get(name)
        if not value:
            state = "is not set" if value is None else "is empty"
            raise ConfigError(
                f"{key}: the environment variable {name} in {quoted(text)} {state}",
                hint=f"set {name} before running harvester (export {name}=...), or write the"
                f" path itself in {key} (${match[0]} for a name that holds {match[0]})",
            )
        return value

    return _VARIABLE.sub(value_of, text)


def leading_variable(text: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable a path typed on the command line begins with (``$SCRATCH/mirror``,
    ``${SCRATCH}``) where it is set, non-empty, in the environment: one the shell did not
    expand (single quotes, or a path pasted from a config file); else None. Only at the
    start: a name that holds a ``$`` further on (``it's $HOME! run``) is most likely meant."""
    env = os.environ if environ is None else environ
    text = text.strip()
    match = _VARIABLE.match(text)
    if match is None:
        return None
    name, rest = match["name"] or match["braced"] or "", text[match.end() :]
    if not _expands(match) or rest[:1] not in ("", "/"):  # (``$$``: no variable)
        return None
    return name if env.get(name) else None
