"""A plan drives what is harvested, and what status reports, from the README's commands.

A new user runs `harvester plan`, then the `next:` command it prints. The plan fixes the
server (its ids are that server's images) and the artifacts; `harvester harvest
--from-plan` takes both unless the user gives them (a flag or the config file), and
refuses another server before anything is written. `harvester status` counts the plan's
images, those no shard has reached yet included. `harvester slurm` says how to queue the
index job too, and refuses an --out that is a file in one line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from hpc_helpers import harvester_cmd, run

from harvester.cli import main
from harvester.config import DEFAULT_BASE_URL
from harvester.emulator import EmulatorThread
from harvester.errors import UsageError
from harvester.models import Artifact
from harvester.pipeline import resolve_config, run_harvest

#: Project 51 of the demo preset: 8 images, 1884801..1884808.
PROJECT_IMAGES = list(range(1884801, 1884809))


def make_plan(
    emulator: EmulatorThread, out: Path, artifacts: str = "thumbnail,metadata", *extra: str
) -> int:
    return main(
        ["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
         "--artifacts", artifacts, "--quiet", *extra, "--rate", "none"]
    )  # fmt: skip


def kinds_stored(out: Path) -> dict[str, int]:
    """How many image files of each kind DIR holds."""
    found: dict[str, int] = {}
    for path in (out / "images").rglob("*.*"):
        kind = path.name.split(".")[1]
        found[kind] = found.get(kind, 0) + 1
    return found


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --------------------------------------------------------------------------- harvest
def test_harvest_from_plan_takes_the_plans_server_and_artifacts(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --base-url, no --artifacts: the planned server is asked for the planned kinds."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    code = main(
        ["harvest", "--out", str(out), "--from-plan", str(out), "--rate", "none", "--quiet"]
    )
    assert code == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8, "metadata": 8}


def test_the_next_hint_of_plan_runs_as_written(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `or: harvester harvest ...` line `harvester plan` prints harvests the plan."""
    out = tmp_path / "study"
    capsys.readouterr()
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--rate", "none"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    line = next(text for text in said.splitlines() if "harvester harvest" in text)
    command = line.split("or:", 1)[1].strip()
    words = shlex.split(command, comments=True)  # (the note after it is a shell comment)
    assert words[0] == "harvester" and "--base-url" not in words
    assert main(words[1:]) == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8}


