"""Target ids as comma lists, repeated --artifacts, and --sample given a share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import build_parser, main
from harvester.emulator import EmulatorThread


def parse(*argv: str) -> object:
    return build_parser().parse_args(["harvest", "--out", "D", *argv])


def test_ids_take_a_comma_list_and_repeat() -> None:
    """Id flags take comma lists and repeat, adding up in order."""
    args = parse("--image", "3,1", "--image", "2", "--screen", "7")
    assert args.images == [3, 1, 2]  # type: ignore[attr-defined]
    assert args.screens == [7]  # type: ignore[attr-defined]


#: Every comma-list flag of harvest, plan and slurm, with a list of two items and their value.
COMMA_FLAGS = [
    ("--screen", "screens", "7,idr0056", [7, "idr0056"], "id or name"),
    ("--project", "projects", "51,idr0021", [51, "idr0021"], "id or name"),
    ("--plate", "plates", "5,6", [5, 6], "id"),
    ("--dataset", "datasets", "5,6", [5, 6], "id"),
    ("--image", "images", "1,2", [1, 2], "id"),
    ("--artifacts", "artifacts", "rois,thumbnail", "rois,thumbnail", "artifact kind"),
]


def command_line(command: str, out: Path) -> list[str]:
    """``command`` with what it requires besides the flag tested."""
    return [command, "--out", str(out), *(["--tasks", "2"] if command == "slurm" else [])]


@pytest.mark.parametrize("command", ["harvest", "plan", "slurm"])
@pytest.mark.parametrize(("flag", "dest", "text", "value", "_what"), COMMA_FLAGS)
def test_every_comma_list_ignores_empty_items(
    command: str, flag: str, dest: str, text: str, value: object, _what: str
) -> None:
    """One rule for every comma list: a trailing, leading or doubled comma is harmless
    (``--image 1,`` was refused while ``--artifacts rois,`` was taken)."""
    first, second = text.split(",")
    for given in (f"{text},", f",{text}", f"{first},,{second}", f" {first} , {second} ,"):
        args = build_parser().parse_args([*command_line(command, Path("D")), flag, given])
        assert getattr(args, dest) == value, given


@pytest.mark.parametrize("command", ["harvest", "plan", "slurm"])
@pytest.mark.parametrize(("flag", "_dest", "_text", "_value", "what"), COMMA_FLAGS)
@pytest.mark.parametrize("given", [",", "", " , ,"])
def test_every_comma_list_refuses_a_value_without_items(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    flag: str,
    _dest: str,
    _text: str,
    _value: object,
    what: str,
    given: str,
) -> None:
    """A value with no item at all (``--image ,``, an unset ``$IDS``) asked for nothing."""
    assert main([*command_line(command, tmp_path / "D"), flag, given]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"error: argument {flag}: {given!r} holds no {what}",
        f"hint: see 'harvester {command} --help'",
    ]
    assert not (tmp_path / "D").exists()


def test_repeated_artifacts_add_up() -> None:
    """Repeated --artifacts add up into one list."""
    args = parse("--artifacts", "thumbnail", "--artifacts", "metadata,stack")
    assert args.artifacts == "thumbnail,metadata,stack"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--image", "1,7x"], "error: argument --image: '7x' is not a numeric id"),
        (
            ["--plate", "idr0056"],
            "error: argument --plate: 'idr0056' is not a numeric id (names are taken by"
            " --screen and --project only)",
        ),
        # str.isdigit() is true of '²', which int() refuses: it was 'invalid _ids value'
        (["--image", "²"], "error: argument --image: '²' is not a numeric id"),
        # 0 and -5 are numeric: "not a numeric id" puzzled (a config file's said why)
        (["--image", "0"], "error: argument --image: '0' is not a valid id (ids are positive)"),
        (["--dataset=-5"], "error: argument --dataset: '-5' is not a valid id (ids are positive)"),
        (
            ["--plate", "9" * 31],
            f"error: argument --plate: '{'9' * 31}' is not a valid id (more than 30 digits)",
        ),
        (
            ["--sample", "10%"],
            "error: argument --sample: '10%' is a share of the images: use --sample-fraction 0.1",
        ),
        (
            ["--sample", "0.25"],
            "error: argument --sample: '0.25' is a share of the images: use --sample-fraction 0.25",
        ),
        (["--sample", "ten"], "error: argument --sample: 'ten' is not an integer"),
        (  # it was "is not an integer", naming no range
            ["--sample", "150%"],
            "error: argument --sample: '150%' is not a number of images, nor a share of them: a"
            " percentage must be more than 0% and at most 100%, given as a fraction"
            " (--sample-fraction 0.1 keeps about 10%)",
        ),
        (  # the other flag's slip: it was "'10%' is not a number", naming no fix
            ["--sample-fraction", "10%"],
            "error: argument --sample-fraction: '10%' is a percentage: give it as a fraction, "
            "--sample-fraction 0.1",
        ),
        # Numbers both, out of range: they were "is not a number"
        (
            ["--sample-fraction", "150%"],
            "error: argument --sample-fraction: '150%' is not a share of the images: a "
            "percentage must be more than 0% and at most 100%, given as a fraction "
            "(--sample-fraction 0.1 keeps about 10%)",
        ),
        (
            ["--sample-fraction=-10%"],
            "error: argument --sample-fraction: '-10%' is not a share of the images: a "
            "percentage must be more than 0% and at most 100%, given as a fraction "
            "(--sample-fraction 0.1 keeps about 10%)",
        ),
        (["--sample-fraction", "abc"], "error: argument --sample-fraction: 'abc' is not a number"),
        # Ranges and lists written as elsewhere: they were "is not a numeric id"
        (
            ["--image", "9762957..9762964"],
            "error: argument --image: '9762957..9762964' is not a range harvester reads: "
            "give it as FIRST-LAST, --image 9762957-9762964",
        ),
        (
            ["--plate", "7361\u20137366"],
            "error: argument --plate: '7361\u20137366' is not a range harvester reads: "
            "give it as FIRST-LAST, --plate 7361-7366",
        ),
        (
            ["--dataset", "51:52"],
            "error: argument --dataset: '51:52' is not a range harvester reads: "
            "give it as FIRST-LAST, --dataset 51-52",
        ),
        # The whole list respelt, not the range alone (which dropped the 5), and a list the
        # flag takes: the x is refused first
        (
            ["--image", "5,9762957..9762964"],
            "error: argument --image: '9762957..9762964' is not a range harvester reads: "
            "give it as FIRST-LAST, --image 5,9762957-9762964",
        ),
        (
            ["--image", "1..2,x"],
            "error: argument --image: 'x' is not a numeric id (names are taken by --screen and "
            "--project only)",
        ),
        (
            ["--image", "[9762957, 9762958]"],
            "error: argument --image: '[9762957': brackets are not part of an id: give the ids "
            "as a comma list, --image 9762957,9762958",
        ),
    ],
)
def test_bad_values_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    """Bad ids or samples are a one-line error saying what is wrong and what to use, exit 2."""
    assert main(["harvest", "--out", "D", *argv]) == 2
    assert capsys.readouterr().err.splitlines()[0] == error


@pytest.mark.parametrize("key", ["plates", "screens"])
def test_a_superscript_digit_in_a_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """'²' passes str.isdigit(): the config file's ids gave 'internal error: ValueError'."""
    config = tmp_path / "c.toml"
    config.write_text(f'{key} = ["²"]\nbase_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    code = main(["harvest", str(config), "--out", str(tmp_path / "D"), "--dry-run"])
    err = capsys.readouterr().err
    assert "internal error" not in err
    if key == "plates":
        assert code == 2
        assert err.splitlines()[0] == f"error: {config}: plates: '²' is not a numeric id"


def test_artifact_names_in_any_case() -> None:
    """Artifact names are taken in any case."""
    from harvester.config import parse_artifacts
    from harvester.models import Artifact

    assert parse_artifacts("ROIS,Thumbnail") == (Artifact.THUMBNAIL, Artifact.ROIS)


def test_status_leads_a_failure_with_its_status_only_where_it_says_something() -> None:
    """A 2xx whose body was wrong is its reason alone (the summary words it so too)."""
    from harvester.status import StatusReport

    report = StatusReport(out_dir="D", selected=["imgdata"])
    report.failures = [
        {"kind": "imgdata", "id": 5, "status": 200, "reason": "imgData Exception: x", "url": "u"},
        {"kind": "render", "id": 6, "status": 403, "reason": "Forbidden", "url": "v"},
    ]
    lines = report.format_text().splitlines()
    assert "  imgdata 5: imgData Exception: x <u>" in lines
    assert "  render 6: HTTP 403: Forbidden <v>" in lines


@pytest.mark.parametrize(
    ("value", "flag", "said"),
    [
        ("true", "7x", "True"),
        ('"Image:' + "9" * 60 + 'x"', "Image:" + "9" * 60 + "x", "'Image:" + "9" * 31 + "...'"),
    ],
)
def test_a_config_files_bad_id_is_worded_and_cut_as_a_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, flag: str, said: str
) -> None:
    """A config file's target that is no id reads as a flag's does: 'is not a numeric id'
    (a true was 'not an id'), a long one cut at the same 40 characters."""
    config = tmp_path / "c.toml"
    config.write_text(f'images = [{value}]\nbase_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D"), "--dry-run"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"error: {config}: images: {said} is not a numeric id"
    assert main(["harvest", "--out", "D", "--image", flag]) == 2
    shown = "'7x'" if flag == "7x" else said
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: argument --image: {shown} is not a numeric id"
    )


