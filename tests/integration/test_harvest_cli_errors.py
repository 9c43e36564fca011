"""Bad input to the CLI: one-line ``error:`` (+ ``hint:``), exit code 2, nothing written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from demo_helpers import DemoRun
from harvest_helpers import standard_input

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.http import Request, Response

API_ROOT = json.dumps({"data": [{"version": "0", "url:base": "http://x/api/v0/"}]}).encode()


class ScriptedApp:
    """Answers ``api/`` with ``root`` and everything else with a 404 JSON (unknown ids)."""

    def __init__(self, root: tuple[int, bytes, str]) -> None:
        self.root = root

    def handle(self, req: Request) -> Response:
        if req.path == "/api/":
            status, body, ctype = self.root
            return Response(status, body, ctype, route="api")
        if req.path.startswith("/api/v0/m/"):
            body = json.dumps({"message": "Object not found", "stacktrace": ""}).encode()
            return Response(404, body, "application/json", route="api")
        return Response(404, b"<html><h1>Not Found</h1></html>", "text/html", route="404")

    def route_name(self, req: Request) -> str:
        return "api"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def assert_one_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), err
    for needle in needles:
        assert needle in errors[0], err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["harvest", "--plate", "abc", "--out", "D"], "'abc' is not a numeric id"),
        (["harvest", "--image", "-5", "--out", "D"], "--image"),
        (["harvest", "--screen", "1", "--out", "D", "--concurrency", "0"], "concurrency"),
        (["harvest", "--screen", "1", "--out", "D", "--rate", "-1"], "rate"),
        (["harvest", "--screen", "1", "--out", "D", "--rate", "fast"], "rate"),
        (["harvest", "--screen", "1", "--out", "D", "--artifacts", "thumb"], "thumb"),
        (["harvest", "--screen", "1", "--out", "D", "--shard", "4/2"], "shard"),
        (["harvest", "--screen", "1", "--out", "D", "--base-url", "idr.org"], "base"),
        (["harvest", "--screen", "1"], "output folder"),
        # `harvester harvest` alone: it said only "no output folder given"
        (["harvest"], "nothing to harvest and no output folder given"),
        (["harvest", "--out", "D"], "nothing to harvest"),
        (["harvest", "missing.toml", "--out", "D"], "not found"),
        (["status", "no-such-dir"], "no-such-dir does not exist"),
        (["verify", "no-such-dir"], "no-such-dir does not exist"),
        (["harvest", "--ids-from", "nope.txt", "--out", "D"], "cannot read ids file"),
        (["harvest", "--screen", "1", "--out", "D", "--timeout", "soon"], "soon"),
        (["harvest", "--screen", "1", "--out", "D", "--window", "wide"], "wide"),
        (["frobnicate"], "frobnicate"),
        (["harvest", "--from-plan", "P", "--screen", "2302", "--out", "D"], "--screen"),
        (["harvest", "--from-plan", "P", "--ids-from", "i.txt", "--out", "D"], "--from-plan"),
        (["slurm", "--from-plan", "P", "--plate", "1", "--out", "D", "--tasks", "2"], "--plate"),
        # A folder name longer than a filesystem takes: it was "File name too long (...)"
        # with no flag named and no hint, once the run first looked at DIR.
        (["harvest", "--image", "1", "--out", "D/" + "a" * 256], "a name of 256 bytes"),
        (["status", "é" * 128], "a name of 256 bytes: a filesystem takes at most 255"),
        (["plan", "--image", "1", "--out", "a" * 300], "argument --out: 'aaaa"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    needle: str,
) -> None:
    """Each bad argument gives exactly one error line naming the problem, exit 2, no files."""
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, *argv)
    assert code == 2
    assert_one_error(err, needle)
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize("command", ["status", "verify", "index"])
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: d.write_text("keep me", encoding="utf-8"), "is a file, not a folder"),
        (lambda d: d.mkdir(), "is not a harvester folder (no harvest.json)"),
    ],
    ids=["missing", "file", "not-a-harvest"],
)
def test_commands_reading_a_harvest_word_a_wrong_dir_alike(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    make: Callable[[Path], object],
    says: str,
) -> None:
    """status, verify and index refuse a DIR that is no harvest with the same line and hint,
    exit 2, and write nothing (index used to write an empty index.csv into any folder)."""
    out = tmp_path / "D"
    make(out)
    before = sorted(tmp_path.rglob("*"))
    code, err = run(capsys, command, str(out))
    assert code == 2
    assert err.splitlines() == [
        f"error: {out} {says}",
        "hint: give the --out folder of a harvest",
    ]
    assert sorted(tmp_path.rglob("*")) == before


def test_a_folder_beside_a_harvest_names_the_harvest_meant(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
) -> None:
    """`status data` after `--out data/mitosis`, `verify data/mitosis/images`, or a resume
    `harvest --out data`: exit 2, nothing written, and the hint names the harvest folder
    meant, as DIR was typed."""
    monkeypatch.chdir(tmp_path)
    code, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--image", "1884801",
        "--artifacts", "thumbnail", "--rate", "none", "-q", "--out", "data/mitosis",
    )  # fmt: skip
    assert code == 0, err
    (tmp_path / "data" / "notes").mkdir()
    before = sorted(tmp_path.rglob("*"))
    for command, given, says in (
        ("status", "data", "data holds 1 harvest, data/mitosis"),
        ("verify", "data/mitosis/images", "data/mitosis/images is inside the harvest data/mitosis"),
        ("index", "data/notes", ""),
        ("status", "data/mitosis/index.csv", "data/mitosis/index.csv is inside the harvest "
         "data/mitosis"),
    ):  # fmt: skip
        code, err = run(capsys, command, given)
        assert code == 2
        what = (
            "is a file, not a folder"
            if given.endswith(".csv")
            else "is not a harvester folder (no harvest.json)"
        )
        assert err.splitlines() == [
            f"error: {given} {what}",
            "hint: give the --out folder of a harvest" + (f": {says}" if says else ""),
        ]
    code, err = run(capsys, "harvest", "--out", "data")
    assert code == 2
    assert err.splitlines() == [
        "error: nothing to harvest",
        "hint: data is no harvest folder but holds 1 harvest, data/mitosis: give that folder "
        "as --out, or name --screen, --project, --plate, --dataset, --image, --ids-from or "
        "--from-plan",
    ]
    assert sorted(tmp_path.rglob("*")) == before
    for name in ("a", "b", "c", "d"):
        (tmp_path / "many" / name).mkdir(parents=True)
        (tmp_path / "many" / name / "harvest.json").write_text("{}", encoding="utf-8")
    code, err = run(capsys, "status", str(tmp_path / "many"))
    assert code == 2
    assert err.splitlines()[1] == (
        f"hint: give the --out folder of a harvest: {tmp_path / 'many'} holds 4 harvests, "
        f"{tmp_path / 'many' / 'a'}, {tmp_path / 'many' / 'b'}, {tmp_path / 'many' / 'c'} "
        "and 1 more"
    )
    code, err = run(capsys, "harvest", "--out", "many")  # several: which one is the user's
    assert code == 2
    assert err.splitlines()[1].startswith(
        "hint: many is no harvest folder but holds 4 harvests, many/a, many/b, many/c and 1 "
        "more: give one of them as --out, or name --screen,"
    ), err


def test_a_path_below_a_file_does_not_exist(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A DIR below a file (not a folder at all) is reported as missing, not as an OS error."""
    (tmp_path / "file").write_text("x", encoding="utf-8")
    out = tmp_path / "file" / "D"
    for command in ("status", "verify", "index"):
        code, err = run(capsys, command, str(out))
        assert code == 2
        assert_one_error(err, f"{out} does not exist")


