"""Words of the command lines the harvester prints for a person to paste into a shell.

Every printed command (``resume with: harvester harvest --out DIR ...``, ``harvester forget
DIR ...``, a script's ``# Submit:`` line) quotes its words here, so that bash, zsh, sh and
tcsh each read it back as the words it was made of, whatever DIR holds.

Why not :func:`shlex.quote` alone: its single quotes keep spaces, quotes and ``$`` literal
in every shell, but tcsh and csh expand ``!`` history even inside single quotes (pasted,
``'/data/run!2'`` said "2: Event not found" and ran nothing). Each ``!`` is therefore left
outside the quotes, escaped: ``'/data/run'\\!'2'``. bash, zsh and sh read ``\\!`` as ``!``
too (an escaped ``!`` is no history event in an interactive bash or zsh either), and a
script's ``shlex.split`` reads it back unchanged.

A line break in a word stays inside its single quotes (the command then spans two lines):
sh, bash and zsh read it back, and tcsh, which takes no line break inside quotes, refuses
the line ("Unmatched '.") and runs nothing. No one form is read right by both: bash's,
zsh's and tcsh's ``$'\n'`` is, to dash (Debian's sh), a ``$`` and a ``\n``, a word of
another name (a folder made elsewhere) without a word said. Loud in tcsh beats silently
wrong in sh.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable


def shell_quote(word: str) -> str:
    """``word`` as one shell word that bash, zsh, sh and tcsh all read back as ``word``
    (:func:`shlex.quote`'s form, each ``!`` tcsh would expand outside the quotes, escaped).

    A word starting with ``=`` is quoted although shlex leaves it bare: zsh reads a bare
    ``=ls`` as the path of the command ``ls`` (``=data``: "data not found"), and tcsh a bare
    ``=1`` as its directory stack's entry ("Directory stack not that deep")."""
    quoted = shlex.quote(word)
    if quoted.startswith("="):  # (bare, so it holds no quote to escape)
        quoted = f"'{quoted}'"
    if "!" not in word:
        return quoted
    # shlex quoted it (``!`` is not among the characters it leaves bare): each ``!`` that
    # tcsh would read as a history event sits between single quotes, closed before it and
    # opened again after it. One followed by a blank, ``=``, ``(`` or a quote (the word's
    # end) is no event in tcsh either, and stays as typed: ``'Gene Symbol!=PLK1'``.
    escaped = _EVENT.sub("'\\\\!'", quoted)
    # (``'!x'`` became ``''\!'x'``: the empty quotes at its start say nothing)
    return escaped.removeprefix("''") if escaped.startswith("''\\!") else escaped


#: A ``!`` that tcsh expands inside single quotes: any not followed by a blank, ``=``, ``(``
#: or a single quote (csh's history exceptions; the quote closes the word or a part of it);
#: and any after a backslash, which tcsh takes as that ``!``'s escape even inside single
#: quotes (``'a\!'`` read back as ``a!``, the backslash lost).
_EVENT = re.compile(r"(?<=\\)!|!(?=[^ \t\n=('])")


def shell_join(words: Iterable[str]) -> str:
    """The command line of ``words``, each quoted by :func:`shell_quote` (as
    :func:`shlex.join` joins them)."""
    return " ".join(shell_quote(word) for word in words)
