"""The hint naming ``forget --gone-ids-from`` (:func:`harvester.gone.gone_images_hint`)
and the rule telling images that answered imgData's 403 alone."""

from __future__ import annotations

from pathlib import Path

from harvester.gone import gone_images_hint, imgdata_refused_among

LISTING = "harvester status /d --failed-ids"


def test_only_images_whose_every_failure_is_imgdatas_403_are_taken() -> None:
    """An image with a 404, a 503 or a thumbnail's 403 beside imgData's 403 is not taken."""
    failures = [
        (1, "imgdata", 403),
        (1, "render", 403),
        (2, "imgdata", 403),
        (2, "thumbnail", 404),
        (3, "stack", 403),
        (4, "imgdata", None),
        (5, "thumbnail", 403),
    ]
    assert imgdata_refused_among(failures) == [1, 3]


def test_a_hint_of_404s_and_403s_names_both_and_the_check_server_pipe() -> None:
    """Both counted, one pipe, with --check-server (404s are recorded by it as without)."""
    hint = gone_images_hint(2, [LISTING], Path("/d"), 3)
    assert hint == (
        "if the 2 images not found (HTTP 404 or 410) and the 3 images refused by imgData "
        "(HTTP 403: a deleted image answers so, and a private one) are gone from the server "
        "for good, have its JSON API asked and stop asking for any it lacks: "
        f"{LISTING} | harvester forget /d --gone-ids-from - --check-server"
    )


def test_a_hint_of_404s_alone_is_worded_as_before() -> None:
    """No imgData 403: the pipe without --check-server."""
    assert gone_images_hint(1, [LISTING], Path("/d")) == (
        "if the image not found (HTTP 404 or 410) is gone from the server for good, stop "
        f"asking for it: {LISTING} | harvester forget /d --gone-ids-from -"
    )
