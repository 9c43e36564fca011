"""``--max-bytes``: what happens once the budget is reached and the walk goes on.

After the budget the walk goes on listing, to learn whether work is left (a run with none
ends 0). What may meet it there: Ctrl-C (the person's stop: 130), the server going down or
the session ending (the budget's stop still: 8, with a note), images whose annotations no
journal holds (not asked: the run stops), an object's study files (saved only where they
fit in the budget left). Each harvest talks to the emulator over loopback; the order of
events is set with the emulator's gates (:mod:`gate_helpers`), never with delays.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from gate_helpers import DEADLINE_S, POLL_S, released_when

import harvester.outage
from harvester.cli import EXIT_BUDGET, main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.layout import make_writer, new_run_id
from harvester.pipeline import Harvest
from harvester.retry import zero_waits
from harvester.store import Store

CONCURRENCY = 4
ARTIFACTS = "thumbnail,imgdata"
GATE = "listing"
ANNOTATIONS = "/webclient/api/annotations/"
#: Dataset 51's annotations are asked first; image 1884804's labels, asked again (it is given
#: after its dataset), come second: that answer is held until the budget is stored.
REPEATED = ["--dataset", "51", "--image", "1884804"]


def _harvest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """One in-process ``harvester harvest ARGS``: exit code, stdout, stderr."""
    code = main(["harvest", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _files(out: Path, folder: str = "images") -> dict[str, int]:
    """DIR's files under ``folder`` (relative name -> size)."""
    top = out / folder
    if not top.is_dir():
        return {}
    return {str(p.relative_to(top)): p.stat().st_size for p in top.rglob("*") if p.is_file()}


def _stored(out: Path) -> int:
    """Bytes of DIR's image and study files: what a run's budget counts."""
    return sum(_files(out).values()) + sum(_files(out, "study").values())


def _measured(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorThread, folder: Path, *command: str
) -> Path:
    """``command`` harvested with no budget into ``folder`` (the emulator's gate open for it),
    then the emulator's faults started again for the run under test."""
    emulator.release(GATE)
    code, _out, err = _harvest(capsys, *command, "--out", str(folder))
    assert code == 0, err
    emulator.reset_stats()
    return folder


@contextmanager
def _signalled_when(emulator: EmulatorThread, ready: Callable[[], bool]) -> Iterator[None]:
    """Within the block, once ``GATE`` holds an answer and ``ready()``, send this process
    SIGINT (a Ctrl-C); the gate is released only once the block has ended, so the held
    answer cannot end the run before the signal is handled."""
    failure: list[str] = []
    ended = threading.Event()

    def wait_then_signal() -> None:
        try:
            emulator.wait_held(GATE, 1, DEADLINE_S)
            while not ready():
                if ended.wait(POLL_S):
                    failure.append("the harvest ended before the budget was stored")
                    return
            os.kill(os.getpid(), signal.SIGINT)
        except Exception as exc:  # handed to the test's thread
            failure.append(repr(exc))

    thread = threading.Thread(target=wait_then_signal, name="ctrl-c", daemon=True)
    thread.start()
    try:
        yield
    finally:
        ended.set()
        thread.join(DEADLINE_S)
        emulator.release(GATE)
    assert not failure, failure[0]


