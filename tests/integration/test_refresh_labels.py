"""``--refresh-labels``: an annotation edited on the server reaches index.csv on a resume.

A resume takes the labels of journaled images from the journal (no annotation request for a
folder already labelled), so a nightly mirror never saw a curator's fix of a gene symbol or a
phenotype: index.csv kept the value of the night the image was first harvested. With
``--refresh-labels`` the walk asks every page's labels again; images whose labels changed are
journaled again and index.csv shows the new value, while no image file is fetched again.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import harvest, standard_input

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_PROJECT_ID, DEMO_PROJECT_IMAGE_IDS, DEMO_SCREEN_ID
from harvester.errors import PROBLEMS_LOGGER
from harvester.shard import in_shard

TARGETS: dict[str, Any] = {"screens": (DEMO_SCREEN_ID,), "projects": (DEMO_PROJECT_ID,)}
OLD, NEW = "increased cell size", "increased cell volume"


class Curated:
    """The demo application whose map annotations say ``NEW`` where they said ``OLD``
    once ``edited`` is set: a curator's fix of a value on the server."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")
        self.edited = False

    def handle(self, req: Any) -> Any:
        resp = self.inner.handle(req)
        if self.edited and req.path.startswith("/webclient/api/annotations/"):
            return dataclasses.replace(resp, body=resp.body.replace(OLD.encode(), NEW.encode()))
        return resp

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _phenotypes(out: Path) -> list[str]:
    with open(out / "index.csv", newline="", encoding="utf-8") as handle:
        return [row["Phenotype"] for row in csv.DictReader(handle)]


def _annotation_requests(emu: EmulatorThread) -> int:
    return sum((emu.stats()["by_route"].get("webclient_api_annotations") or {}).values())


def test_an_edited_annotation_reaches_index_csv_with_refresh_labels(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Without the flag a resume keeps the journaled value; with it, the server's new one."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    assert harvest(emu.base_url, out, artifacts=("metadata",), **TARGETS).exit_code == 0
    first = _phenotypes(out)
    assert sum(OLD in value for value in first) >= 2  # a screen's well and a project's image

    app.edited = True
    emu.reset_stats()
    assert harvest(emu.base_url, out, artifacts=("metadata",), **TARGETS).exit_code == 0
    assert _annotation_requests(emu) == 0  # a plain resume asks no labels: the old value stays
    assert _phenotypes(out) == first

    emu.reset_stats()
    summary = harvest(emu.base_url, out, artifacts=("metadata",), refresh_labels=True, **TARGETS)
    assert summary.exit_code == 0
    assert _annotation_requests(emu) > 0
    assert emu.stats()["image_requests"] == 0  # no file is fetched again
    refreshed = _phenotypes(out)
    assert refreshed == [value.replace(OLD, NEW) for value in first]

    emu.reset_stats()  # the next plain resume keeps what the refresh journaled
    assert harvest(emu.base_url, out, artifacts=("metadata",), **TARGETS).exit_code == 0
    assert _phenotypes(out) == refreshed


def test_a_resume_given_refresh_labels_on_the_command_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``harvester harvest --out DIR --refresh-labels`` (a cron line) refreshes every set."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    for target in (["--screen", str(DEMO_SCREEN_ID)], ["--project", str(DEMO_PROJECT_ID)]):
        argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", *target]
        assert main([*argv, "--artifacts", "metadata", "--out", str(out)]) == 0
    app.edited = True
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    phenotypes = _phenotypes(out)
    assert not any(OLD in value for value in phenotypes)
    assert sum(NEW in value for value in phenotypes) >= 2


def test_refresh_labels_with_no_labels_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """Two flags that contradict each other: one error line, exit 2, no folder made."""
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN_ID)]
    assert main([*argv, "--out", str(out), "--no-labels", "--refresh-labels"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "--refresh-labels" in err and "--no-labels" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_resume_given_refresh_labels_replays_a_set_without_labels_as_it_was(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A set harvested with ``--no-labels`` beside one with labels: the cron line refreshes
    the labelled set and replays the other as it was (it was refused, exit 2 every night,
    told to leave out a ``--no-labels`` nobody typed)."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    metadata = ["--artifacts", "metadata"]
    assert main([*argv, *metadata, "--screen", str(DEMO_SCREEN_ID)]) == 0
    assert main([*argv, *metadata, "--project", str(DEMO_PROJECT_ID), "--no-labels"]) == 0
    app.edited = True
    capsys.readouterr()
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert "error:" not in capsys.readouterr().err
    assert sum(NEW in value for value in _phenotypes(out)) >= 1
    assert not any("refreshed no labels" in line for line in _problems(caplog))


def test_a_quiet_refresh_of_a_folder_harvested_without_labels_says_it_refreshed_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, emulator: EmulatorThread
) -> None:
    """Every set harvested with --no-labels: the quiet cron line refreshes nothing, and says
    so in one warning line (-q hides the resuming lines that said it), exit 0."""
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emulator.base_url, "--rate", "none", "-q", "--out", str(out)]
    metadata = ["--artifacts", "metadata", "--no-labels"]
    assert main([*argv, *metadata, "--project", str(DEMO_PROJECT_ID)]) == 0
    assert main([*argv, *metadata, "--image", str(DEMO_PROJECT_IMAGE_IDS[0])]) == 0
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert _problems(caplog) == [
        f"--refresh-labels refreshed no labels of {out}: every target set of it was harvested"
        " with --no-labels (harvest the targets again without it to ask labels)"
    ]


def test_a_refresh_whose_labelled_set_cannot_be_replayed_says_so_not_no_labels(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    emulator: EmulatorThread,
) -> None:
    """A labelled set whose ids came on standard input (not replayable: they are gone)
    beside a ``--no-labels`` set: the quiet cron line refreshes nothing and its warning
    names the labelled set not resumed and how to refresh it (it said every set was
    harvested with --no-labels, which was not the cause); exit 0, nothing being left."""
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emulator.base_url, "--rate", "none", "-q", "--out", str(out)]
    argv += ["--artifacts", "metadata"]
    ids = "".join(f"{image_id}\n" for image_id in DEMO_PROJECT_IMAGE_IDS[:2])
    with standard_input(ids.encode()):
        assert main([*argv, "--ids-from", "-"]) == 0
    assert main([*argv, "--project", str(DEMO_PROJECT_ID), "--no-labels"]) == 0
    capsys.readouterr()
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert _problems(caplog) == [
        f"--refresh-labels refreshed no labels of {out}: its target set harvested with labels"
        " was not resumed (this command cannot replay it: give the targets again, harvester"
        f" harvest --out {out} TARGETS --refresh-labels), and the other was harvested with"
        " --no-labels"
    ]


