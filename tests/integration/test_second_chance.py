"""A file that fails on busy or broken answers through all its retries is asked once more at
the end of the run (:mod:`harvester.second_chance`): only a failure then counts.

Why: on a flaky server one file in thousands meets a fault on every try, and a long run
ended "failed" on it, for a rerun that fetched it at once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import DEADLINE_S
from harvest_helpers import DEMO_PROJECT, harvest, run_cli

from harvester.cli import main
from harvester.cli.harvest import print_summary
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_IMAGE_ID
from harvester.retry import zero_waits


def _asked(emu: EmulatorThread, route: str) -> int:
    """Requests of ``route`` the emulator answered, whatever it answered."""
    return sum(emu.stats()["by_route"].get(route, {}).values())


def _records(out: Path, kind: str) -> list[dict[str, Any]]:
    """Every journal record of files of ``kind`` (done or failed), in every journal."""
    found = []
    for journal in sorted((out / "journals").glob("*.jsonl")):
        for line in journal.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == kind:
                found.append(record)
    return found


def _failed(out: Path, kind: str) -> list[dict[str, Any]]:
    """The ``failed`` records of files of ``kind``."""
    return [r for r in _records(out, kind) if r.get("rec") == "failed"]


def _image_records(out: Path, image_id: int) -> int:
    """How many ``image`` records the journals hold for ``image_id``."""
    return sum(
        1
        for journal in (out / "journals").glob("*.jsonl")
        for line in journal.read_text(encoding="utf-8").splitlines()
        if (record := json.loads(line)).get("rec") == "image"
        and record["ref"].get("image_id", record["ref"].get("id")) == image_id
    )


def _stored(out: Path, suffix: str) -> bytes:
    (path,) = (out / "images").rglob(f"{DEMO_IMAGE_ID}.{suffix}")
    return path.read_bytes()


def test_a_thumbnail_busy_through_its_retries_is_fetched_at_the_end(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """503 six times (the default 5 retries spent): asked again at the end, stored byte for
    byte as a clean run stores it, no failure journaled, the image counted once; the log
    says when the second chance starts, the summary what it did."""
    harvest(
        make_emulator().base_url, tmp_path / "clean", images=(DEMO_IMAGE_ID,),
        artifacts=("thumbnail",),
    )  # fmt: skip
    emu = make_emulator(faults="first:503*6,only:image:thumbnail")
    out = tmp_path / "out"
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--image", str(DEMO_IMAGE_ID),
             "--out", str(out), "--artifacts", "thumbnail", "--rate", "none"]
        )  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert _asked(emu, "image:thumbnail") == 7
    assert _stored(out, "thumbnail.jpg") == _stored(tmp_path / "clean", "thumbnail.jpg")
    assert _failed(out, "thumbnail") == []
    assert _image_records(out, DEMO_IMAGE_ID) == 1  # given by id: journaled once
    assert "asking again at the end: 1 file that failed on busy or broken answers" in caplog.text
    assert printed.out.startswith(
        "done 1 (thumbnail 1), skipped 0 (already done), failed 0; 1 image found\n"
    ), printed.out
    assert (
        "\nasked again at the end: 1 file that failed on busy or broken answers, 1 done\n"
        in printed.out
    )


def test_a_thumbnail_busy_through_both_chances_fails_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """Answered 500 twelve times: both chances spent, one ``failed`` record, the failure
    said as before (its line, the rerun), after the second chance's line. (A 500, not a
    503: a busy answer after the run's last success makes the outage rule check the server,
    the second check five seconds after the first, which this test would wait for.)"""
    emu = make_emulator(faults="first:500*12,only:image:thumbnail")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("thumbnail",))
    assert summary.exit_code == 1
    assert _asked(emu, "image:thumbnail") == 12
    (record,) = _failed(out, "thumbnail")
    assert record["status"] == 500 and record["id"] == DEMO_IMAGE_ID
    assert (summary.done, summary.failed, len(summary.failures)) == (0, 1, 1)
    print_summary(summary, resume="harvester harvest --out OUT")
    printed = capsys.readouterr()
    assert "asked again at the end: 1 file that failed on busy or broken answers, 0 done\n" in (
        printed.out
    )
    assert f"failed: thumbnail of image {DEMO_IMAGE_ID}: HTTP 500" in printed.err
    assert printed.err.endswith("\nrerun to retry the failures: harvester harvest --out OUT\n")


def test_a_render_whose_imgdata_broke_is_fetched_with_it_at_the_end(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgData answered with an Exception through its retries: it and the render built
    from it are kept aside, then both fetched at the end, as a clean run stores them; the
    image, given by id, gets the context imgData tells (its well) in index.csv, as in a
    clean run (a rerun, with nothing left to fetch, would never complete it)."""
    clean = harvest(
        make_emulator().base_url, tmp_path / "clean", images=(DEMO_IMAGE_ID,),
        artifacts=("imgdata", "render"),
    )  # fmt: skip
    emu = make_emulator(faults="first:exception*6,only:image:imgdata")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("imgdata", "render"))
    assert summary.exit_code == 0, summary.failures
    assert emu.stats()["faults"] == {"exception": 6}
    assert (summary.asked_again, summary.done_again, summary.failed) == (2, 2, 0)
    assert _stored(out, "render.jpg") == _stored(tmp_path / "clean", "render.jpg")
    assert _stored(out, "imgdata.json") == _stored(tmp_path / "clean", "imgdata.json")
    assert _failed(out, "imgdata") == _failed(out, "render") == []
    assert (summary.done, summary.images) == (2, clean.images)
    index = (out / "index.csv").read_text(encoding="utf-8")
    assert index == (tmp_path / "clean" / "index.csv").read_text(encoding="utf-8")


