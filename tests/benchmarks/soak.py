"""Soak: long harvests under faults and kills, and a long run's resource use over time.

Usage::

    python tests/benchmarks/soak.py [--lives 40] [--datasets 4] [--endurance-images 300000]
        [--seed 7] [--skip-kills] [--skip-endurance]

The test suite proves each guarantee once, on small catalogues, in seconds. A
user trusting the harvester with a week-long run needs the same guarantees to
hold many times over and for longer, so this script (run by hand, minutes to
tens of minutes) repeats them at a larger scale. Each part runs against its own
``harvester emulate --preset huge`` subprocess:

1. **Kills under chaos.** A reference harvest of ``--datasets`` datasets
   (1,000 images each; thumbnail, imgData, render and metadata per image) from a
   fault-free emulator. Then the same harvest from an emulator with a heavy
   fault mix (503, 429 with both Retry-After forms, resets, truncated and
   trickled bodies, HTML with 200, imgData Exceptions, a maintenance window),
   started ``--lives`` times and ended each time after a seeded 1-8 s by
   SIGKILL (60%), SIGTERM (20%) or SIGINT (20%); then once more to the end.
   After every life: every complete journal line parses, every file a done
   record names still has that record's size and SHA-256, a SIGTERM/SIGINT
   exits 130 and leaves no temporary file or pending file of its own (a killed
   life's are the next store's to remove: :func:`left_by`). At the end: exit 0, the output is
   byte-identical to the reference (images, study files, index.csv), every
   artifact is journaled done exactly once, ``harvester verify`` is clean.
2. **Endurance.** One uninterrupted harvest of ``--endurance-images``
   thumbnails (light faults: 1% 503, 0.5% resets) while this script samples
   the harvester's resident memory, open file descriptors and journaled count
   every 2 s: memory per image, descriptor ceiling, and throughput of the last
   quarter against the first (a run that slows as its journal grows would show
   a ratio well below 1).

The script prints a table per part; it exits 1 if any check of part 1 failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import drop_proxy_variables  # noqa: E402
from run import REPO, Emulator, _env  # noqa: E402  (the benchmark's emulator and child env)

from harvester.emulator.catalogue_presets import (  # noqa: E402
    HUGE_FIRST_DATASET_ID,
    HUGE_FIRST_IMAGE_ID,
    HUGE_IMAGE_COUNT,
)

ARTIFACTS = "thumbnail,imgdata,render,metadata"
CHAOS = (
    "503:8%,429:4%,retry-after:1s|date,reset:2%,truncate:2%,trickle:1%,html200:1%,"
    "exception:3%,maintenance:8s@30s,trickle-delay:20ms"
)
LIGHT = "503:1%,reset:0.5%"
#: Signal of a life's end, by weight: mostly the hard kill a crash or OOM killer gives.
ENDINGS = [(signal.SIGKILL, 6), (signal.SIGTERM, 2), (signal.SIGINT, 2)]


def harvest_argv(base_url: str, out: Path, *targets: str, **flags: str) -> list[str]:
    argv = [sys.executable, "-m", "harvester", "harvest", "--base-url", base_url]
    argv += [*targets, "--out", str(out), "--quiet"]
    for name, value in flags.items():
        argv += ["--" + name.replace("_", "-"), value]
    return argv


def run_to_end(argv: list[str], timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout, cwd=REPO,
    )  # fmt: skip


# ---------------------------------------------------------------- checks of a folder
def journal_records(out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every complete record of every journal, and the problems found reading them.

    A kill may leave the last line of a journal without its newline (torn): it
    is ignored, as the harvester ignores it. Any other line must parse.
    """
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for journal in sorted((out / "journals").glob("*.jsonl")):
        lines = journal.read_bytes().split(b"\n")
        for number, line in enumerate(lines[:-1], 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                problems.append(f"{journal.name} line {number} does not parse")
    return records, problems


def done_problems(out: Path, records: list[dict[str, Any]]) -> list[str]:
    """Files named by the latest done record of each artifact that do not match it."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in records:
        if rec.get("rec") == "done":
            latest[(rec["kind"], rec["id"])] = rec
    problems = []
    for rec in latest.values():
        for item in [rec, *rec.get("files", [])]:
            path = out / item["path"]
            try:
                data = path.read_bytes()
            except OSError:
                problems.append(f"{item['path']}: missing")
                continue
            if len(data) != item["size"] or hashlib.sha256(data).hexdigest() != item["sha256"]:
                problems.append(f"{item['path']}: differs from its done record")
    return problems


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name or p.name.endswith(".tmp")]


def left_by(out: Path, pid: int, before: set[Path]) -> list[str]:
    """What a life stopped by SIGTERM or SIGINT (process ``pid``) left that a clean stop must
    not: temp files of its own (those not there before it started) and its pending files.

    A SIGKILLed life's temps and pending file stay until the next store opens DIR and removes
    them; a life stopped before its store got that far (in its probe or walk) leaves them for
    the one after. Counted against that life, they failed a SIGTERM 1.2 s into its run (seed 28,
    life 20, a loaded machine): the temp was life 19's, SIGKILLed mid-batch.
    """
    problems = [f"temporary file left: {p}" for p in temp_files(out) if p not in before]
    for pending in sorted((out / "journals").glob("*.pending")):
        try:
            header = json.loads(pending.read_text(errors="replace").split("\n", 1)[0])
        except (OSError, ValueError):
            continue  # removed meanwhile, or torn: not a clean stop's (its header is whole)
        if isinstance(header, dict) and header.get("pid") == pid:
            problems.append(f"pending file left: {pending.name}")
    return problems


def content(out: Path, base_url: str) -> dict[str, str]:
    """rel path -> SHA-256 of every artifact, study file and index.csv (base URL masked)."""
    found: dict[str, str] = {}
    paths = [p for folder in ("images", "study") for p in (out / folder).rglob("*")]
    paths.append(out / "index.csv")
    for path in sorted(paths):
        if path.is_file():
            data = path.read_bytes().replace(base_url.encode(), b"BASE")
            found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


# ---------------------------------------------------------------- part 1
def kills_under_chaos(args: argparse.Namespace, work: Path) -> bool:
    targets: list[str] = []
    for k in range(args.datasets):
        targets += ["--dataset", str(HUGE_FIRST_DATASET_ID + k)]
    flags = {"artifacts": ARTIFACTS, "rate": "none", "concurrency": "16"}

    clean = Emulator(0)
    try:
        ref = work / "reference"
        started = time.monotonic()
        done = run_to_end(harvest_argv(clean.base_url, ref, *targets, **flags))
        ref_wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"reference harvest failed: {done.stderr[-1500:]}")
        reference = content(ref, clean.base_url)
    finally:
        clean.close()

    rng = random.Random(args.seed)
    chaos = Emulator(5, "--jitter-ms", "15", "--faults", f"{CHAOS},seed:{args.seed}")
    out = work / "killed"
    argv = harvest_argv(chaos.base_url, out, *targets, **flags)
    failures: list[str] = []
    endings: Counter[str] = Counter()
    self_ended: Counter[str] = Counter()
    finished_early = 0
    started = time.monotonic()
    try:
        for life in range(1, args.lives + 1):
            log = work / f"life-{life}.log"  # a file: a full pipe would block the child
            before = set(temp_files(out))  # a killed life's: not this one's (left_by)
            with open(log, "wb") as err:
                proc = subprocess.Popen(
                    argv, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=err, cwd=REPO,
                )  # fmt: skip
            try:
                code = proc.wait(timeout=rng.uniform(1.0, 8.0))
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:  # the life ended before its kill
                if code == 0:
                    finished_early += 1
                    break  # the harvest is complete: nothing left to interrupt
                # e.g. exit 2 when the server probe falls into the maintenance window
                first = (log.read_text(errors="replace").strip().splitlines() or ["?"])[0]
                self_ended[f"exit {code}: {first[:80]}"] += 1
                continue
            sig = rng.choices([s for s, _ in ENDINGS], args.weights)[0]
            proc.send_signal(sig)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:  # a hang: say where it is, then end it
                failures.append(f"life {life} ({sig.name}): still running 120 s after the signal")
                dump_stacks(proc.pid, work / f"life-{life}.stacks.txt")
                proc.kill()
                proc.wait()
            stderr = log.read_text(errors="replace")
            endings[sig.name] += 1
            records, problems = journal_records(out)
            problems += done_problems(out, records)
            if sig != signal.SIGKILL:
                # 0 or 1: the signal came once the outcome was being printed, which stands
                if proc.returncode not in (0, 1, 130):
                    problems.append(f"{sig.name}: exit {proc.returncode}, not 130")
                if "Traceback" in stderr:
                    problems.append(f"{sig.name}: traceback on stderr")
                problems += left_by(out, proc.pid, before)
            failures += [f"life {life} ({sig.name}): {p}" for p in problems]
            if proc.returncode == 0:
                finished_early += 1
                break  # complete: a later life would have nothing left to do
        final = run_to_end(argv)
        kill_wall = time.monotonic() - started
        requests = int(chaos.stats().get("requests", 0) or 0)  # type: ignore[call-overload]
    finally:
        chaos.close()

    if final.returncode != 0:
        failures.append(f"final run: exit {final.returncode}: {final.stderr.strip()[-500:]}")
    records, problems = journal_records(out)
    failures += problems + done_problems(out, records)
    counts = Counter((r["kind"], r["id"]) for r in records if r.get("rec") == "done")
    per_image = {k: n for k, n in counts.items() if k[0] in ARTIFACTS.split(",")}
    expected = args.datasets * 1000 * len(ARTIFACTS.split(","))
    if len(per_image) != expected:
        failures.append(f"{len(per_image)} artifacts journaled done, expected {expected}")
    doubled = sum(1 for n in per_image.values() if n != 1)
    if doubled:
        failures.append(f"{doubled} artifacts journaled done more than once")
    failures += [f"temporary file left at the end: {p}" for p in temp_files(out)]
    got = content(out, chaos.base_url)
    differing = sorted(k for k in reference.keys() | got.keys() if reference.get(k) != got.get(k))
    if differing:
        failures.append(f"{len(differing)} files differ from the reference, e.g. {differing[:3]}")
    verify = run_to_end([sys.executable, "-m", "harvester", "verify", str(out), "--json"])
    report = json.loads(verify.stdout) if verify.stdout.strip() else {}
    if verify.returncode != 0 or report.get("problems"):
        failures.append(f"verify: exit {verify.returncode}, {report.get('problems', '?')!s:.300}")

    rows = [
        ("images x artifacts", f"{args.datasets * 1000} x 4 = {expected}"),
        ("files compared with the reference", f"{len(reference)} ({len(differing)} differ)"),
        ("lives (ended by signal)", f"{sum(endings.values())}: {dict(endings)}"),
        ("lives that finished before their kill", str(finished_early)),
        ("lives that ended by themselves", "; ".join(f"{n} x {k}" for k, n in self_ended.items())),
        ("requests to the chaos emulator", f"{requests:,}"),
        ("wall: reference / kills + final", f"{ref_wall:.0f} s / {kill_wall:.0f} s"),
        ("artifacts journaled more than once", str(doubled)),
        ("verify", f"checked {report.get('checked', '?')}, ok {report.get('ok', '?')}"),
        ("failed checks", str(len(failures))),
    ]
    print("\n## 1. Kills under chaos\n")
    print_table(rows)
    for line in failures[:20]:
        print("FAILED:", line)
    return not failures


def dump_stacks(pid: int, path: Path) -> None:
    """Every thread's Python stack of a hung process into ``path`` (``py-spy dump``, if found)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        path.write_text("py-spy not found: no stacks\n")
        return
    done = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True)
    path.write_text(done.stdout + done.stderr)
    print(f"stacks of the hung harvest: {path}")