def test_unknown_config_key_names_nearest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A config with a typo'd key names the key and suggests the nearest valid one."""
    config = tmp_path / "c.toml"
    config.write_text("screens = [1]\nconcurency = 4\n", encoding="utf-8")
    code, err = run(capsys, "harvest", str(config), "--out", str(tmp_path / "D"))
    assert code == 2
    assert_one_error(err, "concurency")
    assert "hint: did you mean 'concurrency'?" in err


def test_output_folder_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--out naming a file (or a path below one) is refused before any request."""
    target = tmp_path / "file"
    target.write_text("keep me", encoding="utf-8")
    for out in (target, target / "sub"):
        code, err = run(
            capsys,
            "harvest",
            "--screen",
            "1",
            "--out",
            str(out),
            "--base-url",
            "http://127.0.0.1:9",
        )
        assert code == 2
        assert_one_error(err, "output folder")
    assert target.read_text(encoding="utf-8") == "keep me"


def test_ids_file_junk_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A junk line in --ids-from is named by its line number; blank lines and comments pass."""
    ids = tmp_path / "ids.txt"
    ids.write_text("# my ids\n123\n\n456  # ok\nabc\n", encoding="utf-8")
    code, err = run(
        capsys,
        "harvest",
        "--ids-from",
        str(ids),
        "--out",
        str(tmp_path / "D"),
        "--base-url",
        "http://127.0.0.1:9",
    )
    assert code == 2
    assert_one_error(err, "line 5", "abc")
    assert not (tmp_path / "D").exists()


