"""A selection into a folder that already holds other images says index.csv lists more.

Found by an ML-engineer walkthrough: ``--sample 10`` then ``--sample 5`` into the same DIR
printed ``selected 5 ...`` beside ``index: ... (10 rows)`` and nothing else; a loader of
index.csv trained on 10 images. ``index.csv`` lists every image of DIR (README), so the run
says so as a problem (``--quiet`` too); a first selection into a new folder says nothing.
"""

from __future__ import annotations

import functools
import tracemalloc
from pathlib import Path

import anyio
from selection_helpers import DEMO_SCREEN, index_rows, run_cli

from harvester.emulator import EmulatorThread
from harvester.models import ImageRef
from harvester.select import run_stage
from harvester.selection import Selection, SelectStats


def harvest_sample(emulator: EmulatorThread, out: Path, n: int) -> tuple[int, list[str], int]:
    """exit code, the problem lines, index.csv's row count."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--screen", str(DEMO_SCREEN), "--artifacts", "thumbnail", "--sample", str(n), "--quiet",
    )  # fmt: skip
    problems = [line for line in result.stderr.splitlines() if "harvester.problems" in line]
    rows = len((out / "index.csv").read_text().splitlines()) - 1
    return result.returncode, problems, rows


def test_a_smaller_sample_into_the_same_folder_is_told_the_index_is_longer(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A smaller sample into the same folder is warned that index.csv lists more images."""
    out = tmp_path / "train"
    assert harvest_sample(emulator, out, 10) == (0, [], 10)
    code, problems, rows = harvest_sample(emulator, out, 5)
    assert (code, rows) == (0, 10)
    assert problems == [
        "WARNING harvester.problems: index.csv lists 10 images, 5 more than this run selected:"
        " it lists every image harvested into this folder (earlier selections, such as a"
        " larger --sample or other --where terms; an image whose labels changed so that it no"
        " longer matches the terms that selected it leaves it once their run asks its labels"
        " again, --refresh-labels); harvest each training set into a folder of its own"
        " (one run per class of a balanced set wants this union)"
    ]
    assert harvest_sample(emulator, out, 10) == (0, [], 10)  # the same selection again


def test_a_resume_given_a_smaller_sample_is_told_the_index_is_longer(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`harvester harvest --out DIR --sample 5` after `--sample 10` says index.csv lists 5 more."""
    out = tmp_path / "train"
    assert harvest_sample(emulator, out, 10) == (0, [], 10)
    result = run_cli("harvest", "--out", str(out), "--sample", "5", "--quiet")
    problems = [line for line in result.stderr.splitlines() if "harvester.problems" in line]
    assert result.returncode == 0, result.stderr
    assert problems == [
        "WARNING harvester.problems: index.csv lists 10 images, 5 more than this run selected:"
        " it lists every image harvested into this folder (earlier selections, such as a"
        " larger --sample or other --where terms; an image whose labels changed so that it no"
        " longer matches the terms that selected it leaves it once their run asks its labels"
        " again, --refresh-labels); harvest each training set into a folder of its own"
        " (one run per class of a balanced set wants this union)"
    ]
    # The run's own selection replayed: nothing new to say.
    again = run_cli("harvest", "--out", str(out), "--sample", "10", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "harvester.problems" not in again.stderr


def harvest_target(emulator: EmulatorThread, out: Path, *flags: str) -> list[str]:
    """A quiet thumbnails harvest of ``flags`` (targets, selection) into ``out``, exit 0
    asserted; its problem lines."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--quiet", *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if "harvester.problems" in line]


def test_a_second_study_added_to_a_sampled_folder_is_no_false_alarm(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A plate's sample, then a project's sample into the same folder (a second study, on
    purpose): the project's run says nothing of the plate's rows it never walked."""
    out = tmp_path / "two"
    assert harvest_target(emulator, out, "--plate", "7361", "--sample", "4") == []
    assert harvest_target(emulator, out, "--project", "51", "--sample", "4") == []
    rows = index_rows(out)
    assert len(rows) == 8
    assert {row["project_id"] for row in rows} == {"", "51"}  # both studies listed
    assert harvest_target(emulator, out, "--plate", "7361", "--sample", "4") == []  # again


def test_a_smaller_sample_beside_another_study_counts_its_own_rows_alone(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Beside a plate's 4 rows, a project's sample of 4 then of 2: the note counts the 2
    project rows this run walked and did not select, not the plate's, and says so."""
    out = tmp_path / "two"
    harvest_target(emulator, out, "--plate", "7361", "--sample", "4")
    harvest_target(emulator, out, "--project", "51", "--sample", "4")
    assert harvest_target(emulator, out, "--project", "51", "--sample", "2") == [
        "WARNING harvester.problems: index.csv lists 8 images, 2 of them walked by this run but"
        " not selected: it lists every image harvested into this folder (earlier selections,"
        " such as a larger --sample or other --where terms; an image whose labels changed so"
        " that it no longer matches the terms that selected it leaves it once their run asks"
        " its labels again, --refresh-labels; the images of other targets, which this"
        " run did not walk, are not counted); harvest each training set into a folder of its"
        " own (one run per class of a balanced set wants this union)"
    ]


async def test_the_rows_passed_over_are_counted_in_flat_memory() -> None:
    """A rerun's selection over a folder of 20,000 indexed images that samples one counts
    the 19,999 rows it passed over without holding their ids (it held a set of them, over
    1 MB here, 60 MB for a million-image folder): the note's count is right, the peak small
    (~25 KB, flat in the folder's size). 20,000 rather than 100,000: a fifth of the CPU
    under tracemalloc, and the held set still passes the bound 2x over."""
    walked = 20_000
    send, receive = anyio.create_memory_object_stream[ImageRef](64)
    out_send, out_receive = anyio.create_memory_object_stream[ImageRef](64)
    stats = SelectStats()
    got: list[int] = []

    async def walk() -> None:
        async with send:
            for image_id in range(10_000_000, 10_000_000 + walked):
                await send.send(ImageRef(image_id))

    async def fetch() -> None:
        async with out_receive:
            got.extend([ref.image_id async for ref in out_receive])

    tracemalloc.start()
    try:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                tg.start_soon(walk)
                tg.start_soon(fetch)
                tg.start_soon(
                    functools.partial(
                        run_stage, Selection(sample=1), receive, out_send, stats,
                        in_index=lambda image_id: True,
                    )
                )  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 1
    assert stats.index_note(walked).startswith(
        "index.csv lists 20000 images, 19999 more than this run selected:"
    )
    assert peak < 500_000, peak
