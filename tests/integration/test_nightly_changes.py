"""A folder mirrored night after night says what changed on the server (README: Resume,
refresh, re-check; Rerunning into a folder).

A cron job resuming ``harvester harvest --out DIR --refresh-labels`` every night printed
``done 1 ..., N images found``: an image gone from the study's listing, a curator's edited
label, a renamed dataset all passed without a word, and an image removed kept its row in
index.csv with nothing to tell it from the others. Each night's summary now has one line
``changes on the server since the last run: ...``, the images no longer listed named by id
(under ``--quiet`` too: the mirror holds more than the server), and nothing is fetched again.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import run_cli
from hiding_app import HidingApp

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import MapAnn
from harvester.emulator.catalogue_presets import LINKS_PROJECT_ID, LINKS_SECOND_PROJECT_ID
from harvester.emulator.faults import FaultInjector, parse_faults
from harvester.retry import zero_waits

NEW, REMOVED, RELABELLED = 1884804, 1884802, 1884803  # the demo's dataset 51: 1884801-1884804
RENAMED_DATASET = 51


class NightlyApp(HidingApp):
    """The demo with images hidden from the listings (:class:`HidingApp`), dataset
    ``RENAMED_DATASET`` named ``renamed`` once set, and ``labels`` replacing an image's
    ``Gene Symbol``: a study as a curator edits it between two nights."""

    def __init__(self) -> None:
        super().__init__()
        self.renamed = ""
        self.labels: dict[int, str] = {}
        catalogue = self.inner.site.catalogue
        dataset, annotations = catalogue._dataset, catalogue.image_annotations

        def named(spec: Any, index: int) -> Any:
            found = dataset(spec, index)
            if self.renamed and found.id == RENAMED_DATASET:
                return dataclasses.replace(found, name=self.renamed)
            return found

        def edited(image_id: int) -> list[MapAnn]:
            gene = self.labels.get(image_id)
            return [
                dataclasses.replace(
                    ann, values=tuple((k, gene if k == "Gene Symbol" else v) for k, v in ann.values)
                )
                for ann in annotations(image_id)
            ] if gene else annotations(image_id)  # fmt: skip

        catalogue._dataset = named
        catalogue.image_annotations = edited


def night(out: Path, *flags: str) -> tuple[int, str, str]:
    """The nightly resume of README's cron line: exit code, stdout, stderr."""
    result = run_cli("harvest", "--out", str(out), "--refresh-labels", *flags)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        return {row["image_id"]: row for row in csv.DictReader(f)}