@pytest.mark.parametrize(
    ("value", "lines"),
    [
        (
            "thumbnail metadata",
            [
                "error: --artifacts: 'thumbnail metadata' is several kinds, not one",
                "hint: give them as one comma list: --artifacts thumbnail,metadata",
            ],
        ),
        # the whole list (it said `--artifacts thumbnail,metadata`, dropping rois), and one
        # the flag takes: another unknown item is refused first
        (
            "rois,thumbnail metadata",
            [
                "error: --artifacts: 'thumbnail metadata' is several kinds, not one",
                "hint: give them as one comma list: --artifacts rois,thumbnail,metadata",
            ],
        ),
        (
            "thumbnail metadata,tiff",
            [
                "error: --artifacts: unknown artifact 'tiff'",
                "hint: did you mean 'stack' (every z, t and channel of an image as one OME-TIFF)?",
            ],
        ),
        (
            "tiff",
            [
                "error: --artifacts: unknown artifact 'tiff'",
                "hint: did you mean 'stack' (every z, t and channel of an image as one OME-TIFF)?",
            ],
        ),
        (
            "JPG",
            [
                "error: --artifacts: unknown artifact 'jpg'",
                "hint: did you mean 'render' (the image's default plane, rendered as JPEG or PNG)?",
            ],
        ),
        (
            "thumbnail,zarr",
            [
                "error: --artifacts: unknown artifact 'zarr'",
                "hint: harvester writes no OME-Zarr: 'stack' is every z, t and channel of an "
                "image as one OME-TIFF (rendered 8-bit planes); 'paths' lists where its "
                "original files are",
            ],
        ),
        (
            "thumbs",
            ["error: --artifacts: unknown artifact 'thumbs'", "hint: did you mean 'thumbnail'?"],
        ),
    ],
)
def test_an_artifact_given_as_users_say_it_is_told_the_kind_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, lines: list[str]
) -> None:
    """`--artifacts "thumbnail metadata"` was told "did you mean 'thumbnail'?" (dropping
    metadata) and `--artifacts tiff` the list of kinds, none saying TIFF: the comma list to
    give, and the kind a format word means; exit 2, no folder made."""
    out = tmp_path / "D"
    assert main(["harvest", "--out", str(out), "--image", "1", "--artifacts", value]) == 2
    assert capsys.readouterr().err.splitlines() == lines
    assert not out.exists()


