"""``harvester harvest --out DIR`` resumes the newest run's settings; status and verify say
how to resume; ``status --failed-ids`` and ``status --json`` give every failure; another
``--base-url`` on a folder is warned about.

A first-time user had to retype the whole first command (targets, ``--base-url``,
artifacts, selection) to resume, and one who forgot ``--base-url`` was sent to IDR. Every
command runs as ``harvester ARGS`` (in the test process, kept to itself as a process of its
own: tests/cli_in_process.py; the one started in another folder: a ``python -m harvester``
process there) against an emulator over real sockets, so the lines checked are exactly what
a user sees.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec

PLATE = "7375"  # 8 images


def first_run(emu: EmulatorThread, out: Path, *extra: str) -> str:
    """A harvest of plate 7375 (thumbnails and metadata, exit 0 asserted); the run id it saved."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail,metadata", "--rate", "none", "--no-labels", "-q", *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return newest_run(out)


def newest_run(out: Path) -> str:
    return sorted(p.name for p in (out / "runs").iterdir())[-1]


def files(out: Path, kind: str) -> list[Path]:
    return sorted((out / "images").rglob(f"*.{kind}.*"))


def one_to_refetch(out: Path) -> None:
    """Remove one thumbnail and let verify mark it: the folder has something left to do.

    (A folder with nothing failed or pending has nothing to resume: a target set that cannot
    be replayed is then no refusal, see test_resume_target_sets.)"""
    files(out, "thumbnail")[0].unlink()
    assert cli("verify", str(out)).returncode == 1


def image_ids(out: Path, kind: str) -> list[int]:
    return sorted(int(p.name.split(".")[0]) for p in files(out, kind))


def test_resume_replays_the_newest_runs_settings(tmp_path: Path, emulator: EmulatorThread) -> None:
    """`harvest --out DIR` on a finished folder: one line naming the run, the first
    command's server and artifacts, no image request, exit 0."""
    out = tmp_path / "d"
    run = first_run(emulator, out)
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"resuming {out} with the settings of its newest run, {run}: --base-url "
        f"{emulator.base_url} --plate {PLATE} --artifacts thumbnail,metadata --rate none "
        "--no-labels"
    ]
    assert emulator.stats()["image_requests"] == 0
    assert emulator.stats()["requests"] > 0  # it asked the emulator, not IDR
    assert "done 0, skipped 16 (already done), failed 0; 8 images found" in proc.stdout
    assert newest_run(out) == run  # a resume that recorded nothing leaves no run behind


