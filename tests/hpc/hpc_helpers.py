"""Helpers for the HPC tests: an emulator subprocess, harvester subprocesses, tree digests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harvester.emulator import spawn_emulator

# Small but real: the demo screen (80 images in 10 plates) and project (8 images).
TARGETS = ["--screen", "2302", "--project", "51"]
ARTIFACTS = "thumbnail,imgdata,metadata"
IMAGES = 88
# Folders whose content must be identical however many processes wrote DIR.
COMPARED = ("images", "study")


@dataclass
class EmulatorProcess:
    """An emulator running as its own process (as on a cluster: a separate server)."""

    proc: subprocess.Popen[str]
    base_url: str

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url + "/__emulator__/stats", timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def reset(self) -> None:
        req = urllib.request.Request(self.base_url + "/__emulator__/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()


def start_emulator(*args: str) -> EmulatorProcess:
    proc, url = spawn_emulator(["--host", "127.0.0.1", "--port", "0", *args])
    return EmulatorProcess(proc, url)


def stop_emulator(emu: EmulatorProcess) -> None:
    emu.proc.terminate()
    try:
        emu.proc.wait(10)
    except subprocess.TimeoutExpired:
        emu.proc.kill()
        emu.proc.wait(10)


def harvester_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harvester", *args]


def harvest_args(base_url: str, out: Path, *extra: str) -> list[str]:
    return harvester_cmd(
        "harvest",
        "--base-url",
        base_url,
        *TARGETS,
        "--out",
        str(out),
        "--artifacts",
        ARTIFACTS,
        "--rate",
        "none",
        "--quiet",
        *extra,
    )


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a harvester command; fail the test with its output if it does not exit 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
    return proc


def tree(out: Path) -> dict[str, str]:
    """sha256 of every final file under the compared folders (temporary files excluded)."""
    digests: dict[str, str] = {}
    for top in COMPARED:
        root = out / top
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and ".tmp-" not in path.name:
                digests[path.relative_to(out).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return digests


def temp_files(out: Path) -> list[str]:
    """Temporary files left anywhere under DIR (a killed writer may leave its own)."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tmp-*"))


def assert_same_output(reference: Path, candidate: Path) -> None:
    """Same final files byte for byte, and the same index.csv."""
    ref, got = tree(reference), tree(candidate)
    assert ref, f"reference harvest wrote nothing under {reference}"
    missing = sorted(set(ref) - set(got))
    extra = sorted(set(got) - set(ref))
    differ = sorted(k for k in set(ref) & set(got) if ref[k] != got[k])
    assert not (missing or extra or differ), (
        f"missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)}), "
        f"different {differ[:5]} ({len(differ)})"
    )
    assert (candidate / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()


def image_request_counts(stats: dict[str, Any]) -> dict[str, int]:
    """Requests per per-image route: one route per artifact (thumbnail, imgdata, metadata)."""
    counts: dict[str, int] = {}
    for route, by_status in stats["by_route"].items():
        if route.startswith("image:") or route == "api_image":
            counts[route] = sum(by_status.values())
    return counts


def assert_each_image_fetched_once(counts: dict[str, int]) -> None:
    """One request per image and artifact: 88 images x (thumbnail, imgdata, metadata)."""
    assert counts == {"image:thumbnail": IMAGES, "image:imgdata": IMAGES, "api_image": IMAGES}


def run_array_task(
    script: Path, task: int, tasks: int, job_id: str = "4242"
) -> subprocess.CompletedProcess[str]:
    """Run array task K of a ``harvester slurm`` script as SLURM would, its output appended
    to ``DIR/logs/harvest-<job>_<K>.log`` (the script's own log name)."""
    env = {
        **os.environ,
        "SLURM_ARRAY_TASK_ID": str(task),
        "SLURM_ARRAY_TASK_COUNT": str(tasks),
        "SLURM_ARRAY_JOB_ID": job_id,
    }
    log = script.parent / "logs" / f"harvest-{job_id}_{task}.log"
    with log.open("a") as handle:
        return subprocess.run(
            ["bash", str(script)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
            text=True,
        )


def write_tools(bin_dir: Path, tools: tuple[tuple[str, str], ...]) -> Path:
    """Fake commands (scontrol, squeue, sacct...): each ``(name, shell body)`` as an
    executable ``bin_dir/name`` script; returns ``bin_dir`` (made if missing) for PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, body in tools:
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    return bin_dir