def _budget_marked(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    """Has the run marked its budget reached (its ``--debug`` line logged)? The sure sign:
    files on disk come before the run counts them (a Ctrl-C sent between was one before
    the budget, and the test passed whatever the run did after it)."""
    caplog.set_level(logging.INFO, logger="harvester.pipeline")

    def marked() -> bool:
        return any(
            r.getMessage().startswith("the --max-bytes budget of ") for r in list(caplog.records)
        )

    return marked


def test_ctrl_c_after_the_budget_exits_130(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Ctrl-C while the walk goes on after the budget (a listing held, the budget marked
    reached) is the person's stop: exit 130 and the interrupted line with the command that
    resumes, not the budget's 8 and its ``stopped:`` line (a script looping on 8 went on
    after the Ctrl-C); every file stored is kept."""
    emulator = make_emulator(preset="demo", faults=f"first:ok|hold,hold:{GATE},only:{ANNOTATIONS}")
    common = ["--base-url", emulator.base_url, *REPEATED, "--artifacts", ARTIFACTS]
    common += ["--rate", "none", "--concurrency", str(CONCURRENCY)]
    total = _stored(_measured(capsys, emulator, tmp_path / "measured", *common))
    out = tmp_path / "out"
    marked = _budget_marked(caplog)
    with _signalled_when(emulator, lambda: _stored(out) == total and marked()):
        code, _stdout, err = _harvest(capsys, *common, "--out", str(out), "--max-bytes", str(total))
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: every finished file is kept and journaled; resume with:")
    assert "stopped: the --max-bytes budget" not in err
    assert _stored(out) == total


def test_the_server_down_after_the_budget_is_the_budgets_stop(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server goes down (503, its API root too) as the walk goes on after the budget:
    the run stops there, exit 8 with a note naming the outage before the budget's
    ``stopped:`` line, not 75 after ``--outage-wait`` (a script retrying on 75 spent a new
    budget at once), nor a wait of ``--outage-wait`` for it; every file stored is kept."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.2)
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", 0.5)
    emulator = make_emulator(
        preset="demo",
        faults=f"first:ok*2|hold+503|503*200,hold:{GATE},only:api_versions|{ANNOTATIONS}",
    )
    common = ["--base-url", emulator.base_url, *REPEATED, "--artifacts", ARTIFACTS]
    # One retry (without its wait): the held try was sent before the images were answered,
    # which show the server up; the retry, after them, is the outage's first down sign.
    common += ["--rate", "none", "--concurrency", str(CONCURRENCY), "--max-retries", "1"]
    # Dataset 51 alone (image 1884804's files and labels included) meets none of the faults:
    # its two answers of these routes are the first two. Its study files name the
    # emulator's URL: measured on this one.
    dataset = [c for c in common if c not in REPEATED[2:]]
    total = _stored(_measured(capsys, emulator, tmp_path / "measured", *dataset))
    out = tmp_path / "out"
    command = [*common, "--out", str(out), "--max-bytes", str(total), "--outage-wait", "2s"]
    with (
        zero_waits(),
        released_when(emulator, GATE, lambda: _stored(out) == total, "stored the budget"),
    ):
        code, _stdout, err = _harvest(capsys, *command)
    assert code == EXIT_BUDGET, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("stopped: the --max-bytes budget of ")
    assert lines[-2].startswith("note: as the walk looked for work left, the server went down (")
    assert "stayed down" not in err
    assert _stored(out) == total
    # status says both: the budget stopped it, then the server went down (it said "stopped")
    (walk,) = _status_walks(capsys, out)
    assert walk["max_bytes"] == str(total) and walk["server_down"].startswith("HTTP 503 ")
    said = _status_text(capsys, out)
    assert (
        f"has not finished: stopped by its --max-bytes budget ({total} bytes), then, as it "
        "looked for work left, the server went down (HTTP 503 "
    ) in said
    assert "once it answers again, resume (a new budget of that size)" in said
    assert said.splitlines()[-1] == f"to resume: harvester harvest --out {out}"


def _status_text(capsys: pytest.CaptureFixture[str], out: Path) -> str:
    """``harvester status DIR``'s text."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    return capsys.readouterr().out


def _status_walks(capsys: pytest.CaptureFixture[str], out: Path) -> list[dict[str, object]]:
    """``harvester status DIR --json``'s unfinished walks (none: [])."""
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    walks: list[dict[str, object]] = json.loads(capsys.readouterr().out).get("walks", [])
    return walks


def _where_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[EmulatorThread, list[str]]:
    """The emulator, whose second dataset listing (of each run, after :func:`_measured`) is
    held at the gate, and the options of a ``--where`` run whose one match is image 1884803
    of dataset 51, its datasets walked one at a time (so that dataset 52's listing comes
    once dataset 51's files are stored)."""
    faults = f"first:ok|hold,hold:{GATE},only:webclient_api_images"
    emulator = make_emulator(preset="demo", faults=faults)
    config = tmp_path / "one-at-a-time.toml"
    config.write_text("walk_concurrency = 1\n", encoding="utf-8")
    common = [str(config), "--base-url", emulator.base_url, "--artifacts", ARTIFACTS]
    common += ["--rate", "none", "--where", "Gene Symbol=BUB1B"]
    return emulator, common


def test_a_where_run_filters_past_the_budget_and_stops_at_study_files_left(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A ``--where`` run whose budget is reached by dataset 51's files (image 1884803, its one
    match, and its study files) while dataset 52's listing is held: once that is answered,
    its images' annotations are asked (they decide whether they are work: none matches),
    and the run stops at dataset 52's study files, left to save (exit 8, storing nothing
    more); the rerun saves them alone and ends 0. Not asked, the images were taken for work
    left: see the next test."""
    emulator, common = _where_run(tmp_path, make_emulator)
    measured = _measured(capsys, emulator, tmp_path / "measured", *common, "--dataset", "51")
    total = _stored(measured)
    out = tmp_path / "out"
    command = [*common, "--dataset", "51", "--dataset", "52", "--out", str(out)]
    command += ["--max-bytes", str(total)]
    asked: list[int] = []

    def stored_then_count() -> bool:
        if _stored(out) != total:
            return False
        asked.append(_annotations(emulator))  # (dataset 51's, asked before its images)
        return True

    with released_when(emulator, GATE, stored_then_count, "stored the budget"):
        code, _stdout, err = _harvest(capsys, *command)
    assert code == EXIT_BUDGET, err
    assert err.strip().splitlines()[-1].startswith("stopped: the --max-bytes budget of ")
    assert asked == [1]
    assert _annotations(emulator) == 2  # (dataset 52's images filtered)
    assert _files(out) == _files(measured)
    assert _files(out, "study") == _files(measured, "study")
    code, stdout, err = _harvest(capsys, *command)
    assert code == 0, err
    assert stdout.startswith("done 0, skipped 2 (already done), failed 0; 1 image found")
    assert _files(out) == _files(measured)
    assert len(_files(out, "study")) > len(_files(measured, "study"))


def test_a_where_run_whose_rest_does_not_match_ends_as_complete(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Dataset 52's study files saved before (a run of it alone, which matched none of its
    images), the budget reached by dataset 51's files while dataset 52's listing is held:
    the run filters dataset 52's images past the budget, none matches, and it ends as a
    complete run (exit 0, no word of the budget, status with nothing pending), as its rerun
    does, storing nothing. It exited 8 saying the rest was pending, and the rerun, filtering
    those images, stored nothing and ended 0: a script looping on 8 ran it for nothing."""
    emulator, common = _where_run(tmp_path, make_emulator)
    measured = _measured(capsys, emulator, tmp_path / "measured", *common, "--dataset", "51")
    total = _stored(measured)
    out = tmp_path / "out"
    before = _stored(_measured(capsys, emulator, out, *common, "--dataset", "52"))
    assert not _files(out)  # (no image of dataset 52 matches)
    command = [*common, "--dataset", "51", "--dataset", "52", "--out", str(out)]
    command += ["--max-bytes", str(total)]
    with released_when(emulator, GATE, lambda: _stored(out) == before + total, "stored it"):
        code, stdout, err = _harvest(capsys, *command)
    assert code == 0, err
    assert "budget" not in err and "pending" not in err
    assert stdout.startswith("done 2 (imgdata 1, thumbnail 1), skipped 0 (already done)")
    assert _files(out) == _files(measured)
    assert not _status_walks(capsys, out)
    assert "pending" not in _status_text(capsys, out).splitlines()[-1]
    code, stdout, err = _harvest(capsys, *command)
    assert code == 0, err
    assert stdout.startswith(
        "done 0, skipped 2 (already done), failed 0; 1 image found\n0 B stored"
    )


