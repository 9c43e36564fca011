"""More of what users paste: image viewer links (``img_detail``, OMERO.iviewer), and the
pasted forms in ids files and config files; printed commands say a run of ids as a range.

Each test runs the CLI (in-process ``main``) against the emulator over real sockets and
checks what a user sees: the images harvested, the exact error line, the exit code, what
the folder keeps (ids and the server, never a link's query), the command printed.
"""

from __future__ import annotations

import json
import os
import shlex
import threading
from pathlib import Path

import pytest
from harvest_helpers import harvest, run_cli
from pasted_helpers import IMAGES, PLATE, SECRET, run, thumbnails

from harvester.emulator import EmulatorThread
from harvester.errors import UsageError


def saved_config(out: Path) -> dict[str, object]:
    """The configuration DIR's one run saved (runs/<id>/config.json)."""
    (path,) = out.glob("runs/*/config.json")
    config: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))["config"]
    return config


def every_text(out: Path) -> str:
    """Every file of DIR's record as one text."""
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv", ".log", ".txt", "")
    )


HARVEST = ("--artifacts", "thumbnail", "--rate", "none", "-q")


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("iviewer/?images={a},{b}&dataset=51&bsession={key}", 2),
        ("iviewer/{a}/?dataset=51&bsession={key}", 1),
        ("webgateway/img_detail/{a}/?bsession={key}", 1),
        ("webclient/img_detail/{a}/?bsession={key}", 1),
    ],
)
def test_an_image_viewers_link_is_harvested_from_its_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    page: str,
    shown: int,
) -> None:
    """An image viewer's link (OMERO.iviewer's ``?images=A,B`` or ``iviewer/A/``, the
    webgateway's or the webclient's ``img_detail/A/``), a session key beside it, given to
    --image with no --base-url: its images are harvested from the link's server, and the
    folder records the ids and that server, never the link nor the key."""
    out = tmp_path / "D"
    link = f"{emulator.base_url}/" + page.format(a=IMAGES[0], b=IMAGES[1], key=SECRET)
    code, err = run(capsys, "harvest", "--image", link, *HARVEST, "--out", str(out))
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES[:shown])
    config = saved_config(out)
    assert config["images"] == list(IMAGES[:shown])
    assert config["base_url"] == emulator.base_url
    record = every_text(out)
    assert SECRET not in record and "iviewer" not in record and "img_detail" not in record


def test_an_iviewer_link_of_another_server_than_the_base_url_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An iviewer link under a path (``/omero/iviewer/``) of a server other than --base-url:
    one error line naming the link's server (its path kept, no key), exit 2, no request."""
    out = tmp_path / "D"
    emulator.reset_stats()
    code, err = run(
        capsys, "harvest", "--image",
        f"https://idr.example/omero/iviewer/?images={IMAGES[0]}&bsession={SECRET}",
        "--base-url", emulator.base_url, "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == (
        "error: the link given to --image is of https://idr.example/omero, not of "
        f"--base-url {emulator.base_url}"
    )
    assert SECRET not in err
    assert not out.exists()
    assert emulator.stats()["by_route"] == {}