def test_flags_given_now_override_the_recorded_ones(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`--artifacts` given now wins; the rest (server, plate) is the newest run's;
    `--quiet` silences the resume line."""
    out = tmp_path / "d"
    run = first_run(emulator, out)
    assert files(out, "render") == []
    proc = cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata,render")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0].endswith(
        f"{run}: --base-url {emulator.base_url} --plate {PLATE} --artifacts "
        "thumbnail,metadata --rate none --no-labels; given now: --artifacts "
        "thumbnail,metadata,render"
    )
    assert len(files(out, "render")) == 8
    emulator.reset_stats()
    quiet = cli("harvest", "--out", str(out), "-q")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert emulator.stats()["image_requests"] == 0  # now the newest run asked for renders too


def test_artifacts_given_now_that_drop_kinds_say_so_with_the_list_that_keeps_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A resume given `--artifacts` that leaves out kinds of the set says that they become
    its kinds from now on, with the list that adds them instead; so it is (a thumbnail
    lost is not fetched again), and that list, given, fetches every kind again."""
    out = tmp_path / "d"
    first_run(emulator, out)
    proc = cli("harvest", "--out", str(out), "--artifacts", "render")
    assert proc.returncode == 0, proc.stderr
    told = "--artifacts thumbnail,render,metadata"
    assert proc.stderr.splitlines()[0].endswith(
        "; given now: --artifacts render; from now on this set fetches render alone, not "
        "thumbnail,metadata (their files stay; an image new on the server gets render "
        f"only): to fetch render beside them, {told}"
    ), proc.stderr
    assert len(files(out, "render")) == 8
    one_to_refetch(out)
    assert cli("harvest", "--out", str(out), "-q").returncode == 0
    assert len(files(out, "thumbnail")) == 7  # the set's kinds are render's alone now
    proc = cli("harvest", "--out", str(out), *shlex.split(told))
    assert proc.returncode == 0, proc.stderr
    assert "from now on" not in proc.stderr
    assert len(files(out, "thumbnail")) == 8


def test_artifacts_given_now_that_drop_kinds_of_a_plans_set_name_its_images_not_new_ones(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The same line for a set harvested from a plan speaks of the plan's images not
    harvested yet, which get the kinds given alone: it said "an image new on the server",
    which a plan never takes."""
    out = tmp_path / "d"
    base = ["--rate", "none", "-q"]
    assert cli("plan", "--base-url", emulator.base_url, "--dataset", "51", "--artifacts",
               "thumbnail,metadata", "--out", str(out), *base).returncode == 0  # fmt: skip
    proc = cli("harvest", "--from-plan", str(out), "--out", str(out), *base)
    assert proc.returncode == 0, proc.stderr
    proc = cli("harvest", "--out", str(out), "--artifacts", "thumbnail", "--rate", "none")
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.splitlines()[0]
    assert line.endswith(
        "from now on this set fetches thumbnail alone, not metadata (their files stay; an "
        "image of its plan not harvested yet gets thumbnail only): to fetch thumbnail beside "
        "them, --artifacts thumbnail,metadata"
    ), proc.stderr


def test_no_recorded_settings(tmp_path: Path, emulator: EmulatorThread) -> None:
    """No run's settings to resume: the old error, and a hint saying why and giving the
    command the journals name (the walk's targets, the kinds journaled, the run's server);
    without journals either, the old hint."""
    out = tmp_path / "d"
    first_run(emulator, out)
    for config in (out / "runs").glob("*/config.json"):
        config.write_text("{not json")
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        f"hint: no run of {out} saved readable settings in {out / 'runs'} (removed or "
        f"damaged?), but its journals name what its newest walk harvested: harvester harvest "
        f"--out {out} --plate {PLATE} --artifacts thumbnail,metadata --base-url "
        f"{emulator.base_url}",
    ]
    for journal in (out / "journals").iterdir():
        journal.unlink()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        "hint: name --screen, --project, --plate, --dataset, --image, --ids-from or "
        f"--from-plan (no run of {out} saved readable settings in {out / 'runs'} to resume)",
    ]


def test_resuming_a_folder_that_holds_no_harvest_says_so(tmp_path: Path) -> None:
    """`harvest --out DIR` given no target, DIR mistyped (no such folder) or not a harvest's:
    the hint says there is no harvest there to resume, before how to name targets; exit 2
    and nothing made (it said only "name --screen, ...", found by a walkthrough)."""
    targets = "name --screen, --project, --plate, --dataset, --image, --ids-from or --from-plan"
    missing = tmp_path / "idr0065"
    proc = cli("harvest", "--out", str(missing))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        f"hint: {missing} does not exist, so there is no harvest to resume there: check the "
        f"folder's name, or {targets}",
    ]
    assert not missing.exists()
    other = tmp_path / "papers"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    proc = cli("harvest", "--out", str(other))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        f"hint: {other} holds no harvest to resume: check the folder's name, or {targets}",
    ]
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_a_hand_edited_saved_value_names_its_file(tmp_path: Path, emulator: EmulatorThread) -> None:
    """A saved setting edited into junk: one error naming the file, with or without flags
    given now (a flag made it an internal error: the resume line formatted the junk)."""
    out = tmp_path / "d"
    run = first_run(emulator, out)
    saved = out / "runs" / run / "config.json"
    data = json.loads(saved.read_text())
    data["config"]["rate"] = "fast"
    saved.write_text(json.dumps(data))
    for extra in ((), ("--rate", "5")):
        proc = cli("harvest", "--out", str(out), *extra)
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [
            f"error: cannot resume {out}: the settings its newest run saved in {saved} are "
            "damaged (rate: 'fast' is not a number)",
            f"hint: fix or remove {saved}, or give the targets again",
        ]


def test_a_shard_is_not_resumed_as_the_whole(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The newest run was shard 0/2: refused with the exact commands; `--shard 1/2` given
    resumes that shard with the recorded settings."""
    out = tmp_path / "d"
    run = first_run(emulator, out, "--shard", "0/2")
    shard0 = image_ids(out, "thumbnail")
    assert 0 < len(shard0) < 8
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cannot resume {out} as its newest run did: the newest run ({run}) was "
        "shard 0/2 of a split",
        # Shard 0/2 is finished: the one that never walked, not every shard.
        f"hint: run: harvester harvest --out {out} --shard 1/2",
    ]
    from harvester.config import resume_command

    # Without what status found (resume_command alone), every shard's command.
    assert resume_command(out) == (
        f"harvester harvest --out {out} --shard K/2, for each K from 0 to 1  "
        f"# the newest run ({run}) was shard 0/2 of a split"
    )
    proc = cli("harvest", "--out", str(out), "--shard", "1/2", "-q")
    assert proc.returncode == 0, proc.stderr
    assert len(image_ids(out, "thumbnail")) == 8


def test_ids_from_standard_input_cannot_be_replayed(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run that read ids from standard input cannot be resumed: one error, a hint that can."""
    out = tmp_path / "d"
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", "-", "--out", str(out),
        "--artifacts", "thumbnail", "-q", stdin="1884801\n1884802\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = newest_run(out)
    one_to_refetch(out)  # (with nothing left, nothing to resume: exit 0, see below)
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cannot resume {out} as its newest run did: the newest run ({run}) read "
        "its image ids from standard input, which cannot be read again",
        f"hint: run: harvester harvest --out {out} --base-url {emulator.base_url} "
        "--ids-from - --artifacts thumbnail  # the same ids on standard input again, or for "
        f"the failed images alone: harvester status {out} --failed-ids | harvester harvest "
        f"--out {out} --ids-from -",
    ]


def test_credentials_must_be_given_again(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Headers are never saved: the resume says so; a file giving them again resumes."""
    out = tmp_path / "d"
    first = tmp_path / "first.toml"
    first.write_text(
        f'base_url = "{emulator.base_url}"\nplates = [{PLATE}]\nartifacts = ["thumbnail"]\n'
        'headers = {X-Token = "SECRET-9"}\n'
    )
    assert cli("harvest", str(first), "--out", str(out), "-q").returncode == 0
    run = newest_run(out)
    assert "SECRET-9" not in (out / "runs" / run / "config.json").read_text()
    one_to_refetch(out)
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cannot resume {out} as its newest run did: the newest run ({run}) sent "
        "headers (X-Token), which are never saved",
        f"hint: run: harvester harvest SECRETS.toml --out {out}  # SECRETS.toml: headers = "
        "{...} again",
    ]
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('headers = {X-Token = "SECRET-9"}\n')
    secrets.chmod(0o600)  # its owner's alone, as the README says (else one warning line)
    emulator.reset_stats()
    proc = cli("harvest", str(secrets), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0].endswith(f"; given now: {secrets}")
    assert emulator.stats()["image_requests"] == 1  # the one to refetch, with the header


def test_a_session_in_the_url_given_again_is_not_said(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The resume line says the flags given now with the URL's session redacted: it
    printed `given now: --base-url '...?bsession=KEY'`, the key on the terminal and in
    every log a cron job or SLURM keeps."""
    out = tmp_path / "d"
    url = f"{emulator.base_url}/?bsession=SESSION-KEY-7"
    first_run(emulator, out, "--base-url", url)
    one_to_refetch(out)
    proc = cli("harvest", "--out", str(out), "--base-url", url)
    assert proc.returncode == 0, proc.stderr
    assert "SESSION-KEY-7" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[0].endswith(
        f"; given now: --base-url '{emulator.base_url}/?bsession=REDACTED'"
    )


def test_failures_all_listed_and_resumed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """80 failed imgData: the summary, `status`, `status --json` and `--failed-ids` give
    all of them or say where they are; the printed resume command retries exactly them."""
    emu = make_emulator(preset="demo", faults="exception:100%,only:/webclient/imgData/")
    out = tmp_path / "d"
    config = tmp_path / "patient.toml"
    config.write_text("give_up_after = 1000\n")  # every image fails, none is skipped
    proc = cli(
        "harvest", str(config), "--base-url", emu.base_url, "--screen", "2302", "--out",
        str(out), "--artifacts", "thumbnail,imgdata", "--rate", "none", "--no-labels", "-q",
        "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1
    q = shlex.quote(str(out))
    assert (
        f"... and 60 more failures (all: harvester status {q} --json; their image ids: "
        f"harvester status {q} --failed-ids)"
    ) in proc.stderr.splitlines()
    ids = image_ids(out, "thumbnail")
    assert len(ids) == 80

    failed = cli("status", str(out), "--failed-ids")
    assert (failed.returncode, failed.stderr) == (0, "")
    assert failed.stdout == "".join(f"{i}\n" for i in ids)
    data = json.loads(cli("status", str(out), "--json").stdout)
    assert len(data["failures"]) == 80 and data["failed_ids"] == ids
    assert data["resume"] == f"harvester harvest --out {out}"
    text = cli("status", str(out)).stdout.splitlines()
    assert (
        f"failures (first 20 of 80; all: harvester status {q} --json, their image ids: "
        f"harvester status {q} --failed-ids):"
    ) in text
    assert text[-1] == f"to resume: harvester harvest --out {out}"
    assert len([line for line in text if line.startswith("  imgdata ")]) == 20

    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again
    emu.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    # The config file's setting is replayed too, and said.
    assert proc.stderr.splitlines()[0].endswith("--max-retries 0 --no-labels (give_up_after=1000)")
    assert emu.stats()["by_route"]["image:imgdata"] == {"200": 80}
    assert emu.stats()["image_requests"] == 80  # the failures, nothing else
    assert len(files(out, "imgdata")) == 80
    assert "to resume" not in cli("status", str(out)).stdout
    assert cli("status", str(out), "--failed-ids").stdout == ""


def test_verify_prints_the_command_that_refetches(tmp_path: Path, emulator: EmulatorThread) -> None:
    """verify prints the command that refetches exactly the damaged files, and it does."""
    out = tmp_path / "d"
    first_run(emulator, out)
    victim = files(out, "thumbnail")[0]
    victim.write_bytes(b"not a jpeg")
    proc = cli("verify", str(out))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == (
        f"1 damaged or missing files: to refetch exactly those: harvester harvest --out {out}"
    )
    emulator.reset_stats()
    assert cli("harvest", "--out", str(out), "-q").returncode == 0
    assert emulator.stats()["image_requests"] == 1
    assert cli("verify", str(out)).returncode == 0


def test_another_base_url_is_warned_about_once(
    tmp_path: Path, emulator: EmulatorThread, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Server B on a folder harvested from A: one warning naming both; the run goes on.
    Another spelling of A (upper case, default port spelt out) is not another server."""
    out = tmp_path / "d"
    run = first_run(emulator, out)
    other = make_emulator(preset="demo")
    proc = cli(
        "harvest", "--base-url", other.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail,metadata", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"WARNING harvester.problems: {out} was harvested from {emulator.base_url} (its "
        f"newest run, {run}); this run asks {other.base_url}: image ids are one server's, "
        f"so ids done from {emulator.base_url} are skipped as done and the rest mixed in"
    ]
    assert other.stats()["image_requests"] == 0
    same = emulator.base_url.replace("http://", "HTTP://") + "/"
    proc = cli("harvest", "--base-url", same, "--plate", PLATE, "--out", str(out), "-q",
               "--artifacts", "thumbnail,metadata")  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")


def test_status_and_json_failed_ids_conflict(tmp_path: Path, emulator: EmulatorThread) -> None:
    """status refuses --json with --failed-ids (exit 2)."""
    out = tmp_path / "d"
    first_run(emulator, out)
    proc = cli("status", str(out), "--json", "--failed-ids")
    assert proc.returncode == 2
    assert "not allowed with argument" in proc.stderr


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://idr.openmicroscopy.org", "HTTPS://IDR.openmicroscopy.org:443/", True),
        ("http://h:80/omero/", "http://h/omero", True),
        ("http://h:8080", "http://h:8081", False),
        ("http://h/omero", "http://h/", False),
        ("http://h", "https://h", False),
        ("https://u:pw@h/?bsession=x", "https://h", True),
    ],
)
def test_normal_base_url(a: str, b: str, same: bool) -> None:
    """Base URLs differing only in case, default port, slash or credentials count as one server."""
    from harvester.config import normal_base_url

    assert (normal_base_url(a) == normal_base_url(b)) is same


def test_a_plans_harvest_resumes_from_its_plan(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The newest run harvested `--from-plan P`: the resume does the same (the plan's
    server and images), and sends no image request once everything is done."""
    plan = tmp_path / "plan"
    out = tmp_path / "d"
    made = cli(
        "plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(plan),
        "--artifacts", "thumbnail", "-q",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert cli("harvest", "--from-plan", str(plan), "--out", str(out), "-q").returncode == 0
    run = newest_run(out)
    assert len(files(out, "thumbnail")) == 8
    files(out, "thumbnail")[0].unlink()
    cli("verify", str(out))  # marks it missing: the resume refetches it
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"resuming {out} with the settings of its newest run, {run}: --base-url "
        f"{emulator.base_url} --from-plan {plan} --artifacts thumbnail"
    )
    assert emulator.stats()["image_requests"] == 1
    assert len(files(out, "thumbnail")) == 8


def test_a_relative_ids_file_is_found_from_another_folder(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`--ids-from ids.txt` is saved as the file it was (an absolute path): a resume
    started in another folder reads the same file."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "ids.txt").write_text("1884801\n1884802\n")
    first = subprocess.run(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", emulator.base_url,
         "--ids-from", "ids.txt", "--out", "d", "--artifacts", "thumbnail", "-q"],
        cwd=work, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    out = work / "d"
    saved = json.loads((out / "runs" / newest_run(out) / "config.json").read_text())
    assert saved["config"]["ids_from"] == str(work / "ids.txt")
    files(out, "thumbnail")[0].unlink()
    cli("verify", str(out))
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out), "-q")  # started in the test's folder
    assert (proc.returncode, proc.stderr) == (0, "")
    assert emulator.stats()["image_requests"] == 1
    (work / "ids.txt").unlink()
    one_to_refetch(out)
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0].endswith(
        f"read its image ids from {work / 'ids.txt'}, which is gone"
    )


def test_a_resume_keeps_the_label_keys_given_last(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The newest run's --label-key is not replayed: `harvester index --label-key` given
    after it is newer, and a harvest given no keys takes the keys given last."""
    import csv

    out = tmp_path / "d"
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--label-key", "Gene Symbol", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert cli("index", str(out), "--label-key", "Phenotype").returncode == 0
    with (out / "index.csv").open() as fh:
        before = [row["label"] for row in csv.DictReader(fh)]
    assert cli("harvest", "--out", str(out), "-q").returncode == 0
    with (out / "index.csv").open() as fh:
        after = [row["label"] for row in csv.DictReader(fh)]
    assert after == before and any(after)


def test_the_resume_line_names_the_label_keys_and_split_its_index_takes(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The resume line ends with the label keys and split the index is written with (not
    replayed from the run: the keys given last, DIR's split), as the summary's split line
    says; those given now are said as given, not twice."""
    out = tmp_path / "d"
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail", "--label-key", "Gene Symbol", "--split", "train=0.5,val=0.5",
        "--split-by", "plate", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = newest_run(out)
    said = f"resuming {out} with the settings of its newest run, {run}: --base-url "
    said += f"{emulator.base_url} --plate {PLATE} --artifacts thumbnail"
    resumed = cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines() == [
        f"{said}; label keys: Gene Symbol; split: train=0.5,val=0.5 by plate (images without"
        " a plate alone), seed 0"
    ]
    assert "split: train " in resumed.stdout  # (the summary's, of the split it wrote)
    assert cli("index", str(out), "--label-key", "Phenotype").returncode == 0
    later = cli("harvest", "--out", str(out), "--dry-run")
    assert later.returncode == 0, later.stderr
    assert later.stderr.splitlines() == [
        f"{said}; label keys: Phenotype; split: train=0.5,val=0.5 by plate (images without a"
        " plate alone), seed 0; given now: --dry-run"
    ]
    given = cli("harvest", "--out", str(out), "--label-key", "Gene Symbol", "--no-split")
    assert given.returncode == 0, given.stderr
    assert given.stderr.splitlines()[0] == (
        f"{said}; given now: --label-key 'Gene Symbol' --no-split"
    ), given.stderr
