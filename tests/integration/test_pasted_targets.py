"""Targets as users paste them from other tools: ``Image:123``, ranges, webclient links.

Each test runs the CLI (in-process ``main``) against the emulator over real sockets, and
checks what a user sees: the files harvested, the exact error line, the exit code, and
what the folder keeps (ids and the server, never a link's query).
"""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from pasted_helpers import IMAGES, PLATE, SECRET, run, thumbnails

from harvester.emulator import EmulatorThread


def every_text(out: Path) -> str:
    """Every file of DIR's record (runs/, journals/, harvest.json, index.csv) as one text."""
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.suffix in (".json", ".jsonl", ".csv", ".log", "")
    )


def test_an_image_link_is_harvested_from_its_own_server_and_recorded_as_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A webclient link of two images (``show=image-A|image-B``, a session key beside it)
    given to --image, no --base-url: both are harvested from the link's server, the folder
    records ids and that server (no link, no key), and the resume asks nothing again."""
    out = tmp_path / "D"
    link = (
        f"{emulator.base_url}/webclient/?show=image-{IMAGES[0]}%7Cimage-{IMAGES[1]}"
        f"&bsession={SECRET}"
    )
    code, err = run(
        capsys, "harvest", "--image", link, "--artifacts", "thumbnail", "--rate", "none",
        "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES[:2])
    record = every_text(out)
    assert SECRET not in record and "show=" not in record and "webclient" not in record
    (config,) = out.glob("runs/*/config.json")
    saved = json.loads(config.read_text(encoding="utf-8"))
    assert saved["config"]["images"] == list(IMAGES[:2])
    assert saved["config"]["base_url"] == emulator.base_url
    assert saved["argv"][-2:] == ["--base-url", emulator.base_url]
    assert f"{IMAGES[0]},{IMAGES[1]}" in saved["argv"]
    code, err = run(capsys, "harvest", "--out", str(out), "-q")
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES[:2])


def test_a_plate_link_with_the_matching_base_url_harvests_the_plate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--plate 'URL/webclient/?show=plate-ID'`` beside a --base-url of the same server
    (spelt with a trailing slash) harvests every image of the plate."""
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--plate", f"{emulator.base_url}/webclient/?show=plate-{PLATE}",
        "--base-url", f"{emulator.base_url}/", "--artifacts", "thumbnail", "--rate", "none",
        "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert len(thumbnails(out)) == 8


def test_a_link_of_another_server_than_the_base_url_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A link whose server is not --base-url's: one error line naming both, exit 2, no
    folder made and no request sent."""
    out = tmp_path / "D"
    before = emulator.stats()["requests"]
    code, err = run(
        capsys, "harvest", "--image",
        f"https://idr.openmicroscopy.org/webclient/?show=image-{IMAGES[0]}&bsession={SECRET}",
        "--base-url", emulator.base_url, "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        "error: the link given to --image is of https://idr.openmicroscopy.org, not of "
        f"--base-url {emulator.base_url}",
        "hint: give a link of the server asked, or ask the link's: "
        "--base-url https://idr.openmicroscopy.org",
    ]
    assert SECRET not in err
    assert not out.exists()
    assert emulator.stats()["requests"] == before


def test_typed_ids_and_a_range_are_harvested(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--image Image:A`` (as OMERO.downloader writes it, any case) and ``--image B-C``
    harvest those images."""
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--image", f"image:{IMAGES[0]}", "--image",
        f"{IMAGES[1]}-{IMAGES[2]}", "--base-url", emulator.base_url, "--artifacts",
        "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES)