# ---------------------------------------------------------------- part 2
@dataclass
class Sample:
    """One look at the running harvest (seconds since its start)."""

    t: float
    rss_mb: float
    fds: int
    done: int
    cpu: float  # the harvester's user + system seconds so far
    emu_cpu: float  # the emulator's


def endurance(args: argparse.Namespace, work: Path) -> None:
    count = min(args.endurance_images, HUGE_IMAGE_COUNT)
    ids = work / "endurance-ids.txt"
    ids.write_text("".join(f"{HUGE_FIRST_IMAGE_ID + i}\n" for i in range(count)))
    emu = Emulator(0, "--faults", f"{LIGHT},seed:{args.seed}")
    out = work / "endurance"
    argv = harvest_argv(
        emu.base_url, out, "--ids-from", str(ids), "--no-labels",
        artifacts="thumbnail", rate="none", concurrency="32",
    )  # fmt: skip
    samples: list[Sample] = []
    try:
        counter = DoneCounter(out)
        started = time.monotonic()
        log = work / "endurance.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                argv, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, cwd=REPO,
            )  # fmt: skip
        while proc.poll() is None:
            sample = probe(proc.pid, emu.proc.pid, counter, time.monotonic() - started)
            if sample is not None:
                samples.append(sample)
            time.sleep(2.0)
        wall = time.monotonic() - started
        stderr = log.read_text(errors="replace")
    finally:
        emu.close()
    if proc.returncode != 0 or len(samples) < 8:
        raise SystemExit(f"endurance run: exit {proc.returncode}, {stderr.strip()[-800:]}")
    quarter = len(samples) // 4
    head, tail = (samples[0], samples[quarter]), (samples[-quarter - 1], samples[-1])
    early_rss = samples[quarter].rss_mb
    peak_rss = max(s.rss_mb for s in samples)
    grown = samples[-1].done - samples[quarter].done
    rows = [
        ("thumbnails", f"{count:,} in {wall:.0f} s ({count / wall:,.0f}/s)"),
        ("resident memory: at 25% / peak", f"{early_rss:.0f} MB / {peak_rss:.0f} MB"),
        (
            "memory growth per image after 25%",
            f"{(peak_rss - early_rss) * 1e6 / max(grown, 1):,.0f} bytes",
        ),
        ("open file descriptors: max", str(max(s.fds for s in samples))),
        ("throughput: first / last quarter", pair(rate(*head), rate(*tail), "{:,.0f}/s")),
        ("harvester CPU ms per image: first / last quarter", pair(
            cpu_per_image(*head, emulator=False), cpu_per_image(*tail, emulator=False), "{:.3f}"
        )),
        ("emulator CPU ms per image: first / last quarter", pair(
            cpu_per_image(*head, emulator=True), cpu_per_image(*tail, emulator=True), "{:.3f}"
        )),
    ]  # fmt: skip
    print("\n## 2. Endurance\n")
    print_table(rows)