def test_a_quiet_refresh_of_a_folder_harvested_in_shards_says_it_refreshed_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    emulator: EmulatorThread,
) -> None:
    """A folder harvested in shards, nothing left: the cron line resumes no set (each is
    its shard's) and says in one warning that it refreshed nothing, with the command that
    does (it said only "nothing to resume"); that command refreshes without the warning."""
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emulator.base_url, "--rate", "none", "-q", "--out", str(out)]
    ids = ",".join(map(str, DEMO_PROJECT_IMAGE_IDS[:4]))
    for shard in ("0/2", "1/2"):
        assert main([*argv, "--artifacts", "metadata", "--image", ids, "--shard", shard]) == 0
    capsys.readouterr()
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert _problems(caplog) == [
        f"--refresh-labels refreshed no labels of {out}: this command resumes none of its "
        "target sets (a set harvested in shards refreshes by its own shards: harvester "
        f"harvest --out {out} --shard K/N --refresh-labels, for each K)"
    ]
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--shard", "0/2", "--refresh-labels"]) == 0
    assert "error:" not in capsys.readouterr().err
    assert not any("refreshed no labels" in line for line in _problems(caplog))


def _rows(out: Path) -> dict[str, str]:
    """index.csv's image ids, each with its Phenotype."""
    with open(out / "index.csv", newline="", encoding="utf-8") as handle:
        return {row["image_id"]: row.get("Phenotype", "") for row in csv.DictReader(handle)}


