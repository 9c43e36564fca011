"""Start-up of ``harvester harvest`` loads only what the run needs.

A harvest's start-up (process start to first request) counts in every run and
in the 10,000-thumbnail benchmark, and most of it is importing modules. numpy
and Pillow (~90 ms) are needed only to decode or stitch planes, tifffile only
to write stacks, the emulator package only for ``harvester emulate``, and
httpx (~17 ms) only for its TLS context on https, tenacity (~4 ms) only once
a request has failed; a fault-free plain-http thumbnails-only harvest must not
load any of them, nor the planning of planes (``harvester.planes``) or shards. The other
commands' modules are not imported either: a command line that starts with a command
builds that command's parser only. Others are needed only once the first requests are out
(gone images, pinned label ids, the index, the paths of filesets, the selection's stage
and the splits, which a plain run does not load at all: its index is written without them)
or only by other commands and failures (``datetime``, ``random``): the first request must
not wait for them. These tests check which modules a fresh process loaded (not how long it took), so
they fail only when an import creeps back, whatever the machine's speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harvester
from harvester.cli import SUBCOMMANDS_OF, YOUNG_GENERATION_THRESHOLD, build_parser, main
from harvester.emulator import EmulatorThread

#: Modules a plain-http thumbnails-only harvest never calls into.
NOT_FOR_THUMBNAILS = (
    "numpy",
    "PIL",
    "tifffile",
    "harvester.emulator",
    "httpx",
    "tqdm",
    "tenacity",
    "harvester.planes",  # (renders and stacks; fetch's hints take plane_limits)
    "harvester.shard",  # (a run given --shard, and resume lines of shards)
)

#: The other commands' modules: a harvest builds only its own command's parser, so it never
#: imports them (``harvester --help`` and usage errors that name other commands do).
OTHER_COMMANDS = ("harvester.cli.hpc", "harvester.cli.forget", "harvester.cli.emulate")

#: Modules a harvest may load, but only after its first request has gone out (they are
#: imported where they are used): the start-up does not wait for them.
NOT_BEFORE_FIRST_REQUEST = (
    "harvester.gone",
    "harvester.forgotten",
    "harvester.label_ids",
    "harvester.index",
    "harvester.originals",
    "harvester.plate_filesets",
    "harvester.select",  # (the sample's stage, censuses, labelled index: --where, --sample)
    "harvester.splits",  # (--split; the index write reads DIR's split record)
    "csv",
    "calendar",
    "datetime",
    "random",
)

#: Runs the ``harvester`` command like ``python -m harvester`` and, at exit
#: (also after ``sys.exit``), writes which watched modules were loaded, which of them
#: were already loaded when the first connection was opened, and whether garbage
#: collection was on then.
_WRAPPER = """
import atexit, gc, json, runpy, sys
report, watched, argv = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
gc_at_connect = []
young_threshold_at_connect = []
loaded_at_connect = []

def on_event(event, args):
    if event == "socket.connect" and not gc_at_connect:
        gc_at_connect.append(gc.isenabled())
        young_threshold_at_connect.append(gc.get_threshold()[0])
        loaded_at_connect.extend(sorted(name for name in watched if name in sys.modules))

def dump():
    loaded = sorted(name for name in watched if name in sys.modules)
    with open(report, "w") as fh:
        json.dump(
            {
                "loaded": loaded,
                "gc_at_connect": gc_at_connect,
                "young_threshold_at_connect": young_threshold_at_connect,
                "loaded_at_connect": loaded_at_connect,
            },
            fh,
        )

sys.addaudithook(on_event)
atexit.register(dump)
sys.argv = ["harvester", *argv]
runpy.run_module("harvester", run_name="__main__")
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_cli(
    tmp_path: Path, *argv: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, list[Any]]]:
    """Run ``harvester ARGV`` in a fresh interpreter; (process, the wrapper's report)."""
    report = tmp_path / "loaded.json"
    watched = ",".join(NOT_FOR_THUMBNAILS + NOT_BEFORE_FIRST_REQUEST + OTHER_COMMANDS)
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(report), watched, *argv],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert report.exists(), proc.stderr
    found: dict[str, list[Any]] = json.loads(report.read_text())
    return proc, found