def test_an_ids_file_of_links_typed_ids_and_ranges_is_harvested(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An ids file whose lines are pasted from IDR (an iviewer link of two images first, its
    commas no CSV; a webclient link; ``Image:ID``; a range) harvests every image they
    name, and DIR keeps neither a link nor its session key."""
    first, second, third = IMAGES
    ids = tmp_path / "ids.txt"
    ids.write_text(
        f"{emulator.base_url}/iviewer/?images={first},{second}&dataset=51&bsession={SECRET}\n"
        f"{emulator.base_url}/webclient/?show=image-{third}&bsession={SECRET}  # the third\n"
        f"Image:{first}\n{first}-{third}\n",
        encoding="utf-8",
    )
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--base-url", emulator.base_url,
        *HARVEST, "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES)
    assert SECRET not in every_text(out)


@pytest.mark.parametrize("command", ["harvest", "harvest from a pipe", "plan", "slurm"])
def test_a_link_of_another_server_in_an_ids_file_is_refused_naming_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, command: str
) -> None:
    """An ids file's link of another server than the run's (its image 1 is another image):
    one error line naming the line and both servers, the hint the --base-url to give,
    exit 2, no folder made, the key unsaid; a harvest's file or pipe (copied first), a
    plan's and the file a SLURM script's tasks would read alike."""
    text = f"{IMAGES[0]}\nhttps://idr.example/webgateway/img_detail/1/?bsession={SECRET}\n"
    ids = tmp_path / "ids.txt"
    ids.write_text(text, encoding="utf-8")
    out = tmp_path / "D"
    argv = ["--base-url", emulator.base_url, "--out", str(out)]
    if command == "harvest from a pipe":
        piped = run_cli("harvest", "--ids-from", "-", *argv, stdin=text)
        code, err = piped.returncode, piped.stderr
        assert "Traceback" not in err
    else:
        more = ["--tasks", "2"] if command == "slurm" else []
        code, err = run(capsys, command, "--ids-from", str(ids), *argv, *more)
    assert code == 2
    error, hint = err.splitlines()
    assert error.startswith("error: ") and error.endswith(
        ": line 2: the link is of https://idr.example, not of the server asked, "
        f"{emulator.base_url}"
    )
    assert hint == (
        "hint: an ids file's links are of the run's server: to ask the link's, give "
        "--base-url https://idr.example"
    )
    assert SECRET not in err
    assert not out.exists()


def test_a_pipes_link_of_another_server_is_refused_by_a_harvest_run_from_python(
    tmp_path: Path, emulator: EmulatorThread, spool_dir: Path
) -> None:
    """A FIFO (``<(cmd)``) given to a harvest run from Python (``run_harvest``, no CLI copy
    made first): its link of another server is refused as the CLI refuses it, no folder
    made. It was copied unchecked and its image asked of the run's server, another image."""
    fifo = tmp_path / "ids.fifo"
    os.mkfifo(fifo)
    text = f"{IMAGES[0]}\nhttps://idr.example/webclient/img_detail/{IMAGES[1]}/?bsession={SECRET}\n"

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as pipe:  # waits for the harvest to open it
            pipe.write(text)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    out = tmp_path / "D"
    with pytest.raises(UsageError) as raised:
        harvest(emulator.base_url, out, ids_from=fifo, artifacts=("thumbnail",))
    feeder.join(timeout=10)
    assert str(raised.value) == (
        f"{fifo}: line 2: the link is of https://idr.example, not of the server asked, "
        f"{emulator.base_url}"
    )
    assert SECRET not in str(raised.value)
    assert not out.exists()
    assert not list(spool_dir.iterdir())  # the copy begun is removed


@pytest.mark.parametrize(
    ("line", "error", "hint"),
    [
        (
            f"http://127.0.0.1:9/webclient/?show=plate-{PLATE}&bsession={SECRET}",
            f"the link shows plate {PLATE}, not an image: give it as --plate {PLATE}",
            "an ids file holds image ids, one a line (or image links)",
        ),
        (  # an image selected beside its dataset: both named, with both flags
            f"http://127.0.0.1:9/webclient/?show=image-7|dataset-51&bsession={SECRET}",
            "the link shows image 7 and dataset 51, not images alone: give it as --image 7 "
            "--dataset 51",
            "an ids file holds image ids, one a line (or image links)",
        ),
        (
            f"http://127.0.0.1:9/iviewer/?dataset=51&bsession={SECRET}",
            "the link 'http://127.0.0.1:9/iviewer/' shows no image: give one with ?images=ID "
            "(a dataset's images: .../webclient/?show=dataset-ID)",
            "an ids file holds image ids, one a line (or image links)",
        ),
        (
            "20-10",
            "'20-10' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it "
            "runs backwards: give it as 10-20",
            "a range line is FIRST-LAST, at most 100,000 ids (split a longer one over lines)",
        ),
        (
            "1-200000",
            "'1-200000' names 200,000 ids; a range takes 100,000 at most",
            "a range line is FIRST-LAST, at most 100,000 ids (split a longer one over lines)",
        ),
    ],
)
def test_an_ids_file_line_pasted_wrong_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    line: str,
    error: str,
    hint: str,
) -> None:
    """A link of a plate, an iviewer link of a dataset alone (which image?), a range
    backwards or of too many ids, as an ids file's second line: the line named with what
    it is and what to give instead, exit 2, no image asked for."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGES[0]}\n{line}\n", encoding="utf-8")
    out = tmp_path / "D"
    emulator.reset_stats()
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--base-url", emulator.base_url,
        *HARVEST, "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [f"error: {ids}: line 2: {error}", f"hint: {hint}"]
    assert SECRET not in err
    assert not thumbnails(out)


def test_a_config_files_ids_may_be_typed_ids_and_ranges(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A config file's ``images`` as strings written as OMERO.downloader and IDR give them
    (``"Image:A"``, ``"B-C"``) and ``plates = ["Plate:P"]``: every image harvested, and the
    run saved with the ids they name."""
    first, second, third = IMAGES
    config = tmp_path / "study.toml"
    config.write_text(
        f'base_url = "{emulator.base_url}"\n'
        f'images = ["Image:{first}", "{second}-{third}"]\n'
        f'plates = ["plate:{PLATE}"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "D"
    code, err = run(capsys, "harvest", str(config), *HARVEST, "--out", str(out))
    assert code == 0, err
    assert set(IMAGES) <= thumbnails(out)
    assert len(thumbnails(out)) >= 8
    saved = saved_config(out)
    assert saved["images"] == list(IMAGES)
    assert saved["plates"] == [PLATE]


@pytest.mark.parametrize(
    ("entry", "error", "hint"),
    [
        (
            f'images = ["Plate:{PLATE}"]',
            f"images: 'Plate:{PLATE}' is a plate, not an image",
            f"give it as plates = [{PLATE}]",
        ),
        (
            'screens = ["Project:51"]',
            "screens: 'Project:51' is a project, not a screen",
            "give it as projects = [51]",
        ),
        (
            'screens = ["Screen:0"]',
            "screens: 'Screen:0' is not a numeric id",
            "ids are positive integers, e.g. 2302",
        ),
        (
            'images = ["1-5000"]',
            "images: '1-5000' names 5,000 ids; a range takes 1,000 at most",
            "a range is FIRST-LAST, at most 1,000 ids; more images go in an ids file (ids_from)",
        ),
        (
            'plates = ["20-10"]',
            "plates: '20-10' is not a range of ids (FIRST-LAST, from 1, FIRST not above "
            "LAST): it runs backwards: give it as 10-20",
            "a range is FIRST-LAST, at most 1,000 ids",
        ),
        ("datasets = [1.5]", "datasets: 1.5 is not a numeric id", None),
        ('images = ["Image:x"]', "images: 'Image:x' is not a numeric id", None),
    ],
)
def test_a_config_files_typed_id_or_range_written_wrong_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    entry: str,
    error: str,
    hint: str | None,
) -> None:
    """A typed id of another kind (the key to give it to in the hint), ``Screen:0`` (no
    name either), a range too long or backwards, a float: one error line naming the file
    and the key, exit 2, no folder, no request."""
    config = tmp_path / "study.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\n{entry}\n', encoding="utf-8")
    out = tmp_path / "D"
    emulator.reset_stats()
    code, err = run(capsys, "harvest", str(config), "--out", str(out), "--rate", "none")
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"error: {config}: {error}"
    if hint is not None:
        assert lines[1] == f"hint: {hint}"
    assert not out.exists()
    assert emulator.stats()["by_route"] == {}