def test_a_render_alone_waits_for_its_imgdata_at_the_end(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgData not selected (asked for the render only): the render's "needs imgData" of a
    transient failure is kept aside, and imgData asked again with it."""
    emu = make_emulator(faults="first:503*6,only:image:imgdata")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("render",))
    assert summary.exit_code == 0, summary.failures
    assert _asked(emu, "image:imgdata") == 7
    assert (summary.asked_again, summary.done_again) == (1, 1)
    assert len(list((out / "images").rglob("*.render.jpg"))) == 1


def test_a_refusal_is_not_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgData's pixel-buffer Exception (the server cannot open the pixels: the same answer
    every time) fails at once, asked once; the image's busy thumbnail gets its second chance."""
    emu = make_emulator(imgdata_exception=True, faults="first:503*6,only:image:thumbnail")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("imgdata", "thumbnail")
    )
    assert summary.exit_code == 1
    assert _asked(emu, "image:imgdata") == 1
    assert _asked(emu, "image:thumbnail") == 7
    assert len(_failed(out, "imgdata")) == 1 and _failed(out, "thumbnail") == []
    assert (summary.asked_again, summary.done_again, summary.failed) == (1, 1, 1)


def test_no_second_chance_without_retries(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-retries 0`` fails fast: one request, the failure journaled, nothing asked
    again, and the summary says nothing of it."""
    emu = make_emulator(faults="first:503,only:image:thumbnail")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("thumbnail",), max_retries=0
    )
    assert summary.exit_code == 1
    assert _asked(emu, "image:thumbnail") == 1
    assert len(_failed(out, "thumbnail")) == 1
    assert summary.asked_again == 0
    print_summary(summary)
    assert "asked again" not in capsys.readouterr().out


def test_a_kind_given_up_on_is_not_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], caplog: pytest.LogCaptureFixture
) -> None:
    """Every thumbnail answered 500: the give-up rule stops them after two images in a row,
    as without a second chance (not one more request each at the end); the files it kept
    aside are journaled failed with their first failure, once each, and no line says they
    are asked again (it said "asking again at the end: 8 files", and none was)."""
    emu = make_emulator(faults="500:100%,only:image:thumbnail")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, projects=(DEMO_PROJECT,), artifacts=("thumbnail",),
        max_retries=1, give_up_after=2,
    )  # fmt: skip
    assert summary.exit_code == 1
    assert "thumbnail" in summary.given_up
    failed = _failed(out, "thumbnail")
    assert len(failed) == summary.failed >= 2
    assert len({r["id"] for r in failed}) == len(failed)  # once a file
    assert _asked(emu, "image:thumbnail") == 2 * len(failed)  # each asked through 1 retry, once
    assert summary.failed + summary.not_requested.get("thumbnail", 0) == 8
    assert summary.asked_again == 0
    assert "asking again" not in caplog.text


def test_a_stop_before_the_second_chance_leaves_the_file_pending(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The --max-bytes budget reached before the end: the thumbnail kept aside is pending,
    not failed (status says so), and the same command fetches it."""
    emu = make_emulator(faults="first:503*6,only:image:thumbnail")
    out = tmp_path / "out"
    settings: dict[str, Any] = {
        "images": (DEMO_IMAGE_ID,), "artifacts": ("thumbnail", "render"), "max_bytes": 1,
    }  # fmt: skip
    summary = harvest(emu.base_url, out, **settings)
    assert summary.exit_code == 8
    assert _failed(out, "thumbnail") == [] and summary.failed == 0
    assert list((out / "images").rglob("*.thumbnail.jpg")) == []
    status = run_cli("status", str(out), "--json")
    totals = json.loads(status.stdout)["totals"]
    assert (totals["pending"], totals["failed"]) == (1, 0), totals
    again = harvest(emu.base_url, out, **settings)
    assert again.exit_code == 0, again.failures
    assert again.done == 1 and again.asked_again == 0
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 1


def test_ctrl_c_during_the_second_chance_leaves_its_file_pending(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the thumbnail kept aside is asked again (its answer held): exit 130 and
    the interrupted line, no traceback, the file pending, not failed (status), and the
    summary counts no file asked again: its second chance did not end (it said "asked again
    at the end: 1 file ..., 0 done", read as failed again)."""
    emu = make_emulator(faults="first:500*6|hold,hold:again,only:image:thumbnail")
    out = tmp_path / "out"

    def ctrl_c() -> None:
        emu.wait_held("again", 1, DEADLINE_S)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=ctrl_c, name="ctrl-c", daemon=True)
    thread.start()
    try:
        with zero_waits():
            code = main(
                ["harvest", "--base-url", emu.base_url, "--image", str(DEMO_IMAGE_ID),
                 "--out", str(out), "--artifacts", "thumbnail", "--rate", "none"]
            )  # fmt: skip
    finally:
        thread.join(DEADLINE_S)
        emu.release("again")
    printed = capsys.readouterr()
    assert code == 130, printed.err
    assert "Traceback" not in printed.err
    last = printed.err.strip().splitlines()[-1]
    assert last.startswith("interrupted: every finished file is kept and journaled; resume with:")
    assert "asked again at the end" not in printed.out, printed.out
    assert _failed(out, "thumbnail") == []
    totals = json.loads(run_cli("status", str(out), "--json").stdout)["totals"]
    assert (totals["pending"], totals["failed"]) == (1, 0), totals


def test_a_stack_whose_plane_broke_is_finished_at_the_end(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A stack's first plane damaged on all its tries: the stack is asked again at the end,
    and stored byte for byte as a clean run stores it (no plane asked twice once whole)."""
    from harvester.emulator.catalogue import ZSTACK_SIZE_Z

    zstack_image, planes, retries = 1_300_001, ZSTACK_SIZE_Z * 2, 2
    settings: dict[str, Any] = {
        "images": (zstack_image,), "artifacts": ("stack",), "max_retries": retries,
    }  # fmt: skip
    emu = make_emulator(
        preset="zstack",
        mode="microservice",
        faults=f"first:corrupt*{1 + retries},only:image:render",
    )
    summary = harvest(emu.base_url, tmp_path / "d", **settings)
    assert summary.exit_code == 0, summary.failures
    assert (summary.asked_again, summary.done_again) == (1, 1)
    assert _asked(emu, "image:render") == 1 + retries + planes
    clean = harvest(emu.base_url, tmp_path / "c", **settings)
    assert clean.exit_code == 0 and clean.asked_again == 0
    name = f"{zstack_image}.stack.ome.tif"
    (stored,) = (tmp_path / "d" / "images").rglob(name)
    (reference,) = (tmp_path / "c" / "images").rglob(name)
    assert stored.read_bytes() == reference.read_bytes()