def test_an_excel_workbook_as_ids_file_says_to_save_it_as_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--ids-from ids.xlsx` (a workbook, not text): exit 2 before any request, one error
    naming the file as no text file and a hint to save it as CSV; no folder made."""
    ids = tmp_path / "ids.xlsx"
    ids.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml")
    code, err = run(
        capsys, "harvest", "--ids-from", str(ids), "--out", str(tmp_path / "D"),
        "--base-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, f"error: {ids} is not a text file", "spreadsheet workbook")
    assert "hint: save the sheet as CSV UTF-8 with an image_id column" in err
    assert "PK" not in err
    assert not (tmp_path / "D").exists()


#: An answer of IDR's search engine (image resource), as curl saves it without jq.
SEARCH_ANSWER = json.dumps(
    {"results": {"results": [{"id": 9762957, "name": "a.tif"}, {"id": 9762958}], "size": 2}}
)


def test_a_search_engine_answer_as_ids_file_says_to_take_its_ids_with_jq(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A search engine answer saved as the ids file (or given through a pipe) without the
    README's jq: exit 2 before any request, one error calling it JSON and a hint with the
    jq filter for that file (for a pipe: in the pipe); no folder made."""
    answer = tmp_path / "ect2.json"
    answer.write_text(SEARCH_ANSWER + "\n", encoding="utf-8")
    out = tmp_path / "D"
    code, err = run(
        capsys, "harvest", "--ids-from", str(answer), "--out", str(out),
        "--base-url", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        f"error: {answer}: line 1: JSON, not one image id a line (an answer of IDR's "
        "search engine?)",
        "hint: take the image ids out of it first, one a line: jq '.results.results[].id' "
        f"{answer} > ids.txt, then --ids-from ids.txt",
    ]
    reading, writing = os.pipe()  # (what the shell gives for <(curl ...))
    try:
        os.write(writing, SEARCH_ANSWER.encode())
        os.close(writing)
        code, err = run(
            capsys, "harvest", "--ids-from", f"/dev/fd/{reading}", "--out", str(out),
            "--base-url", "http://127.0.0.1:9",
        )  # fmt: skip
    finally:
        os.close(reading)
    assert code == 2
    assert err.splitlines()[1] == (
        "hint: take the image ids out of it first, one a line: ... | jq "
        "'.results.results[].id' | harvester ..."
    )
    assert not out.exists()
    # `curl ... | harvester harvest --ids-from -`: the source is named "-" as typed (it
    # was "/dev/stdin:", a path the user never gave), with the hint for a pipe.
    with standard_input(SEARCH_ANSWER.encode()):
        code, err = run(
            capsys, "harvest", "--ids-from", "-", "--out", str(out),
            "--base-url", "http://127.0.0.1:9",
        )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        "error: -: line 1: JSON, not one image id a line (an answer of IDR's search engine?)",
        "hint: take the image ids out of it first, one a line: ... | jq "
        "'.results.results[].id' | harvester ...",
    ]
    assert not out.exists()


def test_minus_zero_as_an_image_id_is_refused_as_zero_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``-0`` in an ids file, its image_id column or ``--image`` gets the words ``0`` gets
    (never "negative"), exit 2, nothing written."""
    for name, body in (("ids.txt", "{}\n"), ("ids.csv", "image_id,x\n{},a\n")):
        said = []
        for value in ("0", "-0"):
            ids = tmp_path / name
            ids.write_text(body.format(value), encoding="utf-8")
            out = tmp_path / "D"
            code, err = run(
                capsys, "harvest", "--ids-from", str(ids), "--out", str(out),
                "--base-url", "http://127.0.0.1:9",
            )  # fmt: skip
            assert code == 2 and not out.exists(), err
            assert_one_error(err, f"{value!r} is not an image id")
            said.append(err.replace(repr(value), "ID"))
        assert said[0] == said[1]
        assert "negative" not in said[0]
    said = []
    for value in ("0", "-0"):
        code, err = run(capsys, "harvest", f"--image={value}", "--out", str(tmp_path / "D"))
        assert code == 2, err
        said.append(err.replace(repr(value), "ID"))
    assert said[0] == said[1] and "negative" not in said[0]


@pytest.mark.parametrize(
    ("typed", "scheme"),
    [("{host}", "http"), ("http//{host}", "http"), ("htp://{host}/", "http")],
)
def test_a_mistyped_base_url_is_said_as_the_url_meant(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    typed: str,
    scheme: str,
) -> None:
    """A base URL without its scheme, with its ``://`` cut or its scheme misspelt: exit 2,
    nothing made, and a hint naming the URL meant, which then harvests."""
    host = emulator.base_url.removeprefix("http://")
    given = typed.format(host=host)
    out = tmp_path / "D"
    argv = ["harvest", "--plate", "7361", "--artifacts", "thumbnail", "--rate", "none",
            "-q", "--out", str(out)]  # fmt: skip
    code, err = run(capsys, *argv, "--base-url", given)
    assert code == 2
    meant = f"{scheme}://{given.partition('//')[2] or given}"
    assert err.splitlines() == [
        f"error: --base-url: {given!r} is not an http(s) URL",
        f"hint: did you mean {meant}?",
    ]
    assert not out.exists()
    code, err = run(capsys, *argv, "--base-url", meant)
    assert code == 0, err
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8


@pytest.mark.parametrize("typed", ["htps://host\nevil", "omero.example.org\t/x"])
def test_a_base_url_holding_a_control_character_gets_no_url_meant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, typed: str
) -> None:
    """A misspelt base URL holding a line break or a tab: two lines, exit 2, its hint the
    example URL, not a "did you mean" that the line break split over two lines."""
    out = tmp_path / "D"
    code, err = run(capsys, "harvest", "--base-url", typed, "--plate", "7361", "--out", str(out))
    assert code == 2
    assert err.splitlines() == [
        f"error: --base-url: {typed!r} is not an http(s) URL",
        "hint: e.g. https://idr.openmicroscopy.org",
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("c.toml", "a config file is the command's first argument"),
        ("ids.csv", "a file of image ids goes with --ids-from FILE"),
        ("plates", "a config file is the command's first argument (harvester harvest c.toml ...); "
         "a file of image ids goes with --ids-from FILE"),
    ],
)  # fmt: skip
def test_a_file_given_as_base_url_is_said_to_be_a_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
    name: str,
    where: str,
) -> None:
    """A config file or an id list given where the base URL goes (``--base-url c.toml``):
    exit 2, nothing made, a hint saying it looks like a file and where it belongs, not
    "did you mean https://c.toml?"; given there, the same file harvests."""
    monkeypatch.chdir(tmp_path)
    config = f'base_url = "{emulator.base_url}"\nplates = [7361]\n'
    Path(name).write_text("9762885\n" if name == "ids.csv" else config, encoding="utf-8")
    out = tmp_path / "D"
    common = ["--artifacts", "thumbnail", "--rate", "none", "-q", "--out", str(out)]
    code, err = run(capsys, "harvest", "--base-url", name, "--plate", "7361", *common)
    assert code == 2
    assert err.splitlines() == [
        f"error: --base-url: {name!r} is not an http(s) URL",
        f"hint: {name!r} looks like a file, not a server's address: {where}"
        + ("" if name != "c.toml" else " (harvester harvest c.toml ...)"),
    ]
    assert "https://" not in err
    assert not out.exists()
    if name == "ids.csv":
        code, err = run(capsys, "harvest", "--base-url", emulator.base_url,
                        "--ids-from", name, *common)  # fmt: skip
        assert code == 0, err
        assert len(list(out.rglob("*.thumbnail.jpg"))) == 1
    else:
        code, err = run(capsys, "harvest", name, *common)
        assert code == 0, err
        assert len(list(out.rglob("*.thumbnail.jpg"))) == 8


def test_unreachable_host(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A base URL nobody listens on is a clear 'cannot reach' error, exit 2."""
    code, err = run(
        capsys,
        "harvest",
        "--screen",
        "1",
        "--out",
        str(tmp_path / "D"),
        "--base-url",
        "http://127.0.0.1:9",
        "--timeout",
        "2",
    )
    assert code == 2
    assert_one_error(err, "cannot reach", "127.0.0.1:9")
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize(
    "base_url",
    [
        "http://bob:PASSW0RD@127.0.0.1:9",
        "http://127.0.0.1:9/?bsession=PASSW0RD",
        "http://bob:PASSW0RD@127.0.0.1:9/?bsession=PASSW0RD",
    ],
)
def test_probe_errors_hide_credentials(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    base_url: str,
) -> None:
    """'cannot reach' and 'not OMERO' errors name the server without password or session key."""
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"),
        "--base-url", base_url, "--timeout", "2",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "cannot reach", "127.0.0.1:9")
    assert "PASSW0RD" not in err
    emu = make_emulator(app=ScriptedApp((200, b"<html>Welcome</html>", "text/html")))
    secret_url = base_url.replace("127.0.0.1:9", emu.base_url.removeprefix("http://"))
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"),
        "--base-url", secret_url, "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "not look like an OMERO", emu.base_url.removeprefix("http://"))
    assert "PASSW0RD" not in err


@pytest.mark.parametrize(
    ("root", "needle"),
    [
        ((200, b"<html><body>Welcome</body></html>", "text/html"), "not look like an OMERO"),
        ((200, b"\x00\x01garbage{", "application/json"), "not look like an OMERO"),
        ((200, json.dumps({"x": "y" * 200_000}).encode(), "application/json"), "bytes of JSON"),
        ((200, b'{"data": []}', "application/json"), "not the JSON API root"),
        ((404, b"<html>nope</html>", "text/html"), "not look like an OMERO"),
    ],
)
def test_not_omero(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    root: tuple[int, bytes, str],
    needle: str,
) -> None:
    """HTML, garbage, a huge JSON body or no API at the base URL: one clear error, exit 2."""
    emu = make_emulator(app=ScriptedApp(root))
    code, err = run(
        capsys,
        "harvest",
        "--screen",
        "1",
        "--out",
        str(tmp_path / "D"),
        "--base-url",
        emu.base_url,
        "--max-retries",
        "0",
    )
    assert code == 2
    assert_one_error(err, needle)
    assert not (tmp_path / "D").exists()


def test_a_base_url_of_an_omero_web_page_names_the_root_to_give(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A URL copied from the browser (``.../webclient/``, ``.../omero/webclient/?show=...``)
    has no api/ below it: the hint names the URL to give, where it said "e.g. IDR", and the
    target flag for what the link shows."""
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"), "--base-url",
        f"{emulator.base_url}/webclient/?show=plate-7361", "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "not look like an OMERO")
    assert err.splitlines()[-1] == (
        f"hint: check --base-url: give the address OMERO.web is served under, without its "
        f"webclient/ page: --base-url {emulator.base_url}; what the link shows: --plate 7361"
    )
    assert not (tmp_path / "D").exists()


def test_a_page_url_under_a_path_a_shell_reads_names_its_root_quoted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The root the hint names for a browser page's URL under a path holding a ``~`` (a
    user's folder on a web server) is in single quotes, as every printed flag value that
    holds a character a shell may read (shell_words): it was printed bare."""
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"), "--base-url",
        f"{emulator.base_url}/~lab/webclient/?show=plate-7361", "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[-1] == (
        f"hint: check --base-url: give the address OMERO.web is served under, without its "
        f"webclient/ page: --base-url '{emulator.base_url}/~lab'; what the link shows: "
        "--plate 7361"
    )
    assert not (tmp_path / "D").exists()


def test_a_server_root_without_the_api_hints_at_a_path_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A private OMERO.web is often served under a path (``https://host/omero/``): its
    host alone answers 404, and the hint says to give the path."""
    emu = make_emulator(app=ScriptedApp((404, b"<html>nope</html>", "text/html")))
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"),
        "--base-url", emu.base_url, "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "not look like an OMERO")
    assert err.splitlines()[-1] == (
        "hint: check --base-url: where OMERO.web is served under a path, give it too "
        f"(--base-url {emu.base_url}/omero, as the browser shows it before /webclient/)"
    )


def test_an_unknown_id_asked_with_credentials_hints_at_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """On a private OMERO.web an image the session may not see is "not found" (404) like
    an unknown id: with credentials sent (an expired ?bsession=, a header), the hint says
    to check them too, never showing them."""
    code, err = run(
        capsys, "harvest", "--plate", "99999", "--out", str(tmp_path / "D"), "--base-url",
        f"{emulator.base_url}/?bsession=S3SSION", "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines() == [
        "error: plate 99999 not found on the server",
        f"hint: check the plate id on {emulator.base_url}/ (plates and screens have separate "
        "ids), and that the credentials given may see it (a session key expires); plates are "
        "given by id, not by name: a plate's id is in index.csv's plate_id column (beside "
        "plate_name), and in the webclient's link to it (?show=plate-ID)",
    ]


class RefusingApp(ScriptedApp):
    """OMERO.web's API root, and 403 for every object: a session that may not see them."""

    def handle(self, req: Request) -> Response:
        if req.path.startswith("/api/v0/m/"):
            body = json.dumps({"message": "Forbidden"}).encode()
            return Response(403, body, "application/json", route="api")
        return super().handle(req)


def test_a_refused_target_asked_with_credentials_hints_at_them(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A 403 with credentials sent: "check that it is public" was the wrong next step."""
    emu = make_emulator(app=RefusingApp((200, API_ROOT, "application/json")))
    secrets = tmp_path / "s.toml"
    secrets.write_text('[cookies]\nsessionid = "C00KIE"\n')
    code, err = run(
        capsys, "harvest", str(secrets), "--plate", "5", "--out", str(tmp_path / "D"),
        "--base-url", emu.base_url, "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[-1] == (
        "hint: the server refused plate 5: check that the credentials given may see it on "
        f"{emu.base_url}/ (a session key expires)"
    )
    assert "C00KIE" not in err


class RedirectingApp:
    """Answers every request with a 301 to ``target`` + the request's path and query: a
    front end sending http:// to https://, or / to /omero/."""

    def __init__(self, target: str) -> None:
        self.target = target

    def handle(self, req: Request) -> Response:
        return Response(301, b"", headers=[("Location", f"{self.target}{req.raw_path}")])

    def route_name(self, req: Request) -> str:
        return "redirect"


def test_a_redirected_api_root_names_the_base_url_to_give(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A private server's front end redirects (http:// to https://, / to /omero/), which the
    harvester does not follow off the base URL's host nor, by default, on it: the hint names
    the URL the server sends to, where it said "e.g. IDR" (or "served under a path")."""
    front = make_emulator(app=RedirectingApp(emulator.base_url))
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"), "--base-url",
        f"{front.base_url}/?bsession=S3SSION", "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "redirect")
    assert err.splitlines()[-1] == (
        f"hint: the server sends its API root to {emulator.base_url}/api/: give --base-url "
        f"{emulator.base_url}/ (with its credentials)"
    )
    assert "S3SSION" not in err

    app = RedirectingApp("")
    same = make_emulator(app=app)
    app.target = f"{same.base_url}/omero"  # / to /omero/ on the same host
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"), "--base-url",
        same.base_url, "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "redirect")
    assert err.splitlines()[-1] == (
        f"hint: the server sends its API root to {same.base_url}/omero/api/: give --base-url "
        f"{same.base_url}/omero/"
    )


@pytest.mark.parametrize("flag", ["--screen", "--plate", "--project", "--dataset", "--image"])
def test_unknown_ids(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    flag: str,
) -> None:
    """An id the server does not know is one 'not found' error, exit 2, nothing fetched."""
    app = ScriptedApp((200, API_ROOT, "application/json"))
    emu = make_emulator(app=app)
    code, err = run(
        capsys,
        "harvest",
        flag,
        "999999",
        "--out",
        str(tmp_path / "D"),
        "--base-url",
        emu.base_url,
        "--max-retries",
        "0",
    )
    assert code == 2
    assert_one_error(err, "999999", "not found")
    assert not (tmp_path / "D").exists() or flag == "--image"


def test_storage_failure_mid_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A write failure mid-run is one clear error, exit 1; what was journaled stays done."""
    import shutil

    out = tmp_path / "D"
    common = ["--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
              "--rate", "none", "--quiet"]  # fmt: skip
    assert main(["harvest", *common, "--artifacts", "metadata"]) == 0
    capsys.readouterr()
    shutil.rmtree(out / "images")
    (out / "images").write_text("not a folder", encoding="utf-8")
    # Other kinds than the folder's (a run given none would fetch metadata, all done).
    code, err = run(capsys, "harvest", *common, "--artifacts", "thumbnail")
    assert code == 1
    assert "error: cannot write images/" in err
    assert main(["status", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kinds"]["metadata"]["done"] == 8


def test_a_base_url_path_without_omero_web_under_it_names_the_root(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`--base-url https://host/omero/` where OMERO.web is at the server's root (api/ 404
    under the path): the hint says it is not under /omero/ and names the root, where it
    said "e.g. https://idr.openmicroscopy.org"."""
    code, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "D"), "--base-url",
        f"{emulator.base_url}/omero/", "--max-retries", "0",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, "not look like an OMERO")
    assert err.splitlines()[-1] == (
        "hint: check --base-url: OMERO.web is not under /omero/ there: give the address the "
        f"browser shows before /webclient/ (--base-url {emulator.base_url} where it is at "
        "the server's root)"
    )
    assert not (tmp_path / "D").exists()


def test_harvest_alone_names_what_a_harvest_needs_by_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester harvest` with nothing else (a first try): one error, and a hint with a
    command that works as written and where every option is listed; exit 2, nothing made."""
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, "harvest")
    assert code == 2
    assert err.splitlines() == [
        "error: nothing to harvest and no output folder given",
        "hint: name the targets and the folder, e.g. harvester harvest --screen 2302 --out "
        "idr0056 (harvester harvest --help lists every option)",
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_harvest_folder_given_to_ids_from_is_told_to_give_its_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, demo_run: DemoRun
) -> None:
    """`--ids-from DIR` (a harvest folder, to fetch its images again with other kinds): one
    error and a hint naming DIR/index.csv (it said --ids-from takes a text file), exit 2,
    nothing made; the file the hint names is read: every one of DIR's images is found."""
    out = tmp_path / "D"
    argv = ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none"]
    code, err = run(capsys, *argv, "--ids-from", str(demo_run.out))
    assert code == 2
    assert err.splitlines() == [
        f"error: cannot read ids file {str(demo_run.out)!r}: Is a directory",
        f"hint: {demo_run.out} is a harvest folder: give its index.csv instead, "
        f"{demo_run.out / 'index.csv'}, whose image_id column is read",
    ]
    assert not out.exists()
    assert main([*argv, "--ids-from", str(demo_run.out / "index.csv"), "--dry-run"]) == 0
    assert "80 images found" in capsys.readouterr().out


