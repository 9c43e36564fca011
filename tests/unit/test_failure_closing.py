"""The closing line of a report whose failures no rerun can fix points at its hints.

Found using ``--thumbnail-size 128 --artifacts all`` on ``emulate --migration-2026``:
two hints were printed, then "follow the hint above", which sends the reader to the
last one only (the thumbnail size) and not to the renders'.
"""

from __future__ import annotations

from harvester.fetch import HINT_NOT_RENDERED, HINT_THUMBNAIL_96, FailureAdvice
from harvester.status import StatusReport


def test_one_hint_is_the_hint_above() -> None:
    """With one hint, the closing line of failures points to "the hint above"."""
    advice = FailureAdvice(hints=(HINT_NOT_RENDERED,), rerun_helps=False)
    assert advice.closing("harvester harvest --out D").startswith(
        "a rerun would get the same answers for these failures: follow the hint above; "
    )


def test_two_hints_are_the_hints_above() -> None:
    """With two hints, the closing line of failures points to "the hints above"."""
    advice = FailureAdvice(hints=(HINT_NOT_RENDERED, HINT_THUMBNAIL_96), rerun_helps=False)
    assert "follow the hints above; " in advice.closing("harvester harvest --out D")


def test_status_says_the_hints_above_too() -> None:
    """status's resume line points to the hints above too."""
    report = StatusReport(out_dir="D", selected=["render", "thumbnail"])
    report.started = True
    report.hints = [HINT_NOT_RENDERED, HINT_THUMBNAIL_96]
    report.rerun_helps = False
    report.resume = "harvester harvest --out D"
    assert "follow the hints above; this folder resumes with: harvester harvest --out D" in (
        report.format_text()
    )