CELL_SIZE, CENTROSOME = "Phenotype~cell size", "Phenotype~centrosome"
NO_LONGER = (
    "5 images no longer match {terms} (labels changed on the server): their rows left"
    " index.csv, their files kept"
)


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The problem lines logged (what ``-q`` still prints), and forget them."""
    said = [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]
    caplog.clear()
    return said


def test_images_whose_refreshed_labels_no_longer_match_leave_index_csv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A refresh whose edited labels no longer match --where: those rows leave index.csv and
    labels.csv (one line says so, -q too), their files stay; `harvester index` keeps them
    out, and a selection that matches them lists them again, fetching nothing. They kept
    their rows with the labels that had matched, listed as selected."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    where = ["--where", CELL_SIZE, "--where", CENTROSOME]
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    targets = ["--screen", str(DEMO_SCREEN_ID), "--project", str(DEMO_PROJECT_ID)]
    labelled = [*targets, "--artifacts", "metadata", "--label-key", "Phenotype"]
    assert main([*argv, *labelled, *where]) == 0
    first = _rows(out)
    moved = sorted(image for image, value in first.items() if OLD in value)
    assert len(moved) == 5 and len(first) == 16

    app.edited = True
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    terms = "--where 'Phenotype~cell size' --where 'Phenotype~centrosome'"
    assert NO_LONGER.format(terms=terms) in _problems(caplog)
    kept = {image: value for image, value in first.items() if image not in moved}
    assert _rows(out) == kept
    assert OLD not in (out / "labels.csv").read_text()
    assert all((out / "images").rglob(f"{image}.metadata.json") for image in moved)

    assert main(["index", str(out)]) == 0  # (from the journals: still out)
    assert _rows(out) == kept
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q"]) == 0  # (said once)
    assert not any("no longer match" in line for line in _problems(caplog))
    assert _rows(out) == kept

    emu.reset_stats()  # a selection of the new value lists them again, fetching nothing
    assert main([*argv, *labelled, "--where", "Phenotype~cell volume"]) == 0
    assert emu.stats()["image_requests"] == 0
    assert _rows(out) == kept | {image: first[image].replace(OLD, NEW) for image in moved}


class Renamed(Curated):
    """:class:`Curated` whose plate 1977's image is also renamed once ``edited`` is set."""

    def handle(self, req: Any) -> Any:
        resp = super().handle(req)
        if self.edited:
            return dataclasses.replace(resp, body=resp.body.replace(b"1977 [Well", b"2077 [Well"))
        return resp


def test_an_image_left_out_for_its_name_whose_labels_still_match_keeps_its_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Review lastreadI: an image renamed on the server (a term on image_name leaves it out)
    whose labels changed but still match their term was said to 'no longer match (labels
    changed on the server)' and lost its row; only labels that no longer match unlist it.
    labels32: its row shows its labels now (it kept the old ones until a run selected it
    again), and `harvester index` keeps them."""
    app = Renamed()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    argv += ["--screen", str(DEMO_SCREEN_ID), "--artifacts", "metadata"]
    assert main([*argv, "--where", "Phenotype~increased", "--where", "image_name~1977"]) == 0
    first = _rows(out)
    assert OLD in first.values()
    app.edited = True
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert not any("no longer match" in line for line in _problems(caplog))
    now = {image: value.replace(OLD, NEW) for image, value in first.items()}
    assert now != first and _rows(out) == now
    assert main(["index", str(out)]) == 0
    assert _rows(out) == now


def test_new_labels_left_for_a_selection_that_would_unlist_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """labels32: the renamed image's new labels are not journaled where another set of the
    folder (`~cell size`, older, so replayed after) matches its old labels and not its new
    ones: journaled so, that set would find them unchanged and never take its row out."""
    app = Renamed()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    argv += ["--screen", str(DEMO_SCREEN_ID), "--artifacts", "metadata"]
    assert main([*argv, "--where", CELL_SIZE]) == 0
    assert main([*argv, "--where", "Phenotype~increased", "--where", "image_name~1977"]) == 0
    first = _rows(out)
    app.edited = True
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    n = sum(OLD in value for value in first.values())
    said = [line for line in _problems(caplog) if "no longer" in line]
    assert n > 1 and said == [
        f"{n} images no longer match --where 'Phenotype~cell size' (labels changed on the"
        " server): their rows left index.csv, their files kept"
    ]
    assert _rows(out) == {image: value for image, value in first.items() if OLD not in value}


def test_a_refresh_of_a_folder_of_one_run_per_class(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """One run per class into one folder: the class whose images' labels changed loses
    their rows; the other class keeps its rows. The resume replays the newest set first,
    the one that never selected those images: it leaves them to the other (journaled with
    their labels now, that set found them unchanged and kept them)."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    targets = ["--screen", str(DEMO_SCREEN_ID), "--project", str(DEMO_PROJECT_ID)]
    for term in (CELL_SIZE, CENTROSOME):  # (the newest set is replayed first)
        assert main([*argv, *targets, "--artifacts", "metadata", "--where", term]) == 0
    before = _rows(out)
    app.edited = True
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    assert NO_LONGER.format(terms="--where 'Phenotype~cell size'") in _problems(caplog)
    assert _rows(out) == {image: value for image, value in before.items() if OLD not in value}


