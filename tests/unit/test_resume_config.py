"""What ``harvester harvest --out DIR`` takes from DIR: the newest run's saved settings.

"Newest" is the rule ``status`` and ``index`` follow (``journal.runs_newest_last``): by
start time, since run ids hold their second only and then a random suffix. The saved
configuration must say what it could not save (credentials), and paths as the files they
were, or a resume could not be exact.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester.config import (
    HarvestConfig,
    RecordedRun,
    newest_recorded_run,
    recorded_overrides,
    recorded_target_sets,
    replay_problem,
    resolve,
    resume_command,
    secrets_again_note,
    url_again_note,
)
from harvester.layout import make_writer
from harvester.store import Store

# One second, suffixes in the reverse of the order the runs start in below.
FIRST = "20261126T090000Z-ffffff"
SECOND = "20261126T090000Z-000000"


async def run(out: Path, run_id: str, base_url: str, **targets: Any) -> None:
    async with Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store:
        cfg = HarvestConfig(base_url=base_url, **(targets or {"screens": (1,)}))
        await store.save_run_config({"run": run_id, "argv": [], "config": cfg.to_public()})


def test_runs_of_one_second_are_ordered_by_their_start(tmp_path: Path) -> None:
    """Runs started within one second are ordered by their start, the later newest."""
    anyio.run(run, tmp_path, FIRST, "http://first")
    anyio.run(run, tmp_path, SECOND, "http://second")
    newest = newest_recorded_run(tmp_path)
    assert newest is not None and (newest.run, newest.base_url) == (SECOND, "http://second")


def test_a_run_without_readable_settings_is_passed_over(tmp_path: Path) -> None:
    """A run whose settings cannot be read is passed over for the one before; reads are bounded."""
    anyio.run(run, tmp_path, "20261126T090000Z-aaaaaa", "http://older")
    anyio.run(run, tmp_path, "20261126T090001Z-aaaaaa", "http://newer")
    (tmp_path / "runs" / "20261126T090001Z-aaaaaa" / "config.json").write_text("{")
    newest = newest_recorded_run(tmp_path)
    assert newest is not None and newest.base_url == "http://older"
    assert newest_recorded_run(tmp_path, tries=1) is None  # bounded reads give up


def test_saved_settings_say_what_they_withheld(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved settings withhold cookies and URL credentials, say so, and a resume names them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ids.txt").write_text("1\n")
    cfg = HarvestConfig(
        base_url="https://u:pw@h.org/omero?bsession=S",
        ids_from=Path("ids.txt"),
        cookies={"sessionid": "S2"},
    )
    public = cfg.to_public()
    assert public["withheld"] == ["cookies", "base_url"]
    assert public["ids_from"] == str(tmp_path / "ids.txt")
    assert public["base_url"] == "https://h.org/omero"
    assert "S2" not in json.dumps(public) and "pw" not in json.dumps(public)
    assert HarvestConfig(base_url="https://h.org").to_public()["withheld"] == []
    recorded = RecordedRun("R", public)
    problem = replay_problem(recorded, tmp_path / "d", secrets_given=frozenset())
    assert problem is not None
    assert problem.reason == (
        "the newest run (R) sent cookies (sessionid) and credentials in its --base-url, "
        "which are never saved"
    )


def test_url_again_note_names_the_url_when_given() -> None:
    """The note after a command whose URL stands for a --base-url with credentials."""
    assert url_again_note() == "URL: with its user or session again"
    assert url_again_note("http://h/?bsession=REDACTED") == (
        "URL: http://h/?bsession=REDACTED with its user or session again"
    )


@pytest.mark.parametrize(
    ("missing", "url_in_file", "note"),
    [
        ([], False, ""),
        (["base_url"], False, "URL: with its user or session again"),
        (["headers"], False, "SECRETS.toml: headers = {...} again"),
        (
            ["headers", "cookies", "base_url"],
            False,
            "SECRETS.toml: headers = {...}, cookies = {...} again; "
            "URL: with its user or session again",
        ),
        (
            ["headers", "base_url"],
            True,
            "SECRETS.toml: base_url with its user or session, headers = {...} again",
        ),
    ],
)
def test_secrets_again_note(missing: list[str], url_in_file: bool, note: str) -> None:
    """What a command must be given again, each table as the TOML it is written as."""
    assert secrets_again_note(missing, url_in_file=url_in_file) == note


def test_a_resume_missing_headers_and_cookies_names_each_table(tmp_path: Path) -> None:
    """Both tables withheld: the note said "headers and cookies = {...}", one TOML line
    that is no valid table; now each is said as written, as the plan's refusal says it."""
    cfg = HarvestConfig(base_url="https://h.org", headers={"X-Token": "S"}, cookies={"c": "S"})
    problem = replay_problem(RecordedRun("R", cfg.to_public()), tmp_path / "d")
    assert problem is not None
    assert problem.command == f"harvester harvest SECRETS.toml --out {tmp_path / 'd'}"
    assert problem.needs == "SECRETS.toml: headers = {...}, cookies = {...} again"