def test_an_ids_file_of_typed_ids_is_harvested(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An ids file written by OMERO.downloader (``Image:ID`` lines) beside plain ids."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"Image:{IMAGES[0]}\nIMAGE:{IMAGES[1]}\n{IMAGES[2]}\n", encoding="utf-8")
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--base-url", emulator.base_url,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == set(IMAGES)


def test_a_plate_line_in_an_ids_file_names_the_line_and_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``Plate:ID`` in an ids file: one error line naming the line and the flag to use,
    exit 2, nothing harvested."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"Image:{IMAGES[0]}\nPlate:{PLATE}\n", encoding="utf-8")
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--base-url", emulator.base_url,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        f"error: {ids}: line 2: 'Plate:{PLATE}' is a plate, not an image: give it as "
        f"--plate {PLATE}",
        "hint: an ids file holds image ids, one a line",
    ]
    assert not thumbnails(out)
    # A typed well, as its link and --image Well:ID are told (it was "not an image id").
    ids.write_text(f"Image:{IMAGES[0]}\nWell:1474512\n", encoding="utf-8")
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--base-url", emulator.base_url,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        f"error: {ids}: line 2: 'Well:1474512' is a well, not a target harvester takes: a "
        "well's images are its plate's, selected by --where: --plate PLATE --where "
        "well_id=1474512",
        "hint: an ids file holds image ids, one a line",
    ]
    assert not thumbnails(out)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["--image", f"Plate:{PLATE}"],
            f"'Plate:{PLATE}' is a plate, not an image: give it as --plate {PLATE}",
        ),
        (["--screen", "Screen:0"], "'Screen:0' is not a numeric id"),
        (
            ["--screen", "project:51"],
            "'project:51' is a project, not a screen: give it as --project 51",
        ),
        (
            ["--image", "1-5000"],
            "'1-5000' names 5,000 ids; a range takes 1,000 at most (more images: seq 1 5000 "
            "> ids.txt, then --ids-from ids.txt)",
        ),
        (["--plate", "1-5000"], "'1-5000' names 5,000 ids; a range takes 1,000 at most"),
        (
            ["--image", "20-10"],
            "'20-10' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it "
            "runs backwards: give it as --image 10-20",
        ),
        # a range written otherwise, backwards or naming no id: not "not a numeric id"
        (
            ["--image", "20..10"],
            "'20..10' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it "
            "runs backwards: give it as --image 10-20",
        ),
        (
            ["--image", "1..0"],
            "'1..0' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it "
            "names no id (ids start at 1)",
        ),
        (  # the bad item of a list named alone (as a config string's, an ids file line's)
            ["--image", "1,5..3"],
            "'5..3' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): it "
            "runs backwards: give it as --image 3-5",
        ),
        (
            ["--plate", "0:3"],
            "'0:3' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): ids "
            "start at 1: give it as --plate 1-3",
        ),
        # a bracket on one item of a comma list: the list to give, whole
        (
            ["--image", "1,[2]"],
            "'[2]': brackets are not part of an id: give the ids as a comma list, --image 1,2",
        ),
        (  # two kinds selected: both named, with both flags (it named the plate alone)
            ["--image", f"http://127.0.0.1:9/webclient/?show=plate-{PLATE}|image-1"],
            f"the link shows plate {PLATE} and image 1, not images alone: give it as "
            f"--plate {PLATE} --image 1",
        ),
        (  # ... to the flag of either kind: --plate was told to give --image 1 alone
            ["--plate", f"http://127.0.0.1:9/webclient/?show=plate-{PLATE}|image-1"],
            f"the link shows plate {PLATE} and image 1, not plates alone: give it as "
            f"--plate {PLATE} --image 1",
        ),
        (  # ... or of neither: every kind shown
            ["--screen", "http://127.0.0.1:9/webclient/?show=project-51|dataset-52|dataset-53"],
            "the link shows project 51 and dataset 52,53, not a screen: give it as "
            "--project 51 --dataset 52,53",
        ),
        (
            ["--plate", f"http://127.0.0.1:9/webclient/?show=well-5&bsession={SECRET}"],
            "the link shows well 5, not a target harvester takes: a well's images are its "
            "plate's, selected by --where: --plate PLATE --where well_id=5",
        ),
        (
            ["--plate", f"http://127.0.0.1:9/webclient/?show=tag-5&bsession={SECRET}"],
            "the link shows 'tag-5', not a target harvester takes (screen-, project-, "
            "plate-, dataset- or image- and an id)",
        ),
        (
            ["--image", f"http://127.0.0.1:9/webclient/?bsession={SECRET}"],
            "the link 'http://127.0.0.1:9/webclient/' shows no target: give one with "
            "?show=image-ID (or screen-, project-, plate-, dataset-)",
        ),
        (
            ["--image", f"idr.openmicroscopy.org/webclient/?show=image-1&bsession={SECRET}"],
            "'idr.openmicroscopy.org/webclient/' is a link without its https:// (or http://): "
            "give the link whole, as the browser shows it",
        ),
        (  # a password in a link pasted without its scheme: not echoed
            ["--image", f"alice:{SECRET}@idr.example/webclient/?show=image-1"],
            "'alice:REDACTED@idr.example/webclient/' is a link without its https:// (or "
            "http://): give the link whole, as the browser shows it",
        ),
        (  # a login in a link with its scheme: the link named as pasted, password hidden
            ["--image", f"http://alice:{SECRET}@127.0.0.1:9/figure/?images=1"],
            "'http://alice:REDACTED@127.0.0.1:9/figure/' is not a link harvester reads (it "
            "takes .../webclient/?show=image-ID, .../webclient/img_detail/ID/, "
            ".../webgateway/img_detail/ID/ or .../iviewer/?images=ID links, an image's "
            "render or thumbnail address (.../webgateway/render_thumbnail/ID/), and ids)",
        ),
        (  # a token alone as the user: hidden whole
            ["--image", f"https://{SECRET}@idr.example/webclient/?bsession={SECRET}"],
            "the link 'https://REDACTED@idr.example/webclient/' shows no target: give one "
            "with ?show=image-ID (or screen-, project-, plate-, dataset-)",
        ),
        (  # a password holding a '/' (which ends a URL's authority): hidden whole too
            ["--image", f"https://alice:pa/{SECRET}@idr.example/webclient/?show=image-1"],
            "'https://alice:REDACTED@idr.example/webclient/' names no valid port (1 to 65535)",
        ),
        *(  # a token as the user cut by a '?', '#' or '/': no part of it is the host shown
            (
                ["--image", f"https://TOK{cut}{SECRET}@idr.example/webclient/?show=image-1"],
                "'https://REDACTED@idr.example/webclient/': a '/', '?' or '#' in its user or "
                "password cuts the link short there (percent-encode it as %2F, %3F, %23; or "
                "give the login with --base-url)",
            )
            for cut in "?#/"
        ),
        (  # a password holding an '@' and a '/': its tail is no host, its head no user
            ["--image", f"https://alice:p@{SECRET}/{SECRET}@idr.example/webclient/?show=image-1"],
            "'https://REDACTED@idr.example/webclient/': a '/', '?' or '#' in its user or "
            "password cuts the link short there (percent-encode it as %2F, %3F, %23; or "
            "give the login with --base-url)",
        ),
        (  # a thumbnail's address without its id: told such addresses are taken
            ["--image", "http://127.0.0.1:9/webgateway/render_thumbnail/size/96/"],
            "'http://127.0.0.1:9/webgateway/render_thumbnail/size/96/' is not a link "
            "harvester reads (it takes .../webclient/?show=image-ID, "
            ".../webclient/img_detail/ID/, .../webgateway/img_detail/ID/ or "
            ".../iviewer/?images=ID links, an image's render or thumbnail address "
            "(.../webgateway/render_thumbnail/ID/), and ids)",
        ),
        (  # an image's render address ("Copy image address") shows that image
            ["--plate", f"http://127.0.0.1:9/webgateway/render_image/1/0/0/?bsession={SECRET}"],
            "the link shows image 1, not a plate: give it as --image 1",
        ),
        (
            ["--image", f"http://127.0.0.1:9/figure/?images=1&bsession={SECRET}"],
            "'http://127.0.0.1:9/figure/' is not a link harvester reads (it takes "
            ".../webclient/?show=image-ID, .../webclient/img_detail/ID/, "
            ".../webgateway/img_detail/ID/ or .../iviewer/?images=ID links, an image's "
            "render or thumbnail address (.../webgateway/render_thumbnail/ID/), and ids)",
        ),
        (
            ["--image", f"http://127.0.0.1:9/iviewer/?dataset=5&bsession={SECRET}"],
            "the link 'http://127.0.0.1:9/iviewer/' shows no image: give one with ?images=ID "
            "(a dataset's images: .../webclient/?show=dataset-ID)",
        ),
        (
            ["--image", f"http://127.0.0.1:9/iviewer/?images=1,x2&bsession={SECRET}"],
            "the link shows image 'x2', not an image id",
        ),
        (
            ["--plate", f"http://127.0.0.1:9/iviewer/?images=1&bsession={SECRET}"],
            "the link shows image 1, not a plate: give it as --image 1",
        ),
        (  # a flag of another kind is told the links it takes, not the image viewers'
            ["--screen", f"http://127.0.0.1:9/search/?query=Name:idr0056&bsession={SECRET}"],
            "'http://127.0.0.1:9/search/' is not a link harvester reads (it takes "
            ".../webclient/?show=screen-ID links, and ids and names)",
        ),
        (
            ["--plate", "http://127.0.0.1:9/figure/?plate=1"],
            "'http://127.0.0.1:9/figure/' is not a link harvester reads (it takes "
            ".../webclient/?show=plate-ID links, and ids)",
        ),
        (  # IDR's study page (its gallery's study card): the study's name instead
            ["--screen", f"https://idr.openmicroscopy.org/study/idr0056/?bsession={SECRET}"],
            "'https://idr.openmicroscopy.org/study/idr0056/' is the page of study idr0056, "
            "not of a screen: give the study by its name, --screen idr0056",
        ),
        (  # a list typed (or a column pasted) with spaces: the comma list to give
            ["--image", "9762957 9762958"],
            "'9762957 9762958' is not one id but several: give them as one comma list, "
            "--image 9762957,9762958",
        ),
        (
            ["--screen", "2302; 2303"],  # (not looked up as a screen's name)
            "'2302; 2303' is not one id but several: give them as one comma list, "
            "--screen 2302,2303",
        ),
        (  # the list names every id of the value, those before the refused item too
            ["--image", "1,2 3"],
            "'2 3' is not one id but several: give them as one comma list, --image 1,2,3",
        ),
        (  # an item the list would be refused for: that refusal, not the list
            ["--image", "1,2 3,x"],
            "'x' is not a numeric id (names are taken by --screen and --project only)",
        ),
        (
            ["--plate", "7-9,2 3,Image:4"],
            "'Image:4' is an image, not a plate: give it as --image 4",
        ),
        (
            ["--screen", "idr0001,Screen:5,2302 2303, 7-9"],  # (its other items as typed)
            "'2302 2303' is not one id but several: give them as one comma list, "
            "--screen idr0001,Screen:5,2302,2303,7-9",
        ),
        (  # IDR's gene search leads to a mapr page: the --where term that takes its images
            ["--screen", f"https://idr.openmicroscopy.org/mapr/gene/?value=ECT2&bsession={SECRET}"],
            "'https://idr.openmicroscopy.org/mapr/gene/' is a mapr page (the images with gene "
            "'ECT2', across studies), not a screen: take them with --where 'Gene Symbol=ECT2' "
            "beside the study's --screen or --project, or every study's by id from IDR's "
            "search engine (README, Harvesting: curl ... | jq ... | harvester harvest "
            "--ids-from - --out DIR)",
        ),
        (  # another server's study page: its --base-url quoted, as a shell reads it back
            ["--screen", "https://omero.example.org/~lab/study/idr0056/"],
            "'https://omero.example.org/~lab/study/idr0056/' is the page of study idr0056, "
            "not of a screen: give the study by its name, --screen idr0056 --base-url "
            "'https://omero.example.org/~lab'",
        ),
        (
            ["--image", "https://idr.openmicroscopy.org/study/IDR0021"],
            "'https://idr.openmicroscopy.org/study/IDR0021' is the page of study idr0021, not "
            "of an image: give the study by its name, --screen idr0021 (its screens) or "
            "--project idr0021 (its projects)",
        ),
    ],
)
def test_bad_pasted_targets_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], error: str
) -> None:
    """A typed id of another kind, a range too long or backwards, a link of another kind,
    of no target or of another page: one error line (no session key nor password in it,
    a link with a login named with its host and path, the password as REDACTED), exit 2."""
    out = tmp_path / "D"
    code, err = run(capsys, "harvest", "--out", str(out), *argv)
    assert code == 2
    assert err.splitlines()[0] == f"error: argument {argv[0]}: {error}"
    assert SECRET not in err and "TOK" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "address",
    [
        "webgateway/render_thumbnail/{image}/96/?version=2&bsession=" + SECRET,
        "webgateway/render_image/{image}/0/0/?c=1|0:255$FF0000&m=c",
        "webclient/imgData/{image}/",
        "api/v0/m/images/{image}/",
        "webclient/render_thumbnail/size/96/{image}/",  # (the webclient's own thumbnails)
        # the image-region microservice's routes, as IDR's viewers ask them
        "webgateway/render_image_rdef/{image}/0/0/?c=1|0:255$FF0000&m=c&bsession=" + SECRET,
        "webgateway/render_thumbnail_ngff/{image}/96/",
        "webclient/render_thumbnail_ngff/size/96/{image}/",
    ],
)
def test_an_image_address_copied_from_a_page_harvests_that_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, address: str
) -> None:
    """The address of one image's thumbnail, render, imgData or JSON API metadata (what
    "Copy image address" gives) given to --image harvests that image from the address's
    server, recorded as its id (never the address or its query)."""
    out = tmp_path / "D"
    image = 9762885
    code, err = run(
        capsys, "harvest", "--image", f"{emulator.base_url}/{address.format(image=image)}",
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == {image}
    recorded = every_text(out)
    assert SECRET not in recorded
    assert "render_thumbnail" not in recorded and "render_image" not in recorded


def test_a_study_page_link_names_the_flag_that_harvests_the_study(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A study page's link given to --project (a server other than IDR) is refused, naming
    the study's name and the server as flags, and that command harvests the study; in a
    config file's target list the hint says it in the file's keys (`projects = [...]`,
    `base_url = ...`; it said the flags)."""
    out = tmp_path / "D"
    link = f"{emulator.base_url}/study/idr0021/"
    code, err = run(
        capsys, "harvest", "--project", link,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    said = err.splitlines()[0]
    instead = f"--project idr0021 --base-url {emulator.base_url}"
    assert said.endswith(f"give the study by its name, {instead}"), err
    config = tmp_path / "study.toml"
    server = f'base_url = "{emulator.base_url}"'
    for key, keyed in [
        ("projects", f'projects = ["idr0021"], {server}'),
        (
            "images",
            f'screens = ["idr0021"], {server} (its screens) or projects = ["idr0021"], '
            f"{server} (its projects)",
        ),
    ]:
        config.write_text(f'{key} = ["{link}"]\n')
        code, err = run(capsys, "harvest", str(config), "--out", str(out), "--rate", "none")
        assert code == 2
        assert err.splitlines()[1].endswith(f"give the study by its name, {keyed}"), err
    assert not out.exists()
    code, err = run(
        capsys, "harvest", *instead.split(), "--artifacts", "thumbnail", "--rate", "none",
        "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert len(thumbnails(out)) == 8  # project 51's two datasets: images 1884801 to 1884808


def test_a_well_link_names_the_selection_that_harvests_the_well(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A webclient link of a well (what the plate view's link says once a well is clicked)
    is refused with `--where well_id=ID`, and that term beside its plate harvests the
    well's images alone."""
    out = tmp_path / "D"
    well = 1474512  # well A1 of plate 7361 (its one field: image 9762885)
    code, err = run(
        capsys, "harvest", "--plate", f"{emulator.base_url}/webclient/?show=well-{well}",
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0].endswith(f"--plate PLATE --where well_id={well}"), err
    assert not out.exists()
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--plate", "7361", "--where",
        f"well_id={well}", "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert thumbnails(out) == {9762885}


def test_a_run_link_names_the_selection_that_harvests_the_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A webclient link of a plate's run (`?show=run-ID`: a PlateAcquisition, as IDR's
    webclient/?show=run-5403) is refused with `--where run_id=ID`, where it was "not a
    target harvester takes" with no way; that term beside its plate takes the run alone."""
    emu = make_emulator(preset="runs")  # plate 3101: runs 103101 and 103102, 12 images each
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--plate", f"{emu.base_url}/webclient/?show=run-103102",
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0].endswith(
        "the link shows run 103102 (a plate's acquisition), not a target harvester takes: a "
        "run's images are its plate's, selected by --where: --plate PLATE --where run_id=103102"
    ), err
    assert not out.exists()
    code, err = run(
        capsys, "harvest", "--base-url", emu.base_url, "--plate", "3101", "--where",
        "run_id=103102", "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert {r["run_id"] for r in rows} == {"103102"}
    assert len(thumbnails(out)) == 12


@pytest.mark.parametrize("flag", ["--plate", "--image"])
def test_a_well_id_given_as_a_plate_or_image_names_its_plate_and_selection(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, flag: str
) -> None:
    """A well's id (the webclient shows it beside a plate's fields) given as a plate's or an
    image's is told the well's plate and the --where term, as typed Well:ID is, where
    "not found" named neither; the command told harvests the well's one field."""
    out = tmp_path / "D"
    well = 1474512  # well A1 of plate 7361 (its one field: image 9762885)
    base = ["--base-url", emulator.base_url, "--artifacts", "thumbnail", "--rate", "none"]
    code, err = run(capsys, "harvest", *base, flag, str(well), "-q", "--out", str(out))
    assert code == 2
    error, hint = err.splitlines()
    assert error == f"error: {flag[2:]} {well} not found on the server", err
    told = f"--plate 7361 --where well_id={well}"
    assert hint.endswith(
        f"has a well {well} (of plate 7361), not a target harvester takes: "
        f"a well's images are its plate's, selected by --where: {told}"
    ), err
    code, err = run(capsys, "harvest", *base, flag, f"Well:{well}", "--out", str(out))
    assert code == 2
    assert err.splitlines()[0].endswith(
        f"'Well:{well}' is a well, not a target harvester "
        f"takes: a well's images are its plate's, selected by "
        f"--where: --plate PLATE --where well_id={well}"
    ), err
    assert not out.exists()
    code, err = run(capsys, "harvest", *base, *shlex.split(told), "-q", "--out", str(out))
    assert code == 0, err
    assert thumbnails(out) == {9762885}


def test_a_mapr_link_names_the_selection_that_harvests_its_images(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A mapr page's link (the images of one gene) given to --screen is refused with the
    `--where` term that takes them and, not being IDR's, the link's server (given none, a
    run asked IDR), and that term beside the screen harvests exactly the images of that
    gene; in a config file's target list it is the refusal's hint, in the file's words
    (where = [...] beside screens = [...], as the file takes them), and so is a link of no
    target's refusal, said of "it" (it was "the link it shows no target")."""
    out = tmp_path / "D"
    link = f"{emulator.base_url}/mapr/gene/?value=ECT2&bsession={SECRET}"
    code, err = run(
        capsys, "harvest", "--screen", link,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    said = err.splitlines()[0]
    assert said.endswith(
        "take them with --where 'Gene Symbol=ECT2' beside the study's --screen or --project "
        f"and --base-url {emulator.base_url}"
    ), err
    assert SECRET not in err
    assert not out.exists()
    config = tmp_path / "study.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\nscreens = ["{link}"]\n')
    code, err = run(capsys, "harvest", str(config), "--out", str(out), "--rate", "none")
    assert code == 2
    assert err.splitlines()[1] == (  # (in the file's keys: where = [...], not --where)
        "hint: it is a mapr page (the images with gene 'ECT2', across studies), not a "
        'screen: take them with where = ["Gene Symbol=ECT2"] beside the study\'s screens = '
        f'[...] or projects = [...] and base_url = "{emulator.base_url}"'
    )
    config.write_text(f'screens = ["{emulator.base_url}/webclient/?bsession={SECRET}"]\n')
    code, err = run(capsys, "harvest", str(config), "--out", str(out), "--rate", "none")
    assert code == 2
    assert err.splitlines()[1].startswith("hint: it shows no target: give one with ?show="), err
    assert SECRET not in err
    assert not out.exists()
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--screen", "2302", "--where",
        "Gene Symbol=ECT2", "--artifacts", "thumbnail", "--rate", "none", "-q",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["Gene Symbol"] for row in rows} == {"ECT2"}
    assert thumbnails(out) == {int(row["image_id"]) for row in rows}


def test_a_mapr_link_by_accession_names_the_key_its_value_is_of(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A mapr page linked by a CMPO accession or an Ensembl gene id (omero-mapr matches a
    menu's value on each of its keys) is told the key images hold that id under, and the
    terms as printed, pasted, harvest the images of that gene and phenotype (it named
    `Phenotype=CMPO_...` and `Gene Symbol=ENSG...`: no image matched); an accession in
    lower case or an Ensembl id with its version (`.5`) is told the same term, the id as
    images hold it (they got `Phenotype`/`Gene Symbol` still)."""
    out = tmp_path / "D"
    terms: list[str] = []
    for menu, value, key, held in [
        ("phenotype", "CMPO_0000128", "Phenotype Term Accession", "CMPO_0000128"),
        ("gene", "ENSG00000114346", "Gene Identifier", "ENSG00000114346"),
        ("phenotype", "cmpo_0000128", "Phenotype Term Accession", "CMPO_0000128"),
        ("gene", "ENSG00000114346.5", "Gene Identifier", "ENSG00000114346"),
    ]:
        link = f"{emulator.base_url}/mapr/{menu}/?value={value}&bsession={SECRET}"
        code, err = run(capsys, "harvest", "--screen", link, "--out", str(out))
        assert code == 2
        said = err.splitlines()[0]
        assert f"take them with --where '{key}={held}' beside" in said, err
        words = shlex.split(said.partition("take them with ")[2].partition(" beside")[0])
        assert words == ["--where", f"{key}={held}"]
        terms += words
    assert not out.exists()
    terms = terms[4:]  # (the terms told the lower-case and versioned links: they harvest)
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--screen", "2302", *terms,
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["Gene Symbol"] for row in rows} == {"ECT2"}
    assert thumbnails(out) == {int(row["image_id"]) for row in rows}


def test_links_of_two_servers_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An --image link and a --plate link of two servers: one error line, exit 2."""
    code, err = run(
        capsys, "harvest", "--out", str(tmp_path / "D"),
        "--image", "http://127.0.0.1:9/webclient/?show=image-1",
        "--plate", "https://idr.openmicroscopy.org/webclient/?show=plate-2",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == (
        "error: the links given are of two servers, http://127.0.0.1:9 and "
        "https://idr.openmicroscopy.org: a run asks one"
    )


def test_a_link_given_as_the_base_url_alone_says_which_flags_take_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``--base-url LINK`` and no target: the hint gives the target flags and the server."""
    code, err = run(
        capsys, "harvest", "--out", str(tmp_path / "D"), "--base-url",
        f"http://127.0.0.1:9/omero/webclient/?show=image-1|image-2&bsession={SECRET}",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        "error: nothing to harvest",
        "hint: --base-url is a link to 2 images, not the server's address: give what it shows "
        "to the target flags: --image 1,2 --base-url http://127.0.0.1:9/omero",
    ]


@pytest.mark.parametrize(
    ("link", "said", "flags"),
    [
        ("/omero/iviewer/?images=5&dataset=3", "a link to an image", "--image 5"),
        ("/omero/webgateway/img_detail/7/", "a link to an image", "--image 7"),
        ("/omero/webclient/?show=plate-4|image-9", "a link to a plate and an image",
         "--plate 4 --image 9"),
    ],
)  # fmt: skip
def test_a_viewer_link_given_as_the_base_url_is_called_what_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, link: str, said: str, flags: str
) -> None:
    """``--base-url`` an iviewer or img_detail link: the hint says what the link shows, not
    "a webclient link", and gives its flags and server."""
    code, err = run(
        capsys, "harvest", "--out", str(tmp_path / "D"), "--base-url",
        f"http://127.0.0.1:9{link}",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        "error: nothing to harvest",
        f"hint: --base-url is {said}, not the server's address: give what it shows to the "
        f"target flags: {flags} --base-url http://127.0.0.1:9/omero",
    ]


def test_a_slurm_script_names_a_links_ids_and_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``harvester slurm --plate LINK``: every task's command line holds the plate's id and
    the link's server as --base-url, not the link."""
    out = tmp_path / "D"
    code, err = run(
        capsys, "slurm", "--plate",
        f"{emulator.base_url}/webclient/?show=plate-{PLATE}&bsession={SECRET}",
        "--tasks", "2", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    script = (out / "harvest.sbatch").read_text(encoding="utf-8")
    assert f"--plate {PLATE} --base-url {emulator.base_url}" in script
    assert SECRET not in script and "show=" not in script


@pytest.mark.parametrize(
    ("key", "kind", "target"),
    [("images", "image", IMAGES[0]), ("screens", "screen", 2302), ("plates", "plate", PLATE)],
)
def test_a_link_in_a_config_file_names_its_ids_without_its_query(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    key: str,
    kind: str,
    target: int,
) -> None:
    """A webclient link with a session key as a config file's target: one error line that
    names the link without its query and a hint with the ids to give, exit 2, no request,
    no folder (images= quoted the key; screens= looked the link up as a screen's name)."""
    link = f"{emulator.base_url}/webclient/?show={kind}-{target}&bsession={SECRET}"
    config = tmp_path / "study.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\n{key} = ["{link}"]\n')
    out = tmp_path / "D"
    emulator.reset_stats()
    code, err = run(capsys, "harvest", str(config), "--out", str(out), "--rate", "none")
    assert code == 2
    assert err.splitlines() == [
        f"error: {config}: {key}: '{emulator.base_url}/webclient/' is a link; a config "
        "file takes ids",
        f"hint: give the ids it shows: {key} = [{target}], base_url = '{emulator.base_url}' "
        f"(a link is taken by --{kind} LINK)",
    ]
    assert SECRET not in err
    assert not out.exists()
    assert emulator.stats()["by_route"] == {}


def test_a_link_in_an_ids_file_is_named_without_its_query(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An ids file line that is a short webclient link of no target, a session key in it:
    the line named without its query (a line under 40 characters was quoted whole, key and
    all), exit 2."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGES[0]}\nhttp://h/webclient/?bsession={SECRET[:8]}\n")
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        f"error: {ids}: line 2: the link 'http://h/webclient/' shows no target: give one "
        "with ?show=image-ID (or screen-, project-, plate-, dataset-)",
        "hint: an ids file holds image ids, one a line (or image links)",
    ]
    assert SECRET[:8] not in err
    assert not out.exists()


def test_a_link_without_its_scheme_in_an_ids_file_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An ids file line that is a webclient link pasted without its scheme, a password in
    it: the line named with the password redacted (it was quoted whole), exit 2."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGES[0]}\nalice:{SECRET}@h/webclient/?show=image-1\n")
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == (
        f"error: {ids}: line 2: 'alice:REDACTED@h/webclient/' is a link without its https:// "
        "(or http://): give the link whole, as the browser shows it"
    )
    assert SECRET not in err
    assert not out.exists()


#: More digits than int() reads (4,300): a pasted run of digits, not an id.
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--image", f"Image:{HUGE}"], f"'Image:{HUGE[:31]}...' is not a numeric id"),
        (["--image", f"1-{HUGE}"], f"'1-{HUGE[:35]}...' is not a range of ids"),
        (["--image", HUGE], f"'{HUGE[:37]}...' is not a valid id (more than 30 digits)"),
        (["--screen", f"Screen:{HUGE}"], f"'Screen:{HUGE[:30]}...' is not a numeric id"),
    ],
)
def test_ids_of_thousands_of_digits_are_one_short_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], error: str
) -> None:
    """A typed id, a range or an id of 5,000 digits given to a flag: its own one-line error,
    shortened (argparse's "invalid image target value" with all 5,000 digits), exit 2."""
    code, err = run(capsys, "harvest", "--out", str(tmp_path / "D"), *argv)
    assert code == 2
    assert err.splitlines()[0].startswith(f"error: argument {argv[0]}: {error}")
    assert len(err.splitlines()[0]) < 200


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("\u0661\u0662\u0663", "digits other than 0-9"),  # Arabic-Indic 123
        ("\uff11\uff12\uff13", "digits other than 0-9"),  # fullwidth 123
        ("1" * 31, "more than 30 digits"),
    ],
)
def test_an_ids_file_refuses_the_digits_the_flag_refuses(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    line: str,
    why: str,
) -> None:
    """An ids file's line in Arabic-Indic or fullwidth digits, or of 31 digits, is refused
    as --image refuses it: one line naming the file's line, exit 2, no DIR made (it asked
    the server for image 123, or for an id no server has)."""
    out = tmp_path / "D"
    code, err = run(capsys, "harvest", "--out", str(out), "--image", line)
    assert code == 2
    flag_why = "a valid id (more than 30 digits)" if line.isascii() else "a numeric id"
    assert err.splitlines()[0].startswith(f"error: argument --image: {line!r} is not {flag_why}")
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGES[0]}\n{line}\n", encoding="utf-8")
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == f"error: {ids}: line 2: {line!r} is not an image id ({why})"
    assert not out.exists()
    assert emulator.stats()["image_requests"] == 0


@pytest.mark.parametrize("where", ["ids file", "config file"])
def test_an_id_of_thousands_of_digits_in_a_file_is_no_internal_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, where: str
) -> None:
    """``Image:`` and 5,000 digits as an ids file's line, or 5,000 digits in a config file's
    images: one short error line naming it, exit 2 (it was "internal error: ValueError")."""
    out = tmp_path / "D"
    if where == "ids file":
        ids = tmp_path / "ids.txt"
        ids.write_text(f"{IMAGES[0]}\nImage:{HUGE}\n")
        argv = ["--base-url", emulator.base_url, "--ids-from", str(ids)]
        error = f"error: {ids}: line 2: 'Image:{HUGE[:31]}...' is not an image id"
    else:
        config = tmp_path / "study.toml"
        config.write_text(f'base_url = "{emulator.base_url}"\nimages = ["{HUGE}"]\n')
        argv = [str(config)]
        error = f"error: {config}: images: '{HUGE[:37]}...' is not a valid id (more than 30 digits)"
    code, err = run(capsys, "harvest", *argv, "--out", str(out), "--rate", "none")
    assert code == 2
    assert err.splitlines()[0] == error
    assert not out.exists()
