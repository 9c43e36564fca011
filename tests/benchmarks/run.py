"""Benchmarks of issue 6: throughput, client cost, memory and resume, in one run.

Usage::

    python tests/benchmarks/run.py [--runs 3] [--images 10000] [--sequential 500]
        [--resume-images 100000] [--skip-memory] [--skip-resume] [--disk-dir DIR]

Everything runs against ONE emulator subprocess (``harvester emulate --preset
huge --latency-ms 20``) so that the ratios between tools hold:

1. Throughput: the harvester (a fresh ``harvester harvest`` process, start-up
   included) fetching the thumbnails of ``--images`` images at concurrency 32,
   against ``aria2c -j 32`` and ``curl --parallel --parallel-max 32`` fetching
   the byte-identical URLs (built by :mod:`harvester.urls`) from a prepared
   list, and a sequential loop like IDR's tutorial (one ``httpx.Client``, one
   GET after another; timed on a sample of ``--sequential`` requests and
   extrapolated). All write to the same tmpfs (``/dev/shm``); a second
   harvester figure writes to the real disk to show what durability costs.
   Each tool runs ``--runs`` times, interleaved; the table shows the median.
   The latency-bound ideal is ``images x latency / 32``. Section 1b splits
   each run's wall time at the emulator's first arrival and last answer
   (``/__emulator__/stats``, machine-wide monotonic clock): process start-up,
   transfer, and wind-down, the same way for every tool.
2. Client cost: CPU seconds (user + system) per 1,000 requests of the
   harvester process alone (``os.wait4`` resource usage of that child).
3. Memory: peak RSS of ``harvester harvest --dry-run`` walking 10,000 images
   (10 datasets) and 1,000,000 images (the whole huge project).
4. Resume: a completed harvest of ``--resume-images`` thumbnails (100
   datasets) is built once, then rerun: wall time and the image requests the
   emulator saw (``/__emulator__/stats``).

aria2c and curl are used only if found on PATH (reported as missing
otherwise); nothing is installed. The script prints a plain table and then a
markdown version for the README. It makes no pass/fail decision beyond
printing each target next to its figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # runnable as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from loopback import drop_proxy_variables  # noqa: E402  (beside this script)

from harvester import urls  # noqa: E402
from harvester.emulator.catalogue_presets import (  # noqa: E402
    HUGE_FIRST_DATASET_ID,
    HUGE_FIRST_IMAGE_ID,
    HUGE_IMAGE_COUNT,
    HUGE_IMAGES_PER_DATASET,
    HUGE_PROJECT_ID,
)

LATENCY_S = 0.020
CONCURRENCY = 32
TMPFS = Path("/dev/shm")


# ---------------------------------------------------------------- children
@dataclass
class ChildRun:
    """One finished child process: exit code, wall time and its own resource usage."""

    argv: list[str]
    returncode: int
    wall: float
    cpu: float  # user + system seconds of the child (and its waited children)
    max_rss_mb: float
    stderr: str
    started: float = 0.0  # time.monotonic() just before the child was started
    ended: float = 0.0  # time.monotonic() once it had been waited for


def run_child(argv: Sequence[str], *, cwd: Path | None = None, log: Path | None = None) -> ChildRun:
    """Run ``argv`` to the end; time it and read its rusage with ``os.wait4``.

    ``wait4`` gives the usage of exactly this child, unlike
    ``getrusage(RUSAGE_CHILDREN)`` whose ``ru_maxrss`` is a maximum over all
    children ever waited for.
    """
    err_path = log or Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
    with open(err_path, "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=_env()
        )
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
        wall = ended - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = err_path.read_text(errors="replace")
    if log is None:
        err_path.unlink()
    return ChildRun(
        argv=list(argv),
        returncode=proc.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        stderr=text[-2000:],
        started=started,
        ended=ended,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Python's bytecode cache, as an installed package has it: without it every
    # harvester start compiles its modules again (~60 ms of each timed run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def check(run: ChildRun, what: str) -> None:
    """Stop the benchmark on a failed child: a figure from a broken run means nothing."""
    if run.returncode != 0:
        raise SystemExit(f"{what} failed (exit {run.returncode}): {run.stderr.strip()[-1500:]}")


# ---------------------------------------------------------------- emulator
class Emulator:
    """``python -m harvester emulate`` as a subprocess, for the whole benchmark."""

    def __init__(self, latency_ms: float, *extra: str) -> None:
        """``extra``: more ``harvester emulate`` arguments (e.g. ``--faults SPEC``)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", "emulate", "--preset", "huge"]
            + ["--latency-ms", str(latency_ms), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("serving "):
            self.close()
            raise SystemExit(f"emulator did not start: {line!r}")
        self.base_url = line.split(" ", 1)[1].rstrip("/")

    def stats(self) -> dict[str, object]:
        with urllib.request.urlopen(self.base_url + "/__emulator__/stats", timeout=10) as resp:
            stats: dict[str, object] = json.load(resp)
        return stats

    def reset(self) -> None:
        """Zero the emulator's counters (and its first-arrival / last-answer times)."""
        with urllib.request.urlopen(self.base_url + "/__emulator__/stats?reset", timeout=10):
            pass

    def image_requests(self) -> int:
        value = self.stats().get("image_requests", 0)
        return int(value) if isinstance(value, int) else 0

    def requests(self) -> int:
        value = self.stats().get("requests", 0)
        return int(value) if isinstance(value, int) else 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- tools
@dataclass
class Tool:
    """One contender: ``run(out_dir) -> ChildRun``; ``scale`` extrapolates a sample."""

    name: str
    run: Callable[[Path], ChildRun]
    root: Path
    scale: float = 1.0
    note: str = ""
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    #: Per run: exec -> first request at the server, first request -> last answer sent,
    #: last answer -> process reaped (the emulator's and this script's monotonic clocks).
    phases: list[tuple[float, float, float]] = field(default_factory=list)


def phases_of(run: ChildRun, stats: dict[str, object]) -> tuple[float, float, float] | None:
    """Split a child's wall time at the server's first arrival and last answer."""
    first, last = stats.get("first_arrival"), stats.get("last_answer")
    if not isinstance(first, float) or not isinstance(last, float):
        return None
    return first - run.started, last - first, run.ended - last


def count_files(folder: Path, suffix: str = ".jpg") -> tuple[int, int]:
    """Number and total size of ``*suffix`` files under ``folder``."""
    n = size = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            if name.endswith(suffix):
                n += 1
                size += os.path.getsize(os.path.join(dirpath, name))
    return n, size


def harvester_argv(base_url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harvester",
        "harvest",
        "--base-url",
        base_url,
        "--out",
        str(out),
        "--rate",
        "none",
        "--concurrency",
        str(CONCURRENCY),
        "--quiet",
        *extra,
    ]


def make_tools(
    emu: Emulator, work: Path, disk: Path, ids: list[int], sequential: int
) -> list[Tool]:
    """The contenders, each with its prepared input (URL lists, ids file)."""
    base = emu.base_url + "/"
    thumb_urls = [base + urls.thumbnail(i) for i in ids]
    ids_file = work / "ids.txt"
    ids_file.write_text("".join(f"{i}\n" for i in ids))
    tools: list[Tool] = []

    def harvester(out: Path) -> ChildRun:
        # --no-labels: the same work as aria2c and curl (thumbnails only); with
        # labels the harvester also fetches ~17 MB of annotation JSON for index.csv.
        return run_child(
            harvester_argv(
                emu.base_url,
                out,
                "--ids-from",
                str(ids_file),
                "--artifacts",
                "thumbnail",
                "--no-labels",
            )
        )

    tools.append(Tool("harvester (tmpfs)", harvester, work / "harvester"))
    tools.append(Tool("harvester (disk)", harvester, disk / "harvester", note="durable: fsync"))

    aria2c = shutil.which("aria2c")
    if aria2c:
        listing = work / "aria2c.txt"
        listing.write_text(
            "".join(f"{u}\n  out={i}.jpg\n" for u, i in zip(thumb_urls, ids, strict=True))
        )

        def aria(out: Path) -> ChildRun:
            return run_child(
                [aria2c, "-j", str(CONCURRENCY), "-x", "1", "--auto-file-renaming=false"]
                + ["--allow-overwrite=true", "--summary-interval=0", "--download-result=hide"]
                + ["--console-log-level=error", "-q", "-d", str(out), "-i", str(listing)]
            )

        tools.append(Tool("aria2c -j 32", aria, work / "aria2c"))
    else:
        tools.append(Tool("aria2c -j 32", _missing, work / "aria2c", note="missing"))

    curl = shutil.which("curl")
    if curl:

        def curl_run(out: Path) -> ChildRun:
            config = out.parent / (out.name + ".curlrc")
            config.write_text(
                "".join(
                    f'url = "{u}"\noutput = "{out}/{i}.jpg"\n'
                    for u, i in zip(thumb_urls, ids, strict=True)
                )
            )
            return run_child(
                [curl, "--parallel", "--parallel-max", str(CONCURRENCY), "--silent"]
                + ["--show-error", "--fail", "--config", str(config)]
            )

        tools.append(Tool("curl --parallel 32", curl_run, work / "curl"))
    else:
        tools.append(Tool("curl --parallel 32", _missing, work / "curl", note="missing"))

    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR_CLIENT)
    floor_urls = work / "floor-urls.txt"
    floor_urls.write_text("".join(f"{u}\n" for u in thumb_urls))

    def floor_client(out: Path) -> ChildRun:
        return run_child([sys.executable, str(floor_script), str(floor_urls), str(out)])

    tools.append(
        Tool("floor: minimal asyncio loop", floor_client, work / "floor", note="reference")
    )

    sample = thumb_urls[:sequential]
    seq_script = work / "sequential.py"
    seq_script.write_text(SEQUENTIAL_LOOP)
    seq_urls = work / "sequential-urls.txt"
    seq_urls.write_text("".join(f"{u}\n" for u in sample))

    def sequential_loop(out: Path) -> ChildRun:
        return run_child([sys.executable, str(seq_script), str(seq_urls), str(out)])

    tools.append(
        Tool(
            "sequential loop",
            sequential_loop,
            work / "sequential",
            scale=len(ids) / max(1, len(sample)),
            note=f"{len(sample)} timed, x{len(ids) / max(1, len(sample)):g}",
        )
    )
    return tools


