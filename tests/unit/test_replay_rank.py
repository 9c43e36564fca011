"""A resume's replay takes the place of the run it replays (``replay_of``): DIR's newest run,
whose server and kinds a new target takes, stays the one of the set the user ran last, also
after a resume of many older sets whose replays all started later (saved configs written as
the pipeline writes them; the distinct seconds of their ids order them)."""

from __future__ import annotations

import json
from pathlib import Path

from harvester.config import newest_recorded_run, recorded_target_sets

URL = "http://127.0.0.1:1"


def saved(out: Path, run: str, plate: int, kinds: list[str], replay_of: str | None = None) -> None:
    folder = out / "runs" / run
    folder.mkdir(parents=True)
    data: dict[str, object] = {
        "run": run,
        "config": {"base_url": URL, "plates": [plate], "artifacts": kinds},
    }
    if replay_of is not None:
        data["replay_of"] = replay_of
    (folder / "config.json").write_text(json.dumps(data))


def run_id(second: int) -> str:
    return f"20261127T0600{second:02d}Z-abcdef"


def test_replays_of_older_sets_do_not_become_the_newest_run(tmp_path: Path) -> None:
    """Replays of older target sets never become the newest run; a run by hand does."""
    # Five plates, one run each (plate 5 last), then a resume: plate 5's replay first (with
    # --artifacts metadata given to the resume), the four older ones after it.
    for n in range(1, 6):
        saved(tmp_path, run_id(n), n, ["thumbnail"])
    saved(tmp_path, run_id(10), 5, ["metadata"], replay_of=run_id(5))
    for n in range(4, 0, -1):
        saved(tmp_path, run_id(15 - n), n, ["metadata"], replay_of=run_id(n))
    newest = newest_recorded_run(tmp_path, tries=3)
    assert newest is not None and newest.run == run_id(10)
    order = [r.config["plates"][0] for r in recorded_target_sets(tmp_path)]
    assert order == [5, 4, 3, 2, 1]

    # A replay of a replay keeps the place of the user's run; a run of plate 1 by hand
    # is the newest, and plate 1 first in the next resume.
    saved(tmp_path, run_id(20), 2, ["metadata"], replay_of=run_id(2))
    assert [r.config["plates"][0] for r in recorded_target_sets(tmp_path)][0] == 5
    saved(tmp_path, run_id(30), 1, ["render"])
    newest = newest_recorded_run(tmp_path, tries=3)
    assert newest is not None and newest.run == run_id(30)
    assert [r.config["plates"][0] for r in recorded_target_sets(tmp_path)][:2] == [1, 5]


def test_the_newest_sets_replay_that_left_no_run_leaves_its_run_newest(tmp_path: Path) -> None:
    """A replay of the newest set that left no run leaves the newest run as it was."""
    saved(tmp_path, run_id(1), 1, ["thumbnail"])
    saved(tmp_path, run_id(2), 2, ["metadata"])
    saved(tmp_path, run_id(5), 1, ["thumbnail"], replay_of=run_id(1))  # plate 2's: removed
    newest = newest_recorded_run(tmp_path, tries=3)
    assert newest is not None and newest.run == run_id(2)