def test_replayed_settings_resolve_to_the_same_configuration(tmp_path: Path) -> None:
    """Every replayed value goes back through resolve() to what was saved (rate none,
    --where conditions, artifacts, a config file's settings)."""
    cfg = resolve(
        None,
        {
            "base_url": "http://h:8080",
            "plates": [7375],
            "artifacts": "thumbnail,stack",
            "rate": "none",
            "where": ["Gene Symbol!=CDK1", "Phenotype~mitotic"],
            "sample": 5,
            "seed": 3,
            "labels": True,
            "window": "full",
            "max_plane": 4096,
            "render_format": "png",
            "label_keys": ["Gene Symbol"],
            "out": tmp_path / "d",
        },
    )
    replayed = resolve(None, {**recorded_overrides(RecordedRun("R", cfg.to_public())),
                              "out": tmp_path / "d"})  # fmt: skip
    assert replayed.to_public() == {**cfg.to_public(), "label_keys": []}


def test_target_sets_newest_first_each_once_as_its_newest_run(tmp_path: Path) -> None:
    """What `harvest --out DIR` replays: one run per target set (ids in another order are
    the same set), the newest of each, sets newest first; runs of one second by their start;
    unreadable settings passed over."""
    anyio.run(partial(run, tmp_path, "20261126T080000Z-aaaaaa", "http://a", screens=(1, 2)))
    anyio.run(partial(run, tmp_path, "20261126T080001Z-aaaaaa", "http://b", plates=(7,)))
    # (each set of one server: the same targets of another server are another set)
    anyio.run(partial(run, tmp_path, FIRST, "http://a", screens=(2, 1)))  # same set as the first
    anyio.run(partial(run, tmp_path, SECOND, "http://b/", plates=(7,)))  # started later
    anyio.run(partial(run, tmp_path, "20261126T100000Z-aaaaaa", "http://e", plates=(8,)))
    (tmp_path / "runs" / "20261126T100000Z-aaaaaa" / "config.json").write_text("{")
    sets = recorded_target_sets(tmp_path)
    assert [(r.run, r.base_url) for r in sets] == [(SECOND, "http://b/"), (FIRST, "http://a")]
    assert recorded_target_sets(tmp_path / "nowhere") == []


def test_five_cookie_sent_sets_are_one_line_naming_three(tmp_path: Path) -> None:
    """Five target sets that sent cookies, one of --ids-from standard input: the cookies'
    command is one line (three runs named, then how many more), the other set's its own."""
    cfg = HarvestConfig(base_url="https://h.org", cookies={"c": "S"})
    sets = [RecordedRun(f"R{n}", cfg.to_public()) for n in range(5)]
    piped = {**HarvestConfig(base_url="https://h.org").to_public(), "ids_from": "-"}
    sets.insert(1, RecordedRun("P", piped))
    line = resume_command(tmp_path / "d", sets=sets)
    lines = line.split("\n  also: ")
    assert len(lines) == 2, line
    assert lines[0] == (
        f"harvester harvest SECRETS.toml --out {tmp_path / 'd'}  # the newest run (R0) sent "
        "cookies (c), which are never saved; an earlier run (R1) sent cookies (c), which are "
        "never saved; an earlier run (R2) sent cookies (c), which are never saved; so did 2 "
        "more target sets; SECRETS.toml: cookies = {...} again"
    )
    assert lines[1].startswith("harvester harvest --out "), lines[1]


def test_url_credential_sets_of_two_servers_are_a_line_each(tmp_path: Path) -> None:
    """Two sets that sent credentials in the --base-url of two servers: `--base-url URL` is a
    line each, each naming its own server, not one line whose URL stands for both."""
    sets = [
        RecordedRun(run, {**HarvestConfig(base_url=url).to_public(), "withheld": ["base_url"]})
        for run, url in (("R0", "https://a.org/"), ("R1", "https://b.org/"))
    ]
    lines = resume_command(tmp_path / "d", sets=sets).split("\n  also: ")
    head = f"harvester harvest --out {tmp_path / 'd'} --base-url URL  # "
    assert lines == [
        f"{head}the newest run (R0) sent credentials in its --base-url, which are never "
        "saved; URL: https://a.org/ with its user or session again",
        f"{head}an earlier run (R1) sent credentials in its --base-url, which are never "
        "saved; URL: https://b.org/ with its user or session again",
    ]


def test_a_piped_set_that_sent_credentials_is_said_with_them(tmp_path: Path) -> None:
    """A set of --ids-from standard input that sent cookies and URL credentials: its command
    names SECRETS.toml and `--base-url URL` (its saved URL, pasted, asked as nobody)."""
    cfg = HarvestConfig(base_url="https://h.org", cookies={"c": "S"})
    piped = {**cfg.to_public(), "ids_from": "-", "withheld": ["cookies", "base_url"]}
    line = resume_command(tmp_path / "d", sets=[RecordedRun("P", piped)])
    command, _, note = line.partition("  # ")
    assert command == (
        f"harvester harvest SECRETS.toml --out {tmp_path / 'd'} --base-url URL --ids-from -"
    ), line
    assert note.startswith(
        "the newest run (P) read its image ids from standard input, which cannot be read "
        "again; SECRETS.toml: cookies = {...} again; URL: https://h.org with its user or "
        "session again; the same ids on standard input again"
    ), note
