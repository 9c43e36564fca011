"""The README's Recipes run as written against the emulator, and give what they say.

Each recipe's ```sh commands are taken from the README itself and run in-process, changed
only as the section tells a user to change them for the emulator: `--base-url URL --rate
none` on the first command into a folder, `--rate none` and no `--submit` for `slurm`. Then
the files each recipe's tree names must exist, and the counts its text gives must be those
the emulator's demo preset yields. A recipe edited into a command that fails, or a tree that
no longer matches the folder, fails here instead of on a first-time user's screen.
"""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import harvester
from harvester.cli import main
from harvester.emulator import EmulatorThread

README = Path(__file__).resolve().parents[2] / "README.md"

#: Flags that name what to harvest: a command with one is the first into its folder.
TARGET_FLAGS = {"--screen", "--project", "--plate", "--dataset", "--image", "--ids-from"}

#: Shell tokens that end the harvester command of a line (`... >> log 2>&1`, `a && b`).
SHELL_STOPS = {">>", ">", "|", "2>&1", "&&", ";"}


def recipe(title: str) -> str:
    """The text of the recipe headed `### TITLE`, up to the next heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Recipes\n") : text.index("## Harvesting\n")]
    start = section.index(f"### {title}\n")
    end = section.find("\n### ", start + 1)
    return section[start : end if end != -1 else len(section)]


def commands(text: str) -> list[list[str]]:
    """The harvester command lines of TEXT's ```sh blocks, as argv after `harvester`:
    continuation lines joined, comments dropped, and anything a shell adds around the
    command (`cd DIR &&`, a cron schedule, `>> log 2>&1`) left out."""
    found: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            starts = [i for i, word in enumerate(words) if Path(word).name == "harvester"]
            if not starts:
                continue
            argv = words[starts[0] + 1 :]
            stops = [i for i, word in enumerate(argv) if word in SHELL_STOPS or word[-1:] == ";"]
            if stops and argv[stops[0]] not in SHELL_STOPS:  # `... --refresh-labels; echo`
                argv[stops[0]] = argv[stops[0]][:-1]
                stops[0] += 1
            found.append(argv[: stops[0]] if stops else argv)
    return found


def on_the_emulator(argv: list[str], url: str) -> list[str]:
    """ARGV changed as the Recipes section says to try it on the emulator."""
    if argv[0] in ("harvest", "plan") and TARGET_FLAGS & set(argv):
        return [argv[0], "--base-url", url, "--rate", "none", *argv[1:]]
    if argv[0] == "slurm":
        return [word for word in argv if word != "--submit"] + ["--rate", "none"]
    return argv


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ARGV in-process; it must exit 0. Returns what it printed (stdout and stderr)."""
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"harvester {shlex.join(argv)} exited {code}: {out.err}"
    return out.out + out.err


def tree_paths(text: str, folder: str) -> list[str]:
    """The paths TEXT's tree under `FOLDER/` names, leaving out placeholders (`...`,
    `<job>`): each line's paths are parted by two spaces, its comment by three or more."""
    block = re.search(rf"^    {re.escape(folder)}/\n((?:      .*\n)+)", text, re.M)
    assert block is not None, f"the recipe no longer shows the tree of {folder}/"
    paths: list[str] = []
    for line in block.group(1).splitlines():
        names = re.split(r" {3,}", line.strip())[0]
        paths += [p for p in names.split("  ") if "..." not in p and "<" not in p]
    return paths


def assert_tree_exists(text: str, folder: Path) -> None:
    for path in tree_paths(text, folder.name):
        assert (folder / path).exists(), f"the recipe's tree names {folder.name}/{path}"