def _missing(out: Path) -> ChildRun:
    raise FileNotFoundError


#: IDR's tutorial style: one client, one request after another.
SEQUENTIAL_LOOP = """
import sys
from pathlib import Path
import httpx

urls = Path(sys.argv[1]).read_text().split()
out = Path(sys.argv[2])
with httpx.Client(timeout=30) as client:
    for url in urls:
        r = client.get(url)
        r.raise_for_status()
        (out / (url.rstrip("/").rsplit("/", 1)[1] + ".jpg")).write_bytes(r.content)
"""


#: Not a contender: what the emulator allows a client that does nothing but
#: ask and write (32 keep-alive sockets, no validation, retries or durability).
FLOOR_CLIENT = """
import asyncio, sys
from pathlib import Path
from urllib.parse import urlsplit

urls = Path(sys.argv[1]).read_text().split()
out = Path(sys.argv[2])
where = urlsplit(urls[0])

async def worker(todo):
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    while todo:
        url = todo.pop()
        path = urlsplit(url).path
        writer.write(f"GET {path} HTTP/1.1\\r\\nHost: {where.netloc}\\r\\n\\r\\n".encode())
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        (out / (path.rstrip("/").rsplit("/", 1)[1] + ".jpg")).write_bytes(body)
    writer.close()

async def main():
    todo = list(reversed(urls))
    await asyncio.gather(*(worker(todo) for _ in range(32)))

asyncio.run(main())
"""


