"""``harvester plan``, ``harvester slurm`` and ``harvester index``: cluster runs.

The workflow for a study too big for one process::

    harvester plan CONFIG --out DIR              # walk once -> DIR/plan/
    harvester slurm CONFIG --out DIR --from-plan DIR --tasks 16 --max-parallel 4 --submit
    harvester status DIR                         # any time, aggregates every shard
    harvester index DIR                          # any time; also run for you after the array
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harvester.errors import UsageError

TARGET_FLAGS = (
    ("--screen", "screens", "screen id (repeatable)"),
    ("--project", "projects", "project id (repeatable)"),
    ("--plate", "plates", "plate id (repeatable)"),
    ("--dataset", "datasets", "dataset id (repeatable)"),
    ("--image", "images", "image id (repeatable)"),
)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", type=Path, help="TOML config file (optional)")
    parser.add_argument("--out", type=Path, required=True, help="output folder DIR")
    parser.add_argument("--base-url", help="OMERO.web base URL (default: IDR)")
    for flag, dest, text in TARGET_FLAGS:
        parser.add_argument(flag, dest=dest, action="append", metavar="ID", help=text)
    parser.add_argument("--ids-from", type=Path, metavar="FILE", help="image ids, one a line")
    parser.add_argument("--artifacts", help="comma list: thumbnail,imgdata,render,metadata,stack")
    parser.add_argument(
        "--concurrency", type=int, help="concurrent requests (total, for slurm: all tasks)"
    )
    parser.add_argument(
        "--rate", help="requests/s, or 'none' (total: for slurm split across running tasks)"
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "out": str(args.out),
        "base_url": args.base_url,
        "ids_from": str(args.ids_from) if args.ids_from else None,
        "artifacts": args.artifacts,
        "concurrency": args.concurrency,
        "rate": args.rate,
    }
    for _flag, dest, _text in TARGET_FLAGS:
        raw = getattr(args, dest)
        if raw:
            values[dest] = [_int_id(dest, v) for v in raw]
    return values


def _int_id(dest: str, value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise UsageError(f"--{dest.rstrip('s')}: {value!r} is not a numeric id")
    return int(text)


def register(subparsers: Any) -> None:
    """Add the ``plan``, ``slurm`` and ``index`` subcommands."""
    plan = subparsers.add_parser(
        "plan",
        help="walk the targets once and write the work list into DIR/plan",
        description="Walk the targets once and write DIR/plan/images.jsonl and plan.json "
        "atomically; then `harvester harvest --from-plan DIR --shard K/N` needs no walk.",
    )
    _add_common(plan)
    plan.add_argument("--force", action="store_true", help="replace an existing plan")
    plan.add_argument("--quiet", action="store_true", help="print only errors")
    plan.set_defaults(run=run_plan)

    slurm = subparsers.add_parser(
        "slurm",
        help="write (and with --submit, submit) a SLURM job array running the harvest in shards",
        description="Write DIR/harvest.sbatch, a job array whose task K of N runs "
        "`harvester harvest ... --shard K/N`; the total --rate is split across the tasks "
        "that run at once. Submitting the same script again resumes.",
    )
    _add_common(slurm)
    slurm.add_argument("--from-plan", type=Path, metavar="DIR", help="use a plan (no walk)")
    slurm.add_argument("--tasks", type=int, required=True, help="number of shards N")
    slurm.add_argument("--max-parallel", type=int, help="tasks running at once (default: all)")
    slurm.add_argument("--partition", help="SLURM partition")
    slurm.add_argument("--time", dest="time_limit", help="time limit per task, e.g. 12:00:00")
    slurm.add_argument("--cpus", type=int, help="CPUs per task")
    slurm.add_argument("--mem", help="memory per task, e.g. 4G")
    slurm.add_argument("--job-name", default="harvester", help="SLURM job name")
    slurm.add_argument("--submit", action="store_true", help="submit with sbatch")
    slurm.set_defaults(run=run_slurm)

    index = subparsers.add_parser(
        "index",
        help="rebuild DIR/index.csv from every journal (safe while shards run)",
    )
    index.add_argument("out", type=Path, metavar="DIR", help="output folder")
    index.set_defaults(run=run_index)


def run_plan(args: argparse.Namespace) -> int:
    """``harvester plan``: walk once, publish DIR/plan."""
    import anyio

    from harvester.config import resolve
    from harvester.plan import plan_targets

    config = resolve(args.config, _overrides(args))
    out = Path(args.out)
    study = _study_sink(out)
    info = anyio.run(lambda: plan_targets(config, out, force=args.force, study=study))
    if not args.quiet:
        kinds = ", ".join(f"{n} {k}" for k, n in info.artifacts.items())
        print(f"planned {info.images} images ({kinds}) in {out / 'plan'}")
        print(f"next: harvester slurm ... --out {out} --from-plan {out} --tasks N --submit")
        print(f"  or: harvester harvest --out {out} --from-plan {out} --shard K/N")
    return 0


def _study_sink(out: Path) -> Any:
    """The pipeline's store-backed study sink, so the plan saves study metadata once."""
    try:
        from harvester import pipeline
    except ImportError:  # pragma: no cover - pipeline not installed
        return None
    factory = getattr(pipeline, "study_sink_for", None)
    return factory(out) if factory is not None else None