def rate(a: Sample, b: Sample) -> float:
    return (b.done - a.done) / max(b.t - a.t, 1e-9)


def cpu_per_image(a: Sample, b: Sample, *, emulator: bool) -> float:
    spent = (b.emu_cpu - a.emu_cpu) if emulator else (b.cpu - a.cpu)
    return spent * 1000 / max(b.done - a.done, 1)


def pair(first: float, last: float, fmt: str) -> str:
    """``first / last (last/first ratio)``: a drift over the run shows as a ratio off 1."""
    return f"{fmt.format(first)} / {fmt.format(last)} ({last / first if first else 0:.2f})"


class DoneCounter:
    """Done records in DIR's journals so far, read incrementally (each byte once)."""

    def __init__(self, out: Path) -> None:
        self.journals = out / "journals"
        self.offsets: dict[Path, int] = {}
        self.done = 0

    def count(self) -> int:
        for journal in self.journals.glob("*.jsonl") if self.journals.is_dir() else []:
            with open(journal, "rb") as f:
                f.seek(self.offsets.get(journal, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written is counted next time
            self.done += data[:end].count(b'"rec":"done"')
            self.offsets[journal] = self.offsets.get(journal, 0) + end
        return self.done


def probe(pid: int, emu_pid: int, counter: DoneCounter, t: float) -> Sample | None:
    """A :class:`Sample` of the running harvest, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        cpu, emu_cpu = cpu_seconds(pid), cpu_seconds(emu_pid)
    except OSError:
        return None
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return Sample(t, rss_kb / 1024, fds, counter.count(), cpu, emu_cpu)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_table(rows: list[tuple[str, str]]) -> None:
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def main() -> int:
    drop_proxy_variables()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lives", type=int, default=40, help="killed runs before the last")
    parser.add_argument("--datasets", type=int, default=4, help="1,000 images each")
    parser.add_argument("--endurance-images", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--weights",
        type=lambda text: [float(w) for w in text.split(",")],
        default=[w for _, w in ENDINGS],
        metavar="K,T,I",
        help="relative weights of SIGKILL, SIGTERM, SIGINT as a life's end (default 6,2,2)",
    )
    parser.add_argument("--skip-kills", action="store_true")
    parser.add_argument("--skip-endurance", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the output folders")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harvester-soak-", dir="/var/tmp"))
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# harvester soak, {now}, seed {args.seed}, {os.cpu_count()} CPUs")
    ok = True
    try:
        if not args.skip_kills:
            ok = kills_under_chaos(args, work)
        if not args.skip_endurance:
            endurance(args, work)
    finally:
        if args.keep:
            print(f"\noutput kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