def test_each_night_says_what_changed_and_fetches_only_the_new(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """New, gone, relabelled, renamed: one line says each; nothing unchanged is fetched."""
    app = NightlyApp()
    app.hidden = {NEW}  # published later
    emu = make_emulator(app=app)
    out = tmp_path / "mirror"
    first = run_cli(
        "harvest", "--base-url", emu.base_url, "--project", "51", "--rate", "none",
        "--artifacts", "thumbnail", "-q", "--out", str(out),
    )  # fmt: skip
    assert (first.returncode, first.stdout) == (0, "")  # a first run has no news: all is new

    app.hidden = {REMOVED}
    app.renamed = "CDK5RAP2-C v2"
    app.labels[RELABELLED] = "NEWGENE"
    emu.reset_stats()
    code, stdout, _ = night(out)
    assert code == 0
    assert (
        "changes on the server since the last run: 1 image new to the folder; 1 image no "
        f"longer listed by the server (files and index rows kept): {REMOVED}; labels changed "
        "on 1 image; 2 images renamed or moved\n"
    ) in stdout
    assert emu.stats()["image_requests"] == 1  # the new image's thumbnail, nothing else
    index = rows(out)
    assert index[str(RELABELLED)]["Gene Symbol"] == "NEWGENE"
    assert index[str(RELABELLED)]["dataset_name"] == "CDK5RAP2-C v2"
    assert index[str(REMOVED)]["thumbnail_path"]  # kept, as the line says
    assert (out / index[str(REMOVED)]["thumbnail_path"]).is_file()

    # The next night, quiet as cron runs it: the image still gone is said again, alone.
    code, stdout, _ = night(out, "-q")
    assert code == 0
    assert stdout == (
        "changes on the server since the last run: 1 image no longer listed by the server "
        f"(files and index rows kept): {REMOVED}\n"
    )

    app.hidden = set()  # listed again, in its dataset renamed meanwhile: its row follows
    emu.reset_stats()
    code, stdout, _ = night(out)
    assert code == 0
    assert "changes on the server since the last run: 1 image renamed or moved\n" in stdout
    assert rows(out)[str(REMOVED)]["dataset_name"] == "CDK5RAP2-C v2"
    code, stdout, _ = night(out)  # a night of no change: no line
    assert code == 0
    assert "changes on the server" not in stdout
    assert emu.stats()["image_requests"] == 0  # (both nights)


def test_another_servers_images_are_not_said_gone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of two servers (the same project of each): an image of the first that the
    second does not list is no image gone from the second (ids are one server's): no line."""
    first = make_emulator(preset="demo")
    app = HidingApp()
    app.hidden = {REMOVED}
    second = make_emulator(app=app)
    out = tmp_path / "two"
    for emu in (first, second):
        done = run_cli(
            "harvest", "--base-url", emu.base_url, "--project", "51", "--rate", "none",
            "--artifacts", "thumbnail", "--out", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "no longer listed" not in done.stdout, done.stdout


def test_labels_asked_for_the_first_time_are_no_change(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An image a --no-labels run journaled (its labels never asked) gets its labels from
    the next run with labels: no "labels changed" (nothing was edited on the server)."""
    app = HidingApp()
    app.hidden = {NEW}
    emu = make_emulator(app=app)
    out = tmp_path / "labels"
    said = []
    for flags in ([], ["--no-labels"], []):
        done = run_cli(
            "harvest", "--base-url", emu.base_url, "--project", "51", "--rate", "none",
            "--artifacts", "thumbnail", "--out", str(out), *flags,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        said.append(done.stdout)
        app.hidden = set()  # published after the first night, harvested without labels
    assert "changes on the server since the last run: 1 image new to the folder\n" in said[1]
    assert "changes on the server" not in said[2], said[2]
    assert rows(out)[str(NEW)]["Gene Symbol"]  # asked, and in the index now


def harvest(capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *flags: str) -> str:
    """One in-process harvest into ``out`` (project 51's thumbnails unless ``flags`` say
    other targets and kinds): what it printed."""
    if not {"--image", "--project"} & set(flags):
        flags = ("--project", "51", "--artifacts", "thumbnail", *flags)
    with zero_waits():
        main(["harvest", "--base-url", base_url, "--rate", "none", "--out", str(out), *flags])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out + captured.err


def test_images_an_unfinished_walk_never_journaled_are_not_new_on_the_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A night whose listing of a dataset failed (or a walk killed, or stopped) journaled
    none of its images: the next night journals them, which the server listed all along,
    not "4 images new to the folder". Once a walk has listed everything, a new image is
    news again."""
    app = HidingApp()
    app.hidden = {NEW}
    emu = make_emulator(app=app, faults="first:500,only:/webclient/api/images/")
    out = tmp_path / "mirror"
    assert "walk failed" in harvest(capsys, emu.base_url, out, "--max-retries", "0")
    emu.server.faults = FaultInjector(parse_faults(""))
    said = harvest(capsys, emu.base_url, out)
    # (either dataset's listing may have failed: the walk lists both at once)
    assert "failed 0" in said and "walk failed" not in said, said
    assert "changes on the server" not in said, said
    app.hidden = set()
    said = harvest(capsys, emu.base_url, out)
    assert "changes on the server since the last run: 1 image new to the folder\n" in said


def test_images_another_selection_left_out_are_not_new_on_the_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A run of one --where, then the targets without it: the images the first left out
    are journaled now, but the server did not add them: no "new to the folder"."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "mirror"
    harvest(capsys, emu.base_url, out, "--where", f"image_id={REMOVED}")
    said = harvest(capsys, emu.base_url, out)
    assert "done 7 " in said and "changes on the server" not in said, said


def test_an_image_given_by_id_whose_place_is_learnt_later_is_not_renamed(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """An image harvested by id without imgData is journaled by its id alone; its name and
    dataset, told later by its imgData or by a walk of its project, were said to be "1
    image renamed or moved", though nothing changed on the server."""
    emu = make_emulator(preset="demo")
    for first, then in (("thumbnail", "imgdata"), ("thumbnail", "")):
        out = tmp_path / f"{first}-{then}"
        harvest(capsys, emu.base_url, out, "--image", str(REMOVED), "--artifacts", first)
        flags = ("--image", str(REMOVED), "--artifacts", then) if then else ()
        said = harvest(capsys, emu.base_url, out, *flags)
        assert "failed 0" in said and "changes on the server" not in said, said
        assert rows(out)[str(REMOVED)]["dataset_name"]  # learnt, and in the index


def test_an_image_in_two_parents_placed_by_a_wider_walk_is_not_moved(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The links preset: dataset 62002 (4 images, one linked in from 62001) is in projects
    2001 and 2002. A walk of 2002, then one of 2001, places 62002's images under 2001 and
    the linked one in 62001 (the lowest ids: README, index.csv), which the server did not
    change: it said "4 images renamed or moved"."""
    emu = make_emulator(preset="links")
    out = tmp_path / "links"
    for project in (LINKS_SECOND_PROJECT_ID, LINKS_PROJECT_ID, LINKS_PROJECT_ID):
        said = harvest(
            capsys, emu.base_url, out, "--project", str(project), "--artifacts", "thumbnail"
        )
        assert "failed 0" in said and "changes on the server" not in said, said


def test_many_images_gone_are_logged_capped_as_the_summary_says_them(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A screen's images all but one removed from the server: the log line of the images no
    longer listed names 10 ids and "and N more", as the summary line does (it named every
    id: about 8 MB of log for a dataset of a million images)."""
    app = HidingApp()
    emu = make_emulator(app=app)
    out = tmp_path / "screen"
    first = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", "2302", "--rate", "none",
        "--artifacts", "metadata", "--out", str(out),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    ids = sorted(int(i) for i in rows(out))[:-1]  # (one left: the screen holds an image)
    assert len(ids) > 12
    app.hidden = set(ids)
    code, stdout, stderr = night(out, "--debug")  # (the line is logged at INFO)
    assert code == 0
    shown = ", ".join(str(i) for i in ids[:10])
    said = (
        f"{len(ids)} images no longer listed by the server (files and index rows kept): "
        f"{shown} and {len(ids) - 10} more"
    )
    assert said in stdout
    logged = [line for line in stderr.splitlines() if "no longer listed" in line]
    assert logged and all(line.endswith(said) for line in logged), stderr
    assert str(ids[10]) not in stderr
