"""Memory per image of the commands that load a whole folder's journals (README: "Memory
per task").

Usage::

    python tests/benchmarks/state_memory.py [--images 100000] [--work DIR] [--keep]

Builds, against one ``harvester emulate --preset huge`` subprocess, a completed harvest of
``--images`` thumbnails (100 datasets of the huge project, whose images carry map-annotation
labels, journaled with each image), and a copy of it whose journals hold no labels (the
image records' labels emptied, the files hard links: ``--no-labels`` would not do, the labels
come with the datasets' listings). Then each command below runs once in a fresh child
process, whose peak RSS (``ru_maxrss`` of ``os.wait4``: that child alone) is reported:

- ``baseline``: ``harvester status`` of an empty folder (interpreter, imports, buffers);
- ``rerun``: the same ``harvester harvest`` again (everything is done: the state is loaded,
  the walk lists the datasets again, nothing is fetched), with ``--no-labels`` in the copy;
- ``status``, ``index`` and ``verify`` of the folder.

Bytes per image are (peak - baseline) / images: what a million-image folder adds per image
on top of the fixed cost. ``--work DIR`` with ``--keep`` keeps the built folders there for a
later run (they are reused when present). The script prints a plain table and a markdown
one; it makes no pass/fail decision.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py, loopback.py beside it

from loopback import drop_proxy_variables  # noqa: E402
from run import (  # noqa: E402
    HUGE_FIRST_DATASET_ID,
    HUGE_IMAGES_PER_DATASET,
    ChildRun,
    Emulator,
    check,
    harvester_argv,
    machine,
    run_child,
    table,
)


def harvest_argv(emu: Emulator, out: Path, images: int, *extra: str) -> list[str]:
    """The harvest of ``images`` thumbnails (whole datasets of the huge project) into ``out``."""
    datasets = max(1, images // HUGE_IMAGES_PER_DATASET)
    targets = [a for k in range(datasets) for a in ("--dataset", str(HUGE_FIRST_DATASET_ID + k))]
    return harvester_argv(emu.base_url, out, "--artifacts", "thumbnail", *extra, *targets)


def command(*args: str) -> list[str]:
    """``python -m harvester ARGS``."""
    return [sys.executable, "-m", "harvester", *args]


def ok(run: ChildRun, what: str, codes: tuple[int, ...] = (0,)) -> ChildRun:
    """``run`` if it exited with one of ``codes`` (a figure of a failed run means nothing)."""
    if run.returncode not in codes:
        check(run, what)
    return run


def without_labels(folder: Path, copy: Path) -> None:
    """``copy``: ``folder`` with every image record's labels emptied, its files hard links."""
    shutil.copytree(folder, copy, copy_function=os.link, ignore=shutil.ignore_patterns("*.jsonl"))
    for path in (folder / "journals").glob("*.jsonl"):
        with open(path, "rb") as src, open(copy / "journals" / path.name, "wb") as dst:
            for line in src:
                rec = json.loads(line)
                if rec.get("rec") == "image":
                    rec["ref"]["labels"] = []
                dst.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")


def measure(emu: Emulator, folder: Path, images: int, *extra: str) -> list[tuple[str, ChildRun]]:
    """Peak RSS of a rerun, status, index and verify of a completed ``folder``."""
    argv = harvest_argv(emu, folder, images, *extra)
    return [
        ("rerun", ok(run_child(argv), "rerun")),
        ("status", ok(run_child(command("status", str(folder))), "status")),
        ("index", ok(run_child(command("index", str(folder))), "index")),
        ("verify", ok(run_child(command("verify", str(folder))), "verify")),
    ]


def main(argv: list[str] | None = None) -> int:
    drop_proxy_variables()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None, help="where the folders are built")
    parser.add_argument("--keep", action="store_true", help="keep the built folders")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="harvester-statemem-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    emu = Emulator(0)
    try:
        empty = work / "empty"
        empty.mkdir(exist_ok=True)
        baseline = ok(run_child(command("status", str(empty))), "baseline", (0, 1, 2))
        labelled, bare = work / "labels", work / "no-labels"
        if not (labelled / "index.csv").is_file():
            built = ok(run_child(harvest_argv(emu, labelled, args.images)), "building")
            print(f"  built {labelled} in {built.wall:.1f} s")
        if not bare.is_dir():
            without_labels(labelled, bare)
        rows: list[tuple[str, str, ChildRun]] = []
        for name, folder, extra in (
            ("labels", labelled, ()),
            ("no labels", bare, ("--no-labels",)),
        ):
            for what, run in measure(emu, folder, args.images, *extra):
                rows.append((name, what, run))
                print(f"  {name:9s} {what:6s} {run.wall:7.1f} s  peak RSS {run.max_rss_mb:.0f} MB")
    finally:
        emu.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    base = baseline.max_rss_mb
    headers = ["folder", "command", "peak RSS", "above baseline", "per image"]
    body = [["(empty)", "status", f"{base:.0f} MB", "", ""]]
    for name, what, run in rows:
        above = run.max_rss_mb - base
        per_image = above * 1024 * 1024 / args.images
        body.append(
            [name, what, f"{run.max_rss_mb:.0f} MB", f"{above:.0f} MB", f"{per_image:,.0f} B"]
        )
    print(f"\n{args.images:,} thumbnails\n")
    print(table(headers, body, markdown=False))
    print()
    print(table(headers, body, markdown=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