def test_thumbnail_harvest_loads_no_image_library_nor_emulator(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A real thumbnails-only harvest stores its thumbnail and loads none of NOT_FOR_THUMBNAILS.

    Garbage collection, paused while start-up imports, is on again by the time
    the first request goes out (a week-long run must collect its garbage).
    """
    out = tmp_path / "out"
    proc, found = _run_cli(
        tmp_path,
        "harvest",
        "--base-url",
        emulator.base_url,
        "--image",
        "9762957",
        "--out",
        str(out),
        "--artifacts",
        "thumbnail",
        "--no-labels",
        "--rate",
        "none",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    thumbnails = list((out / "images").rglob("9762957.thumbnail.jpg"))
    assert len(thumbnails) == 1
    assert thumbnails[0].read_bytes()[:3] == b"\xff\xd8\xff"
    assert [name for name in found["loaded"] if name in NOT_FOR_THUMBNAILS] == []
    assert [name for name in found["loaded"] if name in OTHER_COMMANDS] == []
    # The end of the run reads DIR's gone images and writes the index, after the requests.
    assert "harvester.gone" in found["loaded"]
    assert "harvester.index" in found["loaded"]
    assert (out / "index.csv").read_text().splitlines()[1].startswith("9762957,")
    # A folder without label keys, split or paths files: its index is written without the
    # labelled writer's modules (harvester.plain_index), nor the lists of originals'.
    assert "harvester.select" not in found["loaded"]
    assert "harvester.splits" not in found["loaded"]
    assert "harvester.originals" not in found["loaded"]
    assert found["loaded_at_connect"] == []
    assert found["gc_at_connect"] == [True]
    # The run collects its young objects less often than CPython's default 700.
    assert found["young_threshold_at_connect"] == [YOUNG_GENERATION_THRESHOLD]


@pytest.mark.parametrize("argv", [["harvest", "--help"], ["--help"], ["status", "--help"]])
def test_help_loads_no_image_library_nor_emulator(tmp_path: Path, argv: list[str]) -> None:
    """Building the parser (every subcommand registered) imports none of the watched modules."""
    proc, found = _run_cli(tmp_path, *argv)
    assert proc.returncode == 0, proc.stderr
    assert "usage: harvester" in proc.stdout
    assert [name for name in found["loaded"] if name not in OTHER_COMMANDS] == []


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` among ``parser``'s subcommands."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    chosen: argparse.ArgumentParser = action.choices[command]
    return chosen


@pytest.mark.parametrize(
    "command", [command for commands in SUBCOMMANDS_OF.values() for command in commands]
)
def test_a_command_built_alone_is_the_command_of_the_full_parser(command: str) -> None:
    """The parser built for one command (what ``main`` builds for ``harvester COMMAND ...``)
    has that command's help and options, and sees every other command's, as the full one."""
    alone = _command_parser(build_parser(command), command)
    full = _command_parser(build_parser(), command)
    assert alone.format_help() == full.format_help()
    assert sorted(alone._option_string_actions) == sorted(full._option_string_actions)
    assert list(getattr(alone, "commands", {})) == list(getattr(full, "commands", {}))
    assert list(getattr(alone, "commands", {})) == [
        name for commands in SUBCOMMANDS_OF.values() for name in commands
    ]


def test_emulate_help_still_lists_the_emulator_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``emulate`` adds its options only when chosen, so they are all in its help."""
    assert main(["--help"]) == 0
    assert "emulate" in capsys.readouterr().out
    assert main(["emulate", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--preset", "--faults", "--latency-ms", "--migration-2026"):
        assert flag in text
    assert "huge" in text  # the preset list comes from the emulator's catalogue


def test_emulate_errors_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``emulate`` flag is still one ``error:`` line and a hint, exit 2."""
    assert main(["emulate", "--port", "abc"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: argument --port: invalid int value")
    assert err[1] == "hint: see 'harvester emulate --help'"


def test_in_process_main_leaves_garbage_collection_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Called in-process (not as the process's command), main pauses GC only during
    start-up, re-enables it, also after an error there, and freezes nothing of the caller's
    nor changes its thresholds."""
    frozen = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    assert gc.isenabled()
    assert main(["--help"]) == 0
    assert main(["harvest", "--bogus"]) == 2
    assert main(["harvest", "--image", "1", "--out", str(tmp_path), "--concurrency", "0"]) == 2
    assert "concurrency" in capsys.readouterr().err
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == thresholds
