"""``--screen NAME`` / ``--project NAME``: studies named as IDR's website shows them.

A name selects every screen (project) named so, or whose name starts with it followed by
``-`` or ``/``, case-insensitively; it is looked up once per run, after the server check,
and the run goes on with ids (what it saves holds ids, so a resume never looks up names).
Every test talks to the emulator over real sockets.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shlex
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from harvest_helpers import content, harvest, refused_port, run_cli

from harvester.cli.harvest import _target_items
from harvester.config import HarvestConfig, resolve
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator import catalogue as catalogue_module
from harvester.emulator.catalogue_presets import build_specs
from harvester.emulator.http import Request, Response
from harvester.errors import UsageError
from harvester.names import matches, shown
from harvester.pipeline import RunSummary, run_harvest
from harvester.retry import zero_waits

DEMO_SCREEN = 2302
DEMO_SCREEN_NAME = "idr0056-stojic-lncrnas/screenB"
DEMO_PROJECT = 51
LISTING = ("/api/v0/m/screens/?", "/api/v0/m/projects/?")


class ListingApp:
    """An emulator application that records every request target it is asked for.

    ``page_cap``: the screen and project listings answer at most that many items a page
    (as a server with a small ``omero.web.api.max_limit`` does), so a client must page.
    """

    def __init__(self, inner: Any, page_cap: int | None = None) -> None:
        self.inner = inner
        self.page_cap = page_cap
        self.lock = threading.Lock()
        self.paths: list[str] = []
        #: The screen and project listings answer this status (0: they answer).
        self.fail_listings = 0

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.paths.append(req.raw_path)
        if self.fail_listings and req.raw_path.startswith(LISTING):
            return Response(self.fail_listings, b"no", "text/plain", route="test:fail")
        if self.page_cap is not None and req.raw_path.startswith(LISTING):
            query = tuple(
                (k, str(min(int(v), self.page_cap)) if k == "limit" else v) for k, v in req.query
            )
            req = dataclasses.replace(req, query=query)
        return self.inner.handle(req)  # type: ignore[no-any-return]

    def listings(self) -> list[str]:
        with self.lock:
            return [p for p in self.paths if p.startswith(LISTING)]


@pytest.fixture
def demo(make_emulator: Callable[..., EmulatorThread]) -> Iterator[tuple[str, ListingApp]]:
    app = ListingApp(build_application("demo", 0, "omeroweb"))
    emu = make_emulator(app=app)
    yield emu.base_url, app


def _study_specs(name: str, seed: int) -> tuple[list[Any], list[Any]]:
    """Three screens, two of one study (idr9001: screenA and screenB) and one of idr9002."""
    fields = build_specs("fields", seed)[0][0]  # 'idr9001-emulated-fields/screenA', 72 images
    runs = build_specs("runs", seed)[0][0]  # 48 images
    other = build_specs("plate384", seed)[0][0]  # 'idr9002-emulated-384/screenA'
    second = dataclasses.replace(runs, name="IDR9001-emulated-fields/screenB")
    return [fields, second, other], []


@pytest.fixture
def study(
    make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, ListingApp]:
    """An emulator whose study idr9001 has two screens (1101 and 1151), listed one a page."""
    monkeypatch.setattr(catalogue_module, "build_specs", _study_specs)
    app = ListingApp(build_application("fields", 0, "omeroweb"), page_cap=1)
    return make_emulator(app=app).base_url, app


def _harvest(base_url: str, out: Path, **values: Any) -> RunSummary:
    """A thumbnails harvest in process (harvest_helpers.harvest with that default)."""
    return harvest(base_url, out, **{"artifacts": ("thumbnail",), **values})


def _saved_config(out: Path) -> dict[str, Any]:
    (config,) = (out / "runs").glob("*/config.json")
    saved: dict[str, Any] = json.loads(config.read_text())["config"]
    return saved


def _index_screens(out: Path) -> dict[str, int]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["screen_id"]] = counts.get(row["screen_id"], 0) + 1
    return counts


# --------------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("name", "selected"),
    [
        ("idr0056", True),
        ("IDR0056", True),
        ("idr0056-stojic-lncrnas", True),
        ("idr0056-stojic-lncrnas/", True),
        ("idr0056-stojic-lncrnas/screenB", True),
        ("idr0056-stojic-lncrnas/screenb", True),
        ("idr005", False),  # "6" follows
        ("idr0056-stojic", True),  # "-" follows
        ("idr0056-stoj", False),
        ("idr0056-stojic-lncrnas/screen", False),
        ("screenB", False),
    ],
)
def test_a_name_selects_the_name_or_its_study(name: str, selected: bool) -> None:
    """A name selects a screen by its whole name or study, case-insensitive, never by a prefix."""
    assert matches(name, DEMO_SCREEN_NAME) is selected


def test_names_in_messages_are_one_printable_line() -> None:
    """Control characters escaped as repr escapes them; a long name cut to 80 and counted."""
    assert shown("a\nb\x1b[31mc\x00") == "a\\nb\\x1b[31mc\\x00"
    assert shown("x" * 5000) == "x" * 80 + "…(5,000 characters)"


def test_flags_and_files_mix_ids_and_names(tmp_path: Path) -> None:
    """``--screen 1,idr0056`` and ``screens = [2302, "idr0021"]``: ids stay ints, names apart."""
    assert _target_items("1, idr0056 ,2", "screen", named=True) == [1, "idr0056", 2]
    toml = tmp_path / "c.toml"
    toml.write_text('screens = [2302, "idr0056", "7"]\nprojects = ["idr0021"]\n')
    cfg = resolve(toml)
    assert (cfg.screens, cfg.screen_names) == ((2302, 7), ("idr0056",))
    assert (cfg.projects, cfg.project_names) == ((), ("idr0021",))
    assert cfg.has_targets
    assert "screen_names" not in dataclasses.replace(cfg, screen_names=()).to_public()
    with pytest.raises(UsageError):
        resolve(None, {"plates": ["idr0056"]})  # plates, datasets and images take ids only


# --------------------------------------------------------------------------- harvests
def test_a_name_shaped_like_a_range_stays_a_name() -> None:
    """``--project 2021-03`` and ``--screen 2020-2021`` are names (as before ranges came), not
    a backwards range refused nor ids 2020 and 2021; ``--image`` and ``--plate`` take ranges."""
    assert _target_items("2021-03", "project", named=True) == ["2021-03"]
    assert _target_items("2020-2021", "screen", named=True) == ["2020-2021"]
    assert _target_items("7-9", "image", named=False) == [7, 8, 9]
    assert _target_items("7361-7362", "plate", named=False) == [7361, 7362]


@pytest.mark.parametrize("command", ["harvest", "plan", "slurm", "forget"])
def test_help_offers_ranges_only_where_they_are_taken(command: str) -> None:
    """``--help``: --screen and --project do not offer ``a range FIRST-LAST`` (there
    ``2021-03`` is a name), --plate, --dataset and --image still do."""
    shown = run_cli(command, "--help")
    assert shown.returncode == 0, shown.stderr
    helps: dict[str, str] = {}
    flag = ""
    for line in shown.stdout.splitlines():
        if line.startswith("  -"):
            flag = line.split()[0]
            helps[flag] = line
        elif flag and line.startswith(" " * 8):
            helps[flag] += " " + line.strip()
        else:
            flag = ""
    for named in ("--screen", "--project"):
        assert "webclient link" in helps[named], helps[named]
        assert "range" not in helps[named], helps[named]
    for ids in ("--plate", "--dataset", "--image"):
        assert "a range FIRST-LAST" in " ".join(helps[ids].split()), helps[ids]


def test_a_name_harvests_the_same_files_as_the_id(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """A screen given by name harvests the same files as by id, and the config saves the id."""
    base_url, app = demo
    by_id = _harvest(base_url, tmp_path / "id", screens=(DEMO_SCREEN,))
    by_name = _harvest(base_url, tmp_path / "name", screens=(DEMO_SCREEN_NAME,))
    assert by_id.exit_code == by_name.exit_code == 0
    assert by_name.done == 80
    assert content(tmp_path / "name", "images", "study") == content(
        tmp_path / "id", "images", "study"
    )
    assert (tmp_path / "name" / "index.csv").read_bytes() == (
        tmp_path / "id" / "index.csv"
    ).read_bytes()
    saved = _saved_config(tmp_path / "name")
    assert saved["screens"] == [DEMO_SCREEN]
    assert "screen_names" not in saved and "idr0056" not in json.dumps(saved)
    assert app.listings() == ["/api/v0/m/screens/?offset=0&limit=1000"]  # one, for the name


def test_a_study_selects_each_of_its_screens(study: tuple[str, ListingApp], tmp_path: Path) -> None:
    """A study's name selects each of its screens, said with their names, saved as ids."""
    base_url, app = study
    said: list[str] = []
    cfg = HarvestConfig(
        base_url=base_url, out=tmp_path / "d", rate=None, artifacts=("thumbnail",),
        screens=("idr9001",),
    )  # fmt: skip
    with zero_waits():
        summary = anyio.run(lambda: run_harvest(cfg, say=said.append))
    assert summary.exit_code == 0
    assert _index_screens(tmp_path / "d") == {"1101": 72, "1151": 48}
    assert said == [
        "--screen idr9001: 2 screens 1101 (idr9001-emulated-fields/screenA), "
        "1151 (IDR9001-emulated-fields/screenB)"
    ]
    assert _saved_config(tmp_path / "d")["screens"] == [1101, 1151]
    # The server answers one screen a page: three pages of one listing.
    assert len(app.listings()) == 3


