"""The refusal of a folder setting that made no file says what to do: the README promises
that such a folder takes the next run's value once no other harvest of it runs, and the
refusal's hint named only 'another --out' or the folder's value."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.errors import UsageError
from harvester.runlock import acquire_run_lock, release_run_lock
from harvester.store import check_settings, prepare_out_dir


def test_a_refusal_while_another_run_holds_the_folder_says_to_run_again_later(
    tmp_path: Path,
) -> None:
    """A settings refusal while another run holds the folder says to run again once none is."""
    out = tmp_path / "d"
    prepare_out_dir(out, {"thumbnail_size": 256})  # set by a run that made no thumbnail
    theirs = acquire_run_lock(out, "1/2")
    try:
        with pytest.raises(UsageError) as refused:
            check_settings(out, {"thumbnail_size": 96})
    finally:
        release_run_lock(theirs)
    assert f"{out} has no thumbnails yet but is set for" in str(refused.value)
    assert refused.value.hint == (
        f"another harvest of {out} may be running: once none is, run again and the folder "
        "takes --thumbnail-size 96 (not on a filesystem without flock); or use another "
        "--out, or --thumbnail-size 256"
    )
    assert check_settings(out, {"thumbnail_size": 96}) == {"thumbnail_size": (256, 96)}
