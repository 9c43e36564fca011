"""A resume of a finished folder leaves no run behind, whatever its target sets' kinds.

``harvest --out DIR`` replays each target set with its newest run's kinds. A replay that
did nothing is forgotten unless its config is one a later command reads, judged against
the folder's newest run: with two sets of different kinds, the second replay differed from
the first's set and was kept, every time. Each resume of a finished folder (an hourly sync)
left a run, and it changed the folder's newest run, whose kinds a new target takes: a run
given ``--image`` fetched thumbnails after one resume, metadata after the next."""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen (8 images)


def runs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "runs").iterdir())


def test_resuming_a_finished_folder_of_two_sets_leaves_no_run(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Resuming a finished folder of two target sets adds no run; new targets take the newest's."""
    out = tmp_path / "d"
    for plate, kinds in ((SMALL_PLATE, "thumbnail"), (OTHER_PLATE, "metadata")):
        ran = run_cli("harvest", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                      str(plate), "--artifacts", kinds, "--rate", "none", "-q")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    before = runs(out)
    for _ in range(2):
        resumed = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
        assert resumed.returncode == 0, resumed.stderr
        assert runs(out) == before
    dry = run_cli("harvest", "--out", str(out), "--image", "1884801", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "fetching --artifacts metadata, the kinds" in dry.stderr, dry.stderr
