"""Interrupt hunt: signal short harvests at random moments of their first tenth of a second.

Usage::

    python tests/benchmarks/interrupt_hunt.py [--runs 400] [--seed 1] [--from 0.03] [--to 0.15]

The suite proves an interruption at chosen moments (during the server check, while the store
opens, at the index); a user's Ctrl-C lands anywhere, and most of a short run is start-up:
module loading, the event loop being built, the watcher being installed, the loop being
closed. This script starts ``harvester harvest`` of the demo preset's project 51 (8 images)
``--runs`` times against one emulator subprocess and sends each run SIGINT or SIGTERM
(seeded) after a random delay between ``--from`` and ``--to`` seconds, then checks:

- the exit code is 0 (the run ended first) or 130 (interrupted), with no traceback, "internal
  error" or "Exception ignored" on stderr; or the process was killed by the signal while the
  interpreter started (before ``main``) or finalized, which no program can catch (a Ctrl-C
  while Python imports ``site`` ends it with exit 1 and "Fatal Python error");
- the process ends within 20 s (a run stuck at exit has its stacks dumped with py-spy, if
  installed: ``pip install py-spy``), and how many runs took over 1.5 s to end (the exit
  watchdog's grace period, see ``harvester.cli._leave_no_thread_waiting``).

It found the half-made modules of an interrupted import, the half-built event loop, and a
hang at exit about one run in 500 (2026-11-26). Prints a table; exits 1 on any failed check.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import drop_proxy_variables  # noqa: E402
from run import _env  # noqa: E402  (the benchmark's child environment)

#: Exit codes that are a clean outcome whatever the moment of the signal.
CLEAN = {0, 130}
#: Killed by the signal itself: fine only before our code runs or during finalization.
KILLED = {-signal.SIGINT, -signal.SIGTERM}
MARKS = ("Traceback", "internal error", "Exception ignored")
#: What Python prints when a Ctrl-C lands while it imports ``site``, before any module of
#: ours is loaded: the interpreter ends itself with exit 1 (seen on a loaded machine, where
#: start-up is slow enough for a 30 ms delay to land there).
SITE_INTERRUPTED = "Fatal Python error: init_import_site"


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester", "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("serving "):
        proc.terminate()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, line.split(" ", 1)[1].rstrip("/")


def dump_stacks(pid: int) -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return "py-spy not found: no stacks"
    done = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True)
    return done.stdout + done.stderr


def one_run(base_url: str, out: Path, signum: int, delay: float) -> tuple[int, str, float]:
    """(exit code, stderr, seconds from the signal to the end) of one signalled harvest."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", base_url,
         "--project", "51", "--out", str(out), "--rate", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signum)
    sent = time.monotonic()
    try:
        _out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stacks = dump_stacks(proc.pid)
        proc.kill()
        _out, err = proc.communicate()
        return 999, err + "\nHUNG; stacks:\n" + stacks, time.monotonic() - sent
    return proc.returncode, err, time.monotonic() - sent


def main() -> int:
    drop_proxy_variables()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from", dest="low", type=float, default=0.03)
    parser.add_argument("--to", dest="high", type=float, default=0.15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    emulator, base_url = start_emulator()
    work = Path(tempfile.mkdtemp(prefix="hunt-"))
    codes: Counter[int] = Counter()
    slow = 0
    failures: list[str] = []
    try:
        for n in range(args.runs):
            signum = rng.choice([signal.SIGINT, signal.SIGTERM])
            delay = rng.uniform(args.low, args.high)
            code, err, took = one_run(base_url, work / f"run{n}", signum, delay)
            codes[code] += 1
            slow += took > 1.5
            marked = any(mark in err for mark in MARKS)
            # Killed by the signal: fine while the interpreter starts (Python's own traceback
            # of an import, before `main`) or finalizes (nothing printed); not out of `main`.
            escaped = "in main" in err or "in _main" in err
            in_site = code == 1 and SITE_INTERRUPTED in err and "/harvester/" not in err
            clean = (code in CLEAN and not marked) or (code in KILLED and not escaped) or in_site
            if not clean:
                what = f"run {n}: {signal.Signals(signum).name} after {delay:.3f} s: exit {code}"
                failures.append(f"{what}\n{err.strip()[-3000:]}")
            shutil.rmtree(work / f"run{n}", ignore_errors=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n# interrupt hunt, seed {args.seed}, {args.runs} runs, delays "
          f"{args.low:.3f}-{args.high:.3f} s\n")  # fmt: skip
    print("| exit code | runs |\n|---|---|")
    for code, count in sorted(codes.items()):
        print(f"| {'hung (killed after 20 s)' if code == 999 else code} | {count} |")
    print(f"\nruns that took over 1.5 s to end after the signal: {slow}")
    print(f"failed checks: {len(failures)}")
    for failure in failures[:10]:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