def test_a_take_back_command_names_a_run_of_ids_as_a_range_that_takes_them_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A set of three consecutive images given one flag each, forgotten: the resume's
    take-back command names them as one range (``--image A-C``), and that command, run as
    printed, takes the same set back (its ids the same, nothing fetched again)."""
    out = tmp_path / "D"
    flags = [word for image in IMAGES for word in ("--image", str(image))]
    base = ("--base-url", emulator.base_url)
    code, err = run(capsys, "harvest", *flags, *base, *HARVEST, "--out", str(out))
    assert code == 0, err
    code, err = run(capsys, "forget", str(out), "--image", f"{IMAGES[0]}-{IMAGES[2]}")
    assert code == 0, err
    code, err = run(capsys, "harvest", "--out", str(out), "-q")
    assert code == 0, err
    (line,) = err.splitlines()
    command = line.partition("e.g. ")[2]
    words = shlex.split(command)
    assert words[:4] == ["harvester", "harvest", "--out", str(out)], words
    assert words[words.index("--image") + 1] == f"{IMAGES[0]}-{IMAGES[2]}", words
    assert words.count("--image") == 1, words
    code, err = run(capsys, *shlex.split(command)[1:], *HARVEST)
    assert code == 0, err
    runs = sorted(out.glob("runs/*/config.json"), key=lambda path: path.stat().st_mtime_ns)
    newest = json.loads(runs[-1].read_text(encoding="utf-8"))["config"]
    assert newest["images"] == list(IMAGES)
    code, err = run(capsys, "harvest", "--out", str(out), "-q")
    assert code == 0 and "nothing to resume" not in err, err


def test_a_slurm_script_names_consecutive_ids_as_a_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``harvester slurm`` given three consecutive images one by one and a fourth apart:
    every task's command line says ``--image A-C --image D``, and the script's harvest,
    parsed as the tasks parse it, names the same four ids."""
    from harvester.cli import build_parser

    out = tmp_path / "D"
    apart = IMAGES[0] + 7
    flags = [word for image in (*IMAGES, apart) for word in ("--image", str(image))]
    code, err = run(
        capsys, "slurm", *flags, "--base-url", emulator.base_url, "--tasks", "2",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    script = (out / "harvest.sbatch").read_text(encoding="utf-8")
    assert f"--image {IMAGES[0]}-{IMAGES[2]} --image {apart}" in script
    (task,) = [line for line in script.splitlines() if " harvest " in line and "--image" in line]
    words = shlex.split(task.replace('"$K/$N"', "1/2"))
    at = words.index("harvest")
    parsed = build_parser().parse_args([w for w in words[at:] if w != "\\"])
    assert parsed.images == [*IMAGES, apart]