def index_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "index.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_mirror_and_resume_recipes(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The mirror recipe harvests the demo screen whole (80 thumbnails and 80 metadata
    files, verified clean, the tree as shown); the resume recipe's commands, cron's too,
    then resume that folder from its own server and exit 0."""
    monkeypatch.chdir(tmp_path)
    mirror = recipe("Mirror a study")
    harvest, status, verify = commands(mirror)
    run(on_the_emulator(harvest, emulator.base_url), capsys)
    shown = run(status, capsys)
    for kind in ("thumbnail", "metadata"):
        assert re.search(rf"^{kind} +80 +0 +0 ", shown, re.M), shown
    assert "80 thumbnails and 80 metadata files done, none failed or pending" in " ".join(
        mirror.split()
    )
    checked = run(verify, capsys)
    assert "0 damaged, 0 missing" in checked and "0 damaged, 0 missing" in mirror
    folder = tmp_path / "idr0056"
    assert_tree_exists(mirror, folder)
    assert len(index_rows(folder)) == 80

    resume = commands(recipe("Resume, refresh, re-check"))
    assert [argv[:3] for argv in resume] == [
        ["harvest", "--out", "idr0056"],
        ["verify", "idr0056"],
        ["harvest", "--out", "idr0056"],  # the cron line's
    ]
    for argv in resume:
        run(on_the_emulator(argv, emulator.base_url), capsys)
    assert len(index_rows(folder)) == 80
    assert_cron_line_logs(recipe("Resume, refresh, re-check"), tmp_path)


def assert_cron_line_logs(text: str, where: Path) -> None:
    """The recipe's crontab line, run by sh as cron runs it (its schedule left out, its
    `cd /data` and harvester's path made this test's), leaves in its log the date, no
    problem and `exit 0`: the lines a sysadmin reads to tell one night from another."""
    line = next(ln for ln in text.splitlines() if ln.startswith("0 2 * * * "))
    command = line.removeprefix("0 2 * * * ")
    assert command.startswith("cd /data && ") and "/home/me/.venv/bin/harvester " in command
    wrapper = where / "bin" / "harvester"
    wrapper.parent.mkdir()
    root = Path(harvester.__file__).resolve().parents[1]
    wrapper.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(root))} exec {shlex.quote(sys.executable)} "
        '-m harvester "$@"\n'
    )
    wrapper.chmod(0o755)
    command = command.replace("cd /data", f"cd {shlex.quote(str(where))}")
    command = command.replace("/home/me/.venv/bin/harvester", shlex.quote(str(wrapper)))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    log = (where / "idr0056.log").read_text().splitlines()
    assert len(log) == 2, log  # the date, and, the night going well under -q, its exit code
    assert re.search(r"\bUTC \d{4}$", log[0]), log
    assert log[1] == "exit 0"


def test_the_training_data_recipe(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The training recipe samples the images it says match (23 of 80 on the emulator),
    with the warnings it names, labels and splits them, and its relabelling by another
    key runs without fetching."""
    monkeypatch.chdir(tmp_path)
    text = recipe("Collect training data")
    told = re.search(r"On the emulator, (\d+) of the (\d+) images match", text)
    assert told is not None, "the recipe no longer says how many emulator images match"
    matched, walked = map(int, told.groups())
    harvest, status = commands(text)
    said = run(on_the_emulator(harvest, emulator.base_url), capsys)
    assert f"selected {matched} of {walked} walked images" in said
    warned = caplog.text  # in-process, the CLI's warnings are log records
    assert f"the sample is all {matched} of them" in warned and " lacks " in warned
    run(status, capsys)
    folder = tmp_path / "mitosis"
    assert_tree_exists(text, folder)
    rows = index_rows(folder)
    assert len(rows) == matched
    assert {row["split"] for row in rows} == {"train", "test"}
    assert all(row["label"] and "mitotic" in row["Phenotype"] for row in rows)

    relabel = re.search(r"`harvester (index mitosis --label-key [^`]+)`", text)
    assert relabel is not None, "the recipe no longer shows its relabelling"
    run(shlex.split(relabel.group(1)), capsys)
    relabelled = index_rows(folder)
    assert len(relabelled) == matched
    assert all(row["label"] == row["Gene Symbol"] for row in relabelled)


def test_the_cluster_recipe(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The cluster recipe plans, writes a 4-task array whose tasks (the script's own command
    for each SLURM_ARRAY_TASK_ID, run in-process) harvest the whole screen, and `status`
    and `index` then say and write what the recipe shows."""
    monkeypatch.chdir(tmp_path)
    text = recipe("Harvest on a cluster (SLURM)")
    plan, slurm, status, index = commands(text)
    run(on_the_emulator(plan, emulator.base_url), capsys)
    run(on_the_emulator(slurm, emulator.base_url), capsys)
    folder = tmp_path / "idr0056-hpc"
    script = (folder / "harvest.sbatch").read_text(encoding="utf-8")
    loop = re.search(r"for k in ([\d ]+); do SLURM_ARRAY_TASK_ID=\$k bash (\S+);", text)
    assert loop is not None, "the recipe no longer runs the tasks by hand"
    assert Path(loop.group(2)) == Path("idr0056-hpc/harvest.sbatch")
    assert 'K="${SLURM_ARRAY_TASK_ID:' in script
    tasks = loop.group(1).split()
    assert "--array=0-3" in script and tasks == ["0", "1", "2", "3"]
    task = shlex.split(script.rpartition("\nexec ")[2].splitlines()[0])
    task = task[task.index("harvester") + 1 :]
    for k in tasks:
        run([word.replace("$K/$N", f"{k}/4") for word in task], capsys)
    run(index, capsys)
    shown = run(status, capsys)
    assert "job array: 4 of 4 tasks complete" in shown and "4 of 4 tasks complete" in text
    assert_tree_exists(text, folder)
    assert len(index_rows(folder)) == 80


def test_the_well_snippet_finds_the_well_it_names(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's lines that find well B3's fields (index.csv, then the plate's grid) run
    as written in a folder harvested with the flags the README gives for that well alone,
    and print what their comments say."""
    text = README.read_text(encoding="utf-8")
    start = text.index("A well's fields, by the well's name")
    snippet = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert snippet is not None
    told = re.search(r"To harvest that well alone: `(--plate [^`]+)`", text[start:])
    assert told is not None
    monkeypatch.chdir(tmp_path)
    run(
        ["harvest", "--base-url", emulator.base_url, "--rate", "none", "-q", "--out", "idr0056"]
        + ["--artifacts", "thumbnail,stack", *shlex.split(told.group(1))],
        capsys,
    )
    exec(compile(snippet.group(1), "README.md", "exec"), {})  # (the README's own lines)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["0 9762891 images/009/762/9762891.stack.ome.tif", "9762891"]
    assert f"# {printed[0]}" in snippet.group(1)  # (its comments say what it prints)
    assert f"# field 0's image id: {printed[1]}" in snippet.group(1)