#: One over OMERO's largest id (its ids are Java longs).
OVER = "9223372036854775808"


@pytest.mark.parametrize(
    ("targets", "files"),
    [
        (["--image", OVER], {}),
        (["--plate", f"Plate:{OVER}"], {}),
        (["--image", f"9223372036854775806-{OVER}"], {}),
        (["--dataset", f"{{url}}/webclient/?show=dataset-{OVER}"], {}),
        # (the image links but ?show= said "shows no target", "not a link harvester reads"
        # or "not an image id", and Well:ID "not a numeric id")
        (["--image", f"{{url}}/webclient/img_detail/{OVER}/"], {}),
        (["--image", f"{{url}}/webgateway/render_thumbnail/{OVER}/"], {}),
        (["--image", f"{{url}}/api/v0/m/images/{OVER}/"], {}),
        (["--image", f"{{url}}/iviewer/?images=1,{OVER}"], {}),
        (["--plate", f"Well:{OVER}"], {}),
        (["--ids-from", "ids.txt"], {"ids.txt": f"9762957\n{OVER}\n"}),
        (["--ids-from", "ids.txt"], {"ids.txt": f"{{url}}/webclient/img_detail/{OVER}/\n"}),
        (["c.toml"], {"c.toml": f"images = [{OVER}]\n"}),
    ],
    ids=[
        *("flag", "typed", "range", "link", "img_detail", "render", "api", "iviewer", "well"),
        *("ids-file", "ids-file-link", "config"),
    ],
)
def test_an_id_over_omeros_largest_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
    targets: list[str],
    files: dict[str, str],
) -> None:
    """An id over 9223372036854775807 names nothing on any OMERO server: it is refused as
    it is read (flag, typed id, range, link, ids file, config file), saying so, exit 2,
    no request and no folder; it was asked of the server as any id."""
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text.replace("{url}", emulator.base_url), encoding="utf-8")
    targets = [t.replace("{url}", emulator.base_url) for t in targets]
    code, err = run(
        capsys, "harvest", *targets, "--base-url", emulator.base_url, "--rate", "none",
        "--out", "D",
    )  # fmt: skip
    assert code == 2
    assert_one_error(err, OVER, "over 9223372036854775807, the largest id OMERO has")
    assert emulator.stats()["requests"] == 0
    assert not (tmp_path / "D").exists()
