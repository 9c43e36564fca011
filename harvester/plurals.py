"""A value's other grammatical number: ``nuclei`` for ``nucleus``, ``cells`` for ``cell``.

Why: a ``--where`` term whose value is a study's value in the other number
(``Phenotype=nuclei`` on a study of ``nucleus``) is a slip, not another class, yet the
near-spelling checks of :mod:`harvester.select` cannot tell it from one: ``nuclei`` and
``nucleus`` are only 0.77 alike (below the 0.85 a slip beside a matched term needs), and
their endings, ``i`` and ``us``, differ as ``in`` and ``d`` of ``increased`` and
``decreased`` do, the opposite class that must never be suggested. A short list of
English and Latin number endings says which endings are the same word; a word is changed
only where it is a word of letters (not a gene symbol in capitals, ``CDC20``) with a stem
of three letters or more.
"""

from __future__ import annotations

#: Singular and plural endings of one word (each read both ways).
NUMBER_ENDINGS: tuple[tuple[str, str], ...] = (
    ("", "s"),
    ("", "es"),
    ("us", "i"),
    ("um", "a"),
    ("on", "a"),
    ("a", "ae"),
    ("y", "ies"),
    ("is", "es"),
    ("ex", "ices"),
    ("ix", "ices"),
)

#: Letters a word keeps before its ending (``bus`` -> ``bi`` is no plural of anything).
MIN_STEM = 3


def _word_forms(word: str) -> set[str]:
    """``word`` (folded) in the other number, by each ending that fits it."""
    forms: set[str] = set()
    for one, other in NUMBER_ENDINGS:
        for have, give in ((one, other), (other, one)):
            if word.endswith(have) and len(word) - len(have) >= MIN_STEM:
                forms.add(word[: len(word) - len(have)] + give)
    forms.discard(word)
    return forms


def number_forms(text: str) -> set[str]:
    """The folded spellings of ``text`` (case and runs of spaces ignored) with one of its
    words in the other number: ``large nuclei`` -> ``large nucleus`` among others (endings
    are guessed, so most forms are no word: callers look them up among values seen)."""
    words = text.split()
    folded = [w.casefold() for w in words]
    forms: set[str] = set()
    for at, word in enumerate(words):
        if not word.isalpha() or word.isupper():  # (a gene symbol, an acronym: no plural)
            continue
        for form in _word_forms(folded[at]):
            forms.add(" ".join([*folded[:at], form, *folded[at + 1 :]]))
    return forms


def number_matched(given: str, seen: str) -> list[str]:
    """``given`` (folded) with a word put in the number of ``seen``'s word at its place
    (``decreased cell size`` of ``decreased cell sizes`` beside ``increased cell size``);
    none where no word's number is what they differ in. Why: to judge how the rest of
    them differs (another word, a slip) without that difference, and without the forms
    that no value spells (``arests`` of ``arest`` read as ``arrest``'s other word)."""
    words, theirs = given.casefold().split(), seen.casefold().split()
    if len(words) != len(theirs):
        return []
    matched = []
    for form in number_forms(given):
        form_words = form.split()
        changed = [at for at, word in enumerate(form_words) if word != words[at]]
        if changed and all(form_words[at] == theirs[at] for at in changed):
            matched.append(form)
    return matched


def same_but_number(given: str, seen: str) -> bool:
    """Do ``given`` and ``seen`` differ only in one word's number (``nuclei``/``nucleus``)?"""
    return " ".join(seen.split()).casefold() in number_forms(given)