def run_slurm(args: argparse.Namespace) -> int:
    """``harvester slurm``: write the array script, optionally submit it."""
    from harvester.config import parse_rate, resolve
    from harvester.slurm import SlurmJob, follow_text, submit, write_scripts

    # Validate everything the tasks will see, now rather than N times in the queue.
    config = resolve(args.config, _overrides(args))
    out = Path(args.out).resolve()
    rate = parse_rate(args.rate) if args.rate is not None else config.rate
    harvest_args: list[str] = []
    if args.config is not None:
        harvest_args.append(str(Path(args.config).resolve()))
    harvest_args += ["--out", str(out)]
    if args.base_url:
        harvest_args += ["--base-url", args.base_url]
    for flag, dest, _text in TARGET_FLAGS:
        for value in getattr(args, dest) or ():
            harvest_args += [flag, str(_int_id(dest, value))]
    if args.ids_from:
        harvest_args += ["--ids-from", str(Path(args.ids_from).resolve())]
    if args.from_plan:
        from harvester.plan import read_plan_info

        read_plan_info(args.from_plan)  # a missing plan is an error now, not in N tasks
        harvest_args += ["--from-plan", str(Path(args.from_plan).resolve())]
    elif not config.has_targets:
        raise UsageError(
            "nothing to harvest: give targets, a config file that lists them, or --from-plan DIR"
        )
    if args.artifacts:
        harvest_args += ["--artifacts", args.artifacts]
    job = SlurmJob(
        out_dir=out,
        tasks=args.tasks,
        harvest_args=harvest_args,
        max_parallel=args.max_parallel,
        rate=rate,
        concurrency=args.concurrency if args.concurrency is not None else config.concurrency,
        partition=args.partition,
        time_limit=args.time_limit,
        cpus=args.cpus,
        mem=args.mem,
        job_name=args.job_name,
        python=sys.executable,
    )
    script, _index = write_scripts(job)
    print(f"wrote {script} ({job.tasks} tasks, at most {job.parallel} at once)")
    if not args.submit:
        print(f"submit with: sbatch {script}   (or rerun with --submit)")
        return 0
    submitted = submit(job)
    print(follow_text(job, submitted))
    return 0


def run_index(args: argparse.Namespace) -> int:
    """``harvester index DIR``: rebuild index.csv from all journals."""
    from harvester.index import write_index

    out = Path(args.out)
    if not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    rows = write_index(out)
    print(f"wrote {out / 'index.csv'} ({rows} images)")
    return 0