def test_a_config_files_artifacts_item_of_several_kinds_is_told_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`artifacts = ["thumbnail metadata"]` in a config file: the list to write there, not
    the flag."""
    config = tmp_path / "c.toml"
    config.write_text(
        'images = [1]\nartifacts = ["rois", "thumbnail metadata"]\n', encoding="utf-8"
    )
    assert main(["harvest", str(config), "--out", str(tmp_path / "D")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: artifacts: 'thumbnail metadata' is several kinds, not one",
        'hint: give each as an item of the list: artifacts = ["rois", "thumbnail", "metadata"]',
    ]


@pytest.mark.parametrize(
    ("argv", "lines"),
    [
        (
            ["--timeout", "30s"],
            [
                "error: argument --timeout: '30s' is not a number: give it without its unit, 30",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        (
            ["--thumbnail-size", "96px"],
            [
                "error: argument --thumbnail-size: '96px' is not an integer: give it without "
                "its unit, 96",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        (
            ["--rate", "10/s"],
            [
                "error: --rate: '10/s' is not a number",
                "hint: give the requests per second alone, 10, or 'none'",
            ],
        ),
        # no number the flag would refuse in turn: an integer flag's 8.5, a timeout of inf,
        # a rate of 0
        (
            ["--rate", "0/s"],
            [
                "error: --rate: '0/s' is not a number",
                "hint: give a positive number of requests per second alone, or 'none'",
            ],
        ),
        (
            ["--concurrency", "8.5s"],
            [
                "error: argument --concurrency: '8.5s' is not an integer",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        (
            ["--timeout", "infs"],
            [
                "error: argument --timeout: 'infs' is not a number",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        # nor a timeout of 0 (`--timeout 0s` was told 0, refused in turn): what it takes
        (
            ["--timeout", "0s"],
            [
                "error: argument --timeout: '0s' is not a number: give a positive number, "
                "without a unit",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        # nor a count of 0 (`--burst 0s` was told 0; a bare 0: "must be ... at least 1")
        *(
            (
                [flag, "0s"],
                [
                    f"error: argument {flag}: '0s' is not an integer: give an integer of at "
                    "least 1, without a unit",
                    "hint: see 'harvester harvest --help'",
                ],
            )
            for flag in ("--burst", "--concurrency", "--thumbnail-size", "--sample")
        ),
        (  # (a flag that takes 0 is still told it)
            ["--max-retries", "0s"],
            [
                "error: argument --max-retries: '0s' is not an integer: give it without its "
                "unit, 0",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        # nor a negative one: no flag typed with a unit takes it (its refusal came next)
        (
            ["--timeout=-5s"],
            [
                "error: argument --timeout: '-5s' is not a number",
                "hint: see 'harvester harvest --help'",
            ],
        ),
        # a multiplier is no unit: 1k without it is 1, not the 1000 meant (1k is taken now,
        # as 1024 bytes/s: see test_a_min_speed_with_a_unit_is_taken); a rate is not
        (
            ["--min-speed", "1k/s"],
            [
                "error: argument --min-speed: '1k/s' is not a number of bytes per second "
                "(e.g. 1024, or 1K, 10K)",
                "hint: see 'harvester harvest --help'",
            ],
        ),
    ],
)
def test_a_number_typed_with_its_unit_is_told_the_number_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], lines: list[str]
) -> None:
    """`--timeout 30s` was "'30s' is not a number" alone, as if 30 were none: the refusal
    gives the number to type; exit 2, no folder made."""
    out = tmp_path / "D"
    assert main(["harvest", "--out", str(out), "--image", "1", *argv]) == 2
    assert capsys.readouterr().err.splitlines() == lines
    assert not out.exists()


def test_a_min_speed_with_a_unit_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """`--min-speed 10K` (its default is 1024, 1K) was "'10K' is not a number": it is
    10240 bytes/s, binary as --max-bytes's units, and the run harvests with it."""
    out = tmp_path / "D"
    code = main(["harvest", "--base-url", emulator.base_url, "--image", "9762957", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
                 "--min-speed", "10K"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 1
    (saved,) = (out / "runs").glob("*/config.json")
    assert json.loads(saved.read_text())["config"]["min_speed"] == 10240.0
    config = tmp_path / "c.toml"  # a config file's min_speed alike
    config.write_text('images = [9762958]\nmin_speed = "2K"\nartifacts = ["thumbnail"]\n')
    assert main(["harvest", str(config), "--out", str(out), "--rate", "none", "-q"]) == 0
    saved_runs = [json.loads(p.read_text())["config"] for p in out.glob("runs/*/config.json")]
    speeds = [run["min_speed"] for run in saved_runs]
    assert sorted(speeds) == [2048.0, 10240.0]


def test_a_config_files_number_written_with_its_unit_is_told_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`timeout = "30s"` in a config file: the line to write, without quotes or unit."""
    config = tmp_path / "c.toml"
    config.write_text('images = [1]\ntimeout = "30s"\n', encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: timeout: expected a number, got '30s'",
        "hint: write timeout = 30, without quotes or unit",
    ]


@pytest.mark.parametrize(
    ("line", "error", "hint"),
    [
        ('timeout = "0s"', "expected a number, got '0s'",
         "timeout takes a positive number, written without quotes or unit"),
        ('burst = "0s"', "expected an integer, got '0s'",
         "burst takes an integer of at least 1, written without quotes or unit"),
        ('concurrency = "0"', "expected an integer, got the text '0'",
         "concurrency takes an integer of at least 1, written without quotes"),
        ('max_retries = "0s"', "expected an integer, got '0s'",
         "write max_retries = 0, without quotes or unit"),
    ],
)  # fmt: skip
def test_a_config_files_0_with_its_unit_is_told_what_the_key_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, error: str, hint: str
) -> None:
    """`timeout = "0s"`, `burst = "0s"` are not told to write `timeout = 0`, refused in
    turn, but what the key takes, as a bare 0 is told; a key that takes 0 gets its line."""
    config = tmp_path / "c.toml"
    config.write_text(f"images = [1]\n{line}\n", encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D")]) == 2
    key = line.partition(" ")[0]
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: {key}: {error}",
        f"hint: {hint}",
    ]
    assert not (tmp_path / "D").exists()


def test_a_config_files_integer_with_its_unit_is_told_only_a_whole_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`concurrency = "8s"` is told the line to write; `concurrency = "8.5s"` is not told
    `concurrency = 8.5`, which is refused in turn as no integer."""
    config = tmp_path / "c.toml"
    config.write_text('images = [1]\nconcurrency = "8s"\n', encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: concurrency: expected an integer, got '8s'",
        "hint: write concurrency = 8, without quotes or unit",
    ]
    config.write_text('images = [1]\nconcurrency = "8.5s"\n', encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {config}: concurrency: expected an integer, got '8.5s'"
    ]


@pytest.mark.parametrize(
    ("value", "said", "hint"),
    [
        ('"1..5"', "'1..5' is not a range harvester reads",
         'hint: give it as FIRST-LAST, images = ["1-5"], or as a list of ids'),
        ('"7361\u20137366"', "'7361\u20137366' is not a range harvester reads",
         'hint: give it as FIRST-LAST, images = ["7361-7366"], or as a list of ids'),
        ('"[1, 2]"', "'[1, 2]': brackets are not part of an id",
         "hint: give the ids as a list, images = [1, 2]"),
        # a range naming no id, alone or as an item of a list: the flags' words
        ('"1..0"', "'1..0' is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST): "
         "it names no id (ids start at 1)",
         "hint: a range is FIRST-LAST, at most 1,000 ids; more images go in an ids file "
         "(ids_from)"),
        ('"1,5..3"', "'5..3' is not a range of ids (FIRST-LAST, from 1, FIRST not above "
         "LAST): it runs backwards: give it as 3-5",
         "hint: a range is FIRST-LAST, at most 1,000 ids; more images go in an ids file "
         "(ids_from)"),
        ('"1,x"', "'x' is not a numeric id", "hint: ids are positive integers, e.g. 2302"),
        ('"1,5..7"', "'1,5..7' is several ids in one string",
         'hint: give them as a list, images = [1, "5-7"]'),
    ],
)  # fmt: skip
def test_a_config_files_range_written_otherwise_gets_the_flags_range_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, said: str, hint: str
) -> None:
    """``images = ["1..5"]`` is refused with the spelling to give, as ``--image 1..5`` is
    (it was "not a numeric id"); exit 2, nothing written."""
    config = tmp_path / "c.toml"
    config.write_text(f'images = [{value}]\nbase_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    assert main(["harvest", str(config), "--out", str(tmp_path / "D"), "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {config}: images: {said}", hint]
    assert not (tmp_path / "D").exists()