def test_a_row_a_later_set_of_the_resume_lists_again_is_not_said_to_have_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """labels32: one run per class, the newer set (replayed first) `~cell size`, the older
    `~cell volume` of the screen alone. A refresh renames the class: the first replay takes
    its images out, the second lists the screen's again, and the first's line said all of
    them "left index.csv". Now one line, once both ran, counts those still out: the
    project's, which the second set does not walk."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    screen = ["--screen", str(DEMO_SCREEN_ID), "--artifacts", "metadata"]
    assert main([*argv, *screen, "--where", "Phenotype~cell volume"]) == 0
    both = [*screen, "--project", str(DEMO_PROJECT_ID)]
    assert main([*argv, *both, "--where", CELL_SIZE]) == 0
    before = _rows(out)
    moved = {image for image, value in before.items() if OLD in value}
    in_project = {image for image in moved if int(image) in DEMO_PROJECT_IMAGE_IDS}
    assert len(moved) == 5 and 0 < len(in_project) < 5
    app.edited = True
    caplog.clear()
    assert main(["harvest", "--out", str(out), "-q", "--refresh-labels"]) == 0
    n = len(in_project)
    assert [line for line in _problems(caplog) if "no longer" in line] == [
        f"{n} image{'s' if n > 1 else ''} no longer {'match' if n > 1 else 'matches'}"
        f" --where 'Phenotype~cell size' (labels changed on the server):"
        f" {'their rows' if n > 1 else 'its row'} left index.csv,"
        f" {'their files' if n > 1 else 'its files'} kept"
    ]
    assert _rows(out) == {
        image: value.replace(OLD, NEW) for image, value in before.items() if image not in in_project
    }


def test_a_shard_whose_refreshed_labels_no_longer_match_says_harvester_index_drops_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Review of labels31: a shard writes no index.csv (harvester index writes it once), and
    its line said the rows had left index.csv, which still listed them. It says they leave
    it when it is written; `harvester index` then leaves out the shard's images that no
    longer match, and keeps the other shard's, whose labels no run asked again."""
    app = Curated()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emu.base_url, "--rate", "none", "-q", "--out", str(out)]
    run = [*argv, "--screen", str(DEMO_SCREEN_ID), "--project", str(DEMO_PROJECT_ID)]
    run += ["--artifacts", "metadata", "--where", CELL_SIZE]
    assert main(run) == 0
    first = _rows(out)
    moved = {image for image, value in first.items() if OLD in value}
    assert len(moved) == 5

    app.edited = True
    caplog.clear()
    assert main([*run, "--shard", "0/2", "--refresh-labels"]) == 0
    mine = {image for image in moved if in_shard(int(image), 0, 2)}
    assert 0 < len(mine) < len(moved)  # (the other shard's are asked by no run here)
    assert [line for line in _problems(caplog) if "no longer match" in line] == [
        f"{len(mine)} images no longer match --where 'Phenotype~cell size' (labels changed on"
        " the server): their rows leave index.csv when it is written (harvester index), their"
        " files kept"
    ]
    assert _rows(out) == first  # (not written by the shard)
    assert main(["index", str(out)]) == 0
    assert set(_rows(out)) == set(first) - mine