def test_the_next_lines_of_plan_carry_the_run_settings_it_was_given(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --rate none --concurrency 4 --timeout 12`: both printed commands carry those
    flags, and the harvest run as printed saves them (it ran at the default rate before)."""
    out = tmp_path / "study"
    capsys.readouterr()
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "4",
                 "--timeout", "12"]) == 0  # fmt: skip
    said = capsys.readouterr().out.splitlines()
    slurm = next(text for text in said if text.startswith("next: harvester slurm"))
    harvest = next(text for text in said if text.startswith("  or: harvester harvest"))
    for line in (slurm, harvest):
        assert "--concurrency 4 --rate none --timeout 12" in line, line
    words = shlex.split(harvest.split("or:", 1)[1], comments=True)
    assert main([*words[1:], "--quiet"]) == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8}
    (saved,) = (out / "runs").glob("*/config.json")
    config = json.loads(saved.read_text())["config"]
    assert (config["rate"], config["concurrency"], config["timeout"]) == (None, 4, 12)


def test_the_next_hints_of_a_plan_made_with_credentials_run_as_their_notes_say(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan of a server behind Basic auth, its --base-url holding user:password@ (which
    the plan does not save): the printed `harvester harvest` line takes `--base-url URL` and
    `harvester slurm` a SECRETS.toml, as their notes say; so filled in, both run (as
    printed before, each was refused), and the password is in neither line."""
    emu = make_emulator(preset="demo", basic_auth="bob:PLAN-SECRET-7")
    url = emu.base_url.replace("://", "://bob:PLAN-SECRET-7@")
    out = tmp_path / "study"
    capsys.readouterr()
    assert main(["plan", "--base-url", url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--rate", "none"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "PLAN-SECRET-7" not in said
    slurm = next(text for text in said.splitlines() if text.startswith("next: harvester slurm"))
    harvest = next(text for text in said.splitlines() if "harvester harvest" in text)
    # (the run flags carried beside the credentials' notes: still no password)
    assert " --rate none " in slurm and " --rate none " in harvest
    assert slurm.endswith("  # SECRETS.toml: base_url with its user or session")
    assert harvest.endswith(f"URL: {emu.base_url.rstrip('/')} with its user or session again")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "SECRETS.toml").write_text(f'base_url = "{url}"\n', encoding="utf-8")
    words = shlex.split(slurm.removeprefix("next: "), comments=True)
    assert words[:3] == ["harvester", "slurm", "SECRETS.toml"] and "--submit" in words
    words.remove("--submit")
    assert main([w if w != "N" else "2" for w in words[1:]]) == 0, capsys.readouterr().err
    assert "PLAN-SECRET-7" not in (out / "harvest.sbatch").read_text()
    words = shlex.split(harvest.split("or:", 1)[1], comments=True)
    assert words[-2:] == ["--base-url", "URL"]
    assert main([*words[1:-1], url, "--rate", "none", "--quiet"]) == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8}


def test_a_plan_of_a_relative_ids_file_runs_from_any_folder(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`plan --ids-from ids.txt` in one folder: plan.json names the file by its absolute
    path, and `harvest --from-plan` run from another folder harvests the planned ids."""
    made, elsewhere = tmp_path / "made", tmp_path / "elsewhere"
    made.mkdir()
    elsewhere.mkdir()
    (made / "ids.txt").write_text("".join(f"{i}\n" for i in PROJECT_IMAGES[:3]))
    monkeypatch.chdir(made)
    assert main(["plan", "--base-url", emulator.base_url, "--ids-from", "ids.txt", "--out",
                 "../study", "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    out = tmp_path / "study"
    saved = json.loads((out / "plan" / "plan.json").read_text())
    assert saved["ids_from"] == str(made / "ids.txt")
    monkeypatch.chdir(elsewhere)
    code = main(["harvest", "--out", "../study", "--from-plan", "../study", "--rate", "none"])
    assert code == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 3}


def test_plan_settings_apply_unless_the_user_gave_them(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """resolve_config (what `harvest` calls): the plan's URL and artifacts fill what neither
    a flag nor the config file set; given ones win; the run fetches exactly those."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    planned = {"out": str(out), "from_plan": str(out), "rate": "none", "quiet": True}
    cfg = resolve_config(None, planned)
    assert cfg.base_url == emulator.base_url
    assert cfg.artifacts == (Artifact.THUMBNAIL, Artifact.METADATA)
    flagged = resolve_config(None, {**planned, "artifacts": "thumbnail"})
    assert flagged.artifacts == (Artifact.THUMBNAIL,)
    toml = tmp_path / "harvest.toml"
    toml.write_text(f'base_url = "{emulator.base_url}/"\nartifacts = ["metadata"]\n')
    assert resolve_config(toml, planned).artifacts == (Artifact.METADATA,)
    summary = anyio.run(lambda: run_harvest(cfg))
    assert summary.exit_code == 0 and summary.images == 8
    assert kinds_stored(out) == {"thumbnail": 8, "metadata": 8}


def test_a_config_file_naming_another_server_is_refused(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """base_url in the config file was given, even when it is IDR's (the default's) own."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    toml = tmp_path / "idr.toml"
    toml.write_text(f'base_url = "{DEFAULT_BASE_URL}"\n')
    with pytest.raises(UsageError, match=f"was made for {emulator.base_url}, not "):
        resolve_config(toml, {"out": str(out), "from_plan": str(out)})


def test_harvest_of_a_plan_from_another_server_is_refused_and_writes_nothing(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another --base-url: one line, exit 2, no new folder and nothing added to the plan's."""
    study = tmp_path / "study"
    assert make_plan(emulator, study) == 0
    before = listing(study)
    other = tmp_path / "other"
    for out in (study, other):
        capsys.readouterr()
        code = main(["harvest", "--out", str(out), "--from-plan", str(study),
                     "--base-url", "http://127.0.0.1:9", "--shard", "0/2"])  # fmt: skip
        assert code == 2
        err = capsys.readouterr().err
        assert f"error: the plan in {study} was made for {emulator.base_url}, not " in err
        assert "hint: " in err and len(err.strip().splitlines()) == 2
    assert listing(study) == before
    assert not other.exists()


def test_harvest_of_a_missing_plan_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from-plan of a folder without a plan: exit 2 before a new folder is made."""
    out = tmp_path / "new"
    code = main(["harvest", "--out", str(out), "--from-plan", str(tmp_path / "none")])
    assert code == 2
    assert "no harvest plan" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        # cut mid-number, and cut after its id (the quick read took the id whole)
        (lambda line: line[: len('{"image_id":18')], "line 8 is cut short (the file ends "
         "inside it): the plan is incomplete; write it again with `harvester plan ... --force`"),
        (lambda line: line[:30], "line 8 is cut short"),
        (lambda line: line.replace("1884808", "-5"), "line 8: image_id -5 is not an image id "
         "(ids are whole numbers from 1): the plan is damaged; write it again with "
         "`harvester plan ... --force`"),
        (lambda line: line.replace("1884808", "0"), "line 8: image_id 0 is not an image id"),
        (lambda line: line.replace("1884808", '"abc"'), 'line 8: image_id "abc" is not an'),
        (lambda line: line.replace("1884808", "1.5"), "line 8: image_id 1.5 is not an image id"),
        # (an id no OMERO has was asked of the server; 5,000 digits ended status in an
        # internal error: int() reads at most 4,300)
        (lambda line: line.replace("1884808", "9223372036854775808"), "line 8: image_id "
         "9223372036854775808 is not an image id (over 9223372036854775807, the largest id "
         "OMERO has): the plan is damaged"),
        (lambda line: line.replace("1884808", "9" * 5000), "line 8 is not JSON: the plan is "
         "damaged"),
    ],
    ids=[
        "cut-mid-number", "cut-after-id", "negative", "zero", "text", "fraction", "over-max",
        "huge",
    ],
)  # fmt: skip
def test_a_damaged_last_plan_line_is_refused_naming_it(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[str], str],
    said: str,
) -> None:
    """A plan whose last line is cut short or holds no valid id (0, -5, 1.5, "abc", over
    2^63-1): status and a harvest of it say the file and line, where a wrong id was used
    (or status ended in an internal error); the harvest fetches nothing."""
    out = tmp_path / "study"
    assert make_plan(emulator, out, "thumbnail") == 0
    images = out / "plan" / "images.jsonl"
    lines = images.read_text(encoding="utf-8").splitlines(keepends=True)
    # (the plan lists its images in the order the walk met them, which varies: the last line
    # is given the id the damages name, its own id being damaged or cut off anyway)
    last = re.sub(r'^\{"image_id":\d+,', '{"image_id":1884808,', lines[-1])
    assert last.startswith('{"image_id":1884808,') and len(lines) == 8
    images.write_text("".join(lines[:-1]) + damage(last), encoding="utf-8")
    where = f"harvest plan {images} "
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    assert f"plan: cannot be read ({where}{said}" in capsys.readouterr().out
    assert main(["harvest", "--out", str(out), "--from-plan", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {where}{said}") and "internal error" not in err, err
    assert not (out / "images").exists()


# --------------------------------------------------------------------------- status
def status_json(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_status_counts_the_plan_before_and_between_shards(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right after `plan` every planned artifact is pending; after shard 0 of 2, the
    images shard 1 has not reached are still pending; after both, none."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    data = status_json(out, capsys)
    assert data["selected"] == ["thumbnail", "metadata"]
    assert data["plan"] == {
        "images": 8, "artifacts": ["thumbnail", "metadata"], "reached": 0, "complete": 0,
        "done": 0, "failed": 0, "pending": 16,
    }  # fmt: skip
    assert data["totals"]["pending"] == 16  # type: ignore[index]
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        "plan: 8 images (thumbnail,metadata): 0 reached (0 of them complete), 8 not reached yet"
        in text
    )
    assert data["started"] is False and "no harvest has started yet" in text

    shard = ["harvest", "--out", str(out), "--from-plan", str(out), "--base-url",
             emulator.base_url, "--artifacts", "thumbnail,metadata", "--rate", "none",
             "--quiet"]  # fmt: skip
    assert main([*shard, "--shard", "0/2"]) == 0
    mine = kinds_stored(out)["thumbnail"]
    assert 0 < mine < 8
    data = status_json(out, capsys)
    plan = data["plan"]
    assert plan == {
        "images": 8, "artifacts": ["thumbnail", "metadata"], "reached": mine,
        "complete": mine, "done": 2 * mine, "failed": 0, "pending": 2 * (8 - mine),
    }  # fmt: skip
    assert data["images"] == mine  # journaled images: unchanged meaning
    assert data["totals"]["pending"] == 2 * (8 - mine)  # type: ignore[index]
    assert data["kinds"]["thumbnail"]["pending"] == 8 - mine  # type: ignore[index]
    assert data["started"] is True
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    # reached + not reached = the plan's images; complete is a part of reached.
    assert f": {mine} reached ({mine} of them complete), {8 - mine} not reached yet" in text
    assert "has started yet" not in text

    assert main([*shard, "--shard", "1/2"]) == 0
    plan = status_json(out, capsys)["plan"]
    assert plan["complete"] == 8 and plan["pending"] == 0  # type: ignore[index]


def test_status_without_a_plan_has_no_plan_key(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder harvested without a plan reports as before."""
    out = tmp_path / "h"
    assert main(["harvest", "--base-url", emulator.base_url, "--image", "1884801", "--out",
                 str(out), "--artifacts", "thumbnail", "--quiet"]) == 0  # fmt: skip
    data = status_json(out, capsys)
    assert "plan" not in data and data["images"] == 1


# --------------------------------------------------------------------------- slurm
def test_slurm_says_how_to_queue_the_index_job_and_that_line_works(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --submit: the printed one-liner submits the array, then index.sbatch
    after it (afterany:<array id>), as --submit would."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2"]) == 0
    said = capsys.readouterr().out
    index = out.resolve() / "index.sbatch"
    assert f"sbatch --dependency=afterany:<jobid> {index}" in said
    both = next(line for line in said.splitlines() if "--parsable" in line)
    calls = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sbatch"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(calls))}\necho 4242\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = both.split(":", 1)[1].strip()
    subprocess.run(["bash", "-c", command], env=env, check=True, timeout=30)
    assert calls.read_text().splitlines() == [
        f"--parsable {out.resolve() / 'harvest.sbatch'}",
        f"--dependency=afterany:4242 {index}",
    ]


def test_slurm_keeps_the_config_files_artifacts_over_the_plans(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """artifacts in the config file were given: the tasks read that file, so the plan's
    artifacts are not forced on them with --artifacts."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    toml = tmp_path / "c.toml"
    toml.write_text('artifacts = ["thumbnail"]\n')
    assert main(["slurm", str(toml), "--out", str(out), "--from-plan", str(out),
                 "--tasks", "2"]) == 0  # fmt: skip
    script = (out / "harvest.sbatch").read_text()
    assert "--artifacts" not in script
    assert f"--base-url {emulator.base_url}" in script


def test_slurm_out_that_is_a_file_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a regular file: the same words as `harvester plan`, exit 2."""
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    for command in ("slurm", "plan"):
        capsys.readouterr()
        extra = ["--tasks", "2"] if command == "slurm" else ["--base-url", "http://127.0.0.1:9"]
        assert main([command, "--out", str(afile), "--screen", "2302", *extra]) == 2
        err = capsys.readouterr().err
        assert f"error: output folder {str(afile)!r} is a file" in err, err
    assert afile.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_selection_given_with_a_plan_is_said_to_select_again_within_it(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`harvest --from-plan P --sample 3` on a plan of 6 sampled images harvests 3 of them
    and says, as a problem (`--quiet` too), that status and index will count the other 3 as
    not harvested (`harvester slurm` said it; a harvest run by hand said nothing)."""
    plan = tmp_path / "plan"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(plan),
                 "--artifacts", "thumbnail", "--sample", "6", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "run"
    base = ["harvest", "--from-plan", str(plan), "--out", str(out), "--quiet", "--rate", "none"]
    assert main([*base, "--sample", "3"]) == 0
    problems = [r.getMessage() for r in caplog.records if r.name == "harvester.problems"]
    assert [line.split(", and ")[0] for line in problems] == [
        "the plan holds 6 images selected by sample 6, seed 0; the selection given here"
        " selects again among them"
    ]
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 3
    caplog.clear()
    assert main(base) == 0
    assert not [r for r in caplog.records if r.name == "harvester.problems"]


def test_the_harvest_a_plan_prints_for_its_config_file_does_not_select_again(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plan made from a config file with where and a per-class sample: the harvest it
    prints (config file included) takes every planned image, says no problem and labels them."""
    config = tmp_path / "train.toml"
    config.write_text(
        f'base_url = "{emulator.base_url}"\nscreens = [2302]\nartifacts = ["thumbnail"]\n'
        'where = ["Phenotype~mitotic"]\nsample = 2\nsample_per = "Gene Symbol"\nrate = "none"\n',
        encoding="utf-8",
    )
    out = tmp_path / "train"
    assert main(["plan", str(config), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "planned 14 images (14 thumbnail) in" in lines[0]
    harvest = next(x for x in lines if x.startswith("  or: ")).removeprefix("  or: ")
    words = shlex.split(harvest, comments=True)
    caplog.clear()
    assert main([*words[1:], "-q"]) == 0  # the command as printed
    assert not [r.getMessage() for r in caplog.records if r.name == "harvester.problems"]
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 14
    labels = (out / "labels.csv").read_text(encoding="utf-8").splitlines()
    assert len(labels) == 1 + 7 and all(line.endswith(",2") for line in labels[1:])


def test_a_plan_made_with_credentials_refuses_a_run_without_them(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan saves its server without credentials (every task and log reads it): a
    ``--from-plan`` run given none asked a private server anonymously, as a run into a
    folder did (see test_folder_server). It is refused, exit 2, before any request; given
    again (the config file the plan was made with), it runs."""
    out = tmp_path / "study"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'base_url = "{emulator.base_url}/?bsession=SESS-s3cr3t"\n'
        '[headers]\nAuthorization = "Bearer HDR-s3cr3t"\n'
    )
    assert main(["plan", str(secrets), "--project", "51", "--out", str(out), "--quiet",
                 "--artifacts", "thumbnail"]) == 0  # fmt: skip
    assert "s3cr3t" not in (out / "plan" / "plan.json").read_text()
    capsys.readouterr()
    # Nor in any file of DIR (the planner's journal recorded its command line as given).
    plain = tmp_path / "plain"
    url = f"{emulator.base_url}/?bsession=SESS-s3cr3t"
    run(harvester_cmd("plan", "--base-url", url, "--project", "51", "--out", str(plain), "-q",
                      "--rate", "none"))  # fmt: skip
    for folder in (out, plain):
        leaked = [p for p in folder.rglob("*") if p.is_file() and b"s3cr3t" in p.read_bytes()]
        assert leaked == []
    emulator.reset_stats()

    for argv, again in (
        (["harvest", "--out", str(out), "--from-plan", str(out)],
         f"harvester harvest SECRETS.toml --out {out} --from-plan {out} --base-url URL "
         f" # SECRETS.toml: headers = {{...}} again; URL: {emulator.base_url}/ with its user"
         " or session again"),
        (["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2"],
         f"harvester slurm SECRETS.toml --out {out} --from-plan {out}  # SECRETS.toml: "
         "base_url with its user or session, headers = {...} again"),
    ):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.splitlines() == [
            f"error: the plan in {out} was made with credentials that are not saved: "
            f"headers and credentials in its base URL ({emulator.base_url}/)",
            f"hint: give --base-url {emulator.base_url}/ to ask without them, or run: {again}",
        ]
    assert emulator.stats()["requests"] == 0
    assert not (out / "harvest.sbatch").exists()

    code = main(["harvest", str(secrets), "--out", str(out), "--from-plan", str(out),
                 "--rate", "none", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8}


def test_a_plan_given_as_dir_and_as_dir_plan_is_resumed_once(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``--from-plan DIR`` and ``--from-plan DIR/plan`` name one plan: a resume of DIR
    replays it once, not once per spelling."""
    out = tmp_path / "planned"
    assert make_plan(emulator, out, "thumbnail,metadata") == 0
    # Each run does work (a run that did nothing leaves no record to resume).
    for plan, kinds in ((out, "thumbnail"), (out / "plan", "metadata")):
        done = run(harvester_cmd("harvest", "--from-plan", str(plan), "--out", str(out),
                                 "--artifacts", kinds, "--rate", "none", "-q"))  # fmt: skip
        assert done.returncode == 0, done.stderr
    resumed = run(harvester_cmd("harvest", "--out", str(out), "--rate", "none"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "target set 2 of 2" not in resumed.stderr, (
        resumed.stderr
    )
    n = len(PROJECT_IMAGES)
    assert kinds_stored(out) == {"thumbnail": n, "metadata": n}


def test_the_plan_file_itself_is_taken_as_its_plan(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--from-plan DIR/plan/plan.json`` (the file, where DIR goes) names the plan: harvest,
    slurm and forget take it, not ``plan.json/plan/plan.json`` ("Not a directory")."""
    out = tmp_path / "study"
    assert make_plan(emulator, out) == 0
    plan_file = str(out / "plan" / "plan.json")
    code = main(["harvest", "--out", str(out), "--from-plan", plan_file, "--rate", "none", "-q"])
    assert code == 0, capsys.readouterr().err
    assert kinds_stored(out) == {"thumbnail": 8, "metadata": 8}
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--from-plan", plan_file, "--tasks", "2"]) == 0
    assert "Not a directory" not in capsys.readouterr().err
    assert main(["forget", str(out), "--from-plan", plan_file]) == 0
    said = capsys.readouterr()
    assert "Not a directory" not in said.err and "forgot" in (said.out + said.err).lower(), said
