"""Status's command for a split's set whose failures are of kinds no run asks for any more.

A resume does not replay a split's set: its command names every shard (a small split, one
command each) or shard K/N with the range of K, with the URL note after the command(s).
"""

from __future__ import annotations

from pathlib import Path

from harvester.config import HarvestConfig, RecordedRun, parse_artifacts
from harvester.status import _not_asked_commands, _TargetKinds


def split_set(shard: str, base_url: str) -> _TargetKinds:
    """One split target set, thumbnails only, from a run of ``shard`` of ``base_url``."""
    cfg = HarvestConfig(
        base_url=base_url, screens=(3,), shard=shard, artifacts=parse_artifacts("thumbnail")
    )
    return _TargetKinds(frozenset({"thumbnail"}), recorded=RecordedRun("R", cfg.to_public()))


def test_a_small_split_gets_one_command_per_shard_then_the_url_note(tmp_path: Path) -> None:
    """Shard 1/2 of a URL with a session: both shards' commands, URL in each, one note."""
    sets = [split_set("1/2", "http://h:8/?bsession=K3Y")]
    q = str(tmp_path)
    each = [
        f"harvester harvest --out {q} --base-url URL --screen 3 --shard {k}/2 "
        "--artifacts thumbnail,stack"
        for k in (0, 1)
    ]
    assert _not_asked_commands(tmp_path, sets, {0: {"stack"}}) == [
        "; ".join(each) + "  # URL: http://h:8/ with its user or session again"
    ]


def test_a_large_split_gets_one_command_for_shard_k_of_n(tmp_path: Path) -> None:
    """Shard 3 of 8: more shards than a line names, so K/8 with K's range."""
    sets = [split_set("3/8", "http://h:8/")]
    assert _not_asked_commands(tmp_path, sets, {0: {"stack"}}) == [
        f"harvester harvest --out {tmp_path} --base-url http://h:8/ --screen 3 --shard K/8 "
        "--artifacts thumbnail,stack, for each K from 0 to 7"
    ]


def test_several_sets_commands_are_a_line_each_so_a_note_hides_none(tmp_path: Path) -> None:
    """Two sets' commands, the first with its URL note: status prints each on a line of its
    own. Joined by "; " on one line, the second stood inside the first one's shell comment,
    and a pasted line ran the first command alone."""
    from harvester.status import StatusReport

    sets = [split_set("1/2", "http://h:8/?bsession=K3Y"), split_set("3/8", "http://h:8/")]
    commands = _not_asked_commands(tmp_path, sets, {0: {"stack"}, 1: {"stack"}})
    report = StatusReport(str(tmp_path), ["thumbnail"], not_asked={"stack": 2})
    report.not_asked_commands = commands
    lines = report.format_text().splitlines()
    at = next(n for n, x in enumerate(lines) if x.startswith("failed before, not asked"))
    assert lines[at].endswith("to try them again, one command per target set holding them:")
    assert lines[at + 1 : at + 3] == [f"  {c}" for c in commands]
    assert "  # " in commands[0]


def test_invalid_files_of_two_sets_wait_for_the_harvests_holding_an_array_folder(
    tmp_path: Path,
) -> None:
    """A job array's folder a harvest holds, the queue not to be asked: the invalid files'
    line says status gives the commands, one per set, once the running harvests have ended
    and no task is queued, and --json holds both back (not_asked_held, by the harvests)."""
    from harvester.status import SlurmStatus, StatusReport

    sets = [split_set("1/2", "http://h:8/"), split_set("3/8", "http://h:8/")]
    commands = _not_asked_commands(tmp_path, sets, {0: {"stack"}, 1: {"stack"}})
    report = StatusReport(str(tmp_path), ["thumbnail"], invalid_not_asked={"stack": 2})
    report.not_asked_commands = commands
    report.slurm = SlurmStatus(script=str(tmp_path / "harvest.sbatch"))
    report.running = ["shard 1/2 (pid 7 on node3)"]
    report.queue_unknown = "no squeue here"
    lines = report.format_text().splitlines()
    said = next(x for x in lines if x.startswith("2 files marked invalid"))
    assert said.endswith(
        f"; to refetch them: harvester status {tmp_path} gives the commands (one per target "
        "set holding them) once the harvests running now (named below) have ended and no "
        "task of the job array is queued (the SLURM queue cannot be asked)"
    ), said
    assert not any(x.startswith("  harvester harvest") for x in lines), lines
    data = report.to_dict()
    assert "not_asked_commands" not in data
    assert data["not_asked_held"] == {"by": "running_harvests", "commands": commands}


def test_invalid_files_of_a_plain_folder_wait_for_the_harvest_holding_it(tmp_path: Path) -> None:
    """A plain folder (no job array) a harvest holds: the invalid files' line says status
    gives the command once the running harvests have ended, no array named, and --json
    holds it back (not_asked_held, by the harvests): the lock would refuse it now."""
    from harvester.status import StatusReport

    sets = [split_set("3/8", "http://h:8/")]
    commands = _not_asked_commands(tmp_path, sets, {0: {"stack"}})
    report = StatusReport(str(tmp_path), ["thumbnail"], invalid_not_asked={"stack": 1})
    report.not_asked_commands = commands
    report.running = ["a harvest of the whole set (pid 7 on node3)"]
    lines = report.format_text().splitlines()
    said = next(x for x in lines if x.startswith("1 file marked invalid"))
    assert said.endswith(
        f"; to refetch them: harvester status {tmp_path} gives the command once the harvests "
        "running now (named below) have ended"
    ), said
    assert not any("harvester harvest" in x for x in lines), lines
    data = report.to_dict()
    assert "not_asked_commands" not in data
    assert data["not_asked_held"] == {"by": "running_harvests", "commands": commands}


def test_forget_holding_a_job_array_folder_whose_queue_is_unknown_is_no_harvest(
    tmp_path: Path,
) -> None:
    """harvester forget holding a job array's folder where SLURM cannot be asked: the
    dropped kinds' line and the resume line wait for that command (it harvests nothing)
    and for the queue, not for "the running harvests"."""
    from harvester.status import StatusReport

    sets = [split_set("3/8", "http://h:8/")]
    commands = _not_asked_commands(tmp_path, sets, {0: {"stack"}})
    report = StatusReport(str(tmp_path), ["thumbnail"], not_asked={"stack": 1})
    report.not_asked_commands = commands
    report.running = ["harvester forget (pid 7 on node3)"]
    report.queue_unknown = "scontrol ping finds no SLURM controller"
    report.resume = "harvester slurm --out D --submit"
    lines = report.format_text().splitlines()
    ended = "the command holding the folder now (named {}: it harvests nothing) has ended"
    said = next(x for x in lines if x.startswith("failed before, not asked"))
    assert said.endswith(
        f"gives the command once {ended.format('below')} and no task of the job array is "
        "queued (the SLURM queue cannot be asked)"
    ), said
    assert lines[-1] == (
        f"to resume, once {ended.format('above')} and no task of the job array is queued: "
        "harvester slurm --out D --submit"
    ), lines
    assert not any("running harvests" in x or "harvests running" in x for x in lines), lines