class Unanswered(Curated):
    """The demo application whose annotation requests fail (HTTP 500) once ``broken`` is
    set: the server down for that one view on the night of a refresh."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def handle(self, req: Any) -> Any:
        resp = self.inner.handle(req)
        if self.broken and req.path.startswith("/webclient/api/annotations/"):
            return dataclasses.replace(resp, status=500, body=b"server error")
        return resp


@pytest.mark.parametrize(
    "targets",
    [{"images": (DEMO_PROJECT_IMAGE_IDS[0],)}, {"projects": (DEMO_PROJECT_ID,)}],
    ids=["image", "project"],
)
def test_a_refresh_whose_annotation_requests_fail_keeps_the_labels(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], targets: dict[str, Any]
) -> None:
    """A refresh that cannot ask the labels is a failure (exit 1) that leaves index.csv's
    labels as they were, also after the next plain resume. An image given by id was journaled
    with none (its annotation request failed), which erased its labels for good."""
    app = Unanswered()
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    run = {"artifacts": ("metadata",), "max_retries": 0, **targets}
    assert harvest(emu.base_url, out, **run).exit_code == 0
    first = _phenotypes(out)
    assert any(OLD in value for value in first)

    app.broken = True
    assert harvest(emu.base_url, out, refresh_labels=True, **run).exit_code == 1
    assert _phenotypes(out) == first

    app.broken = False
    assert harvest(emu.base_url, out, **run).exit_code == 0
    assert _phenotypes(out) == first


@pytest.mark.parametrize("given", ["images", "ids_from"])
def test_a_first_run_whose_annotation_request_fails_leaves_them_to_the_next_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], given: str
) -> None:
    """An image given by id whose annotation request fails on the folder's first run: the
    run fails (exit 1, the labels named), its row has no labels, and the next plain resume
    asks again and fills them. It was journaled as "asked, none": never asked again."""
    app = Unanswered()
    emu = make_emulator(app=app)
    out, ids = tmp_path / "out", tmp_path / "ids.txt"
    ids.write_text(f"{DEMO_PROJECT_IMAGE_IDS[0]}\n")
    targets = {"images": (DEMO_PROJECT_IMAGE_IDS[0],)} if given == "images" else {"ids_from": ids}
    run = {"artifacts": ("metadata",), "max_retries": 0, **targets}
    app.broken = True
    summary = harvest(emu.base_url, out, **run)
    assert summary.exit_code == 1
    assert [w.split(":")[0] for w in summary.walk_failures] == ["labels of 1 image"]
    assert summary.done == 1  # (its file does not need its labels)
    assert b"Phenotype" not in (out / "index.csv").read_bytes()

    app.broken = False
    emu.reset_stats()
    assert harvest(emu.base_url, out, **run).exit_code == 0
    assert _annotation_requests(emu) == 1
    assert any(OLD in value for value in _phenotypes(out))
    emu.reset_stats()  # asked once: the resume after it asks nothing
    assert harvest(emu.base_url, out, **run).exit_code == 0
    assert _annotation_requests(emu) == 0


def test_refresh_labels_with_labels_false_in_a_config_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """The two settings in one config file: exit 2, the file named, nothing made."""
    config = tmp_path / "nightly.toml"
    config.write_text(
        f'base_url = "{emulator.base_url}"\nprojects = [{DEMO_PROJECT_ID}]\n'
        "labels = false\nrefresh_labels = true\n"
    )
    out = tmp_path / "out"
    assert main(["harvest", str(config), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(f"error: {config}: refresh_labels: ")
    assert "hint: remove labels = false" in err
    assert not out.exists()


def test_refresh_labels_with_a_plan_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    emulator: EmulatorThread,
) -> None:
    """A run from a plan walks nothing (its labels are the plan's): --refresh-labels there
    asked nothing and said nothing, exit 0. Refused, exit 2, given with --from-plan; a
    resume replaying the plan's set replays it as it was (exit 0), and -q says in one
    warning line that nothing was refreshed."""
    out = tmp_path / "plan"
    plan = ["plan", "--base-url", emulator.base_url, "--project", str(DEMO_PROJECT_ID)]
    assert main([*plan, "--out", str(out), "--artifacts", "metadata", "-q", "--rate", "none"]) == 0
    run = ["harvest", "--out", str(out), "-q", "--rate", "none"]
    assert main([*run, "--from-plan", str(out)]) == 0
    capsys.readouterr()

    assert main([*run, "--from-plan", str(out), "--refresh-labels"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "error: --refresh-labels: a run from a plan asks no labels: it takes the plan's, "
        "asked when the plan was made"
    )
    assert "harvester plan ... --force" in err

    # A resume replaying the plan's set (a nightly cron line) replays it as it was, as a set
    # harvested with --no-labels: refused, the cron line ended 2 every night for that set.
    caplog.clear()
    assert main([*run, "--refresh-labels"]) == 0
    assert "error:" not in capsys.readouterr().err
    assert _problems(caplog) == [
        f"--refresh-labels refreshed no labels of {out}: its target set is a plan's, whose"
        " labels are the plan's (make the plan again, harvester plan ... --force, to ask"
        " them again)"
    ]


def test_the_resume_line_of_a_set_without_labels_does_not_say_it_is_refreshed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """The set harvested with ``--no-labels`` is not refreshed: its resuming line leaves
    ``--refresh-labels`` out of "given now" and says so; the labelled set's line keeps it."""
    out = tmp_path / "out"
    argv = ["harvest", "--base-url", emulator.base_url, "--rate", "none", "-q", "--out", str(out)]
    metadata = ["--artifacts", "metadata"]
    assert main([*argv, *metadata, "--screen", str(DEMO_SCREEN_ID)]) == 0
    assert main([*argv, *metadata, "--project", str(DEMO_PROJECT_ID), "--no-labels"]) == 0
    capsys.readouterr()
    assert main(["harvest", "--out", str(out), "--refresh-labels", "--rate", "none"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("resuming")]
    unlabelled = [line for line in lines if "--no-labels" in line.split("; given now")[0]]
    labelled = [line for line in lines if line not in unlabelled]
    assert len(unlabelled) == 1 and len(labelled) == 1, lines
    assert labelled[0].endswith("; given now: --rate none --refresh-labels"), labelled
    assert unlabelled[0].split("; given now: ")[1].startswith("--rate none;"), unlabelled
    assert "--refresh-labels" not in unlabelled[0], unlabelled
    assert "labels not refreshed (this set was harvested with --no-labels)" in unlabelled[0]


def test_the_resume_line_of_a_plan_set_says_its_labels_are_the_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """A plan's set replayed by a resume given ``--refresh-labels``: its resuming line
    leaves the flag out of "given now" and says the labels are the plan's (it said the set
    was harvested with ``--no-labels``, which nobody gave)."""
    out = tmp_path / "plan"
    plan = ["plan", "--base-url", emulator.base_url, "--project", str(DEMO_PROJECT_ID)]
    assert main([*plan, "--out", str(out), "--artifacts", "metadata", "-q", "--rate", "none"]) == 0
    run = ["harvest", "--out", str(out), "--rate", "none"]
    assert main([*run, "-q", "--from-plan", str(out)]) == 0
    capsys.readouterr()
    assert main([*run, "--refresh-labels"]) == 0
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("resuming")]
    said = "; given now: --rate none; labels not refreshed (its labels are its plan's)"
    assert line.endswith(said), line
    assert "--no-labels" not in line, line


@pytest.mark.parametrize("given", ["--image", "--ids-from"])
def test_a_plan_whose_annotation_request_fails_is_not_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_emulator: Callable[..., EmulatorThread],
    given: str,
) -> None:
    """A plan takes its images' labels once, and its runs ask none: an image given by id
    whose annotation request fails writes no plan (exit 2), the line saying the plan would
    miss their labels (it said "their images", of an image it held); planned again once the
    server answers, the plan holds the labels."""
    app = Unanswered()
    emu = make_emulator(app=app)
    out, ids = tmp_path / "out", tmp_path / "ids.txt"
    ids.write_text(f"{DEMO_PROJECT_IMAGE_IDS[0]}\n")
    target = str(DEMO_PROJECT_IMAGE_IDS[0]) if given == "--image" else str(ids)
    plan = ["plan", "--base-url", emu.base_url, given, target, "--out", str(out), "-q",
            "--artifacts", "metadata", "--rate", "none", "--max-retries", "0"]  # fmt: skip
    app.broken = True
    assert main(plan) == 2
    err = capsys.readouterr().err
    assert (
        "error: the walk failed for 1 listing, first: labels of 1 image: HTTP 500 Internal"
        " Server Error; no plan was written (it would miss their labels: a harvest from a plan"
        " asks none)"
    ) in err.splitlines()
    assert not (out / "plan").exists()

    app.broken = False
    assert main(plan) == 0
    planned = (out / "plan" / "images.jsonl").read_text()
    assert OLD in planned and '"Phenotype"' in planned
