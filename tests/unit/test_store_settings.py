"""The settings a folder keeps in harvest.json: recorded once, never silently changed."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from harvester import config, urls, window
from harvester.config import HarvestConfig
from harvester.errors import UsageError
from harvester.folder_settings import PINNED, run_settings
from harvester.journal import Journal
from harvester.models import Artifact
from harvester.runlock import acquire_run_lock, lock_name, release_run_lock
from harvester.status import collect_status
from harvester.store import check_settings, prepare_out_dir, read_marker, repin_settings


def marker_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "harvest.json").read_bytes())  # type: ignore[no-any-return]


def test_defaults_are_the_tools_defaults() -> None:
    """The module spells the defaults itself (no start-up imports): they must agree."""
    defaults = {pin.name: pin.default for pin in PINNED}
    assert defaults == {
        "thumbnail_size": urls.DEFAULT_THUMBNAIL_SIZE,
        "render_quality": config.DEFAULT_RENDER_QUALITY,
        "window": window.DEFAULT_WINDOW,
    }


def test_a_run_keeps_only_the_settings_of_the_kinds_it_fetches() -> None:
    """Only the kinds a run fetches count: a thumbnails run has no say on --window."""
    thumbs = HarvestConfig(artifacts=(Artifact.THUMBNAIL,), window="full")
    assert run_settings(thumbs) == {"thumbnail_size": 96}
    everything = HarvestConfig(artifacts=tuple(Artifact), thumbnail_size=128, window="minmax")
    assert run_settings(everything) == {
        "thumbnail_size": 128,
        "render_quality": 0.9,
        "window": "minmax",
    }
    # A PNG render is lossless: the quality does not shape it; its suffix says the format.
    png = HarvestConfig(artifacts=(Artifact.RENDER,), render_format="png", render_quality=0.5)
    assert run_settings(png) == {}
    assert run_settings(HarvestConfig(artifacts=(Artifact.METADATA, Artifact.IMGDATA))) == {}
    # The saved (public) form of a config reads the same.
    assert run_settings(everything.to_public()) == run_settings(everything)


def test_new_folder_records_the_run_settings(tmp_path: Path) -> None:
    """A new folder's marker holds the run's settings beside tool and layout."""
    out = tmp_path / "new"
    prepare_out_dir(out, {"thumbnail_size": 128})
    marker = marker_of(out)
    assert marker["tool"] == "harvester" and marker["layout"] == 1
    assert marker["settings"] == {"thumbnail_size": 128}
    assert read_marker(out) == marker  # readers that check tool/layout accept it


def done_thumbnail(out: Path, writer: str = "w0", image_id: int = 1) -> None:
    """Journal one stored thumbnail in DIR (made with the folder's size)."""
    path = f"images/000/000/{image_id}.thumbnail.jpg"
    rec = {"rec": "done", "kind": "thumbnail", "id": image_id, "path": path, "size": 1}
    with Journal(out, writer) as journal:
        journal.append([{**rec, "sha256": "0" * 64, "t": 1.0, "run": "r0"}])


def test_other_value_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    """Another size is refused (check and open alike) naming both values; no file changes."""
    out = tmp_path / "d"
    prepare_out_dir(out, {"thumbnail_size": 96})
    done_thumbnail(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for check in (check_settings, prepare_out_dir):
        with pytest.raises(UsageError) as refused:
            check(out, {"thumbnail_size": 128})
        assert "--thumbnail-size 96" in str(refused.value)
        assert "--thumbnail-size 128" in str(refused.value)
        assert refused.value.hint == "use another --out, or --thumbnail-size 96"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_kind_fetched_later_adds_its_setting(tmp_path: Path) -> None:
    """A thumbnails-only folder does not care about --window until a stack run comes."""
    out = tmp_path / "d"
    prepare_out_dir(out, {"thumbnail_size": 96})
    check_settings(out, {"thumbnail_size": 96, "window": "full"})
    prepare_out_dir(out, {"thumbnail_size": 96, "window": "full"})
    assert marker_of(out)["settings"] == {"thumbnail_size": 96, "window": "full"}
    with pytest.raises(UsageError, match="stacks made with --window full; this run asks for "):
        prepare_out_dir(out, {"window": "minmax"})
    prepare_out_dir(out, {"thumbnail_size": 96})  # a thumbnails run: --window is not its business
    prepare_out_dir(out)  # plan, status and friends: no settings, nothing checked
    assert marker_of(out)["settings"] == {"thumbnail_size": 96, "window": "full"}


def test_unknown_marker_keys_are_kept(tmp_path: Path) -> None:
    """A later version's keys survive this version adding a setting."""
    out = tmp_path / "d"
    out.mkdir()
    (out / "harvest.json").write_text(
        json.dumps({"tool": "harvester", "layout": 1, "version": "9.9", "future": [1]})
    )
    prepare_out_dir(out, {"window": "full"})
    assert marker_of(out) == {
        "tool": "harvester",
        "layout": 1,
        "version": "9.9",
        "future": [1],
        "settings": {"window": "full"},
    }


#: Run ids as harvester makes them: a folder of runs/ named otherwise is no run.
R1, R2 = "20250101T000000Z-0000a1", "20250101T000001Z-0000a2"


def old_folder(out: Path, runs: dict[str, tuple[dict[str, Any], list[str]]]) -> None:
    """A folder as 0.1.4 left it: marker without settings, each run's config.json and
    journal with done records (run id -> (config, done paths))."""
    out.mkdir()
    (out / "harvest.json").write_text('{"tool": "harvester", "layout": 1, "version": "0.1.4"}')
    for n, (run, (cfg, paths)) in enumerate(runs.items()):
        saved = out / "runs" / run / "config.json"
        saved.parent.mkdir(parents=True)
        saved.write_text(json.dumps({"tool": "harvester", "run": run, "config": cfg}))
        records = [{"rec": "run", "run": run, "writer": f"w{n}", "started": n}]
        for i, path in enumerate(paths):
            kind = path.split(".")[1]
            rec = {"rec": "done", "kind": kind, "id": i + 100 * n, "path": path, "size": 1}
            records.append({**rec, "sha256": "0" * 64, "t": n + 0.5, "run": run})
        with Journal(out, f"w{n}") as journal:
            journal.append(records)


THUMBS_96 = {"artifacts": ["thumbnail"], "thumbnail_size": 96, "window": "rendering"}


def test_old_folder_takes_the_value_its_files_were_made_with(tmp_path: Path) -> None:
    """A 0.1.4 folder keeps the size its thumbnails were made with; stacks take this run's."""
    out = tmp_path / "old"
    old_folder(out, {R1: (THUMBS_96, ["images/000/000/1.thumbnail.jpg"])})
    with pytest.raises(UsageError, match="thumbnails made with --thumbnail-size 96"):
        check_settings(out, {"thumbnail_size": 128})
    # A kind with nothing done yet adopts this run's value: stacks were never fetched here.
    prepare_out_dir(out, {"thumbnail_size": 96, "window": "full"})
    assert marker_of(out)["settings"] == {"thumbnail_size": 96, "window": "full"}
    assert marker_of(out)["version"] == "0.1.4"  # the creator's version stays


def test_old_folder_where_the_kind_was_asked_but_never_done_adopts(tmp_path: Path) -> None:
    """A run that asked for 128-px thumbnails and stored none (all failed) shaped nothing."""
    out = tmp_path / "old"
    asked = {**THUMBS_96, "thumbnail_size": 128}
    old_folder(out, {R1: (asked, [])})
    prepare_out_dir(out, {"thumbnail_size": 96})
    assert marker_of(out)["settings"] == {"thumbnail_size": 96}


def test_old_folder_that_mixes_sizes_already(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bug's aftermath: 96 then 128 by an older harvester. One of the two may go on
    (with a warning saying how to fetch the others again); any other size is refused."""
    out = tmp_path / "old"
    old_folder(
        out,
        {
            R1: (THUMBS_96, [f"images/000/000/{i}.thumbnail.jpg" for i in range(3)]),
            R2: ({**THUMBS_96, "thumbnail_size": 128}, ["images/000/000/9.thumbnail.jpg"]),
        },
    )
    with pytest.raises(UsageError) as refused:
        check_settings(out, {"thumbnail_size": 64})
    assert "--thumbnail-size 96 and 128; this run asks for --thumbnail-size 64" in str(
        refused.value
    )
    prepare_out_dir(out, {"thumbnail_size": 96})
    assert marker_of(out)["settings"] == {"thumbnail_size": 96}
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "1 with --thumbnail-size 128" in warned[0]
    assert "harvester verify" in warned[0]


def test_old_render_quality_counts_jpeg_renders_only(tmp_path: Path) -> None:
    """PNG renders made at another quality do not tie the JPEG renders' quality."""
    out = tmp_path / "old"
    png = {"artifacts": ["render"], "render_format": "png", "render_quality": 0.5}
    jpeg = {"artifacts": ["render"], "render_format": "jpeg", "render_quality": 0.9}
    old_folder(
        out,
        {
            R1: (png, ["images/000/000/1.render.png"]),
            R2: (jpeg, ["images/000/000/2.render.jpg"]),
        },
    )
    with pytest.raises(UsageError, match=r"JPEG renders made with render_quality = 0\.9") as no:
        check_settings(out, {"render_quality": 0.5})
    assert no.value.hint == "use another --out, or render_quality = 0.9 in the config file"
    prepare_out_dir(out, {"render_quality": 0.9})


def test_readers_still_work_on_a_folder_with_settings(tmp_path: Path) -> None:
    """status reads a folder whose marker holds settings as a whole, undamaged one."""
    out = tmp_path / "d"
    prepare_out_dir(out, {"thumbnail_size": 128, "window": "full"})
    report = collect_status(out)
    assert report.marker and report.notes == [] and report.plan_error is None
    assert report.images == 0 and report.failures == []


@pytest.mark.parametrize("flock", [True, False], ids=["flock", "no-flock"])
def test_racing_processes_agree_on_one_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flock: bool
) -> None:
    """Eight openers of one new folder at once, half asking 96 and half 128: the first
    decides, every opener with the other value is refused, and the marker is never
    overwritten with the loser's value; on a filesystem without flock too (link(2))."""
    if not flock:

        def no_flock(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, "no locks available")

        monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "race"
    results: list[object] = [None] * 8
    start = threading.Barrier(8)

    def opener(n: int) -> None:
        start.wait()
        try:
            prepare_out_dir(out, {"thumbnail_size": 96 if n % 2 else 128})
            results[n] = "ok"
        except UsageError as exc:
            results[n] = exc

    threads = [threading.Thread(target=opener, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = marker_of(out)["settings"]["thumbnail_size"]
    for n, result in enumerate(results):
        if (96 if n % 2 else 128) == kept:
            assert result == "ok"
        else:
            assert isinstance(result, UsageError), result


# --------------------------------------------------------------------------- re-pinning


def pinned_to_nothing(out: Path, size: int = 256) -> bytes:
    """A folder set for ``size``-px thumbnails by a run that made none; its marker's bytes."""
    prepare_out_dir(out, {"thumbnail_size": size})
    return (out / "harvest.json").read_bytes()


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "harvester.problems"]


def test_a_setting_that_made_nothing_is_repinned_by_the_lock_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The check says the setting may change (and changes nothing); only a run holding its
    run lock changes it, with one line naming both values."""
    out = tmp_path / "d"
    marker = pinned_to_nothing(out)
    assert check_settings(out, {"thumbnail_size": 96}) == {"thumbnail_size": (256, 96)}
    with pytest.raises(UsageError, match="has no thumbnails yet but is set for"):
        prepare_out_dir(out, {"thumbnail_size": 96})  # no run lock: may not change it
    assert (out / "harvest.json").read_bytes() == marker
    assert problems(caplog) == []
    fd = acquire_run_lock(out, None)
    try:
        prepare_out_dir(out, {"thumbnail_size": 96, "window": "full"}, holding=lock_name(None))
    finally:
        release_run_lock(fd)
    assert marker_of(out)["settings"] == {"thumbnail_size": 96, "window": "full"}
    assert problems(caplog) == [
        f"{out}: the folder's setting changed from --thumbnail-size 256 to --thumbnail-size "
        "96, because no file was made with --thumbnail-size 256 (it holds no thumbnails yet)"
    ]


def test_a_done_file_keeps_the_refusal_even_once_verify_voided_it(tmp_path: Path) -> None:
    """One stored thumbnail made with 256: refused. A record ``verify`` invalidated since
    still counts (its file, damaged, holds 256-px bytes until fetched again)."""
    out = tmp_path / "d"
    pinned_to_nothing(out)
    done_thumbnail(out)
    with Journal(out, "verify-w") as journal:
        journal.append([{"rec": "invalid", "kind": "thumbnail", "id": 1,
                         "path": "images/000/000/1.thumbnail.jpg", "reason": "damaged",
                         "t": 2.0}])  # fmt: skip
    marker = (out / "harvest.json").read_bytes()
    with pytest.raises(UsageError, match="holds thumbnails made with --thumbnail-size 256"):
        check_settings(out, {"thumbnail_size": 96})
    fd = acquire_run_lock(out, None)
    try:
        with pytest.raises(UsageError, match="holds thumbnails made with"):
            prepare_out_dir(out, {"thumbnail_size": 96}, holding=lock_name(None))
    finally:
        release_run_lock(fd)
    assert (out / "harvest.json").read_bytes() == marker


@pytest.mark.parametrize("other", [None, "1/2", "0/4"], ids=["unsharded", "sibling", "split"])
def test_another_run_holding_a_lock_keeps_the_refusal(tmp_path: Path, other: str | None) -> None:
    """Shard 0/2 may not re-pin while another run holds DIR: its sibling shard 1/2 (which
    the run lock lets run beside it), another split's shard, or an unsharded run."""
    out = tmp_path / "d"
    marker = pinned_to_nothing(out)
    theirs = acquire_run_lock(out, other)  # another open file: flock sees another holder
    try:
        with pytest.raises(UsageError, match="has no thumbnails yet"):
            check_settings(out, {"thumbnail_size": 96})
        (out / "locks" / lock_name("0/2")).touch()
        mine = os.open(out / "locks" / lock_name("0/2"), os.O_RDWR)
        try:
            fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(UsageError, match="has no thumbnails yet"):
                prepare_out_dir(out, {"thumbnail_size": 96}, holding=lock_name("0/2"))
        finally:
            os.close(mine)
    finally:
        release_run_lock(theirs)
    assert (out / "harvest.json").read_bytes() == marker
    assert check_settings(out, {"thumbnail_size": 96}) == {"thumbnail_size": (256, 96)}


def test_without_flock_the_refusal_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem without flock cannot show that nobody else runs: refused as before."""
    out = tmp_path / "d"
    marker = pinned_to_nothing(out)
    (out / "locks").mkdir(exist_ok=True)
    (out / "locks" / lock_name("1/2")).touch()  # a lock file some run left, unlockable here

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.raises(UsageError, match="has no thumbnails yet"):
        check_settings(out, {"thumbnail_size": 96})
    with pytest.raises(UsageError, match="has no thumbnails yet"):
        prepare_out_dir(out, {"thumbnail_size": 96}, holding=lock_name(None))
    with pytest.raises(UsageError, match="has no thumbnails yet"):
        repin_settings(out, {"thumbnail_size": 96})
    assert (out / "harvest.json").read_bytes() == marker


def test_repin_settings_changes_only_what_the_marker_keeps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``harvester slurm``'s re-pin: the differing kept setting changes; a kind the folder
    keeps nothing for yet (stacks) is left to the first run that fetches it."""
    out = tmp_path / "d"
    pinned_to_nothing(out)
    repin_settings(out, {"thumbnail_size": 96, "window": "full"})
    assert marker_of(out)["settings"] == {"thumbnail_size": 96}
    assert len(problems(caplog)) == 1