# ---------------------------------------------------------------- sections
def throughput(
    emu: Emulator, tools: list[Tool], runs: int, expected: int, loads: list[float]
) -> None:
    """Each tool ``runs`` times, interleaved so that machine noise spreads evenly.

    An untimed harvester run first warms the emulator's thumbnail cache (as
    IDR's nginx cache is warm for thumbnails), the page cache and Python's
    bytecode cache, so that no tool pays for rendering or cold files.
    """
    warm = tools[0]
    out = warm.root / "warm-up"
    out.mkdir(parents=True)
    result = warm.run(out)
    check(result, "warm-up")
    print(f"  warm-up (untimed)  {result.wall:8.2f} s")
    shutil.rmtree(out, ignore_errors=True)
    for r in range(runs):
        for tool in tools:
            if tool.note == "missing":
                continue
            out = tool.root / f"run-{r}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            emu.reset()
            result = tool.run(out)
            check(result, tool.name)
            stats = emu.stats()
            sent = int(stats["requests"])  # type: ignore[call-overload]
            split = phases_of(result, stats)
            if split is not None:
                tool.phases.append(split)
            files, _ = count_files(out)
            want = expected if tool.scale == 1.0 else round(expected / tool.scale)
            if files != want:
                raise SystemExit(f"{tool.name}: {files} files written, expected {want}")
            tool.walls.append(result.wall * tool.scale)
            tool.cpus.append(result.cpu)
            tool.requests.append(sent)
            loads.append(os.getloadavg()[0])
            print(
                f"  run {r + 1}/{runs} {tool.name:22s} {result.wall:8.2f} s  {sent} requests"
                f"  cpu {result.cpu:.2f} s  load {os.getloadavg()[0]:.2f}"
            )
            shutil.rmtree(out, ignore_errors=True)