def test_a_name_that_matches_nothing_is_exit_2_with_the_nearest(
    study: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """A name matching no screen is exit 2 with the nearest names, and nothing written."""
    base_url, _app = study
    out = tmp_path / "d"
    proc = run_cli("harvest", "--base-url", base_url, "--screen", "idr900", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "error: --screen 'idr900': no screen of that name on the server"
    assert lines[1].startswith("hint: nearest: ")
    assert "'idr9001'" in lines[1] and "'idr9002'" in lines[1]
    assert len(lines) == 2
    assert not out.exists()  # as an unknown id: nothing written


def test_a_project_name_given_as_a_screen_says_which_flag(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """A project's name given as --screen is refused with a hint to use --project."""
    base_url, _app = demo
    proc = run_cli(
        "harvest", "--base-url", base_url, "--screen", "idr0021", "--out", str(tmp_path / "d")
    )
    assert proc.returncode == 2
    assert "hint: 'idr0021' names 1 project, e.g. 51" in proc.stderr
    assert "use --project idr0021" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_names_in_a_config_file_with_ids_on_the_command_line(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """``screens``/``projects`` names in the file; the lines say what they resolved to;
    the saved config holds ids, and a resume of the folder lists no screens again."""
    base_url, app = demo
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'base_url = "{base_url}"\nrate = "none"\nartifacts = ["thumbnail"]\n'
        'screens = ["IDR0056"]\nprojects = ["idr0021-lawo-pericentriolarmaterial/experimentA"]\n'
    )
    out = tmp_path / "d"
    proc = run_cli("harvest", str(toml), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    # Named as the user wrote them: the file's keys, not flags they never typed.
    assert f"{toml}: screens IDR0056: screen {DEMO_SCREEN} ({DEMO_SCREEN_NAME})" in proc.stderr
    assert (
        f"{toml}: projects idr0021-lawo-pericentriolarmaterial/experimentA: project 51 "
        "(idr0021-lawo-pericentriolarmaterial/experimentA)"
    ) in proc.stderr
    assert "--screen" not in proc.stderr and "--project" not in proc.stderr
    assert "done 88" in proc.stdout
    saved = _saved_config(out)
    assert (saved["screens"], saved["projects"]) == ([DEMO_SCREEN], [DEMO_PROJECT])
    assert len(app.listings()) == 2
    resumed = run_cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"--screen {DEMO_SCREEN} --project {DEMO_PROJECT}" in resumed.stderr
    assert "skipped 88" in resumed.stdout
    assert len(app.listings()) == 2  # the resume sent no listing


def test_a_name_in_a_config_file_that_matches_nothing_names_the_files_key(
    study: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """The error names ``screens`` in the file the user wrote it in, not ``--screen``."""
    base_url, _app = study
    toml = tmp_path / "c.toml"
    toml.write_text(f'base_url = "{base_url}"\nscreens = [1101, "idr900"]\n')
    out = tmp_path / "d"
    proc = run_cli("harvest", str(toml), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"error: {toml}: screens 'idr900': no screen of that name on the server"
    assert lines[1].startswith("hint: nearest: ") and "'idr9001'" in lines[1]
    assert len(lines) == 2
    assert not out.exists()
    # A flag given now replaces the file's screens: the flag is named again.
    proc = run_cli("harvest", str(toml), "--screen", "idr901", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "error: --screen 'idr901': no screen of that name on the server"
    )


def test_a_project_name_in_a_config_files_screens_says_which_key(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """A project's name in a config file's screens is refused with a hint to list it in projects."""
    base_url, _app = demo
    toml = tmp_path / "c.toml"
    toml.write_text(f'base_url = "{base_url}"\nscreens = ["idr0021"]\n')
    proc = run_cli("harvest", str(toml), "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines == [
        f"error: {toml}: screens 'idr0021': no screen of that name on the server",
        "hint: 'idr0021' names 1 project, e.g. 51 "
        "(idr0021-lawo-pericentriolarmaterial/experimentA): list it in projects, not screens",
    ]
    assert not (tmp_path / "d").exists()


def test_quiet_says_nothing_and_a_dry_run_says_the_names(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """--quiet says nothing about the names; a dry run says which screen a name selected."""
    base_url, _app = demo
    out = tmp_path / "d"
    common = ["harvest", "--base-url", base_url, "--screen", "idr0056", "--rate", "none",
              "--out", str(out)]  # fmt: skip
    dry = run_cli(*common, "--dry-run")  # (its walk took 2.5 s at the default 10/s)
    assert dry.returncode == 0, dry.stderr
    assert f"--screen idr0056: screen {DEMO_SCREEN} ({DEMO_SCREEN_NAME})" in dry.stderr
    assert "80 images found" in dry.stdout
    quiet = run_cli(*common, "--quiet", "--artifacts", "thumbnail")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_sample_by_name_and_by_id_share_their_key(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """The sample's key (``DIR/samples/<key>.json``) is made of the resolved ids."""
    base_url, _app = demo
    out = tmp_path / "d"
    first = _harvest(base_url, out, screens=(DEMO_SCREEN,), sample=5)
    second = _harvest(base_url, out, screens=("idr0056",), sample=5)
    assert first.exit_code == second.exit_code == 0
    assert second.skipped == 5 and second.done == 0
    assert len(list((out / "samples").glob("*.json"))) == 1


def test_plan_with_a_name_records_ids(demo: tuple[str, ListingApp], tmp_path: Path) -> None:
    """plan with a screen's name records its id in plan.json, after one listing."""
    base_url, app = demo
    out = tmp_path / "p"
    # --rate none: at the default 10/s the plan's walk of the 80 images took 5 s.
    proc = run_cli("plan", "--base-url", base_url, "--screen", "idr0056", "--rate", "none",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "planned 80 images" in proc.stdout
    assert "--screen idr0056: screen 2302 (idr0056-stojic-lncrnas/screenB)" in proc.stderr
    info = json.loads((out / "plan" / "plan.json").read_text())
    assert info["targets"] == {"screens": [DEMO_SCREEN]}
    assert len(app.listings()) == 1


def test_slurm_looks_names_up_once_and_writes_ids(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """``harvester slurm`` looks the names up once, at submit time: the script carries the
    ids (every task the same targets, none of them listing), and a task run as the script
    runs it harvests its shard with no listing of its own."""
    base_url, app = demo
    out = tmp_path / "d"
    args = ["--base-url", base_url, "--screen", "idr0056", "--artifacts", "thumbnail"]
    proc = run_cli("slurm", *args, "--rate", "none", "--out", str(out), "--tasks", "2")
    assert proc.returncode == 0, proc.stderr
    assert f"--screen idr0056: screen {DEMO_SCREEN}" in proc.stdout
    assert len(app.listings()) == 1
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec ").replace('"$K/$N"', "0/2"))
    assert words[words.index("--screen") + 1] == str(DEMO_SCREEN)
    assert "idr0056" not in script
    task = run_cli(*words[3:])
    assert task.returncode == 0, task.stderr
    assert _saved_config(out)["screens"] == [DEMO_SCREEN]
    assert len(app.listings()) == 1  # the task listed nothing


def test_slurm_refuses_a_name_that_matches_nothing_before_writing(
    demo: tuple[str, ListingApp], tmp_path: Path
) -> None:
    """A typo fails once, at submit time, not in every task of the queue."""
    base_url, _app = demo
    out = tmp_path / "d"
    proc = run_cli("slurm", "--base-url", base_url, "--screen", "idr0065", "--out", str(out),
                   "--tasks", "2")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        "error: --screen 'idr0065': no screen of that name on the server"
    )
    assert not (out / "harvest.sbatch").exists()


def test_slurm_unable_to_reach_the_server_leaves_names_to_the_tasks(tmp_path: Path) -> None:
    """A login node without the server's network: a note, and the names go to the tasks."""
    out = tmp_path / "d"
    with refused_port() as dead:
        proc = run_cli("slurm", "--base-url", f"http://127.0.0.1:{dead}", "--screen", "idr0056",
                       "--out", str(out), "--tasks", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "note: targets not checked here (cannot reach" in proc.stdout
    assert "; each task checks them and looks the names up" in proc.stdout
    assert "--screen idr0056" in (out / "harvest.sbatch").read_text()


def test_a_plan_run_does_not_look_names_up(demo: tuple[str, ListingApp], tmp_path: Path) -> None:
    """With ``from_plan`` the plan's images are harvested: names beside it list nothing."""
    base_url, app = demo
    out = tmp_path / "d"
    planned = run_cli("plan", "--base-url", base_url, "--screen", "2302", "--rate", "none",
                      "--out", str(out))  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    summary = _harvest(base_url, out, screens=("idr0056",), from_plan=out)
    assert summary.exit_code == 0 and summary.done == 80
    assert app.listings() == []
    assert "screen_names" not in json.dumps(
        [json.loads(p.read_text()) for p in (out / "runs").glob("*/config.json")]
    )


@pytest.mark.parametrize(("status", "code", "said"), [(404, 2, "cannot list"), (503, 75, "later")])
def test_a_listing_that_fails_is_one_line_and_nothing_written(
    demo: tuple[str, ListingApp], tmp_path: Path, status: int, code: int, said: str
) -> None:
    """A listing refused for good is exit 2; a busy server's is exit 75 ("try later")."""
    base_url, app = demo
    app.fail_listings = status
    out = tmp_path / "d"
    args = ["--base-url", base_url, "--project", "idr0021", "--max-retries", "0"]
    proc = run_cli("harvest", *args, "--out", str(out))
    assert proc.returncode == code, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "projects" in errors[0], proc.stderr
    assert said in proc.stderr
    assert not out.exists()