def _annotations(emulator: EmulatorThread) -> int:
    """Map annotation requests the emulator answered."""
    answers = emulator.stats()["by_route"].get("webclient_api_annotations", {})
    return sum(answers.values())


def test_study_files_are_not_saved_past_the_budget(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A plate's study files, left to save once its images are stored (its runs' listing
    held until then), with a budget one byte short of them: they are not saved past it (the
    run stored no more than SIZE, exit 8); the same command, with a budget of its own,
    saves them first, fetching no image again, and ends complete. They were saved whole
    past the budget (by up to one object's files), the run ending 0."""
    emulator = make_emulator(
        preset="demo", faults=f"first:hold,hold:{GATE},only:/webclient/api/plate_acquisitions/"
    )
    command = ["--base-url", emulator.base_url, "--plate", "7375", "--artifacts", ARTIFACTS]
    command += ["--rate", "none", "--concurrency", str(CONCURRENCY)]
    measured = _measured(capsys, emulator, tmp_path / "measured", *command)
    images = sum(_files(measured).values())
    budget = _stored(measured) - 1
    out = tmp_path / "out"
    budgeted = [*command, "--out", str(out), "--max-bytes", str(budget)]

    def images_stored() -> bool:
        return sum(_files(out).values()) == images

    with released_when(emulator, GATE, images_stored, "stored the plate's images"):
        code, _out, err = _harvest(capsys, *budgeted)
    assert code == EXIT_BUDGET, err
    assert err.strip().splitlines()[-1].startswith("stopped: the --max-bytes budget of ")
    assert _stored(out) <= budget
    assert _files(out, "study") != _files(measured, "study")
    code, stdout, err = _harvest(capsys, *budgeted)
    assert code == 0, err
    assert stdout.startswith("done 0, skipped 16 (already done)")
    assert _files(out, "study") == _files(measured, "study")
    assert _files(out) == _files(measured)


@pytest.mark.parametrize(
    ("status", "said"),
    [(403, "the session this run sent has ended"), (401, "no longer takes the credentials")],
)
def test_the_session_ending_after_the_budget_is_the_budgets_stop(
    tmp_path: Path, status: int, said: str
) -> None:
    """The watch's verdict that what the run sent stopped working, given after the budget
    was reached (the walk going on), stops the run as the budget's stop: exit 8, noted with
    what to give again first, not 2 (a script would have taken it for a refusal to fix and
    never continued). Before the budget it is 2, as always."""
    cfg = HarvestConfig(base_url="http://127.0.0.1:9", out=tmp_path / "o", images=(1,), max_bytes=1)
    before = Harvest(cfg)
    before._session_ended(status, "HTTP 403 Forbidden: Not logged in")
    assert before.summary.exit_code == 2
    after = Harvest(cfg)
    after._spend(1)
    after._session_ended(status, "HTTP 403 Forbidden: Not logged in")
    assert after.summary.exit_code == EXIT_BUDGET
    assert not (after.summary.session_ended or after.summary.credentials_refused)
    assert said in after.summary.after_budget
    assert after.summary.after_budget.endswith(" first")


@pytest.mark.parametrize(
    ("status", "said", "again"),
    [
        (403, "the session its run sent had ended", "log in to OMERO.web again"),
        (
            401,
            "the server no longer took the credentials its run sent",
            "renew the token or password",
        ),
    ],
)
def test_status_says_the_budget_then_the_session_end(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, status: int, said: str, again: str
) -> None:
    """A walk the budget stopped, whose session then ended as it looked for work left, as the
    run journals it: status says both, and that the resume needs a new login first (text and
    ``--json``). It said a plain budget stop ("stopped", the resume line alone), though that
    resume would refuse to start before one."""
    out = tmp_path / "o"
    cfg = HarvestConfig(base_url="http://127.0.0.1:9", out=out, images=(1,), max_bytes=1)
    run = Harvest(cfg)
    run._spend(1)
    run._session_ended(status, "HTTP 403 Forbidden: Not logged in")
    run._walk_started = cfg.walk_targets(run.summary.run_id)

    async def journal() -> None:
        run_id = new_run_id()
        async with Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store:
            await store.save_run_config({"run": run_id, "config": {"artifacts": ["thumbnail"]}})
            await run._record_stop(store)

    anyio.run(journal)
    (walk,) = _status_walks(capsys, out)
    key = "session_ended" if status == 403 else "credentials_refused"
    assert (walk["max_bytes"], walk[key]) == ("1", "HTTP 403 Forbidden: Not logged in")
    text = _status_text(capsys, out)
    assert (
        f"has not finished: stopped by its --max-bytes budget (1 byte), then, as it looked for "
        f"work left, {said} (HTTP 403 Forbidden: Not logged in): {again}"
    ) in text
    assert "then resume (a new budget of that size)" in text


def test_a_sample_chosen_before_the_budget_has_no_unfinished_walk(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A ``--sample`` run whose budget is reached by its first image file, after its walk
    ended and its sample was chosen (and journaled whole): status counts the sample, the
    images not fetched pending, with no ``has not finished`` walk line (the budget's stop
    journaled no unfinished walk over the sample's finished one)."""
    emulator = make_emulator(preset="demo")
    common = ["--base-url", emulator.base_url, "--project", "51", "--sample", "4"]
    common += ["--artifacts", ARTIFACTS, "--rate", "none", "--concurrency", "1"]
    study = sum(
        _files(_measured(capsys, emulator, tmp_path / "measured", *common), "study").values()
    )
    out = tmp_path / "out"
    code, _stdout, err = _harvest(capsys, *common, "--out", str(out), "--max-bytes", str(study + 1))
    assert code == EXIT_BUDGET, err
    assert not _status_walks(capsys, out)
    text = _status_text(capsys, out)
    assert "has not finished" not in text
    assert (
        "\nthumbnail " in text
        and text.splitlines()[-1] == f"to resume: harvester harvest --out {out}"
    )