def memory(emu: Emulator, work: Path) -> list[tuple[str, ChildRun]]:
    """Peak RSS of dry-run walks of 10 datasets (10,000 images) and the whole project."""
    small = [str(HUGE_FIRST_DATASET_ID + k) for k in range(10)]
    cases = [
        (f"{10 * HUGE_IMAGES_PER_DATASET:,} images", [a for d in small for a in ("--dataset", d)]),
        (f"{HUGE_IMAGE_COUNT:,} images", ["--project", str(HUGE_PROJECT_ID)]),
    ]
    results = []
    for label, targets in cases:
        out = work / "dry"
        result = run_child(
            harvester_argv(emu.base_url, out, "--dry-run", "--artifacts", "thumbnail", *targets)
        )
        check(result, f"dry run of {label}")
        print(f"  dry run {label:18s} {result.wall:8.2f} s  peak RSS {result.max_rss_mb:.0f} MB")
        results.append((label, result))
    return results


def resume(emu: Emulator, out: Path, images: int) -> tuple[ChildRun, ChildRun, int, int]:
    """Build a completed harvest once (kept between benchmark runs), then rerun it."""
    datasets = max(1, images // HUGE_IMAGES_PER_DATASET)
    targets = [a for k in range(datasets) for a in ("--dataset", str(HUGE_FIRST_DATASET_ID + k))]
    argv = harvester_argv(emu.base_url, out, "--artifacts", "thumbnail", *targets)
    build = run_child(argv)
    check(build, "resume: building the harvest")
    print(f"  built {datasets * HUGE_IMAGES_PER_DATASET:,} thumbnails in {build.wall:.1f} s")
    before_img, before_all = emu.image_requests(), emu.requests()
    rerun = run_child(argv)
    check(rerun, "resume: rerun")
    img, total = emu.image_requests() - before_img, emu.requests() - before_all
    print(f"  rerun {rerun.wall:.2f} s, {img} image requests, {total} requests in all")
    return build, rerun, img, total


# ---------------------------------------------------------------- report
def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {ram:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def head_to_head(harv: Tool, tools: list[Tool]) -> list[list[str]]:
    """The harvester against each full-size tool, round by round.

    Why: the tools run one after another within each round, so a round's walls share the
    machine's load of that moment; the per-round difference cancels the slow drift that
    medians of separate columns keep. A lead is the other tool's wall minus the
    harvester's (positive: the harvester was faster). Rounds where either run is missing
    are skipped.
    """
    rows = []
    for t in tools:
        if t is harv or t.scale != 1.0 or t.name.startswith("harvester"):
            continue
        leads = [(theirs - ours) * 1000 for ours, theirs in zip(harv.walls, t.walls, strict=False)]
        if not leads:
            continue
        won = sum(lead > 0 for lead in leads)
        rows.append(
            [
                t.name,
                f"{won} of {len(leads)}",
                f"{statistics.median(leads):+.0f}",
                f"{min(leads):+.0f}..{max(leads):+.0f}",
            ]
        )
    return rows


def report(
    tools: list[Tool],
    images: int,
    mem: list[tuple[str, ChildRun]],
    res: tuple[ChildRun, ChildRun, int, int] | None,
    resume_images: int,
    loads: list[float],
) -> list[tuple[list[str], list[list[str]]]]:
    ideal = images * LATENCY_S / CONCURRENCY
    by_name = {t.name: t for t in tools}
    aria = by_name.get("aria2c -j 32")
    aria_wall = statistics.median(aria.walls) if aria and aria.walls else None
    seq = by_name.get("sequential loop")
    seq_wall = statistics.median(seq.walls) if seq and seq.walls else None
    rows = []
    for t in tools:
        if not t.walls:
            rows.append([t.name, "missing", "", "", "", "", t.note])
            continue
        wall = statistics.median(t.walls)
        rows.append(
            [
                t.name,
                f"{wall:.2f}",
                f"{min(t.walls):.2f}-{max(t.walls):.2f}",
                f"{wall / aria_wall:.2f}" if aria_wall else "-",
                f"{ideal / wall:.2f}",
                f"{seq_wall / wall:.1f}x" if seq_wall else "-",
                t.note,
            ]
        )
    sections = [
        (
            [f"1. {images:,} thumbnails, c=32", "wall s (median)", "min-max", "time vs aria2c"]
            + [f"efficiency (ideal {ideal:.2f} s)", "speed-up vs sequential", "note"],
            rows,
        )
    ]
    phase_rows = [
        [
            t.name,
            *(f"{statistics.median(p[k] for p in t.phases) * 1000:.0f}" for k in range(3)),
        ]
        for t in tools
        if t.phases and t.scale == 1.0
    ]
    if phase_rows:
        sections.append(
            (
                [
                    "1b. where the time goes",
                    "exec -> 1st request ms",
                    "1st request -> last answer ms",
                ]
                + ["last answer -> exit ms"],
                phase_rows,
            )
        )
    harv = by_name["harvester (tmpfs)"]
    duels = head_to_head(harv, tools)
    if duels:
        sections.append(
            (
                ["1c. harvester (tmpfs) against", "rounds won", "median lead ms"]
                + ["lead min..max ms"],
                duels,
            )
        )
    if harv.cpus:
        per_k = statistics.median(
            c / (r / 1000) for c, r in zip(harv.cpus, harv.requests, strict=True)
        )
        cost_rows = [
            [
                "harvester (tmpfs)",
                f"{statistics.median(harv.cpus):.2f}",
                f"{statistics.median(harv.requests):,.0f}",
                f"{per_k:.3f}",
            ]
        ]
        for t in tools:
            if (
                t.name in ("aria2c -j 32", "curl --parallel 32", "floor: minimal asyncio loop")
                and t.cpus
            ):
                cost_rows.append(
                    [
                        t.name,
                        f"{statistics.median(t.cpus):.2f}",
                        f"{statistics.median(t.requests):,.0f}",
                        f"{statistics.median(t.cpus) / (images / 1000):.3f}",
                    ]
                )
        sections.append(
            (["2. client cost", "CPU s", "requests", "CPU s / 1,000 requests"], cost_rows)
        )
    if mem:
        base_rss = mem[0][1].max_rss_mb
        mem_rows = [
            [label, f"{r.wall:.1f}", f"{r.max_rss_mb:.0f}", f"{r.max_rss_mb / base_rss:.2f}"]
            for label, r in mem
        ]
        sections.append(
            (
                ["3. memory (dry-run walk)", "wall s", "peak RSS MB", "ratio (target <= 1.5)"],
                mem_rows,
            )
        )
    if res:
        build, rerun, img, total = res
        sections.append(
            (
                ["4. resume", "wall s", "image requests", "requests in all"],
                [
                    [f"first run, {resume_images:,} thumbnails", f"{build.wall:.1f}", "", ""],
                    ["rerun (complete)", f"{rerun.wall:.2f}", f"{img}", f"{total}"],
                ],
            )
        )
    return sections


def main(argv: list[str] | None = None) -> int:
    drop_proxy_variables()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (median reported)")
    parser.add_argument("--images", type=int, default=10_000, help="thumbnails per run")
    parser.add_argument("--sequential", type=int, default=500, help="timed sequential sample")
    parser.add_argument("--resume-images", type=int, default=100_000)
    parser.add_argument("--resume-dir", type=Path, default=None, help="reuse a built harvest")
    parser.add_argument("--disk-dir", type=Path, default=None, help="real-disk folder")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_S * 1000)
    args = parser.parse_args(argv)
    if not TMPFS.is_dir():
        raise SystemExit(f"{TMPFS} (tmpfs) is needed")

    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for tool_name in ("aria2c", "curl"):
        print(f"{tool_name}: {shutil.which(tool_name) or 'MISSING (skipped)'}")
    loads = [os.getloadavg()[0]]
    print(f"load average at start: {loads[0]:.2f}")

    work = Path(tempfile.mkdtemp(prefix="harvester-bench-", dir=TMPFS))
    disk = Path(tempfile.mkdtemp(prefix="harvester-bench-", dir=args.disk_dir or "/var/tmp"))
    emu = Emulator(args.latency_ms)
    try:
        ids = list(range(HUGE_FIRST_IMAGE_ID, HUGE_FIRST_IMAGE_ID + args.images))
        tools = make_tools(emu, work, disk, ids, args.sequential)
        if not args.skip_throughput:
            print("throughput:")
            throughput(emu, tools, args.runs, args.images, loads)
        mem = [] if args.skip_memory else (print("memory:"), memory(emu, work))[1]
        res = None
        if not args.skip_resume:
            print("resume:")
            res = resume(emu, args.resume_dir or disk / "resume", args.resume_images)
        loads.append(os.getloadavg()[0])
    finally:
        emu.close()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)

    sections = report(tools, args.images, mem, res, args.resume_images, loads)
    print()
    for headers, rows in sections:
        if rows:
            print(table(headers, rows, markdown=False))
            print()
    print(
        f"load average (1 min) sampled during the run: min {min(loads):.2f}, "
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f}"
    )
    print("\nmarkdown:\n")
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d', time.gmtime())}.\n")
    for headers, rows in sections:
        if rows:
            print(table(headers, rows, markdown=True))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
