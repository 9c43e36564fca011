"""`harvester plan --force` while harvests of DIR run from its plan.

The shards of a job array read the plan as they start: replacing it under a running array
gave the shards still to start another image list than the running ones, and the split no
longer added up. `plan --force` is now refused (exit 2, one line and a hint) while any run
lock of DIR is held, and goes on once the harvests have ended.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from harvest_helpers import run_lock_held

from harvester.cli import main
from harvester.emulator import EmulatorThread


def _plan(base_url: str, out: Path, *more: str) -> int:
    return main(["plan", "--base-url", base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "-q", *more])  # fmt: skip


def test_plan_force_is_refused_while_a_shard_runs(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan --force is refused while a shard runs, plan untouched; it replaces the plan after."""
    out = tmp_path / "array dir"
    assert _plan(emulator.base_url, out) == 0
    plan_file = out / "plan" / "plan.json"
    before = plan_file.read_bytes()
    with run_lock_held(out, "1/2") as holder:
        capsys.readouterr()
        assert _plan(emulator.base_url, out, "--force") == 2
        lines = capsys.readouterr().err.splitlines()
        assert [line.split(":")[0] for line in lines] == ["error", "hint"], lines
        assert lines[0].startswith(
            f"error: {out / 'plan'} is in use: harvests of {out} are running (shard 1/2 "
            f"(pid {holder.pid} on "
        )
        assert lines[0].endswith("and --force would replace the plan under them")
        assert lines[1] == (
            "hint: wait for them to end or stop them (scancel, Ctrl-C), then plan again; "
            f"harvester status {shlex.quote(str(out))} names them"
        )
        assert plan_file.read_bytes() == before  # the running shards' plan, untouched
        holder.kill()
        holder.communicate(timeout=30)
    # Once it has ended (its lock file left behind, free), --force replaces the plan.
    assert _plan(emulator.base_url, out, "--force", "--artifacts", "metadata") == 0
    assert plan_file.read_bytes() != before
